"""Robot clinician and hint maps, on hand-made error volumes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from medrl.env.clicks import Click, click_ball, hint_maps, robot_clicks, robot_strokes


def cube(shape, corner, size) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(c, c + size) for c in corner)] = True
    return mask


def test_error_cube_is_clicked_at_its_centre():
    target = cube((9, 9, 9), (2, 2, 2), 5)
    assert robot_clicks(np.zeros_like(target), target) == [Click((4, 4, 4), True)]


def test_false_positive_gives_a_negative_click():
    pred = cube((9, 9, 9), (1, 3, 2), 5)
    assert robot_clicks(pred, np.zeros_like(pred)) == [Click((3, 5, 4), False)]


def test_no_error_no_click():
    target = cube((6, 6, 6), (1, 1, 1), 3)
    assert robot_clicks(target, target.copy(), k=3) == []
    assert robot_clicks(np.zeros_like(target), np.zeros_like(target)) == []


def test_volume_border_counts_as_boundary():
    # a slab of errors filling the first 5 slices: the deepest voxel is in the middle slice 2,
    # not at slice 0 (which would be "deepest" if the border were not boundary)
    target = np.zeros((9, 5, 5), dtype=bool)
    target[:5] = True
    (click,) = robot_clicks(np.zeros_like(target), target)
    assert click.index == (2, 2, 2)


def two_lobes() -> np.ndarray:
    """One component: lobe A, a 5×5×5 cube (centre (4, 4, 4)); lobe B, a 3×9×9 slab (centre (3, 15, 15)),
    joined by a one-voxel bridge."""
    errors = np.zeros((9, 21, 21), dtype=bool)
    errors[2:7, 2:7, 2:7] = True  # lobe A
    errors[2:5, 11:20, 11:20] = True  # lobe B
    errors[3, 7:11, 4] = True  # bridge
    errors[3, 10, 4:11] = True
    return errors


def test_two_lobes_are_one_component():
    from scipy import ndimage

    assert ndimage.label(two_lobes(), structure=np.ones((3, 3, 3)))[1] == 1


@pytest.mark.parametrize(
    "spacing, expected",
    [
        # isotropic: A's centre is 3 voxels deep, B's only 2 (its thickness is 3 slices) -> A
        ((1.0, 1.0, 1.0), (4, 4, 4)),
        # slices 3 mm apart: A's centre is 3 mm deep (in-plane), B's centre 5 mm (in-plane;
        # through-plane it is 2 slices = 6 mm from the boundary) -> B, as the EDT in mm says
        ((3.0, 1.0, 1.0), (3, 15, 15)),
    ],
)
def test_anisotropic_spacing_moves_the_click(spacing, expected):
    errors = two_lobes()
    (click,) = robot_clicks(np.zeros_like(errors), errors, spacing=spacing)
    assert click.index == expected and click.positive


def test_components_are_26_connected():
    # a diagonal chain of 3 voxels (one component only with 26-connectivity) beats a face-connected pair
    target = np.zeros((8, 8, 8), dtype=bool)
    target[1, 1, 1] = target[2, 2, 2] = target[3, 3, 3] = True
    target[6, 5:7, 6] = True
    for seed in range(5):
        (click,) = robot_clicks(np.zeros_like(target), target, rng=seed)
        assert click.index in {(1, 1, 1), (2, 2, 2), (3, 3, 3)}


def test_k_clicks_go_to_the_k_largest_components():
    shape = (20, 20, 20)
    target = cube(shape, (1, 1, 1), 5) | cube(shape, (12, 12, 12), 7)  # false negatives: 125 and 343 voxels
    pred = cube(shape, (1, 12, 1), 3)  # a 27-voxel false positive
    clicks = robot_clicks(pred, target, k=2)
    assert clicks == [Click((15, 15, 15), True), Click((3, 3, 3), True)]
    assert robot_clicks(pred, target, k=5)[2] == Click((2, 13, 2), False)
    assert len(robot_clicks(pred, target, k=5)) == 3


def test_valid_restricts_the_errors():
    target = cube((9, 9, 9), (2, 2, 2), 5)
    assert robot_clicks(np.zeros_like(target), target, valid=np.zeros_like(target)) == []


def test_ties_are_broken_by_the_seed_reproducibly():
    target = cube((8, 8, 8), (2, 2, 2), 4)  # an even cube: 8 central voxels tie
    centre = {(i, j, k) for i in (3, 4) for j in (3, 4) for k in (3, 4)}
    clicks = [robot_clicks(np.zeros_like(target), target, rng=np.random.default_rng(seed))[0] for seed in range(20)]
    assert all(c.index in centre for c in clicks)
    assert len({c.index for c in clicks}) > 1  # the seed matters
    again = [robot_clicks(np.zeros_like(target), target, rng=np.random.default_rng(seed))[0] for seed in range(20)]
    assert clicks == again


def test_hint_maps_by_hand():
    clicks = [Click((0, 0, 0), True), Click((0, 2, 2), True), Click((1, 0, 2), False)]
    hints = hint_maps(clicks, shape=(2, 3, 3), spacing=(2.0, 1.0, 1.0), sigma_mm=1.0)
    assert hints.shape == (2, 2, 3, 3) and hints.dtype == torch.float32
    positive, negative = hints
    assert positive[0, 0, 0] == 1 and positive[0, 2, 2] == 1
    assert positive[0, 0, 1].item() == pytest.approx(math.exp(-0.5))  # 1 mm from either positive click
    assert positive[1, 0, 0].item() == pytest.approx(math.exp(-2.0))  # 2 mm through-plane
    assert positive[0, 1, 1].item() == pytest.approx(math.exp(-1.0))  # √2 mm from both: max, not sum
    assert negative[1, 0, 2] == 1 and negative[0, 0, 2].item() == pytest.approx(math.exp(-2.0))


def test_hint_maps_without_clicks_are_zero():
    assert not hint_maps([], (3, 4, 5), (1.0, 1.0, 1.0), 2.0).any()


@pytest.mark.parametrize("radius, count", [(0.0, 1), (1.0, 5), (1.5, 9)])
def test_click_ball_radius_in_mm(radius, count):
    # spacing (3, 1, 1): through-plane neighbours are 3 mm away, in-plane ones 1 mm or √2 mm
    ball = click_ball(Click((2, 2, 2), True), (5, 5, 5), (3.0, 1.0, 1.0), radius)
    assert ball.dtype == torch.bool and int(ball.sum()) == count and ball[2, 2, 2]


@pytest.mark.parametrize("seed", range(6))
def test_robot_strokes_never_paint_outside_their_error_component(seed):
    rng = np.random.default_rng(seed)
    target = ndimage.binary_opening(rng.random((20, 18, 12)) > 0.45, iterations=1)
    pred = ndimage.binary_opening(rng.random((20, 18, 12)) > 0.55, iterations=1)
    spacing = (0.8, 1.0, 2.5)
    strokes = robot_strokes(pred, target, spacing, k=4, max_radius_mm=6.0, rng=seed)
    assert strokes and all(0.0 <= radius <= 6.0 for _, radius in strokes)
    for click, radius in strokes:
        ball = click_ball(click, target.shape, spacing, radius).numpy()
        errors = (target & ~pred) if click.positive else (pred & ~target)
        assert errors[ball].all()  # every painted voxel was an error of the stroke's kind
    assert [c for c, _ in strokes] == robot_clicks(pred, target, spacing, k=4, rng=seed)  # same places as clicks


def test_robot_stroke_radius_is_capped_by_the_brush_and_by_depth():
    target = np.zeros((15, 15, 15), bool)
    target[1:14, 1:14, 1:14] = True  # depth 7 mm at the centre
    assert robot_strokes(np.zeros_like(target), target, max_radius_mm=3.0) == [(Click((7, 7, 7), True), 3.0)]
    assert robot_strokes(np.zeros_like(target), target, max_radius_mm=20.0)[0][1] == pytest.approx(6.993)
    assert robot_strokes(target, np.zeros_like(target), max_radius_mm=2.0)[0][0].positive is False


def test_brush_radius_is_the_largest_ball_inside_the_clicked_error():
    from medrl.env.clicks import brush_radius_mm, click_ball

    target = np.zeros((11, 11, 11), bool); target[1:10, 1:10, 1:10] = True
    pred = np.zeros_like(target); pred[1:10, 1:10, 1:4] = True  # the first 3 slices found, 6 missing
    click = Click((5, 5, 6), positive=True)  # 3 voxels from the found part, 4 from the far face
    radius = brush_radius_mm(pred, target, click, (1.0, 1.0, 1.0))
    assert radius == pytest.approx(0.999 * 3.0)
    ball = click_ball(click, target.shape, (1.0, 1.0, 1.0), radius).numpy()
    assert (target & ~pred)[ball].all() and ball.sum() > 1
    assert brush_radius_mm(pred, target, Click((5, 5, 2), positive=True), (1.0, 1.0, 1.0)) == 0.0  # not an error there
    assert brush_radius_mm(pred, target, click, (1.0, 1.0, 2.0)) == pytest.approx(0.999 * 5.0)  # in mm: now the nearest side is 5 mm away
