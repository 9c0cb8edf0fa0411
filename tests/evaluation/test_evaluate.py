"""``medrl evaluate`` end to end through its argparse hook: datasets with and without starting masks,
baselines beside the agents, complete CSV/JSON/PNG outputs, reproducible runs, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from medrl.errors import MedrlInputError
from medrl.evaluation.methods import KeepInitial
from medrl.evaluation.run import run_evaluation
from medrl.evaluation.settings import EvaluationSettings
from medrl.inference.refiner import Refiner
from tests.evaluation.helpers import FixClickedComponent, check_complete, dice_curves, dice_of, evaluate, read_csv

K = 3


def test_initial_masks_voxel_and_region_agents_beside_the_kept_mask(tmp_path, voxel_agents, region_agents,
                                                                    blobs_with_initial, capsys):
    output = tmp_path / "eval"
    assert evaluate("--checkpoint", voxel_agents, "--name", "voxel", "--compare", f"region={region_agents}",
                    "--data", blobs_with_initial, "--interactions", K, "--output", output) == 0
    cases, methods = ["blobs_0", "blobs_1", "blobs_2"], ["initial", "voxel", "region"]
    rows, case_rows, summary = check_complete(output, cases, methods, K)
    curves = dice_curves(rows)

    printed = capsys.readouterr().out
    assert "start: initial ×3" in printed and all(f"\n{m} " in printed for m in methods)

    dataset = json.loads(blobs_with_initial.read_text(encoding="utf-8"))
    for entry, case in zip(dataset["test"], cases):  # Dice at k = 0: the file's starting mask against its label
        initial = nib.load(blobs_with_initial.parent / entry["initial"]).get_fdata()
        label = nib.load(blobs_with_initial.parent / entry["label"]).get_fdata()
        for method in methods:
            assert curves[case, method][0] == pytest.approx(dice_of(initial, label), abs=1e-5)
        assert len(set(curves[case, "initial"])) == 1  # the kept mask ignores every click

    final = {m: np.mean([curves[c, m][-1] for c in cases]) for m in methods}
    assert final["voxel"] >= final["initial"] + 0.03, final  # trained agents recover the missed blob
    assert any(curves[c, "region"] != curves[c, "voxel"] for c in cases)  # regions act differently
    assert summary["agents"] == {"voxel": "voxel", "region": "region"}

    for row in case_rows:  # NoC and AUC as read off the curves in interactions.csv
        curve = curves[row["case"], row["method"]]
        reached = [k for k, d in enumerate(curve) if d >= 0.85]
        assert int(row["noc@85"]) == (reached[0] if reached else K)
        assert row["reached@85"] == str(bool(reached))
        assert float(row["auc"]) == pytest.approx(np.trapezoid(curve) / K, abs=1e-5)
    for method in methods:
        np.testing.assert_allclose([e["mean"] for e in summary["methods"][method]["dice"]],
                                   np.mean([curves[c, method] for c in cases], axis=0), atol=1e-5)


def test_without_initial_masks_auto_starts_from_the_segmenter(tmp_path, with_segmenter, blobs_without_initial):
    output = tmp_path / "eval"
    assert evaluate("--checkpoint", with_segmenter, "--data", blobs_without_initial, "--interactions", 2,
                    "--output", output) == 0
    rows, _, summary = check_complete(output, ["blobs_0", "blobs_1"], ["initial", "medrl"], 2)
    assert {r["start"] for r in rows} == {"segmenter"}
    assert [case["spacing_mm"] for case in summary["cases"]] == [[1.0, 1.0, 2.0]] * 2

    refiner = Refiner.from_checkpoint(with_segmenter)  # the segmenter's own mask, measured independently
    entry = json.loads(blobs_without_initial.read_text(encoding="utf-8"))["test"][0]
    data = refiner.prepare(str(blobs_without_initial.parent / entry["image"]),
                           label=str(blobs_without_initial.parent / entry["label"]))
    expected = dice_of(refiner.segment(data)[0, 0].numpy(), data["label"][0].numpy()) if data["label"].any() else 1.0
    assert dice_curves(rows)["blobs_0", "medrl"][0] == pytest.approx(expected, abs=1e-5)


def test_perturbed_starts_are_in_range_and_runs_replay_exactly(tmp_path, voxel_agents, blobs_without_initial):
    common = ("--checkpoint", voxel_agents, "--data", blobs_without_initial, "--interactions", 2, "--start", "perturbed",
              "--perturbation-dice", 0.6, 0.8, "--seed", 3)
    assert evaluate(*common, "--output", tmp_path / "one") == 0
    assert evaluate(*common, "--output", tmp_path / "two") == 0
    one, two = read_csv(tmp_path / "one" / "interactions.csv"), read_csv(tmp_path / "two" / "interactions.csv")
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in one] == \
           [{k: v for k, v in r.items() if k != "seconds"} for r in two]
    starts = [float(r["dice"]) for r in one if r["interaction"] == "0"]
    assert all(0.6 <= d <= 0.8 for d in starts), starts
    cases = json.loads((tmp_path / "one" / "summary.json").read_text(encoding="utf-8"))["cases"]
    assert all(case["start"] == "perturbed" and isinstance(case["start_seed"], int) for case in cases)


def test_empty_starts_segment_from_clicks_alone(tmp_path, voxel_agents, blobs_without_initial):
    output = tmp_path / "eval"
    assert evaluate("--checkpoint", voxel_agents, "--data", blobs_without_initial, "--interactions", 2,
                    "--start", "empty", "--output", output) == 0
    rows, _, summary = check_complete(output, ["blobs_0", "blobs_1"], ["initial", "medrl"], 2)
    curves = dice_curves(rows)
    assert {r["start"] for r in rows} == {"empty"} and all(case["start"] == "empty" for case in summary["cases"])
    assert all(curves[c, m][0] == 0.0 for c in ("blobs_0", "blobs_1") for m in ("initial", "medrl"))
    assert all(curves[c, "initial"] == [0.0] * 3 for c in ("blobs_0", "blobs_1"))  # the kept start finds nothing
    assert max(curves[c, "medrl"][-1] for c in ("blobs_0", "blobs_1")) > 0  # the clicks alone start a mask


def test_a_new_method_plugs_in_as_one_class(tmp_path, voxel_agents, blobs_with_initial):
    """A method that repairs exactly what is clicked: one click on the missed blob makes Dice 1, and the
    robot has nothing left to click — the run reports it beside the agents, from the same start."""
    settings = EvaluationSettings(checkpoint=str(voxel_agents), data=str(blobs_with_initial), output=str(tmp_path / "eval"),
                                  interactions=2, max_cases=2)
    document = run_evaluation(settings, extra_methods=[FixClickedComponent()], progress=False)
    rows, case_rows, _ = check_complete(tmp_path / "eval", ["blobs_0", "blobs_1"], ["initial", "medrl", "fix-component"], 2)
    curves = dice_curves(rows)
    assert all(curves[c, "fix-component"][1:] == [1.0, 1.0] for c in ("blobs_0", "blobs_1"))
    assert all(curves[c, "fix-component"][0] == curves[c, "medrl"][0] for c in ("blobs_0", "blobs_1"))
    assert [r["clicks"] for r in case_rows if r["method"] == "fix-component"] == ["1", "1"]
    assert document["methods"]["fix-component"]["noc@90"].mean == 1.0

    with pytest.raises(MedrlInputError, match="unique"):
        run_evaluation(EvaluationSettings(**{**settings.__dict__, "overwrite": True}), extra_methods=[KeepInitial()])


def test_existing_results_are_kept_unless_overwrite(tmp_path, voxel_agents, blobs_with_initial, capsys):
    output = tmp_path / "eval"
    output.mkdir()
    (output / "summary.json").write_text("earlier results", encoding="utf-8")
    argv = ("--checkpoint", voxel_agents, "--data", blobs_with_initial, "--interactions", 1, "--max-cases", 1,
            "--output", output)
    assert evaluate(*argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("medrl: error:") and "summary.json" in error and "--overwrite" in error and "\n" not in error
    assert (output / "summary.json").read_text(encoding="utf-8") == "earlier results" and not (output / "cases.csv").exists()
    assert evaluate(*argv, "--overwrite") == 0
    assert json.loads((output / "summary.json").read_text(encoding="utf-8"))["methods"]["medrl"]["n_cases"] == 1


@pytest.mark.parametrize("extra, fragment", [
    (("--start", "initial"), "has no 'initial' mask"),
    (("--compare", "region"), "expected NAME=CHECKPOINT"),
    (("--compare", "initial=x.ckpt"), "reserved"),
    (("--interactions", -1), "--interactions: must be 0 or more"),
    (("--section", "validation"), "has no cases"),
])
def test_bad_requests_are_one_line_errors(tmp_path, voxel_agents, blobs_without_initial, capsys, extra, fragment):
    assert evaluate("--checkpoint", voxel_agents, "--data", blobs_without_initial, "--output", tmp_path / "out",
                    *extra) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("medrl: error:") and fragment in error and "\n" not in error
    assert not (tmp_path / "out").exists()


def test_compared_agents_must_share_the_working_grid(tmp_path, voxel_agents, with_segmenter, blobs_with_initial, capsys):
    assert evaluate("--checkpoint", voxel_agents, "--compare", f"ct={with_segmenter}", "--data", blobs_with_initial,
                    "--output", tmp_path / "out") == 2
    assert "share one working grid" in capsys.readouterr().err


def test_unlabelled_cases_are_refused_before_any_work(tmp_path, voxel_agents, blobs_with_initial, capsys):
    dataset = json.loads(blobs_with_initial.read_text(encoding="utf-8"))
    dataset["test"][1].pop("label")
    path = blobs_with_initial.parent / "unlabelled.json"
    path.write_text(json.dumps(dataset), encoding="utf-8")
    assert evaluate("--checkpoint", voxel_agents, "--data", path, "--output", tmp_path / "out") == 2
    assert "blobs_1.nii.gz: case has no label" in capsys.readouterr().err


def test_the_hook_loads_neither_torch_nor_lightning():
    code = ("import sys, argparse; from medrl.evaluation.command import add_evaluate_parser; "
            "add_evaluate_parser(argparse.ArgumentParser().add_subparsers()); "
            "print(sorted(m for m in ('torch', 'pytorch_lightning', 'monai') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, encoding="utf-8", errors="replace", check=True).stdout.strip() == "[]"
