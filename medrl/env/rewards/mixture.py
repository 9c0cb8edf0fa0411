"""The agents' reward, chosen in the config: a weighted mixture of the relative CE gain and task rewards.

    reward = w · (ce_gain · CE gain + dice_gain · Dice gain + surface_gain · surface gain)
             + verdict · verdict gain

per voxel, w the voxel's weight (clinician-marked voxels ``clinician_weight``, BS-IRIS boundary
weighting ``boundary_gain``, 0 where no target is known; see :class:`medrl.env.environment.EnvConfig`).
The verdict gain (a clinician's accept/reject of a refinement, :mod:`medrl.env.rewards.verdict`) acts
only on volumes given a verdict map and is not weighted by w: a voxel with a verdict may have no label.
The default is the relative CE gain alone (docs/design.md), plus the verdict gain where verdicts are given.
The parts are the functions of :mod:`medrl.env.rewards.ce_gain`, :mod:`medrl.env.rewards.task` and
:mod:`medrl.env.rewards.verdict`, all with the interface of ``relative_ce_gain(p_prev, p_next, target, valid)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from medrl.env.rewards.ce_gain import DEFAULT_EPS, log_likelihood_map
from medrl.env.rewards.task import dice_gain, surface_gain
from medrl.env.rewards.verdict import verdict_gain


@dataclass
class RewardConfig:
    """Weights and settings of the reward's parts.

    Attributes:
        ce_gain: weight of the relative cross-entropy gain χ(p_prev) − χ(p_next) (the default reward).
        dice_gain: weight of the Dice gain (each agent's marginal contribution to its volume's Dice).
        dice_soft: Dice of the probabilities (True) or of the mask p ≥ 0.5 (False).
        surface_gain: weight of the surface gain (the volume's NSD change shared among flipped agents).
        surface_tolerance_mm: the NSD tolerance τ in mm.
        verdict: weight of the verdict gain (clinicians' accepted / rejected refinements); it acts only
            where a verdict map is given (:meth:`medrl.env.environment.RefinementEnv.reset`).
    """

    ce_gain: float = 1.0
    dice_gain: float = 0.0
    dice_soft: bool = True
    surface_gain: float = 0.0
    surface_tolerance_mm: float = 2.0
    verdict: float = 1.0

    def __post_init__(self):
        weights = (self.ce_gain, self.dice_gain, self.surface_gain)  # the rewards of every volume with a target
        if min(weights) < 0 or max(weights) == 0:
            raise ValueError(f"reward weights must be >= 0 and not all 0, got ce {self.ce_gain}, dice {self.dice_gain}, "
                             f"surface {self.surface_gain}")
        if self.verdict < 0:
            raise ValueError(f"the verdict weight must be >= 0, got {self.verdict}")
        if self.surface_tolerance_mm < 0:
            raise ValueError(f"surface_tolerance_mm must be >= 0, got {self.surface_tolerance_mm}")

    @property
    def has_task_rewards(self) -> bool:
        return self.dice_gain > 0 or self.surface_gain > 0


def task_reward_map(config: RewardConfig, p_prev: torch.Tensor, p_next: torch.Tensor, target: torch.Tensor,
                    valid: torch.Tensor | None, spacings: Sequence[Sequence[float]]) -> torch.Tensor | None:
    """The weighted task parts of the reward (everything but the CE gain), (B, 1, D, H, W) float32,
    before the voxel weights; ``None`` when the config has none."""
    if not config.has_task_rewards:
        return None
    total = torch.zeros_like(p_next, dtype=torch.float32)
    if config.dice_gain > 0:
        total += config.dice_gain * dice_gain(p_prev, p_next, target, valid, soft=config.dice_soft)
    if config.surface_gain > 0:
        total += config.surface_gain * surface_gain(p_prev, p_next, target, valid, spacings, config.surface_tolerance_mm)
    return total


def weighted_verdict_gain(config: RewardConfig, p_prev: torch.Tensor, p_next: torch.Tensor, verdict_target: torch.Tensor,
                          max_step: float = 1.0) -> torch.Tensor:
    """``config.verdict`` × :func:`~medrl.env.rewards.verdict.verdict_gain` from ``p_prev`` to ``p_next`` (broadcast,
    e.g. over every action's candidates (B, A, D, H, W)), a full-size step of ``max_step`` earning ±1."""
    return verdict_gain(p_prev, p_next, verdict_target, max_step=max_step).mul_(config.verdict)


def step_reward(config: RewardConfig, p_prev: torch.Tensor, p_next: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                weight: torch.Tensor, spacings: Sequence[Sequence[float]], eps: float = DEFAULT_EPS,
                verdict_target: torch.Tensor | None = None, max_step: float = 1.0,
                log_likelihood_prev: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The reward of one step from ``p_prev`` to ``p_next``, per voxel (the module's formula).

    Args:
        config: the parts' weights.
        p_prev, p_next: (B, 1, D, H, W) float32 probabilities in [0, 1] before and after the step.
        target: (B, 1, D, H, W) float32 {0, 1} reward target; ``valid``: bool, where it is known.
        weight: (B, 1, D, H, W) float32 voxel weights, 0 where the target is unknown.
        spacings: B voxel sizes in mm (the surface gain).
        eps: the probability clamp of the logarithms.
        verdict_target: optional (B, 1, D, H, W) signed verdict map in [−1, 1].
        max_step: the largest action's probability change (a full-size step earns a verdict of ±1).
        log_likelihood_prev: ``log_likelihood_map(p_prev, target, eps)`` when the caller has it (the environment
            keeps it from the previous step: half the work).

    Returns:
        ``(reward, log_likelihood_next)``: the (B, 1, D, H, W) float32 reward, and p_next's log-likelihood map
        for the next step's ``log_likelihood_prev``.
    """
    log_likelihood = log_likelihood_map(p_next, target, eps)
    if log_likelihood_prev is None:
        log_likelihood_prev = log_likelihood_map(p_prev, target, eps)
    reward = log_likelihood - log_likelihood_prev  # the relative CE gain; weight is 0 wherever the target is unknown
    if config.ce_gain != 1.0:
        reward.mul_(config.ce_gain)
    task = task_reward_map(config, p_prev, p_next, target, valid, spacings)
    if task is not None:
        reward.add_(task)
    reward.mul_(weight)
    if verdict_target is not None and config.verdict > 0:
        reward.add_(weighted_verdict_gain(config, p_prev, p_next, verdict_target, max_step))
    return reward, log_likelihood
