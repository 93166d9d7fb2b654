"""The review report (Qt-free): who and what was read, by which model at what cost, and the verdicts.

``build_report`` returns HTML that names its images; ``Report.html(embed=True)`` inlines them as
data URIs for a single-file HTML, and the PDF writer registers them as document resources.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field
from html import escape

import numpy as np

from engine.runtime.card import ModelCard
from engine.runtime.evidence import MIN_POSITIVES
from viewer.model.energy_report import card_html, costs_html, energy_html, training_study_warning
from viewer.model.overlay import heatmap_rgba, mask_rgba
from viewer.model.review import STRIP_COLOURS
from viewer.model.study import Study
from viewer.model.viewport import dicom_date

THUMBNAIL = 256  # pixels, the longer side
PATIENT_FIELDS = (("PatientName", "Patient"), ("PatientID", "Patient ID"), ("PatientBirthDate", "Born"),
                  ("PatientSex", "Sex"), ("StudyDate", "Study date"), ("StudyDescription", "Study"),
                  ("AccessionNumber", "Accession"), ("SeriesDescription", "Series"), ("InstitutionName", "Institution"))
STYLE = ("body{font-family:sans-serif;font-size:10pt} h1{font-size:16pt} h2{font-size:12pt;margin-top:14pt}"
         " table{border-collapse:collapse} td,th{border:1px solid #999;padding:2px 5px} .warn{color:#c00}")


@dataclass
class Report:
    title: str
    body: str
    images: dict[str, bytes] = field(default_factory=dict)

    def html(self, embed: bool = True) -> str:
        """A complete HTML document; with ``embed`` the images are inlined (one self-contained file)."""
        body = self.body
        if embed:
            for name, png in self.images.items():
                body = body.replace(f'src="{name}"', f'src="data:image/png;base64,{base64.b64encode(png).decode()}"')
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(self.title)}</title>"
                f"<style>{STYLE}</style></head><body>{body}</body></html>")


def build_report(study: Study, card: ModelCard | None, pseudonym: str | None = None) -> Report:
    """The report of ``study``; ``card`` is the installed card of the model that made the prediction
    (None if that model is no longer installed); with ``pseudonym`` no patient identifier is written."""
    kind = "Chest X-ray findings" if study.volume.is_radiograph else "Liver segmentation"
    title = f"{kind}: review report"
    images: dict[str, bytes] = {}
    parts = [f"<h1>{escape(title)}</h1>", _identity(study, pseudonym, card)]
    if study.segmentation is not None:
        parts += [_segmentation_summary(study), _slice_table(study), _flagged(study, images)]
        model, energy, runs = study.segmentation.model, study.segmentation.int8.energy, study.volume.shape[0]
        fp32 = None if study.segmentation.fp32 is None else study.segmentation.fp32.energy
    elif study.classification is not None:
        parts += [_findings_table(study), _radiograph(study, images)]
        model, energy, runs, fp32 = study.classification_model, study.classification.energy, 1, None
    else:
        parts.append("<p>No model has been run on this image.</p>")
        model = None
    if study.note:
        parts.append(f"<h2>Reviewer's note</h2><p>{escape(study.note)}</p>")
    if model is not None:
        parts.append(_model_section(model, card, energy, runs, fp32) + costs_html(study.costs()))
    parts.append(f"<p><small>Written {time.strftime('%Y-%m-%d %H:%M')} by SaDNN Viewer. Model outputs must be verified "
                 "by a qualified reader. Reviewer: ______________________</small></p>")
    return Report(title, "".join(parts), images)


def _identity(study: Study, pseudonym: str | None, card: ModelCard | None) -> str:
    volume = study.volume
    if pseudonym is not None:
        rows = [("Patient", f"{pseudonym} (anonymised export)")]
    else:
        rows = [(label, _dicom_text(volume.metadata[key])) for key, label in PATIENT_FIELDS if volume.metadata.get(key)]
    rows.append(("Image", volume.describe()))
    for model in study.model_identities().values():
        rows.append(("Model", f"{model.get('name', '?')} {model.get('version', '?')}"))
    warning = ""
    if card is not None and "not for clinical use" in card.intended_use.lower():
        warning = f"<p class='warn'><b>{escape(card.intended_use)}</b></p>"
    trained_on = "" if card is None else training_study_warning(card, volume)
    if trained_on:
        warning += f"<p class='warn'><b>{escape(trained_on)}</b></p>"
    for task, problems in study.overrides.items():
        warning += (f"<p class='warn'><b>Run outside the model's input contract ({escape(task)}), at the reader's explicit "
                    f"request:</b> {escape('; '.join(problems))}</p>")
    return _table(rows) + warning


def _dicom_text(value: str) -> str:
    """DICOM dates as YYYY-MM-DD and person names as 'Given Family'; other values unchanged."""
    if len(value) == 8 and value.isdigit():
        return dicom_date(value)
    if "^" in value:
        family, _, rest = value.partition("^")
        return " ".join(part for part in (*rest.split("^")[:1], family) if part)
    return value


def _segmentation_summary(study: Study) -> str:
    stats, review = study.statistics(), study.review
    counts = review.counts()
    rows = [("Liver volume", f"{stats.millilitres:.1f} mL ({stats.voxels} voxels)"),
            ("Inside the liver", "no voxels" if stats.voxels == 0 else f"{stats.mean_hu:.1f} ± {stats.sd_hu:.1f} HU (mean ± SD)"),
            ("Slices reviewed", f"{len(review.slices) - counts['unreviewed']} of {len(review.slices)}: {counts['accepted']} accepted, "
                                f"{counts['flagged']} flagged, {counts['edited']} edited")]
    edited = study.editor.edited_slices(study.segmentation.mask)
    rows.append(("Corrections", f"{len(edited)} slice(s) edited by the reviewer" if edited else "none (the model's mask as predicted)"))
    if study.comparison is not None:
        rows.append(("Dice vs reference mask", f"{study.comparison.dice:.3f} ({study.segmentation.dice_caption})"))
    if study.disagreement is not None:
        rows.append(("Dice int8 vs fp32 model", f"{study.disagreement.dice:.3f}"))
    warning = "" if review.complete else "<p class='warn'><b>The review is incomplete.</b></p>"
    return f"<h2>Result</h2>{_table(rows)}{warning}"


def _slice_table(study: Study) -> str:
    review, mask = study.review, study.mask
    area_ml = study.volume.voxel_volume_ml
    header = "<tr><th>Slice</th><th>Liver (mL)</th>" + ("<th>Dice vs ref.</th>" if study.comparison is not None else "") + "<th>Mark</th><th>Note</th></tr>"
    rows = []
    for z in review.slices:
        mark = review.marks.get(z, "not reviewed")
        colour = "#{:02x}{:02x}{:02x}".format(*STRIP_COLOURS.get(mark, STRIP_COLOURS["unreviewed"]))
        dice = ""
        if study.comparison is not None:
            value = study.comparison.dice_per_slice[z]
            dice = f"<td>{'-' if np.isnan(value) else f'{value:.3f}'}</td>"
        rows.append(f"<tr><td>{z + 1}</td><td>{mask[z].sum() * area_ml:.1f}</td>{dice}"
                    f"<td><font color='{colour}'><b>{escape(mark)}</b></font></td><td>{escape(review.notes.get(z, ''))}</td></tr>")
    return f"<h2>Slice by slice</h2><table>{header}{''.join(rows)}</table>"


def _flagged(study: Study, images: dict[str, bytes]) -> str:
    flagged = [z for z in study.review.slices if study.review.marks.get(z) == "flagged"]
    if not flagged:
        return "<h2>Flagged slices</h2><p>None.</p>"
    cells = []
    for z in flagged:
        name = f"slice-{z + 1:03d}.png"
        images[name] = thumbnail(study, z)
        note = escape(study.review.notes.get(z, ""))
        cells.append(f"<td><img src=\"{name}\" width=\"{THUMBNAIL}\"><br>Slice {z + 1}<br>{note}</td>")
    rows = ["<tr>" + "".join(cells[i:i + 2]) + "</tr>" for i in range(0, len(cells), 2)]
    return f"<h2>Flagged slices</h2><table>{''.join(rows)}</table>"


def _findings_table(study: Study) -> str:
    result, review = study.classification, study.finding_review
    rows = []
    for label, probability in result.ranked():
        index = result.labels.index(label)
        evidence, model = result.evidence_for(index), result.call(index)
        held_out = "not recorded" if evidence is None else evidence.describe()
        rows.append(f"<tr><td>{escape(label)}</td><td>{probability:.3f}</td><td>{result.thresholds[index]:.3f}</td><td>{model}</td>"
                    f"<td>{escape(held_out)}</td><td><b>{escape(review.decisions.get(index, 'not reviewed'))}</b></td>"
                    f"<td>{escape(review.notes.get(index, ''))}</td></tr>")
    header = ("<tr><th>Finding</th><th>Probability</th><th>Threshold</th><th>Model</th><th>Held-out AUROC (95% CI)</th>"
              "<th>Reviewer</th><th>Note</th></tr>")
    validated = result.validated_count
    summary = (f"<p>{validated} of {len(result.labels)} findings are better than chance on held-out patients (95% CI "
               f"of the AUROC above 0.5, at least {MIN_POSITIVES} positives); the model makes no call on the others (not validated).</p>")
    undecided = len(result.labels) - len(review.decisions)
    warning = ("" if undecided == 0 else
               f"<p class='warn'><b>The review is incomplete: {undecided} of {len(result.labels)} findings have no "
               "decision by the reader.</b></p>")
    return f"<h2>Findings</h2>{warning}{summary}<table>{header}{''.join(rows)}</table>"


def _radiograph(study: Study, images: dict[str, bytes]) -> str:
    """The film, and beside it the RISE map of the finding the reader had selected (or of the most probable one)."""
    images["radiograph.png"] = thumbnail(study, 0)
    cells = [f"<td><img src=\"radiograph.png\" width=\"{THUMBNAIL}\"><br>The radiograph</td>"]
    result = study.classification
    index = study.finding if study.finding is not None else int(np.argmax(result.probabilities))
    done, total = study.saliency_progress
    if study.saliency is not None:
        images["saliency.png"] = thumbnail(study, 0, heat=study.saliency_image(index))
        partial = "" if done >= total else f", partial: {done} of {total} masks"
        cells.append(f"<td><img src=\"saliency.png\" width=\"{THUMBNAIL}\"><br>RISE saliency for "
                     f"<b>{escape(result.labels[index])}</b> ({done} random masks{partial}): the brighter, the more these "
                     "pixels raised the model's probability. It shows what the model used, not where a lesion is.</td>")
    else:
        cells.append("<td>No saliency map was computed for this image.</td>")
    return f"<h2>Image and saliency</h2><table><tr>{''.join(cells)}</tr></table>"


def _model_section(model: dict, card: ModelCard | None, energy, runs: int, fp32) -> str:
    identity = f"<p>Model {escape(model.get('name', '?'))} {escape(model.get('version', '?'))}, SHA-256 {escape(model.get('sha256', '?'))}</p>"
    if card is None:
        return (f"<h2>Model</h2>{identity}<p class='warn'>This model is not installed now; its card is not available. "
                f"Inference: {runs} run(s) in {energy.seconds:.1f} s, {energy.joules:.1f} J ({escape(energy.source)}).</p>")
    return f"<h2>Model</h2>{identity}{card_html(card, model)}<h2>Inference cost</h2>{energy_html(card, energy, runs, fp32)}"


def thumbnail(study: Study, z: int, heat: np.ndarray | None = None) -> bytes:
    """A PNG of axial slice ``z`` in the current window, with the (edited) mask outlined, or with ``heat`` (a
    saliency map on the slice's grid) coloured as the viewer shows it."""
    from PIL import Image

    volume = study.volume
    low, high = study.window.bounds
    grey = np.clip((volume.array[z] - low) / max(high - low, 1e-6) * 255, 0, 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    overlay = None
    if heat is not None:
        overlay = heatmap_rgba(heat, 0.8).astype(np.float32)
    elif study.mask is not None:
        overlay = mask_rgba(study.mask[z], study.style.colour, study.style.opacity).astype(np.float32)
    if overlay is not None:
        alpha = overlay[..., 3:] / 255
        rgb = rgb * (1 - alpha) + overlay[..., :3] * alpha
    rows, columns = grey.shape
    dy, dx = volume.spacing[1:]
    height, width = rows * dy, columns * dx  # physical aspect
    scale = THUMBNAIL / max(height, width)
    size = (max(int(round(width * scale)), 1), max(int(round(height * scale)), 1))
    image = Image.fromarray(rgb.astype(np.uint8)).resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th align='left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows) + "</table>"
