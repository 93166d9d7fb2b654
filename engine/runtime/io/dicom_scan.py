"""Finding the DICOM series in a folder: one entry per stack of images that belong together.

A SeriesInstanceUID is not trusted to hold one stack: images of another patient, study or frame of
reference, of another size or orientation, and repeated positions (a second acquisition, echo or
time point) are split into separate entries, never merged. Files that cannot be read, and DICOM
objects that are not images (SEG, RTSTRUCT, SR...), are named in a note rather than skipped silently.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

NOT_IMAGES = {"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "PR", "KO", "REG", "DOC", "ECG", "RWV"}
SPLIT_BY = (("PatientID", "patient"), ("StudyInstanceUID", "study"), ("FrameOfReferenceUID", "frame of reference"))
REPEAT_KEYS = ("AcquisitionNumber", "EchoNumbers", "TemporalPositionIdentifier")
NAMED_AT_MOST = 5
# Files that are plainly not images (licences, notes, reports, OS clutter): not worth a warning.
DOCUMENTS = (".txt", ".md", ".pdf", ".htm", ".html", ".json", ".xml", ".csv", ".ini", ".log", ".rtf", ".doc", ".docx")
CLUTTER = {"thumbs.db", ".ds_store", "desktop.ini"}


@dataclass(frozen=True)
class DicomSeries:
    """One displayable stack found in a folder: what a series picker lists.

    ``part`` says how it was told apart from other stacks of the same SeriesInstanceUID;
    ``notes`` are what the scan found that the user should know (files it could not use).
    """

    uid: str
    files: tuple[Path, ...]
    modality: str
    description: str
    rows: int
    columns: int
    frames: int
    part: str = ""
    notes: tuple[str, ...] = ()

    def label(self) -> str:
        """A line for the series picker."""
        count = f"{len(self.files)} images" if self.frames <= 1 else f"{self.frames} frames"
        part = f"  [{self.part}]" if self.part else ""
        return f"{self.modality}  {self.description or '(no description)'}  {self.columns}x{self.rows}, {count}{part}"


def is_dicom_file(path: Path) -> bool:
    """True if the file carries the DICOM Part 10 preamble ('DICM' at byte 128)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def scan_dicom(folder: Path, cancel: Callable[[], bool] | None = None) -> list[DicomSeries]:
    """Every image stack under ``folder`` (recursively), largest first, each carrying the folder's notes."""
    groups: dict[tuple, list[tuple[Path, object]]] = defaultdict(list)
    unusable: list[tuple[str, str]] = []
    for path in _files_under(folder):
        if cancel is not None and cancel():
            break
        header, problem = _header(path)
        if header is not None:
            groups[_stack_key(header)].append((path, header))
        elif problem:
            unusable.append((path.relative_to(folder).as_posix(), problem))
    stacks = [part for members in groups.values() for part in _split_repeats(members)]
    notes = _notes(unusable, stacks)
    series = [_describe(members, part, notes) for members, part in _name_parts(stacks)]
    return sorted(series, key=lambda s: (-len(s.files) * max(s.frames, 1), s.description, s.part))


def _files_under(folder: Path):
    for root, _dirs, names in os.walk(folder):
        for name in sorted(names):
            lower = name.lower()
            if lower != "dicomdir" and lower not in CLUTTER and not lower.endswith(DOCUMENTS):
                yield Path(root) / name


def _header(path: Path) -> tuple[object | None, str]:
    """(header, "") for an image; (None, why) for a file the user should hear about."""
    import pydicom

    if not is_dicom_file(path):
        return None, "not a DICOM file"
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the folder
        return None, f"unreadable ({str(err).splitlines()[0][:80]})"
    modality = str(header.get("Modality", ""))
    if modality in NOT_IMAGES:
        return None, f"a DICOM {modality} object, not an image"
    if "Rows" not in header:
        return None, f"a DICOM {modality or 'object'} without pixels"
    return header, ""


def _stack_key(header) -> tuple:
    orientation = tuple(np.round(np.asarray(header.get("ImageOrientationPatient", [0] * 6), float), 3))
    identity = tuple(str(header.get(keyword, "")) for keyword, _ in SPLIT_BY)
    return (str(header.get("SeriesInstanceUID", "")), *identity, int(header.Rows), int(header.Columns), orientation)


