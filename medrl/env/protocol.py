"""The robot-clinician protocol: K interactions of the simulated clinician, one loop for every method.

Each interaction the robot clinician clicks the largest error components of the method's current mask
(p ≥ 0.5) against the truth (:func:`medrl.env.clicks.robot_round`: the deepest voxel of each, EDT in mm), and the
method answers with its next probability map. An interaction whose volumes have no error left gives no click and
leaves the map as it is. Validation of the agents and of the click network, ``medrl evaluate`` and the demo all
play it through :func:`play_protocol`, so every method meets the same clinician.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from medrl.env.clicks import Click, robot_round
from medrl.env.state import to_mask

Interact = Callable[[torch.Tensor, list[list[Click]]], torch.Tensor]
"""``interact(p, new_clicks) -> p_next``: a method's answer to one interaction, (B, 1, D, H, W) float32 in [0, 1],
given its current map and B lists of new clicks."""

Record = Callable[[int, torch.Tensor, list[list[Click]]], None]
"""``record(k, p, new_clicks)``: called with the starting map (k = 0, no clicks) and after each interaction k."""


def play_protocol(p: torch.Tensor, truth: torch.Tensor, spacings: Sequence[Sequence[float]], interactions: int,
                  interact: Interact, clicks_per_interaction: int = 1, seed: int = 0, known: torch.Tensor | None = None,
                  record: Record | None = None) -> torch.Tensor:
    """Play K robot-clinician interactions with one method on a batch of volumes.

    Args:
        p: (B, 1, D, H, W) float32 in [0, 1], the method's map before the first click.
        truth: (B, 1, D, H, W) {0, 1} the robot's truth; ``known``: optional bool, where it is known.
        spacings: B voxel sizes in mm.
        interactions: K >= 0.
        interact: the method (see :data:`Interact`); called only in interactions with at least one click.
        clicks_per_interaction: robot clicks per volume and interaction (one per error component), >= 1.
        seed: the robot's tie-breaking seed (give every method of a case the same).
        record: optional observer (see :data:`Record`), e.g. to measure Dice after each interaction.

    Returns:
        (B, 1, D, H, W) the method's map after the last interaction.
    """
    rng = np.random.default_rng(seed)
    if record is not None:
        record(0, p, [[] for _ in range(p.shape[0])])
    for k in range(1, interactions + 1):
        new = robot_round(to_mask(p), truth, spacings, clicks_per_interaction, known, rng)
        if any(new):
            p = interact(p, new)
        if record is not None:
            record(k, p, new)
    return p
