"""Readers on real files: DICOM series and radiographs in several transfer syntaxes, NIfTI/NRRD/MHA, PNG."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.runtime.errors import InputError
from engine.runtime.io import find_images, read_image_file, read_mask
from tests.conftest import data_path


def pydicom_test_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file(name))


def pydicom_data_file(name: str) -> Path:
    import data_store

    return Path(data_store.__file__).parent / "data" / name


@pytest.fixture(scope="module")
def ct_series_folder() -> Path:
    return data_path("ct", "totalseg_abd_dicom")


@pytest.fixture(scope="module")
def ct_series(ct_series_folder):
    return find_images(ct_series_folder)[0].load()


def copy_series(source: Path, target: Path, rename=lambda i, name: name, skip=()) -> Path:
    target.mkdir()
    for i, path in enumerate(sorted(source.iterdir())):
        if i not in skip:
            shutil.copy(path, target / rename(i, path.name))
    return target


def test_a_dicom_series_is_read_in_hounsfield_units_along_the_slice_normal(ct_series):
    import pydicom

    assert ct_series.shape == (20, 512, 512) and ct_series.modality == "CT"
    assert ct_series.spacing == pytest.approx((2.0, 0.9765625, 0.9765625))
    assert ct_series.array.min() == -1024 and 1000 < ct_series.array.max() < 3100
    assert ct_series.window == (40.0, 300.0) and ct_series.warnings == ()
    first = pydicom.dcmread(sorted(Path(ct_series.source).iterdir())[-1])  # lowest table position
    assert ct_series.origin[2] == pytest.approx(float(first.ImagePositionPatient[2]))


def test_slices_are_ordered_by_geometry_not_file_name(ct_series, ct_series_folder, tmp_path):
    shuffled = copy_series(ct_series_folder, tmp_path / "shuffled", rename=lambda i, name: f"{(i * 7) % 20:03d}.dcm")
    again = find_images(shuffled)[0].load()
    np.testing.assert_array_equal(again.array, ct_series.array)


def test_missing_slices_are_reported_and_the_rest_placed_at_their_true_positions(ct_series, ct_series_folder, tmp_path):
    gappy = find_images(copy_series(ct_series_folder, tmp_path / "gap", skip={9, 10}))[0].load()
    assert gappy.shape[0] == 20 and gappy.spacing[0] == pytest.approx(2.0)  # 38 mm long, as the full series
    assert any("about 2 slice(s) missing" in w for w in gappy.warnings)
    present = [z for z in range(20) if z not in (9, 10)]  # the files are sorted head-first: index 19 - i is file i
    assert gappy.file_slices == tuple(present) and len(gappy.files) == 18
    np.testing.assert_array_equal(gappy.array[present], ct_series.array[present])
    expected = ct_series.array[8] + (ct_series.array[11] - ct_series.array[8]) / 3  # linear across the gap
    np.testing.assert_allclose(gappy.array[9], expected, atol=1e-3)


def rewrite_positions(folder: Path, move) -> None:
    import pydicom

    for i, path in enumerate(sorted(folder.iterdir())):
        dataset = pydicom.dcmread(path)
        position = [float(v) for v in dataset.ImagePositionPatient]
        dataset.ImagePositionPatient = move(i, position)
        dataset.save_as(path)


def test_uneven_spacing_and_gantry_tilt_are_reported(ct_series_folder, tmp_path):
    uneven = copy_series(ct_series_folder, tmp_path / "uneven")
    rewrite_positions(uneven, lambda i, p: [p[0], p[1], p[2] + (0.3 if i % 2 else 0.0)])
    assert any("slice spacing changes within the series" in w for w in find_images(uneven)[0].load().warnings)


def test_gantry_tilt_is_reported_and_the_shear_undone(ct_series, ct_series_folder, tmp_path):
    """Each slice claims to sit 0.2 mm further anterior per mm of depth: the reader moves it back."""
    tilted = copy_series(ct_series_folder, tmp_path / "tilted")
    rewrite_positions(tilted, lambda i, p: [p[0], p[1] - 0.2 * (p[2] + 804.5), p[2]])
    volume = find_images(tilted)[0].load()
    assert any("gantry tilt of 11.3 degrees" in w for w in volume.warnings)
    assert volume.shape == (20, 512, 512)
    np.testing.assert_array_equal(volume.array[0], ct_series.array[0])  # the reference slice does not move
    last = ct_series.array[19]  # 38 mm above the first slice, so 7.6 mm (7.8 rows) anterior: moved up 8 rows
    error = {rows: np.abs(volume.array[19][20:-20] - np.roll(last, rows, axis=0)[20:-20]).mean() for rows in (0, -8)}
    assert error[-8] < 10 < 50 < error[0]


def test_a_dicomdir_lists_its_series():
    sources = find_images(pydicom_test_file("dicomdirtests/DICOMDIR"))
    assert len(sources) >= 3
    assert all(source.series is not None for source in sources)
    assert {source.series.modality for source in sources} >= {"CT", "MR"}


@pytest.mark.parametrize(
    ("compressed", "uncompressed"),
    [
        ("RG1_J2KR.dcm", "RG1_UNCR.dcm"),  # JPEG 2000 lossless, real chest CR
        ("MR_small_RLE.dcm", "MR_small.dcm"),  # RLE lossless
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),  # JPEG-LS lossless
        ("JPEG-LL.dcm", "693_UNCR.dcm"),  # JPEG lossless (process 14)
        ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
    ],
)
def test_compressed_transfer_syntaxes_decode_to_the_uncompressed_pixels(compressed, uncompressed):
    find = pydicom_data_file if compressed.startswith(("RG1", "JPEG-LL")) else pydicom_test_file
    lossless = read_image_file(find(compressed)).array
    reference = read_image_file((pydicom_data_file if uncompressed.startswith(("RG1", "693")) else pydicom_test_file)(uncompressed)).array
    if compressed == "JPEG-LL.dcm":  # a different image of the same study: only check it decodes to real values
        assert lossless.std() > 0
    else:
        np.testing.assert_array_equal(lossless, reference)


def test_jpeg_baseline_decodes_close_to_the_lossless_pixels():
    lossy = read_image_file(pydicom_data_file("RG1_J2KI.dcm")).array
    exact = read_image_file(pydicom_data_file("RG1_UNCR.dcm")).array
    assert np.abs(lossy - exact).mean() < 0.02 * (exact.max() - exact.min())
    baseline = read_image_file(data_path("cxr", "nih_txv", "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"))
    assert baseline.is_radiograph and baseline.shape == (1, 1024, 1024) and baseline.array.std() > 10


def test_monochrome1_is_displayed_inverted():
    """The twin stores the same pixel values but declares that low values are bright."""
    folder = data_path("cxr", "nih_txv")
    monochrome2 = read_image_file(next(folder.glob("1.2.*.dcm"))).array
    monochrome1 = read_image_file(folder / "Fake_MONOHR1.dcm")
    assert monochrome1.is_radiograph
    np.testing.assert_array_equal(monochrome1.array, monochrome2.max() + monochrome2.min() - monochrome2)


def test_png_xray_and_nifti_ct():
    xray = read_image_file(data_path("cxr", "nih_txv", "00000001_000.png"))
    assert xray.is_radiograph and xray.shape == (1, 512, 512)
    ct = read_image_file(data_path("ct", "totalseg_nifti", "example_ct_sm.nii.gz"))
    assert ct.modality == "CT" and ct.shape[0] == 30 and ct.spacing == pytest.approx((3.0, 3.0, 3.0))


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_nrrd_and_metaimage_keep_voxels_and_geometry(suffix, tmp_path):
    import SimpleITK as sitk

    source = data_path("ct", "totalseg_nifti", "example_ct_sm.nii.gz")
    sitk.WriteImage(sitk.ReadImage(str(source)), str(tmp_path / f"ct{suffix}"))
    original, converted = read_image_file(source), read_image_file(tmp_path / f"ct{suffix}")
    np.testing.assert_array_equal(converted.array, original.array)
    assert converted.spacing == original.spacing and converted.origin == pytest.approx(original.origin)
    np.testing.assert_allclose(converted.direction, original.direction)


def test_a_nifti_reference_mask_lands_on_the_dicom_series_grid(ct_series):
    labels = read_mask(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"), ct_series)
    liver = labels == 5
    assert labels.shape == ct_series.shape and liver.sum() > 100_000

    def parenchyma(region: np.ndarray) -> float:
        """Fraction of the region with enhanced-liver HU."""
        values = ct_series.array[region]
        return float(((values > 40) & (values < 180)).mean())

    assert parenchyma(liver) > 0.95
    assert parenchyma(liver[:, ::-1]) < 0.75 and parenchyma(liver[:, :, ::-1]) < 0.75  # a flip would be caught


def test_a_mask_of_another_scan_is_refused(ct_series):
    with pytest.raises(InputError, match="does not overlap"):
        read_mask(data_path("ct", "totalseg_nifti", "example_seg.nii.gz"), ct_series)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "garbage.dcm").write_bytes(b"\x00" * 132 + b"not dicom at all" * 10), "not a readable DICOM"),
        (lambda d: (d / "empty.nii.gz").write_bytes(b""), "is empty"),
        (lambda d: (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken"), "not a readable picture"),
        (lambda d: (d / "notes.txt").write_text("hello"), "unsupported file type"),
        (lambda d: (d / "scan.nii.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 40), "not a readable NIfTI"),
    ],
)
def test_bad_files_get_a_specific_message(tmp_path, make, message):
    make(tmp_path)
    (path,) = tmp_path.iterdir()
    with pytest.raises(InputError, match=message):
        read_image_file(path)


def test_a_truncated_dicom_file_gets_a_specific_message(tmp_path):
    source = pydicom_data_file("RG1_UNCR.dcm")
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated|cannot decode|not a readable"):
        read_image_file(truncated)


def test_non_images_and_empty_folders_are_refused(tmp_path):
    with pytest.raises(InputError, match="^rtplan.dcm is a DICOM RT plan, not an image$"):
        read_image_file(pydicom_test_file("rtplan.dcm"))
    with pytest.raises(InputError, match="colour image"):
        read_image_file(pydicom_test_file("SC_rgb_rle.dcm"))
    with pytest.raises(InputError, match="no DICOM series or image files"):
        find_images(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        find_images(tmp_path / "nowhere")


def test_readers_return_one_orientation_whatever_the_file_stored(tmp_path):
    """A NIfTI stored right-to-left and feet-first opens the same way round as its LPS twin."""
    import SimpleITK as sitk

    source = sitk.ReadImage(str(data_path("ct", "totalseg_nifti", "example_ct_sm.nii.gz")))
    flipped = sitk.Flip(source, [True, False, True])  # same anatomy, stored with reversed X and Z axes
    sitk.WriteImage(flipped, str(tmp_path / "flipped.nii.gz"))
    original, reread = read_image_file(data_path("ct", "totalseg_nifti", "example_ct_sm.nii.gz")), read_image_file(tmp_path / "flipped.nii.gz")
    np.testing.assert_array_equal(reread.array, original.array)
    assert reread.origin == pytest.approx(original.origin)
    np.testing.assert_allclose(reread.direction, original.direction)
    assert (np.diag(original.direction) > 0).all()


def test_a_dicom_seg_reference_lands_on_its_source_slices(ct_series, ct_series_folder, tmp_path):
    """A DICOM SEG written with highdicom over a copy of the real series (given UIDs) reads back voxel for voxel."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes
    from pydicom.uid import CTImageStorage, generate_uid

    folder = copy_series(ct_series_folder, tmp_path / "series")
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for path in sorted(folder.iterdir()):
        dataset = pydicom.dcmread(path)
        dataset.SOPClassUID, dataset.SOPInstanceUID = CTImageStorage, generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.FrameOfReferenceUID = study, series, frame
        dataset.PatientID, dataset.PatientName = "TEST01", "Test^Patient"
        dataset.save_as(path)
    volume = find_images(folder)[0].load()
    liver = read_mask(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"), volume) == 5
    sources = {str(ds.SOPInstanceUID): ds for ds in (pydicom.dcmread(p, stop_before_pixels=True) for p in folder.iterdir())}
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label="liver", segmented_property_category=codes.SCT.Organ,
        segmented_property_type=codes.SCT.Liver, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=[sources[uid] for uid in volume.instance_uids], pixel_array=liver,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=[description],
        series_instance_uid=hd.UID(), series_number=99, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="tests", manufacturer_model_name="tests", software_versions="0", device_serial_number="0",
    )
    seg.save_as(tmp_path / "liver_seg.dcm")
    labels = read_mask(tmp_path / "liver_seg.dcm", volume)
    np.testing.assert_array_equal(labels == 1, liver)
    from engine.runtime.io.mask_labels import label_names

    assert label_names(tmp_path / "liver_seg.dcm", [1]).names == {1: "liver"}
    with pytest.raises(InputError, match="is a DICOM CT, not a segmentation"):
        read_mask(sorted(folder.iterdir())[0], volume)


