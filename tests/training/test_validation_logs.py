"""Validation episodes are seeded by their case, not by process or batch order."""

from __future__ import annotations

import torch

from medrl.training.validation_logs import case_seed


def test_the_robot_seed_is_the_cases_own():
    assert case_seed({"perturbation_seed": torch.tensor([10_003])}) == 10_003
    assert case_seed({"perturbation_seed": 7}) == 7
    assert case_seed({}, default=5) == 5
