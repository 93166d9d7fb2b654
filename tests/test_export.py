"""Exports: masks re-read voxel for voxel on the source geometry, the report, anonymisation (grepped for
the source PHI), no overwrite without consent, nothing outside the folder, clear disk errors."""

from __future__ import annotations

import errno
import gzip
import json
import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the export dialog

from engine.runtime.energy import EnergyMeasurement
from engine.runtime.inference import Segmentation
from engine.runtime.io import find_images, read_image_file, read_mask
from engine.runtime.io.sr import read_measurement_report
from tests.cards import segmentation_card
from tests.conftest import data_path
from tests.test_io import copy_series
from engine.runtime.errors import InputError
from viewer.model.review_export import ExportError, ExportExists, ExportFolder, ExportRequest, dicom_results, export_study
from viewer.model.export_folder import is_complete, leftovers, read_manifest
from viewer.model.review import ACCEPTED, FLAGGED
from viewer.model.study import SegmentationResult, Study

PHI = {"PatientName": "Doe^Jane", "PatientID": "PID-314159", "PatientBirthDate": "19600229",
       "InstitutionName": "St Example Hospital", "AccessionNumber": "ACC-27182", "ReferringPhysicianName": "Who^Doctor",
       "StudyDescription": "CT ABDOMEN JANE DOE"}
MODEL = {"name": "sadnn-seg-test", "version": "0.1", "sha256": "c0ffee" * 10 + "abcd"}


@pytest.fixture(scope="module")
def phi_series(tmp_path_factory):
    """A copy of the real series carrying patient identifiers and real UIDs."""
    import pydicom
    from pydicom.uid import generate_uid

    folder = copy_series(data_path("ct", "totalseg_abd_dicom"), tmp_path_factory.mktemp("phi") / "series")
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for path in sorted(folder.iterdir()):
        dataset = pydicom.dcmread(path)
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
        dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.FrameOfReferenceUID = study, series, frame
        for keyword, value in PHI.items():
            setattr(dataset, keyword, value)
        dataset.save_as(path)
    return folder