def _position(header) -> tuple | None:
    position = header.get("ImagePositionPatient")
    return None if position is None else tuple(np.round(np.asarray(position, float), 2))


def _split_repeats(members: list) -> list[tuple[list, str]]:
    """Split a stack whose images repeat positions: by acquisition/echo/time point, else into runs."""
    positions = [_position(header) for _, header in members]
    if None in positions or len(set(positions)) == len(positions):
        return [(members, "")]
    by_repeat: dict[tuple, list] = defaultdict(list)
    for member in members:
        by_repeat[tuple(str(member[1].get(k, "")) for k in REPEAT_KEYS)].append(member)
    if len(by_repeat) > 1 and all(_unique_positions(group) for group in by_repeat.values()):
        return [(group, _repeat_name(key)) for key, group in sorted(by_repeat.items())]
    return _runs(members)


def _unique_positions(members: list) -> bool:
    positions = [_position(header) for _, header in members]
    return len(set(positions)) == len(positions)


def _repeat_name(key: tuple) -> str:
    names = ("acquisition", "echo", "time point")
    return ", ".join(f"{name} {value}" for name, value in zip(names, key) if value)


def _runs(members: list) -> list[tuple[list, str]]:
    """Images in instance-number order, each into the first run that lacks its position."""
    def number(member) -> int:
        try:
            return int(member[1].get("InstanceNumber", 0) or 0)
        except (TypeError, ValueError):
            return 0

    runs: list[tuple[list, set]] = []
    for member in sorted(members, key=number):
        position = _position(member[1])
        target = next((run for run in runs if position not in run[1]), None)
        if target is None:
            target = ([], set())
            runs.append(target)
        target[0].append(member)
        target[1].add(position)
    return [(run, f"repeated positions: stack {i} of {len(runs)}") for i, (run, _) in enumerate(runs, start=1)]


def _name_parts(stacks: list[tuple[list, str]]) -> list[tuple[list, str]]:
    """Where one SeriesInstanceUID became several stacks, say what tells them apart."""
    by_uid: dict[str, list[int]] = defaultdict(list)
    for index, (members, _) in enumerate(stacks):
        by_uid[str(members[0][1].get("SeriesInstanceUID", ""))].append(index)
    named = []
    for members, part in stacks:
        siblings = [stacks[i][0][0][1] for i in by_uid[str(members[0][1].get("SeriesInstanceUID", ""))]]
        header = members[0][1]
        differs = [f"{label} {header.get(keyword, '?')}" for keyword, label in SPLIT_BY
                   if len({str(s.get(keyword, "")) for s in siblings}) > 1]
        if len({(int(s.Rows), int(s.Columns)) for s in siblings}) > 1 or \
                len({tuple(s.get("ImageOrientationPatient", [])) for s in siblings}) > 1:
            differs.append("other size or orientation")
        named.append((members, "; ".join(filter(None, [*differs, part]))))
    return named


def _notes(unusable: list[tuple[str, str]], stacks: list[tuple[list, str]]) -> tuple[str, ...]:
    notes = []
    if unusable:
        shown = ", ".join(f"{name} ({why})" for name, why in unusable[:NAMED_AT_MOST])
        more = f" and {len(unusable) - NAMED_AT_MOST} more" if len(unusable) > NAMED_AT_MOST else ""
        notes.append(f"{len(unusable)} file(s) in the folder were not opened: {shown}{more}")
    uids = [str(members[0][1].get("SeriesInstanceUID", "")) for members, _ in stacks]
    split = sorted({uid for uid in uids if uids.count(uid) > 1})
    if split:
        notes.append(f"{len(split)} series held images that do not belong together (another patient, study, frame of "
                     "reference, acquisition or repeated positions): listed as separate series, never merged")
    return tuple(notes)


def _describe(members: list, part: str, notes: tuple[str, ...]) -> DicomSeries:
    header = members[0][1]
    return DicomSeries(
        uid=str(header.get("SeriesInstanceUID", "")),
        files=tuple(path for path, _ in members),
        modality=str(header.get("Modality", "OT")),
        description=str(header.get("SeriesDescription", "")),
        rows=int(header.Rows),
        columns=int(header.Columns),
        frames=int(header.get("NumberOfFrames", 1) or 1),
        part=part,
        notes=notes,
    )
