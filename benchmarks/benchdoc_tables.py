"""One task's part of the benchmark document: its results table, plot, paired comparisons and the
plain-words reading of them, every number taken from the evaluation's own files.

The summary document (``summary.json`` of ``medrl evaluate``) gives per method the mean with its
95% interval ``{mean, ci95_low, ci95_high, n}`` of Dice, HD95 and NSD after each interaction, of the
AUC and of NoC@t; :mod:`medrl.evaluation.comparison` gives the paired differences between methods.
"""

from __future__ import annotations

import math
from pathlib import Path

from benchdoc_evaluation import EvaluationResult

from medrl.evaluation.comparison import HARM_DICE, METRIC_LABELS, Comparison, compare, falls, per_case_metrics

TABLE_CLICKS = (0, 1, 3, 5, 10)
AGENTS = ("voxel", "region")
PAIRS = (("voxel", "supervised"), ("region", "supervised"), ("voxel", "region"),
         ("voxel", "initial"), ("region", "initial"), ("supervised", "initial"), ("voxel_long", "voxel"),
         ("voxel_long", "initial"))
PAIR_METRICS = ("auc", "dice_first", "dice_final")


def number(value: float | None, digits: int = 3) -> str:
    """``0.912`` (``-`` for a missing or non-finite value; negative numbers with an ASCII minus)."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def estimate(cell: dict, digits: int = 3) -> str:
    """``0.912 [0.891, 0.933]`` from a summary's ``{mean, ci95_low, ci95_high, n}`` (the mean alone without an interval)."""
    mean = number(cell["mean"], digits)
    if cell["ci95_low"] is None or cell["ci95_high"] is None:
        return mean
    return f"{mean} [{number(cell['ci95_low'], digits)}, {number(cell['ci95_high'], digits)}]"


def table_clicks(interactions: int) -> list[int]:
    """The interactions shown in a table: 0, 1, 3, 5, 10 up to K, and K itself."""
    return sorted({k for k in TABLE_CLICKS if k <= interactions} | {interactions})


