"""Hostile inputs: for each, the exact outcome — the right geometry and values against an independent
reader (SimpleITK/GDCM, pydicom), or the exact message. Nothing may be silently wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.runtime.errors import InputError
from engine.runtime.io import find_images, read_image_file
from engine.runtime.io.dicom import NotAnImage
from tests.conftest import data_path
from tests.test_io import (  # noqa: F401 - ct_series and ct_series_folder are the shared real-CT fixtures
    copy_series, ct_series, ct_series_folder, pydicom_data_file, pydicom_test_file, rewrite_positions,
)


def world_of(volume, zyx) -> np.ndarray:
    """Patient position (LPS, mm) of voxel (z, y, x) of ``volume``."""
    index_xyz = np.asarray(zyx[::-1], dtype=float)
    spacing_xyz = np.asarray(volume.spacing[::-1], dtype=float)
    return np.asarray(volume.origin) + np.asarray(volume.direction) @ (index_xyz * spacing_xyz)


def assert_matches_itk(volume, image, samples: int = 200) -> None:
    """Every sampled voxel of ``volume`` holds the value ITK finds at the same patient position."""
    import SimpleITK as sitk

    reference = sitk.GetArrayViewFromImage(image)
    rng = np.random.default_rng(0)
    corners = [(z, y, x) for z in (0, volume.shape[0] - 1) for y in (0, volume.shape[1] - 1) for x in (0, volume.shape[2] - 1)]
    picks = corners + [tuple(int(rng.integers(n)) for n in volume.shape) for _ in range(samples)]
    for zyx in picks:
        index = image.TransformPhysicalPointToIndex(tuple(world_of(volume, zyx)))
        assert volume.array[zyx] == reference[index[::-1]], f"voxel {zyx} (ITK index {index})"


def write_series(folder: Path, template: Path, slices: np.ndarray, orientation, positions, spacing) -> Path:
    """A DICOM series from a real CT header: ``slices`` (N, rows, columns) in HU at ``positions``."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir()
    base = pydicom.dcmread(template)
    series, study = generate_uid(), generate_uid()
    for n, (image, position) in enumerate(zip(slices, positions), start=1):
        ds = base.copy()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.InstanceNumber = series, study, n
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.ImagePositionPatient = [float(v) for v in position]
        ds.PixelSpacing = [float(v) for v in spacing]
        ds.Rows, ds.Columns = image.shape
        ds.RescaleIntercept, ds.RescaleSlope, ds.PixelRepresentation = -1024, 1, 0
        ds.PixelData = (image + 1024).astype(np.uint16).tobytes()
        ds.save_as(folder / f"{n:04d}.dcm", enforce_file_format=True)
    return folder


