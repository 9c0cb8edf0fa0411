"""benchmarks/make_real_patients_benchmark.py: folds hold out whole patients, the table and the harm rate follow
the evaluations' own numbers, the targets are checked on them, and the document keeps its other sections."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from real_patients_plan import make_fold, patient_of  # noqa: E402
from real_patients_table import Curve, harm_rate, method_rows, render_rows, verdicts  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def curve(method: str, dice: list[float], case: str = "c1", group: str = "brain") -> Curve:
    return Curve(group, "hippocampus R", case, "perturbed", method, dice, [5.0] * len(dice), [0.5 + d / 2 for d in dice],
                 [0.1] * (len(dice) - 1))


def test_patients_are_sorted_out_by_their_scans():
    assert patient_of({"image": "/d/imagesTr/STS_002_MR_T1.nii.gz"}) == "STS_002"
    assert patient_of({"image": "/d/imagesTr/pat0005_flair.nii.gz"}) == "pat0005"
    assert patient_of({"image": "/d/imagesTr/1003.nii.gz"}) == "1003"


@pytest.mark.skipif(not (REAL / "brain_mr_miccai2012" / "dataset.json").is_file(), reason="../shared/data/real is absent")
def test_folds_hold_out_whole_patients_and_test_only_them(tmp_path):
    seen = {}
    for index in range(2):
        fold = make_fold(REAL, tmp_path / f"fold_{index}", index, 2)
        training = {patient_of(c) for path in fold.training for c in json.loads(path.read_text())["training"]}
        tested = {patient_of(c) for task in fold.tasks for c in json.loads(task.dataset.read_text())["test"]}
        assert tested and not training & tested  # no held-out patient trains, not even in another modality
        assert len(fold.test_patients["brain_mr_miccai2012"]) == 5
        assert {t.group for t in fold.tasks} == {"brain", "BraTS whole tumour", "sarcoma CT", "sarcoma MR T1", "sarcoma PET"}
        assert len([t for t in fold.tasks if t.group == "brain"]) == 12
        seen[index] = tested
    assert not seen[0] & seen[1]  # the folds test different patients


def test_rows_and_harm_rate_follow_the_curves():
    curves = [curve("initial", [0.7] * 6), curve("initial", [0.6] * 6, "c2"),
              curve("medrl", [0.7, 0.8, 0.79, 0.85, 0.86, 0.9]), curve("medrl", [0.6, 0.7, 0.71, 0.72, 0.73, 0.74], "c2")]
    rows = {row.method: row for row in method_rows(curves, interactions=5)}
    assert rows["medrl"].dice[5].mean == pytest.approx(0.82) and rows["medrl"].dice[1].mean == pytest.approx(0.75)
    assert rows["medrl"].harm == pytest.approx(1 / 10)  # one of ten interactions fell by more than 0.005
    assert harm_rate([curve("medrl", [0.7, 0.696, 0.69])]) == pytest.approx(0.5)  # a fall of 0.004 is no harm, 0.006 is
    assert rows["initial"].n == 2 and 10 not in rows["medrl"].dice
    table = "\n".join(render_rows(method_rows(curves, 5)))
    assert "| medrl agents | 0.650 ± " in table and "10.0%" in table


def test_targets_are_checked_on_the_numbers():
    good = [curve("initial", [0.7] * 6), curve("brush", [0.7, 0.71, 0.72, 0.72, 0.73, 0.73]),
            curve("supervised", [0.7, 0.8, 0.8, 0.8, 0.8, 0.8]), curve("medrl", [0.7, 0.75, 0.78, 0.8, 0.82, 0.85])]
    met = {v.target: v.met for v in verdicts(good, [], [], interactions=5)}
    assert met == {"Dice@5 ≥ start + 0.10": True, "Dice@5 ≥ brush + 0.05": True, "Dice@5 ≥ click network": True,
                   "mean Dice never below the start": True, "harm rate ≤ 5%": True}
    bad = [curve("initial", [0.7] * 6), curve("brush", [0.7] * 6), curve("supervised", [0.7, 0.9, 0.9, 0.9, 0.9, 0.9]),
           curve("medrl", [0.7, 0.69, 0.72, 0.71, 0.75, 0.76])]
    met = {v.target: v.met for v in verdicts(bad, bad, [], interactions=5)}
    assert not met["Dice@5 ≥ start + 0.10"] and not met["Dice@5 ≥ click network"] and not met["mean Dice never below the start"]
    assert not met["segmenter's masks: no loss at any click"] and met["segmenter's masks: a gain after 5"]


@pytest.mark.skipif(not (REAL / "brain_mr_miccai2012" / "dataset.json").is_file(), reason="../shared/data/real is absent")
def test_the_development_split_tests_other_patients_than_the_benchmark(tmp_path):
    from real_patients_dev import DEV_SUBJECTS, write_split

    training, test = write_split(REAL, tmp_path / "dev")
    trained = {patient_of(c) for path in training for c in json.loads(path.read_text())["training"]}
    tested = {patient_of(c) for c in json.loads(test.read_text())["test"]}
    assert tested == set(DEV_SUBJECTS) and not trained & tested
    for index in range(2):
        benchmark_tested = make_fold(REAL, tmp_path / f"fold_{index}", index, 2).test_patients["brain_mr_miccai2012"]
        assert not tested & set(benchmark_tested)
