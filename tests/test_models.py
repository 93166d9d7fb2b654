"""Registry, shapes and parameter counts of the networks against the paper."""

import pytest
import torch

from engine.modelling.models import create_model, list_models

PAPER_PARAMS = {  # millions, from the seed paper and the reference code
    "sadnn_cls": 4.56,
    "sadnn_seg": 7.95,
    "resnet18": 11.17,
    "resnet50": 23.53,
    "sumnet": 23.86,
    "unet": 31.0,
}


@pytest.mark.parametrize("name,expected", sorted(PAPER_PARAMS.items()))
def test_parameter_count_within_one_percent_of_the_paper(name, expected):
    params = sum(p.numel() for p in create_model(name).parameters()) / 1e6
    assert params == pytest.approx(expected, rel=0.01)


def test_unet_small_is_a_quarter_of_sadnn_seg():
    small = sum(p.numel() for p in create_model("unet_small").parameters())
    assert 1.5e6 < small < 2.5e6


@pytest.mark.parametrize("name", ["sadnn_cls", "resnet18", "resnet50"])
def test_classifiers_map_a_radiograph_to_14_logits(name):
    model = create_model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 512, 512)).shape == (2, 14)


@pytest.mark.parametrize("name", ["sadnn_seg", "sumnet", "unet_small"])
def test_segmenters_keep_the_slice_size(name):
    model = create_model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 2, 64, 64)


def test_sadnn_seg_is_built_from_attention_only():
    from engine.modelling.layers import LocalSelfAttention2d

    model = create_model("sadnn_seg")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert convs == []
    assert sum(isinstance(m, LocalSelfAttention2d) for m in model.modules()) == 16


def test_registry_lists_and_rejects():
    assert {"sadnn_cls", "sadnn_seg", "resnet18", "resnet50", "sumnet", "unet_small"} <= set(list_models())
    with pytest.raises(KeyError, match="unknown model 'vgg'"):
        create_model("vgg")


def test_classifier_rejects_sizes_it_cannot_pool():
    with pytest.raises(ValueError, match="divisible by 64"):
        create_model("sadnn_cls", img_size=500)
