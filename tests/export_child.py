"""An exporting process for the kill -9 test: it stops at one step of the export and waits to be killed.

Usage: python tests/export_child.py DICOM_FOLDER TARGET STEP MODE   (MODE: exchange | renames)

Every file write, the manifest, each rename or exchange and each removal is a step. At step number
STEP the process prints ``AT <step>`` and sleeps until killed; with fewer steps it prints ``DONE``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import viewer.model.review_export as export  # noqa: E402
import viewer.model.export_folder as export_folder  # noqa: E402

steps: list[str] = []


def checkpoint(label: str) -> None:
    steps.append(label)
    if len(steps) - 1 == STOP_AT:
        print(f"AT {label}", flush=True)
        while True:
            time.sleep(1)


def after(label: str, function):
    def wrapped(*args, **kwargs):
        result = function(*args, **kwargs)
        named = next((Path(a).name for a in args if isinstance(a, (str, Path))), "")
        checkpoint(f"after {label} {named}".strip())
        return result
    return wrapped


def around(label: str, function):
    def wrapped(*args, **kwargs):
        checkpoint(f"before {label}")
        result = function(*args, **kwargs)
        checkpoint(f"after {label}")
        return result
    return wrapped


class OsWithCheckpoints:
    """``os`` as export_folder sees it, with a checkpoint around every rename."""

    def __getattr__(self, name):
        return getattr(os, name)

    rename = staticmethod(around("rename", os.rename))


def main(series: str, target: str, mode: str) -> None:
    from engine.runtime.energy import EnergyMeasurement
    from engine.runtime.inference import Segmentation
    from engine.runtime.io import find_images
    from viewer.model.study import SegmentationResult, Study

    volume = find_images(Path(series))[0].load()
    study = Study(volume)
    mask = volume.array > 100
    study.set_segmentation(SegmentationResult(Segmentation(mask, mask.astype("float32"), EnergyMeasurement(1, 1, 1, "x")),
                                              {"name": "m", "version": "1", "sha256": "0" * 64}))
    study.set_note("new")
    for name in ("write_nifti_mask", "write_dicom_seg"):
        setattr(export, name, after(name, getattr(export, name)))
    export_folder.ExportFolder.write_bytes = after("write", export_folder.ExportFolder.write_bytes)
    export_folder._write_synced = after("manifest", export_folder._write_synced)
    export_folder.os = OsWithCheckpoints()
    export_folder.shutil.rmtree = around("remove", export_folder.shutil.rmtree)
    exchange = export_folder._exchange
    export_folder._exchange = around("exchange", exchange if mode == "exchange" else lambda *_: False)
    export.export_study(study, export.ExportRequest(Path(target), report_pdf=False, overwrite=True), None)
    print("DONE " + " | ".join(steps), flush=True)


if __name__ == "__main__":
    STOP_AT = int(sys.argv[3])
    main(sys.argv[1], sys.argv[2], sys.argv[4])
