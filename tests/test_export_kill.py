"""Kill -9 at every step of an export: the previous export stays intact or the new one is complete, never a mix."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.runtime.energy import EnergyMeasurement
from engine.runtime.inference import Segmentation
from engine.runtime.io import find_images
from tests.conftest import data_path
from viewer.model.review_export import ExportRequest, export_study
from viewer.model.export_folder import is_complete, leftovers, read_manifest, recover
from viewer.model.study import SegmentationResult, Study

ROOT = Path(__file__).resolve().parents[1]
MODEL = {"name": "m", "version": "1", "sha256": "0" * 64}


def old_export(series: Path, target: Path) -> dict:
    """A previous, complete export (review note "old", HTML report, no SEG) and its manifest."""
    volume = find_images(series)[0].load()
    study = Study(volume)
    mask = volume.array > 300
    study.set_segmentation(SegmentationResult(Segmentation(mask, mask.astype(np.float32), EnergyMeasurement(1, 1, 1, "x")), MODEL))
    study.set_note("old")
    export_study(study, ExportRequest(target, dicom_seg=False, report_pdf=False), None)
    return read_manifest(target)


def run_child(series: Path, target: Path, step: int, mode: str) -> str:
    command = [sys.executable, str(ROOT / "tests" / "export_child.py"), str(series), str(target), str(step), mode]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}) as child:
        line = child.stdout.readline()
        if line.startswith("AT "):
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=120)
        errors = child.stderr.read()
    assert line.startswith(("AT ", "DONE ")), errors[-3000:]
    return line.strip()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["exchange", "renames"])
def test_a_kill_at_any_step_leaves_the_old_export_or_the_new_one_whole(tmp_path, mode):
    series = data_path("ct", "totalseg_abd_dicom")
    seen = []
    for step in range(40):
        target = tmp_path / f"step{step}" / "export"
        target.parent.mkdir()
        old = old_export(series, target)
        line = run_child(series, target, step, mode)
        if line.startswith("DONE"):
            break
        seen.append(line[3:])
        if target.exists():
            assert is_complete(target), line
            note = json.loads((target / "review.json").read_text())["note"]
            if note == "old":
                assert read_manifest(target) == old, line  # the previous export exactly, no new file mixed in
            else:
                assert note == "new" and (target / "liver_seg.dcm").is_file(), line
        recover(target)  # what the next export to this folder does first
        assert target.exists() and is_complete(target), line
        assert leftovers(target) == [], line
    else:
        pytest.fail("the export never finished")
    assert step >= 6 and any("exchange" in s or "rename" in s for s in seen), seen
    assert json.loads((target / "review.json").read_text())["note"] == "new" and is_complete(target)
