"""What validation logs, the same for the agents and the click network: the robot clinician seeded
by each case (so DDP and case order do not change the clicks), the Dice after each interaction, and
the final masks' surface metrics."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from medrl.data.mask_metrics import mask_metrics


def robot_seed_of(batch: dict, default: int = 0) -> int:
    """The robot clinician's seed for a validation or test batch of one case: the case's own
    ``perturbation_seed`` (fixed per case by the DataModule), so that validation plays the same clicks
    whatever the number of processes and the order of the cases; ``default`` without one."""
    seed = batch.get("perturbation_seed")
    return default if seed is None else int(torch.as_tensor(seed).flatten()[0])


def log_dice_curve(module, prefix: str, dice: torch.Tensor, batch_size: int, prog_bar: bool = False) -> None:
    """Log a validation protocol's Dice after each interaction (``PREFIX/dice_0`` = the starting mask …
    ``PREFIX/dice_K``) and ``PREFIX/dice_gain`` (last minus first), synced across DDP processes.

    Args:
        module: the LightningModule that logs.
        dice: (K + 1, B) float Dice per interaction and volume.
    """
    for k, value in enumerate(dice):
        module.log(f"{prefix}/dice_{k}", value.mean(), sync_dist=True, batch_size=batch_size)
    module.log(f"{prefix}/dice_gain", (dice[-1] - dice[0]).mean(), sync_dist=True, prog_bar=prog_bar, batch_size=batch_size)


def log_surface_metrics(module, prefix: str, masks: torch.Tensor, labels: torch.Tensor, spacings: Sequence[Sequence[float]],
                        tolerance_mm: float) -> None:
    """Log ``PREFIX/nsd`` (normalised surface Dice at ``tolerance_mm``) and ``PREFIX/hd95_mm`` of final
    masks against their labels, means over the batch synced across DDP processes (HD95 over the volumes
    where it is finite: both masks non-empty).

    Args:
        masks, labels: (B, 1, X, Y, Z) binary masks and labels.
        spacings: B voxel sizes in mm.
    """
    scores = [mask_metrics(m[0], y[0], s, tolerance_mm) for m, y, s in zip(masks.cpu(), labels.cpu(), spacings)]
    batch_size = len(scores)
    module.log(f"{prefix}/nsd", float(np.mean([s.nsd for s in scores])), sync_dist=True, batch_size=batch_size)
    finite = [s.hd95_mm for s in scores if np.isfinite(s.hd95_mm)]
    if finite:
        module.log(f"{prefix}/hd95_mm", float(np.mean(finite)), sync_dist=True, batch_size=len(finite))
