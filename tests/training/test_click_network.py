"""The supervised click network: its partial Dice + CE loss on hand-checkable tensors, targets from labels,
corrections and known-voxel maps, and a learning test on seeded synthetic ellipsoids."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.losses import DiceCELoss

from medrl.env.clicks import Click
from medrl.errors import MedrlInputError
from medrl.models.click_net import ClickEncoding, batch_hints, keep_clicked, network_input
from medrl.training.click_interactions import PartialDiceCELoss
from medrl.training.click_network import KNOWN_KEY, ClickNetworkModule, batch_target
from tests.agents.synthetic_volumes import synthetic_batch
from tests.evaluation.conftest import one_torch_thread
from tests.inference.checkpoints import untrained_checkpoint

SMOOTH = 1e-5  # MONAI's Dice smoothing (numerator and denominator)


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


def test_partial_loss_by_hand_ignores_the_unknown_voxel():
    """Two voxels; the first is known foreground with logits (0, 0), the second unknown."""
    logits = torch.tensor([[0.0, 3.0], [0.0, -5.0]]).view(1, 2, 1, 1, 2)  # voxel 0: (0, 0); voxel 1: (3, -5)
    target = torch.tensor([1.0, 0.0]).view(1, 1, 1, 1, 2)
    known = torch.tensor([True, False]).view(1, 1, 1, 1, 2)
    terms = PartialDiceCELoss()(logits, target, known)

    ce = math.log(2)  # softmax (0.5, 0.5) against class 1
    foreground = 1 - (2 * 0.5 + SMOOTH) / (0.5 + 1 + SMOOTH)  # p = 0.5, target 1
    background = 1 - SMOOTH / (0.5 + SMOOTH)  # p = 0.5, target 0: no overlap
    assert terms.ce.item() == pytest.approx(ce, abs=1e-6)
    assert terms.dice.item() == pytest.approx((foreground + background) / 2, abs=1e-6)
    assert terms.total.item() == pytest.approx(ce + (foreground + background) / 2, abs=1e-6)

    other = logits.clone()
    other[..., 1] = torch.tensor([-7.0, 9.0]).view(1, 2, 1, 1)
    flipped = target.clone()
    flipped[..., 1] = 1.0
    assert PartialDiceCELoss()(other, flipped, known).total.item() == pytest.approx(terms.total.item(), abs=1e-7)


def test_partial_loss_is_monai_dice_ce_when_every_voxel_is_known():
    torch.manual_seed(0)
    logits, target = torch.randn(3, 2, 6, 5, 4), (torch.rand(3, 1, 6, 5, 4) > 0.6).float()
    expected = DiceCELoss(to_onehot_y=True, softmax=True, lambda_dice=0.7, lambda_ce=1.3)(logits, target)
    loss = PartialDiceCELoss(lambda_dice=0.7, lambda_ce=1.3)
    assert loss(logits, target).total.item() == pytest.approx(expected.item(), abs=1e-6)
    assert loss(logits, target, torch.ones_like(target, dtype=torch.bool)).total.item() == pytest.approx(expected.item(), abs=1e-6)


def test_unknown_voxels_and_unknown_volumes_get_no_gradient_and_no_weight():
    torch.manual_seed(1)
    logits = torch.randn(2, 2, 4, 4, 4, requires_grad=True)
    target = (torch.rand(2, 1, 4, 4, 4) > 0.5).float()
    known = torch.zeros_like(target, dtype=torch.bool)
    known[0, :, :2] = True  # half of the first volume; nothing of the second
    loss = PartialDiceCELoss()
    terms = loss(logits, target, known)
    terms.total.backward()
    assert torch.all(logits.grad[0][:, 2:] == 0) and torch.all(logits.grad[1] == 0)
    assert torch.any(logits.grad[0][:, :2] != 0)
    alone = loss(logits[:1, :, :2].detach(), target[:1, :, :2])  # the known half on its own
    assert terms.total.item() == pytest.approx(alone.total.item(), abs=1e-6)
    assert loss(logits, target, torch.zeros_like(known)).total.item() == 0.0


def test_targets_from_labels_known_maps_and_corrections():
    label = torch.zeros(2, 1, 2, 2, 2, dtype=torch.uint8)
    label[0, 0, 0] = 1
    corrections = torch.zeros_like(label)
    corrections[1, 0, 1, 1, 1] = 2  # the unlabelled patch: one voxel marked foreground, one background
    corrections[1, 0, 0, 0, 0] = 1
    corrections[0, 0, 0, 0, 0] = 1  # a correction overrides the label
    known_map = torch.ones_like(label)
    known_map[0, 0, 1] = 0  # the first patch's label is known on its first slice only
    batch = {"label": label, "has_label": torch.tensor([True, False]), "corrections": corrections, KNOWN_KEY: known_map}
    target, known = batch_target(batch)
    assert known[0, 0].tolist() == [[[True, True], [True, True]], [[False, False], [False, False]]]
    assert target[0, 0, 0].tolist() == [[0.0, 1.0], [1.0, 1.0]]
    assert known[1].sum() == 2 and target[1, 0, 1, 1, 1] == 1 and target[1, 0, 0, 0, 0] == 0
    del batch[KNOWN_KEY], batch["corrections"]
    target, known = batch_target(batch)
    assert known[0].all() and not known[1].any()


@pytest.mark.parametrize("previous, expected", [("mask", [1.0, 0.0, 1.0]), ("probability", [0.7, 0.2, 0.5])])
def test_the_previous_result_enters_as_its_mask_or_its_probability(previous, expected):
    p = torch.tensor([0.7, 0.2, 0.5]).view(1, 1, 3, 1, 1)
    click = Click((0, 0, 0), positive=False)
    encoding = ClickEncoding(hint_sigma_mm=1.0, previous=previous)
    hints = batch_hints([[click]], (3, 1, 1), [(2.0, 1.0, 1.0)], encoding)
    inputs = network_input(torch.zeros_like(p), p, hints, encoding)
    assert inputs.shape == (1, 4, 3, 1, 1)
    assert inputs[0, 1].flatten().tolist() == pytest.approx(expected)
    assert inputs[0, 2].sum() == 0  # no positive click
    assert inputs[0, 3].flatten().tolist() == pytest.approx([1.0, math.exp(-2.0), math.exp(-8.0)])  # 0, 2, 4 mm away
    assert keep_clicked(p, [[click]], [(2.0, 1.0, 1.0)], encoding).flatten().tolist() == pytest.approx([0.0, 0.2, 0.5])


def _patch_batch(batch, has_label):
    """A training batch as the DataModule makes it (1 mm voxels)."""
    affines = torch.eye(4, dtype=torch.float64).repeat(len(has_label), 1, 1)
    return {"image": MetaTensor(batch.image, affine=affines), "label": batch.label.to(torch.uint8), "initial": batch.initial.to(torch.uint8),
            "corrections": torch.zeros_like(batch.label, dtype=torch.uint8), "has_label": torch.tensor(has_label),
            "from_review": torch.zeros(len(has_label), dtype=torch.bool)}


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_a_patch_without_known_voxels_teaches_nothing():
    """A labelled patch beside an unlabelled one gives the gradients of the labelled patch alone."""
    data = synthetic_batch(2, 16, seed=5)
    module = ClickNetworkModule(channels=(4, 8), strides=(2,), roi_size=(16, 16, 16), interactions=2)

    def gradients(batch: dict) -> list[torch.Tensor]:
        torch.manual_seed(0)  # the same number of interactions and robot seed for both calls
        module.zero_grad()
        module.training_step(batch, 0).backward()
        return [p.grad.clone() for p in module.net.parameters()]

    both = gradients(_patch_batch(data, [True, False]))
    first = synthetic_batch(2, 16, seed=5)
    first.image, first.label, first.initial = first.image[:1], first.label[:1], first.initial[:1]
    alone = gradients(_patch_batch(first, [True]))
    for g_both, g_alone in zip(both, alone):
        torch.testing.assert_close(g_both, g_alone, atol=1e-6, rtol=1e-4)


def test_bad_settings_are_named():
    with pytest.raises(MedrlInputError, match="model.interactions: must be 1 or more"):
        ClickNetworkModule(interactions=0)
    with pytest.raises(MedrlInputError, match="model.roi_size"):
        ClickNetworkModule(strides=(2, 2, 2), roi_size=(36, 32, 32))
    with pytest.raises(MedrlInputError, match="previous"):
        ClickNetworkModule(previous="logits")
    module = ClickNetworkModule(channels=(4, 8), strides=(2,), roi_size=(16, 16, 16))
    with pytest.raises(MedrlInputError, match="data.patch_size"):
        batch = synthetic_batch(1, 15, seed=0)
        module.training_step(_patch_batch(batch, [True]), 0)


def test_the_segmenter_starts_a_share_of_the_patches_and_travels_frozen_in_the_checkpoint(tmp_path):
    segmenter_path = untrained_checkpoint(tmp_path).parent / "segmenter.ckpt"
    module = ClickNetworkModule(segmenter_checkpoint=str(segmenter_path), segmenter_fraction=0.5, channels=(4, 8),
                                strides=(2,), roi_size=(16, 16, 16))
    module.train()
    assert not module.segmenter.training and not any(p.requires_grad for p in module.segmenter.parameters())
    data = synthetic_batch(4, 16, seed=2)
    given = torch.full_like(data.label, 7.0)  # a value no segmenter mask has
    masks = module.starting_masks(data.image, given, 0.5, from_review=torch.tensor([True, False, False, False]))
    # a review keeps its own start; round(0.5 · 3 other patches) = 2 of them start from the segmenter
    assert [bool((m == 7).all()) for m in masks] == [True, False, False, True]
    assert set(masks[1].unique().tolist()) <= {0.0, 1.0}
    saved = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(saved)
    assert saved["medrl"]["segmenter"]["prefix"] == "segmenter." and saved["medrl"]["policy"] is None
    assert any(key.startswith("segmenter.") for key in saved["state_dict"])
    assert set(module.configure_optimizers().param_groups[0]["params"]) == set(module.net.parameters())


def test_it_learns_to_refine_from_clicks_on_unseen_volumes():
    """A few seconds of training on 8 ellipsoids lift Dice after 3 robot interactions well above the
    starting masks' on 8 other ellipsoids (docs/design.md: ≈ 0.97 for the supervised network on 32³)."""
    start = time.perf_counter()
    torch.manual_seed(0)
    train, test = synthetic_batch(8, 16, seed=0), synthetic_batch(8, 16, seed=100)
    module = ClickNetworkModule(channels=(8, 16, 32), strides=(2, 2), roi_size=(16, 16, 16), interactions=3)
    optimizer = torch.optim.Adam(module.net.parameters(), lr=3e-3)
    rng, spacings, known = np.random.default_rng(0), [(1.0, 1.0, 1.0)] * 8, torch.ones_like(train.label, dtype=torch.bool)
    for _ in range(60):
        terms, _, _ = module.episode_loss(train.image, train.initial.float(), train.label, known, spacings, rng)
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
    module.eval()
    dice = module.robot_protocol(test.image, test.initial.float(), test.label, spacings, interactions=3).mean(1)
    print(f"click network 16³: Dice {[round(d, 3) for d in dice.tolist()]} in {time.perf_counter() - start:.1f} s")
    assert dice[-1] >= dice[0] + 0.15
    assert dice[-1] >= 0.88
