"""Task rewards: what a supervised per-voxel loss cannot say — the change of a whole mask's Dice or of
its boundary's quality (NSD), shared out to the agents.

Both have the interface of :func:`medrl.env.rewards.ce_gain.relative_ce_gain` (``p_prev, p_next, target,
valid``, per-voxel reward maps (B, 1, D, H, W) float32, exactly 0 where ``valid`` is False) and are
measured in *voxel units*: a volume's change of the metric times (|X| + |Y|)/2, the size its Dice is
normalised by, so one voxel flipped the right way earns about 0.5 (comparable to the CE gain of a
±0.4 step, about 1).

- :func:`dice_gain`: each agent's **marginal contribution** (a difference reward): the volume's Dice
  after the step minus its Dice had only this agent not acted, computed exactly in closed form, on
  the soft Dice of p or the hard Dice of the mask p ≥ 0.5. It sums to about the volume's whole gain.
- :func:`surface_gain`: the change of the volume's normalised surface Dice at a tolerance in mm
  (MONAI), which is not differentiable and has no closed-form share, so it is **split equally among
  the agents whose mask flipped** in the step (signed by the volume's change); agents that did not
  flip earn 0. Mixed with the CE gain, which tells each agent its direction (see
  :class:`medrl.env.rewards.mixture.RewardConfig`).
"""

from __future__ import annotations

from typing import Sequence

import torch

from medrl.data.mask_metrics import normalised_surface_dice
from medrl.env.rewards.ce_gain import weigh_reward
from medrl.env.state import to_mask


def _volume_sums(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-volume Σx·y and Σx + Σy, shaped (B, 1, 1, 1, 1) for broadcasting."""
    dims = tuple(range(1, x.dim()))
    return (x * y).sum(dims, keepdim=True), x.sum(dims, keepdim=True) + y.sum(dims, keepdim=True)


def _dice_of(intersection: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """2·I / S, and 1 where S = 0 (both empty)."""
    return torch.where(size > 0, 2 * intersection / size.clamp_min(1e-12), torch.ones_like(size))


def dice_gain(
    p_prev: torch.Tensor,
    p_next: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    soft: bool = True,
) -> torch.Tensor:
    """Each agent's marginal contribution to its volume's Dice gain, in voxel units.

    With x = p (``soft``) or the mask 1[p ≥ 0.5], y the target, sums over the valid voxels of a
    volume, I = Σ x'y and S = Σ x' + Σ y after the step, and δ_i = x'_i − x_i:
    r_i = [D(I, S) − D(I − δ_i·y_i, S − δ_i)] · S / 2 with D(I, S) = 2I/S — the Dice lost had voxel i
    kept its value (exact, not a first-order approximation).

    Args:
        p_prev, p_next: (B, 1, D, H, W) float probabilities in [0, 1] before and after the step.
        target: (B, 1, D, H, W) {0, 1} target.
        valid: optional bool, where the target is known (the rest neither counts nor earns).
        soft: Dice of p (True) or of the mask p ≥ 0.5 (False: only agents that flip earn).

    Returns:
        (B, 1, D, H, W) float32; 0 where an agent did not change x; positive when its change helped.

    Example:
        >>> y = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 1, 1, 4)
        >>> before, after = torch.tensor([1.0, 0.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 0.0, 1.0])
        >>> [round(r, 3) for r in dice_gain(before.view(y.shape), after.view(y.shape), y, soft=False).flatten().tolist()]
        [0.0, 0.75, 0.0, -0.5]
    """
    x_prev, x_next = (p_prev.float(), p_next.float()) if soft else (to_mask(p_prev).float(), to_mask(p_next).float())
    y = target.float()
    if valid is not None:
        known = valid.float()
        x_prev, x_next, y = x_prev * known, x_next * known, y * known
    intersection, size = _volume_sums(x_next, y)
    delta = x_next - x_prev
    without = _dice_of(intersection - delta * y, size - delta)
    return weigh_reward((_dice_of(intersection, size) - without) * size / 2, valid)


def surface_gain(
    p_prev: torch.Tensor,
    p_next: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    spacing: Sequence[Sequence[float]] | Sequence[float] = (1.0, 1.0, 1.0),
    tolerance_mm: float = 2.0,
) -> torch.Tensor:
    """The change of each volume's NSD at ``tolerance_mm``, shared equally among its flipped agents.

    For volume b: ΔNSD_b = NSD(M', T) − NSD(M, T) of the masks M = 1[p ≥ 0.5] (within ``valid``) against
    the target; each of its n_b voxels whose mask flipped earns ΔNSD_b · (|M'| + |T|)/2 / n_b.

    Args:
        p_prev, p_next, target, valid: as :func:`dice_gain`.
        spacing: voxel size in mm along (D, H, W), one for all volumes or one per volume.
        tolerance_mm: NSD tolerance τ in mm.

    Returns:
        (B, 1, D, H, W) float32; 0 for agents that did not flip, and everywhere in a volume whose NSD
        did not change.
    """
    mask_prev, mask_next, truth = to_mask(p_prev), to_mask(p_next), target >= 0.5
    if valid is not None:
        mask_prev, mask_next, truth = mask_prev & valid.bool(), mask_next & valid.bool(), truth & valid.bool()
    spacings = [spacing] * len(p_next) if isinstance(spacing[0], (int, float)) else list(spacing)
    flipped = (mask_prev != mask_next).float()
    reward = torch.zeros_like(p_next, dtype=torch.float32)
    for b in range(len(p_next)):
        n_flipped = float(flipped[b].sum())
        if n_flipped == 0:
            continue
        before = normalised_surface_dice(mask_prev[b, 0], truth[b, 0], spacings[b], tolerance_mm)
        after = normalised_surface_dice(mask_next[b, 0], truth[b, 0], spacings[b], tolerance_mm)
        size = float(mask_next[b].sum() + truth[b].sum())
        reward[b] = flipped[b] * ((after - before) * size / 2 / n_flipped)
    return weigh_reward(reward, valid)
