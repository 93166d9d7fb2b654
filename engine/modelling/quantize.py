"""The paper's int8 path: torch eager-mode post-training static quantisation (x86/fbgemm).

Every convolution, transposed convolution and linear layer (the attention's q/k/v projection
included) runs in int8 between its own quantise/dequantise stubs; batch norms that follow a
convolution are folded into it first. The attention math (q.k, softmax, a.v), the remaining
batch norms, pooling and unpooling stay in float, as in the seed paper. Calibration runs on
real images: without it every activation scale stays at its default and the model outputs
garbage (the reference code's defect).
"""

from __future__ import annotations

import copy
import warnings
from typing import Iterable

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

BACKEND = "x86"  # fbgemm kernels with x86-specific tuning; torch's default engine on x86
_INT8_MODULES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def quantise_eager(model: nn.Module, calibration: Iterable[torch.Tensor], backend: str = BACKEND) -> nn.Module:
    """Return an int8 copy of ``model`` calibrated on ``calibration`` batches (N, C, H, W)."""
    from torch.ao.quantization import get_default_qconfig

    torch.backends.quantized.engine = backend
    with warnings.catch_warnings():
        # torch.ao.quantization announces its own deprecation and reduce_range's; the API still works.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        return _quantise(model, calibration, get_default_qconfig(backend))


def _quantise(model: nn.Module, calibration: Iterable[torch.Tensor], qconfig) -> nn.Module:
    from torch.ao.quantization import QConfig, QuantWrapper, convert, default_weight_observer, prepare

    model = fold_batch_norms(copy.deepcopy(model).eval())
    # fbgemm has no per-channel weights for transposed convolutions: per tensor there.
    transposed_qconfig = QConfig(activation=qconfig.activation, weight=default_weight_observer)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, _INT8_MODULES):
                wrapper = QuantWrapper(child)
                wrapper.qconfig = transposed_qconfig if isinstance(child, nn.ConvTranspose2d) else qconfig
                setattr(parent, name, wrapper)
    prepare(model, inplace=True)
    with torch.no_grad():
        batches = sum(1 for batch in calibration if model(batch) is not None)
    if batches == 0:
        raise ValueError("calibration needs at least one batch of real images")
    return convert(model, inplace=True)


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """Fold each BatchNorm2d that directly follows a Conv2d in an ``nn.Sequential`` into it."""
    for sequential in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(sequential._modules)
        for first, second in zip(names, names[1:]):
            conv, norm = sequential._modules[first], sequential._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                sequential._modules[first] = fuse_conv_bn_eval(conv, norm)
                sequential._modules[second] = nn.Identity()
    return model
