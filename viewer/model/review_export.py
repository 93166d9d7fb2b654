"""Exporting a review into a folder the user chose: mask (NIfTI, DICOM SEG), report, review data.

The export appears whole or not at all (``export_folder``): it is written into a hidden staging
folder, its manifest last, and swapped in; it replaces a previous export only when the user
agreed, never a folder holding anything else. It works on a snapshot of the study
(``Study.snapshot``), so the user may keep editing while it runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.runtime.card import ModelCard
from engine.runtime.errors import EngineError
from engine.runtime.io.deidentify import Deidentifier, declares_burned_in_text
from engine.runtime.io.encapsulated_pdf import write_encapsulated_pdf
from engine.runtime.io.sr import LiverMeasurements, write_measurement_report
from engine.runtime.io.writers import referenced_headers, write_deidentified_series, write_dicom_seg, write_nifti_mask
from viewer.model.export_folder import MANIFEST, ExportError, ExportExists, ExportFolder, explain  # noqa: F401 (re-exported)
from viewer.model.review_report import Report, build_report
from viewer.model.study import Study

NIFTI, SEG, HTML, PDF, DATA, IMAGES = "liver_mask.nii.gz", "liver_seg.dcm", "report.html", "report.pdf", "review.json", "images"
EXPORT_NAMES = frozenset({NIFTI, SEG, HTML, PDF, DATA, IMAGES})  # what exports wrote before they had a manifest
SR, PDF_DICOM = "liver_sr.dcm", "report_pdf.dcm"  # the measurements as DICOM SR, the PDF report as a DICOM instance
DICOM_RESULTS = (SEG, SR, PDF_DICOM)  # what "Send to PACS" sends (with the de-identified images of an anonymised export)


@dataclass(frozen=True)
class ExportResult:
    files: list[Path]
    report: Report  # the report as written (the PDF is laid out from it by the Qt side)
    problems: list[str] = field(default_factory=list)  # parts not written (the export is complete without them)


@dataclass(frozen=True)
class ExportRequest:
    folder: Path
    nifti: bool = True
    dicom_seg: bool = True
    report_html: bool = True
    report_pdf: bool = True
    report_dicom: bool = True  # the PDF also as a DICOM instance filed in the source study (what a PACS stores)
    anonymise: bool = False
    overwrite: bool = False


@dataclass
class StagedExport:
    """Every file but the PDF, written into the staging folder; ``finish_export`` completes it."""

    folder: ExportFolder
    request: ExportRequest
    report: Report
    dicom_headers: list | None = None  # the source instances the PDF's DICOM copy belongs to (de-identified if asked)


EXPORTS_ENV = "SADNN_EXPORTS"


def exports_folder() -> Path:
    """Where exports go unless the reader picks another place: $SADNN_EXPORTS, else "SaDNN exports" in the user's
    documents folder (platformdirs: Documents on Windows and macOS, XDG_DOCUMENTS_DIR on Linux)."""
    import os

    if os.environ.get(EXPORTS_ENV):
        return Path(os.environ[EXPORTS_ENV])
    from platformdirs import user_documents_dir

    return Path(user_documents_dir()) / "SaDNN exports"


def unreviewed_summary(study: Study) -> str | None:
    """'12 of 20 slices under review are not marked' (or the findings without a decision); None when complete."""
    if study.review is not None:
        left = study.review.counts()["unreviewed"]
        total = len(study.review.slices)
        return None if left == 0 else f"{left} of {total} slices under review are not marked yet"
    if study.classification is not None:
        total = len(study.classification.labels)
        left = total - len(study.finding_review.decisions)
        return None if left == 0 else f"{left} of {total} findings have no decision yet"
    return None


def dicom_results(folder: Path) -> list[Path]:
    """The DICOM files of an export, in the order a PACS should receive them: the de-identified images of an
    anonymised export first (the SEG references them), then the SEG, the SR and the PDF report."""
    folder = Path(folder)
    return sorted((folder / IMAGES).glob("*.dcm")) + [folder / name for name in DICOM_RESULTS if (folder / name).is_file()]


def export_folder(request: ExportRequest) -> ExportFolder:
    """The target folder of ``request`` (checked, nothing written yet)."""
    return ExportFolder(request.folder, request.overwrite, EXPORT_NAMES)


def planned_names(study: Study, request: ExportRequest) -> list[str]:
    """The files (relative to the folder) this export will write."""
    names = []
    if study.segmentation is not None:
        names += [NIFTI] if request.nifti else []
        names += [SEG, SR] if request.dicom_seg and study.volume.files else []
    names += [HTML] if request.report_html else []
    names += [PDF] if request.report_pdf else []
    names += [PDF_DICOM] if request.report_pdf and request.report_dicom and study.volume.files else []
    if request.anonymise and (SEG in names or PDF_DICOM in names):  # what the DICOM results reference, de-identified
        names += [f"{IMAGES}/{n:04d}.dcm" for n in range(1, len(study.volume.files) + 1)]
    return names + [DATA]


def export_study(study: Study, request: ExportRequest, card: ModelCard | None,
                 write_pdf: Callable[[Report, Path], None] | None = None) -> ExportResult:
    """Write what ``request`` asks for as one whole (the PDF only when a ``write_pdf`` is given)."""
    return finish_export(stage_export(study, request, card), write_pdf)


def stage_export(study: Study, request: ExportRequest, card: ModelCard | None) -> StagedExport:
    """Check the folder and write every file but the PDF into the staging folder (the worker's part)."""
    folder = export_folder(request)
    names = planned_names(study, request)
    folder.check_free(names)
    if request.anonymise and declares_burned_in_text(study.volume.metadata):
        raise ExportError("cannot anonymise: the images declare text burned into their pixels (BurnedInAnnotation YES), "
                          "which may identify the patient and would appear in the report and the copied images")
    deidentifier = Deidentifier() if request.anonymise else None
    pseudonym = None if deidentifier is None else deidentifier.pseudonym
    folder.begin()
    try:
        headers = _export_masks(study, request, folder, names, deidentifier) if study.segmentation is not None else None
        report = build_report(study, card, pseudonym)
        if request.report_html:
            folder.write_bytes(HTML, report.html(embed=True).encode("utf-8"))
        folder.write_bytes(DATA, json.dumps(review_data(study, pseudonym), indent=2).encode("utf-8"))
        if PDF_DICOM in names and headers is None:
            headers = _report_headers(study, folder, deidentifier)
    except BaseException:
        folder.abort()
        raise
    return StagedExport(folder, request, report, headers if PDF_DICOM in names else None)


def finish_export(staged: StagedExport, write_pdf: Callable[[Report, Path], None] | None = None) -> ExportResult:
    """Add the PDF (Qt lays it out on the UI thread), then the manifest, and swap the export into place."""
    problems = []
    try:
        if staged.request.report_pdf and write_pdf is not None:
            try:
                with staged.folder.writing(PDF) as path:
                    write_pdf(staged.report, path)
            except ExportError as err:
                staged.folder.path(PDF).unlink(missing_ok=True)
                problems.append(f"report PDF not written: {err}")
        if staged.dicom_headers and staged.folder.path(PDF).exists():
            with staged.folder.writing(PDF_DICOM) as path:
                write_encapsulated_pdf(staged.folder.path(PDF).read_bytes(), staged.dicom_headers, staged.report.title,
                                       path, identifies_patient=not staged.request.anonymise)
        files = staged.folder.commit()
    except BaseException:
        staged.folder.abort()
        raise
    return ExportResult(files, staged.report, problems)


def _export_masks(study: Study, request: ExportRequest, folder: ExportFolder, names: list[str],
                  deidentifier: Deidentifier | None) -> list | None:
    """The NIfTI, and the SEG and SR with the de-identified images they reference; the headers the SEG references
    (read and de-identified once, for the SEG, the SR and the PDF's DICOM copy), None without a SEG."""
    if request.nifti:
        with folder.writing(NIFTI) as path:
            write_nifti_mask(study.volume, study.mask, path)
    if SEG in names:
        edited = bool(study.editor.edited_slices(study.segmentation.mask))
        try:
            if deidentifier is not None:
                write_deidentified_series(study.volume, folder.mkdir(IMAGES), deidentifier)
            headers = referenced_headers(study.volume, deidentifier)
            with folder.writing(SEG) as path:
                write_dicom_seg(study.volume, study.mask, path, study.segmentation.model, edited, headers)
            with folder.writing(SR) as path:
                write_measurement_report(folder.path(SEG), headers, liver_measurements(study), study.segmentation.model, path)
        except EngineError as err:
            raise ExportError(f"DICOM SEG not written: {err}") from err
        return headers
    return None


def liver_measurements(study: Study) -> LiverMeasurements:
    """Volume, HU statistics and review status of the liver mask, as the SR states them."""
    stats, review = study.statistics(), study.review
    left, total = review.counts()["unreviewed"], len(review.slices)
    status = "complete" if total and left == 0 else "none" if left == total else "partial"
    words = {"complete": f"all {total} slices reviewed", "none": "not reviewed",
             "partial": f"{total - left} of {total} slices reviewed"}[status]
    return LiverMeasurements(stats.millilitres, stats.mean_hu, stats.sd_hu, status, words)


def _report_headers(study: Study, folder: ExportFolder, deidentifier: Deidentifier | None) -> list | None:
    """The headers of a study exported without a SEG (a radiograph, say), which the PDF's DICOM copy belongs to, with
    the de-identified images it references when anonymising; None when its files have no UIDs to file it under."""
    import pydicom

    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in study.volume.files]
    if not all(h.get("StudyInstanceUID") and h.get("SeriesInstanceUID") and h.get("SOPInstanceUID") for h in headers):
        return None
    if deidentifier is not None:
        write_deidentified_series(study.volume, folder.mkdir(IMAGES), deidentifier, headers)
        for header in headers:
            deidentifier.apply(header)
    return headers


