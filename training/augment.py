"""Mild, anatomy-preserving augmentation on CPU tensors: small affine jitter, brightness, contrast and noise,
and random patches for segmentation.

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


def augment(images: torch.Tensor, generator: torch.Generator, masks: torch.Tensor | None = None,
            degrees: float = 8.0, scale: float = 0.08, noise_std: float = 0.0):
    """Jittered copies of images (N, 1, H, W) and, with the same geometry, masks (N, H, W); Gaussian noise of a
    random standard deviation up to ``noise_std`` (in input units) where asked."""
    theta = random_affine(images, generator, degrees, scale)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    background = images.amin(dim=(2, 3), keepdim=True)
    moved = F.grid_sample(images - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + background
    gain = 1 + (torch.rand(images.shape[0], 1, 1, 1, generator=generator) * 2 - 1) * 0.1
    bias = (torch.rand(images.shape[0], 1, 1, 1, generator=generator) * 2 - 1) * 0.1
    moved = moved * gain + bias
    if noise_std:
        level = torch.rand(images.shape[0], 1, 1, 1, generator=generator) * noise_std
        moved = moved + level * torch.randn(images.shape, generator=generator)
    if masks is None:
        return moved
    warped = F.grid_sample(masks[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return moved, warped[:, 0].round().to(masks.dtype)


def random_crops(images: torch.Tensor, masks: torch.Tensor, side: int, generator: torch.Generator,
                 foreground: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``side`` x ``side`` patch per image (N, 1, H, W) and mask (N, H, W): with probability ``foreground``
    centred on a random foreground pixel (where the mask has one), else anywhere."""
    height, width = images.shape[-2:]
    patches, labels = [], []
    for image, mask in zip(images, masks):
        pixels = torch.nonzero(mask)
        if len(pixels) and torch.rand(1, generator=generator).item() < foreground:
            centre = pixels[torch.randint(len(pixels), (1,), generator=generator).item()]
            top, left = int(centre[0]) - side // 2, int(centre[1]) - side // 2
        else:
            top = int(torch.randint(height - side + 1, (1,), generator=generator))
            left = int(torch.randint(width - side + 1, (1,), generator=generator))
        top, left = min(max(top, 0), height - side), min(max(left, 0), width - side)
        patches.append(image[:, top : top + side, left : left + side])
        labels.append(mask[top : top + side, left : left + side])
    return torch.stack(patches), torch.stack(labels)


def scanner_jitter(images: torch.Tensor, generator: torch.Generator, level: float = 0.15, contrast: float = 0.25,
                   gamma: float = 0.4, blur: float = 0.5) -> torch.Tensor:
    """What another scanner, protocol or kernel does to windowed CT inputs (N, 1, H, W) in [0, 1]: a HU level
    shift of up to ``level`` window units (0.15 = 60 HU of a 400 HU window) and a contrast change of up to
    ``contrast``, both about the window's centre; a gamma curve of exponent exp(+-``gamma``); and, for a ``blur``
    share of images, a smoothing as a softer kernel or thicker slices give (down- and up-sampling by 1.25-2x).
    The result is clipped to [0, 1] again, as the window clips a real scan."""
    n = images.shape[0]

    def uniform(spread: float) -> torch.Tensor:
        return (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * spread

    images = (images - 0.5) * (1 + uniform(contrast)) + 0.5 + uniform(level)
    images = images.clamp(0, 1) ** torch.exp(uniform(gamma))
    soft = torch.rand(n, generator=generator) < blur
    if soft.any():
        factor = 1.25 + 0.75 * float(torch.rand(1, generator=generator))
        side = images.shape[-2:]
        small = F.interpolate(images[soft], scale_factor=1 / factor, mode="bilinear", antialias=True, align_corners=False)
        images = images.clone()
        images[soft] = F.interpolate(small, size=side, mode="bilinear", align_corners=False)
    return images.clamp(0, 1)
