"""Fine-tuning for deployment (see :mod:`analogc.finetune.base` for the contracts)."""
