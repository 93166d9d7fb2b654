"""What an inference cost, side by side with fp32 and the CNN baseline (Qt-free, rendered as HTML)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import numpy as np

from engine.runtime.card import ModelCard
from engine.runtime.energy import EnergyMeasurement
from engine.runtime.evidence import finding_evidence

if TYPE_CHECKING:
    from viewer.model.study import InferenceCost


def energy_rows(card: ModelCard, measured: EnergyMeasurement, runs: int,
                fp32: EnergyMeasurement | None = None, fused: bool = False) -> list[tuple[str, ...]]:
    """Rows (model, GMAC/inference, estimated mJ/inference, measured) for one job of ``runs`` inferences.

    ``fused``: the run used the fused operator graph, whose MACs (folded projections) are counted instead.
    """
    profile = card.profile or {}
    fused_profile = (card.quantisation.get("fused") or {}).get("profile") if fused else None
    if fused_profile:
        profile = {**profile, **fused_profile}
    gmacs = profile.get("gmacs", float("nan"))
    graph = " fused" if fused_profile else ""
    rows = [
        (f"{card.architecture}{graph} int8 (this run)", f"{gmacs:.2f}", f"{profile.get('energy_int8_mj', float('nan')):.2f}",
         _per_inference(measured, runs)),
        (f"{card.architecture}{graph} fp32", f"{gmacs:.2f}", f"{profile.get('energy_fp32_mj', float('nan')):.2f}",
         "not run" if fp32 is None else _per_inference(fp32, runs)),
    ]
    baseline = profile.get("baseline")
    if baseline:
        rows.append((f"{baseline['model']} fp32 (CNN baseline)", f"{baseline['gmacs']:.2f}",
                     f"{baseline['energy_fp32_mj']:.2f}", "not run"))
    return rows


def _per_inference(measured: EnergyMeasurement, runs: int) -> str:
    runs = max(runs, 1)
    return f"{measured.seconds / runs * 1000:.0f} ms, {measured.joules / runs:.2f} J"


def energy_html(card: ModelCard, measured: EnergyMeasurement, runs: int, fp32: EnergyMeasurement | None = None,
                graph: str = "") -> str:
    """The energy table with how each number was obtained (and which graph ran)."""
    header = ("<tr><th>Model</th><th>GMAC</th><th>Estimated mJ (45 nm arithmetic)</th>"
              "<th>This run, per inference (mean)</th></tr>")
    rows = energy_rows(card, measured, runs, fp32, fused=graph.startswith("SaDNN operators"))
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return (
        f"<p><b>{runs}</b> inference(s) in {measured.seconds:.2f} s (CPU {measured.cpu_seconds:.2f} s)"
        + (f"<br>Ran on: {escape(graph)}" if graph else "") + "</p>"
        f"<table border='1' cellspacing='0' cellpadding='3'>{header}{body}</table>"
        f"<p><small>Estimated energy: multiply-accumulates x 45 nm arithmetic costs (int8 MUL 0.2 pJ, ADD 0.03 pJ; "
        f"fp32 MUL 3.7 pJ, ADD 0.9 pJ), arithmetic only. Measured energy: {escape(measured.source)}.</small></p>"
    )


def spread(run_seconds: tuple[float, ...]) -> tuple[float, float, float] | None:
    """(median, first quartile, third quartile) of the timed forward passes, in ms; None when none were timed."""
    if not run_seconds:
        return None
    quartiles = np.percentile(np.asarray(run_seconds) * 1000, [50, 25, 75])
    return float(quartiles[0]), float(quartiles[1]), float(quartiles[2])


def costs_html(costs: list[InferenceCost]) -> str:
    """Every job a result cost, with repeated timings and their spread, and the total; estimates named as such."""
    if not costs:
        return ""
    rows = []
    for cost in costs:
        timed = spread(cost.energy.run_seconds)
        per = ("not timed pass by pass" if timed is None else
               f"{timed[0]:.1f} ms (IQR {timed[1]:.1f}-{timed[2]:.1f}, n={len(cost.energy.run_seconds)})")
        kind = "measured" if cost.energy.measured else "estimate"
        rows.append(f"<tr><td>{escape(cost.what)}</td><td>{cost.inferences}</td><td>{cost.energy.seconds:.2f} s</td>"
                    f"<td>{escape(per)}</td><td>{cost.energy.joules:.2f} J ({kind})</td></tr>")
    inferences = sum(c.inferences for c in costs)
    seconds, joules = sum(c.energy.seconds for c in costs), sum(c.energy.joules for c in costs)
    estimated = any(not c.energy.measured for c in costs)
    rows.append(f"<tr><td><b>Total</b></td><td><b>{inferences}</b></td><td><b>{seconds:.2f} s</b></td><td></td>"
                f"<td><b>{joules:.2f} J</b>{' (estimate)' if estimated else ''}</td></tr>")
    header = ("<tr><th>Job</th><th>Forward passes</th><th>Wall time</th><th>Per pass: median (IQR, n timed)</th>"
              "<th>Energy</th></tr>")
    sources = sorted({c.energy.source for c in costs})
    return (f"<p><b>What these results cost: {inferences} forward passes</b></p>"
            f"<table border='1' cellspacing='0' cellpadding='3'>{header}{''.join(rows)}</table>{_compare_precisions(costs)}"
            f"<p><small>Energy: {escape('; '.join(sources))}. Timings are of each forward pass on this computer; the "
            "spread shows how much they vary from pass to pass.</small></p>")


def _compare_precisions(costs: list[InferenceCost]) -> str:
    """int8 against fp32 per pass, said to be a difference only where the middle halves do not overlap."""
    timed = {c.what: spread(c.energy.run_seconds) for c in costs}
    int8, fp32 = timed.get("Liver segmentation (int8)"), timed.get("Check against fp32")
    if int8 is None or fp32 is None:
        return ""
    if int8[2] < fp32[1] or fp32[2] < int8[1]:
        faster = "int8" if int8[0] < fp32[0] else "fp32"
        ratio = max(int8[0], fp32[0]) / max(min(int8[0], fp32[0]), 1e-9)
        verdict = f"{faster} is {ratio:.1f}x faster per pass here (the interquartile ranges do not overlap)"
    else:
        verdict = "no difference beyond the pass-to-pass spread on this computer"
    return f"<p>int8 {int8[0]:.1f} ms vs fp32 {fp32[0]:.1f} ms per pass (medians): {verdict}.</p>"


def card_html(card: ModelCard, identity: dict[str, str]) -> str:
    """The model card as a radiologist reads it: use, training data, held-out metrics, identity."""
    warning = "not for clinical use" in card.intended_use.lower()
    use = f"<p style='color:#c00'><b>{escape(card.intended_use)}</b></p>" if warning else f"<p>{escape(card.intended_use)}</p>"
    first, digests = ("source", "data", "held_out"), ("studies", "held_out_studies")
    ordered = [k for k in first if k in card.training] + sorted(k for k in card.training if k not in first + digests)
    training = "".join(f"<li>{escape(k.replace('_', ' '))}: {escape(str(card.training[k]))}</li>" for k in ordered) or "<li>not stated</li>"
    if card.training.get("studies"):
        training += (f"<li>{len(card.training['studies'])} training studies listed by fingerprint: the viewer says when "
                     "you open one of them</li>")
    headline = {k: v for k, v in card.metrics.items() if k not in ("full", "leave_one_patient_out")}
    metrics = "".join(f"<li>{escape(k.replace('_', ' '))}: {escape(_number(v))}</li>" for k, v in headline.items()) or "<li>none recorded</li>"
    metrics += _postprocessing_items(card)
    return (
        f"<h3>{escape(card.name)} {escape(card.version)}</h3>{use}"
        f"<p>{escape(card.architecture)}, {escape(card.task)}, input {card.input.size[1]}x{card.input.size[0]} "
        f"{escape(card.input.modality)}</p><p><b>Trained on</b></p><ul>{training}</ul>"
        f"<p><b>Held-out metrics</b></p><ul>{metrics}</ul>{_per_class_table(card)}{_lopo_table(card)}"
        f"<p><small>Signed by {escape(identity.get('signed_by', 'nobody (unsigned)'))}<br>"
        f"SHA-256 {escape(identity.get('sha256', '')[:16])}...</small></p>"
    )


POSTPROCESSING_WORDS = {"largest_component_3d": "largest 3D connected component kept",
                        "fill_holes_2d": "holes filled slice by slice"}


def _postprocessing_items(card: ModelCard) -> str:
    """The input geometry, the post-processing the engine applies, and the held-out Dice before it."""
    items = ""
    if card.input.pixel_spacing_mm:
        field = card.input.pixel_spacing_mm * card.input.size[1]
        items += f"<li>input: slices resampled to {card.input.pixel_spacing_mm:g} mm pixels ({field:g} mm field)</li>"
    if card.postprocessing:
        steps = ", then ".join(POSTPROCESSING_WORDS.get(step, step) for step in card.postprocessing)
        items += f"<li>post-processing: {escape(steps)}</li>"
        before = {p: card.metrics.get("full", {}).get(p, {}).get("before_postprocessing", {}) for p in ("fp32", "int8")}
        if all("mean_dice_per_volume" in b for b in before.values()):
            items += (f"<li>held-out Dice before post-processing: {before['fp32']['mean_dice_per_volume']:.3f} fp32, "
                      f"{before['int8']['mean_dice_per_volume']:.3f} int8</li>")
    return items


def training_study_warning(card: ModelCard, volume) -> str:
    """A plain warning when ``volume`` is one of the studies the model was trained on ('' otherwise)."""
    case = card.training_study(volume.fingerprint)
    if case is None:
        return ""
    return (f"This study was in the training set of {card.name} {card.version} (as {case}): its result is not a "
            "held-out result and says nothing about how the model does on a new patient.")


def _lopo_table(card: ModelCard) -> str:
    """Leave-one-patient-out Dice: one row per held-out patient, then mean ± SD (what to expect on a new patient)."""
    summary = card.metrics.get("leave_one_patient_out")
    if not summary:
        return ""
    columns = (("dice_fp32", "Dice fp32"), ("dice_int8", "Dice int8"),
               ("dice_int8_before_postprocessing", "int8 before clean-up"))
    header = "".join(f"<th>{label}</th>" for _, label in columns)
    rows = "".join(f"<tr><td>{escape(name)}</td>" + "".join(f"<td>{_number(row.get(key))}</td>" for key, _ in columns)
                   + "</tr>" for name, row in summary.get("folds", {}).items())
    over = summary.get("over_folds", {})
    mean = "".join(f"<td>{_number(over[key]['mean'])} ± {_number(over[key]['std'])}</td>" if key in over else "<td>n/a</td>"
                   for key, _ in columns)
    return (f"<p><b>Leave-one-patient-out</b> ({escape(str(summary.get('protocol', '')))})</p>"
            f"<table border='1' cellspacing='0' cellpadding='2'><tr><th>held-out patient</th>{header}</tr>{rows}"
            f"<tr><td><b>mean ± SD</b></td>{mean}</tr></table>")


def _per_class_table(card: ModelCard) -> str:
    """Held-out AUROC per finding with its 95% CI and verdict, as the findings table shows them."""
    per_class = card.metrics.get("full", {}).get("int8", {}).get("per_class")
    if not per_class:
        return ""
    evidence = dict(zip(card.labels, finding_evidence(card.metrics, card.labels)))
    rows = []
    for name, m in per_class.items():
        found = evidence.get(name)
        verdict = "validated" if found is not None and found.validated else (
            f"<font color='#888'>not validated{': ' + escape(found.reason) if found else ''}</font>")
        rows.append(f"<tr><td>{escape(name)}</td><td>{escape(found.describe() if found else _number(m['auroc']))}</td>"
                    f"<td>{m['positives']}</td><td>{verdict}</td></tr>")
    evaluation = card.metrics["full"]["int8"]
    low, high = evaluation.get("mean_auroc_ci", (float("nan"), float("nan")))
    mean = _number(evaluation.get("mean_auroc", float("nan"))) + ("" if low != low else f" (95% CI {low:.3f}-{high:.3f})")
    return (f"<p><b>Held-out AUROC per finding (int8, 95% CI by patient bootstrap)</b>; mean {escape(mean)}</p>"
            "<table border='1' cellspacing='0' cellpadding='2'>"
            f"<tr><th>Finding</th><th>AUROC (95% CI)</th><th>positives</th><th>verdict</th></tr>{''.join(rows)}</table>")


def _number(value) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_number(v)}" for k, v in value.items())
    return str(value)
