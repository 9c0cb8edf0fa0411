"""The agents' reward, chosen in the config: a weighted mixture of the relative CE gain and task rewards.

    reward = w · (ce_gain · CE gain + dice_gain · Dice gain + surface_gain · surface gain)
             + verdict · verdict gain

per voxel, w the voxel's weight (clinician-marked voxels ``clinician_weight``, BS-IRIS boundary
weighting ``boundary_gain``, 0 where no target is known; see :class:`medrl.env.environment.EnvConfig`).
The verdict gain (a clinician's accept/reject of a refinement, :mod:`medrl.env.verdict_reward`) acts
only on volumes given a verdict map and is not weighted by w: a voxel with a verdict may have no label.
The default is the relative CE gain alone (DESIGN.md), plus the verdict gain where verdicts are given.
The parts are the functions of :mod:`medrl.env.reward`, :mod:`medrl.env.task_rewards` and
:mod:`medrl.env.verdict_reward`, all with the interface of ``relative_ce_gain(p_prev, p_next, target, valid)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from medrl.env.task_rewards import dice_gain, surface_gain


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