def test_reference_labels_are_named_from_the_file_or_a_known_atlas(tmp_path):
    import nrrd
    import SimpleITK as sitk

    from engine.runtime.io.mask_labels import label_names

    totalseg = data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz")
    present = [int(v) for v in np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(totalseg)))) if v]
    guessed = label_names(totalseg, present)
    assert guessed.liver(present) == 5 and guessed.describe(5) == "5: liver" and guessed.describe(117) == "117"
    assert "TotalSegmentator" in guessed.source and "check" in guessed.source
    assert label_names(totalseg, [1, 2]).names == {}  # two labels: no atlas is assumed

    task = tmp_path / "Task03_Liver"
    (task / "labelsTr").mkdir(parents=True)
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 4, 4), np.uint8)), str(task / "labelsTr" / "liver_7.nii.gz"))
    (task / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "liver", "2": "cancer"}}))
    msd = label_names(task / "labelsTr" / "liver_7.nii.gz", [1, 2])
    assert msd.names == {1: "liver", 2: "cancer"} and msd.liver([1, 2]) == 1 and "dataset.json" in msd.source
    (task / "dataset.json").write_text(json.dumps({"labels": "liver"}))  # malformed: no names, no crash
    assert label_names(task / "labelsTr" / "liver_7.nii.gz", [1, 2]) == type(msd)()

    slicer = tmp_path / "Segmentation.seg.nrrd"
    header = {"Segment0_Name": "Tumour", "Segment0_LabelValue": "4", "Segment1_Name": "Liver", "Segment1_LabelValue": "3"}
    nrrd.write(str(slicer), np.zeros((4, 4, 2), np.uint8), header)
    named = label_names(slicer, [3, 4])
    assert named.names == {3: "Liver", 4: "Tumour"} and named.liver([3, 4]) == 3
    nrrd.write(str(slicer), np.zeros((4, 4, 2), np.uint8), {"Segment0_Name": "Liver", "Segment0_LabelValue": "three"})
    assert label_names(slicer, [3]).names == {}


