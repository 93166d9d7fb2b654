"""The model comparison of the seed paper's Tables 4-5 and Fig. 5, for every model we ship or compare.

``python -m engine.modelling.comparison --out DIR`` writes ``models.json``, ``models.md`` and ``radar.png``.
Beside the paper's analytic columns it counts the fused graph's own MACs (SaDNN models) and measures the
latency of the graph the engine runs, fp32 and int8, on this machine in this run (``--no-latency`` skips it).
``--quality NAME=FILE`` adds each model's measured quality: a leave-one-patient-out ``lopo.json`` (Dice
mean ± SD over the held-out patients) or a bundle's ``card.json`` (its held-out headline metric).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from engine.modelling.profile import ModelProfile, profile_model
from engine.runtime.energy import cpu_name

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
MEASURED = (
    ("fused_gmacs", "Fused MACs (G)"),
    ("fused_energy_int8_mj", "Fused energy int8 (mJ)"),
    ("latency_fp32_ms", "Latency fp32 (ms)"),
    ("latency_int8_ms", "Latency int8 (ms)"),
)
RADAR_AXES = ("params", "gmacs", "size_int8_mib", "energy_int8_mj")


def quality_of(path: str | Path) -> str:
    """A model's measured quality, in words, from a ``lopo.json`` or a bundle's ``card.json``."""
    data = json.loads(Path(path).read_text())
    if "over_folds" in data:
        over = data["over_folds"]
        return (f"Dice {over['dice_fp32']['mean']:.3f} ± {over['dice_fp32']['std']:.3f} fp32, "
                f"{over['dice_int8']['mean']:.3f} ± {over['dice_int8']['std']:.3f} int8 "
                f"(leave-one-patient-out, {len(data['folds'])} patients)")
    headline = {k: v for k, v in data.get("metrics", {}).items() if k.startswith("held_out_")}
    if len(headline) != 2:
        raise ValueError(f"{path} is neither a lopo.json nor a card.json with held-out metrics")
    fp32, int8 = (headline[k] for k in sorted(headline))  # ..._fp32 sorts before ..._int8
    metric = next(iter(headline)).removeprefix("held_out_").rsplit("_", 1)[0].replace("_", " ")
    return f"{metric} {fp32:.3f} fp32, {int8:.3f} int8 (held-out: {data.get('training', {}).get('held_out', '?')})"


def profile_all(models: Sequence[tuple] = MODELS, latency_repeats: int = 5) -> list[dict]:
    """One summary row per model, with its display name and task; latency measured where ``latency_repeats``."""
    import torch

    from engine.modelling.fused_graph import FUSED_BUILDERS, fused_profile
    from engine.modelling.models import create_model

    rows = []
    for name, label, shape, task in models:
        torch.manual_seed(0)
        model = create_model(name, **({"img_size": shape[-1]} if name == "sadnn_cls" else {})).eval()
        profile: ModelProfile = profile_model(name, model, shape)
        row = {"label": label, "task": task, **profile.summary()}
        if name in FUSED_BUILDERS:
            fused = fused_profile(model, shape[-1])
            row.update(fused_gmacs=fused["gmacs"], fused_energy_int8_mj=fused["energy_int8_mj"])
        if latency_repeats:
            row.update(measure_latency(name, model, shape, latency_repeats))
        rows.append(row)
    return rows


def measure_latency(name: str, model, shape: Sequence[int], repeats: int) -> dict:
    """Median ms of one inference, fp32 and int8 interleaved, 2 threads, of the graph the engine would run.

    The SaDNN models run their fused graph where the operator library is usable (else the portable graph),
    the CNNs their exported graph with int8 convolutions. Weights are random and the int8 ranges come from
    random inputs: speed does not depend on either.
    """
    import tempfile
    import time

    import numpy as np

    from engine.modelling.onnx_export import export_onnx, quantise_onnx_int8
    from engine.modelling.fused_graph import FUSED_BUILDERS, PortableGraphWriter
    from engine.modelling.fused_quantize import quantise_fused_int8
    from engine.runtime import operators
    from engine.runtime.inference import OnnxModel

    inputs = [np.random.default_rng(seed).random((1, *shape), dtype=np.float32) for seed in range(2)]
    builder = FUSED_BUILDERS.get(name)
    if builder is not None:
        fused = operators.status().usable
        fp32 = builder(model, shape[-1]) if fused else builder(model, shape[-1], writer=PortableGraphWriter)
        int8, _ = quantise_fused_int8(fp32, inputs)
        sessions = {precision: OnnxModel(graph.SerializeToString(), threads=2, sadnn_ops=fused)
                    for precision, graph in (("fp32", fp32), ("int8", int8))}
        graph = "fused operators" if fused else "portable graph"
    else:
        with tempfile.TemporaryDirectory() as folder:
            fp32_path, int8_path = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
            export_onnx(model, (1, *shape), fp32_path)
            quantise_onnx_int8(fp32_path, int8_path, inputs)
            sessions = {"fp32": OnnxModel(fp32_path, threads=2), "int8": OnnxModel(int8_path, threads=2)}
        graph = "exported graph"
    times: dict[str, list[float]] = {precision: [] for precision in sessions}
    for round_ in range(repeats + 1):
        for precision, session in sessions.items():
            start = time.perf_counter()
            session(inputs[0])
            if round_:  # the first round warms up
                times[precision].append(time.perf_counter() - start)
    return {"latency_fp32_ms": 1e3 * float(np.median(times["fp32"])), "latency_int8_ms": 1e3 * float(np.median(times["int8"])),
            "latency_graph": graph}


def to_markdown(rows: list[dict]) -> str:
    """A markdown table with the paper's columns, plus how the numbers were obtained."""
    measured = [(key, title) for key, title in MEASURED if any(key in row for row in rows)]
    head = "| Model | Task | Input | " + " | ".join(title for _, title in [(k, t) for k, t, _ in COLUMNS] + measured) + " |"
    lines = [head, "|" + "---|" * (3 + len(COLUMNS) + len(measured))]
    for row in rows:
        cells = [f"{row[key] * scale:.2f}" for key, _, scale in COLUMNS]
        cells += [f"{row[key]:.2f}" if key in row else "-" for key, _ in measured]
        shape = "x".join(str(s) for s in row["input_shape"])
        lines.append(f"| {row['label']} | {row['task']} | {shape} | " + " | ".join(cells) + " |")
    qualities = [row for row in rows if row.get("quality")]
    if qualities:
        lines += ["", "| Model | Measured quality |", "|---|---|"]
        lines += [f"| {row['label']} | {row['quality']} |" for row in qualities]
    lines += [
        "",
        "MACs counted analytically per layer (engine/modelling/profile.py). Energy: MACs x the 45 nm table "
        "(Horowitz 2014; int8 MUL 0.2 pJ + ADD 0.03 pJ, fp32 MUL 3.7 pJ + ADD 0.9 pJ), arithmetic only, "
        "a lower bound. In the int8 models the attention math (q.k, softmax, a.v) stays fp32. "
        "Sizes in MiB (2^20 bytes).",
    ]
    if any("fused_gmacs" in row for row in rows):
        lines.append("Fused MACs: the operator graph's own count (engine/modelling/fused_graph.py): W_k^T W_q folded "
                     "where C_in < 2 C_out, position logits in the projection; its energy counts projections as int8 "
                     "and the attention core and heads as fp32.")
    if any("latency_int8_ms" in row for row in rows):
        graphs = [f"{row['label']}: {row['latency_graph']}" for row in rows if "latency_graph" in row]
        lines.append(f"Latency: median of one inference, batch 1, 2 threads, ONNX Runtime, measured in this run on "
                     f"{cpu_name()} ({'; '.join(graphs)}).")
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
    parser = argparse.ArgumentParser(prog="engine-train report", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="output folder")
    parser.add_argument("--no-latency", action="store_true", help="skip the measured latency columns (about 2 minutes)")
    parser.add_argument("--quality", action="append", default=[], metavar="NAME=FILE",
                        help="a model's measured quality: registry name = lopo.json or card.json (repeatable)")
    args = parser.parse_args(argv)
    qualities = dict(item.split("=", 1) for item in args.quality if "=" in item)
    unknown = sorted(set(qualities) - {name for name, *_ in MODELS})
    if unknown or len(qualities) != len(args.quality):
        parser.error(f"--quality takes NAME=FILE with NAME one of {', '.join(n for n, *_ in MODELS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = profile_all(latency_repeats=0 if args.no_latency else 5)
    for (name, *_), row in zip(MODELS, rows):
        if name in qualities:
            row["quality"] = quality_of(qualities[name])
    (args.out / "models.json").write_text(json.dumps(rows, indent=2))
    (args.out / "models.md").write_text(to_markdown(rows))
    radar_chart(rows, args.out / "radar.png")
    print(to_markdown(rows))
    print(f"written to {args.out}/models.json, models.md, radar.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
