"""Leave-one-patient-out: one run per patient held out, each sealed and evaluated exactly as a shipped
bundle (fp32 and int8, before and after post-processing), resumable fold by fold.

``folder/<case>/run`` is the fold's training run and ``folder/<case>/bundle`` its bundle; a fold whose
bundle exists is done. ``folder/lopo.json`` holds every fold and the mean, spread and range over folds,
``folder/lopo.md`` the same as a table. ``engine-train quantise --lopo folder/lopo.json`` puts the
summary into the shipped model's card.

A fixed-point (QAT) run is also evaluated as trained, weights and activations at their bit widths, with the same
post-processing: the ``dice_fixed_point`` columns, beside the int8 PTQ of its float weights.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.runtime.atomic import write_atomic
from engine.runtime.signing import SigningKey
from training.data_liver import find_cases
from training.errors import DatasetError
from training.loop import CONFIG, TrainConfig, read_run_config, train

SUMMARY, TABLE = "lopo.json", "lopo.md"
COLUMNS = {  # column: where it is in a fold's evaluation (``card.metrics["full"]``)
    "dice_fp32": ("fp32", "mean_dice_per_volume"),
    "dice_int8": ("int8", "mean_dice_per_volume"),
    "dice_fp32_before_postprocessing": ("fp32", "before_postprocessing", "mean_dice_per_volume"),
    "dice_int8_before_postprocessing": ("int8", "before_postprocessing", "mean_dice_per_volume"),
    "mask_dice_int8_vs_fp32": ("agreement", "mask_dice_int8_vs_fp32"),
}
FIXED_POINT_COLUMNS = {
    "dice_fixed_point": ("mean_dice_per_volume",),
    "dice_fixed_point_before_postprocessing": ("before_postprocessing", "mean_dice_per_volume"),
}
FIXED_POINT = "fixed_point.json"


def leave_one_patient_out(config: TrainConfig, folder: Path, key: SigningKey | None = None, quiet: bool = False) -> dict:
    """Train, seal and evaluate one fold per case of ``config.data``; returns the summary written to lopo.json."""
    from training.release import quantise_run

    if config.task != "segmentation":
        raise DatasetError("leave-one-patient-out is for segmentation (classification splits NIH by patient itself)")
    names = [case.name for case in find_cases(config.data)]
    if len(names) < 2:
        raise DatasetError(f"leave-one-patient-out needs at least 2 patients, found {len(names)}")
    folds = {}
    for name in names:
        run, bundle = Path(folder) / name / "run", Path(folder) / name / "bundle"
        if not (bundle / "card.json").is_file():
            resume = (run / CONFIG).is_file()
            train(replace(config, test_cases=[name], teacher=fold_teacher(config.teacher, name)), run, resume=resume,
                  quiet=quiet)
            quantise_run(run, bundle, calibration=30, name=f"lopo-{name}", min_held_out=0.0, min_mask_dice=0.0, key=key)
        evaluation = json.loads((bundle / "card.json").read_text())["metrics"]["full"]
        folds[name] = _fold_row(evaluation, COLUMNS) | far_false_positive_row(evaluation)
        if config.weight_bits is not None:
            folds[name] |= _fold_row(_fixed_point_metrics(run, Path(folder) / name / FIXED_POINT), FIXED_POINT_COLUMNS)
        if not quiet:
            print(f"fold {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in folds[name].items()), flush=True)
    summary = summarise(folds, config)
    write_atomic(Path(folder) / SUMMARY, json.dumps(summary, indent=2).encode())
    write_atomic(Path(folder) / TABLE, table(summary).encode())
    return summary


def _fixed_point_metrics(run: Path, cache: Path) -> dict:
    """Held-out metrics of a fixed-point run as trained (its quantisers in place), computed once into ``cache``."""
    from training.release import held_out_as_trained

    if not cache.is_file():
        metrics = held_out_as_trained(run)
        config = read_run_config(run)
        metrics["model"] = f"W{config.weight_bits}/A{config.act_bits} fixed point, as trained"
        write_atomic(cache, json.dumps(metrics, indent=2, default=float).encode())
    return json.loads(cache.read_text())


def fold_teacher(teacher: str, case: str) -> str:
    """The teacher of the fold that holds out ``case``: the same fold of a lopo folder, or the one run named."""
    if teacher and (Path(teacher) / case / "run" / CONFIG).is_file():
        return str(Path(teacher) / case / "run")
    return teacher


def far_false_positive_row(evaluation: dict) -> dict[str, float]:
    """A fold's false positives farther than 10 mm from the reference, fp32 and int8: mL (summed over the held-out
    cases) and percent of the predicted volume (their mean); none where the evaluation predates the measure."""
    row = {}
    for precision in ("fp32", "int8"):
        far = evaluation[precision].get("far_false_positives")
        if far:
            row[f"far_fp_ml_{precision}"] = float(sum(case["ml"] for case in far.values()))
            row[f"far_fp_percent_{precision}"] = 100 * float(np.mean([c["fraction_of_prediction"] for c in far.values()]))
    return row


def _fold_row(evaluation: dict, columns: dict[str, tuple[str, ...]]) -> dict[str, float]:
    row = {}
    for column, path in columns.items():
        value = evaluation
        for key in path:
            value = value[key]
        row[column] = float(value)
    return row


def summarise(folds: dict[str, dict[str, float]], config: TrainConfig) -> dict:
    """Every fold, and the mean, standard deviation and range of each column over the folds."""
    over = {}
    for column in _columns(folds):
        values = np.array([row[column] for row in folds.values()])
        over[column] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                        "min": float(values.min()), "max": float(values.max())}
    qat = f", W{config.weight_bits}/A{config.act_bits} fixed-point QAT" if config.weight_bits is not None else ""
    return {"protocol": f"leave-one-patient-out over {len(folds)} patients, each fold trained as the shipped model "
                        f"({config.architecture}{qat}, {config.image_size} px, {config.epochs} epochs); "
                        "Dice per held-out volume",
            "folds": folds, "over_folds": over}


def _columns(folds: dict[str, dict[str, float]]) -> list[str]:
    """The columns every fold has, in the order of the first."""
    first = next(iter(folds.values()), {})
    return [column for column in first if all(column in row for row in folds.values())]


def table(summary: dict) -> str:
    """The summary as a Markdown table (one row per held-out patient, then mean ± SD)."""
    columns = list(summary["over_folds"])
    header = "| held-out patient | " + " | ".join(columns) + " |\n" + "|---" * (len(columns) + 1) + "|\n"
    rows = "".join(f"| {name} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |\n"
                   for name, row in summary["folds"].items())
    over = summary["over_folds"]
    mean = "| mean ± SD | " + " | ".join(f"{over[c]['mean']:.3f} ± {over[c]['std']:.3f}" for c in columns) + " |\n"
    return f"{summary['protocol']}\n\n{header}{rows}{mean}"
