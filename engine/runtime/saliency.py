"""RISE saliency (Petsiuk et al. 2018): which pixels drive each class score of a black-box classifier.

The classifier sees the image through many random smooth masks; a pixel's saliency for a class is
the mean score of the masked images weighted by how visible that pixel was. Maps are produced
progressively (a first coarse estimate after one batch) so the viewer can show them as they refine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
from PIL import Image

Scores = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SaliencyUpdate:
    """Saliency maps (classes, H, W) after ``done`` of ``total`` masks, in the network's input grid."""

    maps: np.ndarray
    done: int
    total: int


def rise_masks(count: int, size: tuple[int, int], grid: int = 8, keep: float = 0.5, seed: int = 0) -> np.ndarray:
    """``count`` smooth random masks in [0, 1] of ``size``: a coarse binary grid, upsampled and randomly shifted."""
    rng = np.random.default_rng(seed)
    rows, cols = size
    cell = (int(np.ceil(rows / grid)), int(np.ceil(cols / grid)))
    big = ((grid + 1) * cell[0], (grid + 1) * cell[1])
    masks = np.empty((count, rows, cols), dtype=np.float32)
    for i in range(count):
        coarse = (rng.random((grid, grid)) < keep).astype(np.float32)
        up = np.asarray(Image.fromarray(coarse).resize((big[1], big[0]), Image.Resampling.BILINEAR))
        dy, dx = rng.integers(0, cell[0]), rng.integers(0, cell[1])
        masks[i] = up[dy : dy + rows, dx : dx + cols]
    return masks


def rise(
    scores: Scores,
    image: np.ndarray,
    masks: int = 512,
    batch: int = 16,
    grid: int = 8,
    keep: float = 0.5,
    fill: float = 0.0,
    seed: int = 0,
) -> Iterator[SaliencyUpdate]:
    """Yield refined saliency maps for a prepared input (1, 1, H, W) after every batch of masks.

    Args:
        scores: maps a batch (N, 1, H, W) to class scores (N, C) in [0, 1] (probabilities).
        image: the prepared network input.
        masks: total number of random masks.
        batch: masks per forward pass (the first map appears after one batch).
        fill: the input value of a hidden pixel (the normalised value of black).
    """
    size = image.shape[-2:]
    all_masks = rise_masks(masks, size, grid, keep, seed)
    total = None
    for start in range(0, masks, batch):
        chunk = all_masks[start : start + batch]
        masked = fill + (image[0, 0] - fill) * chunk
        probabilities = scores(masked[:, None].astype(np.float32))
        contribution = np.tensordot(probabilities.T, chunk, axes=1)  # (C, H, W)
        total = contribution if total is None else total + contribution
        done = start + len(chunk)
        yield SaliencyUpdate(total / (done * keep), done, masks)
