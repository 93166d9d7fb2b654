"""The model comparison (paper Tables 4-5): analytic columns, the fused graph's MACs, measured latency."""

from engine.modelling.comparison import profile_all, to_markdown

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


def test_measured_quality_comes_from_a_lopo_summary_or_a_card(tmp_path):
    import json

    from engine.modelling.comparison import quality_of

    folds = {name: {"dice_fp32": d, "dice_int8": d - 0.01} for name, d in (("a", 0.8), ("b", 0.9))}
    lopo = {"folds": folds, "over_folds": {"dice_fp32": {"mean": 0.85, "std": 0.0707}, "dice_int8": {"mean": 0.84, "std": 0.0707}}}
    (tmp_path / "lopo.json").write_text(json.dumps(lopo))
    assert quality_of(tmp_path / "lopo.json") == ("Dice 0.850 ± 0.071 fp32, 0.840 ± 0.071 int8 "
                                                  "(leave-one-patient-out, 2 patients)")
    card = {"metrics": {"held_out_mean_auroc_int8": 0.61, "held_out_mean_auroc_fp32": 0.62, "max_probability_change": 0.1},
            "training": {"held_out": "170 images"}}
    (tmp_path / "card.json").write_text(json.dumps(card))
    assert quality_of(tmp_path / "card.json") == "mean auroc 0.620 fp32, 0.610 int8 (held-out: 170 images)"
    (row,) = profile_all(SMALL[:1], latency_repeats=0)
    row["quality"] = quality_of(tmp_path / "card.json")
    assert "| SaDNN-cls | mean auroc 0.620 fp32, 0.610 int8 (held-out: 170 images) |" in to_markdown([row])
