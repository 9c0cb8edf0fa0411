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

from dataclasses import dataclass

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


@dataclass(frozen=True)
class LatticeMap:
    """How a volume's voxels sit on a target grid whose voxel centres they share (same lattice).

    ``target[t] = source[...]`` where the source, transposed by ``axes`` and flipped along ``flips``,
    is shifted by ``offset`` voxels: ``target index = arranged index - offset``.
    """

    axes: tuple[int, int, int]
    flips: tuple[bool, bool, bool]
    offset: tuple[int, int, int]

    @property
    def is_identity(self) -> bool:
        return self.axes == (0, 1, 2) and not any(self.flips) and self.offset == (0, 0, 0)

    def target_offset(self, arranged_shape) -> tuple[int, int, int]:
        """Where the rearranged source's index 0 falls on the target, per axis. A flipped axis counts
        from the other end (arranged index f = n - 1 - source index), so its shift is n - 1 - offset."""
        return tuple(int(n) - 1 - o if flip else -o for n, o, flip in zip(arranged_shape, self.offset, self.flips))

    def describe(self) -> str:
        """Words for a warning: which axes were permuted or flipped."""
        parts = []
        if self.axes != (0, 1, 2):
            parts.append(f"axes permuted {self.axes}")
        if any(self.flips):
            parts.append("flipped along " + ", ".join("ijk"[b] for b, f in enumerate(self.flips) if f))
        return "; ".join(parts) or "same axes"


def shared_lattice(source_affine: np.ndarray, target_affine: np.ndarray, atol: float = 1e-3) -> LatticeMap | None:
    """The :class:`LatticeMap` from a source grid to a target grid when every source voxel centre is a
    target voxel centre (a signed axis permutation and a whole-voxel shift, within ``atol`` voxels), else ``None``.

    This is what separates a mask written by another converter on the scan's own grid (flipped or permuted
    axes, or a cropped extent as 3D Slicer saves) from a mask on a really different grid.
    """
    relation = np.linalg.inv(np.asarray(source_affine, dtype=np.float64)) @ np.asarray(target_affine, dtype=np.float64)
    linear, shift = relation[:3, :3], relation[:3, 3]
    rounded = np.rint(linear)
    if not np.allclose(linear, rounded, atol=atol) or not np.allclose(shift, np.rint(shift), atol=atol):
        return None
    if not (np.all(np.abs(rounded).sum(axis=0) == 1) and np.all(np.abs(rounded).sum(axis=1) == 1)):
        return None
    # source index a = sign * target index b + shift[a], for the one b with rounded[a, b] != 0
    axes = tuple(int(np.flatnonzero(rounded[:, b])[0]) for b in range(3))  # target axis b <- source axis axes[b]
    flips = tuple(bool(rounded[axes[b], b] < 0) for b in range(3))
    return LatticeMap(axes, flips, tuple(int(np.rint(shift[axes[b]])) for b in range(3)))


def place_on_lattice(source: np.ndarray, lattice: LatticeMap, target_shape) -> tuple[np.ndarray, int]:
    """``source`` (X, Y, Z) laid onto a zero target array of ``target_shape`` by ``lattice``.

    Returns:
        (target array of the source's dtype, count of non-zero source voxels that fall outside the target).
    """
    arranged = np.flip(np.transpose(np.asarray(source), lattice.axes), [b for b in range(3) if lattice.flips[b]])
    offset = lattice.target_offset(arranged.shape)
    target = np.zeros(tuple(int(n) for n in target_shape), dtype=arranged.dtype)
    source_slices, target_slices = [], []
    for b in range(3):
        start = max(0, -offset[b])  # first arranged index that lands inside the target
        stop = max(start, min(arranged.shape[b], target.shape[b] - offset[b]))
        source_slices.append(slice(start, stop))
        target_slices.append(slice(start + offset[b], stop + offset[b]))
    target[tuple(target_slices)] = arranged[tuple(source_slices)]
    lost = int(np.count_nonzero(arranged)) - int(np.count_nonzero(target))
    return target, lost


def covers_exactly(lattice: LatticeMap, source_shape, target_shape) -> bool:
    """True when the source, rearranged by ``lattice``, is the target grid voxel for voxel (no crop, no pad)."""
    arranged_shape = tuple(int(source_shape[a]) for a in lattice.axes)
    return arranged_shape == tuple(int(n) for n in target_shape) and lattice.target_offset(arranged_shape) == (0, 0, 0)
