"""Starting an episode: one place that turns images and starting probabilities into a reset environment.

Used by training and validation (:class:`~medrl.training.refiner.RefinerModule`) and by inference
(:class:`~medrl.inference.refiner.Refiner`), so both start the agents the same way: region maps for
per-region agents, the volumes' spacing. Callers turn masks into probabilities with
:func:`medrl.env.state.soft_start`; inference also resumes from a probability map mid-refinement.
"""

from __future__ import annotations

from typing import Sequence

import torch

from medrl.env.environment import EnvConfig, RefinementEnv
from medrl.training.region_maps import batch_regions


def start_episode(
    config: EnvConfig,
    image: torch.Tensor,
    p0: torch.Tensor,
    spacings: Sequence[Sequence[float]],
    label: torch.Tensor | None = None,
    label_valid: torch.Tensor | None = None,
    corrections: torch.Tensor | None = None,
    agents: str = "voxel",
    region_method: str = "slic",
    region_size_mm: float = 6.0,
    seed: int = 0,
) -> RefinementEnv:
    """A reset environment.

    Args:
        config: the environment's settings.
        image: (B, 1, X, Y, Z) float32 preprocessed images.
        p0: (B, 1, X, Y, Z) float32 starting probabilities in [0, 1] (e.g. ``soft_start(mask)``).
        spacings: B voxel sizes in mm.
        label: optional (B, 1, X, Y, Z) {0, 1} truth (the robot clinician and rewards need it).
        label_valid: optional (B, 1, X, Y, Z) bool, where ``label`` is known (``None``: everywhere).
        corrections: optional (B, 1, X, Y, Z) uint8 earlier clinician corrections (0/1/2), which
            override ``label`` in the reward (see :meth:`RefinementEnv.reset`).
        agents: ``"voxel"`` or ``"region"``; region maps come from ``region_method`` / ``region_size_mm``.
        seed: the robot clinician's seed.
    """
    regions = batch_regions(image, spacings, region_method, region_size_mm) if agents == "region" else None
    env = RefinementEnv(config)
    env.reset(image, p0, label=label, label_valid=label_valid, spacing=list(spacings), regions=regions, seed=seed,
              corrections=corrections)
    return env


def case_seed(batch: dict, default: int = 0) -> int:
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
