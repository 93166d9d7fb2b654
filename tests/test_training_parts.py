"""The parts of training: AUROC, the 8-bit AdamW, fixed-point QAT, augmentation, class weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from training.augment import augment
from training.metrics import auroc
from training.loop import TrainConfig, make_optimiser, optimiser_state_bytes
from training.qat import ActivationQuantiser, apply_fixed_point, fixed_point
from training.tasks import class_weights, soft_dice_loss


def test_auroc_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    scores, labels = rng.random(200).round(1), rng.random(200) < 0.3
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p in scores[labels] for n in scores[~labels]]
    assert auroc(scores, labels) == pytest.approx(np.mean(pairs))
    assert auroc(np.array([0.1, 0.9]), np.array([0, 1])) == 1.0
    assert np.isnan(auroc(np.array([0.1, 0.9]), np.array([1, 1])))


def _adam_runs(scale: torch.Tensor, steps: int) -> dict:
    """fp32 AdamW and the 8-bit AdamW of ``--optim-8bit`` on the same noisy gradients (element scales ``scale``)."""
    generator = torch.Generator().manual_seed(0)
    gradients = [torch.randn(len(scale), generator=generator) * scale for _ in range(steps)]
    runs = {}
    for name, eight_bit in (("fp32", False), ("8-bit", True)):
        weights = nn.Linear(len(scale), 1, bias=False)
        nn.init.zeros_(weights.weight)
        optimiser = make_optimiser(TrainConfig(task="segmentation", data=[], lr=1e-3, optim_8bit=eight_bit), weights)
        for gradient in gradients:
            optimiser.zero_grad()
            weights.weight.grad = gradient[None].clone()
            optimiser.step()
        runs[name] = (weights.weight.detach()[0].clone(), optimiser)
    return runs


def test_the_8bit_adamw_keeps_small_second_moments_and_a_quarter_of_the_state():
    """Gradient scales spanning three decades within each block: the linear 8-bit Adam this replaced zeroed 13.7% of
    the second moments (and then divided by eps); bitsandbytes' dynamic code zeroes none."""
    import bitsandbytes.functional as F

    scale = torch.logspace(-3, 0, 8192)[torch.randperm(8192, generator=torch.Generator().manual_seed(1))]
    runs = _adam_runs(scale, 50)
    (reference, adam), (weights, adam8) = runs["fp32"], runs["8-bit"]
    state = next(iter(adam8.state.values()))
    assert state["state2"].dtype == torch.uint8
    second = F.dequantize_blockwise(state["state2"], absmax=state["absmax2"], code=state["qmap2"], blocksize=256)
    assert not ((second.reshape(-1) == 0) & (next(iter(adam.state.values()))["exp_avg_sq"].reshape(-1) > 0)).any()
    assert torch.corrcoef(torch.stack([weights, reference]))[0, 1] > 0.9
    assert optimiser_state_bytes(adam8.state) < 0.3 * optimiser_state_bytes(adam.state)


def test_fixed_point_rounds_to_power_of_two_steps_with_a_straight_through_gradient():
    x = torch.tensor([0.1, -0.37, 0.9, 1.7], requires_grad=True)
    y = fixed_point(x, bits=4, signed=True)  # |x| < 2: 2 integer bits incl. sign -> step 1/4
    assert torch.allclose(y, torch.tensor([0.0, -0.25, 1.0, 1.75]))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(4))
    assert len(torch.unique(fixed_point(torch.rand(1000) * 3, bits=6, signed=False))) <= 64


def test_qat_keeps_the_first_and_last_layers_in_full_precision():
    from engine.modelling.models import create_model

    model = create_model("unet_small")
    report = apply_fixed_point(model, weight_bits=4, act_bits=6)
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    assert not hasattr(weighted[0], "parametrizations") and not hasattr(weighted[-1], "parametrizations")
    inner = weighted[1].weight
    assert len(torch.unique(inner)) <= 16  # 4-bit weights
    assert report["quantised_activations"] == sum(isinstance(m, ActivationQuantiser) for m in model.modules()) > 0
    out = model(torch.randn(1, 1, 64, 64))
    out.sum().backward()
    assert weighted[1].parametrizations.weight.original.grad is not None


