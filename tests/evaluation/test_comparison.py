"""Paired comparisons of methods and the harm rate (medrl.evaluation.comparison)."""

from __future__ import annotations

import math

import pytest

from medrl.evaluation.comparison import harmful_interactions, verdict
from medrl.evaluation.summary import Estimate


@pytest.mark.parametrize("low, high, n, higher_is_better, expected", [
    (0.01, 0.05, 6, True, "beats"),
    (-0.05, -0.01, 6, True, "loses"),
    (-0.01, 0.05, 6, True, "ties"),
    (0.0, 0.0, 6, True, "ties"),           # identical on every case
    (0.5, 1.5, 6, False, "loses"),         # more clicks needed: worse
    (math.nan, math.nan, 1, True, "undetermined"),
])
def test_verdict_follows_the_paired_interval(low, high, n, higher_is_better, expected):
    assert verdict(Estimate((low + high) / 2, low, high, n), higher_is_better) == expected


def test_harmful_interactions_count_drops_beyond_the_tolerance():
    curves = [[0.70, 0.72, 0.71, 0.716], [0.80, 0.796, 0.60]]  # drops: -0.01 (harm), -0.004 (noise), -0.196 (harm)
    assert harmful_interactions(curves) == (2, 5)
    assert harmful_interactions(curves, tolerance=0.05) == (1, 5)
    assert harmful_interactions([[0.5]]) == (0, 0)