def reviewed_study(volume) -> Study:
    """A study with a liver 'prediction' (the reference shifted), one edit, marks and notes."""
    liver = read_mask(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"), volume) == 5
    shifted = np.roll(liver, 6, axis=2)
    study = Study(volume)
    energy = EnergyMeasurement(20.0, 38.0, 400.0, "estimate (CPU time x TDP)")
    study.set_segmentation(SegmentationResult(Segmentation(shifted, shifted.astype(np.float32), energy), MODEL))
    study.set_reference(liver)
    study.set_cursor(10, 256, 256)
    study.paint(60, 60, 6)  # a stray island the reviewer added
    study.set_cursor(12, 256, 256)
    study.mark_slice(FLAGGED)
    study.set_slice_note("hypodense lesion, segment VI?")
    study.set_cursor(13, 256, 256)
    study.mark_slice(ACCEPTED)
    study.set_note("liver outline follows the capsule except at the hilum")
    return study


def all_text(folder) -> bytes:
    """Every byte written under ``folder`` (gzip members unpacked)."""
    chunks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        chunks += [path.name.encode(), data, gzip.decompress(data) if path.name.endswith(".gz") else b""]
    return b"\n".join(chunks)


def test_nifti_and_dicom_seg_read_back_voxel_for_voxel(phi_series, tmp_path):
    import pydicom

    volume = find_images(phi_series)[0].load()
    study = reviewed_study(volume)
    tmp_path = tmp_path / "export"
    result = export_study(study, ExportRequest(tmp_path, report_pdf=False), segmentation_card("sadnn_seg"))
    names = sorted(p.name for p in result.files)
    assert names == ["liver_mask.nii.gz", "liver_seg.dcm", "liver_sr.dcm", "report.html", "review.json"]
    assert is_complete(tmp_path) and sorted(read_manifest(tmp_path)["files"]) == names
    np.testing.assert_array_equal(read_mask(tmp_path / "liver_mask.nii.gz", volume) == 1, study.mask)
    np.testing.assert_array_equal(read_mask(tmp_path / "liver_seg.dcm", volume) == 1, study.mask)
    seg = pydicom.dcmread(tmp_path / "liver_seg.dcm")
    referenced = {item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == set(volume.instance_uids) and seg.StudyInstanceUID == volume.metadata["StudyInstanceUID"]
    assert seg.PatientID == PHI["PatientID"]  # not anonymised: the SEG belongs to this patient
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"  # the reviewer edited it
    review = json.loads((tmp_path / "review.json").read_text())
    assert review["segmentation"]["model"] == MODEL and review["segmentation"]["edited_slices"] == [11]
    _check_measurement_report(tmp_path / "liver_sr.dcm", seg, study, volume)


def _check_measurement_report(path, seg, study, volume) -> None:
    """The SR states the review's numbers and status, and references the SEG and the source series."""
    import pydicom

    stats, counts = study.statistics(), study.review.counts()
    values = read_measurement_report(path)
    assert values["Volume"] == pytest.approx(stats.millilitres) and values["Mean"] == pytest.approx(stats.mean_hu)
    assert values["Standard Deviation"] == pytest.approx(stats.sd_hu)
    reviewed = counts["unreviewed"] < len(study.review.slices)
    assert values["Review status"] == ("Partly reviewed by a radiologist" if reviewed else "Not reviewed: model output")
    sr = pydicom.dcmread(path)
    assert sr.Modality == "SR" and sr.StudyInstanceUID == seg.StudyInstanceUID and sr.PatientID == seg.PatientID
    assert sr.CompletionFlag == "PARTIAL"
    evidence = {series.SeriesInstanceUID: {item.ReferencedSOPInstanceUID for item in series.ReferencedSOPSequence}
                for study_item in sr.CurrentRequestedProcedureEvidenceSequence for series in study_item.ReferencedSeriesSequence}
    assert evidence == {seg.SeriesInstanceUID: {seg.SOPInstanceUID}, volume.metadata["SeriesInstanceUID"]: set(volume.instance_uids)}


def test_a_nifti_mask_keeps_the_source_files_own_grid(tmp_path):
    """A source stored with flipped axes gets a mask on exactly that grid, not the display's."""
    import SimpleITK as sitk

    source = sitk.Flip(sitk.ReadImage(str(data_path("ct", "totalseg_nifti", "example_ct_sm.nii.gz"))), [True, False, True])
    sitk.WriteImage(source, str(tmp_path / "flipped.nii.gz"))
    volume = read_image_file(tmp_path / "flipped.nii.gz")
    study = Study(volume)
    mask = volume.array > 100
    study.set_segmentation(SegmentationResult(Segmentation(mask, mask.astype(np.float32), EnergyMeasurement(1, 1, 1, "x")), MODEL))
    out = tmp_path / "out"
    out.mkdir()  # an empty folder the user made for it
    export_study(study, ExportRequest(out, dicom_seg=False, report_html=False, report_pdf=False), None)
    written = sitk.ReadImage(str(out / "liver_mask.nii.gz"))
    assert written.GetSize() == source.GetSize() and written.GetOrigin() == pytest.approx(source.GetOrigin())
    assert written.GetDirection() == pytest.approx(source.GetDirection()) and written.GetSpacing() == pytest.approx(source.GetSpacing())
    stored = sitk.GetArrayFromImage(written) > 0
    np.testing.assert_array_equal(stored, sitk.GetArrayFromImage(source) > 100)  # voxel for voxel in the file's own order


def test_the_report_has_identity_model_card_energy_review_table_and_flagged_thumbnails(phi_series):
    from viewer.model.review_report import build_report

    study = reviewed_study(find_images(phi_series)[0].load())
    report = build_report(study, segmentation_card("sadnn_seg"))
    html = report.html()
    for text in ("Jane Doe", "1960-02-29", "PID-314159", "sadnn-seg-test 0.1", "Liver volume", "HU (mean", "not reviewed", "hypodense lesion, segment VI?",
                 "liver outline follows the capsule", MODEL["sha256"], "Estimated mJ (45 nm arithmetic)", "Dice vs reference mask",
                 "The review is incomplete"):
        assert text in html, text
    assert list(report.images) == ["slice-013.png"] and report.images["slice-013.png"].startswith(b"\x89PNG")
    assert 'src="data:image/png;base64,' in html


def test_an_anonymised_export_carries_no_source_phi(phi_series, tmp_path):
    import pydicom

    from viewer.model.review_report import build_report

    volume = find_images(phi_series)[0].load()
    study = reviewed_study(volume)
    source_uids = [volume.metadata["StudyInstanceUID"], volume.metadata["SeriesInstanceUID"], *volume.instance_uids]
    plain, anonymous = tmp_path / "plain", tmp_path / "anonymous"
    export_study(study, ExportRequest(plain, report_pdf=False), None)
    result = export_study(study, ExportRequest(anonymous, report_pdf=False, anonymise=True), None)
    identifiers = [value.encode() for value in (*PHI.values(), "Jane Doe", "1960-02-29", study.volume.source)] + [u.encode() for u in source_uids]
    assert any(value in all_text(plain) for value in identifiers)  # the check can fail: the plain export has them
    leaked = [value for value in identifiers if value in all_text(anonymous)]
    assert not leaked, leaked
    assert "PID" not in result.report.html() and "Doe" not in result.report.body  # the PDF is laid out from this report
    seg = pydicom.dcmread(anonymous / "liver_seg.dcm")
    assert seg.PatientIdentityRemoved == "YES" and str(seg.PatientName).startswith("ANON-")
    copies = find_images(anonymous / "images")[0].load()  # the de-identified series the SEG references
    np.testing.assert_array_equal(copies.array, volume.array)
    np.testing.assert_array_equal(read_mask(anonymous / "liver_seg.dcm", copies) == 1, study.mask)
    assert "ANON-" in build_report(study, None, pseudonym="ANON-1").body


def test_existing_files_are_not_replaced_without_consent(phi_series, tmp_path):
    study = reviewed_study(find_images(phi_series)[0].load())
    target = tmp_path / "export"
    request = ExportRequest(target, dicom_seg=False, report_pdf=False)
    export_study(study, request, None)
    before = (target / "report.html").read_bytes()
    with pytest.raises(ExportExists) as raised:
        export_study(study, request, None)
    assert set(raised.value.names) == {"liver_mask.nii.gz", "report.html", "review.json"}
    assert (target / "report.html").read_bytes() == before
    study.set_note("second thoughts")
    export_study(study, ExportRequest(target, dicom_seg=False, report_html=False, report_pdf=False, overwrite=True), None)
    assert b"second thoughts" in (target / "review.json").read_bytes()
    assert not (target / "report.html").exists()  # the new export replaced the old one whole: no stale report beside it
    assert is_complete(target) and leftovers(target) == []


def test_a_folder_holding_other_files_is_never_used(phi_series, tmp_path):
    study = reviewed_study(find_images(phi_series)[0].load())
    (tmp_path / "thesis.docx").write_text("the user's own work")
    (tmp_path / "review.json").write_text("{}")
    for overwrite in (False, True):
        with pytest.raises(ExportError, match=r"already holds files that are not an export of this app \(thesis.docx\)"):
            export_study(study, ExportRequest(tmp_path, dicom_seg=False, report_pdf=False, overwrite=overwrite), None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["review.json", "thesis.docx"]
    assert (tmp_path / "review.json").read_text() == "{}"


def test_an_export_folder_of_an_older_version_may_be_replaced(phi_series, tmp_path):
    study = reviewed_study(find_images(phi_series)[0].load())
    target = tmp_path / "old"
    target.mkdir()
    (target / "report.html").write_text("old report")  # written before exports had a manifest
    with pytest.raises(ExportExists):
        export_study(study, ExportRequest(target, dicom_seg=False, report_pdf=False), None)
    export_study(study, ExportRequest(target, dicom_seg=False, report_pdf=False, overwrite=True), None)
    assert "old report" not in (target / "report.html").read_text() and is_complete(target)


def test_nothing_is_written_outside_the_chosen_folder(tmp_path):
    folder = ExportFolder(tmp_path / "export")
    folder.begin()
    for name in ("../escape.html", "/etc/passwd", "sub/../../x"):
        with pytest.raises(ExportError, match="not a plain file inside"):
            folder.path(name)
    folder.abort()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "sessions") == []
    with pytest.raises(ExportError, match="is not a folder: choose a folder that exists"):
        ExportFolder(tmp_path / "missing" / "deeper")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ExportError, match="a_file is not a folder"):
        ExportFolder(tmp_path / "a_file")


@pytest.mark.parametrize(("code", "message"), [(errno.ENOSPC, "is full"), (errno.EROFS, "read-only"), (errno.EACCES, "read-only")])
def test_a_full_disk_or_read_only_folder_gives_a_clear_error_and_leaves_no_debris(phi_series, tmp_path, monkeypatch, code, message):
    import os

    import viewer.model.export_folder

    study = reviewed_study(find_images(phi_series)[0].load())
    target = tmp_path / "export"
    export_study(study, ExportRequest(target, dicom_seg=False, report_pdf=False), None)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def failing_fsync(_fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(viewer.model.export_folder.os, "fsync", failing_fsync)
    study.set_note("never written")
    with pytest.raises(ExportError, match=message):
        export_study(study, ExportRequest(target, dicom_seg=False, report_pdf=False, overwrite=True), None)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before  # the previous export, intact
    assert leftovers(target) == []  # no staging folder left behind


def test_the_export_is_of_a_snapshot_taken_when_it_was_asked_for(phi_series, tmp_path):
    from viewer.model.review_export import finish_export, stage_export

    study = reviewed_study(find_images(phi_series)[0].load())
    snapshot = study.snapshot()
    marked, voxels = dict(study.review.marks), int(study.mask.sum())
    study.set_cursor(5, 256, 256)  # the user goes on working while the worker writes
    study.mark_slice("flagged")
    study.set_note("typed after export started")
    study.paint(250, 250, 40)
    assert int(study.mask.sum()) != voxels
    finish_export(stage_export(snapshot, ExportRequest(tmp_path / "export", dicom_seg=False, report_pdf=False), None))
    review = json.loads((tmp_path / "export" / "review.json").read_text())
    assert review["note"] == "liver outline follows the capsule except at the hilum"
    assert {s["slice"] - 1: s["mark"] for s in review["segmentation"]["slices"] if s["mark"]} == marked
    assert int(read_mask(tmp_path / "export" / "liver_mask.nii.gz", study.volume).sum()) == voxels


def test_a_seg_of_a_series_stored_right_to_left_reads_back_unflipped(tmp_path):
    """Rows stored from the patient's left to right are flipped for display; the SEG goes back to storage order."""
    import pydicom

    folder = copy_series(data_path("ct", "totalseg_abd_dicom"), tmp_path / "series")
    columns = None
    for path in sorted(folder.iterdir()):
        dataset = pydicom.dcmread(path)
        columns = int(dataset.Columns)
        spacing = float(dataset.PixelSpacing[1])
        position = [float(v) for v in dataset.ImagePositionPatient]
        dataset.ImageOrientationPatient = [-1, 0, 0, 0, 1, 0]  # the first column is now the patient's left
        dataset.ImagePositionPatient = [position[0] + (columns - 1) * spacing, position[1], position[2]]
        dataset.PixelData = pydicom.dcmread(path).pixel_array[:, ::-1].copy().tobytes()  # same anatomy, mirrored storage
        dataset.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        dataset.save_as(path, enforce_file_format=True)
    original = find_images(data_path("ct", "totalseg_abd_dicom"))[0].load()
    mirrored = find_images(folder)[0].load()
    np.testing.assert_array_equal(mirrored.array, original.array)  # the reader undid the mirrored storage
    study = reviewed_study(mirrored)
    export_study(study, ExportRequest(tmp_path / "out", nifti=False, report_html=False, report_pdf=False), None)
    seg = pydicom.dcmread(tmp_path / "out" / "liver_seg.dcm")
    stored = seg.pixel_array.reshape(-1, 512, 512)
    np.testing.assert_array_equal(stored[10], study.mask[10][:, ::-1])  # written in the file's own column order
    np.testing.assert_array_equal(read_mask(tmp_path / "out" / "liver_seg.dcm", mirrored) == 1, study.mask)


def test_an_anonymised_export_of_images_with_burned_in_text_is_refused(phi_series, tmp_path):
    import pydicom

    folder = copy_series(phi_series, tmp_path / "burned")
    for path in sorted(folder.iterdir()):
        dataset = pydicom.dcmread(path)
        dataset.BurnedInAnnotation = "YES"
        dataset.save_as(path)
    study = reviewed_study(find_images(folder)[0].load())
    with pytest.raises(ExportError, match=r"cannot anonymise: the images declare text burned into their pixels"):
        export_study(study, ExportRequest(tmp_path / "anonymous", report_pdf=False, anonymise=True), None)
    assert not (tmp_path / "anonymous").exists() and leftovers(tmp_path / "anonymous") == []
    export_study(study, ExportRequest(tmp_path / "identified", report_pdf=False), None)  # not anonymised: allowed
    assert is_complete(tmp_path / "identified")


def test_a_seg_whose_frames_are_oriented_otherwise_is_refused_not_misplaced(phi_series, tmp_path):
    import pydicom

    volume = find_images(phi_series)[0].load()
    study = reviewed_study(volume)
    export_study(study, ExportRequest(tmp_path / "out", nifti=False, report_html=False, report_pdf=False), None)
    seg = pydicom.dcmread(tmp_path / "out" / "liver_seg.dcm")
    groups = [seg.SharedFunctionalGroupsSequence[0], *seg.PerFrameFunctionalGroupsSequence]
    assert any("PlaneOrientationSequence" in g for g in groups)
    for group in groups:
        if "PlaneOrientationSequence" in group:
            group.PlaneOrientationSequence[0].ImageOrientationPatient = [0, 1, 0, 1, 0, 0]  # rows and columns swapped
    seg.save_as(tmp_path / "transposed.dcm")
    with pytest.raises(InputError, match=r"transposed.dcm stores its frames with orientation \[0.0, 1.0, 0.0, 1.0, 0.0, 0.0\], "
                                         r"unlike the open series' slices \(\[1.0, 0.0, 0.0, 0.0, 1.0, 0.0\]\)"):
        read_mask(tmp_path / "transposed.dcm", volume)


def classified_xray():
    """A real NIH film with 14 findings (probabilities 0.9 down to 0.1) and the test card's held-out evidence."""
    from engine.runtime.evidence import finding_evidence
    from engine.runtime.inference import Classification
    from tests.cards import classification_card

    card = classification_card(size=64)
    study = Study(read_image_file(data_path("cxr", "nih_txv", "00000001_000.png")))
    probabilities = np.linspace(0.9, 0.1, 14).astype(np.float32)
    result = Classification(card.labels, probabilities, card.thresholds, EnergyMeasurement(0.1, 0.1, 1.0, "test"),
                            evidence=finding_evidence(card.metrics, card.labels))
    study.set_classification(result, {"name": card.name, "version": card.version, "sha256": "0" * 64})
    return study, card


def test_an_xray_report_and_its_data_carry_each_findings_held_out_evidence():
    from viewer.model.review_export import review_data
    from viewer.model.review_report import build_report

    study, card = classified_xray()
    html = build_report(study, card).html()
    assert "1 of 14 findings are better than chance on held-out patients" in html
    assert "This study was in the training set of sadnn_cls-test 0.0.0 (as 00000001_000.png)" in html
    assert "0.74 (0.66-0.81)" in html and html.count("not validated") >= 13
    findings = {f["finding"]: f for f in review_data(study)["classification"]["findings"]}
    assert findings["Effusion"]["validated"] and findings["Effusion"]["held_out_auroc_ci"] == [0.66, 0.81]
    assert not findings["Mass"]["validated"] and findings["Hernia"]["held_out_auroc"] is None


def _classified(volume):
    """``volume`` with the test card's 14 findings, as classified_xray makes them."""
    from engine.runtime.evidence import finding_evidence
    from engine.runtime.inference import Classification
    from tests.cards import classification_card

    card = classification_card(size=64)
    study = Study(volume)
    result = Classification(card.labels, np.linspace(0.9, 0.1, 14).astype(np.float32), card.thresholds,
                            EnergyMeasurement(0.1, 0.1, 1.0, "test"), evidence=finding_evidence(card.metrics, card.labels))
    study.set_classification(result, {"name": card.name, "version": card.version, "sha256": "0" * 64})
    return study, card


def _pdf(report, path) -> None:  # the Qt layout is tested in test_report_pages; the DICOM copy needs only a PDF
    path.write_bytes(b"%PDF-1.4\n% " + report.title.encode() + b"\n%%EOF\n")


def test_a_dicom_radiographs_pdf_report_is_filed_in_its_study_and_one_without_uids_gets_no_dicom_copy(tmp_path):
    import pydicom

    from tests.test_io import pydicom_data_file

    source = pydicom.dcmread(pydicom_data_file("RG1_J2KR.dcm"))
    study, card = _classified(read_image_file(pydicom_data_file("RG1_J2KR.dcm")))
    result = export_study(study, ExportRequest(tmp_path / "with"), card, _pdf)
    assert sorted(p.name for p in result.files) == ["report.html", "report.pdf", "report_pdf.dcm", "review.json"]
    wrapped = pydicom.dcmread(tmp_path / "with" / "report_pdf.dcm")
    assert (wrapped.StudyInstanceUID, wrapped.PatientID, wrapped.BurnedInAnnotation) == (source.StudyInstanceUID, source.PatientID, "YES")
    assert [i.ReferencedSOPInstanceUID for i in wrapped.SourceInstanceSequence] == [source.SOPInstanceUID]
    assert bytes(wrapped.EncapsulatedDocument)[:wrapped.EncapsulatedDocumentLength] == (tmp_path / "with" / "report.pdf").read_bytes()

    result = export_study(study, ExportRequest(tmp_path / "pdf only", report_dicom=False), card, _pdf)
    assert sorted(p.name for p in result.files) == ["report.html", "report.pdf", "review.json"]

    result = export_study(study, ExportRequest(tmp_path / "anonymised", anonymise=True), card, _pdf)
    assert sorted(str(p.relative_to(tmp_path / "anonymised")) for p in result.files) == [
        "images/0001.dcm", "report.html", "report.pdf", "report_pdf.dcm", "review.json"]
    image, wrapped = (pydicom.dcmread(tmp_path / "anonymised" / name) for name in ("images/0001.dcm", "report_pdf.dcm"))
    assert image.PatientID == wrapped.PatientID != source.PatientID and wrapped.BurnedInAnnotation == "NO"
    assert image.StudyInstanceUID == wrapped.StudyInstanceUID != source.StudyInstanceUID
    assert [i.ReferencedSOPInstanceUID for i in wrapped.SourceInstanceSequence] == [image.SOPInstanceUID] != [source.SOPInstanceUID]
    assert image.PixelData == source.PixelData and image.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
    assert dicom_results(tmp_path / "anonymised") == [tmp_path / "anonymised" / n for n in ("images/0001.dcm", "report_pdf.dcm")]

    source.StudyInstanceUID = ""  # an exporter that blanked the UIDs: no study to file the report in
    source.save_as(tmp_path / "blank.dcm")
    study, card = _classified(read_image_file(tmp_path / "blank.dcm"))
    result = export_study(study, ExportRequest(tmp_path / "without"), card, _pdf)
    assert sorted(p.name for p in result.files) == ["report.html", "report.pdf", "review.json"] and not result.problems


def test_the_export_dialog_offers_a_radiographs_report_as_dicom_and_nothing_a_radiograph_lacks(qtbot):
    from tests.test_io import pydicom_data_file
    from viewer.qt.export_dialog import ExportDialog

    study, _ = _classified(read_image_file(pydicom_data_file("RG1_J2KR.dcm")))
    dialog = ExportDialog(study, "/tmp/x", pacs_nodes=["Archive"])
    qtbot.addWidget(dialog)
    assert [(b.isEnabled(), b.isChecked()) for b in (dialog.nifti, dialog.seg, dialog.pdf, dialog.pdf_dicom)] == [
        (False, False), (False, False), (True, True), (True, True)]
    assert dialog.pacs.isEnabled() and dialog.request().report_dicom
    dialog.pdf.setChecked(False)  # no PDF, no DICOM copy of it
    assert not dialog.pdf_dicom.isEnabled() and not dialog.request().report_dicom
    dialog.pdf.setChecked(True)
    assert dialog.pdf_dicom.isEnabled() and dialog.request().report_dicom