def test_augmentation_moves_image_and_mask_together():
    generator = torch.Generator().manual_seed(0)
    images = torch.zeros(4, 1, 64, 64)
    images[:, :, 20:40, 20:40] = 1.0
    masks = (images[:, 0] > 0.5).long()
    moved, moved_masks = augment(images, generator, masks)
    assert moved.shape == images.shape and moved_masks.dtype == masks.dtype
    assert not torch.equal(moved_masks, masks)
    bright = moved[:, 0] > moved[:, 0].mean(dim=(1, 2), keepdim=True)
    agreement = (bright == moved_masks.bool()).float().mean()
    assert agreement > 0.97


def test_class_weights_and_soft_dice():
    targets = torch.tensor([[1, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, 0]], dtype=torch.float32)
    assert class_weights(targets).tolist() == [1.0, 1.0, 1.0]
    targets[1, 1] = 1
    assert class_weights(targets)[1] == 3.0
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, 2:6, 2:6] = 1
    perfect = torch.stack([(1 - labels) * 20.0, labels * 20.0], dim=1).float()
    assert soft_dice_loss(perfect, labels) < 0.01 and soft_dice_loss(-perfect, labels) > 0.95


def test_youden_thresholds_separate_the_classes():
    from training.metrics import youden_thresholds

    probabilities = np.array([[0.1, 0.5, 0.1], [0.2, 0.5, 0.2], [0.7, 0.5, 0.3], [0.9, 0.5, 0.4]])
    labels = np.array([[0, 1, 0], [0, 1, 0], [1, 1, 0], [1, 1, 0]])
    # No negatives: 0.5. No positives: above 95% of the negatives, not a call on every image.
    assert youden_thresholds(probabilities, labels) == pytest.approx((0.7, 0.5, 0.385))


def test_random_crops_are_regions_of_their_image_and_favour_the_liver():
    from training.augment import random_crops

    generator = torch.Generator().manual_seed(0)
    images = torch.arange(4 * 64 * 64, dtype=torch.float32).reshape(4, 1, 64, 64)  # every pixel unique
    masks = torch.zeros(4, 64, 64, dtype=torch.int64)
    masks[:, 50:54, 2:6] = 1  # a small organ in a corner
    masks[3] = 0  # no foreground at all on the last one
    patches, labels = random_crops(images, masks, 16, generator, foreground=1.0)
    assert patches.shape == (4, 1, 16, 16) and labels.shape == (4, 16, 16)
    for image, mask, patch, label in zip(images, masks, patches, labels):
        top, left = divmod(int(patch[0, 0, 0]) % (64 * 64), 64)  # where the patch came from
        assert torch.equal(patch, image[:, top : top + 16, left : left + 16])
        assert torch.equal(label, mask[top : top + 16, left : left + 16])
    assert all(label.any() for label in labels[:3]) and not labels[3].any()


def test_noise_is_drawn_only_when_asked_and_crop_options_are_checked():
    from training.errors import DatasetError
    from training.loop import TrainConfig

    images = torch.zeros(2, 1, 32, 32)
    quiet = augment(images, torch.Generator().manual_seed(1), degrees=0.0, scale=0.0)
    noisy = augment(images, torch.Generator().manual_seed(1), degrees=0.0, scale=0.0, noise_std=0.04)
    assert 0 < (noisy - quiet).std() < 0.04
    with pytest.raises(DatasetError, match="^--crop must lie between 16 and the image size 256, got 300$"):
        TrainConfig("segmentation", ["x"], crop=300)
    with pytest.raises(DatasetError, match="^--pixel-spacing-mm and --crop are for segmentation$"):
        TrainConfig("classification", ["x"], crop=64)
    with pytest.raises(DatasetError, match="^--balanced and --label-smoothing are for classification$"):
        TrainConfig("segmentation", ["x"], balanced=True)
    with pytest.raises(DatasetError, match=r"^--label-smoothing must lie in \[0, 1\), got 1.0$"):
        TrainConfig("classification", ["x"], label_smoothing=1.0)


