"""The input-contract guard: the exact reason a model will not run on a study, and the override recorded."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest

from engine.runtime.card import Acceptance, InputContract
from engine.runtime.contract import check_contract
from engine.runtime.io import Volume, find_images, read_image_file
from engine.runtime.labels import CHEST_FILM_ACCEPTS, LIVER_CT_ACCEPTS
from tests.conftest import data_path
from tests.test_io import pydicom_data_file

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

LIVER = InputContract("CT", (128, 128), "hu_window", window=(-160, 240), accepts=Acceptance(**LIVER_CT_ACCEPTS))
CHEST = InputContract("CR/DX", (64, 64), "mean_std", mean=0.5, std=0.25, accepts=Acceptance(**CHEST_FILM_ACCEPTS))


def test_abdominal_cts_and_chest_films_meet_their_contracts():
    for source in (data_path("ct", "totalseg_abd_dicom"), data_path("ct", "totalseg_nifti", "example_ct_sm.nii.gz")):
        assert check_contract(find_images(source)[0].load(), LIVER).problems == ()
    for path in (pydicom_data_file("RG1_J2KR.dcm"), data_path("cxr", "nih_txv", "00000001_000.png")):
        assert check_contract(read_image_file(path), CHEST).problems == ()


def test_an_enhanced_head_ct_is_refused_for_the_liver_model_with_the_header_reason():
    volume = read_image_file(pydicom_data_file("eCT_Supplemental.dcm"))
    assert check_contract(volume, LIVER).problems == (
        "AnatomicRegion is Brain; the model expects axial abdominal CT",
        "pixels are 0.39 mm; the model expects axial abdominal CT with pixels of 0.4-3.5 mm",
    )


def test_a_ct_that_names_no_body_part_and_is_too_narrow_for_an_abdomen_is_refused_by_a_stated_heuristic():
    ct = find_images(data_path("ct", "totalseg_abd_dicom"))[0].load()
    narrow = replace(ct, array=np.ascontiguousarray(ct.array[:, :, 180:330]), metadata={})  # 146 mm of tissue
    assert check_contract(narrow, LIVER).problems == (
        "heuristic (the header names no body part): the body is at most 146 mm wide, a head or a limb rather than an "
        "abdomen; the model expects axial abdominal CT",)


def test_radiographs_of_another_body_part_or_view_are_refused(tmp_path):
    import pydicom

    assert check_contract(read_image_file(pydicom_data_file("RG3_UNCR.dcm")), CHEST).problems == (
        "BodyPartExamined is EXTREMITY; the model expects PA or AP chest radiographs",)
    lateral = pydicom.dcmread(pydicom_data_file("RG1_UNCR.dcm"))
    lateral.ViewPosition = "LL"
    lateral.save_as(tmp_path / "lateral.dcm")
    assert check_contract(read_image_file(tmp_path / "lateral.dcm"), CHEST).problems == (
        "this radiograph is LL (ViewPosition); the model expects PA or AP chest radiographs",)


def test_a_ct_given_to_the_chest_model_and_a_sagittal_series_to_the_liver_model_are_refused():
    ct = find_images(data_path("ct", "totalseg_abd_dicom"))[0].load()
    assert check_contract(ct, CHEST).problems[0] == "this is a CT image; the model expects PA or AP chest radiographs"
    sagittal = replace(ct, stored_plane="sagittal")
    assert check_contract(sagittal, LIVER).problems == (
        "the series was acquired sagittal; the model expects axial abdominal CT acquired axial",)
    nan = replace(ct, nonfinite=3)
    assert check_contract(nan, LIVER).problems == ("3 voxel(s) are NaN or infinite; the model cannot read them",)


def test_a_card_without_acceptance_checks_the_modality_and_takes_any_projection_film_for_cr_dx():
    old = InputContract("CR/DX", (64, 64), "mean_std", mean=0.5, std=0.25)
    picture = Volume(np.zeros((1, 64, 64), np.float32), modality="XR")
    assert check_contract(picture, old).ok
    assert check_contract(Volume(np.zeros((3, 8, 8), np.float32), modality="MR"), replace(LIVER, accepts=None)).problems \
        == ("this is a MR image; the model expects CT images",)


@pytest.fixture
def strict_window(window):
    """The window with its segmentation model accepting only sagittal series (the CT is axial)."""
    bundle = window.models.by_task["segmentation"]
    accepts = Acceptance(description="sagittal CT", modalities=("CT",), planes=("sagittal",))
    card = replace(bundle.card, input=replace(bundle.card.input, accepts=accepts))
    window.models.by_task["segmentation"] = replace(bundle, card=card)
    return window


def test_the_viewer_runs_a_model_outside_its_contract_only_on_an_explicit_override_and_records_it(qtbot, strict_window, tmp_path):
    from tests.test_viewer import open_and_wait
    from tests.viewer_support import finish
    from viewer.model.review_export import ExportRequest

    window = strict_window
    open_and_wait(qtbot, window, data_path("ct", "totalseg_abd_dicom"))
    asked = []
    window.prompts.confirm = lambda title, text, **_: asked.append(text) or False
    window.segment()
    finish(qtbot, window)
    assert window.study.segmentation is None
    assert "- the series was acquired axial; the model expects sagittal CT acquired sagittal" in asked[0]
    assert window.message.text() == "Not run: the series was acquired axial; the model expects sagittal CT acquired sagittal"
    window.prompts.confirm = lambda *_args, **_kw: True
    window.segment()
    finish(qtbot, window)
    assert window.study.segmentation is not None
    assert window.study.overrides == {"segmentation": ["the series was acquired axial; the model expects sagittal CT acquired sagittal"]}
    window.export_review(ExportRequest(tmp_path / "export", report_pdf=False, dicom_seg=False))
    finish(qtbot, window)
    review = json.loads((tmp_path / "export" / "review.json").read_text())
    assert review["contract_overrides"] == window.study.overrides
    assert "Run outside the model's input contract (segmentation)" in (tmp_path / "export" / "report.html").read_text()
