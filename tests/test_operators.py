"""The ai.sadnn operators against the torch layers they replace: per block, per model, and on bad input."""

import numpy as np
import pytest
import torch

from engine.runtime import operators
from engine.modelling.fused_graph import (GraphWriter, PortableGraphWriter, _model, fuse_attention_block, fused_sadnn_cls,
                                          fused_sadnn_seg)
from engine.modelling.layers.blocks import AttentionBlock
from engine.modelling.models import create_model
from tests.conftest import OPERATORS_RAN


def session(model, threads: int = 2):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    operators.register(options)
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def trained_like(module: torch.nn.Module) -> torch.nn.Module:
    """Eval mode with BatchNorm statistics that are not the identity, so folding them is tested."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.copy_(torch.randn(layer.num_features, generator=generator) * 0.2)
                layer.running_var.copy_(torch.rand(layer.num_features, generator=generator) + 0.5)
                layer.weight.copy_(torch.rand(layer.num_features, generator=generator) * 0.4 + 0.8)
                layer.bias.copy_(torch.randn(layer.num_features, generator=generator) * 0.1)
    return module.eval()


def plain_session(model, threads: int = 2):
    """A session with no custom operators registered: what a CPU without the library runs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def block_graph(block: AttentionBlock, fold: bool, writer: type[GraphWriter] = GraphWriter):
    g = writer()
    (x,) = g.node("Transpose", ["input"], perm=[0, 2, 3, 1])
    g.node("Transpose", [g.attention(x, block, fold)], perm=[0, 3, 1, 2])
    g.nodes[-1].output[0] = "logits"
    return _model(g, block[0].in_channels, None, "block")


def test_the_library_is_built_and_usable_here():
    found = operators.status()
    assert found.usable, found.reason
    assert found.version == "1.2.0" and len(found.sha256) == 64 and found.reason == OPERATORS_RAN


def test_a_missing_library_is_said_and_registration_refused(tmp_path, monkeypatch):
    import onnxruntime as ort

    monkeypatch.setenv(operators.LIBRARY_ENV, str(tmp_path / "libsadnn_ops.so"))
    assert operators.status().reason == "the SaDNN operator library was not built (libsadnn_ops.so is missing)"
    with pytest.raises(RuntimeError, match="was not built"):
        operators.register(ort.SessionOptions())


@pytest.mark.parametrize("c_in, c_out, height, width", [(1, 64, 17, 23), (64, 128, 12, 9), (256, 128, 5, 7),
                                                          (32, 16, 1, 6), (3, 8, 2, 1), (13, 12, 4, 3)])
