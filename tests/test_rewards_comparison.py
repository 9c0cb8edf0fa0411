"""benchmarks/make_rewards_comparison.py: the table's cells are mean ± std over seeds of the evaluations'
own numbers, differences are paired by seed, the section replaces only itself in the document, and the
whole pipeline runs at tiny budgets."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from doc_sections import find_section, put_section  # noqa: E402
from rewards_table import METHOD_LABELS, METHODS, REGIME_LABELS, paired, spread, summary_lines, targets_table, task_table  # noqa: E402

CELL = re.compile(r"(-?\d+\.\d+) ± (\d+\.\d+)")


def _summary(values: dict[str, float]) -> dict:
    """A summary.json-like document: each method's Dice after k clicks is value + 0.01 k; NSD = Dice − 0.2; HD95 = 10 − 5·Dice."""
    def curve(v, f):
        return [{"mean": f(v + 0.01 * k)} for k in range(6)]
    return {"methods": {m: {"dice": curve(v, lambda d: d), "nsd": curve(v, lambda d: d - 0.2), "hd95_mm": curve(v, lambda d: 10 - 5 * d)}
                        for m, v in values.items()}}


SEED_VALUES = {  # method -> Dice at 0 clicks, per seed
    "initial": [0.7, 0.7, 0.7], "supervised": [0.80, 0.82, 0.84], "ce": [0.85, 0.86, 0.90], "ce_tuned": [0.85, 0.87, 0.90],
    "dice": [0.86, 0.88, 0.91],
    "surface": [0.70, 0.95, 0.80],
}
PLAN = SimpleNamespace(regimes=("full", "sparse"), seeds=(0, 1, 2), interactions=5)


def _entry() -> dict:
    entry = {"task": SimpleNamespace(key="demo", title="Demo", about="x")}
    for regime in PLAN.regimes:
        for seed in PLAN.seeds:
            entry[(regime, seed)] = _summary({m: v[seed] for m, v in SEED_VALUES.items()})
    return entry


def test_table_cells_are_mean_and_std_over_seeds_of_the_evaluations_numbers():
    table = task_table(_entry(), PLAN)
    rows = {tuple(cells[1:3]): cells[3:] for line in table.splitlines()[2:] if (cells := [c.strip() for c in line.split("|")])}
    assert rows[("any", "starting mask (kept)")][:3] == ["0.700"] * 3
    for method in METHODS:
        dice_at_5 = [v + 0.05 for v in SEED_VALUES[method]]
        mean, std = (float(x) for x in CELL.fullmatch(rows[(REGIME_LABELS["sparse"], METHOD_LABELS[method])][2]).groups())
        assert mean == pytest.approx(statistics.fmean(dice_at_5), abs=5e-4)
        assert std == pytest.approx(statistics.stdev(dice_at_5), abs=5e-4)
    assert len(rows) == 1 + len(PLAN.regimes) * len(METHODS)


def test_differences_are_paired_by_seed_and_verdicts_need_every_seed_to_agree():
    entry = _entry()
    mean, std, n = paired(entry, PLAN, "full", "dice", "ce", "nsd", 5)
    assert (mean, n) == (pytest.approx(statistics.fmean([0.01, 0.02, 0.01])), 3)
    assert std == pytest.approx(statistics.stdev([0.01, 0.02, 0.01]))
    table = targets_table({"demo": entry}, PLAN)
    full = next(line for line in table.splitlines() if REGIME_LABELS["full"] in line)
    # CE − supervised Dice@5: +0.05, +0.04, +0.06 -> wins; surface − supervised NSD: −0.10, +0.13, −0.04 -> ties
    assert "+0.050 ± 0.010 (wins)" in full
    assert full.rstrip(" |").endswith("(ties)")
    assert spread([None, None]) is None
    lines = summary_lines({"demo": entry}, PLAN)
    assert "vs the supervised click network, Dice@5** — full labels: wins 1 (demo); sparse marks only: wins 1 (demo)." in lines[0]
    # a "win" over the click network means little if both fall below the starting mask: that is said too
    assert any("(CE gain) vs keeping the starting mask, Dice@5** — full labels: wins 1 (demo)" in line for line in lines)
    # the NSD target (≥ 2 points over CE): Dice-tuned gains +1.3 points on average, so it is not met
    assert any("tuned with Dice gain lifts NSD@5" in line and "met in 0 of 2" in line for line in lines)


def test_section_is_replaced_in_place_or_appended():
    document = "# Doc\n\nintro\n"
    once = put_section(document, "rewards-comparison", "first")
    assert once.startswith(document) and find_section(once, "rewards-comparison").count("first") == 1
    twice = put_section(once + "\n## Later\n", "rewards-comparison", "second")
    assert "first" not in twice and "second" in twice and twice.endswith("## Later\n")
    assert find_section(document, "rewards-comparison") is None


def test_quick_pipeline_writes_the_section_and_reuses_its_work(tmp_path):
    output = tmp_path / "benchmarks.md"
    output.write_text("# Benchmarks\n\nthe other script's part\n")
    command = [sys.executable, str(BENCHMARKS / "make_rewards_comparison.py"), "--work", str(tmp_path / "work"), "--output", str(output),
               "--quick", "--groups", "demo", "--regimes", "full", "sparse", "--seeds", "0", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace", timeout=400, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    document = output.read_text(encoding="utf-8")
    assert document.startswith("# Benchmarks\n\nthe other script's part\n")
    section = find_section(document, "rewards-comparison")
    for regime in ("full", "sparse"):
        for method in METHODS:
            row = re.search(rf"^\| {re.escape(REGIME_LABELS[regime])} \| {re.escape(METHOD_LABELS[method])} \|(.*)$", section, re.M)
            assert row is not None and len(CELL.findall(row.group(1))) == 5
    assert "### The targets" in section and "### What the tuning runs did" in section
    again = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace", timeout=400, env=env)
    assert again.returncode == 0 and ": training" not in again.stdout and "tuning" not in again.stdout.replace("tuned earlier", "")
    assert output.read_text(encoding="utf-8").count("<!-- rewards-comparison -->") == 1


def test_the_committed_document_holds_the_full_comparison():
    """docs/benchmarks.md carries the comparison the README points to: the demo data and the three CT organs,
    every regime and model, each cell a mean ± std over at least three seeds, and no quick-run numbers."""
    document = (BENCHMARKS.parent / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    section = find_section(document, "rewards-comparison")
    assert section is not None and "**Quick run**" not in section
    seeds = re.search(r"over the training seeds \[([\d, ]+)\]", section)
    assert seeds is not None and len(seeds.group(1).split(",")) >= 3
    tables = re.split(r"^### ", section, flags=re.M)
    titles = {table.splitlines()[0] for table in tables[1:]}
    assert {"Demo data", "Real CT: spleen", "Real CT: liver", "Real CT: kidney right"} <= titles
    for table in tables[1:5]:
        for regime in REGIME_LABELS.values():
            for method in METHODS:
                row = re.search(rf"^\| {re.escape(regime)} \| {re.escape(METHOD_LABELS[method])} \|(.*)$", table, re.M)
                assert row is not None and len(CELL.findall(row.group(1))) == 5 and "(n=" not in row.group(1)
