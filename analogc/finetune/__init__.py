"""Fine-tuning for deployment: :func:`finetune` (``analogc.finetune(model, hw, data, ...)``)
trains a model for the hardware it is deployed on with one of the methods of
:mod:`analogc.finetune.methods` (hardware-aware training, physics-aware training,
distillation, LoRA adapters); :mod:`analogc.finetune.base` holds the contracts,
:mod:`analogc.finetune.trainer` the loop, :mod:`analogc.finetune.evaluate` the metrics over
chip instances, :mod:`analogc.finetune.data` the built-in data sets. See docs/finetune.md.

The module itself is callable: ``analogc.finetune(...)`` is :func:`finetune`.
"""
from analogc._callable import make_callable
from analogc.finetune.evaluate import evaluate_deployed
from analogc.finetune.trainer import FinetuneResult, finetune

__all__ = ["FinetuneResult", "evaluate_deployed", "finetune"]

make_callable(__name__, finetune)
