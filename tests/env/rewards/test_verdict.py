"""The accept/reject reward by hand, its direction and signed maps, and the environment mixing it in."""

from __future__ import annotations

import math

import pytest
import torch

from medrl.env.environment import EnvConfig, RefinementEnv
from medrl.env.rewards.mixture import RewardConfig
from medrl.env.rewards.verdict import LOWERED, RAISED, UNCHANGED, refinement_direction, signed_verdict_map, verdict_gain
from medrl.env.state import soft_start
from medrl.errors import MedrlInputError

MINUS_04, MINUS_01, KEEP, PLUS_01, PLUS_04 = 0, 2, 3, 4, 6
GAIN_04 = math.log(0.65 / 0.25)  # CE gain of a soft-started voxel moved 0.4 the right way


def row(values, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype).view(1, 1, 1, 1, -1)


# ------------------------------------------------------------------------------- the functions
def test_verdict_gain_by_hand():
    p_prev = row([0.25, 0.25, 0.75, 0.75, 0.95, 0.5])
    p_next = row([0.65, 0.65, 0.35, 0.65, 1.00, 0.5])
    target = row([1.0, -1.0, -1.0, 0.5, 1.0, 1.0])
    # 0.4/0.4 = 1; the same raise under a rejection -1; a lowering where the target is -1 earns +1;
    # half a verdict, -0.1 -> -0.125; a clipped raise of 0.05 -> 0.125; no change -> 0
    expected = [1.0, -1.0, 1.0, -0.125, 0.125, 0.0]
    assert verdict_gain(p_prev, p_next, target).flatten().tolist() == pytest.approx(expected)
    assert verdict_gain(p_prev, p_next, target, max_step=0.2).flatten().tolist() == pytest.approx([2 * e for e in expected])
    valid = row([True, False, True, True, True, True], torch.bool)
    assert verdict_gain(p_prev, p_next, target, valid)[0, 0, 0, 0, 1] == 0
    assert not verdict_gain(p_prev, p_next, torch.zeros_like(target)).any()  # no verdict, no reward
    assert not verdict_gain(p_next, p_next, target).any()  # keeping earns 0


def test_verdict_gain_refuses_a_non_positive_step():
    with pytest.raises(MedrlInputError, match="max_step"):
        verdict_gain(row([0.5]), row([0.5]), row([1.0]), max_step=0.0)


def test_the_direction_map_counts_what_the_clinician_sees_change():
    before = row([0.25, 0.75, 0.75, 0.25, 0.45, 0.5])
    after = row([0.65, 0.35, 1.00, 0.00, 0.55, 0.49])
    direction = refinement_direction(before, after)
    assert direction.dtype == torch.uint8
    assert direction.flatten().tolist() == [RAISED, LOWERED, UNCHANGED, UNCHANGED, RAISED, LOWERED]
    masks = refinement_direction(row([0, 1, 1], torch.uint8), row([1, 1, 0], torch.uint8))
    assert masks.flatten().tolist() == [RAISED, UNCHANGED, LOWERED]
    with pytest.raises(MedrlInputError, match="differs"):
        refinement_direction(row([0.5]), row([0.5, 0.5]))


def test_the_signed_verdict_map_by_hand():
    direction = torch.tensor([[0, 1, 2], [0, 1, 2]], dtype=torch.uint8).view(2, 1, 1, 1, 3)
    signed = signed_verdict_map(direction, torch.tensor([1.0, -1.0]))
    assert signed.dtype == torch.float32 and signed.shape == direction.shape
    assert signed.flatten().tolist() == [0.0, -1.0, 1.0, 0.0, 1.0, -1.0]
    assert not signed_verdict_map(direction, torch.zeros(2)).any()
    with pytest.raises(MedrlInputError, match="verdict_direction"):
        signed_verdict_map(direction + 1, torch.ones(2))
    with pytest.raises(MedrlInputError, match="2 verdicts"):
        signed_verdict_map(direction, torch.ones(3))
    with pytest.raises(MedrlInputError, match="verdict"):
        signed_verdict_map(direction, torch.tensor([2.0, 1.0]))


# ---------------------------------------------------------------------------- in the environment
def scene(batch: int = 1, size: int = 5):
    """A 5³ volume, empty start; label a cube (when used); verdict maps are set by each test."""
    image = torch.zeros(batch, 1, size, size, size)
    label = torch.zeros_like(image)
    label[..., 1:4, 1:4, 1:4] = 1
    return image, soft_start(torch.zeros_like(image)), label


def test_a_verdict_alone_rewards_its_voxels_and_nothing_else():
    image, p0, _ = scene()
    verdict = torch.zeros_like(image)
    verdict[0, 0, 2, 2, 2], verdict[0, 0, 0, 0, 0] = 1.0, -1.0  # accepted raise, accepted lowering
    env = RefinementEnv()
    env.reset(image, p0, verdict=verdict)
    assert not env.valid.any() and int(env.known.sum()) == 2
    assert env.agent_valid().flatten().nonzero().flatten().tolist() == [0, 62]  # voxels (0,0,0) and (2,2,2)
    _, reward = env.step(torch.full((1, 125), PLUS_04))
    assert reward[0, 0, 2, 2, 2].item() == pytest.approx(1.0)
    assert reward[0, 0, 0, 0, 0].item() == pytest.approx(-1.0)
    assert int((reward != 0).sum()) == 2
    agent = env.agent_rewards(reward)
    assert agent[0, 62].item() == pytest.approx(1.0) and agent[0, 0].item() == pytest.approx(-1.0)
    assert env.add_clicks() == [[]]  # nothing known to click on: no robot click, no error


