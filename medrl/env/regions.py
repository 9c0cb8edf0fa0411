"""Agents as voxels or as regions (supervoxels), behind one interface.

A region map labels every voxel with its region index in [0, R). Per-region agents see the policy
pooled per region: a region's action logits (and value) are the **mean of its voxels' logits** (and
values); its one action is broadcast to all its voxels; its reward is the mean reward of its valid
voxels. Per-voxel agents are the special case "every voxel is its own region", implemented as a plain
reshape so they pay nothing for the generality.

Agent tensors have shape (B, C, N): N agents per volume (N = D·H·W voxels, or R regions).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from skimage.segmentation import slic

from medrl.errors import MedrlInputError


def slic_regions(
    volume: np.ndarray,
    n_segments: int,
    compactness: float,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """Supervoxels of one volume with scikit-image's SLIC in 3D, honouring the voxel spacing.

    Args:
        volume: (D, H, W) grey-level image; intensities roughly unit scale, since ``compactness``
            trades intensity against spatial distance.
        n_segments: approximate number of supervoxels.
        compactness: SLIC compactness (higher = more cube-like regions).
        spacing: voxel size in mm along (D, H, W).

    Returns:
        (D, H, W) int64 region map with labels 0 .. R−1, every label used.
    """
    labels = slic(
        np.asarray(volume, dtype=np.float32),
        n_segments=n_segments,
        compactness=compactness,
        spacing=np.asarray(spacing, dtype=float),
        channel_axis=None,
        start_label=0,
    )
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int64)


def grid_regions(shape: Sequence[int], cell_size: Sequence[int]) -> np.ndarray:
    """A regular grid of box regions: the fallback when supervoxels are not wanted.

    Args:
        shape: (D, H, W) of the volume.
        cell_size: box edge in voxels along (D, H, W); boxes at the far edges may be smaller.

    Returns:
        (D, H, W) int64 region map, labels 0 .. R−1 in C order of the boxes.

    Example:
        >>> grid_regions((1, 2, 4), (1, 2, 2))[0].tolist()
        [[0, 0, 1, 1], [0, 0, 1, 1]]
    """
    cells = [np.arange(n) // c for n, c in zip(shape, cell_size)]
    counts = [int(c.max()) + 1 for c in cells]
    d, h, w = np.meshgrid(*cells, indexing="ij")
    return ((d * counts[1] + h) * counts[2] + w).astype(np.int64)


def region_mean(
    values: torch.Tensor,
    regions: torch.Tensor,
    n_regions: int,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean of ``values`` over each region's (masked) voxels, batched, with ``scatter_add``.

    Args:
        values: (B, C, D, H, W) float.
        regions: (B, D, H, W) int64 region labels in [0, n_regions).
        n_regions: R, the number of region slots per volume (volumes may use fewer).
        mask: optional (B, 1, D, H, W) bool: only these voxels count. ``None`` = all voxels.

    Returns:
        (B, C, R) float32 means; a region with no (masked) voxel gets 0.

    Example:
        >>> v = torch.tensor([1.0, 2.0, 3.0, 5.0]).view(1, 1, 1, 1, 4)
        >>> region_mean(v, torch.tensor([0, 0, 1, 1]).view(1, 1, 1, 4), 2)
        tensor([[[1.5000, 4.0000]]])
    """
    batch, channels = values.shape[:2]
    index = regions.reshape(batch, 1, -1).long()
    weights = torch.ones_like(values[:, :1]) if mask is None else mask.float()
    weights = weights.reshape(batch, 1, -1)
    sums = values.new_zeros(batch, channels, n_regions, dtype=torch.float32)
    sums.scatter_add_(2, index.expand(batch, channels, -1), values.reshape(batch, channels, -1).float() * weights)
    counts = weights.new_zeros(batch, 1, n_regions).scatter_add_(2, index, weights)
    return sums / counts.clamp(min=1.0)


def broadcast(region_values: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Give every voxel its region's value: the inverse direction of :func:`region_mean`.

    Args:
        region_values: (B, C, R), any dtype.
        regions: (B, D, H, W) int64 labels in [0, R).

    Returns:
        (B, C, D, H, W), the dtype of ``region_values``.
    """
    batch, channels = region_values.shape[:2]
    index = regions.reshape(batch, 1, -1).long().expand(batch, channels, -1)
    return region_values.gather(2, index).reshape(batch, channels, *regions.shape[1:])


class VoxelAgents:
    """Every voxel is an agent: pooling and broadcasting are reshapes. N = D·H·W."""

    def __init__(self, spatial_shape: Sequence[int]):
        self.spatial_shape = tuple(int(s) for s in spatial_shape)
        self.n_agents = int(np.prod(self.spatial_shape))

    def pool(self, values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, D, H, W) voxel values -> (B, C, N) agent values (``mask`` is irrelevant here)."""
        return values.flatten(2)

    def broadcast(self, agent_values: torch.Tensor) -> torch.Tensor:
        """(B, C, N) agent values -> (B, C, D, H, W) voxel values."""
        return agent_values.reshape(*agent_values.shape[:2], *self.spatial_shape)


class RegionAgents:
    """Every region of a region map is an agent. N = R, the number of region slots.

    Args:
        regions: (B, D, H, W) int64 labels in [0, n_regions).
        n_regions: R; defaults to ``regions.max() + 1``.
    """

    def __init__(self, regions: torch.Tensor, n_regions: int | None = None):
        if regions.dim() != 4:
            raise MedrlInputError("regions", f"expected a (B, D, H, W) region map, got shape {tuple(regions.shape)}")
        self.regions = regions.long()
        self.n_agents = int(regions.max()) + 1 if n_regions is None else int(n_regions)
        if int(regions.min()) < 0 or int(regions.max()) >= self.n_agents:
            raise MedrlInputError("regions", f"labels must lie in [0, {self.n_agents})")
        self.spatial_shape = tuple(regions.shape[1:])

    def pool(self, values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, D, H, W) voxel values -> (B, C, R) region means over the ``mask``-ed voxels."""
        return region_mean(values, self.regions, self.n_agents, mask)

    def broadcast(self, agent_values: torch.Tensor) -> torch.Tensor:
        """(B, C, R) region values -> (B, C, D, H, W) voxel values."""
        return broadcast(agent_values, self.regions)


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
