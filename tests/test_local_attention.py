"""The local self-attention layer is really local, translation-equivariant and correct."""

import pytest
import torch

from engine.modelling.layers import LocalSelfAttention2d


def slow_local_attention(layer: LocalSelfAttention2d, x: torch.Tensor) -> torch.Tensor:
    """Obviously-correct per-pixel loop: softmax over the in-image part of the k x k window."""
    q, k, v = layer.qkv(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).chunk(3, dim=1)
    batch, channels, height, width = q.shape
    heads, dim, pad = layer.heads, channels // layer.heads, layer.kernel_size // 2
    out = torch.zeros_like(q)
    for b in range(batch):
        for g in range(heads):
            ch = slice(g * dim, (g + 1) * dim)
            for i in range(height):
                for j in range(width):
                    logits, values = [], []
                    for a in range(i - pad, i + pad + 1):
                        for c in range(j - pad, j + pad + 1):
                            if not (0 <= a < height and 0 <= c < width):
                                continue
                            rel = torch.cat([layer.rel_rows[g, :, a - i + pad], layer.rel_cols[g, :, c - j + pad]])
                            logits.append(torch.dot(q[b, ch, i, j], k[b, ch, a, c] + rel))
                            values.append(v[b, ch, a, c])
                    weights = torch.softmax(torch.stack(logits), dim=0)
                    out[b, ch, i, j] = (weights[:, None] * torch.stack(values)).sum(0)
    return out


@pytest.mark.parametrize("kernel_size,heads", [(3, 1), (3, 2), (5, 1)])
def test_matches_slow_loop(kernel_size, heads):
    torch.manual_seed(0)
    layer = LocalSelfAttention2d(3, 8, kernel_size=kernel_size, heads=heads).eval()
    x = torch.randn(2, 3, 7, 6)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), slow_local_attention(layer, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_perturbed_pixel_changes_only_its_neighbourhood(kernel_size):
    torch.manual_seed(1)
    layer = LocalSelfAttention2d(4, 16, kernel_size=kernel_size).eval()
    x = torch.randn(1, 4, 32, 32)
    y = x.clone()
    y[0, :, 13, 20] += 5.0
    with torch.no_grad():
        changed = (layer(x) - layer(y)).abs().amax(dim=1)[0] > 1e-6
    pad = kernel_size // 2
    expected = torch.zeros_like(changed)
    expected[13 - pad : 13 + pad + 1, 20 - pad : 20 + pad + 1] = True
    assert torch.equal(changed, expected)


def test_commutes_with_translation_away_from_borders():
    torch.manual_seed(2)
    layer = LocalSelfAttention2d(4, 16, heads=2).eval()
    x = torch.randn(1, 4, 40, 40)
    shifted = torch.roll(x, shifts=(3, -5), dims=(2, 3))
    with torch.no_grad():
        a = torch.roll(layer(x), shifts=(3, -5), dims=(2, 3))
        b = layer(shifted)
    inner = (slice(None), slice(None), slice(8, 32), slice(8, 32))
    torch.testing.assert_close(a[inner], b[inner], rtol=1e-5, atol=1e-5)


def test_parameter_count_matches_the_paper_formula():
    layer = LocalSelfAttention2d(16, 32, kernel_size=3)
    assert sum(p.numel() for p in layer.parameters()) == 3 * 16 * 32 + 32 * 3


def test_rejects_bad_configuration():
    with pytest.raises(ValueError, match="odd"):
        LocalSelfAttention2d(4, 8, kernel_size=4)
    with pytest.raises(ValueError, match="multiple"):
        LocalSelfAttention2d(4, 6, heads=2)


def test_exports_to_onnx_and_matches(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from engine.modelling.onnx_export import export_onnx

    torch.manual_seed(3)
    layer = LocalSelfAttention2d(2, 8, heads=2).eval()
    x = torch.randn(1, 2, 24, 20)
    path = export_onnx(layer, (1, 2, 24, 20), tmp_path / "attn.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), layer(x), rtol=1e-4, atol=1e-5)
