"""Paired comparisons of methods on one evaluation — who beats, ties or loses, from the per-case numbers — and
the harm rate, the share of interactions that made a case's mask worse.

All methods of a ``medrl evaluate`` run refine the same cases from the same starting masks with the
same robot clinician, so two methods are compared on their per-case differences: the mean difference
with its Student-t 95% interval (:func:`medrl.evaluation.summary.mean_ci`). The verdict follows the
interval: *beats* when it lies above 0, *loses* when below, *ties* when it contains 0, *undetermined*
with fewer than two cases.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from medrl.evaluation.reports import CASES_CSV, INTERACTIONS_CSV
from medrl.evaluation.summary import Estimate, mean_ci

HIGHER_IS_BETTER = {"auc": True, "dice_first": True, "dice_final": True, "noc@85": False, "noc@90": False}
METRIC_LABELS = {"auc": "AUC", "dice_first": "Dice after 1 click", "dice_final": "Dice after the last click",
                 "noc@85": "NoC@85", "noc@90": "NoC@90"}


@dataclass(frozen=True)
class Comparison:
    """``first`` against ``second`` on one metric.

    Attributes:
        first, second: method names.
        metric: a key of :data:`HIGHER_IS_BETTER`.
        first_mean, second_mean: each method's mean over cases.
        difference: mean of the per-case differences first − second, with its 95% interval.
        verdict: ``"beats"``, ``"ties"``, ``"loses"`` (first against second) or ``"undetermined"``.
    """

    first: str
    second: str
    metric: str
    first_mean: float
    second_mean: float
    difference: Estimate
    verdict: str


def verdict(difference: Estimate, higher_is_better: bool) -> str:
    """``beats`` / ``loses`` when the 95% interval of the paired difference excludes 0 (on the better /
    worse side), ``ties`` when it contains 0, ``undetermined`` without an interval (fewer than 2 cases)."""
    if difference.n < 2 or not (math.isfinite(difference.low) and math.isfinite(difference.high)):
        return "undetermined"
    sign = 1.0 if higher_is_better else -1.0
    low, high = sorted((sign * difference.low, sign * difference.high))
    return "beats" if low > 0 else "loses" if high < 0 else "ties"


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def per_case_metrics(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    """Per method, every metric of :data:`HIGHER_IS_BETTER` as a (cases,) float64 array, cases in the
    order of ``cases.csv`` (the same for every method), read from an evaluation's output folder.
    ``dice_first`` is the Dice after interaction 1 (from ``interactions.csv``)."""
    rows = _rows(folder / CASES_CSV)
    first = {(row["method"], row["case"]): float(row["dice"]) for row in _rows(folder / INTERACTIONS_CSV)
             if row["interaction"] == "1"}
    metrics = {}
    for method in dict.fromkeys(row["method"] for row in rows):
        mine = [row for row in rows if row["method"] == method]
        values = {key: [float(row[key]) for row in mine] for key in ("auc", "dice_final", "noc@85", "noc@90")}
        values["dice_first"] = [first.get((method, row["case"]), math.nan) for row in mine]
        metrics[method] = {key: np.asarray(v, dtype=np.float64) for key, v in values.items()}
    return metrics


def compare(metrics: dict[str, dict[str, np.ndarray]], first: str, second: str, metric: str) -> Comparison:
    """Paired comparison of two methods of :func:`per_case_metrics` on one metric."""
    a, b = metrics[first][metric], metrics[second][metric]
    difference = mean_ci(a - b)
    return Comparison(first, second, metric, float(np.nanmean(a)), float(np.nanmean(b)), difference,
                      verdict(difference, HIGHER_IS_BETTER[metric]))


HARM_DICE = 0.005
"""An interaction is harmful when it lowers its case's Dice by more than this (a smaller drop is noise)."""


def harmful_interactions(curves: Iterable[Sequence[float]], tolerance: float = HARM_DICE) -> tuple[int, int]:
    """``(harmful, interactions)``: over Dice curves (each the Dice after interaction 0, 1, ..., K of one case),
    how many interactions k ≥ 1 lowered the Dice by more than ``tolerance``, out of how many."""
    drops = [after - before for curve in curves for before, after in zip(curve, curve[1:])]
    return sum(drop < -tolerance for drop in drops), len(drops)


def falls(folder: Path, method: str, tolerance: float = HARM_DICE) -> tuple[int, int]:
    """:func:`harmful_interactions` of one method of an evaluation's output folder (``interactions.csv``)."""
    curves: dict[str, dict[int, float]] = {}
    for row in _rows(folder / INTERACTIONS_CSV):
        if row["method"] == method:
            curves.setdefault(row["case"], {})[int(row["interaction"])] = float(row["dice"])
    return harmful_interactions(([curve[k] for k in sorted(curve)] for curve in curves.values()), tolerance)
