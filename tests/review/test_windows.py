"""Display windows: the CT presets' HU ranges, MR percentiles on the scan itself, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from medrl.errors import MedrlInputError
from medrl.review.windows import CT_WINDOWS, MR_WINDOWS, window, window_limits, window_names


@pytest.mark.parametrize("name, limits", [
    ("CT soft tissue", (-160.0, 240.0)),   # W400 L40
    ("CT liver", (-45.0, 105.0)),          # W150 L30
    ("CT lung", (-1350.0, 150.0)),         # W1500 L-600
    ("CT bone", (-500.0, 1300.0)),         # W1800 L400
    ("CT brain", (0.0, 80.0)),             # W80 L40
])
def test_ct_windows_are_fixed_hounsfield_ranges(name, limits):
    anything = np.array([0.0, 1.0], np.float32)
    assert window_limits(window(name), anything) == limits


def test_mr_window_takes_percentiles_of_the_scan_ignoring_nan():
    volume = np.concatenate([np.arange(101, dtype=np.float32), [np.nan, np.inf]])  # 0, 1, ..., 100 and two non-finite
    assert window_limits(window("MR automatic (1-99 %)"), volume) == pytest.approx((1.0, 99.0))
    assert window_limits(window("full range"), volume) == pytest.approx((0.0, 100.0))


def test_percentiles_of_a_big_volume_come_from_a_subsample_close_to_the_exact_ones():
    rng = np.random.default_rng(0)
    volume = rng.normal(100.0, 20.0, (160, 160, 120)).astype(np.float32)  # 3.1 M voxels > the sample size
    low, high = window_limits(window("MR automatic (1-99 %)"), volume)
    exact = np.percentile(volume, (1, 99))
    assert low == pytest.approx(exact[0], abs=0.5) and high == pytest.approx(exact[1], abs=0.5)


def test_a_constant_scan_still_gets_a_window_of_positive_width():
    low, high = window_limits(window("MR automatic (1-99 %)"), np.full((4, 4, 4), 7.0, np.float32))
    assert (low, high) == (7.0, 8.0)


def test_no_finite_voxel_and_unknown_names_are_clear_errors():
    with pytest.raises(MedrlInputError, match="no finite intensity"):
        window_limits(window("full range"), np.full(5, np.nan, np.float32))
    with pytest.raises(MedrlInputError, match="unknown window 'CT heart'"):
        window("CT heart")


def test_the_default_window_follows_the_checkpoints_intensity_preset():
    assert window_names("ct")[0] == "CT soft tissue"
    assert window_names("mr")[0] == window_names("none")[0] == "MR automatic (1-99 %)"
    assert sorted(window_names("ct")) == sorted(window_names("mr")) == sorted(w.name for w in CT_WINDOWS + MR_WINDOWS)
