"""``medrl fit`` end to end in subprocesses: one checkpoint with everything inference needs, DDP on
two CPU processes, and a run killed with SIGKILL that resumes from its last checkpoint."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from medrl.models.checkpoint import read_checkpoint
from tests.training.cli_run import REPO, TINY, checkpoint_step, environment, fit_command, kill_once_checkpointed, run_fit

CHECKPOINTS = "medrl_runs/demo/checkpoints"


def test_fit_writes_a_checkpoint_that_inference_can_load(tmp_path):
    result = run_fit(tmp_path, "--trainer.max_steps=3")
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = read_checkpoint(tmp_path / CHECKPOINTS / "last.ckpt")  # weights_only=True inside
    bundle = checkpoint["medrl"]
    assert checkpoint["global_step"] == 3
    assert bundle["policy"]["architecture"]["channels"] == [4, 8]
    assert list(bundle["env"]["deltas"]) == [-0.4, -0.2, -0.1, 0.0, 0.1, 0.2, 0.4]
    assert bundle["preprocessing"]["intensity"] == "ct" and bundle["agents"]["kind"] == "voxel"
    assert any(key.startswith("policy.") for key in checkpoint["state_dict"])
    saved_configs = list((tmp_path / "medrl_runs" / "demo").rglob("config.yaml"))
    assert saved_configs and "policy_channels" in saved_configs[0].read_text(encoding="utf-8")  # the resolved config is kept
    assert (tmp_path / "medrl_runs" / "demo_data" / "dataset.json").is_file()  # demo data made on first use

    # validate from the checkpoint file: LightningCLI rebuilds the module from the checkpoint's settings
    validate = [sys.executable, "-m", "medrl.cli", "validate", "--config", str(REPO / "medrl" / "configs" / "demo.yaml"), *TINY,
                f"--ckpt_path={tmp_path / CHECKPOINTS / 'last.ckpt'}"]
    result = subprocess.run(validate, cwd=tmp_path, env=environment(), capture_output=True, encoding="utf-8", errors="replace")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val/dice_gain" in result.stdout and "val/nsd" in result.stdout and "val/hd95_mm" in result.stdout


def test_ddp_on_two_cpu_processes(tmp_path):
    """Both ranks start and train on their half of the data; only one checkpoint file is written."""
    result = run_fit(tmp_path, "--trainer.max_steps=4", "--trainer.accelerator=cpu", "--trainer.devices=2",
                     "--trainer.strategy=ddp", timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    files = sorted(p.name for p in (tmp_path / CHECKPOINTS).iterdir())
    assert files == ["last.ckpt"]
    checkpoint = torch.load(tmp_path / CHECKPOINTS / "last.ckpt", map_location="cpu", weights_only=True)
    # 4 training cases, batch 1: a single process would finish 1 epoch in 4 steps; each DDP rank gets
    # 2 cases, so the 4 steps make 2 epochs (the saved epoch counter is the number of epochs done)
    assert checkpoint["global_step"] == 4 and checkpoint["epoch"] == 2
    metrics = next((tmp_path / "medrl_runs" / "demo").rglob("metrics.csv")).read_text(encoding="utf-8")
    assert "val/dice_gain" in metrics and "train/reward" in metrics


def test_killed_run_resumes_from_last_checkpoint(tmp_path):
    every_2_steps = "--trainer.callbacks.init_args.every_n_train_steps=2"
    last = tmp_path / CHECKPOINTS / "last.ckpt"
    killed_at = kill_once_checkpointed(fit_command("--trainer.max_steps=1000", every_2_steps), tmp_path, last, step=4)
    assert killed_at >= 4, "the run never wrote a checkpoint"

    result = run_fit(tmp_path, "--ckpt_path=last", f"--trainer.max_steps={killed_at + 2}", every_2_steps)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Restoring states from the checkpoint path" in result.stdout + result.stderr
    assert checkpoint_step(last) == killed_at + 2


@pytest.mark.parametrize("configs", [["segmenter"], ["refiner_voxel"], ["refiner_region"], ["refiner_voxel", "multinode"],
                                     ["click_network"], ["click_network_demo"], ["refiner_voxel", "tune_dice_gain"],
                                     ["refiner_voxel", "tune_surface_gain"]])
def test_shipped_configs_parse(tmp_path, configs):
    """Every config in configs/ is valid for LightningCLI (checked with --print_config, no training)."""
    command = [sys.executable, "-m", "medrl.cli", "fit", "--print_config"]
    for name in configs:
        command += ["--config", str(REPO / "configs" / f"{name}.yaml")]
    result = subprocess.run(command, cwd=tmp_path, env=environment(), capture_output=True, encoding="utf-8", errors="replace")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "class_path: medrl.training." in result.stdout


def test_region_agents_train_through_the_cli(tmp_path):
    result = run_fit(tmp_path, "--trainer.max_steps=2", "--model.init_args.agents=region", "--model.init_args.region_size_mm=4.0")
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = read_checkpoint(tmp_path / CHECKPOINTS / "last.ckpt")
    assert checkpoint["medrl"]["agents"]["kind"] == "region" and checkpoint["global_step"] == 2


def test_fit_trains_in_bf16_mixed_precision_on_the_cpu(tmp_path):
    result = run_fit(tmp_path, "--trainer.max_steps=2", "--trainer.precision=bf16-mixed")
    assert result.returncode == 0, result.stderr[-3000:]
    assert checkpoint_step(tmp_path / CHECKPOINTS / "last.ckpt") == 2
