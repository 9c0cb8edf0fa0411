"""Fixtures shared by the whole test suite: small volumes in chosen orientations, written to disk."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medrl.data.geometry import orientation_affine

SHARED_CT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ct_abdomen_3mm"


def make_volume(shape=(20, 18, 12), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A float32 image with a bright box and noise, and its uint8 {0,1} box label; shapes (X, Y, Z)."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, 10.0, shape).astype(np.float32)
    label = np.zeros(shape, np.uint8)
    x, y, z = (s // 4 for s in shape)
    label[x : 3 * x, y : 3 * y, z : 3 * z] = 1
    image[label == 1] += 100.0
    return image, label


def save_nifti(array: np.ndarray, affine: np.ndarray, path: Path) -> Path:
    nib.save(nib.Nifti1Image(array, affine), path)
    return path


@pytest.fixture
def write_case(tmp_path):
    """Write an image/label pair in a chosen orientation and spacing; returns (image_path, label_path, affine)."""

    def _write(orientation="RAS", spacing=(1.0, 1.0, 1.0), shape=(20, 18, 12), name="case", folder=None):
        folder = Path(folder or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        image, label = make_volume(shape)
        affine = orientation_affine(orientation, spacing, shape, center_mm=(10.0, -20.0, 30.0))
        return (
            save_nifti(image, affine, folder / f"{name}_img.nii.gz"),
            save_nifti(label, affine, folder / f"{name}_lbl.nii.gz"),
            affine,
        )

    return _write


@pytest.fixture
def shared_ct() -> Path:
    """The real abdominal CT beside the checkout; tests using it skip cleanly where it is absent."""
    if not (SHARED_CT / "image.nii.gz").is_file():
        pytest.skip("../shared/data/ct_abdomen_3mm is not present on this machine")
    return SHARED_CT
