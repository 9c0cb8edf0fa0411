"""Where an evaluated case starts: the dataset's ``initial`` mask, the segmenter's, or a seeded perturbation.

Every method of a run starts one case from the same mask, so their curves share ``dice[0]``.

Modes (``--start``):

- ``initial``: the case's ``initial`` entry in the dataset (required for every case);
- ``segmenter``: the main checkpoint's segmenter on the working grid;
- ``perturbed``: :func:`medrl.data.perturbation.perturb_mask` of the truth with a target Dice range,
  seeded per case by :func:`case_seed` (run seed, case index), so a run can be replayed;
- ``empty``: no foreground at all: segmentation from the clicks alone (a structure the start missed entirely);
- ``auto``: ``initial`` when the case has one, else ``segmenter``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from medrl.data.perturbation import PerturbationConfig, perturb_mask
from medrl.errors import MedrlInputError
from medrl.evaluation.cases import EvaluationCase
from medrl.evaluation.settings import START_MODES

PERTURBATION_STREAM, ROBOT_STREAM = 0, 1


@dataclass(frozen=True)
class StartingMask:
    """The starting mask of one case.

    Attributes:
        mask: (X, Y, Z) float32 in [0, 1] on the working grid (binary, or another model's probabilities).
        source: ``"initial"``, ``"segmenter"``, ``"perturbed"`` or ``"empty"``.
        seed: the perturbation's seed (``None`` unless perturbed).
    """

    mask: torch.Tensor
    source: str
    seed: int | None = None


def resolve_start(mode: str, entry: dict, has_segmenter: bool) -> str:
    """The start actually used for a dataset entry under ``mode``.

    Raises:
        MedrlInputError: ``initial`` asked for a case without one; ``segmenter`` (or ``auto`` without an
            starting mask) with a checkpoint that has no segmenter.
    """
    if mode not in START_MODES:
        raise MedrlInputError("--start", f"unknown start {mode!r}; choose one of {', '.join(START_MODES)}")
    source = ("initial" if entry.get("initial") else "segmenter") if mode == "auto" else mode
    if source == "initial" and not entry.get("initial"):
        raise MedrlInputError(entry["image"], "case has no 'initial' mask in the dataset; choose another --start")
    if source == "segmenter" and not has_segmenter:
        raise MedrlInputError(entry["image"], "no 'initial' mask and the checkpoint has no segmenter; "
                              "give starting masks or use --start perturbed")
    return source


def case_seed(seed: int, index: int, stream: int = PERTURBATION_STREAM) -> int:
    """A reproducible 31-bit seed for case ``index`` of a run seeded with ``seed``; ``stream`` keeps the
    perturbation's and the robot clinician's random numbers independent."""
    return int(np.random.SeedSequence([int(seed), int(index), int(stream)]).generate_state(1)[0] & 0x7FFFFFFF)


def starting_mask(case: EvaluationCase, source: str, refiner, index: int, seed: int = 0,
                  perturbation_dice: tuple[float, float] = (0.7, 0.9)) -> StartingMask:
    """The (X, Y, Z) starting mask of ``case`` from ``source`` (see :func:`resolve_start`).

    Args:
        case: the prepared case (with ``initial`` read when ``source == "initial"``).
        source: ``"initial"``, ``"segmenter"``, ``"perturbed"`` or ``"empty"``.
        refiner: the main checkpoint's :class:`~medrl.inference.refiner.Refiner` (its segmenter).
        index: the case's position in the run (seeds its perturbation).
        seed: the run's seed.
        perturbation_dice: (lo, hi) Dice range a perturbed mask is drawn to fall in.
    """
    if source == "initial":
        return StartingMask(case.initial, "initial")
    if source == "segmenter":
        return StartingMask(refiner.segment(case.data)[0, 0].float(), "segmenter")
    if source == "empty":
        return StartingMask(torch.zeros(case.label.shape, dtype=torch.float32), "empty")
    seed_of_case = case_seed(seed, index)
    mask, _ = perturb_mask(case.label, case.spacing, seed_of_case, PerturbationConfig(target_dice=tuple(perturbation_dice)))
    return StartingMask(torch.from_numpy(mask).float(), "perturbed", seed_of_case)
