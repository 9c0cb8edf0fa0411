"""Invertible preprocessing (MONAI): canonical RAS grid, target spacing, intensity preset, crop.

Everything medrl computes happens on the preprocessed grid; :func:`invert` maps a prediction back
onto the input's own grid (shape and affine of the file that was read), using the operations MONAI
records on each ``MetaTensor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from monai.transforms import (
    Compose,
    CropForegroundd,
    Invertd,
    Orientationd,
    Spacingd,
)

from medrl.data.intensity import ScaleIntensityd

INTENSITY_PRESETS = ("ct", "mr", "auto", "none")
RAS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))  # world axis labels, low to high: RAS+


@dataclass
class Preprocessing:
    """How scans are brought to the grid and intensity range the networks see.

    Attributes:
        spacing: target voxel size in mm (x, y, z) on the RAS grid; ``None`` keeps the scan's.
        intensity: ``"ct"`` (HU window ``ct_window`` scaled to [0, 1], clipped), ``"mr"`` (robust
            percentiles ``mr_percentiles`` scaled to [0, 1], clipped: MR, z-scored MR, PET, any scan not
            in HU), ``"auto"`` (one of the two for each scan, by its ``modality`` or, without one, by its
            intensities: see :mod:`medrl.data.intensity`) or ``"none"``.
        ct_window: (low, high) Hounsfield units for the CT preset; the default suits abdominal soft tissue.
        mr_percentiles: (low, high) percentiles for the MR preset.
        crop_foreground: crop to the bounding box of voxels with scaled intensity > 0 (the body),
            which saves compute on air; inverted by padding back.
        crop_margin: voxels kept around the foreground box.
    """

    spacing: tuple[float, float, float] | None = None
    intensity: str = "ct"
    ct_window: tuple[float, float] = (-175.0, 250.0)
    mr_percentiles: tuple[float, float] = (0.5, 99.5)
    crop_foreground: bool = False
    crop_margin: int = 4

    def __post_init__(self):
        if self.intensity not in INTENSITY_PRESETS:
            raise ValueError(f"intensity must be one of {INTENSITY_PRESETS}, got {self.intensity!r}")


def is_body(x: torch.Tensor) -> torch.Tensor:
    """Foreground selector for cropping: scaled intensity above 0 (module level, so workers can pickle it)."""
    return x > 0


def preprocessing_transform(config: Preprocessing, image_key: str = "image", label_keys: Sequence[str] = ("label",)) -> Compose:
    """The invertible preprocessing for a case dict of channel-first MetaTensors.

    Args:
        config: the :class:`Preprocessing` settings.
        image_key: the scan (interpolated linearly when resampled).
        label_keys: label maps and masks (nearest-neighbour; keys absent from a case are skipped).

    Returns:
        a MONAI ``Compose``; its output image is float32, labels keep integer values.
    """
    keys = [image_key, *label_keys]
    modes = ["bilinear"] + ["nearest"] * len(label_keys)
    steps = [Orientationd(keys, axcodes="RAS", labels=RAS_LABELS, allow_missing_keys=True)]
    if config.spacing is not None:
        steps.append(Spacingd(keys, pixdim=tuple(config.spacing), mode=modes, allow_missing_keys=True))
    if config.intensity in ("ct", "mr", "auto"):
        steps.append(ScaleIntensityd(image_key, config.intensity, ct_window=config.ct_window, percentiles=config.mr_percentiles))
    if config.crop_foreground:
        steps.append(
            CropForegroundd(keys, source_key=image_key, select_fn=is_body, margin=config.crop_margin,
                            allow_smaller=True, allow_missing_keys=True)
        )
    return Compose(steps)


def invert(transform: Compose, data: dict, key: str, reference_key: str = "image", nearest: bool = True) -> torch.Tensor:
    """Map ``data[key]`` from the preprocessed grid back to the input grid of ``data[reference_key]``.

    Args:
        transform: the ``Compose`` that produced ``data``.
        data: the preprocessed case dict; ``data[key]`` is a (C, X', Y', Z') tensor on the grid of
            ``data[reference_key]`` (e.g. a predicted mask or probability map).
        key: the prediction to invert.
        nearest: nearest-neighbour interpolation (for masks); False for probability maps.

    Returns:
        MetaTensor (C, X, Y, Z) on the input's own grid, ``.affine`` equal to the input file's.
    """
    inverter = Invertd(keys=key, transform=transform, orig_keys=reference_key, nearest_interp=nearest)
    return inverter(dict(data))[key]
