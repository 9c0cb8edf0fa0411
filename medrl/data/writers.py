"""Writing volumes and masks on the input's own grid, atomically, never over an input.

A mask medrl writes has the input scan's shape and world affine (within 1e-4) and dtype ``uint8``.
NIfTI is written with nibabel; NRRD and MHA with SimpleITK (converting the RAS affine back to
SimpleITK's LPS direction/origin). A DICOM input gets its mask as NIfTI with the series' geometry.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

from medrl.data.atomic import atomic_path, refuse_to_overwrite
from medrl.data.geometry import ras_affine_to_sitk
from medrl.errors import MedrlInputError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
SITK_WRITE_SUFFIXES = (".nrrd", ".mha", ".mhd")


def _is_nifti(path: Path) -> bool:
    return path.name.endswith(NIFTI_SUFFIXES)


def write_volume(
    array: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: tuple = (),
) -> Path:
    """Write a 3D array with its RAS world affine to ``path`` (.nii, .nii.gz, .nrrd, .mha).

    Args:
        array: (X, Y, Z) array in the index order of ``affine``; its dtype is kept.
        affine: (4, 4) voxel-index -> RAS-mm affine (the NIfTI convention).
        path: output file; the format follows the suffix.
        overwrite: replace an existing output (never an input).
        inputs: input files that must not be overwritten.

    Returns:
        The written path.
    """
    path = refuse_to_overwrite(path, overwrite, inputs)
    array = np.asarray(array)
    if array.ndim != 3:
        raise MedrlInputError(path, f"can only write 3D volumes, got shape {array.shape}")
    affine = np.asarray(affine, dtype=np.float64)
    with atomic_path(path) as tmp:
        if _is_nifti(path):
            image = nib.Nifti1Image(array, affine)
            image.set_qform(affine, code=1)
            image.set_sform(affine, code=1)
            nib.save(image, tmp)
        elif path.suffix.lower() in SITK_WRITE_SUFFIXES:
            _write_with_sitk(array, affine, tmp)
        else:
            raise MedrlInputError(path, f"unknown output format; use one of {NIFTI_SUFFIXES + SITK_WRITE_SUFFIXES}")
    return path


def _write_with_sitk(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    spacing, direction, origin = ras_affine_to_sitk(affine)
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    image.SetOrigin(origin)
    sitk.WriteImage(image, str(path), useCompression=True)


def write_mask(
    mask: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: tuple = (),
) -> Path:
    """Write a label mask as ``uint8`` on the given grid.

    Args:
        mask: (X, Y, Z) integer or boolean array with values in [0, 255] (binary masks are {0, 1}).
        affine, path, overwrite, inputs: as in :func:`write_volume`.

    Raises:
        MedrlInputError: if the mask holds values outside [0, 255] or non-integer values.
    """
    mask = np.asarray(mask)
    if mask.dtype != np.uint8:
        if mask.size and (mask.min() < 0 or mask.max() > 255 or not np.all(np.equal(np.mod(mask, 1), 0))):
            raise MedrlInputError(path, "a mask must hold integer values in [0, 255]")
        mask = mask.astype(np.uint8)
    return write_volume(mask, affine, path, overwrite=overwrite, inputs=inputs)
