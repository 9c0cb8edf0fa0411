"""Starting an episode: one place that turns images and starting probabilities into a reset environment.

Used by training and validation (:class:`~medrl.training.agents.AgentsModule`) and by inference
(:class:`~medrl.inference.refiner.Refiner`), so both start the agents the same way: region maps for
per-region agents, the volumes' spacing. Callers turn masks into probabilities with
:func:`medrl.env.state.soft_start`; inference also resumes from a probability map mid-refinement.
"""

from __future__ import annotations

from typing import Sequence

import torch

from medrl.env.environment import EnvConfig, RefinementEnv
from medrl.env.regions import batch_regions


def start_episode(
    config: EnvConfig,
    image: torch.Tensor,
    p0: torch.Tensor,
    spacings: Sequence[Sequence[float]],
    label: torch.Tensor | None = None,
    label_valid: torch.Tensor | None = None,
    corrections: torch.Tensor | None = None,
    verdict: torch.Tensor | None = None,
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
        verdict: optional (B, 1, X, Y, Z) float signed verdict map in [−1, 1] (clinicians' accepted and
            rejected refinements, see :meth:`RefinementEnv.reset`).
        agents: ``"voxel"`` or ``"region"``; region maps come from ``region_method`` / ``region_size_mm``.
        seed: the robot clinician's seed.
    """
    regions = batch_regions(image, spacings, region_method, region_size_mm) if agents == "region" else None
    env = RefinementEnv(config)
    env.reset(image, p0, label=label, label_valid=label_valid, spacing=list(spacings), regions=regions, seed=seed,
              corrections=corrections, verdict=verdict)
    return env

