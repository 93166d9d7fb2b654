"""Static int8 for the SaDNN graphs (fused and portable): QDQ on the projection MatMuls only, 7-bit weights.

ONNX Runtime's calibrator cannot run a graph with custom operators, so the activation ranges are
measured here (the fused graph with its projection inputs as extra outputs, over real images) and
handed to ONNX Runtime's own QDQ quantiser. Weights are int8 symmetric per output channel in 7 bits
(``reduce_range``): without VNNI, MLAS's u8s8 kernel saturates 8-bit weights (the prototype measured
an int8-vs-fp32 error of 9.3e-3 with 8 bits against 1.2e-3 with 7, at the same speed). The attention
core (q . k, softmax, a . v) stays in float inside the operator.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.modelling.onnx_export import _quiet


def projection_nodes(model) -> list:
    """The MatMul nodes that project a block's input (their weight is a ``projection_*`` initializer)."""
    return [node for node in model.graph.node if node.op_type == "MatMul" and node.input[1].startswith("projection")]


def uses_operators(model) -> bool:
    """Whether the graph has ai.sadnn nodes (the portable graph has none and runs without the library)."""
    from engine.runtime.operators import DOMAIN

    return any(node.domain == DOMAIN for node in model.graph.node)


def activation_ranges(model, calibration: Sequence[np.ndarray]) -> dict[str, tuple[float, float]]:
    """Min and max of every projection input over ``calibration`` batches (N, C, H, W)."""
    import onnx
    from onnx import TensorProto, helper

    from engine.runtime.inference import OnnxModel

    names = sorted({node.input[0] for node in projection_nodes(model)})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in names)
    session = OnnxModel(probe.SerializeToString(), sadnn_ops=uses_operators(model))
    low, high = {n: np.inf for n in names}, {n: -np.inf for n in names}
    for batch in calibration:
        for name, value in zip(names, session.session.run(names, {session.input_name: batch.astype(np.float32)})):
            low[name], high[name] = min(low[name], float(value.min())), max(high[name], float(value.max()))
    if not calibration:
        raise ValueError("int8 calibration needs at least one batch of real images")
    return {name: (low[name], high[name]) for name in names}


def quantise_fused_int8(model, calibration: Sequence[np.ndarray], weight_bits: int = 7):
    """The int8 QDQ copy of a fused or portable graph, calibrated on ``calibration``, and the recipe used.

    ``weight_bits`` 8 exists to show why 7 is the default: without VNNI it saturates (tests/test_avx2_proxy.py)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantType
    from onnxruntime.quantization.calibrate import TensorsData
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer

    if weight_bits not in (7, 8):
        raise ValueError(f"weights are 7 or 8 bits, not {weight_bits}")
    ranges = activation_ranges(model, calibration)
    tensors = TensorsData(CalibrationMethod.MinMax, {n: (np.float32(lo), np.float32(hi)) for n, (lo, hi) in ranges.items()})
    options = {"ActivationSymmetric": False, "WeightSymmetric": True, "OpTypesToExcludeOutputQuantization": ["MatMul"]}
    with _quiet():
        quantiser = QDQQuantizer(onnx.shape_inference.infer_shapes(model), True, weight_bits == 7, QuantType.QInt8, QuantType.QUInt8,
                                 tensors, [node.name for node in projection_nodes(model)], [], ["MatMul"], options)
        quantiser.quantize_model()
    recipe = {
        "runtime": "onnxruntime + ai.sadnn operators" if uses_operators(model) else "onnxruntime (standard operators only)",
        "format": "QDQ",
        "activations": "uint8, asymmetric, per tensor, min/max over the calibration images; projection inputs only",
        "weights": "int8 symmetric per output channel, " + ("7-bit range (reduce_range: no saturation without VNNI)"
                                                             if weight_bits == 7 else "8-bit range"),
        "int8_ops": ["MatMul (projections)"],
        "float_ops": "attention core (q.k, softmax, a.v, bias, ReLU), pooling, unpooling, classifier",
        "calibration_images": int(sum(len(batch) for batch in calibration)),
    }
    return quantiser.model.model, recipe
