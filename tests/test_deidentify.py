"""De-identification against every attribute of DICOM PS3.15 Table E.1-1, plus overlays, icons and private tags."""

import copy
import io

import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag

from engine.runtime.io.deidentify import CATEGORIES, TABLE_EDITION, BurnedInAnnotation, Deidentifier

MARK = "IDENT"  # every identifying value the test writes contains this


def table_rows() -> list[tuple[int, str]]:
    """(tag, action) for every row of Table E.1-1; repeating groups (50xx, 60xx) at their first group."""
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    table = dicom_anonymization_database_selector(TABLE_EDITION)
    rows = []
    for category, action in CATEGORIES.items():
        for entry in table[category]:
            rows.append((entry[0] << 16 | entry[1], category.removesuffix("_TAGS")))
    return rows


def vr_of(tag: int) -> str:
    try:
        vr = dictionary_VR(tag)
    except KeyError:  # newer than pydicom's dictionary
        return "LO"
    return vr.split(" or ")[0] if vr not in ("NONE", "") else "LO"


def identifying_value(tag: int, vr: str):
    text = f"{MARK}{tag:08X}"
    values = {"PN": f"{MARK}^Jane{tag:08X}", "DA": "19600229", "TM": "101010", "DT": "19600229101010",
              "UI": f"1.2.826.0.1.3680043.9.{tag}", "AS": "066Y", "US": 7, "SS": 7, "UL": 7, "SL": 7, "FL": 7.5,
              "FD": 7.5, "IS": "7", "DS": "7.5", "AT": 0x00100010, "CS": "IDENTCODE",
              "OB": text.encode(), "OW": text.encode(), "UN": text.encode(), "OF": b"\x00" * 4, "OD": b"\x00" * 8,
              "OL": b"\x00" * 4, "OV": b"\x00" * 8, "SV": 7, "UV": 7}
    if vr == "SQ":
        item = Dataset()
        item.PatientName = f"{MARK}^InSequence{tag:08X}"
        item.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.9.9.{tag}"
        item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        return [item]
    return values.get(vr, text[:16] if vr in ("SH", "AE") else text)


@pytest.fixture(scope="module")
def every_row():
    """A CT-like dataset holding every attribute of the table with an identifying value, de-identified once."""
    dataset = Dataset()
    originals = {}
    for tag, _ in table_rows():
        vr = vr_of(tag)
        value = identifying_value(tag, vr)
        dataset.add_new(Tag(tag), vr, value)
        originals[tag] = (vr, copy.deepcopy(value))
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    dataset.add_new(0x00091010, "LO", f"{MARK} private")  # a private attribute
    dataset.add_new(0x60020010, "US", 512)  # the rest of a second overlay group
    dataset.add_new(0x60023000, "OW", b"\x01\x02" * 8)
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPInstanceUID = originals[0x00080018][1]
    deidentifier = Deidentifier()
    deidentifier.apply(dataset)
    return dataset, originals, deidentifier


def test_the_table_is_the_whole_current_edition():
    rows = table_rows()
    assert len(rows) > 600  # Table E.1-1 of 2026c: 655 rows
    tags = {tag for tag, _ in rows}
    for keyword in ("RequestedProcedureID", "PlacerOrderNumberImagingServiceRequest", "FillerOrderNumberImagingServiceRequest",
                    "PersonTelephoneNumbers", "DetectorID", "ImageComments", "InstitutionCodeSequence",
                    "IconImageSequence", "PatientTelecomInformation", "AccessionNumber"):
        assert Tag(keyword) in tags, keyword


@pytest.mark.parametrize("tag, action", table_rows(), ids=lambda v: f"{v:08X}" if isinstance(v, int) else v)
def test_every_attribute_of_the_table_gets_its_action(every_row, tag, action):
    dataset, originals, deidentifier = every_row
    vr, original = originals[tag]
    element = dataset.get(Tag(tag))
    if tag in (0x00100010, 0x00100020):  # Patient's Name and ID: Z, then the export's pseudonym
        assert deidentifier.pseudonym in str(element.value)
        return
    if action in ("X",) or (tag >> 16) & 0xFF00 in (0x5000, 0x6000):
        assert element is None
    elif action in ("Z", "X_Z"):
        assert element is not None and element.is_empty
    elif action in ("D", "X_D", "Z_D", "X_Z_D"):
        assert element is not None and not element.is_empty
        if vr == "SQ":
            assert MARK not in str(element.value[0].get("PatientName", ""))
        else:
            assert element.value != original
    elif action == "U":
        assert element is not None and element.value == deidentifier.uid(original) != original
    elif action == "X_Z_U_STAR":
        item = element.value[0]
        assert item.ReferencedSOPInstanceUID == deidentifier.uid(original[0].ReferencedSOPInstanceUID)
        assert item.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # a class, not an instance: kept
        assert MARK not in str(item.get("PatientName", ""))
    else:
        pytest.fail(f"unexpected action {action}")


def test_nothing_identifying_survives_anywhere_in_the_written_file(every_row):
    dataset, _, _ = every_row
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, dataset)  # the table includes command elements, which dcmwrite refuses
    written = buffer.getvalue()
    assert MARK.encode() not in written
    assert b"19600229" not in written and b"1.2.826.0.1.3680043.9." not in written
    assert not [e for e in dataset if e.tag.is_private] and 0x60020010 not in dataset and 0x60023000 not in dataset
    assert dataset.PatientIdentityRemoved == "YES" and dataset.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert dataset.file_meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID


def test_uids_map_consistently_across_the_objects_of_one_export():
    first, second = Dataset(), Dataset()
    for dataset in (first, second):
        dataset.StudyInstanceUID, dataset.FrameOfReferenceUID = "1.2.3.4", "1.2.3.5"
    deidentifier = Deidentifier()
    deidentifier.apply(first), deidentifier.apply(second)
    assert first.StudyInstanceUID == second.StudyInstanceUID != "1.2.3.4"
    other = Dataset()
    other.StudyInstanceUID = "1.2.3.4"
    Deidentifier().apply(other)
    assert other.StudyInstanceUID != first.StudyInstanceUID  # another export cannot be linked to this one


def test_burned_in_annotation_is_refused():
    dataset = Dataset()
    dataset.BurnedInAnnotation = "YES"
    dataset.PatientName = "Doe^Jane"
    with pytest.raises(BurnedInAnnotation, match="BurnedInAnnotation YES"):
        Deidentifier().apply(dataset)


def test_a_real_ct_slice_round_trips_and_keeps_its_pixels_and_geometry():
    from pydicom.data import get_testdata_file

    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    Deidentifier().apply(dataset)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    again = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    assert (again.pixel_array == source.pixel_array).all()
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "RescaleSlope", "RescaleIntercept"):
        assert again.get(keyword) == source.get(keyword), keyword
    for keyword in ("PatientName", "PatientID", "InstitutionName", "StudyDate", "OperatorsName"):
        if source.get(keyword):
            assert str(again.get(keyword, "")) != str(source.get(keyword)), keyword
