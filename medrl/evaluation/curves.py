"""Summaries of one Dice-vs-interactions curve: NoC@t and the normalised area under the curve.

A curve is ``dice[k]`` for k = 0 … K: ``dice[0]`` is the starting mask's, ``dice[k]`` the Dice after
the k-th interaction of the robot clinician (one click each unless configured otherwise).

- **NoC@t** (number of clicks to reach Dice t): the first k with ``dice[k] >= t``; 0 when the starting
  mask already reaches t; K when t is never reached (capped at K — tell a capped curve from one that
  reaches t exactly at k = K with :func:`reaches`).
- **AUC**: the area under the piecewise-linear curve over k ∈ [0, K] (trapezoidal rule) divided by K,
  so it lies in [0, 1] and equals the mean height of the curve; with K = 0 it is ``dice[0]``.

Example:
    >>> noc([0.70, 0.84, 0.86, 0.91], 0.85), noc([0.70, 0.84, 0.86, 0.91], 0.95), reaches([0.7, 0.8], 0.95)
    (2, 3, False)
    >>> normalised_auc([0.5, 0.7, 0.9])
    0.7
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _curve(dice: Sequence[float]) -> np.ndarray:
    """``dice`` as a float64 (K + 1,) array, checked: one dimension, at least one value, all in [0, 1]."""
    curve = np.asarray(dice, dtype=np.float64)
    if curve.ndim != 1 or curve.size == 0:
        raise ValueError(f"a Dice curve is a non-empty sequence dice[0..K], got shape {curve.shape}")
    if not np.all((curve >= 0) & (curve <= 1)):
        raise ValueError(f"Dice values must lie in [0, 1], got {curve.tolist()}")
    return curve


def first_reaching(dice: Sequence[float], threshold: float) -> int | None:
    """The first interaction k with ``dice[k] >= threshold``, or None if the curve never reaches it."""
    hits = np.flatnonzero(_curve(dice) >= threshold)
    return int(hits[0]) if hits.size else None


def reaches(dice: Sequence[float], threshold: float) -> bool:
    """True when some ``dice[k] >= threshold`` (k = 0 … K)."""
    return first_reaching(dice, threshold) is not None


def noc(dice: Sequence[float], threshold: float) -> int:
    """NoC@threshold: interactions until ``dice[k] >= threshold``, in [0, K]; K when never reached."""
    k = first_reaching(dice, threshold)
    return len(dice) - 1 if k is None else k


def normalised_auc(dice: Sequence[float]) -> float:
    """Area under the Dice-vs-interactions curve over [0, K] divided by K, in [0, 1] (``dice[0]`` if K = 0)."""
    curve = _curve(dice)
    if curve.size == 1:
        return float(curve[0])
    return float(np.trapezoid(curve) / (curve.size - 1))
