"""benchmarks/bench_feedback_real.py: the systematic error is the hippocampus's posterior tail, the patients who
train, are reviewed and are held out never overlap, and the table's shares follow the scores."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from bench_feedback_real import KEYS, closed_share, verdicts  # noqa: E402
from feedback_real_plan import posterior_cut, shuffle_new_patients, split_subjects, subject_of  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def test_the_cut_removes_the_posterior_share_in_world_coordinates():
    label = np.zeros((4, 10, 4), bool)
    label[1:3, 0:10, 1:3] = True  # 10 voxels along y
    ras = np.diag([1.0, 2.0, 1.0, 1.0])  # y grows anteriorly, 2 mm voxels: extent 0..18 mm
    kept = posterior_cut(label, ras, 0.3)  # the plane at 5.4 mm: voxels y >= 3 stay
    assert kept[1, 3:, 1].all() and not kept[:, :3].any()
    lps = np.diag([-1.0, -2.0, 1.0, 1.0])  # y index grows posteriorly: the cut takes the high indices
    kept = posterior_cut(label, lps, 0.3)
    assert kept[1, :7, 1].all() and not kept[:, 7:].any()


@pytest.mark.skipif(not (REAL / "brain_mr_miccai2012" / "dataset.json").is_file(), reason="../shared/data/real is absent")
def test_base_reviewed_and_held_out_patients_never_overlap():
    base, new = split_subjects(REAL)
    assert len(base) == 10 and len(new) == 15 and not {subject_of(c) for c in base} & {subject_of(c) for c in new}
    for seed in range(3):
        reviewed, held_out = shuffle_new_patients(new, seed, 10)
        assert len(reviewed) == 10 and len(held_out) == 5
        assert not {subject_of(c) for c in reviewed} & {subject_of(c) for c in held_out}


def _result(base: float, control: float, feedback: float, perturbed_loss: float = 0.0) -> dict:
    def scores(cut, perturbed):
        return {"cut": {"dice": dict.fromkeys(KEYS, cut)}, "perturbed": {"dice": dict.fromkeys(KEYS, perturbed)}}

    return {"scores": {"base": scores(base, 0.8), "control": scores(control, 0.8),
                       "feedback": scores(feedback, 0.8 - perturbed_loss)}}


def test_the_share_closed_and_the_targets_follow_the_scores():
    per_seed = [_result(0.80, 0.82, 0.90), _result(0.70, 0.70, 0.85)]
    mean, sd = closed_share(per_seed, "feedback", "@1")
    assert mean == pytest.approx((0.5 + 0.5) / 2) and sd == pytest.approx(0.0)
    lines = verdicts(per_seed)
    assert "target ≥ 50%: met" in lines[1] and lines[-1].endswith("met")
    lines = verdicts([_result(0.80, 0.82, 0.85, perturbed_loss=0.02)])
    assert "target ≥ 50%: missed" in lines[1] and "0.020 Dice" in lines[-1] and lines[-1].endswith("missed")
