"""World-geometry conventions: one RAS affine for every reader.

medrl describes a volume's grid by a (4, 4) affine that maps array indices (i, j, k) to world
millimetres in RAS+ (the NIfTI convention: +x towards the patient's Right, +y Anterior,
+z Superior). ITK, SimpleITK and DICOM use LPS+ (+x Left, +y Posterior, +z Superior), so
``RAS = diag(-1, -1, 1) @ LPS``. A SimpleITK image with spacing s, direction D (3x3, column c is the
world direction of index axis c) and origin o maps index v = (i, j, k) to ``LPS = o + D @ diag(s) @ v``.
SimpleITK's ``GetArrayFromImage`` returns the array as (k, j, i); medrl transposes it to (i, j, k)
so that arrays and affines follow one index order whatever the reader.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def sitk_to_ras_affine(spacing, direction, origin) -> np.ndarray:
    """(4, 4) float64 RAS affine from SimpleITK's spacing (3,), direction (9,) row-major and origin (3,)."""
    spacing = np.asarray(spacing, dtype=np.float64)
    direction = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing[None, :]
    lps[:3, 3] = np.asarray(origin, dtype=np.float64)
    return LPS_TO_RAS @ lps


def ras_affine_to_sitk(affine: np.ndarray) -> tuple[tuple, tuple, tuple]:
    """Inverse of :func:`sitk_to_ras_affine`: (spacing, direction row-major, origin) for SimpleITK.

    The affine may hold shears only in the sense of non-orthogonal columns, which SimpleITK cannot
    store; medrl's readers never produce them.
    """
    lps = LPS_TO_RAS @ np.asarray(affine, dtype=np.float64)
    linear = lps[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    direction = linear / spacing[None, :]
    return tuple(spacing.tolist()), tuple(direction.reshape(-1).tolist()), tuple(lps[:3, 3].tolist())


def voxel_spacing(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size in mm along each array axis: the column norms of the affine's linear part."""
    return tuple(float(s) for s in np.linalg.norm(np.asarray(affine)[:3, :3], axis=0))


def orientation_code(affine: np.ndarray) -> str:
    """Three-letter orientation code of the array axes, e.g. ``"RAS"``, ``"LPS"``, ``"LAS"``.

    Each letter is the world direction the index axis points *towards* (nibabel's convention).
    """
    return "".join(nib.aff2axcodes(np.asarray(affine)))


def affines_match(a: np.ndarray, b: np.ndarray, atol: float = 1e-4) -> bool:
    """True when two (4, 4) affines agree within ``atol`` (mm for the translation, mm/voxel otherwise)."""
    return bool(np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), atol=atol, rtol=0))


def orientation_affine(code: str, spacing, shape, center_mm=(0.0, 0.0, 0.0)) -> np.ndarray:
    """A RAS affine whose axes point towards ``code`` (e.g. "LPS"), centred on ``center_mm``.

    Useful to build test and demo volumes in a chosen orientation. ``spacing`` is (3,) mm and
    ``shape`` is (3,) voxels.
    """
    axis_of = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}
    affine = np.eye(4)
    for column, letter in enumerate(code.upper()):
        world_axis, sign = axis_of[letter]
        affine[:3, column] = 0.0
        affine[world_axis, column] = sign * float(spacing[column])
    half_extent = affine[:3, :3] @ ((np.asarray(shape, dtype=np.float64) - 1) / 2)
    affine[:3, 3] = np.asarray(center_mm, dtype=np.float64) - half_extent
    return affine
