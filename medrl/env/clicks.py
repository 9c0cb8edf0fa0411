"""The robot clinician (simulated clicks) and the hint maps that encode clicks for the policy.

Robot clinician (docs/design.md): the errors of a prediction are split into false-negative and false-positive
voxels, each split into 26-connected components; the k largest components (by volume; every voxel of
a volume has the same size, so mm³ and voxel counts rank alike) get one click each, at the voxel
farthest from the component's boundary (Euclidean distance transform in mm, the volume's border
counting as boundary). A false-negative component gives a positive click, a false-positive one a
negative click. Ties (equal sizes, equal depths) are broken by a seeded random generator.

Hint maps: h(x) = max over clicks c of exp(−d(x, c)²/(2σ²)), d the Euclidean distance in mm —
equivalently a Gaussian of the distance to the nearest click. The environment can use the geodesic
(image-aware) distance instead (:mod:`medrl.env.geodesic`, ``EnvConfig.geodesic_weight``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy import ndimage

from medrl.errors import MedrlInputError

_CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)
HINT_REACH_SIGMAS = 4.0
"""A click's hint counts as 0 beyond this many σ (exp(−8) < 4e-4): what it can influence, and how far geodesic
distances are computed."""


@dataclass(frozen=True)
class Click:
    """One click of a clinician.

    Attributes:
        index: voxel index (i, j, k) along (D, H, W).
        positive: True for "this is foreground" (fixes a false negative), False for "background".
    """

    index: tuple[int, int, int]
    positive: bool


def deepest_voxel(component: np.ndarray, spacing: Sequence[float], rng: np.random.Generator) -> tuple[tuple[int, ...], float]:
    """Index of the voxel of a bool ``component`` farthest (in mm) from its boundary, and that depth in
    mm (the distance to the nearest voxel outside; the volume border counts as outside); rng breaks ties."""
    padded = np.pad(component, 1, constant_values=False)  # the volume border counts as boundary
    depth = ndimage.distance_transform_edt(padded, sampling=spacing)[1:-1, 1:-1, 1:-1]
    candidates = np.argwhere(np.isclose(depth, depth.max(), rtol=1e-6, atol=0.0) & component)
    index = tuple(int(i) for i in candidates[rng.integers(len(candidates))])
    return index, float(depth[index])


def _largest_error_components(pred, target, valid, k: int, rng: np.random.Generator) -> list[tuple[bool, np.ndarray, tuple]]:
    """The k largest 26-connected error components, largest first: (positive, bool mask in its box, box)."""
    pred, target = np.asarray(pred).astype(bool), np.asarray(target).astype(bool)
    known = np.ones_like(target) if valid is None else np.asarray(valid).astype(bool)
    components = []  # (size, tie-break key, positive, bool mask of the component's bounding box, box)
    for positive, errors in ((True, target & ~pred & known), (False, pred & ~target & known)):
        labels, count = ndimage.label(errors, structure=_CONNECTIVITY_26)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        for label, box in enumerate(ndimage.find_objects(labels), start=1):
            components.append((int(sizes[label - 1]), rng.random(), positive, labels[box] == label, box))
    components.sort(key=lambda c: (-c[0], c[1]))
    return [(positive, mask, box) for _, _, positive, mask, box in components[:k]]


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)


def robot_clicks(
    pred: np.ndarray,
    target: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    k: int = 1,
    valid: np.ndarray | None = None,
    rng: np.random.Generator | int | None = None,
) -> list[Click]:
    """Simulated clicks on the k largest error components of one volume.

    Args:
        pred: (D, H, W) predicted mask (bool or {0, 1}).
        target: (D, H, W) true mask, same shape.
        spacing: voxel size in mm along (D, H, W).
        k: the number of clicks wanted (at most one per component).
        valid: optional (D, H, W) bool: only errors here count (where the truth is known).
        rng: a ``numpy.random.Generator`` or a seed; ``None`` seeds with 0 (reproducible).

    Returns:
        Up to ``k`` clicks, largest component first. No error -> no click (empty list).

    Example:
        >>> t = np.zeros((5, 5, 5), bool); t[1:4, 1:4, 1:4] = True
        >>> robot_clicks(np.zeros_like(t), t)
        [Click(index=(2, 2, 2), positive=True)]
    """
    return [click for click, _ in robot_strokes(pred, target, spacing, k, 0.0, valid, rng)]


def robot_round(masks: torch.Tensor, targets: torch.Tensor, spacings: Sequence[Sequence[float]], k: int = 1,
                known: torch.Tensor | None = None, rng: np.random.Generator | int | None = None) -> list[list[Click]]:
    """The robot clinician's clicks of one interaction on each of B volumes (:func:`robot_clicks` per volume).

    Args:
        masks: (B, 1, D, H, W) current masks (bool or {0, 1}).
        targets: (B, 1, D, H, W) truth {0, 1} (a float truth counts as foreground from 0.5).
        spacings: B voxel sizes in mm.
        k: clicks per volume (one per error component, largest first).
        known: optional (B, 1, D, H, W) bool, where the truth is known (``None``: everywhere).
        rng: the tie-breaking generator, shared by the volumes in order.

    Returns:
        B lists of clicks (a volume without a known error gets none).
    """
    if len(spacings) != masks.shape[0]:
        raise MedrlInputError("spacings", f"{len(spacings)} voxel sizes for {masks.shape[0]} volumes")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
    pred, truth = masks[:, 0].bool().cpu().numpy(), (targets[:, 0] >= 0.5).cpu().numpy()
    valid = None if known is None else known[:, 0].bool().cpu().numpy()
    return [robot_clicks(pred[b], truth[b], spacings[b], k, None if valid is None else valid[b], rng) for b in range(len(pred))]


def robot_strokes(
    pred: np.ndarray,
    target: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    k: int = 1,
    max_radius_mm: float = 4.0,
    valid: np.ndarray | None = None,
    rng: np.random.Generator | int | None = None,
) -> list[tuple[Click, float]]:
    """Simulated brush dabs: placed like :func:`robot_clicks`, each with the largest radius up to
    ``max_radius_mm`` whose ball (:func:`click_ball`) stays inside its error component, so a dab never
    labels a voxel wrongly.

    Args:
        pred, target, spacing, k, valid, rng: as :func:`robot_clicks`.
        max_radius_mm: the brush's largest radius in mm (0 gives plain clicks).

    Returns:
        Up to ``k`` ``(click, radius_mm)`` pairs, largest component first: paint foreground where
        ``click.positive``, erase otherwise. The radius is just below the dab centre's depth in its
        component, so a component one voxel thick gets a dab of that voxel alone.

    Example:
        >>> t = np.zeros((9, 9, 9), bool); t[1:8, 1:8, 1:8] = True
        >>> robot_strokes(np.zeros_like(t), t, max_radius_mm=10.0)
        [(Click(index=(4, 4, 4), positive=True), 3.996)]
    """
    rng = as_generator(rng)
    strokes = []
    for positive, mask, box in _largest_error_components(pred, target, valid, k, rng):
        local, depth = deepest_voxel(mask, spacing, rng)
        radius = round(min(float(max_radius_mm), 0.999 * depth), 3)  # < depth: the ball stays inside
        strokes.append((Click(tuple(int(s.start + i) for s, i in zip(box, local)), positive), radius))
    return strokes


def brush_radius_mm(pred: np.ndarray, target: np.ndarray, click: Click, spacing: Sequence[float]) -> float:
    """The radius in mm of the largest ball around ``click`` that stays inside its error component: just
    under the clicked voxel's distance (EDT in mm) to the nearest voxel outside the 26-connected component
    of errors of the click's kind (false negatives for a positive click) that holds it.

    Args:
        pred, target: (D, H, W) masks (bool or {0, 1}).
        click: a click on an error voxel (on a correct voxel the radius is 0: the voxel alone).
        spacing: voxel size in mm along (D, H, W).

    Returns:
        the radius in mm, ≥ 0; :func:`click_ball` of it labels only voxels of that component.
    """
    pred, target = np.asarray(pred).astype(bool), np.asarray(target).astype(bool)
    errors = (target & ~pred) if click.positive else (pred & ~target)
    if not errors[click.index]:
        return 0.0
    labels, _ = ndimage.label(errors, structure=_CONNECTIVITY_26)
    box = ndimage.find_objects((labels == labels[click.index]).astype(np.int32))[0]
    component = labels[box] == labels[click.index]
    depth = ndimage.distance_transform_edt(np.pad(component, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    local = tuple(i - s.start for i, s in zip(click.index, box))
    return round(0.999 * float(depth[local]), 3)


def squared_distance_mm(
    index: Sequence[int],
    shape: Sequence[int],
    spacing: Sequence[float],
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Squared Euclidean distance in mm from voxel ``index`` to every voxel of a (D, H, W) grid.

    Returns:
        (D, H, W) float32, 0 at ``index``.
    """
    axes = [
        ((torch.arange(n, device=device, dtype=torch.float32) - i) * s) ** 2
        for n, i, s in zip(shape, index, spacing)
    ]
    return axes[0].view(-1, 1, 1) + axes[1].view(1, -1, 1) + axes[2].view(1, 1, -1)


