"""ResNet-18 and ResNet-50 (He et al. 2016) with a 1-channel stem, the classification baselines."""

from __future__ import annotations

import torch
from torch import nn

from engine.modelling.models.registry import register_model


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(_conv_bn(cin, width, 3, stride), nn.ReLU(inplace=True), _conv_bn(width, cout, 3))
        self.shortcut = _conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class Bottleneck(BasicBlock):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, with a shortcut."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__(cin, width, stride)
        self.body = nn.Sequential(
            _conv_bn(cin, width, 1),
            nn.ReLU(inplace=True),
            _conv_bn(width, width, 3, stride),
            nn.ReLU(inplace=True),
            _conv_bn(width, width * self.expansion, 1),
        )


class ResNet(nn.Module):
    """Stem (7x7/2 + max pool), four stages, global average pool, linear classifier."""

    def __init__(self, block: type[BasicBlock], depths: tuple[int, ...], num_classes: int = 14, in_chans: int = 1):
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(in_chans, 64, 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], 64
        for index, depth in enumerate(depths):
            width = 64 * 2**index
            for number in range(depth):
                stages.append(block(cin, width, stride=2 if index > 0 and number == 0 else 1))
                cin = width * block.expansion
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


@register_model
def resnet18(num_classes: int = 14, in_chans: int = 1) -> ResNet:
    """ResNet-18, 1-channel stem, 11.18 M parameters at 14 classes."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_chans)


@register_model
def resnet50(num_classes: int = 14, in_chans: int = 1) -> ResNet:
    """ResNet-50, 1-channel stem, 23.53 M parameters at 14 classes."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_chans)
