"""Sparse labels simulated from the truth: what a clinician would mark on a mask, as a corrections map.

A stand-in for real reviews (tests, experiments, the sparse-label training regime): starting from a
mask, a simulated clinician paints ``n_strokes`` brush dabs and then gives ``n_clicks`` clicks, each
on the largest error left (robot strokes and clicks, :mod:`medrl.env.clicks`), and the voxels they
mark form a corrections map (0 untouched, 1 marked background, 2 marked foreground; see
:mod:`medrl.env.rewards.target`). Every mark agrees with the truth: a dab never leaves its error component.

Marks on errors alone are a biased sample (every marked voxel says "the opposite of the mask"), so a
clinician annotating sparsely also confirms: ``n_confirm`` dabs, alternately inside the organ where the
mask is right and in the background near it (within ``confirm_ring_mm``) where the mask is right,
each at the deepest point of what is left of that region.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from medrl.env.clicks import Click, as_generator, click_ball, deepest_voxel, robot_strokes
from medrl.env.rewards.target import MARKED_BACKGROUND, MARKED_FOREGROUND


def simulate_corrections(
    mask: np.ndarray,
    truth: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    n_strokes: int = 3,
    n_clicks: int = 0,
    brush_mm: float = 4.0,
    rng: np.random.Generator | int | None = None,
    n_confirm: int = 0,
    confirm_ring_mm: float = 10.0,
) -> np.ndarray:
    """The corrections a simulated clinician makes on ``mask``.

    Args:
        mask: (D, H, W) the mask under review (bool or {0, 1}).
        truth: (D, H, W) the true mask, same shape.
        spacing: voxel size in mm along (D, H, W).
        n_strokes: brush dabs of up to ``brush_mm`` (each inside its error component), made first.
        n_clicks: single-voxel clicks, made after the strokes.
        n_confirm: confirming dabs on correct voxels, made last (organ, background, organ, ...).
        confirm_ring_mm: background confirmations lie within this distance of the organ.
        brush_mm: the brush's largest radius in mm.
        rng: generator or seed of the tie-breaking (``None``: seed 0).

    Returns:
        (D, H, W) uint8 corrections map in {0, 1, 2}; all zeros when ``mask`` has no error. Each mark
        is placed on the largest error of ``mask`` with the marks so far applied.

    Example:
        >>> t = np.zeros((9, 9, 9), bool); t[1:8, 1:8, 1:8] = True
        >>> int((simulate_corrections(np.zeros_like(t), t, n_strokes=1, brush_mm=1.0) == 2).sum())
        7
    """
    rng = as_generator(rng)
    current = np.asarray(mask).astype(bool).copy()
    corrections = np.zeros(current.shape, np.uint8)
    for radius_cap in [float(brush_mm)] * n_strokes + [0.0] * n_clicks:
        strokes = robot_strokes(current, truth, spacing, 1, radius_cap, rng=rng)
        if not strokes:
            break
        click, radius = strokes[0]
        ball = click_ball(click, current.shape, spacing, radius).numpy()
        corrections[ball] = MARKED_FOREGROUND if click.positive else MARKED_BACKGROUND
        current[ball] = click.positive
    _confirm(corrections, current, np.asarray(truth).astype(bool), spacing, n_confirm, brush_mm, confirm_ring_mm, rng)
    return corrections


def _confirm(corrections: np.ndarray, mask: np.ndarray, truth: np.ndarray, spacing, n_confirm: int, brush_mm: float,
             ring_mm: float, rng: np.random.Generator) -> None:
    """Add ``n_confirm`` dabs on correctly labelled, unmarked voxels, alternately organ and nearby background."""
    if n_confirm <= 0:
        return
    near = ndimage.distance_transform_edt(~truth, sampling=spacing) <= ring_mm
    regions = {True: truth & mask, False: ~truth & ~mask & near}
    for k in range(n_confirm):
        organ = k % 2 == 0
        region = regions[organ] & (corrections == 0)
        if not region.any():
            continue
        labels, count = ndimage.label(region)
        largest = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
        index, depth = deepest_voxel(largest, spacing, rng)
        ball = click_ball(Click(index, organ), region.shape, spacing, min(float(brush_mm), 0.999 * depth)).numpy()
        corrections[ball] = MARKED_FOREGROUND if organ else MARKED_BACKGROUND
