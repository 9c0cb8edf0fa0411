"""Image-aware (geodesic) distance from clicks, so that a click's hint spreads along a structure rather
than in a ball (DeepIGeoS, Wang et al. 2019; IteR-MRL's geodesic hint maps).

The geodesic distance from a set of seed voxels is the length of the shortest path to them, where a step
from voxel a to a neighbour b costs

    c(a, b) = sqrt(|a − b|²_mm + λ² (I_a − I_b)²),

``|a − b|_mm`` the step's length in millimetres (anisotropic spacing honoured) and λ (``intensity_weight``,
in mm per unit of normalised intensity) the price of crossing an intensity change: with λ = 0 it is the
Euclidean distance (up to the 26-neighbourhood's chamfer error, ≤ 8 %), and an edge of contrast ΔI
adds about λ·ΔI mm.

It is computed by raster scans (Toivanen 1996; the scheme of GeodisTK and FastGeodis): for each of the
three axes, a forward and a backward sweep over the slices, each slice taking for every voxel the best of
its nine neighbours in the previous slice; two rounds of the six sweeps. Each sweep is vectorised over a
slice and over the batch, so the Python loop runs over slices only.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

IN_PLANE_OFFSETS = [(dp, dq) for dp in (-1, 0, 1) for dq in (-1, 0, 1)]


def _shifted_planes(volume: torch.Tensor, fill: float) -> torch.Tensor:
    """(B, n, P, Q) -> (B, 9, n, P, Q): for each of the 9 in-plane offsets (dp, dq), ``volume`` at (p + dp, q + dq),
    ``fill`` outside."""
    padded = F.pad(volume, (1, 1, 1, 1), value=fill)
    P, Q = volume.shape[-2:]
    return torch.stack([padded[..., 1 + dp: 1 + dp + P, 1 + dq: 1 + dq + Q] for dp, dq in IN_PLANE_OFFSETS], dim=1)


def _step_costs(image: torch.Tensor, spacing: torch.Tensor, weight: float, reverse: bool) -> torch.Tensor:
    """(B, 9, n − 1, P, Q) costs of the steps a sweep along dim 1 of (B, n, P, Q) ``image`` takes: entry
    [o, j] is the step into voxel (p, q) of slice j + 1 (forward) or j (``reverse``) from its neighbour at
    in-plane offset o in slice j (forward) or j + 1; ``spacing`` (B, 3) = (along, P, Q) in mm."""
    offsets = torch.tensor(IN_PLANE_OFFSETS, dtype=image.dtype, device=image.device)  # (9, 2)
    squared_length = (spacing[:, None, 0] ** 2 + (offsets[None, :, 0] * spacing[:, None, 1]) ** 2
                      + (offsets[None, :, 1] * spacing[:, None, 2]) ** 2)  # (B, 9)
    target, source = (image[:, :-1], image[:, 1:]) if reverse else (image[:, 1:], image[:, :-1])
    jump = target[:, None] - _shifted_planes(source, 0.0)
    return torch.sqrt(squared_length[:, :, None, None, None] + (weight**2) * jump.square_())


def _sweep(distance: torch.Tensor, cost: torch.Tensor, reverse: bool) -> torch.Tensor:
    """One raster sweep along dim 1 of a (B, n, P, Q) distance map with the step costs of :func:`_step_costs`:
    going forward, slice i takes for each voxel the best of its nine neighbours in slice i − 1; going backward,
    in slice i + 1."""
    B, n, P, Q = distance.shape
    if n < 2:
        return distance
    cost = cost.reshape(B, 9, n - 1, P * Q)
    planes = list(distance.reshape(B, n, P * Q).unbind(1))
    order = range(n - 2, -1, -1) if reverse else range(1, n)
    for i in order:
        previous = i + 1 if reverse else i - 1
        padded = F.pad(planes[previous].view(B, 1, P, Q), (1, 1, 1, 1), value=float("inf"))
        neighbour_distance = F.unfold(padded, kernel_size=3)  # (B, 9, P·Q), offsets in IN_PLANE_OFFSETS order
        planes[i] = torch.minimum(planes[i], (neighbour_distance + cost[:, :, min(i, previous)]).amin(dim=1))
    return torch.stack(planes, dim=1).view(B, n, P, Q)


def geodesic_distance_mm(
    image: torch.Tensor,
    seeds: torch.Tensor,
    spacing: Sequence[Sequence[float]],
    intensity_weight: float = 50.0,
    rounds: int = 2,
) -> torch.Tensor:
    """Geodesic distance in mm from the seed voxels of each volume.

    Args:
        image: (B, 1, D, H, W) float normalised intensities (e.g. in [0, 1]).
        seeds: (B, 1, D, H, W) bool, the voxels at distance 0 (e.g. one click's voxel), or float32 distances
            already known (0 at seeds, ``inf`` where unknown; e.g. the distance of a voxel on the border to a
            click outside the volume).
        spacing: B voxel sizes in mm along (D, H, W).
        intensity_weight: λ ≥ 0, mm per unit of intensity change (0: Euclidean distance).
        rounds: rounds of the six sweeps (2 reaches paths that turn back once).

    Returns:
        (B, 1, D, H, W) float32 distances in mm, 0 at seeds; ``inf`` in a volume without seeds.

    Example:
        >>> image = torch.zeros(1, 1, 1, 1, 5); image[..., 3:] = 1.0     # an edge between voxels 2 and 3
        >>> seeds = torch.zeros(1, 1, 1, 1, 5, dtype=torch.bool); seeds[..., 0] = True
        >>> geodesic_distance_mm(image, seeds, [(1.0, 1.0, 1.0)], intensity_weight=3.0)[0, 0, 0, 0].tolist()
        [0.0, 1.0, 2.0, 5.162277698516846, 6.162277698516846]
    """
    image = image.float()[:, 0]
    spacing = torch.as_tensor(spacing, dtype=image.dtype, device=image.device).reshape(-1, 3)
    distance = torch.where(seeds[:, 0], 0.0, float("inf")).to(image) if seeds.dtype == torch.bool else seeds[:, 0].float().clone()
    orders = [[axis, *(a for a in range(3) if a != axis)] for axis in range(3)]
    costs = [[_step_costs(image.permute(0, *(a + 1 for a in order)), spacing[:, order], float(intensity_weight), reverse)
              for reverse in (False, True)] for order in orders]  # the same in every round
    for _ in range(int(rounds)):
        for order, (forward, backward) in zip(orders, costs):
            moved = distance.permute(0, *(a + 1 for a in order))
            moved = _sweep(_sweep(moved, forward, reverse=False), backward, reverse=True)
            distance = moved.permute(0, *(order.index(a) + 1 for a in range(3))).contiguous()
    return distance[:, None]