def review_data(study: Study, pseudonym: str | None = None) -> dict:
    """The review as data (for audit trails and research): model, marks, notes, decisions, numbers."""
    data: dict = {"exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "image": study.volume.describe(),
                  "note": study.note, "contract_overrides": study.overrides}
    if pseudonym is None:
        data["source"] = study.volume.source
    else:
        data["patient"] = pseudonym
    if study.segmentation is not None:
        stats = study.statistics()
        review = study.review
        data["segmentation"] = {
            "model": study.segmentation.model, "liver_ml": stats.millilitres,
            "mean_hu": _finite(stats.mean_hu), "sd_hu": _finite(stats.sd_hu),
            "edited_slices": [z + 1 for z in study.editor.edited_slices(study.segmentation.mask)],
            "slices": [{"slice": z + 1, "mark": review.marks.get(z), "note": review.notes.get(z, "")} for z in review.slices],
            "dice_vs_reference": None if study.comparison is None else study.comparison.dice,
        }
    if study.classification is not None:
        result, decisions = study.classification, study.finding_review
        data["classification"] = {"model": study.classification_model, "findings": [
            {"finding": label, "probability": float(result.probabilities[i]), "threshold": result.thresholds[i],
             **_held_out(result.evidence_for(i)), "decision": decisions.decisions.get(i), "note": decisions.notes.get(i, "")}
            for i, label in enumerate(result.labels)]}
    return data


def _held_out(evidence) -> dict:
    """What held-out data says about a finding; a finding without evidence is not validated."""
    if evidence is None:
        return {"held_out_auroc": None, "held_out_auroc_ci": None, "validated": False}
    return {"held_out_auroc": _finite(evidence.auroc), "held_out_auroc_ci": [_finite(evidence.low), _finite(evidence.high)],
            "validated": evidence.validated}


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined number is written as null."""
    return None if value != value else value
