"""The two blocks the networks are built from: attention or 3x3 conv, then BN and ReLU."""

from __future__ import annotations

from torch import nn

from engine.modelling.layers.local_attention import LocalSelfAttention2d


class AttentionBlock(nn.Sequential):
    """Local self-attention -> BatchNorm -> ReLU (a SaDNN block); ``attention`` options go to the layer."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, **attention):
        super().__init__(
            LocalSelfAttention2d(in_channels, out_channels, kernel_size, **attention),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ConvBlock(nn.Sequential):
    """3x3 convolution -> BatchNorm -> ReLU (the CNN baseline block)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def make_block(kind: str, in_channels: int, out_channels: int, **attention) -> nn.Module:
    """Build an ``"attention"`` block (``attention``: the layer's options, e.g. heads) or a ``"conv"`` block, so one
    topology serves both families."""
    if kind == "attention":
        return AttentionBlock(in_channels, out_channels, **attention)
    if kind == "conv":
        if attention:
            raise ValueError(f"a conv block takes no attention options, got {sorted(attention)}")
        return ConvBlock(in_channels, out_channels)
    raise ValueError(f"unknown block kind {kind!r}; expected 'attention' or 'conv'")
