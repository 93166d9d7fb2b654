"""SaDNN models as all-NHWC ONNX graphs over the ``ai.sadnn`` operators (engine.runtime.operators).

Each attention block (local self-attention -> BatchNorm -> ReLU) becomes one MatMul, the projection of
every pixel to [q | k | v | 9 position logits per head], and one ``LocalAttention3x3`` node:

* the position embeddings are folded into the projection (q . r_d is linear in x: 9 extra rows a head);
* a logit scale (``scaled`` layers) is folded into the query rows, so it costs nothing;
* BatchNorm is folded into V and the bias (each head's attention weights sum to 1, so BN commutes with them);
* where heads x C_in < 2 C_out, q_h . k_h is computed as (W_k,h^T W_q,h x) . x (``LocalAttention3x3Folded``):
  heads x C_in rows replace 2 C_out, the keys are the block's input itself.

Max pooling keeps the position of each maximum in its 2x2 window, and unpooling is fused with the
skip concatenation of the decoder. The graph takes and returns NCHW like the exported torch model,
so the engine's pre- and post-processing do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.modelling.layers.blocks import AttentionBlock
from engine.runtime.operators import DOMAIN

OPSET = 17


@dataclass(frozen=True)
class FusedAttention:
    """One attention block as a projection (rows, C_in) and the operator that consumes it."""

    weight: np.ndarray  # (rows, C_in): [q | k | v | pos] or, folded, [W_k,h^T W_q,h per head | v | pos]
    bias: np.ndarray  # (C_out,): BN shift after folding its scale into v
    folded: bool
    key_channels: int  # q (and k) channels over all heads: C_out, or heads x C_in when folded
    heads: int = 1

    @property
    def macs_per_pixel(self) -> int:
        """Projection plus attention core (q . k over 9 positions, 9 weighted sums of v)."""
        rows, c_in = self.weight.shape
        return rows * c_in + 9 * self.key_channels + 9 * len(self.bias)


def fuse_attention_block(block: AttentionBlock, fold: bool | None = None) -> FusedAttention:
    """The projection and bias of an eval-mode attention block (``fold``: None picks heads x C_in < 2 C_out)."""
    attention, norm = block[0], block[1]
    if attention.kernel_size != 3:
        raise ValueError("the fused operator covers 3x3 windows")
    weight = attention.qkv.weight.detach().double().cpu().numpy()
    c_out, c_in, heads = attention.out_channels, attention.in_channels, attention.heads
    w_q, w_k, w_v = weight[:c_out] * attention.logit_scale, weight[c_out : 2 * c_out], weight[2 * c_out :]
    per_head, half = c_out // heads, c_out // heads // 2
    rows = attention.rel_rows.detach().double().cpu().numpy()
    cols = attention.rel_cols.detach().double().cpu().numpy()
    queries = [w_q[h * per_head : (h + 1) * per_head] for h in range(heads)]
    keys = [w_k[h * per_head : (h + 1) * per_head] for h in range(heads)]
    position = np.stack([q[:half].T @ rows[h][:, a] + q[half:].T @ cols[h][:, b]
                         for h, q in enumerate(queries) for a in range(3) for b in range(3)])
    scale = (norm.weight / torch.sqrt(norm.running_var + norm.eps)).detach().double().cpu().numpy()
    shift = norm.bias.detach().double().cpu().numpy() - scale * norm.running_mean.detach().double().cpu().numpy()
    folded = heads * c_in < 2 * c_out if fold is None else fold
    query_key = [k.T @ q for q, k in zip(queries, keys)] if folded else [w_q, w_k]
    parts = [*query_key, scale[:, None] * w_v, position]
    return FusedAttention(np.concatenate(parts).astype(np.float32), shift.astype(np.float32), folded,
                          heads * c_in if folded else c_out, heads)


class GraphWriter:
    """Builds the node list and initializers of one graph with unique names."""

    def __init__(self) -> None:
        self.nodes, self.initializers, self.value_info, self._count = [], [], [], 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: int = 1, domain: str = "", **attributes) -> list[str]:
        from onnx import TensorProto, helper

        names = [self.name(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=self.name(op), domain=domain, **attributes))
        if domain:  # ONNX cannot infer custom operators' output types; the quantiser needs them
            types = [TensorProto.UINT8 if op == "MaxPool2x2" and i == 1 else TensorProto.FLOAT for i in range(outputs)]
            self.value_info += [helper.make_tensor_value_info(n, t, None) for n, t in zip(names, types)]
        return names

    def attention(self, x: str, block: AttentionBlock, fold: bool | None = None) -> str:
        """The block's projection MatMul, then its attention core over the projection."""
        fused = fuse_attention_block(block, fold)
        (projection,) = self.node("MatMul", [x, self.constant("projection", fused.weight.T)])
        return self.attention_core(x, projection, fused)

    def attention_core(self, x: str, projection: str, fused: FusedAttention) -> str:
        bias = self.constant("bias", fused.bias)
        heads = {"heads": fused.heads} if fused.heads != 1 else {}  # a one-head node stays readable by 1.1 operators
        if fused.folded:
            return self.node("LocalAttention3x3Folded", [projection, x, bias], domain=DOMAIN, **heads)[0]
        return self.node("LocalAttention3x3", [projection, bias], domain=DOMAIN, key_channels=fused.key_channels,
                         **heads)[0]

    def pool(self, x: str) -> tuple[str, str]:
        pooled, where = self.node("MaxPool2x2", [x], outputs=2, domain=DOMAIN)
        return pooled, where

    def unpool_concat(self, x: str, where: str, skip: str) -> str:
        return self.node("MaxUnpool2x2Concat", [x, where, skip], domain=DOMAIN)[0]


