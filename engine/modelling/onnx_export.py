"""Export to ONNX and ONNX Runtime static int8 (QDQ) quantisation with real calibration data."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from engine.runtime.bundle import FUSED_FILES, MODEL_FILES, WEIGHTS, Bundle, seal_bundle
from engine.runtime.errors import BundleError
from engine.runtime.card import ModelCard
from engine.runtime.signing import SigningKey

INPUT_NAME = "input"
OUTPUT_NAME = "output"
OPSET = 18

# Ops that run in int8: convolutions, FC layers and the 1x1 q/k/v projections (MatMul with a
# weight). The attention math (q.k, softmax, a.v: MatMul of two activations) stays in float,
# as in the paper.
INT8_OP_TYPES = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def export_onnx(model: nn.Module, input_shape: Sequence[int], path: str | Path) -> Path:
    """Export ``model`` in eval mode for a fixed ``input_shape`` (batch size dynamic) to ``path``."""
    path = Path(path)
    model = model.eval()
    example = torch.zeros(2, *input_shape[1:])  # batch 2: torch.export specialises a batch of 1
    batch = torch.export.Dim("batch", min=1, max=64)
    with _quiet(), torch.no_grad():
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},),
            opset_version=OPSET,
            external_data=False,
            verbose=False,
            optimize=False,
        )
    program.save(str(path), external_data=False)
    return path


class _ArrayReader:
    """ONNX Runtime calibration reader over an iterable of (N, C, H, W) float32 batches."""

    def __init__(self, batches: Iterable[np.ndarray]):
        self._batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}

    def rewind(self) -> None:  # pragma: no cover - ORT calls it only for some calibration methods
        raise NotImplementedError("calibration batches are read once")


def quantise_onnx_int8(
    fp32_path: str | Path,
    int8_path: str | Path,
    calibration: Iterable[np.ndarray],
    per_channel: bool = True,
) -> dict:
    """Statically quantise an fp32 ONNX model to int8 QDQ and return the recipe used.

    Activations are uint8 (asymmetric, min/max over ``calibration``), weights int8 symmetric,
    per output channel: the fast U8S8 path of ONNX Runtime's x86 kernels.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    prepared = int8_path.with_suffix(".prep.onnx")
    try:
        with _quiet():
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(int8_path),
                _ArrayReader(calibration),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(INT8_OP_TYPES),
                nodes_to_quantize=_weighted_nodes(prepared),
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                # The q/k/v projections (MatMul) feed fp32 attention: re-quantising their output to one uint8
                # scale shared by q, k and v moved trained SaDNN-cls probabilities by up to 0.56. Conv and
                # Gemm outputs stay int8 so that conv chains run int8 end to end.
                extra_options={"OpTypesToExcludeOutputQuantization": ["MatMul"]},
            )
    finally:
        prepared.unlink(missing_ok=True)
    return {
        "runtime": "onnxruntime",
        "format": "QDQ",
        "activations": "uint8, asymmetric, per tensor, min/max calibration; attention q/k/v projection outputs stay fp32",
        "weights": "int8, symmetric, " + ("per channel" if per_channel else "per tensor"),
        "int8_ops": list(INT8_OP_TYPES),
        "float_ops": "attention q.k, softmax, a.v, batch norm, pooling, unpooling",
    }


def _weighted_nodes(path: Path) -> list[str]:
    """Names of the INT8_OP_TYPES nodes that multiply by a stored weight (not two activations)."""
    import onnx

    graph = onnx.load(str(path)).graph
    weights = {init.name for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type in INT8_OP_TYPES and any(name in weights for name in node.input[1:2])
    ]


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' progress prints and warnings (they are not about our model)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxruntime", "root")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_bundle(
    model: nn.Module,
    card: ModelCard,
    folder: str | Path,
    calibration: Sequence[np.ndarray],
    include_weights: bool = True,
    key: SigningKey | None = None,
) -> Bundle:
    """Write a sealed bundle: weights, fp32 ONNX, int8 ONNX calibrated on ``calibration``, card.

    Args:
        model: the trained float model, built by ``create_model(card.architecture)``.
        card: the card without files, profile, quantisation or versions (filled in here).
        folder: a new or empty folder.
        calibration: prepared real inputs, each (N, C, H, W) as the card's contract makes them.
        key: signs the card; without one the bundle is unsigned and only the exporter itself may load it.
    """
    from safetensors.torch import save_file

    import engine
    from engine.modelling.profile import profile_model

    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} exists and is not empty; choose a new folder")
    if not calibration:
        raise ValueError("int8 calibration needs at least one batch of real images")
    folder.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    shape = (calibration[0].shape[1], *card.input.size)
    if include_weights:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(folder / WEIGHTS))
    recipe = export_portable(model, card, folder, calibration)
    recipe["fused"] = export_fused(model, card, folder, calibration)
    profile = profile_model(card.architecture, model, shape).summary()
    profile["baseline"] = _baseline_profile(card, shape)
    card = replace(card, quantisation=recipe, profile=profile, versions=_versions(engine.__version__))
    return seal_bundle(folder, card, key)


