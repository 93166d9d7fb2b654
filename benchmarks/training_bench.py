"""Training-resource benchmark (Selvan et al.'s options, AskariHemmat et al.'s fixed point), side by side.

Run: ``make bench-train`` (or ``python -m benchmarks.training_bench``). Each configuration trains
SaDNN-seg for a few steps on real CT slices (the two example CTs at 128x128, batch 4) in its own
process, so peak memory is its own. Printed: seconds per step, peak RSS, optimiser-state MiB,
energy per step (RAPL where readable, else a labelled estimate) and the ratio to the fp32 baseline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.results import save_results

ROOT = Path(__file__).resolve().parents[1]
CT = ROOT.parent / "shared" / "data" / "ct"
CONFIGS = {
    "fp32 baseline": {},
    "bf16 autocast (AMP)": {"amp_bf16": True},
    "8-bit AdamW states (bitsandbytes)": {"optim_8bit": True},
    "bf16 weights": {"half_weights": True},
    "fixed point W4/A6 (QAT)": {"weight_bits": 4, "act_bits": 6},
}

STEP = """
import json, statistics, sys, time
import torch
sys.path.insert(0, {root!r})
from benchmarks.memory import peak_rss_mib
from engine.runtime.energy import EnergyMeter
from training.loop import TrainConfig, build_model, make_optimiser, load_split, make_task, optimiser_state_bytes
torch.set_num_threads(2)
config = TrainConfig(task="segmentation", data={data!r}, image_size=128, batch_size=4, cache="none", **{options})
task = make_task(config)
data = load_split(config, task, "train")
model = build_model(config).train()
optimiser = make_optimiser(config, model)
inputs, targets = data.rows(range(4))
def step():
    optimiser.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.amp_bf16):
        logits = model(inputs.to(next(model.parameters()).dtype))
    task.loss(logits.float(), targets).backward()
    optimiser.step()
step()
times = []
with EnergyMeter() as meter:
    for _ in range({steps}):
        start = time.perf_counter(); step(); times.append(time.perf_counter() - start)
print(json.dumps({{"seconds_per_step": statistics.median(times), "peak_rss_mib": peak_rss_mib(),
                  "optimiser_state_mib": optimiser_state_bytes(optimiser.state) / 2**20, "energy_j_per_step": meter.result.joules / {steps},
                  "energy_source": meter.result.source}}))
"""


def measure(options: dict, data: Path, steps: int) -> dict:
    code = STEP.format(root=str(ROOT), data=str(data), options=options, steps=steps)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(steps: int = 3) -> int:
    from training.demo_data import build_demo_msd

    with tempfile.TemporaryDirectory() as tmp:
        data = build_demo_msd(CT, Path(tmp) / "Task03_Liver")
        rows = {name: measure(options, data, steps) for name, options in CONFIGS.items()}
    base = rows["fp32 baseline"]
    print(f"{'configuration':34} {'s/step':>7} {'x fp32':>7} {'peak RSS MiB':>13} {'optim MiB':>10} {'J/step':>7}")
    for name, row in rows.items():
        print(f"{name:34} {row['seconds_per_step']:7.2f} {base['seconds_per_step'] / row['seconds_per_step']:7.2f} "
              f"{row['peak_rss_mib']:13.0f} {row['optimiser_state_mib']:10.1f} {row['energy_j_per_step']:7.1f}")
    print(f"energy: {base['energy_source']}")
    save_results("training_bench", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
