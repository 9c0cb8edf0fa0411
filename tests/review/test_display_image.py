"""The scan on the working grid in raw intensities: same grid as the networks' input (also after a
foreground crop and resampling), the same values before the intensity preset, float32."""

from __future__ import annotations

import numpy as np
import pytest

from medrl.data.geometry import orientation_affine
from medrl.data.loading import load_case
from medrl.data.transforms import Preprocessing, preprocessing_transform
from medrl.errors import MedrlInputError
from medrl.review.display_image import raw_on_working_grid
from tests.conftest import save_nifti


def ct_scan(tmp_path, orientation="LPS", spacing=(0.9, 1.4, 2.5)):
    """A CT-like int16 scan: air around a body of -100..300 HU with a bright box."""
    rng = np.random.default_rng(1)
    hu = np.full((30, 26, 14), -1000, np.int16)
    hu[4:26, 3:23, 2:12] = rng.integers(-100, 300, (22, 20, 10))
    hu[10:14, 8:12, 5:8] = 900
    affine = orientation_affine(orientation, spacing, hu.shape, center_mm=(3.0, -7.0, 11.0))
    return save_nifti(hu, affine, tmp_path / "ct.nii.gz")


def working_image(config: Preprocessing, scan):
    return preprocessing_transform(config, "image", ())(load_case({"image": str(scan)}))["image"]


@pytest.mark.parametrize("config", [
    Preprocessing(intensity="ct"),
    Preprocessing(intensity="ct", crop_foreground=True, crop_margin=1),
    Preprocessing(intensity="ct", spacing=(1.5, 1.5, 1.5), crop_foreground=True),
], ids=["own-grid", "cropped", "resampled-and-cropped"])
def test_raw_intensities_on_exactly_the_working_grid(tmp_path, config):
    scan = ct_scan(tmp_path)
    working = working_image(config, scan)
    raw = raw_on_working_grid(config, scan, working)
    assert raw.shape == tuple(working.shape[1:]) and raw.dtype == np.float32
    low, high = config.ct_window
    np.testing.assert_allclose(np.clip((raw - low) / (high - low), 0, 1), working[0].numpy(), atol=1e-5)
    assert raw.max() == pytest.approx(900.0, abs=1.0)  # bone-bright voxels kept, not clipped at 250 HU


def test_a_grid_that_is_not_part_of_the_scan_is_refused(tmp_path):
    scan = ct_scan(tmp_path)
    working = working_image(Preprocessing(intensity="ct"), scan)
    shifted = working.clone()
    shifted.affine[:3, 3] += 0.3  # a third of a voxel off
    with pytest.raises(MedrlInputError, match="not a voxel-aligned part of the scan"):
        raw_on_working_grid(Preprocessing(intensity="ct"), scan, shifted)