def export_portable(model: nn.Module, card: ModelCard, folder: Path, calibration: Sequence[np.ndarray]) -> dict:
    """The fp32 and int8 graphs from standard ONNX operators, which run wherever ONNX Runtime does; the int8 recipe.

    SaDNN models get the op-free NHWC form of the fused graph (shifted views, projections alone in int8);
    the CNN baselines the torch export with int8 convolutions.
    """
    from engine.modelling.fused_graph import FUSED_BUILDERS, PortableGraphWriter

    builder = FUSED_BUILDERS.get(card.architecture)
    if builder is None:
        export_onnx(model, (1, calibration[0].shape[1], *card.input.size), folder / MODEL_FILES["fp32"])
        recipe = quantise_onnx_int8(folder / MODEL_FILES["fp32"], folder / MODEL_FILES["int8"], calibration)
        return {**recipe, "calibration_images": int(sum(batch.shape[0] for batch in calibration))}
    return _write_with_int8(builder(model, card.input.size[0], writer=PortableGraphWriter), calibration, folder, MODEL_FILES)


def _write_with_int8(fp32, calibration: Sequence[np.ndarray], folder: Path, files: dict[str, str]) -> dict:
    """Write an operator-graph-style fp32 graph and its int8 copy (projections only) as ``files``; the recipe."""
    from engine.modelling.fused_quantize import quantise_fused_int8

    int8, recipe = quantise_fused_int8(fp32, calibration)
    (folder / files["fp32"]).write_bytes(fp32.SerializeToString())
    (folder / files["int8"]).write_bytes(int8.SerializeToString())
    return recipe


def export_fused(model: nn.Module, card: ModelCard, folder: Path, calibration: Sequence[np.ndarray]) -> dict | None:
    """The fp32 and int8 graphs over the ai.sadnn operators, for the SaDNN models; the int8 recipe, or None.

    Needs the operator library at export time (the int8 ranges are measured through it); without it the
    bundle has the portable graphs only, and the recipe says why.
    """
    from engine.runtime import operators
    from engine.modelling.fused_graph import FUSED_BUILDERS, fused_profile

    builder = FUSED_BUILDERS.get(card.architecture)
    if builder is None:
        return None
    found = operators.status()
    if not found.usable:
        return {"skipped": found.reason}
    recipe = _write_with_int8(builder(model, card.input.size[0]), calibration, folder, FUSED_FILES)
    return {**recipe, "operators": {"version": found.version, "library_sha256": found.sha256},
            "profile": fused_profile(model, card.input.size[0])}


# The CNN each self-attention network is compared with (seed paper, Tables 4-5).
BASELINES = {"sadnn_cls": "resnet18", "sadnn_seg": "unet_small"}


def _baseline_profile(card: ModelCard, shape: tuple[int, ...]) -> dict | None:
    """Analytic profile of the CNN baseline at the same input size, so the saving can be shown."""
    from engine.modelling.models import create_model
    from engine.modelling.profile import profile_model

    name = BASELINES.get(card.architecture)
    if name is None:
        return None
    return profile_model(name, create_model(name).eval(), shape).summary()  # CNN baselines take any input size


def load_model(bundle: Bundle) -> nn.Module:
    """The float torch model of a verified bundle, from its safetensors weights (no pickle)."""
    from safetensors.torch import load

    from engine.modelling.models import create_model

    model = create_model(bundle.card.architecture, **bundle.card.model_args)
    if WEIGHTS not in bundle.card.files:
        raise BundleError(f"bundle {bundle.card.name} was shipped without {WEIGHTS}; retrain or use the run's checkpoint")
    model.load_state_dict(load(bundle.read(WEIGHTS)), strict=True)
    return model.eval()


def _versions(engine_version: str) -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"engine": engine_version, "torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