def test_the_cosine_schedule_starts_at_the_peak_and_decays_towards_zero():
    from training.errors import DatasetError
    from training.loop import TrainConfig, make_optimiser

    config = TrainConfig("segmentation", ["x"], epochs=4, lr=1e-3, lr_schedule="cosine", weight_decay=0.01)
    rates = [config.lr_at(epoch) for epoch in range(1, 5)]
    assert rates == pytest.approx([1e-3, 0.5e-3 * (1 + np.cos(np.pi / 4)), 0.5e-3, 0.5e-3 * (1 - np.cos(np.pi / 4))])
    assert TrainConfig("segmentation", ["x"], lr=1e-3).lr_at(7) == 1e-3
    assert isinstance(make_optimiser(config, nn.Linear(2, 2)), torch.optim.AdamW)
    with pytest.raises(DatasetError, match="^unknown --lr-schedule 'step': constant or cosine$"):
        TrainConfig("segmentation", ["x"], lr_schedule="step")


def test_balanced_sampling_draws_every_finding_about_equally_often():
    from training.loop import balanced_weights

    targets = torch.zeros(100, 3)
    targets[:5, 0] = 1  # rare
    targets[5:35, 1] = 1  # common
    targets[30:35, 2] = 1  # rare, on images that also carry the common finding
    weights = balanced_weights(targets).tolist()  # 65 images with no finding
    assert weights[0] == pytest.approx(1 / 5) and weights[10] == pytest.approx(1 / 30)
    assert weights[30] == pytest.approx(1 / 5) and weights[99] == pytest.approx(1 / 65)
    drawn = targets[torch.multinomial(torch.tensor(weights), 40000, replacement=True, generator=torch.Generator().manual_seed(0))]
    share = torch.cat([drawn, (drawn.sum(1, keepdim=True) == 0).float()], 1).mean(0).tolist()
    assert share[0] == pytest.approx(share[3], rel=0.1)  # the rare finding as often as no finding
    assert share[0] > 5 * 5 / 100


def test_label_smoothing_pulls_targets_towards_one_half():
    from training.tasks import classification_task

    logits, targets = torch.tensor([[3.0, -3.0]]), torch.tensor([[1.0, 0.0]])
    plain, smooth = classification_task(64).loss, classification_task(64, label_smoothing=0.2).loss
    expected = nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([[0.9, 0.1]]))
    assert float(smooth(logits, targets)) == pytest.approx(float(expected))
    assert plain(logits, targets) < smooth(logits, targets)


def test_the_auroc_ci_resamples_patients_not_images():
    from training.metrics import auroc_ci

    rng = np.random.default_rng(1)
    scores, labels = rng.random(40), np.arange(40) % 4 == 0
    scores[labels] += 0.3
    single = auroc_ci(scores, labels, [str(i) for i in range(40)])
    assert single[0] < auroc(scores, labels) < single[1]
    # Each patient imaged 10 times with the same result: no more evidence than one image each.
    repeated = auroc_ci(np.repeat(scores, 10), np.repeat(labels, 10), [str(i) for i in np.repeat(np.arange(40), 10)])
    assert repeated == pytest.approx(single, abs=0.03)
    as_if_independent = auroc_ci(np.repeat(scores, 10), np.repeat(labels, 10), [str(i) for i in range(400)])
    assert as_if_independent[1] - as_if_independent[0] < 0.5 * (single[1] - single[0])
    assert auroc_ci(scores, labels, ["one patient"] * 40) == pytest.approx((auroc(scores, labels),) * 2)


def test_a_finding_is_validated_only_on_enough_positives_and_a_ci_above_chance():
    from engine.runtime.evidence import FindingEvidence, finding_evidence

    assert FindingEvidence(0.80, 0.62, 0.93, 12).validated
    assert FindingEvidence(0.80, 0.62, 0.93, 12).describe() == "0.80 (0.62-0.93)"
    few = FindingEvidence(0.95, 0.90, 1.0, 3)
    assert not few.validated and few.reason == "only 3 held-out positives (at least 10 needed)"
    chance = FindingEvidence(0.60, 0.48, 0.71, 40)
    assert not chance.validated and chance.reason == "95% CI includes chance (0.5)"
    unknown = FindingEvidence(0.90, float("nan"), float("nan"), 40)  # a card written before CIs were recorded
    assert not unknown.validated and unknown.reason == "no confidence interval recorded" and unknown.describe() == "0.90"
    metrics = {"full": {"int8": {"per_class": {"Mass": {"auroc": 0.7, "auroc_ci": [0.55, 0.8], "positives": 11}}}}}
    assert finding_evidence(metrics, ("Mass", "Hernia")) == (FindingEvidence(0.7, 0.55, 0.8, 11), None)
    assert finding_evidence({}, ("Mass",)) == (None,)


