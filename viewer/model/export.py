"""Exporting a review into a folder the user chose: mask (NIfTI, DICOM SEG), report, review data.

Every file is written atomically, only inside the chosen folder, never over an existing file
unless the user agreed, and a full disk or a read-only folder gives one clear message.
"""

from __future__ import annotations

import errno
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from engine.atomic import atomic_path, write_atomic
from engine.card import ModelCard
from engine.errors import EngineError
from engine.io.deidentify import Deidentifier
from engine.io.writers import write_deidentified_series, write_dicom_seg, write_nifti_mask
from viewer.model.report import Report, build_report
from viewer.model.study import Study

NIFTI, SEG, HTML, PDF, DATA, IMAGES = "liver_mask.nii.gz", "liver_seg.dcm", "report.html", "report.pdf", "review.json", "images"


class ExportError(EngineError):
    """Something the user can act on: a full disk, a read-only folder, a source that cannot be referenced."""


class ExportExists(ExportError):
    """Files of that name are already in the folder; ``names`` lists them."""

    def __init__(self, names: list[str]):
        super().__init__(f"{len(names)} file(s) would be replaced: {', '.join(names)}")
        self.names = names


@dataclass(frozen=True)
class ExportResult:
    files: list[Path]
    report: Report  # the report as written (the PDF is laid out from it by the Qt side)


@dataclass(frozen=True)
class ExportRequest:
    folder: Path
    nifti: bool = True
    dicom_seg: bool = True
    report_html: bool = True
    report_pdf: bool = True
    anonymise: bool = False
    overwrite: bool = False


class ExportFolder:
    """A chosen folder: plain names inside it only, no silent overwrite, OSErrors turned into ExportErrors."""

    def __init__(self, folder: Path, overwrite: bool = False):
        """``folder`` is created when its parent exists (a new folder typed into the dialog)."""
        self.folder, self.overwrite = Path(folder), overwrite
        if not self.folder.exists() and self.folder.parent.is_dir():
            with self.guard(self.folder.name):
                self.folder.mkdir()
        if not self.folder.is_dir():
            raise ExportError(f"{self.folder} is not a folder")

    def path(self, name: str) -> Path:
        """``name`` inside the folder; refuses anything that would land elsewhere."""
        candidate = self.folder / name
        inside = candidate.resolve(strict=False).parent == (self.folder / Path(name).parent).resolve()
        if Path(name).is_absolute() or ".." in Path(name).parts or not inside or candidate.is_symlink():
            raise ExportError(f"refusing to write {name!r}: it is not a plain file inside {self.folder}")
        return candidate

    def check_free(self, names: list[str]) -> None:
        """Raise ExportExists unless overwriting was agreed or none of ``names`` exists."""
        taken = [name for name in names if self.path(name).exists()]
        if taken and not self.overwrite:
            raise ExportExists(taken)

    def write_bytes(self, name: str, payload: bytes) -> Path:
        with self.guard(name):
            write_atomic(self.path(name), payload)
        return self.path(name)

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """A temporary path that becomes ``name`` when the block succeeds."""
        with self.guard(name), atomic_path(self.path(name)) as temporary:
            yield temporary

    @contextmanager
    def guard(self, name: str) -> Iterator[None]:
        try:
            yield
        except OSError as err:
            raise ExportError(explain(err, self.folder, name)) from err


def explain(err: OSError, folder: Path, name: str) -> str:
    """A full disk, a read-only folder or a missing permission, said plainly."""
    if err.errno == errno.ENOSPC:
        return f"the disk holding {folder} is full: {name} was not written (nothing was overwritten)"
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write into {folder}: the folder is read-only or you lack permission ({name} not written)"
    return f"cannot write {name} into {folder}: {err.strerror or err}"


def planned_names(study: Study, request: ExportRequest) -> list[str]:
    """The files (relative to the folder) this export will write."""
    names = []
    if study.segmentation is not None:
        names += [NIFTI] if request.nifti else []
        if request.dicom_seg and study.volume.files:
            names.append(SEG)
            if request.anonymise:
                names += [f"{IMAGES}/{n:04d}.dcm" for n in range(1, len(study.volume.files) + 1)]
    names += [HTML] if request.report_html else []
    names += [PDF] if request.report_pdf else []
    return names + [DATA]


def export_study(study: Study, request: ExportRequest, card: ModelCard | None,
                 write_pdf: Callable[[Report, Path], None] | None = None) -> ExportResult:
    """Write what ``request`` asks for (the PDF only when a ``write_pdf`` is given)."""
    folder = ExportFolder(request.folder, request.overwrite)
    names = planned_names(study, request)
    folder.check_free(names)
    deidentifier = Deidentifier() if request.anonymise else None
    pseudonym = None if deidentifier is None else deidentifier.pseudonym
    written: list[Path] = []
    if study.segmentation is not None:
        written += _export_masks(study, request, folder, names, deidentifier)
    report = build_report(study, card, pseudonym)
    if request.report_html:
        written.append(folder.write_bytes(HTML, report.html(embed=True).encode("utf-8")))
    if request.report_pdf and write_pdf is not None:
        with folder.writing(PDF) as temporary:
            write_pdf(report, temporary)
        written.append(folder.path(PDF))
    written.append(folder.write_bytes(DATA, json.dumps(review_data(study, pseudonym), indent=2).encode("utf-8")))
    return ExportResult(written, report)


def write_report_pdf(result: ExportResult, request: ExportRequest, write_pdf: Callable[[Report, Path], None]) -> Path:
    """The PDF of an export's report, written after the rest (Qt lays it out on the UI thread)."""
    folder = ExportFolder(request.folder, overwrite=True)  # the export already checked the names
    with folder.writing(PDF) as temporary:
        write_pdf(result.report, temporary)
    return folder.path(PDF)


def _export_masks(study: Study, request: ExportRequest, folder: ExportFolder, names: list[str],
                  deidentifier: Deidentifier | None) -> list[Path]:
    written = []
    if request.nifti:
        with folder.writing(NIFTI) as temporary:
            write_nifti_mask(study.volume, study.mask, temporary)
        written.append(folder.path(NIFTI))
    if SEG in names:
        edited = bool(study.editor.edited_slices(study.segmentation.mask))
        try:
            if deidentifier is not None:
                images = folder.path(IMAGES)
                with folder.guard(IMAGES):
                    images.mkdir(exist_ok=True)
                    written += write_deidentified_series(study.volume, images, deidentifier)
            with folder.guard(SEG):
                write_dicom_seg(study.volume, study.mask, folder.path(SEG), study.segmentation.model, edited, deidentifier)
        except EngineError as err:
            raise ExportError(f"DICOM SEG not written: {err}") from err
        written.append(folder.path(SEG))
    return written


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
             "decision": decisions.decisions.get(i), "note": decisions.notes.get(i, "")}
            for i, label in enumerate(result.labels)]}
    return data


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined number is written as null."""
    return None if value != value else value