def results_table(summary: dict) -> str:
    """Markdown table: per method, mean Dice after the shown interactions, NoC@85 and NoC@90 (cases reaching
    the Dice), AUC, HD95 and NSD after the last interaction, each with its 95% interval; seconds per interaction."""
    methods = summary["methods"]
    interactions = summary["settings"]["interactions"]
    clicks = table_clicks(interactions)
    tolerance = summary["settings"]["nsd_tolerance_mm"]
    header = (["method"] + [f"Dice @{k}" for k in clicks] + ["NoC@85 (reached)", "NoC@90 (reached)", "AUC",
              f"HD95 mm @{interactions}", f"NSD {tolerance:g} mm @{interactions}", "s / interaction"])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, m in methods.items():
        n = m["n_cases"]
        cells = [f"**{name}**"] + [estimate(m["dice"][k]) for k in clicks]
        cells += [f"{estimate(m[f'noc@{t}'], 1)} ({m[f'reached@{t}']}/{n})" for t in (85, 90)]
        cells += [estimate(m["auc"]), estimate(m["hd95_mm"][-1], 1), estimate(m["nsd"][-1]),
                  number(m["seconds_per_interaction"], 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparisons(result: EvaluationResult) -> dict[tuple[str, str, str], Comparison]:
    """Every pair of :data:`PAIRS` on every metric of :data:`PAIR_METRICS`, keyed (first, second, metric)."""
    metrics = per_case_metrics(result.folder)
    return {(a, b, metric): compare(metrics, a, b, metric) for a, b in PAIRS for metric in PAIR_METRICS
            if a in metrics and b in metrics}


def _difference(c: Comparison) -> str:
    d = c.difference
    interval = f", 95% CI [{number(d.low)}, {number(d.high)}]" if math.isfinite(d.low) else ""
    return f"{number(d.mean)}{interval}"


def comparisons_table(found: dict[tuple[str, str, str], Comparison], interactions: int) -> str:
    """Markdown table of the paired differences (first − second) with verdicts, one row per pair."""
    labels = {"auc": "AUC", "dice_first": "Dice @1", "dice_final": f"Dice @{interactions}"}
    header = ["first vs second"] + [f"{labels[m]}: difference [95% CI] → verdict" for m in PAIR_METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for a, b in PAIRS:
        if (a, b, "auc") in found:
            cells = [f"{a} vs {b}"] + [f"{_difference(found[a, b, m])} → **{found[a, b, m].verdict}**" for m in PAIR_METRICS]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def claim(c: Comparison, summary: dict) -> str:
    """One sentence on an AUC comparison, the two means quoted from the results table, e.g.
    ``voxel vs supervised, AUC: loses, 0.861 vs 0.902 (paired difference -0.041, 95% CI [-0.060, -0.022], n = 6).``"""
    first, second = (summary["methods"][name]["auc"]["mean"] for name in (c.first, c.second))
    return (f"{c.first} vs {c.second}, {METRIC_LABELS[c.metric]}: {c.verdict}, {number(first)} vs {number(second)} "
            f"(paired difference {_difference(c)}, n = {c.difference.n}).")


def _ranking(summary: dict) -> str:
    order = sorted(summary["methods"].items(), key=lambda item: -(item[1]["auc"]["mean"] or 0.0))
    return "Mean AUC, best first: " + ", ".join(f"{name} {number(m['auc']['mean'])}" for name, m in order) + "."


def _gains(summary: dict) -> str:
    """Dice gained by the first click and by all K, per refining method."""
    k = summary["settings"]["interactions"]
    parts = []
    for name, m in summary["methods"].items():
        if name != "initial" and k >= 1:
            start, first, last = (m["dice"][i]["mean"] for i in (0, 1, k))
            parts.append(f"{name} {number(first - start)} after 1, {number(last - start)} after {k}")
    return "Mean Dice gained over the starting mask: " + "; ".join(parts) + "."


def _falls(result: EvaluationResult) -> str:
    parts = []
    for name in result.summary["methods"]:
        if name != "initial":
            fell, steps = falls(result.folder, name)
            parts.append(f"{name} {fell} of {steps}")
    return f"Interactions after which a case's Dice fell by more than {HARM_DICE:g}: " + ", ".join(parts) + "."


def _headline(found: dict[tuple[str, str, str], Comparison]) -> str:
    """Who wins between medrl's agents and the supervised baseline, in words."""
    words = {"beats": "beat", "ties": "tie with", "loses": "lose to", "undetermined": "cannot be told apart from (one case)"}
    parts = [f"the {a}-level agents {words[found[a, 'supervised', 'auc'].verdict]} the supervised click network"
             for a in AGENTS if (a, "supervised", "auc") in found]
    return "On AUC, " + " and ".join(parts) + "." if parts else ""


def plain_words(result: EvaluationResult, found: dict[tuple[str, str, str], Comparison]) -> str:
    """The task's reading in plain words: the headline, the ranking, each AUC claim, gains and falls."""
    claims = [f"- {claim(found[a, b, 'auc'], result.summary)}" for a, b in PAIRS if (a, b, "auc") in found]
    return "\n".join([f"{_headline(found)} {_ranking(result.summary)}", "", *claims, "",
                      f"{_gains(result.summary)} {_falls(result)}"])


def task_section(result: EvaluationResult, plot_name: str) -> tuple[str, dict]:
    """``(markdown, comparisons)`` of one task: heading, what was evaluated, results table, plot,
    paired comparisons and plain words."""
    summary, task = result.summary, result.task
    found = comparisons(result)
    n = next(iter(summary["methods"].values()))["n_cases"]
    text = "\n".join([
        f"## {task.title}", "",
        f"Cases: {task.about} (n = {n}); {summary['settings']['interactions']} interactions of one robot click each; "
        f"evaluated in {result.seconds:.0f} s (`{task.key}`).", "",
        results_table(summary), "",
        f"![Dice vs clicks, {task.title}]({plot_name})", "",
        "Paired differences over the same cases (first − second):", "",
        comparisons_table(found, summary["settings"]["interactions"]), "",
        "**In plain words.** " + plain_words(result, found), "",
    ])
    return text, found


def copy_plot(result: EvaluationResult, folder: Path) -> str:
    """Copy the task's ``dice_vs_clicks.png`` to ``folder/benchmarks_KEY.png``; return that file name."""
    from medrl.data.atomic import atomic_path

    name = f"benchmarks_{result.task.key}.png"
    with atomic_path(folder / name) as tmp:
        tmp.write_bytes(result.plot.read_bytes())
    return name
