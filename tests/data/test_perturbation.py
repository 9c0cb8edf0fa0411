"""Initial-mask perturbation: target Dice, exact replay, mm-true operations, empty labels."""

import json

import numpy as np
import pytest
from scipy import ndimage

from medrl.data.mask_metrics import dice_score
from medrl.data.perturbation import (
    Ball,
    Blob,
    PerturbationConfig,
    PerturbationParams,
    apply_perturbation,
    perturb_mask,
    sample_perturbation,
)
from medrl.errors import MedrlInputError

SPACING = (1.0, 1.5, 3.0)
NO_OPS = dict(p_morph=0.0, p_holes=0.0, p_chunk=0.0, p_blobs=0.0, p_shift=0.0)


def sphere(shape=(40, 32, 20), spacing=SPACING, radius_mm=12.0) -> np.ndarray:
    """(shape) uint8 ball of ``radius_mm`` in the middle of the grid."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    squared = sum(((g - (n - 1) / 2) * s) ** 2 for g, n, s in zip(grids, shape, spacing))
    return (squared <= radius_mm**2).astype(np.uint8)


def box(shape=(40, 40, 40), lo=(8, 8, 8), hi=(32, 32, 32)) -> np.ndarray:
    label = np.zeros(shape, dtype=np.uint8)
    label[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = 1
    return label


def bbox(mask):
    nonzero = np.argwhere(mask)
    return nonzero.min(axis=0), nonzero.max(axis=0) + 1


@pytest.mark.parametrize("seed", range(8))
def test_hits_target_dice_and_replays_exactly(seed):
    label = sphere()
    config = PerturbationConfig(target_dice=(0.75, 0.9))
    mask, record = perturb_mask(label, SPACING, seed, config)
    assert mask.dtype == np.uint8 and mask.shape == label.shape and set(np.unique(mask)) <= {0, 1}
    assert record["in_range"] and 0.75 <= record["dice"] <= 0.9
    assert record["dice"] == pytest.approx(dice_score(mask, label))
    assert record["seed"] == seed
    replayed = json.loads(json.dumps(record))  # the record survives JSON
    params = PerturbationParams.from_dict(replayed["params"])
    np.testing.assert_array_equal(apply_perturbation(label, SPACING, params), mask)
    again, record_again = perturb_mask(label, SPACING, seed, config)
    np.testing.assert_array_equal(again, mask)
    assert record_again == record


def test_params_round_trip_through_dict():
    params = sample_perturbation(np.random.default_rng(3), PerturbationConfig(p_holes=1, p_blobs=1), SPACING, sphere())
    assert PerturbationParams.from_dict(json.loads(json.dumps(params.to_dict()))) == params


@pytest.mark.parametrize(
    "radius_mm, spacing, expected_layers",
    [
        (6.0, (1.0, 2.0, 3.0), (6, 3, 2)),
        (4.0, (1.0, 2.0, 3.0), (4, 2, 1)),
        (3.0, (1.5, 1.5, 3.0), (2, 2, 1)),
    ],
)
def test_dilation_and_erosion_follow_mm_per_axis(radius_mm, spacing, expected_layers):
    label = box()
    lo, hi = bbox(label)
    grown = apply_perturbation(label, spacing, PerturbationParams(morph_mm=radius_mm))
    grown_lo, grown_hi = bbox(grown)
    np.testing.assert_array_equal(lo - grown_lo, expected_layers)
    np.testing.assert_array_equal(grown_hi - hi, expected_layers)
    shrunk = apply_perturbation(label, spacing, PerturbationParams(morph_mm=-radius_mm))
    shrunk_lo, shrunk_hi = bbox(shrunk)
    np.testing.assert_array_equal(shrunk_lo - lo, expected_layers)
    np.testing.assert_array_equal(hi - shrunk_hi, expected_layers)


def test_shift_moves_by_rounded_voxels_without_wrapping():
    label = box(lo=(0, 10, 10), hi=(10, 20, 20))  # touches the low x edge: 10 x 10 x 10 voxels
    config = PerturbationConfig(**{**NO_OPS, "p_shift": 1.0}, shift_mm=(3.0, 3.0), target_dice=(0.0, 1.0))
    spacing = (1.5, 1.5, 3.0)  # 3 mm -> (2, 2, 1) voxels
    mask, record = perturb_mask(label, spacing, 5, config)
    shift = np.asarray(record["params"]["shift_vox"])
    np.testing.assert_array_equal(np.abs(shift), (2, 2, 1))
    expected = np.zeros_like(label)
    for x, y, z in np.argwhere(label):
        i, j, k = (x, y, z) + shift
        if 0 <= i < label.shape[0]:
            expected[i, j, k] = 1
    np.testing.assert_array_equal(mask, expected)
    wrapped = apply_perturbation(label, spacing, PerturbationParams(shift_vox=(-3, 0, 0)))
    assert wrapped[-3:].sum() == 0 and wrapped.sum() == label.sum() * 7 // 10


def test_holes_stay_inside_and_blobs_stay_outside():
    label = sphere()
    holes_only = PerturbationConfig(**{**NO_OPS, "p_holes": 1.0}, n_holes=(2, 2), target_dice=(0.0, 1.0))
    mask, record = perturb_mask(label, SPACING, 1, holes_only)
    assert len(record["params"]["holes"]) == 2
    assert np.all(mask <= label) and mask.sum() < label.sum()
    depth = ndimage.distance_transform_edt(label, sampling=SPACING)
    for hole in record["params"]["holes"]:
        assert depth[tuple(hole["center"])] > hole["radius_mm"]  # the ball lies inside the object

    blobs_only = PerturbationConfig(**{**NO_OPS, "p_blobs": 1.0}, target_dice=(0.0, 1.0))
    mask, record = perturb_mask(label, SPACING, 2, blobs_only)
    assert record["params"]["blobs"]
    assert np.all(mask >= label) and mask.sum() > label.sum()


def test_chunks_remove_part_of_the_boundary():
    label = sphere()
    for kind, fraction in (("chunks", 0.0), ("cuts", 1.0)):
        config = PerturbationConfig(**{**NO_OPS, "p_chunk": 1.0}, p_halfspace_chunk=fraction, target_dice=(0.0, 1.0))
        mask, record = perturb_mask(label, SPACING, 4, config)
        assert len(record["params"][kind]) == 1
        assert np.all(mask <= label) and mask.sum() < label.sum()


def test_explicit_ball_and_blob_geometry():
    label = box()
    hole = PerturbationParams(holes=(Ball((20, 20, 20), 1.0),))
    assert label.sum() - apply_perturbation(label, (1, 1, 1), hole).sum() == 7  # centre + 6 neighbours
    blob = PerturbationParams(blobs=(Blob((2, 2, 2), (1.0, 1.0, 2.0)),))
    added = apply_perturbation(label, (1, 1, 1), blob).astype(int) - label
    assert added.sum() == 9  # 7 voxels of a unit ball + 2 more along the 2 mm axis


def test_unreachable_target_returns_closest_and_says_so():
    config = PerturbationConfig(target_dice=(0.0, 0.05), max_tries=4)
    mask, record = perturb_mask(sphere(), SPACING, 0, config)
    assert record["in_range"] is False and record["tries"] == 4
    assert record["dice"] > 0.05 and record["dice"] == pytest.approx(dice_score(mask, sphere()))


def test_empty_label_gives_only_false_positive_blobs():
    label = np.zeros((20, 20, 10), dtype=np.uint8)
    mask, record = perturb_mask(label, SPACING, 0)
    assert mask.sum() > 0 and record["dice"] == 0.0 and record["in_range"] is False and record["tries"] == 1
    params = PerturbationParams.from_dict(record["params"])
    assert params.blobs and params.morph_mm == 0.0 and not params.holes
    np.testing.assert_array_equal(apply_perturbation(label, SPACING, params), mask)

    empty, record = perturb_mask(label, SPACING, 0, PerturbationConfig(empty_label_blobs=(0, 0)))
    assert empty.sum() == 0 and record["dice"] == 1.0


@pytest.mark.parametrize("bad", [np.full((4, 4, 4), 2), np.zeros((4, 4)), np.full((4, 4, 4), 0.5)])
def test_non_binary_label_is_an_input_error(bad):
    with pytest.raises(MedrlInputError, match="label"):
        perturb_mask(bad, SPACING, 0)
