"""What ``medrl evaluate`` writes and prints: CSV tables, the summary JSON and the console table.

Files (each written under a temporary name and renamed, see :func:`medrl.data.atomic.atomic_path`):

- ``interactions.csv``: one row per case × method × interaction (k = 0 … K): ``case, method, start,
  interaction, clicks, new_clicks, dice, hd95_mm, nsd, seconds``; ``new_clicks`` lists this
  interaction's clicks as ``+i j k`` (positive) / ``-i j k`` (negative) working-grid voxel indices,
  separated by ``;``; ``hd95_mm`` may be ``inf`` (exactly one of mask and truth empty).
- ``cases.csv``: one row per case × method: start, NoC@t and ``reached@t`` per threshold, AUC, first and
  last Dice / HD95 / NSD, clicks, seconds (see :func:`medrl.evaluation.summary.case_summary`).
- ``summary.json``: the run's settings, the metric definitions, the cases and, per method, the means
  with 95% confidence intervals (``null`` where undefined: JSON has no NaN or infinity).
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, is_dataclass
from typing import Sequence

from medrl.data.atomic import atomic_path, write_text_atomically
from medrl.evaluation.summary import CaseResult, Estimate, case_summary, noc_key, reached_key

INTERACTIONS_CSV = "interactions.csv"
CASES_CSV = "cases.csv"
SUMMARY_JSON = "summary.json"

DEFINITIONS = {
    "grid": "all methods run, and all metrics are measured, on the main checkpoint's working grid: canonical RAS "
            "orientation, the checkpoint's spacing (the scan's own spacing when the checkpoint sets none)",
    "mask": "probability >= 0.5",
    "dice": "2|P & T| / (|P| + |T|); 1 when both are empty, 0 when exactly one is",
    "hd95_mm": "MONAI compute_hausdorff_distance(percentile=95) with the voxel spacing: the larger of the two directed "
               "95th percentiles of distances between surface voxels (6-neighbour erosion), in mm; 0 when both masks are "
               "empty, infinite (null in JSON) when exactly one is; means use the finite values only (their count is n)",
    "nsd": "MONAI compute_surface_dice (voxel-counted boundaries) at the tolerance in mm: share of both masks' surface "
           "voxels within the tolerance of the other surface; 1 when both masks are empty, 0 when exactly one is",
    "noc": "NoC@t: first interaction k (0 = starting mask) with Dice >= t, K when never reached; reached@t counts the cases that reached t",
    "auc": "area under the Dice-vs-interactions curve over k = 0..K (trapezoidal rule) divided by K: the curve's mean height in [0, 1]",
    "ci95": "Student t 95% confidence interval of the mean over cases; null with fewer than two cases",
    "robot_clinician": "clicks at the voxel farthest (EDT in mm) from the boundary of the largest 26-connected error "
                       "components of the method's current mask; false negative -> positive click, false positive -> negative",
}


def format_clicks(clicks) -> str:
    """``"+12 4 5;-3 9 1"`` for a positive click at (12, 4, 5) and a negative one at (3, 9, 1)."""
    return ";".join(("+" if click.positive else "-") + " ".join(str(i) for i in click.index) for click in clicks)


def interaction_rows(results: Sequence[CaseResult]) -> list[dict]:
    """Rows of ``interactions.csv``: one per case × method × interaction."""
    return [
        {"case": result.case, "method": result.method, "start": result.start, "interaction": record.interaction,
         "clicks": record.clicks, "new_clicks": format_clicks(record.new_clicks), "dice": record.dice,
         "hd95_mm": record.hd95_mm, "nsd": record.nsd, "seconds": record.seconds}
        for result in results for record in result.records
    ]


def case_rows(results: Sequence[CaseResult], thresholds: Sequence[float]) -> list[dict]:
    """Rows of ``cases.csv``: one per case × method."""
    return [case_summary(result, thresholds) for result in results]


def _cell(value):
    if isinstance(value, float):
        return value if not math.isfinite(value) else round(value, 6)
    return value


def write_csv(rows: Sequence[dict], path: str | os.PathLike) -> None:
    """Write ``rows`` (dicts with the same keys) as a CSV with a header; floats rounded to 6 decimals."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows({key: _cell(value) for key, value in row.items()} for row in rows)


def json_safe(value):
    """``value`` with :class:`Estimate` as ``{mean, ci95_low, ci95_high, n}``, tuples as lists and
    non-finite floats as ``None``, ready for strict JSON."""
    if isinstance(value, Estimate):
        return {"mean": json_safe(value.mean), "ci95_low": json_safe(value.low), "ci95_high": json_safe(value.high),
                "n": value.n}
    if is_dataclass(value) and not isinstance(value, type):
        return json_safe(asdict(value))
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def write_json(document: dict, path: str | os.PathLike) -> None:
    """Write ``document`` as strict JSON (no NaN/Infinity), indented."""
    write_text_atomically(path, json.dumps(json_safe(document), indent=2, allow_nan=False) + "\n")


def _number(value: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def format_table(summaries: dict[str, dict], thresholds: Sequence[float], nsd_tolerance_mm: float = 2.0) -> str:
    """The console table: per method, mean Dice after each interaction, AUC with its 95% interval,
    mean NoC@t with how many cases reached t, and mean HD95 (mm) and NSD after the last interaction."""
    interactions = len(next(iter(summaries.values()))["dice"]) - 1
    width = max(12, *(len(name) + 2 for name in summaries))
    header = f"{'method':<{width}}" + "".join(f"{k:>7d}" for k in range(interactions + 1))
    header += f"{'AUC (95% CI)':>22}" + "".join(f"{'NoC@' + noc_key(t).split('@')[1]:>12}" for t in thresholds)
    header += f"{'HD95 mm':>10}{'NSD':>8}"
    note = f"mean Dice after k interactions; HD95 and NSD ({nsd_tolerance_mm:g} mm) after the last; NoC (cases reaching t)"
    lines = [f"{'':<{width}}{note}", header, "-" * len(header)]
    for name, summary in summaries.items():
        n = summary["n_cases"]
        auc = summary["auc"]
        line = f"{name:<{width}}" + "".join(f"{_number(e.mean):>7}" for e in summary["dice"])
        line += f"{_number(auc.mean) + ' [' + _number(auc.low) + ', ' + _number(auc.high) + ']':>22}"
        for t in thresholds:
            reached = summary[reached_key(t)]
            line += f"{_number(summary[noc_key(t)].mean, 1) + f' ({reached}/{n})':>12}"
        line += f"{_number(summary['hd95_mm'][-1].mean, 1):>10}{_number(summary['nsd'][-1].mean):>8}"
        lines.append(line)
    return "\n".join(lines)
