"""Per-case curve summaries and per-method means with 95% confidence intervals.

A run's results are :class:`CaseResult` records (one case × one method: K + 1 interaction records).
Means are over cases; the 95% confidence interval of a mean is Student's t interval,
mean ± t(0.975, n − 1) · s / √n with s the sample standard deviation (``scipy.stats``), undefined
(``nan``) for fewer than two cases. HD95 means are taken over the cases where it is finite (both mask
and truth non-empty); how many that were is reported beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats

from medrl.evaluation.curves import noc, normalised_auc, reaches
from medrl.evaluation.protocol import InteractionRecord, dice_curve

DEFAULT_NOC_THRESHOLDS = (0.85, 0.90)
CONFIDENCE = 0.95


@dataclass
class CaseResult:
    """One method on one case.

    Attributes:
        case: the case's name.
        method: the method's name.
        start: where the case started (``"initial"``, ``"segmenter"``, ``"perturbed"``, ``"empty"``).
        records: K + 1 :class:`~medrl.evaluation.protocol.InteractionRecord`, interaction 0 first.
        extra: further per-case facts for the reports (e.g. the perturbation seed).
    """

    case: str
    method: str
    start: str
    records: list[InteractionRecord]
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Estimate:
    """A mean over cases with its 95% confidence interval (``nan`` where undefined) and the count used."""

    mean: float
    low: float
    high: float
    n: int


def noc_key(threshold: float) -> str:
    """``"noc@85"`` for 0.85 (the column and JSON name of NoC at that Dice)."""
    return f"noc@{round(threshold * 100):d}"


def reached_key(threshold: float) -> str:
    """``"reached@85"`` for 0.85 (whether a case reached that Dice; in JSON, how many cases did)."""
    return f"reached@{round(threshold * 100):d}"


def mean_ci(values: Sequence[float]) -> Estimate:
    """Mean and Student-t 95% interval of the finite ``values`` (inf/nan are left out)."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(array.mean())
    if array.size < 2:
        return Estimate(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, array.size - 1) * stats.sem(array))
    return Estimate(mean, mean - half, mean + half, int(array.size))


def case_summary(result: CaseResult, thresholds: Sequence[float] = DEFAULT_NOC_THRESHOLDS) -> dict:
    """One row of the per-case table: NoC@t and whether t was reached, AUC, first and last metrics."""
    dice, first, last = dice_curve(result.records), result.records[0], result.records[-1]
    row = {"case": result.case, "method": result.method, "start": result.start, **result.extra,
           "interactions": len(result.records) - 1, "clicks": last.clicks}
    for threshold in thresholds:
        row[noc_key(threshold)] = noc(dice, threshold)
        row[reached_key(threshold)] = reaches(dice, threshold)
    row.update({"auc": normalised_auc(dice), "dice_start": first.dice, "dice_final": last.dice,
                "hd95_mm_start": first.hd95_mm, "hd95_mm_final": last.hd95_mm, "nsd_start": first.nsd, "nsd_final": last.nsd,
                "seconds": float(sum(record.seconds for record in result.records))})
    return row


def _per_interaction(results: Sequence[CaseResult], metric: str) -> list[Estimate]:
    table = np.asarray([[getattr(record, metric) for record in result.records] for result in results], dtype=np.float64)
    return [mean_ci(column) for column in table.T]


def method_summary(results: Sequence[CaseResult], thresholds: Sequence[float] = DEFAULT_NOC_THRESHOLDS) -> dict:
    """Means over the cases of one method.

    Returns:
        dict with ``n_cases``; ``dice`` / ``hd95_mm`` / ``nsd``: K + 1 :class:`Estimate` (per interaction);
        ``auc`` and one ``noc@t`` :class:`Estimate` per threshold, ``reached@t`` (cases reaching t);
        ``seconds_per_interaction`` (mean method time per interaction with clicks).
    """
    rows = [case_summary(result, thresholds) for result in results]
    summary = {"n_cases": len(results), **{metric: _per_interaction(results, metric) for metric in ("dice", "hd95_mm", "nsd")},
               "auc": mean_ci([row["auc"] for row in rows])}
    for threshold in thresholds:
        summary[noc_key(threshold)] = mean_ci([row[noc_key(threshold)] for row in rows])
        summary[reached_key(threshold)] = sum(bool(row[reached_key(threshold)]) for row in rows)
    timed = [record.seconds for result in results for record in result.records[1:] if record.new_clicks]
    summary["seconds_per_interaction"] = float(np.mean(timed)) if timed else math.nan
    return summary


def summarise(results: Sequence[CaseResult], thresholds: Sequence[float] = DEFAULT_NOC_THRESHOLDS) -> dict[str, dict]:
    """:func:`method_summary` of every method, in the order methods first appear in ``results``."""
    methods = dict.fromkeys(result.method for result in results)
    return {method: method_summary([r for r in results if r.method == method], thresholds) for method in methods}
