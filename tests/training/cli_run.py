"""Run ``medrl fit`` with medrl/configs/demo.yaml shrunk to seconds, in a subprocess, in a scratch folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "--data.demo_cases=[4, 1, 1]", "--data.patch_size=[16, 16, 16]", "--data.batch_size=1",
    "--model.init_args.policy_channels=[4, 8]", "--model.init_args.policy_strides=[2]",
    "--model.init_args.interactions=2", "--model.init_args.val_interactions=1", "--model.init_args.roi_size=[16, 16, 16]",
    "--model.init_args.a2c.warm_start_updates=2", "--trainer.enable_progress_bar=false",
    "--trainer.check_val_every_n_epoch=1", "--data.max_validation_cases=1", "--trainer.log_every_n_steps=1",
]


def fit_command(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "medrl.cli", "fit", "--config", str(REPO / "medrl" / "configs" / "demo.yaml"), *TINY, *overrides]


def environment() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    env.pop("MASTER_PORT", None)
    return env


def run_fit(cwd: Path, *overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(fit_command(*overrides), cwd=cwd, env=environment(), capture_output=True, encoding="utf-8",
                          errors="replace", timeout=timeout)


def checkpoint_step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


def kill_once_checkpointed(command: list[str], cwd: Path, last: Path, step: int, timeout: float = 240) -> int:
    """Start ``command`` in its own process group, SIGKILL it once ``last`` holds at least ``step`` optimizer
    steps (or after ``timeout`` seconds, or when it exits by itself), and return the step ``last`` holds then
    (0 when it was never written)."""
    process = subprocess.Popen(command, cwd=cwd, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if last.is_file() and checkpoint_step(last) >= step:
                break
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return checkpoint_step(last) if last.is_file() else 0
