"""The clinician's accept/reject reward: a scalar verdict on one refinement, given back to the actions
that produced it.

When a clinician accepts the agents' refinement (verdict +1) or rejects it (verdict −1), the agents'
actions that made the refinement are known per voxel as a **direction map** (uint8): :data:`UNCHANGED`
(0) where the refinement did not change the voxel's mask, :data:`LOWERED` (1) where it turned the
voxel background, :data:`RAISED` (2) where it turned it foreground. The **signed verdict map** in
[−1, 1] is verdict × (+1 where raised, −1 where lowered, 0 elsewhere): +1 where an accepted
refinement raised p or a rejected one lowered it, −1 the opposite. The reward of a step is

    r_i = v_i · (p_next_i − p_prev_i) / max_step,

so an agent that repeats an accepted action earns up to +1 per step (with ``max_step`` the largest
action), one that repeats a rejected action loses up to 1, and voxels without verdict earn 0.
"""

from __future__ import annotations

import torch

from medrl.env.rewards.ce_gain import weigh_reward
from medrl.env.state import to_mask
from medrl.errors import MedrlInputError

UNCHANGED, LOWERED, RAISED = 0, 1, 2
"""Values of a direction map: the refinement kept, lowered (to background), raised (to foreground) the voxel."""
ACCEPTED, REJECTED = 1, -1
"""The two verdicts a clinician gives a refinement."""
DEFAULT_MAX_STEP = 0.4
"""The largest probability change of one step with the default action set."""


def verdict_gain(
    p_prev: torch.Tensor,
    p_next: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    max_step: float = DEFAULT_MAX_STEP,
) -> torch.Tensor:
    """Per-voxel reward target · (p_next − p_prev) / max_step of one step.

    Args:
        p_prev: probabilities before the step, (B, 1, D, H, W) float, values in [0, 1].
        p_next: probabilities after the step, same shape, values in [0, 1].
        target: the signed verdict map (see :func:`signed_verdict_map`), broadcastable to ``p_prev``,
            float in [−1, 1]; 0 where no verdict is known.
        valid: optional bool, broadcastable; where False the reward is exactly 0.
        max_step: the largest |p_next − p_prev| of one step (> 0), so rewards lie in [−1, 1].

    Returns:
        The broadcast shape (B, 1, D, H, W), float32, values in [−1, 1] while |p_next − p_prev| ≤
        ``max_step``: positive when the step moved p the way the verdict approves, 0 where the target
        is 0, where p did not change, and where ``valid`` is False.

    Example:
        >>> r = verdict_gain(torch.tensor([0.25, 0.25, 0.5]), torch.tensor([0.65, 0.65, 0.5]), torch.tensor([1.0, -1.0, 1.0]))
        >>> [round(v, 4) for v in r.tolist()]
        [1.0, -1.0, 0.0]
    """
    if not max_step > 0:
        raise MedrlInputError("max_step", f"must be > 0, got {max_step}")
    reward = (p_next.float() - p_prev.float()).mul_(target.float()).div_(max_step)
    return weigh_reward(reward, valid)


def refinement_direction(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """The direction map of a refinement from the probabilities (or masks) ``before`` to ``after``.

    Only voxels whose mask p ≥ 0.5 flipped count as changed: that is what the clinician sees and
    judges (a probability nudged from 0.75 to 1 changes nothing on screen).

    Args:
        before, after: same shape, float probabilities in [0, 1] or {0, 1} masks (bool or integer).

    Returns:
        uint8 of that shape: :data:`RAISED` where the mask turned foreground, :data:`LOWERED` where it
        turned background, :data:`UNCHANGED` elsewhere.

    Example:
        >>> refinement_direction(torch.tensor([0.25, 0.75, 0.75, 0.25]), torch.tensor([0.65, 0.35, 1.0, 0.0])).tolist()
        [2, 1, 0, 0]
    """
    if before.shape != after.shape:
        raise MedrlInputError("after", f"shape {tuple(after.shape)} differs from the refinement's start {tuple(before.shape)}")
    was, now = to_mask(before.float()), to_mask(after.float())
    direction = torch.zeros(before.shape, dtype=torch.uint8, device=before.device)
    direction[now & ~was] = RAISED
    direction[was & ~now] = LOWERED
    return direction


def signed_verdict_map(direction: torch.Tensor, verdict: torch.Tensor) -> torch.Tensor:
    """The reward target of :func:`verdict_gain`: verdict × (+1 where raised, −1 where lowered).

    Args:
        direction: (B, 1, D, H, W) integer direction map, values in {0, 1, 2}.
        verdict: (B,) the volumes' verdicts, float in [−1, 1] (+1 accepted, −1 rejected, 0 none).

    Returns:
        (B, 1, D, H, W) float32 in [−1, 1]; all zero for a volume with verdict 0.

    Raises:
        MedrlInputError: direction values outside {0, 1, 2}, verdicts outside [−1, 1] or not one per volume.

    Example:
        >>> signed_verdict_map(torch.tensor([0, 1, 2]).view(1, 1, 1, 1, 3), torch.tensor([-1.0])).flatten().tolist()
        [0.0, 1.0, -1.0]
    """
    if direction.numel() and (direction.min() < UNCHANGED or direction.max() > RAISED):
        raise MedrlInputError("verdict_direction", "values must be 0 (unchanged), 1 (lowered) or 2 (raised)")
    verdict = torch.as_tensor(verdict, dtype=torch.float32, device=direction.device).flatten()
    if verdict.shape != direction.shape[:1] or not bool(((verdict >= -1) & (verdict <= 1)).all()):
        raise MedrlInputError("verdict", f"expected {direction.shape[0]} verdicts in [-1, 1], got {verdict.tolist()}")
    sign = (direction == RAISED).float() - (direction == LOWERED).float()
    return sign.mul_(verdict.view(-1, *([1] * (direction.dim() - 1)))).add_(0.0)  # + 0.0: no −0.0 entries