class PortableGraphWriter(GraphWriter):
    """The same graph from standard ONNX operators only: the fallback where the operator library cannot run.

    Attention as shifted views: the keys and values are zero-padded once and sliced at the 9 window
    offsets; a window-validity bias (-1e9 outside the image) excludes padded positions from the softmax,
    as the operator does. Pooling transposes to NCHW for ONNX MaxPool / MaxUnpool with indices.
    """

    EXCLUDED = -1e9

    def attention_core(self, x: str, projection: str, fused: FusedAttention) -> str:
        from onnx import numpy_helper

        keys_width, values_width, heads = fused.key_channels, len(fused.bias), fused.heads
        if fused.folded:
            query, value, position = self._split(projection, [keys_width, values_width, 9 * heads])
            key = x  # shared by every head: (N, H, W, 1, C_in) against the heads' (N, H, W, heads, C_in)
        else:
            query, key, value, position = self._split(projection, [keys_width, keys_width, values_width, 9 * heads])
        (pixels,) = self.node("Concat", [self.node("Shape", [x], start=0, end=3)[0], self.constant("one", np.ones(1, np.int64))], axis=0)
        (ones,) = self.node("ConstantOfShape", [pixels], value=numpy_helper.from_array(np.ones(1, np.float32)))
        keys = [self._per_head(k, 1 if fused.folded else heads) for k in self._shifted(key)]
        values, inside = self._shifted(value), self._shifted(ones)
        query, axis = self._per_head(query, heads), self.constant("axis", np.array([-1]))
        logits = [self.node("ReduceSum", [self.node("Mul", [query, k])[0], axis], keepdims=1)[0] for k in keys]
        (logits,) = self.node("Concat", logits, axis=-1)  # (N, H, W, heads, 9)
        (valid,) = self.node("Unsqueeze", [self.node("Concat", inside, axis=-1)[0], self.constant("axis", np.array([3]))])
        (excluded,) = self.node("Mul", [self.node("Sub", [self.constant("one", np.ones(1, np.float32)), valid])[0],
                                        self.constant("excluded", np.array([self.EXCLUDED], np.float32))])
        (logits,) = self.node("Sum", [logits, self._per_head(position, heads), excluded])
        (weights,) = self.node("Softmax", [logits], axis=-1)
        weight_of = self._split(weights, [1] * 9)
        terms = [self.node("Mul", [w, self._per_head(v, heads)])[0] for w, v in zip(weight_of, values)]
        (out,) = self.node("Reshape", [self.node("Sum", terms)[0], self.constant("shape", np.array([0, 0, 0, -1], np.int64))])
        (out,) = self.node("Add", [out, self.constant("bias", fused.bias)])
        return self.node("Relu", [out])[0]

    def _per_head(self, x: str, heads: int) -> str:
        """(N, H, W, heads * D) viewed as (N, H, W, heads, D)."""
        return self.node("Reshape", [x, self.constant("heads", np.array([0, 0, 0, heads, -1], np.int64))])[0]

    def _split(self, x: str, widths: list[int]) -> list[str]:
        return self.node("Split", [x, self.constant("widths", np.array(widths, np.int64))], outputs=len(widths), axis=-1)

    def _shifted(self, x: str) -> list[str]:
        """x (N, H, W, C) zero-padded by one pixel and viewed at the 9 window offsets, row-major."""
        (padded,) = self.node("Pad", [x, self.constant("pads", np.array([0, 1, 1, 0, 0, 1, 1, 0], np.int64))])
        end = {0: -2, 1: -1, 2: np.iinfo(np.int64).max}
        return [self.node("Slice", [padded, self.constant("starts", np.array([a, b], np.int64)),
                                    self.constant("ends", np.array([end[a], end[b]], np.int64)),
                                    self.constant("axes", np.array([1, 2], np.int64))])[0]
                for a in range(3) for b in range(3)]

    def pool(self, x: str) -> tuple[str, str]:
        (nchw,) = self.node("Transpose", [x], perm=[0, 3, 1, 2])
        pooled, where = self.node("MaxPool", [nchw], outputs=2, kernel_shape=[2, 2], strides=[2, 2])
        return self.node("Transpose", [pooled], perm=[0, 2, 3, 1])[0], where

    def unpool_concat(self, x: str, where: str, skip: str) -> str:
        (nchw,) = self.node("Transpose", [x], perm=[0, 3, 1, 2])
        (shape,) = self.node("Gather", [self.node("Shape", [skip])[0], self.constant("nchw", np.array([0, 3, 1, 2], np.int64))])
        (unpooled,) = self.node("MaxUnpool", [nchw, where, shape], kernel_shape=[2, 2], strides=[2, 2])
        (unpooled,) = self.node("Transpose", [unpooled], perm=[0, 2, 3, 1])
        return self.node("Concat", [unpooled, skip], axis=-1)[0]


