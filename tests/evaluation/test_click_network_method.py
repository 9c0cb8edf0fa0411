"""The supervised click network in ``medrl evaluate``: trained by ``medrl fit`` (subprocess), loaded
weights-only, compared beside medrl's agents with ``--compare supervised=CKPT``; the method on one case."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from medrl.data.geometry import orientation_affine
from medrl.env.clicks import Click
from medrl.evaluation.cases import prepare_case
from medrl.evaluation.methods import ClickNetwork
from medrl.inference.refiner import Refiner
from medrl.models.checkpoint import read_checkpoint
from medrl.training.click_network import ClickNetworkModule
from tests.conftest import save_nifti
from tests.evaluation.helpers import check_complete, dice_curves, evaluate
from tests.inference.scenes import two_blob_scene
from tests.training.cli_run import REPO, environment

K = 2
CHECKPOINT = "medrl_runs/click_network_demo/checkpoints/last.ckpt"
TINY_FIT = [
    "--data.demo_data=false", "--data.intensity=none", "--data.patch_size=[16, 16, 16]", "--data.batch_size=1",
    "--model.init_args.channels=[4, 8]", "--model.init_args.strides=[2]", "--model.init_args.roi_size=[16, 16, 16]",
    "--model.init_args.interactions=2", "--model.init_args.val_interactions=1", "--trainer.max_steps=3",
    "--trainer.check_val_every_n_epoch=1", "--trainer.num_sanity_val_steps=0", "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
]


def blob_training_set(folder: Path) -> Path:
    """dataset.json with 2 training and 1 validation two-blob scans (other seeds than the evaluated ones)."""
    folder.mkdir(parents=True, exist_ok=True)
    lists = {"training": [], "validation": []}
    for index, seed in enumerate((10, 11, 12)):
        scene, entry = two_blob_scene(seed=seed), {}
        affine = orientation_affine("RAS", (1.0, 1.0, 1.0), scene.image.shape)
        for key, array in (("image", scene.image), ("label", scene.label)):
            save_nifti(array, affine, folder / f"{key}_{seed}.nii.gz")
            entry[key] = f"./{key}_{seed}.nii.gz"
        lists["training" if index < 2 else "validation"].append(entry)
    path = folder / "dataset.json"
    path.write_text(json.dumps({"name": "blobs for training", **lists}), encoding="utf-8")
    return path


def fit_click_network(cwd: Path, dataset: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "medrl.cli", "fit", "--config", str(REPO / "configs" / "click_network_demo.yaml"),
               f"--data.dataset={dataset}", *TINY_FIT]
    return subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, encoding="utf-8", errors="replace",
                          timeout=300)


def test_medrl_fit_then_medrl_evaluate_compares_it_with_the_agents(tmp_path, voxel_agents, blobs_with_initial):
    result = fit_click_network(tmp_path, blob_training_set(tmp_path / "train"))
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = read_checkpoint(tmp_path / CHECKPOINT)  # weights_only=True inside
    bundle = checkpoint["medrl"]
    assert checkpoint["global_step"] == 3 and bundle["policy"] is None and bundle["segmenter"] is None
    assert bundle["click_network"]["architecture"]["channels"] == [4, 8]
    assert bundle["click_network"]["encoding"] == {"hint_sigma_mm": 5.0, "click_radius_mm": 0.0, "previous": "mask"}
    assert bundle["preprocessing"]["intensity"] == "none"
    assert any(key.startswith("net.") for key in checkpoint["state_dict"])
    metrics = next((tmp_path / "medrl_runs" / "click_network_demo").rglob("metrics.csv")).read_text(encoding="utf-8")
    assert "val/dice_1" in metrics and "train/loss/ce" in metrics

    output = tmp_path / "eval"
    assert evaluate("--checkpoint", voxel_agents, "--compare", f"supervised={tmp_path / CHECKPOINT}",
                    "--data", blobs_with_initial, "--interactions", K, "--output", output) == 0
    cases, methods = ["blobs_0", "blobs_1", "blobs_2"], ["initial", "medrl", "supervised"]
    rows, _, summary = check_complete(output, cases, methods, K)
    curves = dice_curves(rows)
    for case in cases:  # one starting mask for all methods; the network's answers are valid masks
        assert curves[case, "supervised"][0] == pytest.approx(curves[case, "initial"][0], abs=1e-6)
        assert all(0.0 <= d <= 1.0 for d in curves[case, "supervised"])
    clicked = [int(r["clicks"]) for r in rows if r["method"] == "supervised" and r["interaction"] == str(K)]
    assert min(clicked) >= 1  # the robot clicked the network's masks
    assert summary["agents"] == {"medrl": "voxel", "supervised": "click_network"}
    assert summary["checkpoints"]["supervised"] == str(tmp_path / CHECKPOINT)


@pytest.fixture
def click_checkpoint(tmp_path) -> Path:
    """An untrained click network (4, 8 channels, 16³ windows) saved as training saves it, preset "none"."""
    torch.manual_seed(0)
    module = ClickNetworkModule(channels=(4, 8), strides=(2,), roi_size=(16, 16, 16), click_radius_mm=1.5)
    saved = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(saved)
    saved["medrl"]["preprocessing"] = {"intensity": "none"}
    torch.save(saved, tmp_path / "click.ckpt")
    return tmp_path / "click.ckpt"


def test_one_interaction_on_a_case_keeps_the_clicked_labels(click_checkpoint, voxel_agents, blobs_with_initial):
    entry = json.loads(blobs_with_initial.read_text(encoding="utf-8"))["test"][1]  # the LPS case
    folder = blobs_with_initial.parent
    case = prepare_case(Refiner.from_checkpoint(voxel_agents),
                        {key: str(folder / value) for key, value in entry.items()}, "blobs_1", read_initial=True)
    method = ClickNetwork.from_checkpoint(click_checkpoint, name="supervised")
    initial = case.initial
    assert torch.equal(method.start(case, initial), initial)

    positive, negative = Click((36, 20, 16), positive=True), Click((14, 20, 16), positive=False)
    p = method.interact(case, initial, [positive], [negative])
    assert p.shape == initial.shape and p.dtype == torch.float32 and 0 <= p.min() and p.max() <= 1
    ball = np.indices(p.shape) - np.reshape(negative.index, (3, 1, 1, 1))
    assert torch.all(p[(ball**2).sum(0) <= 1.5**2] == 0)  # within the click radius (1 mm voxels)
    assert p[positive.index] == 1 and p[negative.index] == 0
    assert torch.equal(p, method.interact(case, initial, [positive], [negative]))  # deterministic


def test_a_click_network_with_other_preprocessing_is_refused(tmp_path, click_checkpoint, with_segmenter,
                                                           blobs_with_initial, capsys):
    assert evaluate("--checkpoint", with_segmenter, "--compare", f"supervised={click_checkpoint}",
                    "--data", blobs_with_initial, "--output", tmp_path / "eval") == 2
    error = capsys.readouterr().err
    assert "click.ckpt" in error and "intensity: none vs ct" in error and "share one working grid" in error
    assert not (tmp_path / "eval").exists()
