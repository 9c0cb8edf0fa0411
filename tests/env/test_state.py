"""Soft start, mask threshold and the state's channels."""

from __future__ import annotations

import pytest
import torch

from medrl.env.state import STATE_CHANNELS, build_state, soft_start, to_mask


def test_soft_start_and_back():
    mask = torch.tensor([[True, False], [False, True]])
    p = soft_start(mask)
    assert p.dtype == torch.float32 and p.tolist() == [[0.75, 0.25], [0.25, 0.75]]
    assert torch.equal(to_mask(p), mask)
    custom = soft_start(mask.to(torch.uint8), inside=0.9, outside=0.1)
    assert custom.flatten().tolist() == pytest.approx([0.9, 0.1, 0.1, 0.9])


def test_one_plus_or_minus_04_flips_a_soft_started_voxel():
    p = soft_start(torch.tensor([True, False]))
    assert to_mask(p + torch.tensor([-0.4, 0.4])).tolist() == [False, True]


def test_mask_threshold_is_inclusive():
    assert to_mask(torch.tensor([0.4999, 0.5, 0.5001])).tolist() == [False, True, True]


def test_build_state_channel_order():
    image, p, hints = torch.full((1, 1, 2, 2, 2), 3.0), torch.full((1, 1, 2, 2, 2), 0.25), torch.rand(1, 2, 2, 2, 2)
    state = build_state(image, p, hints)
    assert state.shape == (1, STATE_CHANNELS, 2, 2, 2)
    assert (state[:, 0] == 3).all() and (state[:, 1] == 0.25).all() and torch.equal(state[:, 2:], hints)
