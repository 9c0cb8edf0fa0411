"""The three orthogonal views of a working-grid volume, as pure functions: which 2D slice each view
shows, in which display orientation, with which aspect ratio, and which voxel a point of the display is.

The working grid is canonical RAS: array index ``i`` grows towards the patient's Right, ``j`` towards
Anterior, ``k`` towards Superior. A displayed slice is a 2D array ``(rows, cols)``, row 0 at the top
and column 0 at the left, as ``matplotlib.pyplot.imshow`` draws it with its default ``origin="upper"``;
pixel centres sit at integer display coordinates ``(x=col, y=row)``.

Display conventions (radiological, as in the reading room):

=========  ===========  ===================  ===================
view       fixed axis   left -> right        top -> bottom
=========  ===========  ===================  ===================
axial      k (S/I)      R -> L  (i falls)    A -> P  (j falls)
coronal    j (A/P)      R -> L  (i falls)    S -> I  (k falls)
sagittal   i (R/L)      A -> P  (j falls)    S -> I  (k falls)
=========  ===========  ===================  ===================

With ``radiological=False`` (neurological convention) axial and coronal views show the patient's left
on the left. Physical proportions: one display row is ``spacing[vertical axis]`` mm tall and one column
``spacing[horizontal axis]`` mm wide, so the image aspect (height / width of one pixel) is their ratio.

Example:
    >>> volume = np.zeros((4, 5, 6), np.float32)           # (X, Y, Z) on the RAS working grid
    >>> slice_2d(volume, view("axial"), 2).shape            # rows = Y (A at top), cols = X (R at left)
    (5, 4)
    >>> display_to_voxel(view("axial"), 2, col=0, row=0, shape=volume.shape)   # top-left: right, anterior
    (3, 4, 2)
    >>> aspect(view("sagittal"), (0.8, 0.8, 3.0))           # a slice 3 mm thick is drawn 3.75x as tall
    3.75
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from medrl.errors import MedrlInputError

VIEW_NAMES = ("axial", "coronal", "sagittal")
AXIS_LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))  # (low end, high end) of i, j, k on the RAS grid


@dataclass(frozen=True)
class View:
    """One orthogonal view.

    Attributes:
        name: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        fixed: the array axis held at the slice index (0 = i, 1 = j, 2 = k).
        horizontal: the array axis along display columns.
        vertical: the array axis along display rows.
        flip_horizontal: column 0 is the axis' highest index (e.g. the patient's right on the left).
        flip_vertical: row 0 is the axis' highest index (e.g. anterior or superior at the top).
    """

    name: str
    fixed: int
    horizontal: int
    vertical: int
    flip_horizontal: bool
    flip_vertical: bool = True

    @property
    def labels(self) -> dict[str, str]:
        """Anatomical direction letters at the display's ``left``, ``right``, ``top`` and ``bottom``
        edges, e.g. ``{"left": "R", "right": "L", "top": "A", "bottom": "P"}`` for a radiological axial view."""
        low_h, high_h = AXIS_LETTERS[self.horizontal]
        low_v, high_v = AXIS_LETTERS[self.vertical]
        left, right = (high_h, low_h) if self.flip_horizontal else (low_h, high_h)
        top, bottom = (high_v, low_v) if self.flip_vertical else (low_v, high_v)
        return {"left": left, "right": right, "top": top, "bottom": bottom}


def view(name: str, radiological: bool = True) -> View:
    """The :class:`View` called ``name`` (``"axial"``, ``"coronal"``, ``"sagittal"``)."""
    if name == "axial":
        return View("axial", fixed=2, horizontal=0, vertical=1, flip_horizontal=radiological)
    if name == "coronal":
        return View("coronal", fixed=1, horizontal=0, vertical=2, flip_horizontal=radiological)
    if name == "sagittal":
        return View("sagittal", fixed=0, horizontal=1, vertical=2, flip_horizontal=True)
    raise MedrlInputError("view", f"unknown view {name!r}; choose one of {VIEW_NAMES}")


def slice_2d(volume: np.ndarray, v: View, index: int) -> np.ndarray:
    """The displayed slice of a (X, Y, Z) working-grid ``volume`` at ``index`` along ``v.fixed``.

    Returns:
        (rows, cols) = (size of ``v.vertical``, size of ``v.horizontal``), same dtype, a view of
        ``volume`` (no copy) in display orientation.
    """
    if not 0 <= index < volume.shape[v.fixed]:
        raise MedrlInputError(f"{v.name} slice", f"index {index} outside 0..{volume.shape[v.fixed] - 1}")
    plane = volume[(slice(None),) * v.fixed + (int(index),)]  # a view; remaining axes in increasing order
    if v.horizontal < v.vertical:
        plane = plane.T  # -> (vertical, horizontal)
    return plane[::-1 if v.flip_vertical else 1, ::-1 if v.flip_horizontal else 1]


def display_to_voxel(v: View, index: int, col: int, row: int, shape: Sequence[int]) -> tuple[int, int, int]:
    """The working-grid voxel (i, j, k) shown at display pixel (``col``, ``row``) of slice ``index``."""
    voxel = [0, 0, 0]
    voxel[v.fixed] = int(index)
    voxel[v.horizontal] = shape[v.horizontal] - 1 - col if v.flip_horizontal else col
    voxel[v.vertical] = shape[v.vertical] - 1 - row if v.flip_vertical else row
    return tuple(int(x) for x in voxel)


def voxel_to_display(v: View, voxel: Sequence[int], shape: Sequence[int]) -> tuple[int, int]:
    """Display pixel (col, row) of a working-grid voxel (i, j, k) in view ``v`` (any slice)."""
    h, w = voxel[v.horizontal], voxel[v.vertical]
    col = shape[v.horizontal] - 1 - h if v.flip_horizontal else h
    row = shape[v.vertical] - 1 - w if v.flip_vertical else w
    return int(col), int(row)


def event_to_voxel(v: View, index: int, x: float | None, y: float | None, shape: Sequence[int]) -> tuple[int, int, int] | None:
    """The voxel under a mouse event at display data coordinates (``x``, ``y``), or ``None`` when the
    event lies outside the slice (or has no data coordinates). Pixel ``c`` spans [c - 0.5, c + 0.5)."""
    if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
        return None
    col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    if not (0 <= col < shape[v.horizontal] and 0 <= row < shape[v.vertical]):
        return None
    return display_to_voxel(v, index, col, row, shape)


def aspect(v: View, spacing: Sequence[float]) -> float:
    """Height / width of one displayed pixel: ``spacing[v.vertical] / spacing[v.horizontal]`` (mm/mm),
    the value for ``imshow(..., aspect=...)`` so the slice appears in physical proportions."""
    return float(spacing[v.vertical]) / float(spacing[v.horizontal])


def physical_size(v: View, shape: Sequence[int], spacing: Sequence[float]) -> tuple[float, float]:
    """(width, height) in mm of a slice of view ``v``: used to share figure space in proportion."""
    return float(shape[v.horizontal] * spacing[v.horizontal]), float(shape[v.vertical] * spacing[v.vertical])
