"""The robot-clinician protocol of :mod:`medrl.env.protocol`, measured: a method's masks after each interaction.

:func:`play_robot_protocol` (``medrl evaluate``) plays it for any :class:`~medrl.evaluation.methods.Method`
and measures Dice, HD95 and NSD on the working grid after every interaction; the robot clinician is
docs/design.md's (clicks at the deepest voxel, EDT in mm, of the largest 26-connected error components of
the method's current mask, :func:`medrl.env.clicks.robot_clicks`), seeded so every method of a case
meets the same tie-breaking. :func:`play_agents_protocol` is the demo's shorter form: medrl's agents
acting on the whole volume in one environment, Dice only. Both play :func:`medrl.env.protocol.play_protocol`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from medrl.data.mask_metrics import DEFAULT_NSD_TOLERANCE_MM, mask_metrics
from medrl.env.clicks import Click
from medrl.env.protocol import play_protocol
from medrl.env.state import to_mask
from medrl.evaluation.cases import EvaluationCase


@dataclass
class ProtocolResult:
    """One case through the protocol.

    Attributes:
        dice: (K + 1,) float Dice: starting mask, then after each interaction.
        probability: (1, 1, X', Y', Z') float32 final probabilities on the working grid.
        clicks: number of clicks the robot clinician gave.
    """

    dice: np.ndarray
    probability: torch.Tensor
    clicks: int


def play_agents_protocol(refiner, data: dict, initial: torch.Tensor, interactions: int, seed: int = 0) -> ProtocolResult:
    """Play the protocol on one prepared case (``data`` from ``Refiner.prepare`` with a ``label``).

    Args:
        refiner: a :class:`medrl.inference.refiner.Refiner`.
        data: the working-grid case; must hold ``label``.
        initial: binary starting mask on the working grid.
        interactions: K.
        seed: seed of the robot clinician's tie-breaking.
    """
    env = refiner.new_env(data, initial, with_label=True, seed=seed)
    dice = []

    def interact(p: torch.Tensor, clicks: list) -> torch.Tensor:
        env.add_clicks(clicks)
        return refiner.act(env)

    play_protocol(env.p, env.label.clone(), env.spacing, interactions, interact, env.config.clicks_per_interaction, seed,
                  record=lambda k, p, clicks: dice.append(float(env.dice()[0])))
    return ProtocolResult(np.asarray(dice), env.p.detach().cpu(), sum(len(c) for c in env.clicks))


@dataclass(frozen=True)
class InteractionRecord:
    """A method's mask after one interaction (interaction 0: the starting mask), measured on the working grid.

    Attributes:
        interaction: k in [0, K].
        clicks: robot clicks given so far (k × clicks per interaction, fewer once no error is left).
        new_clicks: this interaction's clicks (working-grid voxel indices); empty at k = 0.
        dice: Dice in [0, 1].
        hd95_mm: HD95 in mm (inf when exactly one of mask and truth is empty).
        nsd: normalised surface Dice in [0, 1] at the run's tolerance.
        seconds: wall time the method took for this interaction (its start at k = 0).
    """

    interaction: int
    clicks: int
    new_clicks: tuple[Click, ...]
    dice: float
    hd95_mm: float
    nsd: float
    seconds: float


def _record(k: int, clicks: int, new_clicks, probability: torch.Tensor, case: EvaluationCase, tolerance_mm: float,
            seconds: float) -> InteractionRecord:
    metrics = mask_metrics(to_mask(probability).numpy(), case.label, case.spacing, tolerance_mm)
    return InteractionRecord(k, clicks, tuple(new_clicks), metrics.dice, metrics.hd95_mm, metrics.nsd, round(seconds, 4))


def _checked(method, probability: torch.Tensor, case: EvaluationCase) -> torch.Tensor:
    """A method's map as a float32 CPU tensor; a wrong shape or values outside [0, 1] are the method's bug,
    reported with its name."""
    probability = torch.as_tensor(probability).detach().float().cpu()
    if tuple(probability.shape) != case.label.shape:
        raise ValueError(f"method {method.name!r} returned shape {tuple(probability.shape)}, expected {case.label.shape}")
    low, high = torch.aminmax(probability)
    if not (0 <= float(low) and float(high) <= 1):
        raise ValueError(f"method {method.name!r} returned values in [{float(low):.4g}, {float(high):.4g}], not in [0, 1]")
    return probability


def play_robot_protocol(method, case: EvaluationCase, initial: torch.Tensor, interactions: int,
                        clicks_per_interaction: int = 1, seed: int = 0,
                        nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM) -> list[InteractionRecord]:
    """Play K robot-clinician interactions with one method on one case.

    Each interaction: the robot clicks the ``clicks_per_interaction`` largest error components of the
    method's current mask (p ≥ 0.5) against ``case.label``; the method returns its next probability
    map. An interaction that finds no error gives no click and leaves the map unchanged.

    Args:
        method: a :class:`~medrl.evaluation.methods.Method`.
        case: the prepared case (truth ``case.label``, spacing ``case.spacing``).
        initial: (X, Y, Z) float32 starting mask in [0, 1], the same for every method of the case.
        interactions: K >= 0.
        clicks_per_interaction: robot clicks per interaction (one per error component), >= 1.
        seed: the robot's tie-breaking seed (give every method of a case the same).
        nsd_tolerance_mm: NSD tolerance in mm.

    Returns:
        K + 1 records, interaction 0 (the method's start) first.
    """
    clock = time.perf_counter()
    probability = _checked(method, method.start(case, initial), case)
    truth = torch.as_tensor(case.label)[None, None]
    records: list[InteractionRecord] = []
    clicks: list[Click] = []

    def interact(p: torch.Tensor, new: list[list[Click]]) -> torch.Tensor:
        nonlocal clock
        clock = time.perf_counter()
        answer = _checked(method, method.interact(case, p[0, 0], tuple(clicks), tuple(new[0])), case)
        return answer[None, None]

    def record(k: int, p: torch.Tensor, new: list[list[Click]]) -> None:
        clicks.extend(new[0])
        seconds = time.perf_counter() - clock if k == 0 or new[0] else 0.0
        records.append(_record(k, len(clicks), new[0], p[0, 0], case, nsd_tolerance_mm, seconds))

    play_protocol(probability[None, None], truth, [case.spacing], interactions, interact, clicks_per_interaction, seed,
                  record=record)
    return records


def dice_curve(records: Sequence[InteractionRecord]) -> np.ndarray:
    """(K + 1,) float64 Dice of ``records``, interaction 0 first."""
    return np.asarray([record.dice for record in records], dtype=np.float64)
