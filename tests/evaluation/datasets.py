"""Small datasets for the evaluation tests, written in MSD layout (a ``dataset.json`` with a ``test`` list).

:func:`two_blob_dataset`: scans of :func:`tests.inference.scenes.two_blob_scene` (two bright blobs on a
dark background, intensities about 0 and 1, the agents' training look), each in its own orientation
(1 mm voxels); with ``initial=True`` every case lists a starting mask that misses the second blob.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medrl.data.geometry import orientation_affine
from tests.conftest import save_nifti
from tests.inference.scenes import two_blob_scene

ORIENTATIONS = ("RAS", "LPS", "LAS")


def _reoriented(array: np.ndarray, orientation: str) -> np.ndarray:
    """The RAS-laid-out ``array`` in ``orientation``'s axis order (flips only: RAS, LPS, LAS share axes)."""
    flips = tuple(axis for axis, (code, ras) in enumerate(zip(orientation, "RAS")) if code != ras)
    return np.ascontiguousarray(np.flip(array, flips)) if flips else array


def two_blob_dataset(folder: Path, cases: int = 3, initial: bool = True, spacing=(1.0, 1.0, 1.0)) -> Path:
    """Write ``cases`` two-blob scans with labels (and starting masks) and return the ``dataset.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(cases):
        scene = two_blob_scene(seed=index)
        orientation = ORIENTATIONS[index % len(ORIENTATIONS)]
        affine = orientation_affine(orientation, spacing, scene.image.shape)
        entry = {}
        for key, array in (("image", scene.image), ("label", scene.label), ("initial", scene.initial)):
            if key == "initial" and not initial:
                continue
            name = f"{key}s/blobs_{index}.nii.gz"
            (folder / name).parent.mkdir(exist_ok=True)
            save_nifti(_reoriented(array, orientation), affine, folder / name)
            entry[key] = f"./{name}"
        entries.append(entry)
    path = folder / "dataset.json"
    path.write_text(json.dumps({"name": "two blobs", "training": [], "test": entries}, indent=2), encoding="utf-8")
    return path