def test_instance_numbers_follow_the_slices_through_reorientation():
    from engine.runtime.io import Volume

    array = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)
    feet_first = Volume(array, spacing=(2.0, 1.0, 1.0), direction=np.diag([1.0, 1.0, -1.0]), modality="CT",
                        instance_numbers=(7, 8, 9), files=("a", "b", "c")).canonical()
    assert [feet_first.instance_number(z) for z in range(3)] == [9, 8, 7]  # now head-most last
    np.testing.assert_allclose(feet_first.world(2, 0, 0), [0, 0, 0])  # the first file is the head-most slice
    assert feet_first.world(0, 1, 1).tolist() == [1.0, 1.0, -4.0]
    gaps = Volume(np.zeros((4, 2, 2), np.float32), modality="CT", instance_numbers=(1, 2, 3), file_slices=(0, 1, 3))
    assert [gaps.instance_number(z) for z in range(4)] == [1, 2, None, 3]  # slice 2 was interpolated
    sagittal = Volume(np.zeros((3, 2, 2), np.float32), modality="CT", instance_numbers=(1, 2, 3), stored_axes=(2, 1, 0))
    assert sagittal.instance_number(0) is None  # an axial slice of a sagittal series is no file


def test_a_series_with_a_malformed_or_missing_instance_number_still_opens_and_names_those_slices_by_position(
        ct_series_folder, tmp_path):
    import pydicom

    folder = copy_series(ct_series_folder, tmp_path / "series")
    files = sorted(folder.iterdir())
    numbers = {}
    for index, path in enumerate(files):
        dataset = pydicom.dcmread(path)
        if index == 0:
            del dataset.InstanceNumber
        elif index == 1:
            dataset[0x00200013] = pydicom.dataelem.RawDataElement(
                pydicom.tag.Tag(0x00200013), "IS", 4, b"abc ", 0, False, True)  # not a number
        dataset.save_as(path)
        numbers[float(dataset.ImagePositionPatient[2])] = None if index < 2 else int(dataset.InstanceNumber)
    with pytest.warns(UserWarning, match="Invalid value for VR IS"):
        volume = find_images(folder)[0].load()
    expected = [numbers[float(volume.world(z, 0, 0)[2])] for z in range(volume.shape[0])]
    assert [volume.instance_number(z) for z in range(volume.shape[0])] == expected
    assert expected.count(None) == 2
