"""Engine benchmark: latency of fp32 vs int8 (torch eager, ONNX Runtime), peak memory, whole-volume time.

Run: ``make bench`` (or ``python -m benchmarks.engine_bench``). All numbers are measured in this one
run on this machine, side by side, with random-init weights (speed does not depend on training)
and real images for calibration and input. Targets (reported against, not enforced):
ORT int8 >= 2x fp32; whole 512x512x100 CT volume <= 30 s; peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CT_SERIES = DATA / "ct" / "totalseg_abd_dicom"
XRAY = DATA / "cxr" / "nih_txv" / "00000001_000.png"
MODELS = (("sadnn_cls", 512), ("resnet18", 512), ("sadnn_seg", 256), ("unet_small", 256))


def median_seconds(run, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def calibration_inputs(size: int) -> list[np.ndarray]:
    """Real images for calibration and timing: the NIH X-ray or CT slices, prepared like inference."""
    from engine.runtime.card import InputContract
    from engine.runtime.preprocess import prepare_ct_slices, prepare_radiograph

    if size == 512:
        from PIL import Image

        contract = InputContract("CR/DX", (512, 512), "mean_std", mean=0.5149, std=0.2530)
        return [prepare_radiograph(np.asarray(Image.open(XRAY)), contract)]
    contract = InputContract("CT", (256, 256), "hu_window", window=(-160.0, 240.0))
    return [prepare_ct_slices(read_ct_series()[z : z + 1], contract) for z in (4, 10, 16)]


def read_ct_series() -> np.ndarray:
    from engine.runtime.io import find_images

    return find_images(CT_SERIES)[0].load().array


def bench_model(name: str, size: int, folder: Path, repeats: int) -> dict:
    import torch

    from engine.modelling.onnx_export import export_onnx, quantise_onnx_int8
    from engine.runtime.inference import OnnxModel
    from engine.modelling.models import create_model
    from engine.modelling.quantize import quantise_eager

    torch.manual_seed(0)
    model = create_model(name).eval()
    inputs = calibration_inputs(size)
    x = inputs[0]
    fp32_path, int8_path = folder / f"{name}_fp32.onnx", folder / f"{name}_int8.onnx"
    export_onnx(model, (1, 1, size, size), fp32_path)
    quantise_onnx_int8(fp32_path, int8_path, inputs)
    eager = quantise_eager(model, [torch.from_numpy(b) for b in inputs])
    tx = torch.from_numpy(x)
    with torch.no_grad():
        row = {
            "torch_fp32": median_seconds(lambda: model(tx), repeats),
            "torch_int8": median_seconds(lambda: eager(tx), repeats),
        }
    fp32, int8 = OnnxModel(fp32_path, threads=2), OnnxModel(int8_path, threads=2)
    row["ort_fp32"] = median_seconds(lambda: fp32(x), repeats)
    row["ort_int8"] = median_seconds(lambda: int8(x), repeats)
    row["torch_int8_speedup"] = row["torch_fp32"] / row["torch_int8"]
    row["ort_int8_speedup"] = row["ort_fp32"] / row["ort_int8"]
    row["ort_int8_vs_torch_fp32"] = row["torch_fp32"] / row["ort_int8"]
    return row


WHOLE_VOLUME = """
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from benchmarks.memory import peak_rss_mib
from benchmarks.engine_bench import read_ct_series
from engine.runtime.card import InputContract
from engine.runtime.inference import OnnxModel
from engine.runtime.preprocess import prepare_ct_slices
series = read_ct_series()
volume = np.concatenate([series] * 5)  # the real 20-slice 512x512 series, 5 times: 100 slices
contract = InputContract("CT", (256, 256), "hu_window", window=(-160.0, 240.0))
model = OnnxModel({path!r}, threads=2)
start = time.perf_counter()
for z in range(volume.shape[0]):  # one slice at a time, as the viewer's Segmenter does
    model(prepare_ct_slices(volume[z : z + 1], contract))
seconds = time.perf_counter() - start
print(json.dumps({{"slices": int(volume.shape[0]), "shape": list(volume.shape), "seconds": seconds,
                  "peak_rss_mib": peak_rss_mib()}}))
"""


def bench_whole_volume(int8_path: Path) -> dict:
    """Segment a 512x512x100 CT with the torch-free runtime in a fresh process (its own peak RSS)."""
    code = WHOLE_VOLUME.format(root=str(Path(__file__).resolve().parents[1]), path=str(int8_path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in MODELS:
            results[name] = row = bench_model(name, size, Path(tmp), args.repeats)
            print(f"{name:11s} torch fp32 {row['torch_fp32']*1e3:7.0f} ms | torch int8 {row['torch_int8']*1e3:7.0f} ms "
                  f"(x{row['torch_int8_speedup']:.2f}) | ORT fp32 {row['ort_fp32']*1e3:7.0f} ms | ORT int8 "
                  f"{row['ort_int8']*1e3:7.0f} ms (x{row['ort_int8_speedup']:.2f} vs ORT fp32, "
                  f"x{row['ort_int8_vs_torch_fp32']:.2f} vs torch fp32)", flush=True)
        volume = bench_whole_volume(Path(tmp) / "sadnn_seg_int8.onnx")
    results["whole_volume_sadnn_seg_int8"] = volume
    print(f"whole volume {volume['shape']} SaDNN-seg ORT int8: {volume['seconds']:.1f} s "
          f"(target <= 30 s), peak RSS {volume['peak_rss_mib']:.0f} MiB (target <= 2048 MiB)")
    (args.out / "engine_bench.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
