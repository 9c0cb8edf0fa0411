"""Dice, HD95 and NSD on tiny masks whose values can be derived by hand, with anisotropic voxels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance, compute_surface_dice
from scipy import ndimage

from medrl.data.mask_metrics import dice_score, hd95_mm, known_dice, mask_metrics, normalised_surface_dice


def _line_with_extra_voxel(offset_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Truth: 3 voxels in a row along axis 0; prediction: the same plus one voxel beside the first one,
    one step along ``offset_axis``. Thin objects: every voxel is a surface voxel."""
    truth = np.zeros((6, 6, 6), np.uint8)
    truth[1:4, 2, 2] = 1
    pred = truth.copy()
    extra = [1, 2, 2]
    extra[offset_axis] += 1
    pred[tuple(extra)] = 1
    return pred, truth


@pytest.mark.parametrize("offset_axis, distance_mm", [(2, 3.0), (1, 1.0)])
def test_one_extra_voxel_on_an_anisotropic_grid(offset_axis, distance_mm):
    """Spacing (0.5, 1, 3) mm. Prediction→truth surface distances: 0, 0, 0 and d (the extra voxel,
    d = 3 mm along axis 2 or 1 mm along axis 1); truth→prediction: 0, 0, 0. Directed 95th percentile
    with linear interpolation of the sorted (0, 0, 0, d): position 0.95·3 = 2.85 → 0.85·d; HD95 is the
    larger direction. NSD at 2 mm: (3 + [d ≤ 2] + 3) / (4 + 3). Dice: 2·3 / (4 + 3)."""
    pred, truth = _line_with_extra_voxel(offset_axis)
    metrics = mask_metrics(pred, truth, spacing=(0.5, 1.0, 3.0), nsd_tolerance_mm=2.0)
    assert metrics.dice == pytest.approx(6 / 7)
    assert metrics.hd95_mm == pytest.approx(0.85 * distance_mm, rel=1e-5)
    assert metrics.nsd == pytest.approx((6 + (distance_mm <= 2.0)) / 7)


def test_shifted_plate_along_the_fine_axis():
    """A 3×3×1 plate shifted by one voxel along axis 0 (0.5 mm): 6 of 9 voxels overlap, Dice 12/18.
    Each direction has six distances of 0 and three of 0.5 mm; the 95th percentile (position 7.6 of
    0..8) lies between two 0.5 values: HD95 = 0.5 mm. NSD: 1 at 2 mm; at 0.4 mm only the 12 overlapping
    surface voxels count, 12/18."""
    truth = np.zeros((6, 6, 5), bool)
    truth[1:4, 1:4, 2] = True
    pred = np.roll(truth, 1, axis=0)
    spacing = (0.5, 1.0, 3.0)
    assert dice_score(pred, truth) == pytest.approx(2 / 3)
    assert hd95_mm(pred, truth, spacing) == pytest.approx(0.5)
    assert normalised_surface_dice(pred, truth, spacing, tolerance_mm=2.0) == pytest.approx(1.0)
    assert normalised_surface_dice(pred, truth, spacing, tolerance_mm=0.4) == pytest.approx(12 / 18)


@pytest.mark.parametrize("pred_empty, truth_empty, expected", [
    (True, True, (1.0, 0.0, 1.0)),
    (True, False, (0.0, math.inf, 0.0)),
    (False, True, (0.0, math.inf, 0.0)),
])
def test_empty_masks_follow_the_stated_table(pred_empty, truth_empty, expected):
    blob = np.zeros((5, 5, 5), np.uint8)
    blob[1:3, 1:3, 1:3] = 1
    pred = np.zeros_like(blob) if pred_empty else blob
    truth = np.zeros_like(blob) if truth_empty else blob
    metrics = mask_metrics(pred, truth, (1.0, 1.0, 2.0))
    assert (metrics.dice, metrics.hd95_mm, metrics.nsd) == expected


def test_identical_masks_are_perfect():
    blob = ndimage.binary_dilation(np.pad(np.ones((1, 1, 1), bool), 4), iterations=3)
    metrics = mask_metrics(blob, blob, (0.7, 0.7, 2.5))
    assert (metrics.dice, metrics.hd95_mm, metrics.nsd) == (1.0, 0.0, 1.0)


@pytest.mark.filterwarnings("ignore:.*always_return_as_numpy:FutureWarning")
def test_cropping_gives_monais_whole_volume_values():
    """The metrics crop to the union's box; MONAI on the whole volume gives the same numbers."""
    rng = np.random.default_rng(0)
    truth = ndimage.binary_dilation(rng.random((40, 36, 20)) > 0.999, iterations=3)
    pred = ndimage.binary_dilation(truth, iterations=1) & (rng.random(truth.shape) > 0.1)
    pred[0:3, 0:4, 0:2] = True  # a false positive at the volume's corner (the border counts as outside)
    spacing = (0.8, 1.1, 2.5)
    full = [torch.from_numpy(m)[None, None].float() for m in (pred, truth)]
    metrics = mask_metrics(pred, truth, spacing, nsd_tolerance_mm=2.0)
    expected_hd = compute_hausdorff_distance(*full, include_background=True, percentile=95, spacing=list(spacing))
    expected_nsd = compute_surface_dice(*full, [2.0], include_background=True, spacing=list(spacing))
    assert metrics.hd95_mm == pytest.approx(float(expected_hd), rel=1e-5)
    assert metrics.nsd == pytest.approx(float(expected_nsd), rel=1e-5)
    assert metrics.dice == pytest.approx(2 * (pred & truth).sum() / (pred.sum() + truth.sum()))


def test_numpy_and_torch_bool_and_uint8_inputs_agree():
    pred, truth = _line_with_extra_voxel(2)
    reference = mask_metrics(pred, truth, (1.0, 1.0, 3.0))
    assert mask_metrics(torch.from_numpy(pred).bool(), torch.from_numpy(truth), (1.0, 1.0, 3.0)) == reference


@pytest.mark.parametrize("pred_shape, spacing", [((6, 6, 5), (1.0, 1.0, 1.0)), ((6, 6, 6), (1.0, 1.0)), ((6, 6, 6), (1.0, 0.0, 1.0))])
def test_bad_shapes_or_spacing_are_refused(pred_shape, spacing):
    with pytest.raises(ValueError):
        mask_metrics(np.zeros(pred_shape, np.uint8), np.zeros((6, 6, 6), np.uint8), spacing)


def test_batched_known_dice_counts_as_monai_and_dice_score_do():
    generator = torch.Generator().manual_seed(0)
    mask = torch.rand(4, 1, 9, 8, 7, generator=generator) > 0.6
    target = (torch.rand(4, 1, 9, 8, 7, generator=generator) > 0.5).float()
    known = torch.rand(4, 1, 9, 8, 7, generator=generator) > 0.3
    mask[1], target[1] = False, 0.0  # both empty: 1
    known[3] = False  # nothing known: NaN
    dice = known_dice(mask, target, known)
    monai = compute_dice((mask & known).float(), target * known, include_background=True, ignore_empty=False)[:, 0]
    assert dice.dtype == torch.float32 and dice[1] == 1.0 and torch.isnan(dice[3])
    torch.testing.assert_close(dice[:3], monai[:3])
    assert float(dice[0]) == pytest.approx(dice_score((mask[0] & known[0]).numpy(), (target[0].bool() & known[0]).numpy()))
    torch.testing.assert_close(known_dice(mask, target), compute_dice(mask.float(), target, ignore_empty=False)[:, 0])
