"""The rewards comparison's section of ``docs/benchmarks.md``: per task a table of Dice@1/3/5, NSD@5 and
HD95@5 (mean ± std over training seeds) for each label regime and model, the targets checked, and the
tuning runs' outcomes — every number read from the evaluations' ``summary.json`` and the training records.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

METHODS = ("ce", "supervised", "ce_tuned", "dice", "surface")
"""The evaluated models; the first one's checkpoint sets the evaluation's working grid."""
METHOD_LABELS = {"supervised": "supervised click network", "ce": "medrl, CE gain", "ce_tuned": "medrl, tuned with CE gain (control)",
                 "dice": "medrl, tuned with Dice gain", "surface": "medrl, tuned with surface gain"}
REGIME_LABELS = {"full": "full labels", "sparse": "sparse marks only", "sparse_start": "sparse marks + reviewed start",
                 "noisy": "noisy labels"}
COLUMNS = (("Dice @1", "dice", 1, 3), ("Dice @3", "dice", 3, 3), ("Dice @5", "dice", 5, 3), ("NSD 2 mm @5", "nsd", 5, 3),
           ("HD95 mm @5", "hd95_mm", 5, 1))
NSD_TARGET_POINTS = 2.0


@dataclass
class ComparisonInputs:
    """What the section is made of: the command, machine facts, the plan (:class:`make_rewards_comparison.Plan`),
    ``results`` as ``(combo, task, summary.json, training records)`` and the wall time in minutes."""

    command: str
    facts: dict[str, str]
    plan: Any
    quick: bool
    results: list[tuple]
    minutes: float


def metric(summary: dict, method: str, name: str, click: int) -> float | None:
    """The mean over cases of ``name`` after ``click`` interactions for ``method`` (None when not measured)."""
    values = summary["methods"][method][name]
    value = values[click]["mean"] if click < len(values) else None
    return None if value is None or not math.isfinite(value) else float(value)


def spread(values: list[float | None]) -> tuple[float, float, int] | None:
    """``(mean, sample std, n)`` of the measured values (std 0 for one value), or None."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return statistics.fmean(present), (statistics.stdev(present) if len(present) > 1 else 0.0), len(present)


def cell(stats: tuple[float, float, int] | None, digits: int, seeds: int) -> str:
    if stats is None:
        return "-"
    mean, std, n = stats
    return f"{mean:.{digits}f} ± {std:.{digits}f}" + ("" if n == seeds else f" (n={n})")


def by_task(results: list[tuple]) -> dict[str, dict]:
    """``task key -> {"task": Task, (regime, seed): summary}``."""
    tasks: dict[str, dict] = {}
    for combo, task, summary, _ in results:
        tasks.setdefault(task.key, {"task": task})[(combo.regime, combo.seed)] = summary
    return tasks


def seed_values(entry: dict, regime: str, seeds: tuple[int, ...], method: str, name: str, click: int) -> list[float | None]:
    return [metric(entry[(regime, s)], method, name, click) if (regime, s) in entry else None for s in seeds]


