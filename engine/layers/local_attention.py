"""Stand-alone local self-attention (Ramachandran et al. 2019), as used by SaDNN.

Every output pixel attends over the k x k window of pixels around it::

    y_ij = sum_{ab in N(ij)} softmax_ab(q_ij . (k_ab + r_{a-i, b-j})) v_ab

with bias-free 1x1 projections for q, k and v, and a relative position embedding r whose
first half of channels encodes the row offset and second half the column offset (per head).

How this differs from the public reference code, on purpose:

* Windows are formed from ``k * k`` shifted views of the padded keys and values, so each
  output pixel really sees its own neighbourhood (the reference reshaped with ``view`` and
  mixed distant pixels) and memory stays at a few feature maps: no ``unfold`` that would hold
  ``k * k`` copies of K and V.
* Window positions outside the image are excluded from the softmax. The reference lets the
  zero-padded keys take part, which pulls border pixels towards zero.
* q, k and v come from one fused 1x1 convolution (one GEMM instead of three; the same
  parameters). Like the reference, logits are not scaled by 1/sqrt(d).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LocalSelfAttention2d(nn.Module):
    """Local multi-head self-attention over a k x k window, stride 1, same spatial size.

    Args:
        in_channels: input channels.
        out_channels: output channels; a multiple of ``2 * heads``.
        kernel_size: odd window size k.
        heads: attention heads; each head gets ``out_channels / heads`` channels.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, heads: int = 1):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if out_channels % (2 * heads) != 0:
            raise ValueError(f"out_channels={out_channels} must be a multiple of 2 * heads={2 * heads}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.heads = heads
        half = out_channels // heads // 2
        self.qkv = nn.Conv2d(in_channels, 3 * out_channels, kernel_size=1, bias=False)
        self.rel_rows = nn.Parameter(torch.empty(heads, half, kernel_size))
        self.rel_cols = nn.Parameter(torch.empty(heads, half, kernel_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal (fan_out) projections and unit-normal embeddings, as in the paper."""
        nn.init.kaiming_normal_(self.qkv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.rel_rows, 0.0, 1.0)
        nn.init.normal_(self.rel_cols, 0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        heads, dim = self.heads, self.out_channels // self.heads
        q, k, v = self.qkv(x).chunk(3, dim=1)
        q = q.reshape(batch, heads, dim, height, width)
        logits = self._window_logits(q, k, height, width)
        attention = torch.softmax(logits, dim=2)
        return self._aggregate(attention, v, height, width).reshape(batch, self.out_channels, height, width)

    def _shifted(self, t: torch.Tensor, height: int, width: int):
        """Yield the k*k views of zero-padded ``t`` aligned with each window offset, row-major."""
        pad = self.kernel_size // 2
        padded = F.pad(t, (pad, pad, pad, pad))
        for dy in range(self.kernel_size):
            for dx in range(self.kernel_size):
                yield dy, dx, padded[:, :, dy : dy + height, dx : dx + width]

    def _window_logits(self, q: torch.Tensor, k: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Logits (B, heads, k*k, H, W); positions outside the image get the dtype's minimum."""
        batch, heads, dim = q.shape[:3]
        half = dim // 2
        q_rows = torch.einsum("bgchw,gck->bgkhw", q[:, :, :half], self.rel_rows)
        q_cols = torch.einsum("bgchw,gck->bgkhw", q[:, :, half:], self.rel_cols)
        inside = torch.ones(1, 1, height, width, dtype=q.dtype, device=q.device)
        logits, masks = [], []
        for (dy, dx, key), (_, _, valid) in zip(self._shifted(k, height, width), self._shifted(inside, height, width)):
            key = key.reshape(batch, heads, dim, height, width)
            logits.append((q * key).sum(dim=2) + q_rows[:, :, dy] + q_cols[:, :, dx])
            masks.append(valid)
        logits = torch.stack(logits, dim=2)
        valid = torch.stack(masks, dim=2) > 0
        return torch.where(valid, logits, torch.finfo(logits.dtype).min)

    def _aggregate(self, attention: torch.Tensor, v: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Attention-weighted sum of the shifted values: (B, heads, dim, H, W)."""
        batch, heads = attention.shape[:2]
        out = None
        for index, (_, _, value) in enumerate(self._shifted(v, height, width)):
            term = attention[:, :, index : index + 1] * value.reshape(batch, heads, -1, height, width)
            out = term if out is None else out + term
        return out

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, heads={self.heads}"
