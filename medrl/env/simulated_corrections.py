"""Sparse labels simulated from the truth: what a clinician would mark on a mask, as a corrections map.

A stand-in for real reviews (tests, experiments, the sparse-label training regime): starting from a
mask, a simulated clinician paints ``n_strokes`` brush dabs and then gives ``n_clicks`` clicks, each
on the largest error left (robot strokes and clicks, :mod:`medrl.env.clicks`), and the voxels they
mark form a corrections map (0 untouched, 1 marked background, 2 marked foreground; see
:mod:`medrl.env.feedback`). Every mark agrees with the truth: a dab never leaves its error component.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from medrl.env.clicks import _as_generator, click_ball, robot_strokes
from medrl.env.feedback import MARKED_BACKGROUND, MARKED_FOREGROUND


def simulate_corrections(
    mask: np.ndarray,
    truth: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    n_strokes: int = 3,
    n_clicks: int = 0,
    brush_mm: float = 4.0,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """The corrections a simulated clinician makes on ``mask``.

    Args:
        mask: (D, H, W) the mask under review (bool or {0, 1}).
        truth: (D, H, W) the true mask, same shape.
        spacing: voxel size in mm along (D, H, W).
        n_strokes: brush dabs of up to ``brush_mm`` (each inside its error component), made first.
        n_clicks: single-voxel clicks, made after the strokes.
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
    rng = _as_generator(rng)
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
    return corrections
