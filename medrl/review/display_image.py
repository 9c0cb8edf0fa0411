"""The scan on the working grid in its own intensities (HU for CT), for display.

The networks see the scan after the checkpoint's intensity preset (e.g. CT: the HU window -175..250
scaled to [0, 1] and clipped), which is no good for looking at lungs or bone. For display, the scan
goes through the same geometric preprocessing (canonical RAS, the checkpoint's spacing) with the
intensity preset ``"none"``, and is then cut to the working grid (which may be a foreground crop of it).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from medrl.data.loading import load_case
from medrl.data.transforms import Preprocessing, preprocessing_transform
from medrl.errors import MedrlInputError

TRANSLATION_TOLERANCE = 1e-3  # voxels


def raw_on_working_grid(preprocessing: Preprocessing, scan: str | os.PathLike, working) -> np.ndarray:
    """The scan's raw intensities resampled exactly like the working grid.

    Args:
        preprocessing: the refiner's preprocessing (its intensity preset and crop are ignored here).
        scan: the scan's path (anything :func:`medrl.data.loading.load_case` reads).
        working: the working-grid image, a MetaTensor (1, X', Y', Z') with ``.affine``.

    Returns:
        (X', Y', Z') float32 array of raw intensities on the working grid (one volume, no float64 copy).

    Raises:
        MedrlInputError: if the working grid is not a voxel-aligned part of the resampled scan (the
            scan file changed since it was prepared).
    """
    config = dataclasses.replace(preprocessing, intensity="none", crop_foreground=False)
    image = preprocessing_transform(config, "image", ())(load_case({"image": os.fspath(scan)}))["image"]
    full = image[0].numpy().astype(np.float32, copy=False)
    offset = _voxel_offset(np.asarray(image.affine, np.float64), np.asarray(working.affine, np.float64), scan)
    return _cut(full, offset, tuple(working.shape[1:]))


def _voxel_offset(full_affine: np.ndarray, working_affine: np.ndarray, scan) -> tuple[int, int, int]:
    """Index of the working grid's voxel (0, 0, 0) on the full grid (an integer translation)."""
    relative = np.linalg.inv(full_affine) @ working_affine
    offset = relative[:3, 3]
    aligned = np.allclose(relative[:3, :3], np.eye(3), atol=1e-4)
    if not aligned or not np.allclose(offset, np.rint(offset), atol=TRANSLATION_TOLERANCE):
        raise MedrlInputError(scan, "the working grid is not a voxel-aligned part of the scan; was the file changed?")
    return tuple(int(v) for v in np.rint(offset))


def _cut(full: np.ndarray, offset, shape) -> np.ndarray:
    """The box of ``shape`` starting at ``offset`` of ``full``; voxels outside ``full`` get its minimum."""
    if all(o == 0 for o in offset) and tuple(full.shape) == tuple(shape):
        return full
    out = np.full(shape, full.min() if full.size else 0.0, dtype=np.float32)
    source = tuple(slice(max(o, 0), min(o + s, f)) for o, s, f in zip(offset, shape, full.shape))
    target = tuple(slice(a.start - o, a.stop - o) for a, o in zip(source, offset))
    if all(a.stop > a.start for a in source):
        out[target] = full[source]
    return out
