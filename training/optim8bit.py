"""Adam with 8-bit optimiser states (after Dettmers et al.; used by Selvan et al. to save memory).

The first moment is stored as int8 with one absmax scale per block of 256 values; the second
moment as uint8 of its square root (which compresses its wide dynamic range) with a per-block
max scale. Each step dequantises, updates in fp32 and quantises again: optimiser memory drops
from 8 to about 2 bytes per parameter.
"""

from __future__ import annotations

import torch

BLOCK = 256


def _quantise(values: torch.Tensor, signed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    flat = values.reshape(-1)
    pad = (-flat.numel()) % BLOCK
    blocks = torch.nn.functional.pad(flat, (0, pad)).view(-1, BLOCK)
    scale = blocks.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
    levels = 127 if signed else 255
    codes = torch.round(blocks / scale * levels)
    return codes.to(torch.int8 if signed else torch.uint8), scale


def _dequantise(codes: torch.Tensor, scale: torch.Tensor, shape: torch.Size, signed: bool) -> torch.Tensor:
    levels = 127 if signed else 255
    values = codes.float() / levels * scale
    return values.reshape(-1)[: shape.numel()].view(shape)


class Adam8bit(torch.optim.Optimizer):
    """Adam (no weight decay) whose moment estimates live in 8 bits between steps."""

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros(())
                    state["m"], state["m_scale"] = _quantise(torch.zeros_like(p, dtype=torch.float32), True)
                    state["r"], state["r_scale"] = _quantise(torch.zeros_like(p, dtype=torch.float32), False)
                state["step"] += 1
                t = float(state["step"])
                grad = p.grad.float()
                m = _dequantise(state["m"], state["m_scale"], p.shape, True).mul_(beta1).add_(grad, alpha=1 - beta1)
                v = _dequantise(state["r"], state["r_scale"], p.shape, False).square_().mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denominator = (v / (1 - beta2**t)).sqrt_().add_(group["eps"])
                p.add_((m / (1 - beta1**t) / denominator).to(p.dtype), alpha=-group["lr"])
                state["m"], state["m_scale"] = _quantise(m, True)
                state["r"], state["r_scale"] = _quantise(v.sqrt(), False)
        return loss


def optimiser_state_bytes(optimiser: torch.optim.Optimizer) -> int:
    """Bytes held by the optimiser's state tensors."""
    return sum(t.numel() * t.element_size() for state in optimiser.state.values()
               for t in state.values() if torch.is_tensor(t))
