"""Brush geometry on the working grid, in millimetres: the voxels a dab or a stroke covers.

* A **dab** at voxel ``c`` with radius ``r`` mm covers every voxel whose centre lies within ``r`` mm
  of ``c``'s centre (a ball in mm; an ellipsoid of voxels on an anisotropic grid). ``r = 0``: ``c`` alone.
* A **stroke** is the path of a mouse drag, a list of voxels. :func:`densify` puts dabs along each
  segment close enough that the footprint is one unbroken tube (at most half a radius, and at most one
  voxel, apart), so a fast drag that reports few mouse positions still paints a continuous line.
* :func:`thin` keeps points of a path at least a given distance apart: a stroke gives the agents hints
  along its length without hundreds of near-identical clicks.

Dabs are computed in their own bounding box, so painting a 512×512×300 CT costs the brush's size, not
the scan's.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
import torch

from medrl.env.clicks import squared_distance_mm

Voxel = tuple[int, int, int]
Dab = tuple[tuple[slice, ...], torch.Tensor]  # (box of a volume, bool mask of the box)


def _distance_mm(a: Sequence[float], b: Sequence[float], spacing: Sequence[float]) -> float:
    return float(math.sqrt(sum(((x - y) * s) ** 2 for x, y, s in zip(a, b, spacing))))


def densify(path: Sequence[Sequence[int]], spacing: Sequence[float], radius_mm: float) -> list[Voxel]:
    """Dab centres along the polyline ``path`` (voxel indices), consecutive centres at most
    ``max(radius_mm / 2, min(spacing) / 2)`` mm apart; consecutive duplicates removed.

    Returns:
        list of (i, j, k) int tuples, starting at ``path[0]`` and ending at ``path[-1]`` (empty for an empty path).
    """
    points = [tuple(int(v) for v in p) for p in path]
    step = max(radius_mm / 2.0, min(spacing) / 2.0)
    centres: list[Voxel] = points[:1]
    for a, b in zip(points, points[1:]):
        n = max(1, math.ceil(_distance_mm(a, b, spacing) / step))
        for t in range(1, n + 1):
            centre = tuple(int(round(x + (y - x) * t / n)) for x, y in zip(a, b))
            if centre != centres[-1]:
                centres.append(centre)
    return centres


def thin(path: Sequence[Voxel], spacing: Sequence[float], gap_mm: float) -> list[Voxel]:
    """The points of ``path`` kept at least ``gap_mm`` apart along it: the first, each next one at
    least ``gap_mm`` from the last kept, and the last one if it is not the last kept."""
    kept = list(path[:1])
    for point in path[1:]:
        if _distance_mm(point, kept[-1], spacing) >= gap_mm:
            kept.append(point)
    if path and kept[-1] != tuple(path[-1]):
        kept.append(tuple(path[-1]))
    return kept


def dab(centre: Sequence[int], shape: Sequence[int], spacing: Sequence[float], radius_mm: float) -> Dab:
    """The voxels of one dab, in its bounding box.

    Returns:
        ``(box, inside)``: ``box`` three slices of a (X, Y, Z) volume of ``shape``, ``inside`` a bool
        tensor of the box's shape, True within ``radius_mm`` of ``centre``. ``volume[box][inside]``
        are the dab's voxels (``centre`` must lie in the volume).
    """
    reach = [int(math.floor(radius_mm / s + 1e-9)) for s in spacing]
    box = tuple(slice(max(0, c - r), min(n, c + r + 1)) for c, r, n in zip(centre, reach, shape))
    local = [c - b.start for c, b in zip(centre, box)]
    box_shape = [b.stop - b.start for b in box]
    return box, squared_distance_mm(local, box_shape, spacing) <= radius_mm**2


def footprint(centres: Sequence[Voxel], shape: Sequence[int], spacing: Sequence[float], radius_mm: float) -> Iterator[Dab]:
    """:func:`dab` of each centre: assign ``volume[box][inside] = value`` for each to paint them all."""
    for centre in centres:
        yield dab(centre, shape, spacing, radius_mm)


def footprint_mask(centres: Sequence[Voxel], shape: Sequence[int], spacing: Sequence[float], radius_mm: float) -> np.ndarray:
    """(X, Y, Z) bool array of every voxel the dabs at ``centres`` cover (for tests and inspection)."""
    mask = torch.zeros(tuple(shape), dtype=torch.bool)
    for box, inside in footprint(centres, shape, spacing, radius_mm):
        mask[box] |= inside
    return mask.numpy()
