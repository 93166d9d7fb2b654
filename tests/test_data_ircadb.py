"""The 3D-IRCADb layout read in place: masks paired with CT slices by position, checked against pydicom,
and every broken folder refused with its exact message."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.conftest import data_path
from tests.test_training import engine_train
from training.data_ircadb import list_cases
from training.data_liver import find_cases, split_cases
from training.errors import DatasetError

MIDDLE = slice(60, 72)  # a mini patient: 12 slices through the liver of patient 1.1, files linked, not copied


def _files_by_z(folder: Path) -> list[Path]:
    return sorted(folder.iterdir(), key=lambda f: float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]))


@pytest.fixture(scope="module")
def ircadb_root() -> Path:
    return data_path("ct", "ircadb")


@pytest.fixture()
def mini_root(tmp_path, ircadb_root) -> Path:
    """patient_mini/ with 12 CT slices of patient 1.1 through the liver and their mask slices, as links."""
    source = ircadb_root / "patient_1.1"
    patient = tmp_path / "root" / "patient_mini"
    for sub in ("PATIENT_DICOM", "MASKS_DICOM/liver"):
        (patient / sub).mkdir(parents=True)
        for path in _files_by_z(source / sub)[MIDDLE]:
            (patient / sub / path.name).symlink_to(path)
    return tmp_path / "root"


def _rewrite_masks(root: Path, change) -> None:
    """Apply ``change`` to every mask slice of the mini patient, as a new file in place of the link."""
    for path in (root / "patient_mini" / "MASKS_DICOM" / "liver").iterdir():
        mask = pydicom.dcmread(path)
        change(mask)
        path.unlink()
        mask.save_as(path)


def _refused_as_unpaired(root: Path, ct_index: int, distance_mm: str) -> None:
    """Reading the mini patient names its ``ct_index``-th CT slice (by position) as having no mask slice."""
    ct = _files_by_z(root / "patient_mini" / "PATIENT_DICOM")[ct_index]
    with pytest.raises(DatasetError, match=rf"^case patient_mini: CT slice {ct.name} at \(.*\) mm has no liver mask "
                                           rf"slice at that position \(nearest is {re.escape(distance_mm)} mm away\)$"):
        list_cases(root)[0].read()


def test_both_expert_patients_match_an_independent_pydicom_reading(ircadb_root):
    cases = list_cases(ircadb_root)
    assert [c.name for c in cases] == ["patient_1.1", "patient_1.7"]
    for case, slices in zip(cases, (129, 151)):
        volume, liver = case.read()
        assert volume.shape == liver.shape == (slices, 512, 512) and liver.dtype == bool
        masks = [pydicom.dcmread(f) for f in _files_by_z(case.folder / "MASKS_DICOM" / "liver")]
        expected = np.stack([m.pixel_array > 0 for m in masks])  # identity orientation: rows down, columns right
        np.testing.assert_array_equal(liver, expected)
        middle = pydicom.dcmread(_files_by_z(case.folder / "PATIENT_DICOM")[slices // 2])
        hu = middle.pixel_array * float(middle.RescaleSlope) + float(middle.RescaleIntercept)
        np.testing.assert_array_equal(volume.array[slices // 2], hu)
    litres = liver.sum() * np.prod(volume.spacing) / 1e6
    assert 1.2 < litres < 1.7  # patient 1.7's liver, a plausible adult size


def test_a_ct_slice_without_its_mask_slice_is_named(mini_root):
    masks = mini_root / "patient_mini" / "MASKS_DICOM" / "liver"
    _files_by_z(masks)[5].unlink()
    _refused_as_unpaired(mini_root, 5, "1.60")


def test_a_mask_on_other_positions_is_refused_not_paired_by_order(mini_root):
    def move_up(mask):
        mask.ImagePositionPatient = [float(v) + (5.0 if i == 2 else 0.0) for i, v in enumerate(mask.ImagePositionPatient)]

    _rewrite_masks(mini_root, move_up)
    _refused_as_unpaired(mini_root, 0, "5.00")


def test_a_mask_of_another_size_is_refused(mini_root):
    def halve(mask):
        small = np.ascontiguousarray(mask.pixel_array[::2, ::2])
        mask.Rows, mask.Columns = small.shape
        mask.PixelData = small.tobytes()

    _rewrite_masks(mini_root, halve)
    with pytest.raises(DatasetError, match=r"^case patient_mini: the liver mask slices are 256x256, the CT slices 512x512$"):
        list_cases(mini_root)[0].read()


def test_a_patient_without_liver_masks_and_a_folder_of_another_layout(mini_root, tmp_path):
    shutil.rmtree(mini_root / "patient_mini" / "MASKS_DICOM")
    with pytest.raises(DatasetError, match=r"^patient_mini has PATIENT_DICOM/ but no MASKS_DICOM/liver/ \(3D-IRCADb layout\)$"):
        find_cases([mini_root])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"is neither a Decathlon folder \(dataset\.json\) nor a 3D-IRCADb folder"):
        find_cases([tmp_path / "empty"])
    with pytest.raises(DatasetError, match=r"^/nowhere/at/all does not exist$"):
        find_cases([Path("/nowhere/at/all")])


def test_named_test_cases_and_repeated_names(mini_root):
    cases = find_cases([mini_root])
    with pytest.raises(DatasetError, match=r"^case names repeat across the data folders: patient_mini$"):
        find_cases([mini_root, mini_root])
    with pytest.raises(DatasetError, match=r"^no case named patient_9; the cases are patient_mini$"):
        split_cases(cases, "test", ["patient_9"])
    assert [c.name for c in split_cases(cases, "test", ["patient_mini"])] == ["patient_mini"]
    with pytest.raises(DatasetError, match=r"^the train split is empty \(1 case\(s\) in all\)$"):
        split_cases(cases, "train", ["patient_mini"])


def test_engine_train_pools_ircadb_and_msd_validates_on_one_case_and_holds_out_another(mini_root, tmp_path):
    demo = tmp_path / "Task03_Liver"
    assert engine_train("prepare-demo-ct", "--source", str(data_path("ct")), "--out", str(demo)).returncode == 0
    run = tmp_path / "run"
    result = engine_train("train", "--task", "segmentation", "--data", str(mini_root), "--data", str(demo),
                          "--test-case", "liver_1", "--val-case", "liver_0", "--run", str(run), "--architecture",
                          "unet_small", "--image-size", "64", "--epochs", "1", "--batch-size", "8", "--quiet")
    assert result.returncode == 0, result.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["test_cases"] == ["liver_1"] and config["val_cases"] == ["liver_0"]
    assert "(train split: patient_mini)" in config["extra"]["train_data"]
    assert "(val split: liver_0)" in config["extra"]["validation_data"]
    row = json.loads((run / "metrics.json").read_text())["epochs"][0]
    assert 0 <= row["validation"] <= 1 and json.loads((run / "metrics.json").read_text())["last_validation"][
        "dice_per_volume"].keys() == {"liver_0"}  # validated on liver_0 only; liver_1 is never read by training
