"""UNet-small: the lightweight U-Net baseline for liver segmentation (our definition).

The seed paper compares against a "UNet-small" that its code does not contain. Ours is the
usual four-level U-Net (Ronneberger et al. 2015; milesial's layout: double 3x3 conv + BN + ReLU
per level, 2x2 max pooling down, 2x2 transposed convolution up, skip concatenation) with the
base width cut from 64 to 16, so widths are 16-32-64-128-256 and it has about 1.9 M parameters,
a quarter of SaDNN-seg's. ``unet`` with ``base_width=64`` is the full 31 M-parameter U-Net.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.modelling.layers import ConvBlock
from engine.modelling.models.registry import register_model


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(ConvBlock(cin, cout), ConvBlock(cout, cout))


class UNet(nn.Module):
    """Four poolings down, four transposed convolutions up, 1x1 classifier."""

    def __init__(self, in_chans: int = 1, num_classes: int = 2, base_width: int = 16, depth: int = 4):
        super().__init__()
        widths = [base_width * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList([_double_conv(in_chans, widths[0])])
        self.down.extend(_double_conv(widths[i], widths[i + 1]) for i in range(depth))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth)))
        self.merge = nn.ModuleList(_double_conv(2 * widths[i], widths[i]) for i in reversed(range(depth)))
        self.classifier = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for index, stage in enumerate(self.down):
            x = stage(x if index == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.classifier(x)


@register_model
def unet_small(in_chans: int = 1, num_classes: int = 2) -> UNet:
    """UNet-small: base width 16, about 1.9 M parameters."""
    return UNet(in_chans, num_classes, base_width=16)


@register_model
def unet(in_chans: int = 1, num_classes: int = 2) -> UNet:
    """The full U-Net, base width 64."""
    return UNet(in_chans, num_classes, base_width=64)
