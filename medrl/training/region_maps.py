"""Region maps for per-region agents, for a batch of volumes: SLIC supervoxels or a regular grid.

Region size is given in mm so one setting suits scans of any spacing.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from medrl.env.regions import grid_regions, slic_regions

REGION_METHODS = ("slic", "grid")


def batch_regions(
    images: torch.Tensor, spacings: Sequence[Sequence[float]], method: str = "slic", size_mm: float = 6.0,
    compactness: float = 0.1,
) -> torch.Tensor:
    """(B, X, Y, Z) int64 region maps, one per volume, on ``images``' device.

    Args:
        images: (B, 1, X, Y, Z) float32 preprocessed images (intensities about [0, 1]).
        spacings: B voxel sizes in mm along (X, Y, Z).
        method: ``"slic"`` (scikit-image SLIC in 3D honouring spacing) or ``"grid"`` (boxes).
        size_mm: edge of a typical region in mm (SLIC asks for volume / size_mm³ segments).
        compactness: SLIC compactness (higher = more box-like regions).
    """
    if method not in REGION_METHODS:
        raise ValueError(f"method must be one of {REGION_METHODS}, got {method!r}")
    maps = []
    for image, spacing in zip(images[:, 0].detach().cpu().numpy(), spacings):
        if method == "grid":
            cell = [max(1, int(round(size_mm / s))) for s in spacing]
            maps.append(grid_regions(image.shape, cell))
        else:
            volume_mm3 = float(np.prod(image.shape) * np.prod(spacing))
            maps.append(slic_regions(image, max(1, int(volume_mm3 / size_mm**3)), compactness, spacing))
    return torch.from_numpy(np.stack(maps)).to(images.device)
