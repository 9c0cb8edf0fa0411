"""The reward: relative cross-entropy gain, per voxel (docs/design.md, "The method").

χ_i(p) = −y_i log p_i − (1 − y_i) log(1 − p_i), with p clamped to [ε, 1 − ε], and the reward of a
step from ``p_prev`` to ``p_next`` is r_i = χ_i(p_prev) − χ_i(p_next): positive when the step moved
voxel i towards its target, zero when it kept the voxel's probability, and finite even at p = 0 or 1.
Voxels outside ``valid`` (no target known) earn exactly zero.

Optional boundary weighting (BS-IRIS): :func:`boundary_weight` makes voxels near the target's
boundary weigh more, w = 1 + w0·exp(−d²/(2σ²)), d the distance in mm to the other class.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy import ndimage

DEFAULT_EPS = 1e-6
"""Default clamp ε of the probabilities inside the logarithms."""


def log_likelihood_map(p: torch.Tensor, target: torch.Tensor, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Per-voxel y log p + (1 − y) log(1 − p) = −χ, p clamped to [eps, 1 − eps].

    Computed as ``lerp(log(1 − p), log(p), y)`` (one fused operation for the mix), and with
    1 − p clamped on its own, so that χ(p = 1, y = 0) is exactly −log(eps) in float32 too
    (1 − 1e-6 is not representable in float32).

    Args, Returns: as :func:`cross_entropy_map`, with the opposite sign (values in [log(eps), 0]).
    """
    p = p.float()
    log_p = p.clamp(eps, 1.0 - eps).log_()
    log_not_p = (1.0 - p).clamp_(eps, 1.0 - eps).log_()
    return torch.lerp(log_not_p, log_p, target.float())


def cross_entropy_map(p: torch.Tensor, target: torch.Tensor, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Per-voxel binary cross-entropy χ = −y log p − (1 − y) log(1 − p), p clamped to [eps, 1 − eps].

    Args:
        p: foreground probabilities, any shape (typically (B, 1, D, H, W)), float, values in [0, 1].
        target: targets y, broadcastable to ``p``, values in [0, 1] (usually {0, 1}).
        eps: clamp of ``p``, so χ ≤ −log(eps) is finite at p = 0 or 1.

    Returns:
        χ with the broadcast shape of ``p`` and ``target``, float32, values in [0, −log(eps)].

    Example:
        >>> cross_entropy_map(torch.tensor([0.5]), torch.tensor([1.0]))
        tensor([0.6931])
    """
    return log_likelihood_map(p, target, eps).neg_()


def relative_ce_gain(
    p_prev: torch.Tensor,
    p_next: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-voxel reward χ(p_prev) − χ(p_next) of one step from ``p_prev`` to ``p_next``.

    Args:
        p_prev: probabilities before the step, (B, 1, D, H, W) float, values in [0, 1].
        p_next: probabilities after the step, same shape, values in [0, 1].
        target: reward target y, broadcastable to ``p_prev``, values in [0, 1].
        valid: bool, broadcastable; where False the reward is exactly 0 (no target known).
            ``None`` means every voxel is valid.
        eps: probability clamp inside the logarithms (see :func:`cross_entropy_map`).
        weight: optional float per-voxel weight, broadcastable, multiplied into the reward
            (clinician voxels, boundary weighting).

    Returns:
        The reward map, float32, the broadcast shape (B, 1, D, H, W), values within
        ±w·log(1/eps). An unchanged probability earns 0, so a perfect mask that stays perfect
        earns 0; an all-False ``valid`` gives an all-zero map.

    Example:
        >>> relative_ce_gain(torch.tensor([0.5]), torch.tensor([0.9]), torch.tensor([1.0]))
        tensor([0.5878])
    """
    reward = log_likelihood_map(p_next, target, eps) - log_likelihood_map(p_prev, target, eps)
    return weigh_reward(reward, valid, weight)


def weigh_reward(
    reward: torch.Tensor, valid: torch.Tensor | None = None, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``reward`` times ``weight`` where given, and exactly 0 where ``valid`` is False where given.

    Shapes broadcast; returns a new float32 tensor of the broadcast shape.
    """
    if weight is not None:
        reward = reward * weight.float()
    if valid is not None:
        reward = reward.masked_fill(~valid.bool(), 0.0)
    return reward


def boundary_weight(
    target: np.ndarray,
    spacing: Sequence[float],
    boundary_gain: float,
    sigma_mm: float,
) -> np.ndarray:
    """BS-IRIS boundary weighting of one volume: w = 1 + boundary_gain·exp(−d²/(2·sigma_mm²)).

    Args:
        target: (D, H, W) binary target (bool or {0, 1}).
        spacing: voxel size in mm along (D, H, W).
        boundary_gain: extra weight w0 ≥ 0 right at the boundary (0 turns weighting off).
        sigma_mm: width σ of the Gaussian fall-off, in mm, > 0.

    Returns:
        (D, H, W) float32 weights in [1, 1 + boundary_gain]. d is the Euclidean distance in mm from a
        voxel to the nearest voxel of the other class (scipy EDT with ``sampling=spacing``), so voxels
        on either side of the boundary get d = one voxel size. An empty or full target has no
        boundary: all weights are 1.
    """
    foreground = np.asarray(target).astype(bool)
    if boundary_gain == 0 or foreground.all() or not foreground.any():
        return np.ones(foreground.shape, dtype=np.float32)
    inside = ndimage.distance_transform_edt(foreground, sampling=spacing)
    outside = ndimage.distance_transform_edt(~foreground, sampling=spacing)
    distance = np.where(foreground, inside, outside)
    return (1.0 + boundary_gain * np.exp(-(distance**2) / (2.0 * sigma_mm**2))).astype(np.float32)
