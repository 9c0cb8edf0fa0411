"""``medrl evaluate`` on the real abdominal CT beside the checkout (122 × 101 × 30, 3 mm, a multi-organ
label map): one organ per run through ``--foreground-labels``. Skipped where the scan is absent."""

from __future__ import annotations

import json

import pytest

from tests.evaluation.helpers import check_complete, evaluate, read_csv

ORGANS = {"spleen": 1, "kidney_right": 2, "liver": 5}


def _dataset(folder, shared_ct, initial: bool = False):
    """A dataset.json listing the shared scan by absolute path (the scan is never copied)."""
    entry = {"image": str(shared_ct / "image.nii.gz"), "label": str(shared_ct / "labels.nii.gz")}
    if initial:  # the multi-organ map itself as another model's starting output
        entry["initial"] = str(shared_ct / "labels.nii.gz")
    path = folder / "dataset.json"
    path.write_text(json.dumps({"training": [], "test": [entry]}), encoding="utf-8")
    return path


@pytest.mark.parametrize("organ", list(ORGANS))
def test_each_organ_is_its_own_task(tmp_path, shared_ct, with_segmenter, organ):
    output = tmp_path / organ
    assert evaluate("--checkpoint", with_segmenter, "--data", _dataset(tmp_path, shared_ct), "--foreground-labels",
                    ORGANS[organ], "--start", "perturbed", "--perturbation-dice", 0.7, 0.9, "--interactions", 2,
                    "--output", output) == 0
    rows, case_rows, summary = check_complete(output, ["image"], ["initial", "medrl"], 2)

    counts = json.loads((shared_ct / "labels.json").read_text(encoding="utf-8"))["voxel_counts"]
    (case,) = summary["cases"]
    assert case["foreground_voxels"] == counts[str(ORGANS[organ])]  # exactly that organ's voxels (3 mm grid kept)
    assert case["working_shape"] == [122, 101, 30] and case["spacing_mm"] == pytest.approx([3.0, 3.0, 3.0], abs=1e-4)
    assert summary["working_grid"]["foreground_labels"] == [ORGANS[organ]]

    start = [r for r in rows if r["interaction"] == "0"]
    assert all(0.7 <= float(r["dice"]) <= 0.9 for r in start)
    assert all(0 < float(r["hd95_mm"]) < 100 and 0 < float(r["nsd"]) < 1 for r in start)
    assert all(int(r["clicks"]) == 2 for r in case_rows)  # errors remain for the robot to click


def test_a_multi_organ_initial_map_is_reduced_to_the_task(tmp_path, shared_ct, with_segmenter):
    """The starting mask is another model's multi-organ map (here the label map itself): with
    --foreground-labels 2 it starts the kidney task exactly, so the robot finds nothing to click."""
    output = tmp_path / "kidney"
    assert evaluate("--checkpoint", with_segmenter, "--data", _dataset(tmp_path, shared_ct, initial=True),
                    "--foreground-labels", 2, "--interactions", 1, "--output", output) == 0
    rows = read_csv(output / "interactions.csv")
    assert {r["start"] for r in rows} == {"initial"}
    assert [(r["method"], float(r["dice"]), r["new_clicks"]) for r in rows] == [
        ("initial", 1.0, ""), ("initial", 1.0, ""), ("medrl", 1.0, ""), ("medrl", 1.0, "")]
