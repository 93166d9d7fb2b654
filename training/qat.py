"""Fixed-point quantisation-aware training (after AskariHemmat et al.): Q-format weights and activations.

Weights are rounded to ``weight_bits`` signed fixed point and activations (after each ReLU) to
``act_bits`` unsigned fixed point, each with a power-of-two step chosen from the tensor's range
(the Q format: integer bits to hold the largest magnitude, the rest fractional). Gradients pass
straight through the rounding (STE). The first and the last weighted layers stay in full precision.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def fixed_point(x: torch.Tensor, bits: int, signed: bool) -> torch.Tensor:
    """Round to the nearest ``bits``-bit fixed-point value with a power-of-two step; STE gradient."""
    largest = x.detach().abs().max().clamp_min(1e-8)
    integer_bits = max(0, math.floor(math.log2(float(largest))) + 1)  # bits left of the point to hold the largest value
    fraction_bits = bits - integer_bits - (1 if signed else 0)
    step = 2.0 ** (-fraction_bits)
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    quantised = torch.clamp(torch.round(x / step), low, high) * step
    return x + (quantised - x).detach()


class _WeightQuantiser(nn.Module):
    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return fixed_point(weight, self.bits, signed=True)


class ActivationQuantiser(nn.Module):
    """Placed after a ReLU: rounds its non-negative output to ``bits``-bit fixed point."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fixed_point(x, self.bits, signed=False)


def apply_fixed_point(model: nn.Module, weight_bits: int, act_bits: int) -> dict:
    """Quantise every weighted layer but the first and last, and every ReLU output, in place."""
    from torch.nn.utils import parametrize

    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    inner = weighted[1:-1]
    for module in inner:
        parametrize.register_parametrization(module, "weight", _WeightQuantiser(weight_bits))
    relus = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(parent, name, nn.Sequential(child, ActivationQuantiser(act_bits)))
                relus += 1
    return {"weight_bits": weight_bits, "act_bits": act_bits, "quantised_layers": len(inner),
            "full_precision_layers": 2, "quantised_activations": relus}
