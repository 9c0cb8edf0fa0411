"""What one ``medrl evaluate`` run is asked to do (no heavy imports: the CLI builds it at start-up)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from medrl.errors import MedrlInputError

START_MODES = ("auto", "initial", "segmenter", "perturbed", "empty")
RESERVED_NAMES = ("initial",)


@dataclass
class EvaluationSettings:
    """Settings of :func:`medrl.evaluation.run.run_evaluation`.

    Attributes:
        checkpoint: the main agents' checkpoint; its preprocessing defines the working grid on which
            every method runs and every metric is measured, and its segmenter makes ``segmenter`` starts.
        data: ``dataset.json``, a dataset folder (``imagesTr``/``labelsTr``) or a CSV.
        output: folder for ``interactions.csv``, ``cases.csv``, ``summary.json``, ``dice_vs_clicks.png``.
        interactions: K, robot-clinician interactions per case (>= 0).
        name: the main agents' name in reports.
        compare: further agents to compare, name -> checkpoint (same preprocessing as ``checkpoint``).
        section: the dataset's case list (``test``, ``validation``, ``training``, or another list of a dataset.json).
        start: ``auto`` (the case's ``initial`` mask, else the segmenter), ``initial``, ``segmenter``,
            ``perturbed`` or ``empty`` (see :mod:`medrl.evaluation.starts`).
        perturbation_dice: (lo, hi) Dice range of perturbed starting masks.
        seed: seeds the perturbations and the robot clinician's tie-breaking.
        foreground_labels: label values that form the task's foreground (``None``: the checkpoint's
            choice, and without one any non-zero label).
        clicks_per_interaction: robot clicks per interaction (one per error component).
        nsd_tolerance_mm: tolerance of the normalised surface Dice in mm.
        noc_thresholds: Dice levels t of NoC@t.
        max_cases: evaluate only the first N cases of the section (``None``: all).
        device: ``cpu`` or ``cuda`` for the networks.
        overwrite: replace earlier results in ``output``.
        crop_margin_mm: run and measure every method in the box of the truth grown by this margin in mm
            (a region of interest around the structure); ``None``: the whole working grid.
        modality: the scans' modality for the ``auto`` intensity preset when their dataset entries name none
            (``None``: each entry's own, else guessed from the intensities).
    """

    checkpoint: str
    data: str
    output: str
    interactions: int = 10
    name: str = "medrl"
    compare: dict[str, str] = field(default_factory=dict)
    section: str = "test"
    start: str = "auto"
    perturbation_dice: tuple[float, float] = (0.7, 0.9)
    seed: int = 0
    foreground_labels: tuple[int, ...] | None = None
    clicks_per_interaction: int = 1
    nsd_tolerance_mm: float = 2.0
    noc_thresholds: tuple[float, ...] = (0.85, 0.90)
    max_cases: int | None = None
    device: str = "cpu"
    overwrite: bool = False
    crop_margin_mm: float | None = None
    modality: str | None = None

    def check(self) -> None:
        """Raise :class:`MedrlInputError` naming the first option with an impossible value."""
        lo, hi = self.perturbation_dice
        checks = [
            ("--interactions", self.interactions >= 0, "must be 0 or more"),
            ("--start", self.start in START_MODES, f"must be one of {', '.join(START_MODES)}"),
            ("--perturbation-dice", 0 <= lo <= hi <= 1, "needs 0 <= lo <= hi <= 1"),
            ("--clicks-per-interaction", self.clicks_per_interaction >= 1, "must be 1 or more"),
            ("--nsd-tolerance", math.isfinite(self.nsd_tolerance_mm) and self.nsd_tolerance_mm >= 0, "must be 0 mm or more"),
            ("--noc-thresholds", all(0 < t <= 1 for t in self.noc_thresholds), "must lie in (0, 1]"),
            ("--noc-thresholds", len({round(t * 100) for t in self.noc_thresholds}) == len(self.noc_thresholds),
             "must differ in their percent values (NoC@85, NoC@90, ...)"),
            ("--max-cases", self.max_cases is None or self.max_cases >= 1, "must be 1 or more"),
            ("--crop-margin", self.crop_margin_mm is None or self.crop_margin_mm >= 0, "must be 0 mm or more"),
            ("--foreground-labels", self.foreground_labels is None or (len(self.foreground_labels) > 0
                                                                      and min(self.foreground_labels) > 0),
             "must be one or more positive label values"),
        ]
        for option, fine, problem in checks:
            if not fine:
                raise MedrlInputError(option, problem)
        self._check_names()

    def _check_names(self) -> None:
        names = [self.name, *self.compare]
        for name in names:
            if not name or name in RESERVED_NAMES or any(c in name for c in ",\n"):
                raise MedrlInputError("--compare" if name != self.name else "--name",
                                      f"method name {name!r} is reserved or empty; choose another")
        if len(set(names)) != len(names):
            raise MedrlInputError("--compare", f"method names must be unique, got {', '.join(names)}")

    def method_names(self) -> list[str]:
        """Names of all methods of the run: the ``initial`` baseline, the main agents, then ``compare``."""
        return [*RESERVED_NAMES, self.name, *self.compare]
