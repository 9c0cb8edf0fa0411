"""The structure-agnostic recipe, ``configs/agents_any_structure.yaml``: it parses, its do-no-harm zone guards
validation and inference only, and a few steps of it on a tiny real MR crop (nilearn's MNI152, labelled white
matter = 1, grey matter = 2) write a checkpoint that ``medrl predict --mask --clicks`` uses directly."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np

from medrl.data.mni152 import load_mni152_case
from medrl.data.writers import write_mask, write_volume
from medrl.models.checkpoint import read_checkpoint
from medrl.training.agents import AgentsModule
from tests.training.cli_run import REPO, environment

RECIPE = REPO / "configs" / "agents_any_structure.yaml"
FEW_STEPS = [  # the recipe shrunk to seconds: everything else (tasks, intensity, zone, losses) as the user gets it
    "--trainer.max_steps=3", "--trainer.val_check_interval=3", "--trainer.enable_progress_bar=false",
    "--data.patch_size=[16,16,16]", "--data.batch_size=2", "--data.num_workers=0", "--data.visits_per_epoch=6",
    "--data.max_validation_cases=1", "--data.min_task_voxels=20", "--model.init_args.roi_size=[16,16,16]",
    "--model.init_args.policy_channels=[4,8]", "--model.init_args.policy_strides=[2]",
    "--model.init_args.interactions=2", "--model.init_args.val_interactions=1",
    "--model.init_args.a2c.warm_start_updates=2", "--trainer.log_every_n_steps=1",
]


def medrl(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medrl.cli", *map(str, args)], cwd=cwd, env=environment(),
                          capture_output=True, encoding="utf-8", errors="replace", timeout=300)


def write_brain_crops(folder, n: int = 4, edge: int = 24) -> list[dict]:
    """``n`` crops of the MNI152 T1 (2 mm) around the centre, shifted by 4 voxels each, with a two-label map."""
    image, wm, affine = load_mni152_case("wm")
    gm = load_mni152_case("gm")[1]
    labels = np.where(wm > 0, 1, np.where(gm > 0, 2, 0)).astype(np.uint8)
    centre = np.array(image.shape) // 2
    cases = []
    for i in range(n):
        start = centre - edge // 2 + np.array([4 * i - 6, 0, 0])
        box = tuple(slice(s, s + edge) for s in start)
        shifted = affine.copy()
        shifted[:3, 3] = affine[:3, :3] @ start + affine[:3, 3]
        write_volume(image[box] * 800.0, shifted, folder / f"t1_{i}.nii.gz")  # MR-like intensities, not [0, 1]
        write_mask(labels[box], shifted, folder / f"labels_{i}.nii.gz")
        cases.append({"image": f"t1_{i}.nii.gz", "label": f"labels_{i}.nii.gz"})
    return cases


def test_the_recipe_parses():
    result = subprocess.run([sys.executable, "-m", "medrl.cli", "fit", "--config", str(RECIPE), "--data.dataset=x.json",
                             "--print_config"], env=environment(), capture_output=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tasks: labels" in result.stdout and "intensity: auto" in result.stdout and "act_within_mm: 10.0" in result.stdout


def test_the_zone_guards_validation_and_inference_but_not_training():
    module = AgentsModule(policy_channels=(4, 8), policy_strides=(2,), inference_env={"act_within_mm": 10.0, "act_one_way": True})
    assert module.env_config.act_within_mm == 0.0 and not module.env_config.act_one_way
    bundle_env = module.bundle_parts()["env"]
    assert bundle_env["act_within_mm"] == 10.0 and bundle_env["act_one_way"] is True
    assert bundle_env["hint_sigma_mm"] == module.env_config.hint_sigma_mm  # every other field as in training


def test_a_few_steps_of_the_recipe_on_a_real_crop_then_predict_with_clicks(tmp_path):
    data = tmp_path / "brains"
    data.mkdir()
    cases = write_brain_crops(data)
    (data / "dataset.json").write_text(json.dumps({"modality": {"0": "MR"}, "training": cases, "test": []}))
    fit = medrl("fit", "--config", RECIPE, f"--data.dataset={data / 'dataset.json'}", *FEW_STEPS, cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr[-3000:]
    checkpoint_path = tmp_path / "runs" / "agents_any_structure" / "checkpoints" / "last.ckpt"
    bundle = read_checkpoint(checkpoint_path)["medrl"]
    assert bundle["preprocessing"]["intensity"] == "auto" and bundle["env"]["act_within_mm"] == 10.0
    assert list(bundle["env"]["act_within_depth_scale"]) == [0.0, 1.5]  # a negative click's zone: its depth's scale
    assert bundle["env"]["act_far_mm"] == 20.0  # a positive click the mask missed entirely: up to 20 mm

    start = np.asarray(nib.load(data / "labels_1.nii.gz").dataobj) == 1
    start[:, :, 12:] = False  # the upper half of the white matter is missing
    write_mask(start.astype(np.uint8), nib.load(data / "labels_1.nii.gz").affine, tmp_path / "start.nii.gz")
    missed = np.argwhere((np.asarray(nib.load(data / "labels_1.nii.gz").dataobj) == 1) & ~start)[0]
    (tmp_path / "clicks.json").write_text(json.dumps({"coordinate_system": "voxel",
                                                      "points": [{"position": missed.tolist(), "positive": True}]}))
    predict = medrl("predict", "--checkpoint", checkpoint_path, "--input", data / "t1_1.nii.gz", "--mask", tmp_path / "start.nii.gz",
                    "--clicks", tmp_path / "clicks.json", "--modality", "MR", "--output", tmp_path / "out", cwd=tmp_path)
    assert predict.returncode == 0, predict.stderr[-3000:]
    mask = np.asarray(nib.load(tmp_path / "out" / "t1_1_mask.nii.gz").dataobj).astype(bool)
    assert mask.shape == start.shape and mask[tuple(missed)]  # the clinician's click is kept
    far = np.ones_like(start)  # the one-way 10 mm zone: nothing farther than 10 mm (5 voxels) from the click changes
    far[tuple(slice(max(c - 6, 0), c + 7) for c in missed)] = False
    assert np.array_equal(mask[far], start[far])


def test_every_config_reads_in_any_locale():
    """LightningCLI (jsonargparse) reads config files in the locale's encoding: on a machine with LANG=C a
    non-ASCII character in a config stops ``medrl fit`` before it starts."""
    for config in sorted([*(REPO / "configs").glob("*.yaml"), *(REPO / "medrl" / "configs").glob("*.yaml")]):
        text = config.read_bytes()
        assert text.isascii(), f"{config.name}: non-ASCII byte at {next(i for i, b in enumerate(text) if b > 127)}"


def test_configs_naming_the_old_class_path_still_parse(tmp_path):
    """``AgentsModule`` was ``medrl.training.refiner.RefinerModule``: users' configs and checkpoints may name it."""
    old = tmp_path / "old.yaml"
    old.write_text(RECIPE.read_text(encoding="ascii").replace("medrl.training.agents.AgentsModule",
                                                               "medrl.training.refiner.RefinerModule"), encoding="ascii")
    result = subprocess.run([sys.executable, "-m", "medrl.cli", "fit", "--config", str(old), "--print_config"],
                            env=environment(), capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "class_path: medrl.training.refiner.RefinerModule" in result.stdout
