"""SaDNN-cls: the 11-block self-attention chest X-ray classifier of Sathish et al.

SaDNN-seg is SUMNet with attention blocks and lives in ``engine.modelling.models.sumnet``.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.modelling.layers import AttentionBlock
from engine.modelling.models.registry import register_model

CLS_WIDTHS = (16, 16, 32, 32, 64, 64, 64, 64, 64, 64, 64)
CLS_POOL_AFTER = (2, 4, 6, 8, 10, 11)  # 1-based block numbers followed by 2x2 max pooling


class SaDNNClassifier(nn.Module):
    """11 attention blocks with six 2x2 poolings (512 -> 8), then a 4-layer MLP head.

    Args:
        num_classes: output logits (14 NIH ChestX-ray14 findings).
        in_chans: input channels (1, grey-scale).
        img_size: square input side; must be divisible by 64.
        attention: the attention layers' options (heads, scaled, embedding_std).
    """

    def __init__(self, num_classes: int = 14, in_chans: int = 1, img_size: int = 512, **attention):
        super().__init__()
        if img_size % 64:
            raise ValueError(f"img_size must be divisible by 64, got {img_size}")
        layers: list[nn.Module] = []
        channels = in_chans
        for number, width in enumerate(CLS_WIDTHS, start=1):
            layers.append(AttentionBlock(channels, width, **attention))
            if number in CLS_POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        flat = channels * (img_size // 64) ** 2
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, 1024),
            nn.ReLU(inplace=True),
            nn.Linear(1024, 256),
            nn.ReLU(inplace=True),
            nn.Linear(256, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model
def sadnn_cls(num_classes: int = 14, in_chans: int = 1, img_size: int = 512, heads: int = 1, scaled: bool = False,
              embedding_std: float = 1.0) -> SaDNNClassifier:
    """SaDNN-cls, 1x512x512 -> 14 logits, 4.56 M parameters (the paper's layer: one head, unscaled logits)."""
    return SaDNNClassifier(num_classes, in_chans, img_size, heads=heads, scaled=scaled, embedding_std=embedding_std)