def task_table(entry: dict, plan) -> str:
    """One task's table: rows regime × method, the starting masks first."""
    header = "| labels | model | " + " | ".join(c[0] for c in COLUMNS) + " |"
    rows = [header, "|" + " --- |" * (len(COLUMNS) + 2)]
    first = next(v for k, v in entry.items() if k != "task")
    start = [f"{metric(first, 'initial', name, 0):.{d}f}" if metric(first, "initial", name, 0) is not None else "-"
             for _, name, _, d in COLUMNS]
    rows.append("| any | starting mask (kept) | " + " | ".join(start) + " |")
    for regime in plan.regimes:
        for method in METHODS:
            cells = [cell(spread(seed_values(entry, regime, plan.seeds, method, name, click)), d, len(plan.seeds))
                     for _, name, click, d in COLUMNS]
            rows.append(f"| {REGIME_LABELS[regime]} | {METHOD_LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def paired(entry: dict, plan, regime: str, first: str, second: str, name: str, click: int) -> tuple[float, float, int] | None:
    """Mean ± std over seeds of ``first − second`` (same seed, same cases)."""
    a = seed_values(entry, regime, plan.seeds, first, name, click)
    b = seed_values(entry, regime, plan.seeds, second, name, click)
    return spread([x - y if x is not None and y is not None else None for x, y in zip(a, b)])


def _signed(stats: tuple[float, float, int] | None, scale: float = 1.0, digits: int = 3) -> str:
    if stats is None:
        return "-"
    mean, std, _ = stats
    return f"{mean * scale:+.{digits}f} ± {std * scale:.{digits}f}"


def _verdict(stats: tuple[float, float, int] | None, higher_is_better: bool = True) -> str:
    """*wins* / *loses* when every seed's difference has that sign (mean beyond one std), else *ties*."""
    if stats is None:
        return "-"
    mean, std, n = stats
    if n > 1 and abs(mean) > std:
        return "wins" if (mean > 0) == higher_is_better else "loses"
    return "ties"


TARGET_COLUMNS = (  # header, first, second, metric, shown in points (×100), with a verdict
    ("surface − CE, NSD@5 (points)", "surface", "ce", "nsd", True, False),
    ("surface − control, NSD@5 (points)", "surface", "ce_tuned", "nsd", True, False),
    ("Dice − CE, NSD@5 (points)", "dice", "ce", "nsd", True, False),
    ("Dice − control, NSD@5 (points)", "dice", "ce_tuned", "nsd", True, False),
    ("CE − supervised, Dice@5", "ce", "supervised", "dice", False, True),
    ("CE − supervised, NSD@5", "ce", "supervised", "nsd", False, True),
    ("surface − supervised, NSD@5", "surface", "supervised", "nsd", False, True),
)


def targets_table(tasks: dict[str, dict], plan) -> str:
    """The issue's two targets, per task and regime: the tuned agents' NSD@5 gain over the CE-gain agents and
    over the tuning control (in points), and the agents against the click network in Dice@5 and NSD@5."""
    rows = ["| task | labels | " + " | ".join(c[0] for c in TARGET_COLUMNS) + " |", "|" + " --- |" * (len(TARGET_COLUMNS) + 2)]
    for key, entry in tasks.items():
        for regime in plan.regimes:
            cells = []
            for _, first, second, name, points, with_verdict in TARGET_COLUMNS:
                stats = paired(entry, plan, regime, first, second, name, plan.interactions)
                text = _signed(stats, 100, 1) if points else _signed(stats)
                cells.append(f"{text} ({_verdict(stats)})" if with_verdict else text)
            rows.append(f"| {key} | {REGIME_LABELS[regime]} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


SUMMARY_PAIRS = (  # first, second, metric, what it asks
    ("ce", "supervised", "dice", "medrl (CE gain) vs the supervised click network, Dice@5"),
    ("ce", "supervised", "nsd", "medrl (CE gain) vs the supervised click network, NSD@5"),
    ("surface", "ce", "nsd", "surface-gain tuning vs the CE-gain agents, NSD@5"),
    ("surface", "ce_tuned", "nsd", "surface-gain tuning vs the tuning control, NSD@5"),
    ("dice", "ce_tuned", "dice", "Dice-gain tuning vs the tuning control, Dice@5"),
    ("ce", "initial", "dice", "medrl (CE gain) vs keeping the starting mask, Dice@5"),
    ("supervised", "initial", "dice", "the supervised click network vs keeping the starting mask, Dice@5"),
)


def summary_lines(tasks: dict[str, dict], plan) -> list[str]:
    """Per question of :data:`SUMMARY_PAIRS` and regime: the tasks where the first wins, ties and loses (the
    verdicts of :func:`_verdict`), then the NSD target: in how many task × regime cells tuning lifted NSD@5 by
    at least :data:`NSD_TARGET_POINTS` points over the CE-gain agents."""
    lines = []
    for first, second, name, question in SUMMARY_PAIRS:
        parts = []
        for regime in plan.regimes:
            found: dict[str, list[str]] = {}
            for key, entry in tasks.items():
                found.setdefault(_verdict(paired(entry, plan, regime, first, second, name, plan.interactions)), []).append(key)
            parts.append(f"{REGIME_LABELS[regime]}: " + ", ".join(f"{v} {len(k)} ({' '.join(k)})" for v, k in sorted(found.items())))
        lines.append(f"- **{question}** — " + "; ".join(parts) + ".")
    for method in ("surface", "dice", "ce_tuned"):
        cells = [(key, regime, paired(entry, plan, regime, method, "ce", "nsd", plan.interactions))
                 for key, entry in tasks.items() for regime in plan.regimes]
        met = [f"{key}/{regime}" for key, regime, stats in cells if stats is not None and stats[0] * 100 >= NSD_TARGET_POINTS]
        lines.append(f"- **Target: {METHOD_LABELS[method]} lifts NSD@5 by ≥ {NSD_TARGET_POINTS:.0f} points over the CE-gain "
                     f"agents** (mean over seeds): met in {len(met)} of {len(cells)} task × regime cells"
                     + (f" ({', '.join(met)})" if met else "") + ".")
    return lines


TUNED_METHODS = ("ce_tuned", "dice", "surface")
"""The models made by a tuning run (their training records carry its outcome)."""


def trained_combos(results: list[tuple]) -> list[tuple]:
    """``(combo, training records)`` once per combo (``results`` has a row per combo and task)."""
    return list({combo.key: (combo, records) for combo, _, _, records in results}.values())


def tuning_table(results: list[tuple]) -> str:
    """What each tuning run did: the validation metric of the start and of the best tuned checkpoint, and
    how often the start was kept."""
    lines = ["| data | labels | recipe | select by | start → best tuned (mean over seeds) | start kept |", "|" + " --- |" * 6]
    outcomes: dict[tuple[str, str, str], list[dict]] = {}
    for combo, records in trained_combos(results):
        for method in TUNED_METHODS:
            settings = records[method]["settings"]
            outcomes.setdefault((combo.group, combo.regime, method), []).append({**settings["outcome"], "select_by": settings["select_by"]})
    for (group, regime, method), runs in outcomes.items():
        start = spread([r["start_score"] for r in runs])
        best = spread([r["best_score"] for r in runs])
        kept = sum(bool(r["kept_start"]) for r in runs)
        scores = "-" if start is None or best is None else f"{start[0]:.3f} → {best[0]:.3f}"
        lines.append(f"| {group} | {REGIME_LABELS[regime]} | {METHOD_LABELS[method]} | {runs[0]['select_by']} | {scores} | "
                     f"{kept} of {len(runs)} |")
    return "\n".join(lines)


def wall_times(results: list[tuple]) -> str:
    """Mean training wall time per data group and model, over regimes and seeds."""
    times: dict[tuple[str, str], list[float]] = {}
    for combo, records in trained_combos(results):
        for method in METHODS:
            times.setdefault((combo.group, method), []).append(records[method]["seconds"])
    return "; ".join(f"{group} {METHOD_LABELS[m]} {statistics.fmean(v):.0f} s" for (group, m), v in times.items())


def render_section(inputs: ComparisonInputs) -> str:
    plan, budget = inputs.plan, inputs.plan.budget
    tasks = by_task(inputs.results)
    quick = "\n**Quick run** (`--quick`: tiny budgets, a check of the pipeline): these numbers mean nothing.\n" if inputs.quick else ""
    parts = [
        "## Rewards a supervised loss cannot express: CE gain, Dice gain, surface gain, under full, sparse and noisy labels", "",
        f"Generated by `benchmarks/make_rewards_comparison.py` ({inputs.minutes:.0f} min this run, cached models and "
        f"evaluations reused); rerun:\n\n```\n{inputs.command}\n```\n{quick}",
        f"Machine: {inputs.facts.get('CPU', '?')}, {inputs.facts.get('cores', '?')} cores, torch "
        f"{inputs.facts.get('torch', '?')}, medrl {inputs.facts.get('medrl', '?')}.", "",
        "**Models** (the same MONAI UNet backbone, channels " f"{list(budget.channels)}, {budget.patch_size}³ patches, "
        f"{budget.batch_size} per step, Adam; every model takes **{budget.agent_steps} optimizer steps** on the same data, "
        f"starting masks and robot clicks, K = {budget.train_interactions} interactions per training episode):",
        "- *supervised click network*: Dice + CE on the truth (in the sparse regime: partial Dice + CE on the marked voxels only);",
        f"- *medrl, CE gain*: per-voxel agents, relative CE-gain reward, {budget.warm_start_steps} behaviour-cloning warm-start "
        "steps then A2C;",
        f"- *medrl, tuned with Dice gain / surface gain*: the CE-gain agents after {budget.agent_steps - plan.tuning_steps} steps, "
        f"then {plan.tuning_steps} steps of `medrl finetune` with `configs/tune_dice_gain.yaml` (CE gain + each agent's exact "
        "marginal contribution to its volume's soft Dice) or `configs/tune_surface_gain.yaml` (CE gain + 2 × the change of "
        "NSD at 2 mm, shared among the agents whose voxel flipped), keeping the better of start and best tuned checkpoint by "
        "validation Dice after 5 clicks or NSD (the two-step recipe; where the start is kept, the \"tuned\" agents are the "
        f"CE-gain agents after {budget.agent_steps - plan.tuning_steps} steps, {plan.tuning_steps} fewer than *medrl, CE gain*);",
        "- *medrl, tuned with CE gain (control)*: the same tuning run with the CE-gain reward alone "
        "(`benchmarks/configs/tune_ce_gain_control.yaml`, selected by validation NSD): the tuning run itself (10× smaller "
        "learning rate, no cloning term, selection on validation) changes the agents too, so a task reward's own effect is "
        "the tuned agents' difference from this control.",
        "",
        "**Label regimes** (training cases only; validation and test keep the true labels): *full*; *sparse* — no label, "
        "only a simulated clinician's marks on a fixed seeded starting mask of each scan (3 brush dabs and 5 clicks on its "
        "errors, 2 confirming dabs; `LabelRegime(kind='sparse')`) that reach the agents through the reward override and "
        "the click network through its partial loss; *sparse marks + reviewed start* — the same marks, and the "
        "starting mask the clinician reviewed and left unmarked taken as the label of every unmarked voxel "
        "(`sparse_unmarked='start'`: a clinician who stops marking accepts the rest; the marks override it); *noisy* — each "
        "label eroded or dilated and shifted by up to 3 mm.",
        "",
        f"**Evaluation**: the robot-clinician protocol of `medrl evaluate`, {plan.interactions} interactions of one click, from "
        f"seeded perturbations of the test labels (Dice {plan.perturbation_dice[0]}–{plan.perturbation_dice[1]}), the same "
        f"starts and robot for every model, regime and seed. Cells: mean ± sample std over the training seeds {list(plan.seeds)} "
        "of each seed's mean over the task's cases. Demo data: the synthetic cases of `medrl demo` "
        f"({plan.demo_cases[0]} training, {plan.demo_cases[1]} validation, {plan.demo_cases[2]} test). Real CT: the one scan "
        "of `ct_abdomen_3mm`, trained on its other organs (as above), tested on spleen, liver and right kidney "
        f"({plan.ct_repeats} starts each); the tuning recipes select on two training organs (left kidney, stomach) since "
        "one scan leaves no unseen organ to spare.",
        "",
        f"Training wall time (mean over regimes and seeds, tuning includes its start's training): {wall_times(inputs.results)}.",
    ]
    for key, entry in tasks.items():
        task = entry["task"]
        parts += ["", f"### {task.title}", "", f"Cases: {task.about}.", "", task_table(entry, plan)]
    parts += ["", "### The targets", "",
              f"Paired by seed (same seed, same cases), mean ± std over seeds; *wins*/*loses* when the mean difference exceeds "
              f"its std across seeds, else *ties*. Target 1: tuning lifts NSD@5 by ≥ {NSD_TARGET_POINTS:.0f} points over the "
              "CE-gain agents. Target 2: in the sparse regime medrl beats partial-CE supervision.", "",
              targets_table(tasks, plan), "", "In short (tasks by verdict, per label regime):", "", *summary_lines(tasks, plan),
              "", "### What the tuning runs did", "", tuning_table(inputs.results)]
    return "\n".join(parts)
