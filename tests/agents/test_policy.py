"""The policy/value network: shapes on any size, configurable, reward-map convolution."""

from __future__ import annotations

import pytest
import torch

from medrl.agents.policy import PolicyValueNet, RewardMapConv


@pytest.mark.parametrize("size", [(8, 8, 8), (5, 6, 7), (9, 3, 12)])
def test_shapes_for_sizes_not_divisible_by_the_stride(size):
    net = PolicyValueNet(n_actions=7, channels=(4, 8, 16), strides=(2, 2))
    logits, value = net(torch.randn(2, 4, *size))
    assert logits.shape == (2, 7, *size) and value.shape == (2, 1, *size)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all() and torch.isfinite(value).all()


def test_architecture_comes_from_the_constructor():
    net = PolicyValueNet(n_actions=3, in_channels=2, channels=(4, 6), strides=(2,), num_res_units=1)
    logits, value = net(torch.randn(1, 2, 4, 4, 4))
    assert logits.shape[1] == 3 and value.shape[1] == 1
    assert net.divisor == 2 and net.reward_conv is None


def test_gradients_reach_every_parameter():
    net = PolicyValueNet(channels=(4, 8), strides=(2,))
    logits, value = net(torch.randn(1, 4, 6, 6, 6))
    (logits.mean() + value.mean()).backward()
    assert all(p.grad is not None for p in net.parameters())


def test_reward_map_conv_starts_as_identity():
    conv = RewardMapConv(kernel_size=3)
    reward = torch.randn(2, 1, 4, 5, 6)
    assert torch.allclose(conv(reward), reward)
    assert PolicyValueNet(channels=(4, 8), strides=(2,), reward_map_kernel=3).reward_conv is not None