def test_the_mean_auroc_has_a_patient_bootstrap_ci_around_it():
    from training.metrics import classification_metrics

    rng = np.random.default_rng(3)
    labels = rng.random((120, 3)) < 0.3
    labels[:, 2] = False  # not measurable: left out of the mean, as in the point estimate
    probabilities = np.clip(rng.random((120, 3)) + 0.4 * labels, 0, 1)
    groups = [str(i // 3) for i in range(120)]
    metrics = classification_metrics(probabilities, labels, ("a", "b", "c"), groups=groups)
    low, high = metrics["mean_auroc_ci"]
    assert low < metrics["mean_auroc"] < high and 0.5 < low and high - low < 0.3
    assert "mean_auroc_ci" not in classification_metrics(probabilities, labels, ("a", "b", "c"))


def test_peak_memory_is_read_on_posix_and_without_the_resource_module(monkeypatch):
    """Training rows record peak memory on Linux and also where ``resource`` does not exist (Windows)."""
    import sys
    from types import SimpleNamespace

    import psutil

    from training.loop import peak_rss_mib

    now = psutil.Process().memory_info().rss / 2**20
    assert peak_rss_mib() >= now * 0.99  # the peak is at least what the process holds now
    monkeypatch.setitem(sys.modules, "resource", None)  # import resource raises ImportError, as on Windows
    monkeypatch.setattr(psutil, "Process", lambda: SimpleNamespace(memory_info=lambda: SimpleNamespace(peak_wset=3 * 2**20)))
    assert peak_rss_mib() == 3.0


def test_the_youden_threshold_equals_a_brute_force_search_with_ties():
    """The ROC-curve threshold is the one an exhaustive search over every distinct score picks (lowest on ties)."""
    from training.metrics import youden_thresholds

    rng = np.random.default_rng(3)
    for _ in range(20):
        truth = rng.random(300) < 0.2
        scores = np.round(rng.random(300) * 0.6 + truth * 0.3, 2)  # many tied scores
        candidates = np.unique(scores)
        j = [(scores[truth] >= t).mean() + (scores[~truth] < t).mean() - 1 for t in candidates]
        expected = candidates[int(np.argmax(j))]
        assert youden_thresholds(scores[:, None], truth[:, None]) == (pytest.approx(expected),)


def test_far_false_positives_count_what_lies_beyond_10_mm_in_millimetres():
    from training.metrics import far_false_positives, segmentation_metrics

    reference = np.zeros((10, 40, 40), bool)
    reference[3:7, 10:20, 10:20] = True
    near, far_blob = np.zeros_like(reference), np.zeros_like(reference)
    near[3:7, 10:20, 21:24] = True  # 2-4 columns beyond the reference's edge: 4-8 mm at 2 mm pixels
    far_blob[4:6, 30:34, 30:34] = True  # 11-14 rows and columns away: over 30 mm
    predicted = reference | near | far_blob
    result = far_false_positives(predicted, reference, (3.0, 2.0, 2.0))
    assert result["ml"] == pytest.approx(32 * 12 / 1000)  # 32 voxels of 3 x 2 x 2 mm
    assert result["fraction_of_prediction"] == pytest.approx(32 / predicted.sum())
    # at 0.5 mm pixels the near blob (1-2 mm) and the far one (under 10 mm diagonally) are both within 10 mm
    assert far_false_positives(predicted, reference, (1.0, 0.5, 0.5))["ml"] == 0
    # with no reference at all every predicted voxel is far; nothing predicted is 0 % of nothing
    assert far_false_positives(predicted, np.zeros_like(reference), (1, 1, 1))["fraction_of_prediction"] == 1.0
    assert far_false_positives(np.zeros_like(reference), reference, (1, 1, 1)) == {"ml": 0.0, "fraction_of_prediction": 0.0}
    # per case, after post-processing too (the largest component drops the far blob: 0 mL after, 0.384 mL before)
    cases = ["a"] * 10
    metrics = segmentation_metrics(predicted, reference, cases, ("largest_component_3d",), {"a": (3.0, 2.0, 2.0)})
    assert metrics["far_false_positives"]["a"]["ml"] == 0
    assert metrics["before_postprocessing"]["far_false_positives"]["a"]["ml"] == pytest.approx(0.384)
