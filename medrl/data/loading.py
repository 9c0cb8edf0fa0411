"""Loading whole cases: a MONAI dictionary transform over :func:`read_scan` and pair validation.

``LoadScand`` reads the image as float32 and every other key (``label``, ``initial``) as a label map,
then brings all of them onto the image's grid. A volume on the very same grid passes as it is; one whose
voxel centres are the image's own voxel centres in another axis order or direction (as another DICOM
converter writes it), or a sub-extent of them (as 3D Slicer crops a segmentation), is laid onto the image's
grid without interpolation and a warning says so; anything else is an error, never a silent resample.
"""

from __future__ import annotations

import logging
from typing import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from medrl.data.geometry import affines_match, covers_exactly, place_on_lattice, shared_lattice
from medrl.data.readers import read_scan
from medrl.data.validation import AFFINE_TOLERANCE, check_same_grid
from medrl.errors import MedrlInputError

logger = logging.getLogger("medrl")


def align_case_grid(data: Mapping, image_key: str = "image", other_keys: Sequence[str] = ("label", "initial"),
                    sub_extent_keys: Sequence[str] = ()) -> dict:
    """The case with every present ``other_keys`` volume on the image's grid (see the module docstring).

    Args:
        sub_extent_keys: keys that may cover a smaller extent of the image's voxels (a starting mask saved
            cropped by a viewer); anywhere else a smaller extent is an error, since a training label that
            stops short of its scan says nothing about the voxels it misses.

    Raises:
        MedrlInputError: a volume on a grid that really differs, or whose labelled voxels reach outside the scan.
    """
    result = dict(data)
    image = data[image_key]
    for key in other_keys:
        other = data.get(key)
        if other is None or not hasattr(other, "affine"):
            continue
        result[key] = _on_image_grid(image, other, "mask" if key in ("initial", "structures") else key, key in sub_extent_keys)
    return result


def _on_image_grid(image: MetaTensor, other: MetaTensor, what: str, sub_extent: bool) -> MetaTensor:
    image_path, other_path = image.meta.get("filename_or_obj"), other.meta.get("filename_or_obj")
    same_shape = tuple(image.shape[1:]) == tuple(other.shape[1:])
    if same_shape and affines_match(image.affine, other.affine, AFFINE_TOLERANCE):
        return other
    lattice = shared_lattice(np.asarray(other.affine), np.asarray(image.affine))
    exact = lattice is not None and covers_exactly(lattice, other.shape[1:], image.shape[1:])
    if lattice is None or not (exact or sub_extent):  # a grid that really differs: the one-line error says how
        check_same_grid(image.shape[1:], image.affine, other.shape[1:], other.affine, image_path, other_path, what=what)
        raise MedrlInputError(other_path, f"{what} grid differs from the grid of {image_path}")
    placed, lost = place_on_lattice(other[0].numpy(), lattice, image.shape[1:])
    if lost:
        raise MedrlInputError(other_path, f"{lost} labelled voxels of the {what} lie outside the grid of {image_path}")
    how = lattice.describe() if exact else f"another extent of the same voxels ({lattice.describe()})"
    logger.warning("%s: %s laid onto the scan's grid without interpolation: %s", other_path, what, how)
    meta = {**{k: v for k, v in other.meta.items() if k != "affine"}, "original_affine": np.asarray(image.affine), "note": how}
    return MetaTensor(torch.from_numpy(np.ascontiguousarray(placed))[None], affine=image.affine.clone(), meta=meta)


class LoadScand(MapTransform):
    """Read ``keys`` of a case dict from paths into channel-first MetaTensors (1, X, Y, Z).

    Args:
        keys: keys to read; the ``image_key`` as a float32 image, the others as label maps.
        image_key: the scan's key.
        channel: volume to take from 4D scans (see :func:`medrl.data.readers.read_scan`).
        image_dtype: dtype of the image (``None`` keeps the file's, e.g. int16 for CT).
        allow_missing_keys: skip keys that are absent or ``None`` (e.g. a case without a label).
    """

    def __init__(
        self, keys: KeysCollection = ("image", "label"), image_key: str = "image", channel: int | None = None,
        image_dtype: np.dtype | None = np.float32, allow_missing_keys: bool = True,
    ):
        super().__init__(keys, allow_missing_keys)
        self.image_key = image_key
        self.channel = channel
        self.image_dtype = image_dtype

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        result = dict(data)
        for key in self.key_iterator(result):
            if result[key] is None:
                continue
            if key == self.image_key:
                result[key] = read_scan(result[key], kind="image", channel=self.channel, dtype=self.image_dtype)
            else:
                result[key] = read_scan(result[key], kind="label")
        if self.image_key in result:
            result = align_case_grid(result, self.image_key, [k for k in self.keys if k != self.image_key])
        return result


def load_case(
    case: Mapping, keys: Sequence[str] = ("image", "label", "initial"), channel: int | None = None,
    image_dtype: np.dtype | None = np.float32,
) -> dict:
    """Read every present path key of a case dict; extra keys pass through unchanged."""
    present = [key for key in keys if case.get(key)]
    return LoadScand(present, channel=channel, image_dtype=image_dtype)(case)
