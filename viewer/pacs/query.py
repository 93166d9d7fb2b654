"""C-FIND: patients, studies, series and instances on a PACS node, as plain records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from engine.runtime.errors import Cancelled
from viewer.pacs.connection import application_entity, associated, lost
from viewer.pacs.nodes import PacsError, PacsNode, PacsSettings

MATCH_LIMIT = 500  # more matches than this ask for a narrower search
FAILURES = {0xA700: "it is out of resources", 0xA900: "the query does not match what it supports",
            0xFE00: "the query was cancelled"}


@dataclass(frozen=True)
class StudyQuery:
    """What the search form asks for; empty fields match everything. Names match from their start."""

    patient_name: str = ""
    patient_id: str = ""
    accession: str = ""
    modality: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def problems(self) -> list[str]:
        found = []
        if self.date_from and self.date_to and self.date_from > self.date_to:
            found.append("the first date is after the last date")
        if any("\\" in value for value in (self.patient_name, self.patient_id, self.accession, self.modality)):
            found.append("a search field may not contain a backslash")
        return found

    def date_range(self) -> str:
        """DICOM range matching: 'YYYYMMDD-YYYYMMDD', open at either end; '' for any date."""
        if not (self.date_from or self.date_to):
            return ""
        day = (lambda d: d.strftime("%Y%m%d") if d else "")
        return f"{day(self.date_from)}-{day(self.date_to)}"


@dataclass(frozen=True)
class PatientRecord:
    patient_id: str
    patient_name: str
    birth_date: str
    studies: int | None


@dataclass(frozen=True)
class StudyRecord:
    study_uid: str
    patient_name: str
    patient_id: str
    date: str
    description: str
    accession: str
    modalities: str
    series: int | None
    instances: int | None


@dataclass(frozen=True)
class SeriesRecord:
    study_uid: str
    series_uid: str
    modality: str
    number: str
    description: str
    instances: int | None


@dataclass(frozen=True)
class InstanceRecord:
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str


def find_patients(node: PacsNode, settings: PacsSettings, query: StudyQuery,
                  cancelled: Callable[[], bool] = lambda: False) -> list[PatientRecord]:
    """Patients matching name and ID (Patient Root, PATIENT level)."""
    keys = {"PatientName": _name(query.patient_name), "PatientID": _prefix(query.patient_id), "PatientBirthDate": "",
            "NumberOfPatientRelatedStudies": None}
    answers = _search(node, settings, "PATIENT", keys, cancelled)
    return [PatientRecord(_text(a, "PatientID"), _person(a), _text(a, "PatientBirthDate"),
                          _count(a, "NumberOfPatientRelatedStudies")) for a in answers]


def find_studies(node: PacsNode, settings: PacsSettings, query: StudyQuery,
                 cancelled: Callable[[], bool] = lambda: False) -> list[StudyRecord]:
    """Studies matching ``query`` (Study Root, STUDY level), newest first."""
    problems = query.problems()
    if problems:
        raise PacsError("; ".join(problems))
    answers = _search(node, settings, "STUDY", study_keys(query), cancelled)
    return sorted(map(study_record, answers), key=lambda r: r.date, reverse=True)


def find_series(node: PacsNode, settings: PacsSettings, study_uid: str, modality: str = "",
                cancelled: Callable[[], bool] = lambda: False) -> list[SeriesRecord]:
    """The series of one study (SERIES level), by series number."""
    answers = _search(node, settings, "SERIES", series_keys(study_uid, modality), cancelled)
    return sorted((series_record(study_uid, a) for a in answers), key=lambda r: (_number(r.number), r.series_uid))


def find_instances(node: PacsNode, settings: PacsSettings, study_uid: str, series_uid: str,
                   cancelled: Callable[[], bool] = lambda: False) -> list[InstanceRecord]:
    """The instances of one series (IMAGE level): what a retrieve must bring, and their SOP classes."""
    answers = _search(node, settings, "IMAGE", instance_keys(study_uid, series_uid), cancelled, limit=None)
    return [instance_record(study_uid, series_uid, a) for a in answers]


def _search(node: PacsNode, settings: PacsSettings, level: str, keys: dict, cancelled: Callable[[], bool],
            limit: int | None = MATCH_LIMIT) -> list:
    """C-FIND (Patient Root at PATIENT level, else Study Root), or QIDO-RS for a node reached over DICOMweb; each
    transport stops after ``limit`` + 1 answers, which are too many."""
    if node.dicomweb_url:
        from viewer.pacs.dicomweb import search

        if level == "PATIENT":
            raise PacsError(f"{node.name} is reached over DICOMweb, which has no patient-level search: search studies")
        answers = search(node, settings, level, keys, limit)
    else:
        answers = find(node, settings, level, keys, cancelled, limit)
    if limit is not None and len(answers) > limit:
        raise PacsError(f"more than {limit} matches on {node.name}: narrow the search (name, date, modality)")
    return answers


def study_keys(query: StudyQuery) -> dict:
    """Matching keys (a value) and return keys (empty) of a study search."""
    return {"StudyInstanceUID": "", "PatientName": _name(query.patient_name), "PatientID": _prefix(query.patient_id),
            "StudyDate": query.date_range(), "StudyTime": "", "StudyDescription": "", "AccessionNumber": _prefix(query.accession),
            "ModalitiesInStudy": query.modality.strip().upper(), "NumberOfStudyRelatedSeries": None,
            "NumberOfStudyRelatedInstances": None}


def series_keys(study_uid: str, modality: str = "") -> dict:
    return {"StudyInstanceUID": study_uid, "SeriesInstanceUID": "", "Modality": modality, "SeriesNumber": "",
            "SeriesDescription": "", "NumberOfSeriesRelatedInstances": None}


def instance_keys(study_uid: str, series_uid: str) -> dict:
    return {"StudyInstanceUID": study_uid, "SeriesInstanceUID": series_uid, "SOPInstanceUID": "", "SOPClassUID": ""}


def study_record(a) -> StudyRecord:
    return StudyRecord(_text(a, "StudyInstanceUID"), _person(a), _text(a, "PatientID"), _text(a, "StudyDate"),
                       _text(a, "StudyDescription"), _text(a, "AccessionNumber"), _multi(a, "ModalitiesInStudy"),
                       _count(a, "NumberOfStudyRelatedSeries"), _count(a, "NumberOfStudyRelatedInstances"))


def series_record(study_uid: str, a) -> SeriesRecord:
    return SeriesRecord(study_uid, _text(a, "SeriesInstanceUID"), _text(a, "Modality"), _text(a, "SeriesNumber"),
                        _text(a, "SeriesDescription"), _count(a, "NumberOfSeriesRelatedInstances"))


def instance_record(study_uid: str, series_uid: str, a) -> InstanceRecord:
    return InstanceRecord(study_uid, series_uid, _text(a, "SOPInstanceUID"), _text(a, "SOPClassUID"))


def find(node: PacsNode, settings: PacsSettings, level: str, keys: dict, cancelled: Callable[[], bool],
         limit: int | None = MATCH_LIMIT) -> list:
    """The identifiers a C-FIND at ``level`` answers with, at most ``limit`` + 1 (then it stops asking); PacsError
    for a failure or a lost connection."""
    from pydicom.dataset import Dataset
    from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelFind as PatientRoot
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as StudyRoot

    model = PatientRoot if level == "PATIENT" else StudyRoot
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    ae = application_entity(settings)
    ae.add_requested_context(model)
    answers = []
    with associated(ae, node, settings) as association:
        for status, answer in association.send_c_find(identifier, model):
            if cancelled():
                association.abort()
                raise Cancelled()
            if status is None or "Status" not in status:
                break
            if status.Status in (0xFF00, 0xFF01):
                answers.append(answer)
                if limit is not None and len(answers) > limit:
                    association.abort()  # enough to say that there are too many
                    return answers
            elif status.Status != 0x0000:
                raise PacsError(f"{node.describe()} could not search: {_failure(status.Status)}")
        if lost(association):
            raise PacsError(f"the connection to {node.describe()} was lost during the search "
                            f"(no answer within {settings.timeout_s:g} s, or the PACS stopped)")
    return answers


def _failure(status: int) -> str:
    if status in FAILURES:
        return FAILURES[status]
    return f"status 0x{status:04X}" + (" (unable to process)" if 0xC000 <= status <= 0xCFFF else "")


def _name(typed: str) -> str:
    """A typed name as a DICOM PN match from its start: 'Smith' -> 'Smith*', 'Smith, John' -> 'Smith^John*'."""
    typed = typed.strip().replace(", ", "^").replace(",", "^")
    return _prefix(typed)


def _prefix(typed: str) -> str:
    typed = typed.strip()
    return typed if not typed or "*" in typed or "?" in typed else typed + "*"


def _text(answer, keyword: str) -> str:
    value = answer.get(keyword, "")
    return "" if value is None else str(value).strip()


def _person(answer) -> str:
    name = answer.get("PatientName", "")
    if not name:
        return ""
    parts = [part for part in (name.family_name, name.given_name) if part]
    return ", ".join(parts) if parts else str(name)


def _multi(answer, keyword: str) -> str:
    value = answer.get(keyword, "")
    if value is None or value == "":
        return ""
    return "/".join(str(v) for v in value) if not isinstance(value, str) else value


def _count(answer, keyword: str) -> int | None:
    try:
        return int(answer.get(keyword))
    except (TypeError, ValueError):
        return None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")
