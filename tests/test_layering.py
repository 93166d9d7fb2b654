"""The architecture's direction holds: engine's runtime part and the viewer run without torch."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import data_path

ROOT = Path(__file__).resolve().parents[1]
BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'onnx', 'onnxscript', 'PySide6', 'pyqtgraph', 'training', 'SimpleITK'}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
"""


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], cwd=ROOT, capture_output=True, text=True)


def test_every_runtime_module_imports_without_torch_qt_or_training():
    code = ("import importlib, pkgutil, engine.runtime\n"
            "names = [m.name for m in pkgutil.walk_packages(engine.runtime.__path__, 'engine.runtime.') if not m.name.endswith('sadnn_ops')]  # the .so is the operator library, not a module\n"
            "[importlib.import_module(n) for n in names]\nprint(len(names))")
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 25  # the whole runtime, io readers and operators included


def test_runtime_loads_and_runs_a_bundle_without_torch(cls_bundle, chest_xrays):
    code = (
        f"from engine.runtime.bundle import load_bundle\nfrom engine.runtime.inference import Classifier\nimport numpy as np\n"
        f"r = Classifier(load_bundle({str(cls_bundle.path)!r})).predict(np.arange(4096, dtype=np.uint8).reshape(64, 64))\n"
        "print(len(r.probabilities))"
    )
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "14"


def test_the_blocker_itself_works():
    assert run_blocked("import engine.modelling.models").returncode != 0


def test_import_linter_contracts_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_viewer_state_works_with_qt_and_torch_absent():
    """Like napari's models: the study, its reading state and comparisons run headless, without Qt
    (and images and masks are read and written without SimpleITK, which the installer leaves out)."""
    code = f"""
from engine.runtime.io import find_images, read_mask
from viewer.model.study import Study
study = Study(find_images({str(ROOT.parent / 'shared' / 'data' / 'ct' / 'totalseg_abd_dicom')!r})[0].load())
study.step(0, 3); study.apply_preset('Liver')
study.set_reference(read_mask({str(ROOT.parent / 'shared' / 'data' / 'ct' / 'totalseg_nifti' / 'example_seg_dicom.nii.gz')!r}, study.volume) == 5)
import tempfile, pathlib
from engine.runtime.io.writers import write_nifti_mask
out = pathlib.Path(tempfile.mkdtemp()) / 'liver.nii.gz'
write_nifti_mask(study.volume, study.reference, out)
assert (read_mask(out, study.volume) == 1).sum() == study.reference.sum()
print(study.cursor[0], study.window.label(), int(study.reference.sum()))
"""
    data_path("ct", "totalseg_abd_dicom")
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["13", "W", "150", "/", "L", "90", "366708"]


def test_the_window_s_parts_never_import_the_window():
    """Controllers and panels talk to the window through the study and signals, not by importing it (no circle)."""
    import ast

    importers = []
    for path in sorted((ROOT / "viewer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.startswith("viewer.qt.main_window") for name in names):
                importers.append(path.relative_to(ROOT).as_posix())
    assert importers == ["viewer/app.py"]
