"""Task rewards (Dice gain, surface gain) by hand, and their mixture with the CE gain in the environment."""

from __future__ import annotations

import pytest
import torch

from medrl.data.mask_metrics import normalised_surface_dice
from medrl.env.environment import EnvConfig, RefinementEnv
from medrl.env.rewards.ce_gain import relative_ce_gain
from medrl.env.rewards.mixture import RewardConfig
from medrl.env.rewards.task import dice_gain, surface_gain
from medrl.env.state import soft_start


def row(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, 1, -1)


def test_hard_dice_gain_is_each_agents_exact_marginal_contribution():
    target = row([1, 1, 0, 0])
    before, after = row([1, 0, 0, 0]), row([1, 1, 0, 1])
    # after: I = 2, S = 3 + 2 = 5, D = 0.8. Without voxel 1's flip: I = 1, S = 4, D = 0.5 -> (0.3)·5/2 = 0.75;
    # without voxel 3's flip: I = 2, S = 4, D = 1 -> (-0.2)·5/2 = -0.5; voxels that kept their value earn 0.
    assert dice_gain(before, after, target, soft=False).flatten().tolist() == pytest.approx([0.0, 0.75, 0.0, -0.5])


def test_soft_dice_gain_by_hand_and_its_zeros():
    target = row([1, 0])
    before, after = row([0.25, 0.25]), row([0.65, 0.25])
    # after: I = 0.65, S = 0.9 + 1 = 1.9; without voxel 0's change: I = 0.25, S = 1.5
    expected = (2 * 0.65 / 1.9 - 2 * 0.25 / 1.5) * 1.9 / 2
    assert dice_gain(before, after, target).flatten().tolist() == pytest.approx([expected, 0.0])
    perfect = row([1, 0])
    assert not dice_gain(perfect, perfect, target).any()  # a perfect mask that stays perfect earns 0
    assert not dice_gain(before, after, target, valid=row([0, 1]).bool()).any()  # unknown target: no reward


def test_surface_gain_is_shared_among_flipped_agents_only():
    target = torch.zeros(1, 1, 8, 8, 8)
    target[..., 2:6, 2:6, 2:6] = 1
    before = target.clone()
    before[..., 2:6, 2:6, 5] = 0  # one face missing
    after = target.clone()
    after[..., 2:4, 2:6, 5] = 0  # half of it put back
    flipped = (before != after)
    reward = surface_gain(before, after, target, spacing=(1.0, 1.0, 1.0), tolerance_mm=0.0)
    gain = normalised_surface_dice(after[0, 0], target[0, 0], (1, 1, 1), 0.0) - \
        normalised_surface_dice(before[0, 0], target[0, 0], (1, 1, 1), 0.0)
    assert gain > 0 and not reward[~flipped].any()
    share = gain * float(after.sum() + target.sum()) / 2 / int(flipped.sum())
    assert reward[flipped].tolist() == pytest.approx([share] * int(flipped.sum()))
    assert not surface_gain(target, target, target).any()


def test_the_environment_mixes_the_rewards_the_config_asks_for():
    image = torch.zeros(2, 1, 6, 6, 6)
    label = torch.zeros_like(image)
    label[:, :, 1:5, 1:5, 1:5] = 1
    start = soft_start(torch.zeros_like(label))
    config = EnvConfig(reward=RewardConfig(ce_gain=0.5, dice_gain=2.0))
    env = RefinementEnv(config)
    env.reset(image, start, label=label)
    actions = torch.full((2, 6**3), 6)  # +0.4 everywhere
    _, reward = env.step(actions)
    expected = 0.5 * relative_ce_gain(start, env.p, label) + 2.0 * dice_gain(start, env.p, label)
    torch.testing.assert_close(reward, expected)


def test_reward_config_from_a_checkpoint_dict_and_bad_weights():
    config = EnvConfig(**{"reward": {"ce_gain": 1.0, "surface_gain": 0.5}})
    assert isinstance(config.reward, RewardConfig) and config.reward.surface_gain == 0.5
    with pytest.raises(ValueError, match="not all 0"):
        RewardConfig(ce_gain=0.0)
    with pytest.raises(ValueError, match=">= 0"):
        RewardConfig(dice_gain=-1.0)
