"""Parameters, MACs, model size and arithmetic energy, counted analytically per layer.

How MACs are counted (one multiply-accumulate = one MUL + one ADD), from each layer's input
and output shapes recorded in one forward pass of a single image:

* Conv2d: output elements x (in_channels / groups x kh x kw). ConvTranspose2d: input
  elements x (out_channels / groups x kh x kw). Linear: output elements x in_features.
  These run in int8 in the quantised models (the q/k/v projections are Linear layers).
* Local self-attention math, per output pixel and channel: k (q . relative embedding, k row
  offsets for half the channels and k column offsets for the other half) + k^2 (q . k) +
  k^2 (a . v). This runs in fp32 in the quantised models. It counts the k x k window the
  layer defines; the blocked implementation computes (4+k-1)^2 / k^2 = 4x that for q.k and
  a.v in exchange for GEMM kernels, which the count does not include.
* Batch norm, activations, softmax, pooling and unpooling are not counted.

Sizes are in MiB (2^20 bytes): fp32 stores every parameter and buffer in 4 bytes; int8 stores
the weights of int8 layers in 1 byte plus a 4-byte scale and zero point per output channel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
from torch import nn

from engine.runtime.energy import mac_energy_joules, model_energy_joules
from engine.modelling.layers import LocalSelfAttention2d

MIB = 2**20
_INT8_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@dataclass(frozen=True)
class LayerCount:
    """MACs of one layer and the precision they run in once quantised."""

    name: str
    kind: str
    macs: int
    int8: bool


@dataclass
class ModelProfile:
    """What one inference of a model costs, as the seed paper's Tables 4-5 report it."""

    model: str
    input_shape: tuple[int, ...]
    params: int
    int8_macs: int
    fp32_only_macs: int
    size_fp32_mib: float
    size_int8_mib: float
    layers: list[LayerCount] = field(default_factory=list, repr=False)

    @property
    def macs(self) -> int:
        return self.int8_macs + self.fp32_only_macs

    @property
    def energy_fp32_mj(self) -> float:
        """Arithmetic energy (mJ) with every MAC in fp32."""
        return mac_energy_joules(self.macs, "fp32") * 1e3

    @property
    def energy_int8_mj(self) -> float:
        """Arithmetic energy (mJ) of the quantised model: int8 layers in int8, attention math in fp32."""
        return model_energy_joules(self.int8_macs, self.fp32_only_macs) * 1e3

    def summary(self) -> dict:
        """The table row as plain numbers (JSON-ready)."""
        row = {k: v for k, v in asdict(self).items() if k != "layers"}
        row.update(
            macs=self.macs,
            gmacs=self.macs / 1e9,
            energy_fp32_mj=self.energy_fp32_mj,
            energy_int8_mj=self.energy_int8_mj,
            energy_saving=self.energy_fp32_mj / self.energy_int8_mj,
        )
        return row


def count_layers(model: nn.Module, input_shape: Sequence[int]) -> list[LayerCount]:
    """Per-layer MACs of one forward pass of a single input of ``input_shape`` (C, H, W)."""
    counts: list[LayerCount] = []

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            counts.append(_count(name, module, inputs[0], output))

        return record

    handles = [
        module.register_forward_hook(hook(name))
        for name, module in model.named_modules()
        if isinstance(module, (*_INT8_LAYERS, LocalSelfAttention2d))
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return counts


def _count(name: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> LayerCount:
    if isinstance(module, LocalSelfAttention2d):
        k = module.kernel_size
        return LayerCount(name, "attention math", y.numel() * (k + 2 * k * k), int8=False)
    if isinstance(module, nn.Linear):
        return LayerCount(name, "linear", y.numel() * module.in_features, int8=True)
    kernel = module.kernel_size[0] * module.kernel_size[1]
    if isinstance(module, nn.ConvTranspose2d):
        return LayerCount(name, "conv-transpose", x.numel() * module.out_channels // module.groups * kernel, int8=True)
    return LayerCount(name, "conv", y.numel() * module.in_channels // module.groups * kernel, int8=True)


def profile_model(name: str, model: nn.Module, input_shape: Sequence[int]) -> ModelProfile:
    """Count parameters, MACs by precision and storage sizes of ``model``."""
    layers = count_layers(model, input_shape)
    params = sum(p.numel() for p in model.parameters())
    return ModelProfile(
        model=name,
        input_shape=tuple(input_shape),
        params=params,
        int8_macs=sum(layer.macs for layer in layers if layer.int8),
        fp32_only_macs=sum(layer.macs for layer in layers if not layer.int8),
        size_fp32_mib=_fp32_bytes(model) / MIB,
        size_int8_mib=_int8_bytes(model) / MIB,
        layers=layers,
    )


def _fp32_bytes(model: nn.Module) -> int:
    tensors = list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]
    return 4 * sum(t.numel() for t in tensors)


def _int8_bytes(model: nn.Module) -> int:
    weights = [m.weight for m in model.modules() if isinstance(m, _INT8_LAYERS)]
    quantised = sum(w.numel() for w in weights)
    channel_params = sum(8 * w.shape[0] for w in weights)  # fp32 scale + int32 zero point per channel
    return _fp32_bytes(model) - 3 * quantised + channel_params
