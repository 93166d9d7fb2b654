"""The architecture's direction holds: engine's runtime part and the viewer run without torch."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'onnx', 'onnxscript', 'PySide6', 'pyqtgraph', 'training'}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
"""


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], cwd=ROOT, capture_output=True, text=True)


def test_runtime_imports_without_torch_qt_or_training():
    result = run_blocked("import engine.bundle, engine.card, engine.inference, engine.energy, engine.preprocess, engine.labels")
    assert result.returncode == 0, result.stderr


def test_runtime_loads_and_runs_a_bundle_without_torch(cls_bundle, chest_xrays):
    code = (
        f"from engine.bundle import load_bundle\nfrom engine.inference import Classifier\nimport numpy as np\n"
        f"r = Classifier(load_bundle({str(cls_bundle.path)!r})).predict(np.arange(4096, dtype=np.uint8).reshape(64, 64))\n"
        "print(len(r.probabilities))"
    )
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "14"


def test_the_blocker_itself_works():
    assert run_blocked("import engine.models").returncode != 0


def test_import_linter_contracts_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
