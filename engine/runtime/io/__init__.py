"""Medical image readers returning one Volume type (numpy, nibabel, pynrrd, pydicom; no torch, no Qt)."""

from engine.runtime.io.dicom import DicomSeries, read_dicom_file, read_dicom_series, scan_dicom
from engine.runtime.io.masks import read_mask
from engine.runtime.io.sources import ImageSource, find_images, read_image_file
from engine.runtime.io.volume import Volume

__all__ = [
    "DicomSeries",
    "ImageSource",
    "Volume",
    "find_images",
    "read_dicom_file",
    "read_dicom_series",
    "read_image_file",
    "read_mask",
    "scan_dicom",
]
