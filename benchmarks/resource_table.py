"""The resource table of Selvan et al.'s training options (and AskariHemmat et al.'s fixed point), with held-out quality.

Run: ``python -m benchmarks.resource_table`` (after ``make demo-models`` has prepared build/demo/Task03_Liver). Each
configuration trains UNet-small on the same liver recipe (256 px at 1.6 mm, 128 px patches, patient_1.1, patient_1.7
and liver_0 in training, liver_1 held out) with ``engine-train train``, one after the other with the same threads,
then its model is evaluated on the held-out patient as trained (its own precision and quantisers, with the liver
post-processing). Printed side by side: median seconds per epoch, peak RSS, optimiser-state MiB, energy per epoch
(RAPL where readable, else a labelled estimate) and held-out Dice, each with its ratio to fp32. Runs resume: a
configuration whose run is complete is not trained again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.results import save_results

ROOT = Path(__file__).resolve().parents[1]
DATA = [ROOT.parent / "shared" / "data" / "ct" / "ircadb", ROOT / "build" / "demo" / "Task03_Liver"]
RECIPE = ["--task", "segmentation", "--architecture", "unet_small", "--image-size", "256", "--pixel-spacing-mm", "1.6",
          "--crop", "128", "--batch-size", "8", "--lr", "3e-4", "--lr-schedule", "cosine", "--weight-decay", "0.01",
          "--test-case", "liver_1", "--quiet"]
CONFIGS = {
    "fp32": [],
    "bf16 autocast (AMP)": ["--amp-bf16"],
    "8-bit AdamW (bitsandbytes)": ["--optim-8bit"],
    "bf16 weights": ["--half-weights"],
    "W4/A6 fixed point (QAT)": ["--weight-bits", "4", "--act-bits", "6"],
}


def train(run: Path, options: list[str], epochs: int, threads: int) -> None:
    metrics = run / "metrics.json"
    if metrics.is_file() and len(json.loads(metrics.read_text())["epochs"]) >= epochs:
        return
    data = [part for root in DATA for part in ("--data", str(root))]
    command = [sys.executable, "-m", "training.cli", "train", *RECIPE, *data, "--epochs", str(epochs),
               "--threads", str(threads), "--run", str(run), *options, *(["--resume"] if (run / "config.json").is_file() else [])]
    subprocess.run(command, cwd=ROOT, check=True)


def measure(run: Path) -> dict:
    import torch

    from training.loop import optimiser_state_bytes
    from training.release import held_out_as_trained

    rows = json.loads((run / "metrics.json").read_text())["epochs"]
    optimiser = torch.load(run / "checkpoint.pt", weights_only=True, map_location="cpu")["optimiser"]["state"]
    state_bytes = optimiser_state_bytes(optimiser)
    dice = held_out_as_trained(run)
    return {"seconds_per_epoch": statistics.median(r["seconds"] for r in rows),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in rows), "optimiser_state_mib": state_bytes / 2**20,
            "energy_j_per_epoch": statistics.median(r["energy_j"] for r in rows), "energy_source": rows[-1]["energy_source"],
            "held_out_dice": dice["mean_dice_per_volume"],
            "held_out_dice_before_postprocessing": dice["before_postprocessing"]["mean_dice_per_volume"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "resources", help="folder for the runs")
    parser.add_argument("--epochs", type=int, default=16, help="epochs of every configuration")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads of every configuration")
    args = parser.parse_args(argv)
    rows = {}
    for name, options in CONFIGS.items():
        run = args.out / name.split(" (")[0].replace(" ", "_").replace("/", "")
        train(run, options, args.epochs, args.threads)
        rows[name] = measure(run)
    base = rows["fp32"]
    print(f"UNet-small, {args.epochs} epochs, {args.threads} thread(s); held-out patient liver_1; ratios to fp32")
    print(f"{'configuration':28} {'s/epoch':>8} {'x':>5} {'peak RSS MiB':>13} {'optim MiB':>10} {'x':>5} "
          f"{'J/epoch':>8} {'Dice':>6} {'Dice raw':>9}")
    for name, row in rows.items():
        print(f"{name:28} {row['seconds_per_epoch']:8.0f} {row['seconds_per_epoch'] / base['seconds_per_epoch']:5.2f} "
              f"{row['peak_rss_mib']:13.0f} {row['optimiser_state_mib']:10.2f} "
              f"{row['optimiser_state_mib'] / base['optimiser_state_mib']:5.2f} {row['energy_j_per_epoch']:8.0f} "
              f"{row['held_out_dice']:6.3f} {row['held_out_dice_before_postprocessing']:9.3f}")
    print(f"energy: {base['energy_source']}")
    save_results("resource_table", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
