"""The robot-user protocol: K interactions of the simulated clinician, the agents acting after each.

Dice is measured on the working grid after every interaction; ``dice[0]`` is the initial mask's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ProtocolResult:
    """One case through the protocol.

    Attributes:
        dice: (K + 1,) float Dice: initial mask, then after each interaction.
        probability: (1, 1, X', Y', Z') float32 final probabilities on the working grid.
        clicks: number of clicks the robot clinician gave.
    """

    dice: np.ndarray
    probability: torch.Tensor
    clicks: int


def robot_user_protocol(refiner, data: dict, initial: torch.Tensor, interactions: int, seed: int = 0) -> ProtocolResult:
    """Play the protocol on one prepared case (``data`` from ``Refiner.prepare`` with a ``label``).

    Args:
        refiner: a :class:`medrl.inference.refiner.Refiner`.
        data: the working-grid case; must hold ``label``.
        initial: binary starting mask on the working grid.
        interactions: K.
        seed: seed of the robot clinician's tie-breaking.
    """
    env = refiner.new_env(data, initial, with_label=True, seed=seed)
    dice = [float(env.dice()[0])]
    for _ in range(interactions):
        env.add_clicks()
        refiner.act(env)
        dice.append(float(env.dice()[0]))
    return ProtocolResult(np.asarray(dice), env.p.detach().cpu(), sum(len(c) for c in env.clicks))
