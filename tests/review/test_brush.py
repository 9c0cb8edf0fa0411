"""Brush geometry: a dab is the same ball in mm as a click's, computed in its own box; a stroke is an
unbroken line of dabs; hints along a stroke are thinned."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medrl.env.clicks import Click, click_ball
from medrl.review.brush import dab, densify, footprint_mask, thin

SHAPE, SPACING = (30, 24, 12), (0.8, 1.2, 3.0)


@pytest.mark.parametrize("centre", [(15, 12, 6), (0, 0, 0), (29, 23, 11), (1, 22, 5)])
@pytest.mark.parametrize("radius", [0.0, 1.0, 2.4, 6.0])
def test_a_dab_is_the_click_ball_in_mm_even_at_the_border(centre, radius):
    box, inside = dab(centre, SHAPE, SPACING, radius)
    mask = np.zeros(SHAPE, bool)
    mask[box] = inside.numpy()
    expected = click_ball(Click(centre, True), SHAPE, SPACING, radius).numpy()
    assert np.array_equal(mask, expected) and mask[centre]


def test_densify_keeps_the_ends_and_steps_no_more_than_half_a_radius():
    path = [(2, 2, 2), (25, 20, 2), (25, 3, 9)]
    radius = 4.0
    centres = densify(path, SPACING, radius)
    assert centres[0] == path[0] and centres[-1] == path[-1] and path[1] in centres
    gaps = [math.dist(np.multiply(a, SPACING), np.multiply(b, SPACING)) for a, b in zip(centres, centres[1:])]
    rounding = math.dist((0, 0, 0), np.multiply(SPACING, 0.5))  # rounding to voxels moves a centre this far at most
    assert max(gaps) <= radius / 2 + 2 * rounding and min(gaps) > 0


def test_a_fast_drag_still_paints_an_unbroken_line():
    """Two far-apart mouse positions: the stroke's footprint is one connected piece covering the segment."""
    from scipy import ndimage

    start, end = (2, 3, 6), (27, 20, 6)
    mask = footprint_mask(densify([start, end], SPACING, 1.5), SHAPE, SPACING, 1.5)
    assert ndimage.label(mask)[1] == 1
    for t in np.linspace(0, 1, 50):  # every voxel on the straight segment is painted
        assert mask[tuple(int(round(a + (b - a) * t)) for a, b in zip(start, end))]


def test_thin_keeps_points_a_gap_apart_and_both_ends():
    path = [(i, 0, 0) for i in range(30)]  # 0.8 mm apart along x
    kept = thin(path, SPACING, gap_mm=5.0)
    assert kept[0] == path[0] and kept[-1] == path[-1]
    gaps = [abs(b[0] - a[0]) * 0.8 for a, b in zip(kept, kept[1:])]
    assert all(g >= 5.0 for g in gaps[:-1]) and len(kept) == 6  # x = 0, 7, 14, 21, 28, then 29
    assert thin([], SPACING, 5.0) == [] and thin([(1, 1, 1)], SPACING, 5.0) == [(1, 1, 1)]
