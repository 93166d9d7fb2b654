"""The pure-Python NIfTI / NRRD / MetaImage readers and the resampler, against SimpleITK as the reference."""

from __future__ import annotations

import numpy as np
import pytest

from engine.runtime.io.resample import resample_nearest
from engine.runtime.io.volume import Volume
from engine.runtime.io.volume_files import read_stored
from tests.conftest import data_path

sitk = pytest.importorskip("SimpleITK")


def assert_same_as_itk(volume: Volume, image) -> None:
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(image).astype(np.float32))
    assert volume.spacing == pytest.approx(image.GetSpacing()[::-1])
    assert volume.origin == pytest.approx(image.GetOrigin(), abs=1e-4)
    np.testing.assert_allclose(volume.direction, np.asarray(image.GetDirection()).reshape(3, 3), atol=1e-6)


def oblique(image):
    """The real CT with a rotated, permuted direction and a moved origin (what scanners and tools write)."""
    rotation = sitk.VersorTransform((0.3, -0.2, 0.9), 0.4).GetMatrix()
    out = sitk.PermuteAxes(image, [1, 0, 2])
    out.SetDirection(rotation)
    out.SetOrigin((-120.5, 33.25, 812.0))
    out.SetSpacing((0.8, 1.25, 3.0))
    return out


@pytest.mark.parametrize("name", ["example_ct_sm.nii.gz", "example_ct.nii.gz", "example_seg.nii.gz"])
def test_real_nifti_reads_as_itk_reads_it(name):
    path = data_path("ct", "totalseg_nifti", name)
    assert_same_as_itk(read_stored(path), sitk.ReadImage(str(path)))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha", ".mhd", ".nii"])
@pytest.mark.parametrize("compress", [False, True])
def test_each_format_keeps_values_and_oblique_geometry(tmp_path, suffix, compress):
    image = oblique(sitk.ReadImage(str(data_path("ct", "totalseg_nifti", "example_ct_sm.nii.gz"))))
    path = tmp_path / f"ct{suffix}"
    sitk.WriteImage(image, str(path), useCompression=compress)
    assert_same_as_itk(read_stored(path), sitk.ReadImage(str(path)))


def test_a_2d_metaimage_and_nrrd_become_one_slice(tmp_path):
    picture = sitk.GetImageFromArray(np.arange(12, dtype=np.int16).reshape(3, 4))
    picture.SetSpacing((0.5, 0.25))
    for suffix in (".mha", ".nrrd"):
        sitk.WriteImage(picture, str(tmp_path / f"p{suffix}"))
        volume = read_stored(tmp_path / f"p{suffix}")
        assert volume.shape == (1, 3, 4) and volume.spacing[1:] == (0.25, 0.5)
        np.testing.assert_array_equal(volume.array[0], np.arange(12).reshape(3, 4))


def test_nearest_resampling_matches_itk_on_a_real_mask(tmp_path):
    mask_image = sitk.ReadImage(str(data_path("ct", "totalseg_nifti", "example_seg.nii.gz")))
    sitk.WriteImage(mask_image, str(tmp_path / "mask.nii.gz"))
    mask = read_stored(tmp_path / "mask.nii.gz")
    grid = sitk.Image([150, 130, 40], sitk.sitkUInt8)  # finer, shifted, slightly rotated
    grid.SetSpacing((0.9, 1.1, 2.2))
    grid.SetOrigin(np.add(mask_image.GetOrigin(), (7.3, -4.1, 2.6)).tolist())
    turn = np.asarray(sitk.VersorTransform((0, 0, 1), 0.05).GetMatrix()).reshape(3, 3)
    grid.SetDirection((np.asarray(mask_image.GetDirection()).reshape(3, 3) @ turn).ravel().tolist())
    expected = sitk.GetArrayFromImage(sitk.Resample(mask_image, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0))
    target = Volume(np.zeros(expected.shape, np.float32), spacing=grid.GetSpacing()[::-1], origin=grid.GetOrigin(),
                    direction=np.asarray(grid.GetDirection()).reshape(3, 3))
    ours = resample_nearest(mask.with_array(mask.array.astype(np.uint16)), target)
    assert expected.any() and (ours != expected).mean() < 1e-4  # rounding ties at exact half-voxels may differ


def test_the_nifti_writer_is_read_back_by_itk_with_the_same_geometry(tmp_path):
    from engine.runtime.io.nifti import write_nifti

    image = oblique(sitk.ReadImage(str(data_path("ct", "totalseg_nifti", "example_ct_sm.nii.gz"))))
    sitk.WriteImage(image, str(tmp_path / "source.nii.gz"))
    volume = read_stored(tmp_path / "source.nii.gz")
    write_nifti(tmp_path / "copy.nii.gz", volume.array.astype(np.int16), volume)
    assert_same_as_itk(volume, sitk.ReadImage(str(tmp_path / "copy.nii.gz")))


def test_damaged_files_get_a_specific_error(tmp_path):
    from engine.runtime.errors import InputError

    (tmp_path / "bad.nii.gz").write_bytes(b"\x1f\x8bnot really gzip")
    (tmp_path / "bad.mha").write_text("NDims = 3\nDimSize = 4 4 4\nElementType = MET_SHORT\nElementDataFile = LOCAL\n\x00\x01")
    (tmp_path / "bad.nrrd").write_text("NRRD0004\ntype: nonsense\n")
    for name, message in (("bad.nii.gz", "not a readable NIfTI"), ("bad.mha", "truncated"), ("bad.nrrd", "not a readable NRRD")):
        with pytest.raises(InputError, match=message):
            read_stored(tmp_path / name)


def test_a_study_has_one_fingerprint_in_every_format_and_a_changed_voxel_changes_it(tmp_path):
    """The training-set check: the sample CT series and its NIfTI copy are one study; one HU more is another."""
    from engine.runtime.card import ModelCard
    from engine.runtime.io import find_images, read_image_file
    from engine.runtime.io.nifti import write_nifti
    from tests.cards import segmentation_card

    series = find_images(data_path("ct", "totalseg_abd_dicom"))[0].load()
    write_nifti(tmp_path / "copy.nii.gz", np.round(series.array).astype(np.int16), series)
    copy = read_image_file(tmp_path / "copy.nii.gz")
    assert copy.fingerprint == series.fingerprint and copy.fingerprint.startswith("sha256:")
    changed = series.array.copy()
    changed[7, 100, 100] += 1
    assert series.with_array(changed).fingerprint != series.fingerprint
    card = ModelCard.from_dict({**segmentation_card("unet_small").to_dict(), "training": {"studies": {"liver_1": series.fingerprint}}})
    assert card.training_study(copy.fingerprint) == "liver_1" and card.training_study("sha256:0") is None
    assert card.study_role(copy.fingerprint) == ("training", "liver_1")
    held_out = ModelCard.from_dict({**card.to_dict(), "training": {"held_out_studies": {"liver_1": series.fingerprint}}})
    assert held_out.study_role(copy.fingerprint) == ("held-out", "liver_1") and held_out.training_study(copy.fingerprint) is None
    assert held_out.study_role("sha256:0") == ("unseen", None)
