"""SUMNet (VGG11-style encoder-decoder with max-unpooling) and SaDNN-seg, its attention twin.

Encoder 1->64, 64->128, pool, 128->256, 256->256, pool, 256->512, 512->512, pool,
512->512, 512->512, pool; the pools keep their indices. The decoder unpools with those
indices and concatenates the matching encoder map before each pair of blocks, ending in a
1x1 convolution to ``num_classes`` logits. Dropout2d(0.25) precedes encoder stages 4 and 5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.modelling.layers import make_block
from engine.modelling.models.registry import register_model


class SUMNet(nn.Module):
    """SUMNet with ``block="conv"`` (the baseline) or ``block="attention"`` (SaDNN-seg; ``attention``: the layers'
    options, e.g. ``heads=8, scaled=True``)."""

    def __init__(self, block: str = "conv", in_chans: int = 1, num_classes: int = 2, dropout: float = 0.25,
                 **attention):
        super().__init__()

        def b(cin: int, cout: int) -> nn.Module:
            return make_block(block, cin, cout, **attention)

        self.enc1, self.enc2 = b(in_chans, 64), b(64, 128)
        self.enc3a, self.enc3b = b(128, 256), b(256, 256)
        self.enc4a, self.enc4b = b(256, 512), b(512, 512)
        self.enc5a, self.enc5b = b(512, 512), b(512, 512)
        self.drop4, self.drop5 = nn.Dropout2d(dropout), nn.Dropout2d(dropout)
        self.dec5b, self.dec5a = b(1024, 512), b(512, 512)
        self.dec4b, self.dec4a = b(1024, 512), b(512, 256)
        self.dec3b, self.dec3a = b(512, 256), b(256, 128)
        self.dec2 = b(256, 64)
        self.dec1 = b(128, 32)
        self.classifier = nn.Conv2d(32, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        p1, i1 = F.max_pool2d(e2, 2, return_indices=True)
        e3 = self.enc3b(self.enc3a(p1))
        p2, i2 = F.max_pool2d(e3, 2, return_indices=True)
        e4 = self.enc4b(self.enc4a(self.drop4(p2)))
        p3, i3 = F.max_pool2d(e4, 2, return_indices=True)
        e5 = self.enc5b(self.enc5a(self.drop5(p3)))
        p4, i4 = F.max_pool2d(e5, 2, return_indices=True)
        d5 = self.dec5a(self.dec5b(torch.cat([F.max_unpool2d(p4, i4, 2), e5], 1)))
        d4 = self.dec4a(self.dec4b(torch.cat([F.max_unpool2d(d5, i3, 2), e4], 1)))
        d3 = self.dec3a(self.dec3b(torch.cat([F.max_unpool2d(d4, i2, 2), e3], 1)))
        d2 = self.dec2(torch.cat([F.max_unpool2d(d3, i1, 2), e2], 1))
        d1 = self.dec1(torch.cat([d2, e1], 1))
        return self.classifier(d1)


@register_model
def sadnn_seg(in_chans: int = 1, num_classes: int = 2, heads: int = 1, scaled: bool = False,
              embedding_std: float = 1.0) -> SUMNet:
    """SaDNN-seg: SUMNet with every 3x3 conv replaced by local self-attention, 7.95 M parameters (the paper's layer:
    one head, unscaled logits; see ``LocalSelfAttention2d`` for the options)."""
    return SUMNet("attention", in_chans, num_classes, heads=heads, scaled=scaled, embedding_std=embedding_std)


@register_model
def sumnet(in_chans: int = 1, num_classes: int = 2) -> SUMNet:
    """SUMNet, the convolutional baseline for liver segmentation."""
    return SUMNet("conv", in_chans, num_classes)
