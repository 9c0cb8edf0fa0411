"""NoC@t and the normalised AUC on hand-made Dice curves."""

from __future__ import annotations

import pytest

from medrl.evaluation.curves import first_reaching, noc, normalised_auc, reaches

#            k:  0     1     2     3     4     5
CURVE = [0.60, 0.80, 0.84, 0.87, 0.89, 0.93]


@pytest.mark.parametrize("threshold, expected_noc, expected_reached", [
    (0.85, 3, True),    # 0.87 at k = 3 is the first value >= 0.85
    (0.90, 5, True),    # reached exactly at the last interaction: NoC = K, but reached
    (0.95, 5, False),   # never reached: capped at K = 5
    (0.60, 0, True),    # the starting mask already reaches it (>= includes equality)
    (0.84, 2, True),    # equality counts at k = 2
])
def test_noc_on_a_hand_made_curve(threshold, expected_noc, expected_reached):
    assert noc(CURVE, threshold) == expected_noc
    assert reaches(CURVE, threshold) is expected_reached


def test_never_reached_and_reached_at_start_are_told_apart_from_reaching_at_k():
    assert first_reaching(CURVE, 0.95) is None and noc(CURVE, 0.95) == len(CURVE) - 1
    assert first_reaching(CURVE, 0.93) == 5 and noc(CURVE, 0.93) == 5
    assert first_reaching([0.91, 0.5, 0.95], 0.9) == 0  # a later drop does not matter: the first reach counts


def test_auc_is_the_trapezoid_area_divided_by_k():
    # trapezoids: (0.6+0.8)/2 + (0.8+0.84)/2 + (0.84+0.87)/2 + (0.87+0.89)/2 + (0.89+0.93)/2
    #           = 0.70 + 0.82 + 0.855 + 0.88 + 0.91 = 4.165, over K = 5 interactions
    assert normalised_auc(CURVE) == pytest.approx(4.165 / 5)
    assert normalised_auc([0.5, 0.7, 0.9]) == pytest.approx(0.7)


@pytest.mark.parametrize("curve, expected", [([0.4], 0.4), ([1.0, 1.0, 1.0], 1.0), ([0.0, 0.0], 0.0), ([0.0, 1.0], 0.5)])
def test_auc_edge_cases_stay_in_unit_range(curve, expected):
    assert normalised_auc(curve) == pytest.approx(expected)


@pytest.mark.parametrize("bad", [[], [[0.5, 0.6]], [0.5, 1.2], [-0.1, 0.5], [0.5, float("nan")]])
def test_malformed_curves_are_refused(bad):
    with pytest.raises(ValueError):
        normalised_auc(bad)
    with pytest.raises(ValueError):
        noc(bad, 0.85)
