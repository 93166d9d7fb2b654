"""The PDF report as a DICOM Encapsulated PDF instance in the study of its source series (PS3.3 A.45.1)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from engine.runtime.atomic import write_atomic

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
SOFTWARE = "SaDNN Viewer"
PATIENT_AND_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                     "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName", "StudyDescription",
                     "SpecificCharacterSet")


def write_encapsulated_pdf(pdf: bytes, source_headers: list, title: str, path: Path, identifies_patient: bool = True) -> None:
    """Wrap ``pdf`` for the study of ``source_headers`` (patient and study copied from the first, each referenced
    as a source instance; a new series and instance). ``identifies_patient``: the PDF shows the patient's name
    (BurnedInAnnotation YES), not a pseudonym."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    if not pdf.startswith(b"%PDF-"):
        raise ValueError("not a PDF document")
    dataset, source_header = Dataset(), source_headers[0]
    for keyword in PATIENT_AND_STUDY:
        if keyword in source_header:
            setattr(dataset, keyword, source_header.data_element(keyword).value)
    stamp = time.localtime()
    dataset.update({
        "SOPClassUID": ENCAPSULATED_PDF, "SOPInstanceUID": generate_uid(), "SeriesInstanceUID": generate_uid(),
        "Modality": "DOC", "SeriesNumber": 9903, "InstanceNumber": 1, "SeriesDescription": title[:64],
        "Manufacturer": SOFTWARE, "ConversionType": "WSD", "BurnedInAnnotation": "YES" if identifies_patient else "NO",
        "ContentDate": time.strftime("%Y%m%d", stamp), "ContentTime": time.strftime("%H%M%S", stamp),
        "AcquisitionDateTime": time.strftime("%Y%m%d%H%M%S", stamp), "DocumentTitle": title[:64],
        "ConceptNameCodeSequence": [], "MIMETypeOfEncapsulatedDocument": "application/pdf",
        "EncapsulatedDocument": pdf + (b"\0" if len(pdf) % 2 else b""), "EncapsulatedDocumentLength": len(pdf),
    })
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "StudyID", "AccessionNumber", "ReferringPhysicianName"):  # type 2: present, possibly empty
        if keyword not in dataset:
            setattr(dataset, keyword, "")
    dataset.SourceInstanceSequence = [_reference(header) for header in source_headers]
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    write_atomic(Path(path), buffer.getvalue())


def _reference(header):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = header.SOPClassUID, header.SOPInstanceUID
    return item
