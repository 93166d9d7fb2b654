"""int8 against fp32 on the clinic PC's instruction set, and against the same int8 graph run natively.

The proxy is QEMU user mode emulating a Haswell (AVX2 + FMA, no AVX-512, no VNNI): numpy, ONNX Runtime's
MLAS and our operator library all read that CPUID and take their AVX2 paths, as on the clinic PC. (The
prototype's CPUID-faulting shim cannot hide AVX-512 on AMD CPUs or in most VMs; QEMU can, at ~100x the
time, so the slice here is small.) Without VNNI, MLAS's u8s8 kernel saturates 8-bit weights; with the
7-bit weights the int8 graph must give the same answer on both instruction sets.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import OPERATORS_RAN

QEMU = shutil.which("qemu-x86_64")
pytestmark = pytest.mark.skipif(QEMU is None, reason="the AVX2-only proxy needs qemu-user (apt-get install qemu-user)")
ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys
import numpy as np
from numpy._core._multiarray_umath import __cpu_features__ as cpu
from engine.runtime import operators
from engine.runtime.inference import OnnxModel
folder, run = sys.argv[1], sys.argv[2]
x = np.load(folder + "/x.npy")
for precision in ("fp32", "int8", "int8_8bit"):
    np.save(f"{folder}/{precision}_{run}.npy", OnnxModel(f"{folder}/{precision}.onnx", threads=2, sadnn_ops=True)(x))
print(json.dumps({"avx512": bool(cpu.get("AVX512F")), "vnni": bool(cpu.get("AVX512VNNI")),
                  "operators": operators.status().reason}))
"""


BLOCKS_CHILD = """
import sys
import numpy as np
from engine.runtime.inference import OnnxModel
folder, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    np.save(f"{folder}/out_{i}.npy", OnnxModel(f"{folder}/block_{i}.onnx", threads=2, sadnn_ops=True)(np.load(f"{folder}/x_{i}.npy")))
print("{}")
"""


def run(folder: Path, name: str, proxy: bool, child: str = CHILD) -> dict:
    command = ([QEMU, "-cpu", "Haswell"] if proxy else []) + [sys.executable, "-c", child, str(folder), name]
    child = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert child.returncode == 0, child.stderr[-2000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def test_int8_agrees_with_fp32_natively_and_on_avx2_only(ct_volume, tmp_path):
    from engine.modelling.fused_graph import fused_sadnn_seg
    from engine.modelling.fused_quantize import quantise_fused_int8
    from engine.modelling.models import create_model
    from engine.runtime.preprocess import prepare_ct_slices
    from tests.cards import segmentation_card
    from tests.conftest import centred

    contract = segmentation_card("sadnn_seg").input
    slices = [prepare_ct_slices(ct_volume[z : z + 1], contract) for z in (4, 10, 16, 22)]
    torch.manual_seed(0)
    model = centred(create_model("sadnn_seg").eval(), slices[2])
    fp32 = fused_sadnn_seg(model, None)
    for name, graph in (("fp32", fp32), ("int8", quantise_fused_int8(fp32, slices[:3])[0]),
                        ("int8_8bit", quantise_fused_int8(fp32, slices[:3], weight_bits=8)[0])):
        (tmp_path / f"{name}.onnx").write_bytes(graph.SerializeToString())
    np.save(tmp_path / "x.npy", slices[3][:, :, 80:176, 80:176])  # held out from calibration; 96 px: QEMU is slow

    native, proxy = run(tmp_path, "native", False), run(tmp_path, "proxy", True)
    assert proxy == {"avx512": False, "vnni": False, "operators": OPERATORS_RAN}
    assert native["operators"] == OPERATORS_RAN
    outputs = {f"{precision}_{machine}": np.load(tmp_path / f"{precision}_{machine}.npy")
               for precision in ("fp32", "int8", "int8_8bit") for machine in ("native", "proxy")}
    scale = np.abs(outputs["fp32_native"]).max()
    for machine in ("native", "proxy"):
        exact, quantised = outputs[f"fp32_{machine}"], outputs[f"int8_{machine}"]
        assert np.abs(exact - quantised).max() <= 0.05 * scale, machine
        # A random model centred on the median splits the slice at its most ambiguous margin: judge the pixels
        # whose fp32 margin is not within int8's error (as in test_operators).
        margin, quantised_margin = exact[:, 1] - exact[:, 0], quantised[:, 1] - quantised[:, 0]
        clear = np.abs(margin) > 0.1 * scale
        assert clear.mean() > 0.3 and ((margin > 0) == (quantised_margin > 0))[clear].mean() >= 0.999, machine
    assert np.abs(outputs["fp32_proxy"] - outputs["fp32_native"]).max() <= 1e-4 * scale
    assert np.abs(outputs["int8_proxy"] - outputs["int8_native"]).max() <= 1e-3 * scale  # 7 bits: no saturation
    # 8-bit weights: exact with VNNI, saturated in MLAS's AVX2 u8s8 kernel (here by up to 1.2e-3 of the logit
    # scale). That they differ at all proves the proxy took the AVX2 path.
    if native["vnni"]:
        assert np.abs(outputs["int8_8bit_proxy"] - outputs["int8_8bit_native"]).max() > 0


def test_multi_head_attention_blocks_match_torch_on_avx2_only(tmp_path):
    """The operator's AVX2 kernels for 1, 4 and 8 heads (per-head channels with and without a vector tail, folded
    and not, scaled) under the proxy, against the torch layer."""
    from engine.modelling.layers.blocks import AttentionBlock
    from tests.test_operators import block_graph, trained_like

    cases = [(13, 48, 4, False), (1, 64, 8, None), (40, 64, 8, False), (24, 16, 1, False), (3, 32, 4, True)]
    expected = []
    for i, (c_in, c_out, heads, fold) in enumerate(cases):
        torch.manual_seed(i)
        block = trained_like(AttentionBlock(c_in, c_out, heads=heads, scaled=heads > 1))
        x = torch.randn(1, c_in, 5, 11)
        with torch.no_grad():
            expected.append(block(x).numpy())
        (tmp_path / f"block_{i}.onnx").write_bytes(block_graph(block, fold).SerializeToString())
        np.save(tmp_path / f"x_{i}.npy", x.numpy())
    run(tmp_path, str(len(cases)), True, BLOCKS_CHILD)
    for i, reference in enumerate(expected):
        np.testing.assert_allclose(np.load(tmp_path / f"out_{i}.npy"), reference, rtol=1e-5,
                                   atol=1e-5 * np.abs(reference).max(), err_msg=str(cases[i]))
