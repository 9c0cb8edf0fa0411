"""Sparse labels simulated from the truth: every mark agrees with it, and marks go to the largest errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medrl.env.rewards.target import MARKED_BACKGROUND, MARKED_FOREGROUND
from medrl.env.simulated_corrections import simulate_corrections


@pytest.mark.parametrize("seed", range(4))
def test_every_mark_agrees_with_the_truth(seed):
    rng = np.random.default_rng(seed)
    truth = np.zeros((24, 20, 12), bool)
    truth[4:18, 5:15, 2:10] = True
    mask = np.roll(truth, 3, axis=0) | (rng.random(truth.shape) > 0.97)
    corrections = simulate_corrections(mask, truth, (1.0, 1.2, 2.5), n_strokes=3, n_clicks=4, brush_mm=3.0, rng=seed)
    assert set(np.unique(corrections)) <= {0, MARKED_BACKGROUND, MARKED_FOREGROUND}
    assert truth[corrections == MARKED_FOREGROUND].all() and not truth[corrections == MARKED_BACKGROUND].any()
    assert (corrections > 0).sum() > 7  # three dabs bigger than one voxel, and clicks
    errors = mask != truth
    assert errors[corrections > 0].all()  # only errors are marked


def test_marks_stop_when_no_error_is_left_and_clicks_mark_one_voxel():
    truth = np.zeros((9, 9, 9), bool)
    truth[1:8, 1:8, 1:8] = True
    assert not simulate_corrections(truth, truth, n_strokes=3, n_clicks=3).any()
    one_click = simulate_corrections(np.zeros_like(truth), truth, n_strokes=0, n_clicks=1)
    assert (one_click == MARKED_FOREGROUND).sum() == 1 and one_click[4, 4, 4] == MARKED_FOREGROUND
    stroke = simulate_corrections(np.zeros_like(truth), truth, n_strokes=1, brush_mm=1.0)
    assert (stroke == MARKED_FOREGROUND).sum() == 7  # the centre and its six face neighbours


def test_confirming_dabs_mark_correct_voxels_of_both_classes():
    truth = np.zeros((30, 30, 20), bool)
    truth[8:22, 8:22, 5:15] = True
    mask = truth.copy()
    mask[8:22, 8:22, 12:15] = False  # a missing slab
    corrections = simulate_corrections(mask, truth, (1.0, 1.0, 2.0), n_strokes=1, n_confirm=2, brush_mm=3.0, rng=0)
    confirmed_organ = (corrections == MARKED_FOREGROUND) & mask  # marked organ where the mask was already right
    confirmed_background = (corrections == MARKED_BACKGROUND) & ~mask
    assert confirmed_organ.any() and confirmed_background.any()
    assert truth[corrections == MARKED_FOREGROUND].all() and not truth[corrections == MARKED_BACKGROUND].any()
    distance = ndimage.distance_transform_edt(~truth, sampling=(1.0, 1.0, 2.0))
    assert distance[confirmed_background].max() <= 10.0  # background confirmed near the organ
