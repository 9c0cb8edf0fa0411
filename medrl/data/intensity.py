"""Intensity presets per scan: which normalisation a scan gets, from its modality or its intensities.

Two normalisations cover what medrl meets (both map to [0, 1], clipped):

- ``"ct"``: a fixed Hounsfield window (default −175..250 HU, soft tissue; air and fat go to 0, bone to 1),
  so the same tissue has the same value in every CT;
- ``"mr"``: the scan's own robust percentiles (default 0.5 % and 99.5 %). It does not depend on the
  scanner's units, so it serves MR of any weighting, MR already z-scored, PET (SUV) and anything else
  that is not in Hounsfield units.

The preset ``"auto"`` chooses one of them for each scan: from its ``modality`` (a dataset entry's key, the
``modality`` of an MSD ``dataset.json``, or ``medrl predict --modality``) by :func:`preset_for_modality`,
and for a scan of unknown modality from its intensities by :func:`guess_modality` (air in Hounsfield
units, ≤ −500, means CT).
"""

from __future__ import annotations

import re
from typing import Hashable, Mapping

import numpy as np
import torch
from monai.transforms import MapTransform
from monai.transforms.utils_pytorch_numpy_unification import percentile

CT_PRESET, PERCENTILE_PRESET = "ct", "mr"
AIR_HU = -500.0
"""Below this a voxel is air in Hounsfield units; no MR, z-scored MR or PET value comes near it."""
AIR_SHARE = 1e-3
"""A scan is CT when at least this share of its voxels is air (≤ ``AIR_HU``)."""


def preset_for_modality(modality: str | None) -> str | None:
    """The preset of a modality name: ``"ct"`` for CT (the word ``CT`` in any case, e.g. ``"CT"``,
    ``"ct_arterial"``; not SPECT), ``"mr"`` for any other name; ``None`` for no name.

    Example:
        >>> [preset_for_modality(m) for m in ("CT", "MR_T1", "FLAIR", "PET", "SPECT", None)]
        ['ct', 'mr', 'mr', 'mr', 'mr', None]
    """
    if modality is None or not str(modality).strip():
        return None
    words = re.split(r"[^a-z0-9]+", str(modality).lower())
    return CT_PRESET if "ct" in words else PERCENTILE_PRESET


def guess_modality(image: np.ndarray | torch.Tensor) -> str:
    """``"CT"`` when at least ``AIR_SHARE`` of the voxels are ≤ ``AIR_HU`` (air in Hounsfield units), else
    ``"unknown"`` (which gets the percentile preset). A CT crop holding no air is taken for "unknown".

    Args:
        image: the scan's intensities as read (any shape).
    """
    values = torch.as_tensor(image)
    air = int(torch.count_nonzero(values <= AIR_HU)) / values.numel() if values.numel() else 0.0  # no float copy of a CT
    return "CT" if air >= AIR_SHARE else "unknown"


def resolved_preset(intensity: str, modality: str | None, image) -> str:
    """The preset a scan actually gets under ``intensity`` (``"auto"`` resolved; others as they are)."""
    if intensity != "auto":
        return intensity
    return preset_for_modality(modality) or preset_for_modality(guess_modality(image)) or PERCENTILE_PRESET


def scale_to_unit(image: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """(image − low) / (high − low), clipped to [0, 1], as a new float32 tensor (a MetaTensor stays one, with its
    metadata); ``image`` itself is never changed. One new volume, computed in place, where a chain of tensor operations
    (MONAI's ``ScaleIntensityRange``) holds two or three at once: 315 MB each on a 512×512×300 CT. A window of zero
    width (high ≤ low) gives 0 everywhere."""
    scaled = image.to(torch.float32, copy=True).sub_(float(low))
    if high > low:
        scaled.div_(float(high) - float(low))
    return scaled.clamp_(0.0, 1.0)


class ScaleIntensityd(MapTransform):
    """Scale a case's image to [0, 1] by an intensity preset: ``"ct"`` (the HU window), ``"mr"`` (the scan's own
    percentiles, by MONAI's ``percentile``) or ``"auto"`` (each case by the preset of its modality,
    :func:`resolved_preset`), with :func:`scale_to_unit`.

    Args:
        image_key: the scan.
        preset: ``"ct"``, ``"mr"`` or ``"auto"``.
        modality_key: the case's modality name (absent or ``None``: guessed from the intensities; ``auto`` only).
        ct_window: (low, high) HU of the CT preset.
        percentiles: (low, high) percentiles of the percentile preset.

    The preset each case got is recorded in ``data["intensity_preset"]``.
    """

    def __init__(self, image_key: str = "image", preset: str = "auto", modality_key: str = "modality",
                 ct_window=(-175.0, 250.0), percentiles=(0.5, 99.5)):
        super().__init__([image_key])
        self.image_key, self.preset, self.modality_key = image_key, preset, modality_key
        self.ct_window, self.percentiles = tuple(map(float, ct_window)), tuple(map(float, percentiles))

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        result = dict(data)
        image = result[self.image_key]
        preset = resolved_preset(self.preset, result.get(self.modality_key), image)
        if preset == CT_PRESET:
            low, high = self.ct_window
        else:
            low, high = (float(percentile(image, q)) for q in self.percentiles)
        result[self.image_key] = scale_to_unit(image, low, high)
        result["intensity_preset"] = preset
        return result
