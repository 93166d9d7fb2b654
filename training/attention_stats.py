"""How peaked each attention layer of a SaDNN is on held-out slices: softmax entropy over the 3x3 window and the
spread of the logits, at initialisation and after training (``engine-train attention-stats``).

A layer whose entropy is near 0 copies one neighbour (its softmax is one-hot and passes almost no gradient); one near
ln 9 = 2.197 averages its window uniformly.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.modelling.layers.local_attention import LocalSelfAttention2d
from training.errors import DatasetError
from training.loop import build_model, load_split, load_trained, make_task, read_run_config

UNIFORM_ENTROPY = math.log(9)


@torch.no_grad()
def layer_statistics(model: nn.Module, inputs: torch.Tensor, batch: int = 6,
                     batch_statistics: bool = False) -> dict[str, dict[str, float]]:
    """Per attention layer (by module name): mean entropy, logit spread and largest weight over ``inputs``.
    ``batch_statistics``: BatchNorm normalises with each batch's statistics, as in a training step (for an untrained
    model, whose running statistics are still 0 and 1)."""
    layers = {name: module for name, module in model.named_modules() if isinstance(module, LocalSelfAttention2d)}
    totals: dict[str, list[dict[str, float]]] = {name: [] for name in layers}
    hooks = [module.register_forward_pre_hook(
        lambda module, args, name=name: totals[name].append(module.window_statistics(args[0])))
        for name, module in layers.items()]
    try:
        model.eval()
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d) and batch_statistics:
                module.train()
        for start in range(0, len(inputs), batch):
            model(inputs[start : start + batch])
    finally:
        for hook in hooks:
            hook.remove()
    return {name: {key: float(np.mean([row[key] for row in rows])) for key in rows[0]} for name, rows in totals.items()}


def run_statistics(run: Path, slices: int = 12) -> dict:
    """The statistics of a run's model at initialisation (its seed) and as trained, on up to ``slices`` slices of
    its held-out test split that hold liver (evenly spaced)."""
    config = read_run_config(run)
    if config.task != "segmentation" or not config.architecture.startswith("sadnn"):
        raise DatasetError(f"{run} trained {config.architecture} for {config.task}: attention-stats measures a SaDNN "
                           "segmentation run")
    data = load_split(config, make_task(config), "test")
    with_liver = np.flatnonzero(data.labels().any(axis=(1, 2)))  # the targets only: one read, no input slice
    if slices < 1 or not with_liver.size:
        raise DatasetError(f"no held-out slice with liver to measure on ({run}, --slices {slices})")
    chosen = with_liver[np.linspace(0, len(with_liver) - 1, min(slices, len(with_liver))).astype(int)]
    inputs = data.rows(chosen)[0].float()
    _, trained = load_trained(run)
    return {"run": str(run), "slices": len(chosen), "uniform_entropy": UNIFORM_ENTROPY,
            "initialisation": layer_statistics(build_model(config), inputs, batch_statistics=True),
            "trained": layer_statistics(trained, inputs)}


def table(statistics: dict) -> str:
    """Markdown: one row per layer, entropy and logit spread at initialisation and after training."""
    rows = ["| layer | entropy init | entropy trained | logit SD init | logit SD trained | max weight trained |",
            "|---|---|---|---|---|---|"]
    init, trained = statistics["initialisation"], statistics["trained"]
    for name in init:
        rows.append(f"| {name} | {init[name]['entropy']:.2f} | {trained[name]['entropy']:.2f} | "
                    f"{init[name]['logit_std']:.1f} | {trained[name]['logit_std']:.1f} | {trained[name]['max_weight']:.2f} |")
    return "\n".join(rows) + f"\n\n(entropy in nats; uniform over the 3x3 window is {UNIFORM_ENTROPY:.3f})\n"
