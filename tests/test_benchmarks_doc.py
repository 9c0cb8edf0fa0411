"""benchmarks/make_benchmarks_doc.py: the whole pipeline at tiny budgets writes a document with every
section, task and method, whose claims follow its own tables; a rerun reuses models and evaluations."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import SHARED_CT

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPT = BENCHMARKS / "make_benchmarks_doc.py"
METHODS = ("initial", "voxel", "region", "supervised")
DEMO_TASKS = ("Demo data, from the segmenter's masks", "Demo data, from perturbed labels")
CT_TASKS = ("Real CT: spleen", "Real CT: liver", "Real CT: kidney right")
CONTROL = "(control: seen in training)"
SECTIONS = ("## Summary", "## Machine and software", "## Settings", "### Training", "### Evaluation", "## All tasks together",
            "## Caveats")
CLAIM = re.compile(r"^- (\w+) vs (\w+), AUC: (beats|ties|loses|undetermined), (-?[\d.]+|-) vs (-?[\d.]+|-) "
                   r"\(paired difference (-?[\d.]+)(?:, 95% CI \[(-?[\d.]+), (-?[\d.]+)\])?, n = (\d+)\)\.$", re.MULTILINE)


def _run(work: Path, output: Path, with_ct: bool) -> str:
    command = [sys.executable, str(SCRIPT), "--work", str(work), "--output", str(output), "--threads", "1", "--quick"]
    command += ["--ct", str(SHARED_CT)] if with_ct else ["--skip-ct"]
    done = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace", timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _sections(document: str) -> dict[str, str]:
    """Level-2 heading -> its text."""
    return {part.split("\n", 1)[0]: part for part in document.split("\n## ")[1:]}


def _auc_column(section: str) -> dict[str, str]:
    """method -> the AUC mean printed in the section's results table."""
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    column = header.index("AUC")
    rows = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0].startswith("**"):
            rows[cells[0].strip("*")] = cells[column].split(" ")[0]
    return rows


def _expected_verdict(low: str | None, high: str | None, n: int) -> str:
    if low is None or n < 2:
        return "undetermined"
    return "beats" if float(low) > 0 else "loses" if float(high) < 0 else "ties"


def test_quick_pipeline_writes_a_consistent_document_and_reuses_its_work(tmp_path):
    with_ct = (SHARED_CT / "image.nii.gz").is_file()
    output = tmp_path / "docs" / "benchmarks.md"
    _run(tmp_path / "work", output, with_ct)
    document = output.read_text(encoding="utf-8")
    sections = _sections(document)

    for heading in SECTIONS:
        assert heading in document
    controls = [heading for heading in sections if heading.endswith(CONTROL)]
    assert len(controls) == (1 if with_ct else 0)
    tasks = DEMO_TASKS + (CT_TASKS if with_ct else ()) + tuple(controls)
    assert ("## Real CT: split by organ" in document) == with_ct
    for task in tasks:
        section = sections[task]
        assert set(_auc_column(section)) == set(METHODS) | ({"voxel_long"} if task.startswith("Real CT") else set())
        plot = re.search(r"!\[[^]]*\]\(([^)]+\.png)\)", section).group(1)
        assert (output.parent / plot).read_bytes()[:4] == b"\x89PNG"
        claims = CLAIM.findall(section)
        assert {(a, b) for a, b, *_ in claims} >= {("voxel", "supervised"), ("region", "supervised"), ("voxel", "initial")}
        table = _auc_column(section)
        for first, second, verdict, first_auc, second_auc, _, low, high, n in claims:
            assert (first_auc, second_auc) == (table[first], table[second])
            assert verdict == _expected_verdict(low or None, high or None, int(n))
            assert f"| {first} vs {second} | " in section and f"→ **{verdict}** |" in section
    for line in ("CPU", "torch", "MONAI", "PyTorch Lightning"):
        assert f"| {line} |" in sections["Machine and software"]

    kept = ("<!-- rewards-comparison -->\n## Rewards comparison\nwritten by make_rewards_comparison.py\n<!-- /rewards-comparison -->\n"
            "\n<!-- real-patients -->\n## Real patients\nwritten by make_real_patients_benchmark.py\n<!-- /real-patients -->\n")
    output.write_text(document + "\n" + kept, encoding="utf-8")
    again = _run(tmp_path / "work", output, with_ct)
    assert output.read_text(encoding="utf-8").endswith(kept)  # the other scripts' sections survive a rewrite
    assert ": training" not in again
    assert again.count("trained earlier") == 4 + (4 if with_ct else 0)
    assert again.count("evaluated earlier") == len(tasks)
