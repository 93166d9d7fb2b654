"""The model comparison of the seed paper's Tables 4-5 and Fig. 5, for every model we ship or compare.

``python -m engine.modelling.report --out DIR`` writes ``models.json``, ``models.md`` and ``radar.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from engine.modelling.profile import ModelProfile, profile_model

# (registry name, display name, input (C, H, W), task)
MODELS = (
    ("sadnn_cls", "SaDNN-cls", (1, 512, 512), "chest X-ray classification"),
    ("resnet18", "ResNet-18", (1, 512, 512), "chest X-ray classification"),
    ("resnet50", "ResNet-50", (1, 512, 512), "chest X-ray classification"),
    ("sadnn_seg", "SaDNN-seg", (1, 256, 256), "liver segmentation"),
    ("sumnet", "SUMNet", (1, 256, 256), "liver segmentation"),
    ("unet_small", "UNet-small", (1, 256, 256), "liver segmentation"),
)
COLUMNS = (
    ("params", "Params (M)", 1e-6),
    ("gmacs", "MACs (G)", 1.0),
    ("size_fp32_mib", "Size fp32 (MiB)", 1.0),
    ("size_int8_mib", "Size int8 (MiB)", 1.0),
    ("energy_fp32_mj", "Energy fp32 (mJ)", 1.0),
    ("energy_int8_mj", "Energy int8 (mJ)", 1.0),
    ("energy_saving", "fp32/int8 energy", 1.0),
)
RADAR_AXES = ("params", "gmacs", "size_int8_mib", "energy_int8_mj")


def profile_all(models: Sequence[tuple] = MODELS) -> list[dict]:
    """One summary row per model, with its display name and task."""
    from engine.modelling.models import create_model

    rows = []
    for name, label, shape, task in models:
        profile: ModelProfile = profile_model(name, create_model(name), shape)
        rows.append({"label": label, "task": task, **profile.summary()})
    return rows


def to_markdown(rows: list[dict]) -> str:
    """A markdown table with the paper's columns, plus how the numbers were obtained."""
    head = "| Model | Task | Input | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (3 + len(COLUMNS))]
    for row in rows:
        cells = [f"{row[key] * scale:.2f}" for key, _, scale in COLUMNS]
        shape = "x".join(str(s) for s in row["input_shape"])
        lines.append(f"| {row['label']} | {row['task']} | {shape} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "MACs counted analytically per layer (engine/modelling/profile.py). Energy: MACs x the 45 nm table "
        "(Horowitz 2014; int8 MUL 0.2 pJ + ADD 0.03 pJ, fp32 MUL 3.7 pJ + ADD 0.9 pJ), arithmetic only, "
        "a lower bound. In the int8 models the attention math (q.k, softmax, a.v) stays fp32. "
        "Sizes in MiB (2^20 bytes).",
    ]
    return "\n".join(lines) + "\n"


def radar_chart(rows: list[dict], path: str | Path) -> Path:
    """Fig. 5-style radar chart: each axis is a cost normalised by the largest model (smaller is better)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    titles = {key: title for key, title, _ in COLUMNS}
    angles = np.linspace(0, 2 * np.pi, len(RADAR_AXES), endpoint=False).tolist()
    figure, axes = plt.subplots(figsize=(7, 7), subplot_kw={"polar": True})
    for row in rows:
        values = [row[key] / max(r[key] for r in rows) for key in RADAR_AXES]
        axes.plot(angles + angles[:1], values + values[:1], label=row["label"], linewidth=2)
        axes.fill(angles + angles[:1], values + values[:1], alpha=0.08)
    axes.set_xticks(angles)
    axes.set_xticklabels([titles[key] for key in RADAR_AXES])
    axes.set_ylim(0, 1.05)
    axes.set_rlabel_position(20)
    axes.tick_params(axis="x", pad=16)
    axes.set_title("Cost per inference, relative to the largest model (smaller is better)", pad=24)
    axes.legend(loc="upper right", bbox_to_anchor=(1.32, 1.12))
    path = Path(path)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = profile_all()
    (args.out / "models.json").write_text(json.dumps(rows, indent=2))
    (args.out / "models.md").write_text(to_markdown(rows))
    radar_chart(rows, args.out / "radar.png")
    print(to_markdown(rows))
    print(f"written to {args.out}/models.json, models.md, radar.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
