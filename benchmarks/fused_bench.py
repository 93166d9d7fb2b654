"""The fused ai.sadnn operator graph against today's exported graph: one 256 px SaDNN-seg slice and one
512 px SaDNN-cls radiograph, fp32 and int8, 2 threads, variants interleaved, medians.

Run: ``python -m benchmarks.fused_bench``. The same measurement runs natively and under the AVX2-only
proxy (the clinic PC has no AVX-512/VNNI): ``../shared/prototypes/fused-attention/avx2only.c`` is
compiled into ``build/`` and preloaded into a child process that hides AVX-512/VNNI/AMX from every
library. Random-init weights (speed does not depend on training), real CT slices and a real X-ray for
calibration and input. Targets (reported, not enforced): int8 slice under the proxy well below the
old graph; int8 >= 1.8x fp32 under the proxy; RISE (2000 masks on the X-ray) <= 10 s.
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

from benchmarks.engine_bench import calibration_inputs, median_seconds
from engine.runtime.energy import cpu_name

ROOT = Path(__file__).resolve().parents[1]
SHIM_SOURCE = ROOT.parent / "shared" / "prototypes" / "fused-attention" / "avx2only.c"
SHIM = ROOT / "build" / "avx2only.so"


def measure(repeats: int) -> dict:
    """Median ms of every variant, interleaved round by round."""
    import torch

    from engine.modelling.onnx_export import export_onnx, quantise_onnx_int8
    from engine.modelling.fused_graph import fused_sadnn_cls, fused_sadnn_seg
    from engine.modelling.fused_quantize import quantise_fused_int8
    from engine.runtime.inference import OnnxModel
    from engine.modelling.models import create_model

    torch.manual_seed(0)
    results = {}
    if repeats == 0:
        return results
    for name, size, fused in (("sadnn_seg", 256, fused_sadnn_seg), ("sadnn_cls", 512, fused_sadnn_cls)):
        model = create_model(name).eval()
        inputs = calibration_inputs(size)
        folder = Path(tempfile.mkdtemp())
        export_onnx(model, (1, 1, size, size), folder / "old_fp32.onnx")
        quantise_onnx_int8(folder / "old_fp32.onnx", folder / "old_int8.onnx", inputs[:4])
        fused_fp32 = fused(model, size)
        fused_int8, _ = quantise_fused_int8(fused_fp32, inputs[:4])
        sessions = {
            "old fp32": OnnxModel(folder / "old_fp32.onnx", threads=2),
            "old int8": OnnxModel(folder / "old_int8.onnx", threads=2),
            "fused fp32": OnnxModel(fused_fp32.SerializeToString(), threads=2, sadnn_ops=True),
            "fused int8": OnnxModel(fused_int8.SerializeToString(), threads=2, sadnn_ops=True),
        }
        batch = inputs[-1][:1]
        times = {variant: [] for variant in sessions}
        for _ in range(repeats):
            for variant, session in sessions.items():
                times[variant].append(median_seconds(lambda s=session: s(batch), 1))
        results[f"{name} {size} px"] = {variant: round(1000 * float(np.median(t)), 1) for variant, t in times.items()}
        if name == "sadnn_cls":
            results["rise"] = rise_seconds(sessions["fused int8"], batch)
    return results


def rise_seconds(model, image: np.ndarray, masks: int = 64, target: int = 2000) -> dict:
    """Seconds for ``target`` RISE masks on the fused int8 classifier, projected from ``masks`` measured ones,
    at batch 1, 8 and 16 (masks per forward pass), interleaved."""
    from engine.runtime.saliency import rise

    def run(batch: int) -> None:
        for _ in rise(lambda x: 1.0 / (1.0 + np.exp(-model(x))), image, masks=masks, batch=batch):
            pass

    batches = (1, 8, 16)
    times = {b: [] for b in batches}
    for _ in range(2):
        for b in batches:
            times[b].append(median_seconds(lambda b=b: run(b), 1))
    return {f"batch {b}": round(float(np.median(t)) * target / masks, 1) for b, t in times.items()}


def avx512_visible() -> bool:
    """Whether this process sees AVX-512 (numpy reads CPUID at import): False under a working proxy."""
    from numpy._core._multiarray_umath import __cpu_features__

    return bool(__cpu_features__.get("AVX512F"))


def shim() -> Path | None:
    """The AVX2-only proxy, compiled once from the prototype folder (None where it cannot be built)."""
    if SHIM.exists():
        return SHIM
    if not SHIM_SOURCE.exists():
        return None
    SHIM.parent.mkdir(parents=True, exist_ok=True)
    built = subprocess.run(["cc", "-O2", "-shared", "-fPIC", str(SHIM_SOURCE), "-o", str(SHIM)], capture_output=True)
    return SHIM if built.returncode == 0 else None


def run_child(repeats: int, preload: Path | None) -> dict:
    environment = {**os.environ, **({"LD_PRELOAD": str(preload)} if preload else {})}
    child = subprocess.run([sys.executable, "-m", "benchmarks.fused_bench", "--child", "--repeats", str(repeats)],
                           cwd=ROOT, env=environment, capture_output=True, text=True, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps({"avx512_visible": avx512_visible(), **measure(args.repeats)}))
        return
    proxy = shim()
    runs = {"native": run_child(args.repeats, None)}
    if proxy is not None:
        hidden = run_child(0, proxy)
        if hidden.pop("avx512_visible"):
            print("AVX2 proxy: NOT EFFECTIVE on this machine (it cannot make CPUID fault: an AMD CPU or a VM without "
                  "CPUID faulting); no AVX2-only numbers. Measure on an Intel machine, where the shim works.")
        else:
            runs["AVX2 proxy"] = run_child(args.repeats, proxy)
    print(f"CPU: {cpu_name()}, AVX-512 visible natively: {runs['native'].pop('avx512_visible')}")
    runs.get("AVX2 proxy", {}).pop("avx512_visible", None)
    print(f"{'machine':12} {'model':18} {'old fp32':>9} {'old int8':>9} {'fused fp32':>11} {'fused int8':>11} "
          f"{'old/fused int8':>15} {'fused fp32/int8':>16}")
    for machine, results in runs.items():
        rise_times = results.pop("rise", {})
        for model, ms in results.items():
            print(f"{machine:12} {model:18} {ms['old fp32']:9.1f} {ms['old int8']:9.1f} {ms['fused fp32']:11.1f} "
                  f"{ms['fused int8']:11.1f} {ms['old int8'] / ms['fused int8']:14.2f}x {ms['fused fp32'] / ms['fused int8']:15.2f}x")
        if rise_times:
            print(f"{machine:12} RISE, 2000 masks on the 512 px X-ray (fused int8), seconds: "
                  + ", ".join(f"{batch}: {seconds:.1f}" for batch, seconds in rise_times.items()))


if __name__ == "__main__":
    main()
