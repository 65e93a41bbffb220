"""Factories for `analogc report/evaluate/tradeoff MODULE:FACTORY`.

    PYTHONPATH=examples .venv/bin/analogc report models:tiny_gpt2
    PYTHONPATH=examples .venv/bin/analogc evaluate models:small_cnn --hw rram --seeds 3
"""
import torch
import transformers
from torch import nn


def tiny_gpt2():
    """A 2-layer GPT-2 with random weights and example token ids (model, inputs)."""
    cfg = transformers.GPT2Config(n_layer=2, n_embd=128, n_head=4, vocab_size=1000,
                                  n_positions=128, bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(cfg).eval(), {"input_ids": torch.randint(0, 1000, (1, 64))}


def small_cnn():
    """A CIFAR-sized CNN with random weights and a random batch (model, inputs)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(32, 10)).eval()
    return net, (torch.randn(16, 3, 32, 32),)
