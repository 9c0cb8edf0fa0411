"""A seeded scene for the clinician's loop: two bright blobs, an starting mask that misses one of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Scene:
    """Arrays (X, Y, Z): ``image`` float32 (blobs ≈ 1, background ≈ 0, noise σ = 0.3), ``label`` uint8
    {0, 1} (both blobs), ``initial`` uint8 (only the first blob), ``missed`` bool (the second blob)."""

    image: np.ndarray
    label: np.ndarray
    initial: np.ndarray
    missed: np.ndarray
    missed_centre: tuple[int, int, int]


def _ellipsoid(shape, centre, radii) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float32)
    return (((grid - np.reshape(centre, (3, 1, 1, 1))) / np.reshape(radii, (3, 1, 1, 1))) ** 2).sum(0) <= 1.0


def two_blob_scene(shape=(48, 40, 32), seed: int = 3) -> Scene:
    """The kept blob sits at x ≈ 14, the missed one at x ≈ 36 (radii 8·9·7 and 6·6·5 voxels)."""
    kept = _ellipsoid(shape, (14, 20, 16), (8, 9, 7))
    centre = (36, 20, 16)
    missed = _ellipsoid(shape, centre, (6, 6, 5))
    rng = np.random.default_rng(seed)
    image = (kept | missed) + rng.normal(0.0, 0.3, shape)
    return Scene(image.astype(np.float32), (kept | missed).astype(np.uint8), kept.astype(np.uint8), missed, centre)
