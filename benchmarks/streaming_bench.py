"""Peak memory of streaming training data against the size of the dataset (issue: splits were stacked in RAM).

Run: ``python -m benchmarks.streaming_bench [--images 20000]``. Writes a synthetic NIH ChestX-ray14 folder in the
public layout (``images/`` + ``Data_Entry_2017_v2020.csv``) from the 800 real 64 px images and their real labels
(image ``i`` is a copy of real image ``i mod 800``, three images per synthetic patient), then, in a fresh process per
size: prepares the training split into an empty shard cache, reads every row once through the DataLoader that training
uses, and trains 8 steps of SaDNN-cls on it. Printed side by side for a tenth of the images and all of them: peak RSS,
and what the stacked float32 split alone would take at 64 px and at the paper's 512 px.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.results import save_results

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "cxr"

CHILD = """
import json, sys, time
import torch
sys.path.insert(0, {root!r})
from benchmarks.memory import peak_rss_mib
from training.loop import TrainConfig, load_split, make_task, build_model, make_optimiser
torch.set_num_threads(2)
config = TrainConfig(task="classification", data=[{data!r}], image_size={size}, batch_size=32, cache={cache!r})
start = time.perf_counter()
split = load_split(config, make_task(config), "train")
prepared = time.perf_counter() - start
after_prepare = peak_rss_mib()
start = time.perf_counter()
rows = sum(len(inputs) for inputs, _ in split.batches(64))
read = time.perf_counter() - start
task = make_task(config, split)
model = build_model(config).train()
optimiser = make_optimiser(config, model)
for step, (inputs, targets) in enumerate(split.batches(32)):
    if step == 8:
        break
    optimiser.zero_grad()
    task.loss(model(inputs), targets).backward()
    optimiser.step()
print(json.dumps({{"train_rows": rows, "prepare_seconds": prepared, "read_seconds": read,
                  "peak_rss_after_prepare_mib": after_prepare, "peak_rss_mib": peak_rss_mib()}}))
"""


def write_synthetic_nih(out: Path, images: int) -> Path:
    """``images`` copies of the real images in the NIH layout, with each source's real labels."""
    sources = sorted((REAL / "nih_64" / "images").glob("*.png"))
    with open(REAL / "Data_Entry_2017_v2020.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        fields, labels = reader.fieldnames, {row["Image Index"]: row for row in reader}
    (out / "images").mkdir(parents=True)
    with open(out / "Data_Entry_2017_v2020.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for index in range(images):
            source = sources[index % len(sources)]
            name = f"{index // 3 + 1:08d}_{index % 3:03d}.png"
            shutil.copyfile(source, out / "images" / name)
            writer.writerow({**labels[source.name], "Image Index": name, "Patient ID": str(index // 3 + 1)})
    return out


def measure(data: Path, cache: Path, size: int) -> dict:
    code = CHILD.format(root=str(ROOT), data=str(data), cache=str(cache), size=size)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000, help="images in the larger synthetic folder")
    parser.add_argument("--image-size", type=int, default=64, help="network input side (the real images are 64 px)")
    args = parser.parse_args(argv)
    images, size = args.images, args.image_size
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in (images // 10, images):
            folder = write_synthetic_nih(Path(tmp) / f"nih_{count}", count)
            rows[count] = measure(folder, Path(tmp) / f"cache_{count}", size)
    print(f"input {size} px; 'stacked': the float32 training split alone, as it was held in memory before")
    print(f"{'images':>7} {'train rows':>10} {'prepare s':>10} {'read s':>7} {'peak RSS MiB':>13} "
          f"{'stacked MiB':>12} {'stacked 512 px GiB':>19}")
    for count, row in rows.items():
        stacked = row["train_rows"] * size * size * 4 / 2**20
        print(f"{count:7d} {row['train_rows']:10d} {row['prepare_seconds']:10.1f} {row['read_seconds']:7.1f} "
              f"{row['peak_rss_mib']:13.0f} {stacked:12.0f} {stacked * (512 / size) ** 2 / 1024:19.1f}")
    small, large = rows[images // 10], rows[images]
    print(f"peak RSS ratio {images} / {images // 10} images: {large['peak_rss_mib'] / small['peak_rss_mib']:.2f} "
          f"(10x the data)")
    save_results("streaming_bench", {f"{k} images at {size} px": v for k, v in rows.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
