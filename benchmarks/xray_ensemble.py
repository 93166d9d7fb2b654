"""Does an ensemble help the 64 px X-ray model? Held-out AUROC (patient-bootstrap 95% CI) of each run and of the
mean of their probabilities, side by side.

Run: ``python -m benchmarks.xray_ensemble build/ensemble/seed0 build/ensemble/seed1 ...``, each a run of the shipped
X-ray recipe with another ``--seed`` (``make demo-models`` shows the recipe). Every model is evaluated in PyTorch on the
same patient-wise test split that the shipped card reports.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from benchmarks.results import save_results


def probabilities(run: Path) -> tuple[np.ndarray, object]:
    from training.loop import load_split, load_trained, make_task, predict

    config, model = load_trained(run)
    task = make_task(config)
    test = load_split(config, task, "test")
    return 1 / (1 + np.exp(-predict(model, test, config))), test


def main(argv: list[str] | None = None) -> int:
    from engine.runtime.labels import CHESTXRAY14
    from training.metrics import classification_metrics

    runs = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if len(runs) < 2:
        print("give two or more run folders of the same recipe with different seeds", file=sys.stderr)
        return 2
    outputs = {}
    for run in runs:
        outputs[run.name], test = probabilities(run)
    outputs[f"mean of {len(runs)}"] = np.mean(list(outputs.values()), axis=0)
    rows = {}
    for name, scores in outputs.items():
        metrics = classification_metrics(scores, test.labels(), CHESTXRAY14, groups=test.groups)
        rows[name] = {"mean_auroc": metrics["mean_auroc"], "mean_auroc_ci": metrics["mean_auroc_ci"],
                      "validated_findings": metrics["validated_findings"]}
    print(f"held-out: {test.description}")
    print(f"{'model':12} {'mean AUROC':>11} {'95% CI':>16}  validated findings")
    for name, row in rows.items():
        low, high = row["mean_auroc_ci"]
        print(f"{name:12} {row['mean_auroc']:11.3f} {f'{low:.3f}-{high:.3f}':>16}  {', '.join(row['validated_findings']) or '-'}")
    save_results("xray_ensemble", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
