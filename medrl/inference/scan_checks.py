"""Warnings when a scan does not look like what a checkpoint was made for.

medrl still predicts (the user may know better), but says so on stderr and in the report: a checkpoint
that windows CT Hounsfield units given a scan without air in HU (an MR, a PET), one trained on
percentile-scaled scans given a CT, or a scan whose voxels are much coarser or finer than the working
grid the checkpoint resamples to.
"""

from __future__ import annotations

import numpy as np

from medrl.data.geometry import voxel_spacing
from medrl.data.intensity import guess_modality, preset_for_modality
from medrl.data.transforms import Preprocessing

SPACING_RATIO = 2.5
"""A scan whose voxel size differs from the working grid's by more than this factor on an axis is flagged."""


def scan_mismatches(preprocessing: Preprocessing, image, modality: str | None = None) -> list[str]:
    """Sentences, one per mismatch, between ``preprocessing`` (the checkpoint's) and ``image``.

    Args:
        preprocessing: the checkpoint's preprocessing.
        image: the scan as read, MetaTensor (1, X, Y, Z) with its affine.
        modality: the modality the user gave (``None``: guessed from the intensities).
    """
    found = []
    looks_ct = (preset_for_modality(modality) or preset_for_modality(guess_modality(image))) == "ct"
    if preprocessing.intensity == "ct" and not looks_ct:
        low, high = preprocessing.ct_window
        found.append(f"the checkpoint windows CT Hounsfield units ({low:g} to {high:g}) but this scan does not look like "
                     "CT (no air in HU); its mask may be meaningless: use a checkpoint trained with intensity mr or auto")
    if preprocessing.intensity == "mr" and looks_ct:
        found.append("the checkpoint was trained on percentile-scaled scans (MR, PET) but this scan looks like CT (air in "
                     "HU); use a CT or auto checkpoint")
    if preprocessing.spacing is not None:
        scan = np.sort(voxel_spacing(np.asarray(image.affine)))
        working = np.sort(np.asarray(preprocessing.spacing, dtype=float))
        ratio = np.maximum(scan / working, working / scan)
        if np.any(ratio > SPACING_RATIO):
            found.append(f"the scan's voxels ({', '.join(f'{v:.2g}' for v in scan)} mm) are far from the checkpoint's "
                         f"working grid ({', '.join(f'{v:.2g}' for v in working)} mm); it is resampled, and the agents "
                         "never saw such a scan")
    return found