def test_the_environment_adds_the_verdict_gain_to_the_weighted_ce_gain():
    image, p0, label = scene(batch=2)
    verdict = torch.zeros_like(image)
    verdict[0, 0, 2, 2, 2] = -1.0  # a rejected raise on a voxel of the label
    verdict[0, 0, 0, 0, 0] = 0.5
    config = EnvConfig(boundary_gain=1.0, reward=RewardConfig(verdict=2.0))
    env, plain = RefinementEnv(config), RefinementEnv(config)
    env.reset(image, p0, label=label, verdict=verdict)
    plain.reset(image, p0, label=label)
    actions = torch.full((2, 125), PLUS_04)
    _, reward = env.step(actions)
    _, ce_only = plain.step(actions)
    weight = env.weight[0, 0, 2, 2, 2].item()
    assert weight > 1  # boundary-weighted: the verdict part must not be multiplied by it
    assert reward[0, 0, 2, 2, 2].item() == pytest.approx(weight * GAIN_04 - 2.0, abs=1e-5)
    assert reward[0, 0, 0, 0, 0].item() == pytest.approx(ce_only[0, 0, 0, 0, 0].item() + 1.0, abs=1e-5)
    no_verdict = verdict == 0
    assert torch.equal(reward[no_verdict], ce_only[no_verdict])  # zero where no verdict: the CE gain alone


def test_the_verdict_weight_turns_it_off_and_an_all_zero_map_changes_nothing():
    image, p0, label = scene()
    verdict = torch.ones_like(image)
    actions = torch.full((1, 125), PLUS_04)
    rewards = []
    for weight, given in ((0.0, verdict), (1.0, torch.zeros_like(verdict)), (1.0, None)):
        env = RefinementEnv(EnvConfig(reward=RewardConfig(verdict=weight)))
        env.reset(image, p0, label=label, verdict=given)
        rewards.append(env.step(actions)[1])
    assert torch.equal(rewards[0], rewards[2]) and torch.equal(rewards[1], rewards[2])


def test_a_clinicians_mark_overrides_the_verdict_on_its_voxel():
    image, p0, _ = scene()
    verdict = torch.ones_like(image)  # an accepted raise everywhere
    corrections = torch.zeros_like(image, dtype=torch.uint8)
    corrections[0, 0, 0, 0, 0] = 1  # but the clinician marked this voxel background
    env = RefinementEnv()
    env.reset(image, p0, corrections=corrections, verdict=verdict)
    _, reward = env.step(torch.full((1, 125), PLUS_04))
    assert reward[0, 0, 0, 0, 0].item() == pytest.approx(math.log(0.35 / 0.75), abs=1e-5)  # CE towards the mark only
    assert reward[0, 0, 4, 4, 4].item() == pytest.approx(1.0)


def test_the_oracle_follows_the_verdict_where_it_is_the_only_signal():
    image, p0, label = scene()
    known = torch.zeros_like(label, dtype=torch.bool)
    known[..., :2] = True  # the label is known on two slices only
    verdict = torch.zeros_like(image)
    verdict[..., 3] = 1.0
    verdict[..., 4] = -1.0
    env = RefinementEnv()
    env.reset(image, p0, label=label, label_valid=known, verdict=verdict)
    oracle = env.oracle_actions().view(5, 5, 5)
    assert (oracle[..., 3] == PLUS_04).all() and (oracle[..., 4] == MINUS_04).all()
    assert oracle[2, 2, 1] == PLUS_04 and oracle[0, 0, 0] == MINUS_04  # the label's voxels: towards the label


def test_region_agents_pool_over_voxels_with_a_verdict():
    image, p0, _ = scene()
    regions = (torch.arange(5).view(1, 5, 1, 1) >= 2).long().expand(1, 5, 5, 5)  # slices 0-1 | slices 2-4
    verdict = torch.zeros_like(image)
    verdict[0, 0, 2:, 0, 0] = -1.0  # three voxels of region 1: a rejected raise
    env = RefinementEnv()
    env.reset(image, p0, regions=regions, verdict=verdict)
    assert env.agent_valid().tolist() == [[False, True]]
    assert env.oracle_actions()[0, 1] == MINUS_04  # lower: the opposite of the rejected raise
    _, reward = env.step(torch.tensor([[KEEP, PLUS_01]]))
    assert env.agent_rewards(reward).tolist()[0] == pytest.approx([0.0, -0.25])  # the mean of its three voxels


@pytest.mark.parametrize("verdict", [torch.full((1, 1, 5, 5, 5), 1.5), torch.zeros(1, 1, 5, 5, 4),
                                     torch.full((1, 1, 5, 5, 5), float("nan"))])
def test_bad_verdict_maps_are_user_errors(verdict):
    image, p0, _ = scene()
    with pytest.raises(MedrlInputError, match="verdict"):
        RefinementEnv().reset(image, p0, verdict=verdict)


def test_the_verdict_weight_must_not_be_negative():
    with pytest.raises(ValueError, match="verdict weight"):
        RewardConfig(verdict=-1.0)