def itk_series(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


# spacing -------------------------------------------------------------------------------------------

def test_the_sample_radiograph_with_zero_pixel_spacing_is_shown_in_pixels_and_says_so():
    """RG1_J2KR.dcm (the app's own sample) stores PixelSpacing 0\\0: used as is it drew nothing."""
    volume = read_image_file(pydicom_data_file("RG1_J2KR.dcm"))
    assert volume.spacing == (1.0, 1.0, 1.0)
    assert volume.warnings == ("PixelSpacing 0.000/0.000 is not a valid size: sizes and distances are in pixels, not mm",)
    assert not volume.pixel_spacing_known
    assert volume.describe().endswith(", pixel size unknown (distances in pixels)")  # the status bar never says "mm"


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
@pytest.mark.parametrize("bad", [["0", "0"], ["-0.2", "-0.2"], ["NaN", "NaN"], ["900", "900"]])
def test_invalid_pixel_spacing_on_a_cr_falls_back_to_the_imager_spacing(bad, tmp_path):
    import pydicom

    ds = pydicom.dcmread(pydicom_data_file("RG1_UNCR.dcm"))
    ds.PixelSpacing, ds.ImagerPixelSpacing = bad, ["0.143", "0.143"]
    ds.save_as(tmp_path / "cr.dcm")
    volume = read_image_file(tmp_path / "cr.dcm")
    assert volume.spacing[1:] == pytest.approx((0.143, 0.143))
    assert volume.warnings == (f"PixelSpacing {'/'.join(bad)} is not a valid size: using ImagerPixelSpacing (at the "
                               "detector, not corrected for magnification)",)


# radiographs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vlut_04.dcm", "mlut_18.dcm"])
def test_a_radiograph_is_shown_through_its_modality_and_voi_lut(name, tmp_path):
    """Real LUT test files (pydicom-data), declared DX: the pixels are what pydicom's LUT functions give."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(pydicom_data_file(name))
    ds.Modality = "DX"
    ds.save_as(tmp_path / name)
    expected = apply_modality_lut(ds.pixel_array, ds)
    if "VOILUTSequence" in ds:
        expected = apply_voi_lut(expected, ds)
    volume = read_image_file(tmp_path / name)
    assert volume.is_radiograph
    np.testing.assert_allclose(volume.array[0], expected, rtol=1e-6)
    if "VOILUTSequence" in ds:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        assert volume.window == ((2**bits - 1) / 2, 2**bits - 1)  # the display shows the VOI output as a whole


def test_a_monochrome1_radiograph_is_inverted_within_its_voi_range():
    """RG1 is MONOCHROME1 with window 15000/30000 over 15 bits: dark bone in the file, bright on screen."""
    import pydicom
    from pydicom.pixels import apply_voi_lut

    ds = pydicom.dcmread(pydicom_data_file("RG1_UNCR.dcm"))
    volume = read_image_file(pydicom_data_file("RG1_UNCR.dcm"))
    np.testing.assert_allclose(volume.array[0], 32767 - apply_voi_lut(ds.pixel_array.astype(float), ds), rtol=1e-6)


def test_patient_orientation_of_a_radiograph_gives_its_direction_and_the_pixels_stay_as_stored():
    """RG3 is an AP film stored R\\F: its lead markers must not be mirrored, so nothing is flipped."""
    import pydicom
    from pydicom.pixels import apply_voi_lut

    volume = read_image_file(pydicom_data_file("RG3_UNCR.dcm"))
    ds = pydicom.dcmread(pydicom_data_file("RG3_UNCR.dcm"))
    np.testing.assert_allclose(volume.array[0], 1023 - apply_voi_lut(ds.pixel_array, ds), rtol=1e-6)  # 10 bits, MONOCHROME1
    np.testing.assert_allclose(volume.direction[:, 0], [-1, 0, 0])  # columns run to the patient's right
    np.testing.assert_allclose(volume.direction[:, 1], [0, 0, -1])  # rows run to the feet
    assert volume.metadata["PatientOrientation"] == "R\\F" and volume.stored_plane == "projection"


# enhanced multi-frame --------------------------------------------------------------------------------

def test_enhanced_ct_is_read_through_its_functional_groups_as_itk_reads_it():
    import SimpleITK as sitk

    path = pydicom_data_file("eCT_Supplemental.dcm")
    volume = read_image_file(path)
    assert volume.modality == "CT" and volume.shape == (2, 512, 512)
    assert volume.spacing == pytest.approx((10.0, 0.388672, 0.388672))
    assert volume.array.min() == -1024  # rescale intercept -1024 from the Pixel Value Transformation group
    assert volume.window == (49.0, 102.0) and volume.metadata["AnatomicRegion"] == "Brain"
    assert_matches_itk(volume, sitk.ReadImage(str(path)))


def test_an_enhanced_image_without_functional_groups_is_refused():
    with pytest.raises(InputError, match="^emri_small.dcm is an Enhanced MR Image Storage without functional groups: "
                                         "where its frames lie is unknown, so it is not shown rather than shown wrongly$"):
        read_image_file(pydicom_data_file("emri_small.dcm"))


# orientation ---------------------------------------------------------------------------------------

def test_a_sagittal_series_is_reformatted_onto_the_patient_axes(ct_series, tmp_path):
    """The real CT written as 24 sagittal slices (rows run to the feet): read back, it is the axial CT again."""
    block = ct_series.array[:, 100:300, 200:224]  # (z, y, x) in canonical LPS
    dz, dy, dx = ct_series.spacing
    top = np.asarray(ct_series.origin) + np.array([200 * dx, 100 * dy, (ct_series.shape[0] - 1) * dz])
    slices = [block[::-1, :, k] for k in range(block.shape[2])]  # rows: head to feet; columns: anterior to posterior
    positions = [top + np.array([k * dx, 0, 0]) for k in range(block.shape[2])]
    folder = write_series(tmp_path / "sagittal", next(ct_folder_files()), np.stack(slices), [0, 1, 0, 0, 0, -1], positions, (dz, dy))
    volume = find_images(folder)[0].load()
    assert volume.stored_plane == "sagittal" and volume.shape == block.shape
    np.testing.assert_allclose(volume.direction, np.eye(3), atol=1e-9)
    assert volume.spacing == pytest.approx((dz, dy, dx))
    np.testing.assert_array_equal(volume.array, block)
    assert_matches_itk(volume, itk_series(folder))
    frames = volume.to_stored(volume.array)  # the way back to the files, for a DICOM SEG
    np.testing.assert_array_equal(frames, np.stack(slices))


def ct_folder_files():
    return iter(sorted(data_path("ct", "totalseg_abd_dicom").iterdir()))


def test_an_oblique_series_keeps_its_tilt_in_the_direction(ct_series, tmp_path):
    angle = np.radians(20)
    row, column = [np.cos(angle), np.sin(angle), 0], [-np.sin(angle), np.cos(angle), 0]
    slices = ct_series.array[:6, ::4, ::4]
    positions = [[0, 0, 5.0 * k] for k in range(6)]
    folder = write_series(tmp_path / "oblique", next(ct_folder_files()), slices, [*row, *column], positions, (4, 4))
    volume = find_images(folder)[0].load()
    np.testing.assert_allclose(volume.direction[:, 0], row, atol=1e-6)
    np.testing.assert_allclose(volume.direction[:, 1], column, atol=1e-6)
    assert_matches_itk(volume, itk_series(folder))


# slice placement -----------------------------------------------------------------------------------

def test_spacing_that_changes_within_a_series_is_said_and_slices_sit_at_their_true_positions(ct_series, ct_series_folder, tmp_path):
    """4 mm for the first 13 slices, then 7 mm: before, '13 slices missing' and everything drawn at 4 mm."""
    uneven = copy_series(ct_series_folder, tmp_path / "uneven")
    offsets = [4.0 * k if k < 13 else 48.0 + 7.0 * (k - 12) for k in range(20)]
    rewrite_positions(uneven, lambda i, p: [p[0], p[1], -800.0 + offsets[19 - i]])  # files are stored head first
    volume = find_images(uneven)[0].load()
    assert volume.warnings == ("slice spacing changes within the series (4.0 mm for slices 1-13, 7.0 mm for slices 13-20): "
                               "slices are shown at their true positions on a 4.0 mm grid, the slices in between interpolated",)
    assert volume.spacing[0] == 4.0 and volume.shape[0] == 25  # 97 mm long: 24 steps of 4 mm
    assert volume.file_slices == tuple(int(round(o / 4)) for o in offsets)
    for source, z in enumerate(volume.file_slices):
        np.testing.assert_array_equal(volume.array[z], ct_series.array[source])


# series splitting ----------------------------------------------------------------------------------

def edit_headers(folder: Path, change) -> None:
    import pydicom
    from pydicom.uid import generate_uid

    for i, path in enumerate(sorted(folder.iterdir())):
        ds = pydicom.dcmread(path)
        if change(i, ds) is not False:
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.save_as(path)


@pytest.mark.parametrize(("keyword", "label"), [("PatientID", "patient"), ("StudyInstanceUID", "study"),
                                                 ("FrameOfReferenceUID", "frame of reference")])
def test_one_series_uid_with_images_of_another_patient_study_or_frame_is_split(keyword, label, ct_series_folder, tmp_path):
    mixed = copy_series(ct_series_folder, tmp_path / "mixed")
    edit_headers(mixed, lambda i, ds: setattr(ds, keyword, "1.2.3.4" if i % 2 else "1.2.3.5"))
    sources = find_images(mixed)
    assert sorted(s.series.part for s in sources) == [f"{label} 1.2.3.4", f"{label} 1.2.3.5"]
    assert [len(s.series.files) for s in sources] == [10, 10]
    assert any("listed as separate series, never merged" in note for note in sources[0].series.notes)


def test_duplicate_positions_are_split_by_acquisition_or_into_stacks(ct_series_folder, tmp_path):
    twice = tmp_path / "twice"
    copy_series(ct_series_folder, twice)
    edit_headers(twice, lambda i, ds: setattr(ds, "AcquisitionNumber", 1))
    second = copy_series(ct_series_folder, tmp_path / "second", rename=lambda i, name: "b" + name)
    edit_headers(second, lambda i, ds: setattr(ds, "AcquisitionNumber", 2))
    for path in second.iterdir():
        shutil.move(path, twice / path.name)
    sources = find_images(twice)
    assert sorted(s.series.part for s in sources) == ["acquisition 1", "acquisition 2"]
    edit_headers(twice, lambda i, ds: setattr(ds, "AcquisitionNumber", 1))
    stacks = find_images(twice)
    assert sorted(s.series.part for s in stacks) == ["repeated positions: stack 1 of 2", "repeated positions: stack 2 of 2"]
    assert all(len(s.load().warnings) == 1 for s in stacks)  # the split note only: no duplicates inside a stack


# values --------------------------------------------------------------------------------------------

def test_nan_and_infinite_voxels_are_counted_and_do_not_break_the_ct_guess(tmp_path):
    import nibabel

    image = nibabel.load(str(data_path("ct", "totalseg_nifti", "example_ct_sm.nii.gz")))
    values = image.get_fdata().astype(np.float32)
    values[0, 0, :5], values[1, 1, 0] = np.nan, np.inf
    nibabel.save(nibabel.Nifti1Image(values, image.affine), str(tmp_path / "nan.nii.gz"))
    volume = read_image_file(tmp_path / "nan.nii.gz")
    assert volume.modality == "CT" and volume.nonfinite == 6
    assert volume.warnings[-1] == ("6 voxel(s) (0.0016%) are NaN or infinite: shown in magenta, left out of windows and "
                                   "measurements")


def test_a_volume_of_nothing_but_nan_is_refused(tmp_path):
    import nibabel

    nibabel.save(nibabel.Nifti1Image(np.full((8, 8, 4), np.nan, np.float32), np.eye(4)), str(tmp_path / "void.nii"))
    with pytest.raises(InputError, match="^void.nii: every voxel is NaN or infinite; there is no image to show$"):
        read_image_file(tmp_path / "void.nii")


def test_a_nifti_without_qform_or_sform_warns_that_left_and_right_are_unknown(tmp_path):
    import nibabel

    image = nibabel.Nifti1Image(np.zeros((8, 8, 4), np.int16) - 1000, None)
    image.set_qform(None, code=0)
    image.set_sform(None, code=0)
    nibabel.save(image, str(tmp_path / "bare.nii"))
    assert read_image_file(tmp_path / "bare.nii").warnings == (
        "the NIfTI file states no orientation (qform and sform codes are 0): left and right are unknown; "
        "the orientation letters are a guess",)


def test_a_4d_nifti_is_refused_with_its_shape(tmp_path):
    import nibabel

    nibabel.save(nibabel.Nifti1Image(np.zeros((8, 8, 4, 3), np.float32), np.eye(4)), str(tmp_path / "fmri.nii.gz"))
    with pytest.raises(InputError, match=r"^fmri.nii.gz is a 4D image \(shape \(8, 8, 4, 3\)\); expected 2D or 3D$"):
        read_image_file(tmp_path / "fmri.nii.gz")


# objects that are not images, and files that cannot be read ------------------------------------------

def test_a_dicom_seg_opened_as_an_image_says_what_it_is():
    with pytest.raises(NotAnImage) as caught:
        read_image_file(pydicom_test_file("liver_1frame.dcm"))
    assert str(caught.value) == ("liver_1frame.dcm is a DICOM segmentation (SEG), not an image of 1 segment(s): Liver: "
                                 "open its image series first, then load this file as the reference mask (Ctrl+R)")
    assert caught.value.modality == "SEG"


def test_an_rtstruct_without_preamble_is_named_not_shown():
    with pytest.raises(NotAnImage, match=r"^rtstruct.dcm is a DICOM RT structure set \(RTSTRUCT\), not an image "
                                         r"\(3 structure\(s\): patient, Isocenter 1, Isocenter 2\)"):
        read_image_file(pydicom_test_file("rtstruct.dcm"))


def test_unreadable_files_in_a_folder_are_named_and_counted(ct_series, ct_series_folder, tmp_path):
    folder = copy_series(ct_series_folder, tmp_path / "dirty")
    first = sorted(folder.iterdir())[0]
    (folder / "truncated.dcm").write_bytes(first.read_bytes()[:300])
    (folder / "export.bin").write_bytes(b"\x00" * 200)
    (folder / "NOTICE.txt").write_text("licence of the images")  # a document beside the images: not worth a warning
    shutil.copy(pydicom_test_file("liver_1frame.dcm"), folder / "seg.dcm")
    (source,) = find_images(folder)
    volume = source.load()
    assert volume.shape == ct_series.shape
    (note,) = volume.warnings
    assert note == ("3 file(s) in the folder were not opened: export.bin (not a DICOM file), seg.dcm (a DICOM SEG "
                           "object, not an image), truncated.dcm (a DICOM object without pixels)")


@pytest.mark.parametrize("size", [0, 131, 5000])
def test_random_bytes_with_a_dicom_suffix_are_refused(size, tmp_path):
    (tmp_path / "noise.dcm").write_bytes(np.random.default_rng(size).bytes(size))
    with pytest.raises(InputError, match="^noise.dcm is (empty|not a readable DICOM file)"):
        read_image_file(tmp_path / "noise.dcm")