def fused_sadnn_seg(model: nn.Module, size: int | None = None, writer: type[GraphWriter] = GraphWriter):
    """SaDNN-seg (SUMNet with attention blocks) as a fused NHWC graph: NCHW (N, C, size, size) in, logits out."""
    g = writer()
    (x,) = g.node("Transpose", ["input"], perm=[0, 2, 3, 1])
    e1 = g.attention(x, model.enc1)
    e2 = g.attention(e1, model.enc2)
    p1, i1 = g.pool(e2)
    e3 = g.attention(g.attention(p1, model.enc3a), model.enc3b)
    p2, i2 = g.pool(e3)
    e4 = g.attention(g.attention(p2, model.enc4a), model.enc4b)
    p3, i3 = g.pool(e4)
    e5 = g.attention(g.attention(p3, model.enc5a), model.enc5b)
    p4, i4 = g.pool(e5)
    d5 = g.attention(g.attention(g.unpool_concat(p4, i4, e5), model.dec5b), model.dec5a)
    d4 = g.attention(g.attention(g.unpool_concat(d5, i3, e4), model.dec4b), model.dec4a)
    d3 = g.attention(g.attention(g.unpool_concat(d4, i2, e3), model.dec3b), model.dec3a)
    d2 = g.attention(g.unpool_concat(d3, i1, e2), model.dec2)
    (skip,) = g.node("Concat", [d2, e1], axis=-1)
    d1 = g.attention(skip, model.dec1)
    classifier = model.classifier
    weight = classifier.weight.detach().cpu().numpy()[:, :, 0, 0].T.astype(np.float32)
    (logits,) = g.node("MatMul", [d1, g.constant("classifier", weight)])
    (logits,) = g.node("Add", [logits, g.constant("classifier_bias", classifier.bias.detach().cpu().numpy().astype(np.float32))])
    g.node("Transpose", [logits], perm=[0, 3, 1, 2])
    g.nodes[-1].output[0] = "logits"
    return _model(g, model.enc1[0].in_channels, size, "sadnn_seg_fused")


