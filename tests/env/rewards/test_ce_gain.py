"""Relative cross-entropy gain: hand-computed values and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from medrl.env.rewards.ce_gain import boundary_weight, cross_entropy_map, relative_ce_gain


def vox(*values: float) -> torch.Tensor:
    """A (1, 1, 1, 1, n) float32 volume."""
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, 1, -1)


@pytest.mark.parametrize(
    "p_prev, p_next, y, expected",
    [
        (0.5, 0.9, 1, math.log(0.9) - math.log(0.5)),  # towards 1
        (0.5, 0.1, 0, math.log(0.9) - math.log(0.5)),  # towards 0, symmetric
        (0.25, 0.65, 1, math.log(0.65 / 0.25)),  # soft start, +0.4, flips the mask
        (0.75, 0.35, 0, math.log(0.65 / 0.25)),
        (0.9, 0.5, 1, math.log(0.5) - math.log(0.9)),  # away from the target: negative
        (0.3, 0.3, 1, 0.0),  # unchanged
        (0.3, 0.3, 0, 0.0),
    ],
)
def test_reward_equals_formula(p_prev, p_next, y, expected):
    reward = relative_ce_gain(vox(p_prev), vox(p_next), vox(y))
    assert reward.dtype == torch.float32
    assert reward.item() == pytest.approx(expected, abs=1e-5)


def test_cross_entropy_at_one_half_is_log_two():
    assert cross_entropy_map(vox(0.5, 0.5), vox(0, 1)).flatten().tolist() == pytest.approx([math.log(2)] * 2)


@pytest.mark.parametrize("y", [0.0, 1.0])
def test_finite_at_zero_and_one(y):
    reward = relative_ce_gain(vox(0.0, 1.0), vox(1.0, 0.0), vox(y, y))
    assert torch.isfinite(reward).all()
    # moving from the wrong end to the right one gains -log(eps) - (-log(1 - eps)) ≈ 13.8155
    right = 1 if y == 0.0 else 0
    assert reward.flatten()[right].item() == pytest.approx(-math.log(1e-6), abs=1e-3)
    assert reward.flatten()[1 - right].item() == pytest.approx(math.log(1e-6), abs=1e-3)


def test_eps_sets_the_bound():
    reward = relative_ce_gain(vox(0.0), vox(1.0), vox(1.0), eps=1e-3)
    assert reward.item() == pytest.approx(-math.log(1e-3) + math.log(1 - 1e-3), abs=1e-4)


def test_positive_when_moving_towards_the_target():
    generator = torch.Generator().manual_seed(0)
    p_prev = torch.rand(2, 1, 3, 4, 5, generator=generator)
    target = (torch.rand(2, 1, 3, 4, 5, generator=generator) > 0.5).float()
    step = 0.2 * torch.rand(2, 1, 3, 4, 5, generator=generator) + 0.01
    p_next = torch.where(target == 1, p_prev + step, p_prev - step).clamp(0, 1)
    moved = p_next != p_prev
    reward = relative_ce_gain(p_prev, p_next, target)
    assert (reward[moved] > 0).all()
    assert (reward[~moved] == 0).all()


def test_zero_outside_valid():
    valid = torch.tensor([True, False, True, False]).view(1, 1, 1, 1, 4)
    reward = relative_ce_gain(vox(0.5, 0.5, 0.5, 0.5), vox(0.9, 0.9, 0.1, 0.1), vox(1, 1, 1, 1), valid=valid)
    gain = math.log(0.9 / 0.5)  # 0.5 -> 0.1 with y = 1 loses log(0.1 / 0.5)
    assert reward.flatten().tolist() == pytest.approx([gain, 0.0, math.log(0.1 / 0.5), 0.0], abs=1e-5)


def test_all_invalid_gives_zero_map():
    nothing_valid = torch.zeros(1, 1, 1, 1, 2, dtype=torch.bool)
    reward = relative_ce_gain(vox(0.1, 0.9), vox(0.9, 0.1), vox(1, 0), valid=nothing_valid)
    assert (reward == 0).all()


def test_perfect_mask_that_stays_perfect_earns_zero():
    target = (torch.arange(24).view(1, 1, 2, 3, 4) % 3 == 0).float()
    assert (relative_ce_gain(target, target.clone(), target) == 0).all()


def test_weight_multiplies_and_target_broadcasts():
    p_prev = torch.full((2, 1, 1, 1, 2), 0.5)
    p_next = torch.full((2, 1, 1, 1, 2), 0.9)
    weight = torch.tensor([1.0, 3.0]).view(1, 1, 1, 1, 2)
    reward = relative_ce_gain(p_prev, p_next, vox(1, 1), weight=weight)
    assert reward.shape == (2, 1, 1, 1, 2)
    gain = math.log(0.9 / 0.5)
    assert reward[0].flatten().tolist() == pytest.approx([gain, 3 * gain], abs=1e-5)


def test_boundary_weight_by_hand():
    # a line of 6 voxels, 2 mm apart: background 0, 1, 2 | foreground 3, 4, 5
    target = np.array([0, 0, 0, 1, 1, 1], dtype=bool).reshape(1, 1, 6)
    weights = boundary_weight(target, spacing=(1.0, 1.0, 2.0), boundary_gain=1.0, sigma_mm=2.0).ravel()
    by_hand = [1 + math.exp(-(d**2) / 8) for d in (6.0, 4.0, 2.0, 2.0, 4.0, 6.0)]
    assert weights.dtype == np.float32
    assert weights.tolist() == pytest.approx(by_hand, abs=1e-6)


@pytest.mark.parametrize("fill, gain", [(0, 1.0), (1, 1.0), (0, 0.0)])
def test_boundary_weight_is_one_without_boundary_or_gain(fill, gain):
    target = np.full((3, 3, 3), fill, dtype=bool)
    if gain == 0.0:
        target[1, 1, 1] = True
    assert (boundary_weight(target, (1.0, 1.0, 1.0), gain, 2.0) == 1).all()
