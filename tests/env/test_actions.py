"""Action set: clipping, and the oracle action (highest immediate reward)."""

from __future__ import annotations

import pytest
import torch

from medrl.env.actions import DEFAULT_DELTAS, ActionSet
from medrl.errors import MedrlInputError

KEEP, MINUS_04, PLUS_04 = 3, 0, 6


def vox(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, 1, -1)


def test_default_deltas():
    assert ActionSet().deltas == (-0.4, -0.2, -0.1, 0.0, 0.1, 0.2, 0.4)
    assert len(ActionSet()) == 7 and DEFAULT_DELTAS[KEEP] == 0.0


@pytest.mark.parametrize(
    "p, action, expected",
    [(0.1, MINUS_04, 0.0), (0.95, PLUS_04, 1.0), (0.5, KEEP, 0.5), (0.25, PLUS_04, 0.65), (0.0, 2, 0.0), (1.0, 5, 1.0)],
)
def test_apply_clips_to_unit_interval(p, action, expected):
    assert ActionSet().apply(vox(p), torch.tensor(action)).item() == pytest.approx(expected, abs=1e-6)


def test_apply_per_voxel_actions_and_custom_deltas():
    actions = ActionSet(deltas=(-0.5, 0.5))
    out = actions.apply(vox(0.2, 0.2, 0.8), torch.tensor([0, 1, 1]).view(1, 1, 1, 1, 3))
    assert out.flatten().tolist() == pytest.approx([0.0, 0.7, 1.0])


@pytest.mark.parametrize("deltas", [(), (0.0, 1.5)])
def test_bad_deltas_are_a_user_error(deltas):
    with pytest.raises(MedrlInputError):
        ActionSet(deltas=deltas)


@pytest.mark.parametrize(
    "p, y, expected",
    [
        (0.75, 1, PLUS_04),  # -> 1.0
        (0.25, 1, PLUS_04),  # -> 0.65
        (0.75, 0, MINUS_04),  # -> 0.35
        (0.25, 0, MINUS_04),  # -> 0.0
        (1.0, 1, PLUS_04),  # already perfect: every non-negative delta ties, the largest wins
        (0.0, 0, MINUS_04),
        (0.95, 1, PLUS_04),  # +0.1, +0.2, +0.4 all reach 1.0: the largest wins
    ],
)
def test_oracle_action_table(p, y, expected):
    assert ActionSet().oracle_actions(vox(p), vox(y)).item() == expected


def test_oracle_ties_break_towards_the_largest_step_also_for_custom_deltas():
    actions = ActionSet(deltas=(0.0, 0.3, -0.3, 0.6))
    assert actions.oracle_actions(vox(0.5, 0.5, 0.9), vox(1, 0, 1)).flatten().tolist() == [3, 2, 3]


def test_oracle_earns_the_best_reward():
    generator = torch.Generator().manual_seed(0)
    p = torch.rand(1, 1, 3, 3, 3, generator=generator)
    y = (torch.rand(1, 1, 3, 3, 3, generator=generator) > 0.5).float()
    valid = torch.rand(1, 1, 3, 3, 3, generator=generator) > 0.3
    actions = ActionSet()
    oracle = actions.oracle_actions(p, y, valid)
    rewards = actions.action_rewards(p, y, valid)
    assert oracle.shape == (1, 3, 3, 3) and oracle.dtype == torch.int64
    assert torch.equal(rewards.gather(1, oracle.unsqueeze(1)), rewards.max(dim=1, keepdim=True).values)


@pytest.mark.parametrize("deltas", [DEFAULT_DELTAS, (-0.3, 0.0, 0.3), (0.2, -0.4, 0.4, -0.2)])
def test_fast_binary_oracle_equals_scoring_every_action(deltas):
    """Including clipped ties at p = 0, p = 1 and near them, invalid voxels and zero weights."""
    generator = torch.Generator().manual_seed(0)
    shape = (2, 1, 6, 5, 4)
    p = torch.rand(shape, generator=generator)
    p.view(-1)[:20] = torch.tensor([0.0, 1.0, 0.95, 0.05, 0.5] * 4)
    target = (torch.rand(shape, generator=generator) > 0.5).float()
    valid = torch.rand(shape, generator=generator) > 0.2
    weight = torch.where(torch.rand(shape, generator=generator) > 0.1, 1.0 + torch.rand(shape, generator=generator), 0.0)
    actions = ActionSet(deltas)
    expected = actions.oracle_actions(p, target, valid, weight)
    assert torch.equal(actions.oracle_towards_binary_target(target, valid, weight), expected)
