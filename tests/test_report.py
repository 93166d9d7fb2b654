"""The model comparison (paper Tables 4-5): analytic columns, the fused graph's MACs, measured latency."""

from engine.modelling.report import profile_all, to_markdown

SMALL = (("sadnn_cls", "SaDNN-cls", (1, 64, 64), "chest X-ray classification"),
         ("resnet18", "ResNet-18", (1, 64, 64), "chest X-ray classification"))


def test_rows_count_the_fused_macs_and_measure_both_precisions():
    sadnn, resnet = profile_all(SMALL, latency_repeats=1)
    assert 0 < sadnn["fused_gmacs"] < sadnn["gmacs"]  # W_k^T W_q folded: fewer MACs than the layer-wise count
    assert "fused_gmacs" not in resnet  # a CNN has no fused graph
    for row in (sadnn, resnet):
        assert row["latency_fp32_ms"] > 0 and row["latency_int8_ms"] > 0
    assert sadnn["latency_graph"] == "fused operators" and resnet["latency_graph"] == "exported graph"
    table = to_markdown([sadnn, resnet])
    header, _, first, second = table.splitlines()[:4]
    assert header.endswith("| Fused MACs (G) | Fused energy int8 (mJ) | Latency fp32 (ms) | Latency int8 (ms) |")
    assert first.count("|") == second.count("|") == header.count("|")
    assert second.split("|")[-5].strip() == "-"  # ResNet-18's fused MACs: not applicable, not zero
    assert "SaDNN-cls: fused operators; ResNet-18: exported graph" in table


def test_without_latency_the_table_keeps_the_papers_columns():
    (row,) = profile_all(SMALL[:1], latency_repeats=0)
    assert "latency_int8_ms" not in row
    assert "Latency" not in to_markdown([row]).splitlines()[0]
