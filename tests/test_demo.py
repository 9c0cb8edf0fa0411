"""``medrl demo`` end to end with a tiny budget: every promised output is written and usable."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np

from medrl.demo import DemoSettings, run_demo
from medrl.inference.refiner import Refiner


def test_tiny_demo_writes_checkpoint_plot_results_and_masks_on_input_grids(tmp_path, capsys):
    settings = DemoSettings(segmenter_steps=3, refiner_steps=3, warm_start_steps=2, interactions=2,
                            cases=(4, 1, 2), channels=(4, 8, 16))
    results = run_demo(tmp_path, settings)

    assert "mean synthetic (2)" in capsys.readouterr().out
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["cases"] == results["cases"]
    assert [(row["group"], row["start"]) for row in results["cases"]] == [
        ("synthetic", "segmenter"), ("synthetic", "segmenter"), ("synthetic", "perturbed"), ("synthetic", "perturbed"),
        ("mni152", "perturbed")]
    assert all(len(row["dice"]) == 3 for row in results["cases"])
    assert (tmp_path / "dice_vs_clicks.png").read_bytes()[:4] == b"\x89PNG"

    refiner = Refiner.from_checkpoint(tmp_path / "medrl_demo.ckpt")  # one file, weights only
    assert refiner.segmenter is not None and refiner.policy is not None

    dataset = json.loads((tmp_path / "data" / "dataset.json").read_text(encoding="utf-8"))
    for entry in dataset["test"] + dataset["test_mr"]:
        source = nib.load(tmp_path / "data" / entry["image"])
        name = entry["image"].rsplit("/", 1)[-1].split(".")[0]
        names = [name] + ([f"{name}_perturbed"] if entry in dataset["test"] else [])
        for tag, prefix in ((tag, prefix) for tag in ("initial", "refined") for prefix in names):
            mask = nib.load(tmp_path / "examples" / f"{prefix}_{tag}.nii.gz")
            assert mask.shape == source.shape and mask.get_data_dtype() == np.uint8
            np.testing.assert_allclose(mask.affine, source.affine, atol=1e-4)
