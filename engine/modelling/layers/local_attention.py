"""Stand-alone local self-attention (Ramachandran et al. 2019), as used by SaDNN.

Every output pixel attends over the k x k window of pixels around it::

    y_ij = sum_{ab in N(ij)} softmax_ab(q_ij . (k_ab + r_{a-i, b-j})) v_ab

with bias-free 1x1 projections for q, k and v, and a relative position embedding r whose
first half of channels encodes the row offset and second half the column offset (per head).

How it is computed: the map is cut into ``BLOCK x BLOCK`` query blocks; each block gathers
the keys and values of its block plus a halo of ``k // 2`` pixels (as in HaloNet), and q.k
and a.v become two batched matrix products per block. Keys outside a query's own k x k window
(or outside the image) are masked out of the softmax, so the result is exactly the per-pixel
window attention above. Memory stays at about ``((BLOCK + k - 1) / BLOCK)**2`` copies of K and
V (2.25x for k = 3) instead of the ``k * k`` copies a full ``unfold`` holds, and the work runs in
GEMM kernels instead of memory-bound element-wise loops.

Differences from the public reference code, on purpose:

* Each output pixel really sees its own neighbourhood (the reference reshaped with ``view``
  and mixed distant pixels).
* Window positions outside the image are excluded from the softmax (the reference lets the
  zero-padded keys take part, which pulls border pixels towards zero).
* q, k and v come from one fused 1x1 convolution: one GEMM instead of three, same parameters.
* ``scaled=True`` divides the logits by sqrt(d_head), as Ramachandran et al. and the Transformer do; the
  reference (and ``scaled=False``, the paper's layer) leaves them unscaled, which at Kaiming initialisation gives
  logits with a spread of the order of 10 and a near one-hot softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BLOCK = 4  # query block side; keys per block: (BLOCK + k - 1) ** 2


class LocalSelfAttention2d(nn.Module):
    """Local multi-head self-attention over a k x k window, stride 1, same spatial size.

    Args:
        in_channels: input channels.
        out_channels: output channels; a multiple of ``2 * heads``.
        kernel_size: odd window size k, at most ``2 * BLOCK + 1``.
        heads: attention heads; each head gets ``out_channels / heads`` channels.
        scaled: divide the logits by sqrt(out_channels / heads).
        embedding_std: standard deviation of the relative position embeddings at initialisation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, heads: int = 1,
                 scaled: bool = False, embedding_std: float = 1.0):
        super().__init__()
        if kernel_size % 2 != 1 or kernel_size > 2 * BLOCK + 1:
            raise ValueError(f"kernel_size must be odd and at most {2 * BLOCK + 1}, got {kernel_size}")
        if out_channels % (2 * heads) != 0:
            raise ValueError(f"out_channels={out_channels} must be a multiple of 2 * heads={2 * heads}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.heads = heads
        self.scaled = scaled
        self.embedding_std = embedding_std
        self.logit_scale = (out_channels // heads) ** -0.5 if scaled else 1.0
        half = out_channels // heads // 2
        self.qkv = nn.Linear(in_channels, 3 * out_channels, bias=False)  # a 1x1 conv on channels-last maps
        self.rel_rows = nn.Parameter(torch.empty(heads, half, kernel_size))
        self.rel_cols = nn.Parameter(torch.empty(heads, half, kernel_size))
        self.register_buffer("row_select", _offset_selector(kernel_size, axis=0), persistent=False)
        self.register_buffer("col_select", _offset_selector(kernel_size, axis=1), persistent=False)
        self.register_buffer("window", _window_mask(kernel_size), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal (fan_out) projections and normal embeddings (unit standard deviation in the paper)."""
        nn.init.kaiming_normal_(self.qkv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.rel_rows, 0.0, self.embedding_std)
        nn.init.normal_(self.rel_cols, 0.0, self.embedding_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        logits, allowed, values = self._window_logits(x)
        attention = torch.softmax(logits.masked_fill(~allowed, torch.finfo(logits.dtype).min), dim=-1)
        out = self._unblock(attention @ values, height + -height % BLOCK, width + -width % BLOCK)
        return out[:, :height, :width].permute(0, 3, 1, 2)

    @torch.no_grad()
    def window_statistics(self, x: torch.Tensor) -> dict[str, float]:
        """How peaked the attention is on ``x`` (sides a multiple of ``BLOCK``): the mean softmax entropy over the
        window in nats (ln 9 = 2.197 is uniform over a 3x3 window, 0 is one-hot) and the mean standard deviation of
        a query's logits over its window."""
        if x.shape[-1] % BLOCK or x.shape[-2] % BLOCK:
            raise ValueError(f"window_statistics needs sides that are multiples of {BLOCK}, got {tuple(x.shape[-2:])}")
        logits, allowed, _ = self._window_logits(x)
        allowed = allowed.expand_as(logits)
        attention = torch.softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)
        entropy = -(attention * torch.log(attention.clamp_min(1e-30))).sum(-1)
        count = allowed.sum(-1)
        mean = logits.masked_fill(~allowed, 0).sum(-1) / count
        spread = ((logits - mean[..., None]).square().masked_fill(~allowed, 0).sum(-1) / count).sqrt()
        return {"entropy": float(entropy.mean()), "logit_std": float(spread.mean()),
                "max_weight": float(attention.amax(-1).mean())}

    def _window_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits (B, heads, blocks, b*b, (b+2p)^2), which of them lie in a query's window inside the image, and
        the values per halo block."""
        _, _, height, width = x.shape
        pad_h, pad_w = -height % BLOCK, -width % BLOCK
        x = F.pad(x.permute(0, 2, 3, 1), (0, 0, 0, pad_w, 0, pad_h))  # channels-last, whole blocks
        q, k, v = self.qkv(x).split(self.out_channels, dim=-1)
        q = self._query_blocks(q * self.logit_scale if self.scaled else q)  # both logit terms are linear in q
        keys, values = self._halo_blocks(k), self._halo_blocks(v)
        inside = self._halo_blocks(F.pad(x.new_ones(1, height, width, self.heads), (0, 0, 0, pad_w, 0, pad_h)))
        logits = q @ keys.transpose(-1, -2) + self._position_logits(q)
        return logits, self.window & (inside.transpose(-1, -2) > 0), values

    def _query_blocks(self, t: torch.Tensor) -> torch.Tensor:
        """(B, H, W, heads*D) -> (B, heads, H/b * W/b, b*b, D)."""
        batch, height, width, channels = t.shape
        t = t.reshape(batch, height // BLOCK, BLOCK, width // BLOCK, BLOCK, self.heads, channels // self.heads)
        return t.permute(0, 5, 1, 3, 2, 4, 6).reshape(batch, self.heads, -1, BLOCK * BLOCK, channels // self.heads)

    def _halo_blocks(self, t: torch.Tensor) -> torch.Tensor:
        """(B, H, W, heads*D) -> (B, heads, H/b * W/b, (b+2p)^2, D): each block with its halo."""
        batch, height, width, channels = t.shape
        pad = self.kernel_size // 2
        halo = BLOCK + 2 * pad
        t = F.pad(t, (0, 0, pad, BLOCK, pad, BLOCK))  # the zero halo, and room for the shifted slices
        rows = torch.cat([
            t[:, :height].reshape(batch, height // BLOCK, BLOCK, -1, channels),
            t[:, BLOCK : height + BLOCK].reshape(batch, height // BLOCK, BLOCK, -1, channels)[:, :, : 2 * pad],
        ], dim=2)
        blocks = torch.cat([
            rows[:, :, :, :width].reshape(batch, height // BLOCK, halo, width // BLOCK, BLOCK, channels),
            rows[:, :, :, BLOCK : width + BLOCK].reshape(batch, height // BLOCK, halo, width // BLOCK, BLOCK, channels)[..., : 2 * pad, :],
        ], dim=4)
        blocks = blocks.reshape(batch, height // BLOCK, halo, width // BLOCK, halo, self.heads, channels // self.heads)
        return blocks.permute(0, 5, 1, 3, 2, 4, 6).reshape(batch, self.heads, -1, halo * halo, channels // self.heads)

    def _position_logits(self, q: torch.Tensor) -> torch.Tensor:
        """q . r for every (query, halo key) pair: (B, heads, blocks, b*b, (b+2p)^2)."""
        half = q.shape[-1] // 2
        q_rows = torch.einsum("bgnqc,gck->bgnqk", q[..., :half], self.rel_rows)
        q_cols = torch.einsum("bgnqc,gck->bgnqk", q[..., half:], self.rel_cols)
        return torch.einsum("bgnqk,qkm->bgnqm", q_rows, self.row_select) + torch.einsum(
            "bgnqk,qkm->bgnqm", q_cols, self.col_select
        )

    def _unblock(self, t: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """(B, heads, blocks, b*b, D) -> (B, H, W, heads*D)."""
        batch, heads, _, _, dim = t.shape
        t = t.reshape(batch, heads, height // BLOCK, width // BLOCK, BLOCK, BLOCK, dim)
        return t.permute(0, 2, 4, 3, 5, 1, 6).reshape(batch, height, width, heads * dim)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, heads={self.heads}, "
                f"scaled={self.scaled}")


def _halo_offsets(kernel_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column offset + pad of every (query, halo key) pair: each (b*b, (b+2p)^2)."""
    pad = kernel_size // 2
    query = torch.arange(BLOCK)
    key = torch.arange(BLOCK + 2 * pad)
    offset = key[None, :] - query[:, None]  # (b, b+2p): key index - query index = window offset + pad
    rows = offset[:, None, :, None].expand(BLOCK, BLOCK, -1, BLOCK + 2 * pad)
    cols = offset[None, :, None, :].expand(BLOCK, BLOCK, BLOCK + 2 * pad, -1)
    shape = (BLOCK * BLOCK, (BLOCK + 2 * pad) ** 2)
    return rows.reshape(shape), cols.reshape(shape)


def _offset_selector(kernel_size: int, axis: int) -> torch.Tensor:
    """One-hot (b*b, k, (b+2p)^2): which embedding index each (query, key) pair uses on ``axis``."""
    offsets = _halo_offsets(kernel_size)[axis]
    return (offsets[:, None, :] == torch.arange(kernel_size)[None, :, None]).float()


def _window_mask(kernel_size: int) -> torch.Tensor:
    """(b*b, (b+2p)^2): True where the halo key lies in the query's own k x k window."""
    rows, cols = _halo_offsets(kernel_size)
    return (rows >= 0) & (rows < kernel_size) & (cols >= 0) & (cols < kernel_size)
