"""Loading whole cases: a MONAI dictionary transform over :func:`read_scan` and pair validation.

``LoadScand`` reads the image as float32 and every other key (``label``, ``initial``) as a label map,
then checks that all of them share the image's grid (shape and affine within 1e-4): a mismatch is an
error, never a silent resample.
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform

from medrl.data.readers import read_scan
from medrl.data.validation import check_same_grid


def check_case_grid(data: Mapping, image_key: str = "image", other_keys: Sequence[str] = ("label", "initial")) -> None:
    """Raise ``MedrlInputError`` unless every present ``other_keys`` volume is on the image's grid."""
    image = data[image_key]
    for key in other_keys:
        other = data.get(key)
        if other is None or not hasattr(other, "affine"):
            continue
        check_same_grid(
            image.shape[1:], image.affine, other.shape[1:], other.affine,
            image.meta.get("filename_or_obj"), other.meta.get("filename_or_obj"), what="mask" if key == "initial" else key,
        )


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
            check_case_grid(result, self.image_key, [k for k in self.keys if k != self.image_key])
        return result


def load_case(
    case: Mapping, keys: Sequence[str] = ("image", "label", "initial"), channel: int | None = None,
    image_dtype: np.dtype | None = np.float32,
) -> dict:
    """Read every present path key of a case dict; extra keys pass through unchanged."""
    present = [key for key in keys if case.get(key)]
    return LoadScand(present, channel=channel, image_dtype=image_dtype)(case)
