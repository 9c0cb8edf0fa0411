"""The clinician overrides the reward's target; voxels with no target are invalid."""

from __future__ import annotations

import pytest
import torch

from medrl.env.rewards.target import reward_target
from medrl.errors import MedrlInputError

W = 2.5  # clinician weight used below

# one voxel per row: label, label known?, clinician touched?, clinician label -> target, valid, weight
CASES = [
    (1, True, False, 0, 1.0, True, 1.0),  # dataset label only
    (0, True, False, 1, 0.0, True, 1.0),  # clinician label ignored where the clinician did not touch
    (0, True, True, 1, 1.0, True, W),  # clinician wins over the dataset
    (1, True, True, 0, 0.0, True, W),
    (1, False, False, 1, 0.0, False, 0.0),  # label unknown, no clinician: invalid
    (0, False, True, 1, 1.0, True, W),  # label unknown, clinician: valid
]


def column(values, dtype):
    return torch.tensor(values, dtype=dtype).view(1, 1, 1, 1, -1)


def test_override_table():
    label, known, touched, clinician, target, valid, weight = zip(*CASES)
    out_target, out_valid, out_weight = reward_target(
        column(label, torch.float32),
        column(clinician, torch.float32),
        column(touched, torch.bool),
        clinician_weight=W,
        label_valid=column(known, torch.bool),
    )
    assert out_target.dtype == torch.float32 and out_valid.dtype == torch.bool and out_weight.dtype == torch.float32
    assert out_target.flatten().tolist() == list(target)
    assert out_valid.flatten().tolist() == list(valid)
    assert out_weight.flatten().tolist() == list(weight)


def test_no_ground_truth_only_clinician_voxels_are_valid():
    touched = column([False, True, False, True], torch.bool)
    target, valid, weight = reward_target(None, column([1, 1, 1, 0], torch.float32), touched)
    assert valid.flatten().tolist() == [False, True, False, True]
    assert target.flatten().tolist() == [0.0, 1.0, 0.0, 0.0]
    assert weight.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]


def test_no_ground_truth_and_no_clicks_means_nothing_is_valid():
    _, valid, _ = reward_target(None, torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 1, 2, 2, 2, dtype=torch.bool))
    assert not valid.any()


def test_label_without_label_valid_is_known_everywhere():
    untouched = column([False, False], torch.bool)
    target, valid, _ = reward_target(column([1, 0], torch.uint8), torch.zeros(1, 1, 1, 1, 2), untouched)
    assert valid.all() and target.flatten().tolist() == [1.0, 0.0]


def test_mismatched_shapes_are_a_user_error():
    label = torch.zeros(1, 1, 2, 2, 3)
    with pytest.raises(MedrlInputError, match="label"):
        reward_target(label, torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 1, 2, 2, 2, dtype=torch.bool))


def test_split_corrections_and_bad_values():
    from medrl.env.rewards.target import split_corrections

    label, mask = split_corrections(torch.tensor([[0, 1], [2, 0]], dtype=torch.uint8))
    assert label.tolist() == [[0.0, 0.0], [1.0, 0.0]] and mask.tolist() == [[False, True], [True, False]]
    for bad in (torch.tensor([3]), torch.tensor([0.5])):
        with pytest.raises(MedrlInputError, match="corrections"):
            split_corrections(bad)
