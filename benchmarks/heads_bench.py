"""What heads and logit scaling cost at inference: one 256 px SaDNN-seg slice through the fused graph, fp32 and
int8, the paper's layer (1 head, unscaled) beside 4 and 8 scaled heads, 2 threads, variants interleaved, medians.

Run: ``python -m benchmarks.heads_bench [--repeats 7]``. Random-init weights (speed does not depend on training),
real CT slices for calibration and input. The scale is folded into the projection (free); heads change the attention
core only (the same MACs, split into shorter dot products), so the ratio to the paper's layer is the figure.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from benchmarks.engine_bench import calibration_inputs, median_seconds
from engine.runtime.energy import cpu_name

VARIANTS = {"paper (1 head, unscaled)": {}, "4 heads, scaled": {"heads": 4, "scaled": True},
            "8 heads, scaled": {"heads": 8, "scaled": True}}


def measure(repeats: int, size: int = 256) -> dict:
    """Median ms per slice of every variant and precision, interleaved round by round."""
    import torch

    from engine.modelling.fused_graph import fused_profile, fused_sadnn_seg
    from engine.modelling.fused_quantize import quantise_fused_int8
    from engine.modelling.models import create_model
    from engine.runtime.inference import OnnxModel

    inputs = calibration_inputs(size)
    sessions, macs = {}, {}
    for name, options in VARIANTS.items():
        torch.manual_seed(0)
        model = create_model("sadnn_seg", **options).eval()
        fp32 = fused_sadnn_seg(model, size)
        int8, _ = quantise_fused_int8(fp32, inputs[:4])
        sessions[f"{name} fp32"] = OnnxModel(fp32.SerializeToString(), threads=2, sadnn_ops=True)
        sessions[f"{name} int8"] = OnnxModel(int8.SerializeToString(), threads=2, sadnn_ops=True)
        macs[name] = round(fused_profile(model, size)["gmacs"], 2)
    batch = inputs[-1][:1]
    times = {variant: [] for variant in sessions}
    for _ in range(repeats):
        for variant, session in sessions.items():
            times[variant].append(median_seconds(lambda s=session: s(batch), 1))
    ms = {variant: round(1000 * float(np.median(t)), 1) for variant, t in times.items()}
    paper = next(iter(VARIANTS))
    return {"cpu": cpu_name(), "slice_ms": ms, "gmacs": macs,
            "ratio_to_paper": {variant: round(value / ms[f"{paper} {variant.rsplit(' ', 1)[1]}"], 2)
                               for variant, value in ms.items()},
            "int8_speedup": {name: round(ms[f"{name} fp32"] / ms[f"{name} int8"], 2) for name in VARIANTS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
