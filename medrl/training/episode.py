"""Starting an episode: one place that turns images and binary masks into a reset environment.

Used by training and validation (:class:`~medrl.training.refiner.RefinerModule`) and by inference
(:class:`~medrl.inference.refiner.Refiner`), so both start the agents the same way: soft start of the
mask, region maps for per-region agents, the volumes' spacing.
"""

from __future__ import annotations

from typing import Sequence

import torch

from medrl.env.environment import EnvConfig, RefinementEnv
from medrl.env.state import soft_start
from medrl.training.region_maps import batch_regions


def start_episode(
    config: EnvConfig,
    image: torch.Tensor,
    initial: torch.Tensor,
    spacings: Sequence[Sequence[float]],
    label: torch.Tensor | None = None,
    agents: str = "voxel",
    region_method: str = "slic",
    region_size_mm: float = 6.0,
    soft_start_values: Sequence[float] = (0.75, 0.25),
    seed: int = 0,
) -> RefinementEnv:
    """A reset environment.

    Args:
        config: the environment's settings.
        image: (B, 1, X, Y, Z) float32 preprocessed images.
        initial: (B, 1, X, Y, Z) binary starting masks.
        spacings: B voxel sizes in mm.
        label: optional (B, 1, X, Y, Z) {0, 1} truth (the robot clinician and rewards need it).
        agents: ``"voxel"`` or ``"region"``; region maps come from ``region_method`` / ``region_size_mm``.
        soft_start_values: (inside, outside) initial probabilities.
        seed: the robot clinician's seed.
    """
    regions = batch_regions(image, spacings, region_method, region_size_mm) if agents == "region" else None
    env = RefinementEnv(config)
    env.reset(image, soft_start(initial.float(), *soft_start_values), label=label, spacing=list(spacings),
              regions=regions, seed=seed)
    return env
