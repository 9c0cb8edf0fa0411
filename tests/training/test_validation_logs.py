"""Validation episodes are seeded by their case, not by process or batch order."""

from __future__ import annotations

import torch

from medrl.training.validation_logs import robot_seed_of


def test_the_robot_seed_is_the_cases_own():
    assert robot_seed_of({"perturbation_seed": torch.tensor([10_003])}) == 10_003
    assert robot_seed_of({"perturbation_seed": 7}) == 7
    assert robot_seed_of({}, default=5) == 5
