"""The policy in sliding windows: same outputs as the plain network where one window covers the input."""

from __future__ import annotations

import torch

from medrl.agents.policy import PolicyValueNet
from medrl.agents.windowed import SlidingWindowPolicy


def test_one_window_equals_the_plain_network():
    torch.manual_seed(0)
    policy = PolicyValueNet(7, channels=(4, 8), strides=(2,)).eval()
    state = torch.randn(1, 4, 16, 16, 16)
    with torch.no_grad():
        expected = policy(state)
        windowed = SlidingWindowPolicy(policy, (16, 16, 16))(state)
    for a, b in zip(expected, windowed):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_windows_cover_any_size_and_keep_shapes():
    policy = PolicyValueNet(7, channels=(4, 8), strides=(2,)).eval()
    state = torch.randn(2, 4, 21, 9, 30)  # larger and smaller than the window along different axes
    with torch.no_grad():
        logits, value = SlidingWindowPolicy(policy, (16, 16, 16))(state)
    assert logits.shape == (2, 7, 21, 9, 30) and value.shape == (2, 1, 21, 9, 30)
    assert torch.isfinite(logits).all()
