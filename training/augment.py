"""Mild, anatomy-preserving augmentation on CPU tensors: small affine jitter, brightness and contrast.

No left-right flips: the heart's side and the liver's side are anatomy, not noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(batch: torch.Tensor, generator: torch.Generator, degrees: float = 8.0,
                  scale: float = 0.08, shift: float = 0.05) -> torch.Tensor:
    """(N, 2, 3) affine matrices for ``F.affine_grid``: rotation, isotropic scale, translation."""
    n = batch.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(degrees)
    zoom = 1 + (torch.rand(n, generator=generator) * 2 - 1) * scale
    move = (torch.rand(n, 2, generator=generator) * 2 - 1) * shift * 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    return torch.stack([torch.stack([cos, -sin, move[:, 0]], 1), torch.stack([sin, cos, move[:, 1]], 1)], 1)


def augment(images: torch.Tensor, generator: torch.Generator, masks: torch.Tensor | None = None):
    """Jittered copies of images (N, 1, H, W) and, with the same geometry, masks (N, H, W)."""
    theta = random_affine(images, generator)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    background = images.amin(dim=(2, 3), keepdim=True)
    moved = F.grid_sample(images - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + background
    gain = 1 + (torch.rand(images.shape[0], 1, 1, 1, generator=generator) * 2 - 1) * 0.1
    bias = (torch.rand(images.shape[0], 1, 1, 1, generator=generator) * 2 - 1) * 0.1
    moved = moved * gain + bias
    if masks is None:
        return moved
    warped = F.grid_sample(masks[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return moved, warped[:, 0].round().to(masks.dtype)