def hint_maps(
    clicks: Sequence[Click],
    shape: Sequence[int],
    spacing: Sequence[float],
    sigma_mm: float,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Hint maps [positive, negative] of one volume's clicks.

    Args:
        clicks: the clicks so far (any number, possibly none).
        shape: (D, H, W).
        spacing: voxel size in mm along (D, H, W).
        sigma_mm: Gaussian width σ in mm, > 0.
        device: where to build the maps.

    Returns:
        (2, D, H, W) float32 in [0, 1]: channel 0 from positive clicks, 1 from negative clicks;
        h = max over clicks of exp(−d²/(2σ²)), exactly 1 at a click, all 0 without clicks.
    """
    hints = torch.zeros(2, *shape, dtype=torch.float32, device=device)
    for click in clicks:
        gaussian = torch.exp(-squared_distance_mm(click.index, shape, spacing, device) / (2.0 * sigma_mm**2))
        channel = 0 if click.positive else 1
        hints[channel] = torch.maximum(hints[channel], gaussian)
    return hints


def click_ball(
    click: Click,
    shape: Sequence[int],
    spacing: Sequence[float],
    radius_mm: float,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The voxels a click labels: those within ``radius_mm`` (in mm) of the clicked voxel.

    Returns:
        (D, H, W) bool; ``radius_mm = 0`` gives just the clicked voxel.
    """
    return squared_distance_mm(click.index, shape, spacing, device) <= radius_mm**2