@pytest.mark.parametrize("fold", [False, True])
@pytest.mark.parametrize("portable", [False, True], ids=["operator", "portable"])
def test_one_block_matches_the_torch_layer(c_in, c_out, height, width, fold, portable):
    """The operator, and the portable graph in a session without the library, against the torch layer."""
    torch.manual_seed(c_in + c_out)
    block = trained_like(AttentionBlock(c_in, c_out))
    x = torch.randn(2, c_in, height, width)
    with torch.no_grad():
        expected = block(x).numpy()
    graph = block_graph(block, fold, PortableGraphWriter if portable else GraphWriter)
    if portable:
        assert {node.domain for node in graph.graph.node} == {""} and [o.domain for o in graph.opset_import] == [""]
    (actual,) = (plain_session if portable else session)(graph).run(None, {"input": x.numpy()})
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("c_in, c_out, heads", [(1, 64, 8), (13, 48, 4), (64, 16, 8), (3, 32, 4), (40, 64, 8)])
@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("fold", [False, True])
@pytest.mark.parametrize("portable", [False, True], ids=["operator", "portable"])
def test_multi_head_blocks_match_the_torch_layer(c_in, c_out, heads, scaled, fold, portable):
    """Several heads (per-head channels 2 to 12: vector blocks and tails), scaled or not, folded or not."""
    torch.manual_seed(c_in * heads + c_out)
    block = trained_like(AttentionBlock(c_in, c_out, heads=heads, scaled=scaled))
    x = torch.randn(2, c_in, 7, 10)
    with torch.no_grad():
        expected = block(x).numpy()
    graph = block_graph(block, fold, PortableGraphWriter if portable else GraphWriter)
    (actual,) = (plain_session if portable else session)(graph).run(None, {"input": x.numpy()})
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_heads_change_the_result_so_the_comparison_can_fail():
    """Eight heads over the same projection are not one head: an operator that lost its heads would fail above."""
    torch.manual_seed(2)
    many = trained_like(AttentionBlock(16, 32, heads=8))
    one = trained_like(AttentionBlock(16, 32))
    with torch.no_grad():
        for block in (many, one):
            block[0].rel_rows.zero_(), block[0].rel_cols.zero_()
        one[0].qkv.weight.copy_(many[0].qkv.weight)
    x = torch.randn(1, 16, 6, 6)
    (actual,) = session(block_graph(many, False)).run(None, {"input": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(actual, many(x).numpy(), rtol=1e-5, atol=1e-5)
        assert np.abs(actual - one(x).numpy()).max() > 1e-2


def test_one_block_on_a_real_ct_slice(ct_volume):
    from engine.runtime.preprocess import prepare_ct_slices
    from tests.cards import segmentation_card

    torch.manual_seed(3)
    block = trained_like(AttentionBlock(1, 64))
    x = torch.from_numpy(prepare_ct_slices(ct_volume[14:16], segmentation_card("sadnn_seg").input))
    with torch.no_grad():
        expected = block(x).numpy()
    (actual,) = session(block_graph(block, None)).run(None, {"input": x.numpy()})
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_a_nan_pixel_makes_exactly_its_3x3_window_nan_and_leaves_the_rest_exact():
    """A NaN never becomes a finite value (that would be a silently wrong picture), nor leaks past the window."""
    torch.manual_seed(5)
    block = trained_like(AttentionBlock(3, 12))
    x = torch.randn(1, 3, 7, 9)
    with torch.no_grad():
        expected = block(x).numpy()  # no pixel outside the window sees the NaN pixel's value
    x[0, 1, 3, 4] = float("nan")
    window = np.zeros((7, 9), bool)
    window[2:5, 3:6] = True
    many = trained_like(AttentionBlock(3, 24, heads=4, scaled=True))
    with torch.no_grad():
        expected_many = many(torch.nan_to_num(x, nan=0.0)).numpy()
    for block, reference in ((block, expected), (many, expected_many)):
        for fold in (True, False):
            (actual,) = session(block_graph(block, fold)).run(None, {"input": x.numpy()})
            assert np.isnan(actual[0][:, window]).all() and not np.isnan(actual[0][:, ~window]).any()
            np.testing.assert_allclose(actual[0][:, ~window], reference[0][:, ~window], rtol=1e-5,
                                       atol=1e-5 * np.abs(reference).max())


def test_pooling_and_unpooling_match_torch_including_ties():
    import onnx.helper as helper
    from onnx import TensorProto

    x = torch.randn(2, 11, 6, 10)  # 8 channels in a vector, 3 in the scalar tail
    x[:, :, :2, :2] = 0.0  # ties, as after a ReLU
    x[0, 3, 2, 3] = x[1, 9, 4, 5] = x[0, 9, 1, 1] = float("nan")  # NaN takes its window, as in torch
    skip = torch.randn(2, 5, 6, 10)
    pooled, indices = torch.nn.functional.max_pool2d(x, 2, return_indices=True)
    expected = torch.cat([torch.nn.functional.max_unpool2d(pooled, indices, 2), skip], 1)
    nodes = [helper.make_node("MaxPool2x2", ["x"], ["p", "where"], domain=operators.DOMAIN),
             helper.make_node("MaxUnpool2x2Concat", ["p", "where", "s"], ["y"], domain=operators.DOMAIN)]
    values = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in ("x", "s", "p", "y")]
    graph = helper.make_graph(nodes, "pool", values[:2], values[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(operators.DOMAIN, 1)])
    nhwc = lambda t: np.ascontiguousarray(t.numpy().transpose(0, 2, 3, 1))  # noqa: E731
    got_pooled, got = session(model).run(None, {"x": nhwc(x), "s": nhwc(skip)})
    np.testing.assert_array_equal(got_pooled, nhwc(pooled))
    np.testing.assert_array_equal(got, nhwc(expected))


def test_whole_models_match_torch_fused_and_portable():
    """SaDNN-seg: as close to a float64 torch run as torch's own float32 run is, within 2x (22 stacked blocks whose
    unscaled attention logits amplify rounding: torch float32 itself strays 4e-4 to 2e-3 from float64; each block
    alone agrees within 1e-5). SaDNN-cls: 1e-4."""
    torch.manual_seed(0)
    seg = trained_like(create_model("sadnn_seg"))
    x = torch.randn(1, 1, 64, 48)  # not square
    with torch.no_grad():
        single = seg(x).numpy()
        exact = seg.double()(x.double()).numpy()
    (fused,) = session(fused_sadnn_seg(seg.float(), None)).run(None, {"input": x.numpy()})
    (portable,) = plain_session(fused_sadnn_seg(seg.float(), None, PortableGraphWriter)).run(None, {"input": x.numpy()})
    scale = np.abs(exact).max()
    torch_error = np.abs(single - exact).max() / scale
    for graph_error in (np.abs(fused - exact).max() / scale, np.abs(portable - exact).max() / scale):
        assert graph_error <= max(1e-4, 2 * torch_error), (graph_error, torch_error)  # float32 order, amplified
    cls = trained_like(create_model("sadnn_cls", img_size=64))
    x = torch.randn(3, 1, 64, 64)
    with torch.no_grad():
        expected = cls(x).numpy()
    (actual,) = session(fused_sadnn_cls(cls, 64)).run(None, {"input": x.numpy()})
    (portable,) = plain_session(fused_sadnn_cls(cls, 64, PortableGraphWriter)).run(None, {"input": x.numpy()})
    assert np.abs(actual - expected).max() <= 1e-4 * np.abs(expected).max()
    assert np.abs(portable - expected).max() <= 1e-4 * np.abs(expected).max()


def test_whole_multi_head_scaled_seg_matches_torch_fused_and_portable():
    torch.manual_seed(4)
    seg = trained_like(create_model("sadnn_seg", heads=8, scaled=True))
    x = torch.randn(1, 1, 48, 64)
    with torch.no_grad():
        expected = seg(x).numpy()
    (fused,) = session(fused_sadnn_seg(seg, None)).run(None, {"input": x.numpy()})
    (portable,) = plain_session(fused_sadnn_seg(seg, None, PortableGraphWriter)).run(None, {"input": x.numpy()})
    for actual in (fused, portable):
        assert np.abs(actual - expected).max() <= 1e-4 * np.abs(expected).max()


def test_folding_saves_macs_where_the_input_is_narrower():
    narrow, wide = AttentionBlock(64, 128).eval(), AttentionBlock(512, 256).eval()
    assert fuse_attention_block(narrow).folded and not fuse_attention_block(wide).folded
    assert fuse_attention_block(narrow).macs_per_pixel < fuse_attention_block(narrow, fold=False).macs_per_pixel


def test_a_wrong_projection_width_is_a_clear_error_not_a_crash():
    import onnx.helper as helper
    from onnx import TensorProto, numpy_helper
    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

    node = helper.make_node("LocalAttention3x3", ["p", "b"], ["y"], domain=operators.DOMAIN, key_channels=8)
    graph = helper.make_graph([node], "bad", [helper.make_tensor_value_info("p", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.zeros(4, np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(operators.DOMAIN, 1)])
    with pytest.raises(InvalidArgument, match="LocalAttention3x3: proj has 10 channels; expected 29"):  # 8 + 8 + 4 + 9
        session(model).run(None, {"p": np.zeros((1, 4, 4, 10), np.float32)})
    node = model.graph.node[0]
    node.attribute.append(helper.make_attribute("heads", 2))  # 9 position logits per head: 8 + 8 + 4 + 18
    with pytest.raises(InvalidArgument, match="LocalAttention3x3: proj has 29 channels; expected 38"):
        session(model).run(None, {"p": np.zeros((1, 4, 4, 29), np.float32)})
    del node.attribute[-1]
    node.attribute.append(helper.make_attribute("heads", 3))
    with pytest.raises(Exception, match="key_channels 8 do not split into 3 heads"):
        session(model).run(None, {"p": np.zeros((1, 4, 4, 29), np.float32)})


def test_int8_fused_seg_agrees_with_fp32_on_real_ct_slices(ct_volume):
    from engine.modelling.fused_quantize import projection_nodes, quantise_fused_int8
    from engine.runtime.preprocess import prepare_ct_slices
    from tests.cards import segmentation_card
    from tests.conftest import centred

    contract = segmentation_card("sadnn_seg").input
    slices = [prepare_ct_slices(ct_volume[z : z + 1], contract) for z in (4, 10, 16, 22, 27)]
    torch.manual_seed(0)
    model = centred(create_model("sadnn_seg").eval(), slices[2])  # random BN statistics make 256 px chaotic in fp32
    fp32 = fused_sadnn_seg(model, 256)
    int8, recipe = quantise_fused_int8(fp32, slices[:3])
    dequantised = [n for n in int8.graph.node if n.op_type == "DequantizeLinear"]
    assert len(dequantised) == 2 * len(projection_nodes(fp32)) == 32  # every projection: activation and weight
    assert recipe["calibration_images"] == 3
    exact, quantised = session(fp32), session(int8)
    for batch in slices[3:]:  # held out from calibration
        (a,), (b,) = exact.run(None, {"input": batch}), quantised.run(None, {"input": batch})
        scale = np.abs(a).max()
        assert np.abs(a - b).max() <= 0.05 * scale, np.abs(a - b).max() / scale
        # A random model centred on the median splits the slice at its most ambiguous margin: judge the pixels
        # whose fp32 margin is not within int8's error (a trained model's margins are wide).
        margin_a, margin_b = a[:, 1] - a[:, 0], b[:, 1] - b[:, 0]
        clear = np.abs(margin_a) > 0.1 * scale
        assert clear.mean() > 0.3 and ((margin_a > 0) == (margin_b > 0))[clear].mean() >= 0.999
    portable_int8, _ = quantise_fused_int8(fused_sadnn_seg(model, 256, PortableGraphWriter), slices[:3])
    (a,), (b,) = quantised.run(None, {"input": slices[3]}), plain_session(portable_int8).run(None, {"input": slices[3]})
    # The same int8 projections; float summation order differs and can flip an activation across a rounding step
    assert np.abs(a - b).max() <= 1e-2 * np.abs(a).max()


def test_bundles_carry_the_fused_graphs_and_inference_uses_them(cls_bundle, chest_xrays):
    from engine.runtime.inference import Classifier

    assert cls_bundle.has_fused
    fused = cls_bundle.card.quantisation["fused"]
    assert fused["operators"]["version"] == "1.2.0" and fused["operators"]["library_sha256"] == operators.status().sha256
    fast, portable = Classifier(cls_bundle, "fp32"), Classifier(cls_bundle, "fp32")
    assert fast.graph == OPERATORS_RAN
    from engine.runtime.inference import OnnxModel

    portable.model = OnnxModel(cls_bundle.model_bytes("fp32"))  # the portable graph of the same bundle
    import onnx

    portable_graph = onnx.load_from_string(cls_bundle.model_bytes("int8"))
    assert {node.domain for node in portable_graph.graph.node} == {""}  # standard operators only, int8 included
    assert {"MatMul", "Softmax", "Slice", "DequantizeLinear"} <= {node.op_type for node in portable_graph.graph.node}
    image = chest_xrays[0]
    np.testing.assert_allclose(fast.predict(image).probabilities, portable.predict(image).probabilities, atol=1e-4)
    assert fast.predict(image).graph == OPERATORS_RAN
    int8 = Classifier(cls_bundle, "int8").predict(image)
    assert np.abs(int8.probabilities - fast.predict(image).probabilities).max() < 0.1


def test_without_the_library_the_portable_graph_runs_and_says_why(cls_bundle, chest_xrays, tmp_path, monkeypatch):
    from engine.runtime.inference import Classifier

    monkeypatch.setenv(operators.LIBRARY_ENV, str(tmp_path / "libsadnn_ops.so"))
    classifier = Classifier(cls_bundle, "int8")
    assert classifier.graph == "portable graph (the SaDNN operator library was not built (libsadnn_ops.so is missing))"
    assert classifier.predict(chest_xrays[0]).probabilities.shape == (14,)


def test_the_energy_table_counts_the_fused_graphs_own_macs(cls_bundle):
    from engine.runtime.energy import EnergyMeasurement
    from viewer.model.energy_report import energy_rows

    fused = cls_bundle.card.quantisation["fused"]["profile"]
    layer = cls_bundle.card.profile
    assert 0.6 * layer["gmacs"] < fused["gmacs"] < layer["gmacs"]  # folded projections: fewer MACs
    assert fused["int8_macs"] + fused["fp32_macs"] == round(fused["gmacs"] * 1e9)
    measured = EnergyMeasurement(0.1, 0.2, 1.0, "estimate")
    rows = energy_rows(cls_bundle.card, measured, 1, fused=True)
    assert rows[0][0] == "sadnn_cls fused int8 (this run)" and rows[0][1] == f"{fused['gmacs']:.2f}"
    assert rows[0][2] == f"{fused['energy_int8_mj']:.2f}"
    assert energy_rows(cls_bundle.card, measured, 1)[0][1] == f"{layer['gmacs']:.2f}"  # the portable graph's count
