"""Per-case summaries, means with Student-t 95% intervals, strict JSON and the console table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from medrl.evaluation.protocol import InteractionRecord
from medrl.evaluation.reports import format_table, json_safe
from medrl.evaluation.summary import CaseResult, case_summary, mean_ci, method_summary, summarise

T_975_DF2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom (statistics tables)


def _result(case: str, method: str, dice: list[float], hd95=None) -> CaseResult:
    hd95 = hd95 or [10.0 - k for k in range(len(dice))]
    records = [InteractionRecord(k, k, (), d, h, d, 0.1) for k, (d, h) in enumerate(zip(dice, hd95))]
    return CaseResult(case, method, "initial", records)


def test_mean_ci_is_students_t_interval():
    estimate = mean_ci([0.7, 0.8, 0.9])
    half = T_975_DF2 * 0.1 / math.sqrt(3)  # sample sd 0.1
    assert estimate.mean == pytest.approx(0.8) and estimate.n == 3
    assert (estimate.low, estimate.high) == pytest.approx((0.8 - half, 0.8 + half))


def test_mean_ci_leaves_out_infinite_values_and_is_undefined_below_two():
    estimate = mean_ci([4.0, math.inf, 6.0])
    assert estimate.mean == 5.0 and estimate.n == 2
    single = mean_ci([3.0])
    assert single.mean == 3.0 and math.isnan(single.low) and math.isnan(single.high)
    assert math.isnan(mean_ci([math.inf]).mean) and mean_ci([]).n == 0


def test_case_summary_reads_noc_and_auc_off_the_curve():
    row = case_summary(_result("a", "medrl", [0.6, 0.8, 0.86, 0.88]), thresholds=(0.85, 0.9))
    assert (row["noc@85"], row["reached@85"], row["noc@90"], row["reached@90"]) == (2, True, 3, False)
    assert row["auc"] == pytest.approx((0.7 + 0.83 + 0.87) / 3)
    assert (row["dice_start"], row["dice_final"], row["hd95_mm_final"], row["clicks"]) == (0.6, 0.88, 7.0, 3)


def test_method_summary_averages_per_interaction_and_counts_reached_cases():
    results = [_result("a", "m", [0.6, 0.9]), _result("b", "m", [0.8, 0.8], hd95=[5.0, math.inf])]
    summary = method_summary(results, thresholds=(0.85,))
    assert summary["n_cases"] == 2
    assert [e.mean for e in summary["dice"]] == pytest.approx([0.7, 0.85])
    assert summary["hd95_mm"][1].mean == 9.0 and summary["hd95_mm"][1].n == 1  # the infinite one left out
    assert summary["noc@85"].mean == pytest.approx(1.0) and summary["reached@85"] == 1
    assert summary["auc"].mean == pytest.approx((0.75 + 0.8) / 2)


def test_summaries_keep_the_order_of_methods():
    results = [_result("a", "initial", [0.5, 0.5]), _result("a", "voxel", [0.5, 0.7]), _result("a", "region", [0.5, 0.6])]
    assert list(summarise(results)) == ["initial", "voxel", "region"]


def test_json_has_no_nan_or_infinity():
    document = {"methods": summarise([_result("a", "m", [0.5, 0.7], hd95=[3.0, math.inf])])}
    text = json.dumps(json_safe(document), allow_nan=False)
    loaded = json.loads(text)
    assert loaded["methods"]["m"]["hd95_mm"][1] == {"mean": None, "ci95_low": None, "ci95_high": None, "n": 0}
    assert loaded["methods"]["m"]["dice"][1]["mean"] == 0.7


def test_table_shows_every_method_with_its_curve_and_noc():
    results = [_result(c, m, d) for c, m, d in [("a", "initial", [0.6, 0.6, 0.6]), ("b", "initial", [0.8, 0.8, 0.8]),
                                                 ("a", "medrl", [0.6, 0.88, 0.92]), ("b", "medrl", [0.8, 0.9, 0.95])]]
    lines = format_table(summarise(results), (0.85, 0.9)).splitlines()
    assert lines[1].split()[:4] == ["method", "0", "1", "2"] and "NoC@85" in lines[1] and "NoC@90" in lines[1]
    medrl = next(line for line in lines if line.startswith("medrl"))
    np.testing.assert_allclose([float(v) for v in medrl.split()[1:4]], [0.7, 0.89, 0.935])
    assert "1.0 (2/2)" in medrl and "1.5 (2/2)" in medrl  # NoC@85: 1 and 1; NoC@90: 2 and 1
    initial = next(line for line in lines if line.startswith("initial"))
    assert "2.0 (0/2)" in initial  # never reached: capped at K = 2, none of 2 cases reached
