"""Writing a mask back beside its source: NIfTI on the source's own voxel grid, DICOM SEG that
references the source instances (highdicom), and de-identified copies of a DICOM series."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from engine.runtime.atomic import atomic_path, write_atomic
from engine.runtime.errors import InputError
from engine.runtime.io.deidentify import Deidentifier
from engine.runtime.io.nifti import write_nifti
from engine.runtime.io.resample import resample_nearest
from engine.runtime.io.volume_files import is_volume_file, read_stored
from engine.runtime.io.volume import Volume

SOFTWARE = "SaDNN Viewer"


def write_nifti_mask(volume: Volume, mask: np.ndarray, path: Path) -> None:
    """A uint8 NIfTI of ``mask``; for a NIfTI/NRRD/MHA source, on exactly the source file's grid
    (same size, spacing, origin and direction), else on the volume's (LPS) grid."""
    labels = volume.with_array(np.asarray(mask, dtype=np.uint8))
    source = Path(volume.source)
    if volume.source and is_volume_file(source) and source.is_file():
        stored = read_stored(source)
        labels = stored.with_array(resample_nearest(labels, stored))
    with atomic_path(Path(path)) as temporary:
        write_nifti(temporary, labels.array, labels)


def source_headers(volume: Volume) -> list:
    """The DICOM headers of the volume's slices, in slice order, with blank UIDs filled in.

    Some exports blank the SOP/Study/Series UIDs in the dataset; the file meta still names the
    instance, and stable study/series UIDs are derived from the instance UIDs so that a SEG can
    reference them. Raises InputError when the slices are not single-frame DICOM instances.
    """
    import pydicom
    from pydicom.uid import generate_uid

    frames = len(volume.file_slices) or volume.shape[volume.stored_axes[0]]
    if not volume.files or len(volume.files) != frames or frames < 2:
        raise InputError("DICOM SEG needs a DICOM series as the source image; export the mask as NIfTI instead")
    if volume.resampled:
        raise InputError("the series was resampled to undo gantry tilt, so the mask no longer lines up with the "
                         "stored slices; export the mask as NIfTI instead")
    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in volume.files]
    seed = [uid for uid in volume.instance_uids if uid]
    for header, uid in zip(headers, volume.instance_uids):
        header.SOPInstanceUID = header.get("SOPInstanceUID") or uid
        header.SOPClassUID = header.get("SOPClassUID") or header.file_meta.MediaStorageSOPClassUID
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
            if not header.get(keyword):
                setattr(header, keyword, generate_uid(entropy_srcs=[keyword, *seed]))
    return headers


def referenced_headers(volume: Volume, deidentifier: Deidentifier | None = None) -> list:
    """``source_headers``, de-identified when a deidentifier is given (its UID mapping is the same each call)."""
    headers = source_headers(volume)
    if deidentifier is not None:
        for header in headers:
            deidentifier.apply(header)
    return headers


def write_dicom_seg(volume: Volume, mask: np.ndarray, path: Path, model: dict[str, str], edited: bool,
                    headers: list | None = None) -> None:
    """A binary DICOM SEG of the liver referencing every source slice: ``headers`` (``referenced_headers``, which
    de-identifies them if asked), by default the volume's own."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    headers = source_headers(volume) if headers is None else headers
    frames = np.ascontiguousarray(volume.to_stored(np.asarray(mask, dtype=bool))).astype(np.uint8)
    algorithm = hd.AlgorithmIdentificationSequence(name=model.get("name", "unknown"), family=codes.cid7162.ArtificialIntelligence,
                                                   version=model.get("version", "unknown"))
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label="Liver", segmented_property_category=codes.SCT.Organ,
        segmented_property_type=codes.SCT.Liver,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC if edited else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
    )
    seg = hd.seg.Segmentation(
        source_images=headers, pixel_array=frames, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description], series_instance_uid=hd.UID(), series_number=9901,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=SOFTWARE, manufacturer_model_name=SOFTWARE,
        software_versions=model.get("version", "unknown"), device_serial_number="none",
        content_label="LIVER", content_description="Liver, reviewed" if edited else "Liver, model output",
        omit_empty_frames=False,
    )
    buffer = io.BytesIO()
    seg.save_as(buffer)
    write_atomic(Path(path), buffer.getvalue())


def write_deidentified_series(volume: Volume, folder: Path, deidentifier: Deidentifier,
                              headers: list | None = None) -> list[Path]:
    """De-identified copies of the source instances (the same UID mapping as the SEG, SR or report that reference
    them), with the UIDs of ``headers`` (not yet de-identified; by default ``source_headers``)."""
    import pydicom

    headers = source_headers(volume) if headers is None else headers
    written = []
    for number, (source, header) in enumerate(zip(volume.files, headers), start=1):
        dataset = pydicom.dcmread(source)
        for keyword in ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
            setattr(dataset, keyword, header.get(keyword))
        deidentifier.apply(dataset)
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        target = Path(folder) / f"{number:04d}.dcm"
        write_atomic(target, buffer.getvalue())
        written.append(target)
    return written

