"""A whole 512x512x100 CT through the product's Segmenter: the old layer-wise graph, the portable graph and
the fused operator graph, int8, 2 threads, each run in a fresh process (its own peak RSS), interleaved.

Run: ``python -m benchmarks.whole_ct_bench``. The model is SaDNN-seg at 256 px with random-init weights
(speed does not depend on training), exported as a real signed bundle with a throw-away key; the volume
is the real 20-slice TotalSegmentator series five times over. Targets (reported, not enforced): <= 20 s
and <= 0.6 GB peak RSS under the AVX2-only proxy (see ``benchmarks.fused_bench`` for where it works).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("old int8", "portable int8", "fused int8")

CHILD = """
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from benchmarks.engine_bench import read_ct_series
from engine.runtime.bundle import load_bundle
from engine.runtime.inference import OnnxModel, Segmenter
from benchmarks.memory import peak_rss_mib
volume = np.concatenate([read_ct_series()] * 5)
segmenter = Segmenter(load_bundle({bundle!r}), "int8", threads=2)
if {old!r}:
    segmenter.model, segmenter.graph = OnnxModel({old!r}, threads=2), "old layer-wise graph"
start = time.perf_counter()
result = segmenter.segment(volume)
print(json.dumps({{"seconds": time.perf_counter() - start, "graph": result.graph, "shape": list(volume.shape),
                  "peak_rss_mib": peak_rss_mib()}}))
"""


def build(folder: Path) -> tuple[Path, Path]:
    """A signed SaDNN-seg bundle (portable and fused graphs) and the old layer-wise int8 graph."""
    import torch

    from benchmarks.engine_bench import calibration_inputs
    from engine.modelling.onnx_export import export_bundle, export_onnx, quantise_onnx_int8
    from engine.modelling.models import create_model
    from engine.runtime.card import InputContract, ModelCard
    from engine.runtime.labels import LIVER
    from engine.runtime.signing import SigningKey

    torch.manual_seed(0)
    model = create_model("sadnn_seg").eval()
    inputs = calibration_inputs(256)
    key = SigningKey.generate("whole-CT benchmark")
    key.save(folder / "keys" / "bench.json")
    contract = InputContract("CT", (256, 256), "hu_window", window=(-160.0, 240.0), geometry="axial slices resized to 256x256")
    card = ModelCard(name="sadnn_seg-bench", version="0.0.0", architecture="sadnn_seg", task="segmentation",
                     input=contract, labels=LIVER, thresholds=(0.5, 0.5), training={"data": "none (random weights)"},
                     intended_use="benchmark bundle with random weights; not for clinical use")
    bundle = export_bundle(model, card, folder / "bundle", inputs, include_weights=False, key=key).path
    export_onnx(model, (1, 1, 256, 256), folder / "old_fp32.onnx")
    quantise_onnx_int8(folder / "old_fp32.onnx", folder / "old_int8.onnx", inputs)
    return bundle, folder / "old_int8.onnx"


def run_child(variant: str, bundle: Path, old: Path, folder: Path) -> dict:
    environment = {**os.environ, "SADNN_TRUSTED_KEYS": str(folder / "keys")}
    if variant == "portable int8":
        environment["SADNN_OPS_LIBRARY"] = str(folder / "no-library-here.so")  # as on a CPU without the library
    code = CHILD.format(root=str(ROOT), bundle=str(bundle), old=str(old) if variant == "old int8" else "")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment)
    return json.loads(child.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    from engine.runtime.energy import cpu_name

    with tempfile.TemporaryDirectory() as tmp:
        bundle, old = build(Path(tmp))
        runs = {variant: [] for variant in VARIANTS}
        for _ in range(args.repeats):
            for variant in VARIANTS:
                runs[variant].append(run_child(variant, bundle, old, Path(tmp)))
    print(f"CPU: {cpu_name()}; volume {runs['fused int8'][0]['shape']}, 2 threads, median of {args.repeats}")
    fused = float(np.median([r["seconds"] for r in runs["fused int8"]]))
    for variant, results in runs.items():
        seconds = float(np.median([r["seconds"] for r in results]))
        rss = max(r["peak_rss_mib"] for r in results)
        print(f"{variant:14} {seconds:7.1f} s  peak RSS {rss:6.0f} MiB  {seconds / fused:5.2f}x fused   "
              f"({results[0]['graph']})")


if __name__ == "__main__":
    main()