def fused_sadnn_cls(model: nn.Module, size: int, writer: type[GraphWriter] = GraphWriter):
    """SaDNN-cls as a fused NHWC graph: NCHW (N, C, size, size) in, logits out."""
    g = writer()
    (x,) = g.node("Transpose", ["input"], perm=[0, 2, 3, 1])
    for layer in model.features:
        if isinstance(layer, AttentionBlock):
            x = g.attention(x, layer)
        else:
            x, _ = g.pool(x)
    (x,) = g.node("Transpose", [x], perm=[0, 3, 1, 2])  # torch flattens NCHW
    (x,) = g.node("Flatten", [x], axis=1)
    linears = [layer for layer in model.head if isinstance(layer, nn.Linear)]
    for number, linear in enumerate(linears, start=1):
        weight = g.constant("linear", linear.weight.detach().cpu().numpy().astype(np.float32))
        bias = g.constant("linear_bias", linear.bias.detach().cpu().numpy().astype(np.float32))
        (x,) = g.node("Gemm", [x, weight, bias], transB=1)
        if number < len(linears):
            (x,) = g.node("Relu", [x])
    g.nodes[-1].output[0] = "logits"
    in_channels = model.features[0][0].in_channels
    return _model(g, in_channels, size, "sadnn_cls_fused")


def _model(g: GraphWriter, channels: int, size: int | None, name: str):
    """The graph as a model; ``size`` None leaves height and width free."""
    from onnx import TensorProto, helper

    side = ["height", "width"] if size is None else [size, size]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, *side])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)]
    graph = helper.make_graph(g.nodes, name, inputs, outputs, g.initializers, value_info=g.value_info)
    domains = [helper.make_opsetid("", OPSET)] + [helper.make_opsetid(DOMAIN, 1)] * any(n.domain == DOMAIN for n in g.nodes)
    model = helper.make_model(graph, opset_imports=domains,
                              producer_name="sadnn-viewer")
    model.ir_version = 8
    return model


def fused_profile(model: nn.Module, size: int) -> dict:
    """MACs and 45 nm arithmetic energy of one inference of the fused graph.

    Projections are the int8 MACs (the folded W_k^T W_q and the 9 position rows included); the
    attention core (q . k over the window and the weighted sum of v), the decoder's classifier and the
    MLP head run in fp32.
    """
    from engine.runtime.energy import mac_energy_joules, model_energy_joules

    sides: dict[nn.Module, tuple[int, int]] = {}
    hooks = [block.register_forward_hook(lambda module, _in, out: sides.__setitem__(module, tuple(out.shape[-2:])))
             for block in model.modules() if isinstance(block, AttentionBlock)]
    first = next(block for block in model.modules() if isinstance(block, AttentionBlock))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, first[0].in_channels, size, size))
    finally:
        for hook in hooks:
            hook.remove()
    projection = core = head = 0
    for block, (height, width) in sides.items():
        fused = fuse_attention_block(block)
        projection += height * width * fused.weight.size
        core += height * width * 9 * (fused.key_channels + len(fused.bias))  # q_h . k_h and a . v over every head
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            head += layer.in_features * layer.out_features
        elif isinstance(layer, nn.Conv2d):  # SaDNN-seg's 1x1 classifier, at full resolution
            head += size * size * layer.in_channels * layer.out_channels
    return {"int8_macs": projection, "fp32_macs": core + head, "gmacs": (projection + core + head) / 1e9,
            "energy_int8_mj": model_energy_joules(projection, core + head) * 1e3,
            "energy_fp32_mj": mac_energy_joules(projection + core + head, "fp32") * 1e3}


FUSED_BUILDERS = {"sadnn_seg": fused_sadnn_seg, "sadnn_cls": fused_sadnn_cls}  # architecture -> graph builder
