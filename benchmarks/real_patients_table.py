"""The real-patient benchmark's tables and verdicts, computed from the evaluations' ``interactions.csv`` files.

Units: a *case* is one structure of one held-out scan from one start. Per method and start: mean Dice after
0, 1, 3, 5 and 10 interactions, NSD (2 mm) and HD95 after 5, each a mean over cases with Student's t 95%
interval (:func:`medrl.evaluation.summary.mean_ci`); the **harm rate** — the share of all interactions that
lowered their case's Dice by more than :data:`medrl.evaluation.comparison.HARM_DICE` — and the mean seconds a method took per interaction.
The targets are checked on these numbers (nothing here is tuned to them).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from medrl.evaluation.comparison import harmful_interactions
from medrl.evaluation.summary import Estimate, mean_ci

REPORTED = (0, 1, 3, 5, 10)
METHOD_ORDER = ("initial", "brush", "supervised", "medrl")
METHOD_NAMES = {"initial": "start kept", "brush": "brush", "supervised": "click network", "medrl": "medrl agents"}


@dataclass
class Curve:
    """One method on one case: Dice, HD95 and NSD after each interaction (0 = the start) and seconds per interaction."""

    group: str
    task: str
    case: str
    start: str
    method: str
    dice: list[float]
    hd95: list[float]
    nsd: list[float]
    seconds: list[float]


def read_curves(folder: Path, group: str, task: str, start: str) -> list[Curve]:
    """The curves of one evaluation folder (its ``interactions.csv``)."""
    rows = list(csv.DictReader((folder / "interactions.csv").open(encoding="utf-8")))
    curves: dict[tuple[str, str], Curve] = {}
    for row in sorted(rows, key=lambda r: int(r["interaction"])):
        key = (row["case"], row["method"])
        curve = curves.setdefault(key, Curve(group, task, row["case"], start, row["method"], [], [], [], []))
        curve.dice.append(float(row["dice"]))
        curve.hd95.append(float(row["hd95_mm"]))
        curve.nsd.append(float(row["nsd"]))
        if int(row["interaction"]) > 0:
            curve.seconds.append(float(row["seconds"]))
    return list(curves.values())


def at(values: list[float], k: int) -> float:
    """The value after interaction k (the last one when the run had fewer)."""
    return values[min(k, len(values) - 1)]


def harm_rate(curves: Sequence[Curve]) -> float:
    """Share of all interactions (k ≥ 1) after which a case's Dice fell by more than ``HARM_DICE``."""
    harmful, interactions = harmful_interactions(c.dice for c in curves)
    return harmful / interactions if interactions else math.nan


def finite_mean(values: list[float]) -> Estimate:
    return mean_ci([v for v in values if math.isfinite(v)])


@dataclass
class MethodRow:
    """One method's numbers over a set of cases."""

    method: str
    dice: dict[int, Estimate]
    nsd5: Estimate
    hd95_5: Estimate
    harm: float
    seconds: float
    n: int


def method_rows(curves: Sequence[Curve], interactions: int) -> list[MethodRow]:
    """The table rows of every method present in ``curves``, in :data:`METHOD_ORDER`."""
    rows = []
    for method in [m for m in METHOD_ORDER if any(c.method == m for c in curves)]:
        mine = [c for c in curves if c.method == method]
        ks = [k for k in REPORTED if k <= interactions]
        seconds = [s for c in mine for s in c.seconds]
        rows.append(MethodRow(method, {k: mean_ci([at(c.dice, k) for c in mine]) for k in ks},
                              mean_ci([at(c.nsd, 5) for c in mine]), finite_mean([at(c.hd95, 5) for c in mine]),
                              harm_rate(mine), float(np.mean(seconds)) if seconds else math.nan, len(mine)))
    return rows


def _estimate(e: Estimate, digits: int = 3) -> str:
    if not math.isfinite(e.mean):
        return "–"
    if not math.isfinite(e.low):
        return f"{e.mean:.{digits}f}"
    return f"{e.mean:.{digits}f} ± {(e.high - e.low) / 2:.{digits}f}"


def render_rows(rows: Sequence[MethodRow]) -> list[str]:
    """Markdown table lines of ``rows``."""
    ks = sorted(rows[0].dice) if rows else []
    lines = ["| method | " + " | ".join(f"Dice@{k}" for k in ks) + " | NSD@5 | HD95@5 mm | harm | s / interaction | cases |",
             "| --- |" + " --- |" * (len(ks) + 5)]
    for row in rows:
        cells = [_estimate(row.dice[k]) for k in ks] + [_estimate(row.nsd5), _estimate(row.hd95_5, 1),
                                                          f"{100 * row.harm:.1f}%" if math.isfinite(row.harm) else "–",
                                                          f"{row.seconds:.2f}" if math.isfinite(row.seconds) else "–", str(row.n)]
        lines.append(f"| {METHOD_NAMES.get(row.method, row.method)} | " + " | ".join(cells) + " |")
    return lines


@dataclass(frozen=True)
class Verdict:
    """One target, the numbers it was checked on, and whether they meet it."""

    target: str
    measured: str
    met: bool | None


def _mean(curves, method, k):
    values = [at(c.dice, k) for c in curves if c.method == method]
    return float(np.mean(values)) if values else math.nan


def verdicts(perturbed: Sequence[Curve], segmenter: Sequence[Curve], brats_077: Sequence[Curve], interactions: int) -> list[Verdict]:
    """The issue's targets, checked on held-out patients (perturbed starts unless said otherwise)."""
    out = []
    if perturbed:
        start, medrl5 = _mean(perturbed, "medrl", 0), _mean(perturbed, "medrl", 5)
        brush5, click5 = _mean(perturbed, "brush", 5), _mean(perturbed, "supervised", 5)
        out.append(Verdict("Dice@5 ≥ start + 0.10", f"{medrl5:.3f} vs {start:.3f} + 0.10", medrl5 >= start + 0.10))
        out.append(Verdict("Dice@5 ≥ brush + 0.05", f"{medrl5:.3f} vs {brush5:.3f} + 0.05", medrl5 >= brush5 + 0.05))
        out.append(Verdict("Dice@5 ≥ click network", f"{medrl5:.3f} vs {click5:.3f}", medrl5 >= click5))
        lowest = min(_mean(perturbed, "medrl", k) - start for k in range(interactions + 1))
        out.append(Verdict("mean Dice never below the start", f"lowest mean − start: {lowest:+.4f}", lowest >= 0))
        harm = harm_rate([c for c in perturbed if c.method == "medrl"])
        out.append(Verdict("harm rate ≤ 5%", f"{100 * harm:.1f}%", harm <= 0.05))
    if brats_077:
        start, medrl5 = _mean(brats_077, "medrl", 0), _mean(brats_077, "medrl", 5)
        out.append(Verdict("BraTS whole tumour from ≈ 0.77: Dice@5 ≥ 0.885", f"{start:.3f} → {medrl5:.3f}", medrl5 >= 0.885))
    if segmenter:
        start = _mean(segmenter, "medrl", 0)
        lowest = min(_mean(segmenter, "medrl", k) - start for k in range(1, interactions + 1))
        gain5 = _mean(segmenter, "medrl", 5) - start
        out.append(Verdict("segmenter's masks: no loss at any click", f"lowest mean − start: {lowest:+.4f}", lowest >= 0))
        out.append(Verdict("segmenter's masks: a gain after 5", f"{gain5:+.4f}", gain5 > 0))
    return out
