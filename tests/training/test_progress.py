"""Training progress counts optimizer steps out of the run's total (not the epoch's batches), with samples/s."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.demos.boring_classes import BoringModel

from medrl.training.lightning_cli import cli_kwargs
from medrl.training.progress import MedrlCLI, StepProgressBar, samples_in
from tests.training.cli_run import REPO, TINY


def _fit(bar: StepProgressBar, max_steps: int, tmp_path, ckpt_path=None) -> pl.Trainer:
    trainer = pl.Trainer(max_steps=max_steps, limit_train_batches=3, limit_val_batches=0, callbacks=[bar], logger=False,
                         enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu")
    trainer.fit(BoringModel(), ckpt_path=ckpt_path)
    return trainer


def test_the_bar_runs_over_the_runs_steps_across_epochs(tmp_path):
    bar = StepProgressBar()
    _fit(bar, 7, tmp_path)  # 3 batches per epoch: 3 epochs
    assert bar.train_progress_bar.total == 7 and bar.train_progress_bar.n == 7
    assert "epoch 2" in bar.train_progress_bar.desc
    assert bar.samples_per_second() > 0


def test_a_resumed_run_starts_the_bar_at_its_step(tmp_path):
    trainer = _fit(StepProgressBar(), 4, tmp_path)
    trainer.save_checkpoint(tmp_path / "at4.ckpt")
    bar = StepProgressBar()
    _fit(bar, 9, tmp_path, ckpt_path=tmp_path / "at4.ckpt")
    assert bar.train_progress_bar.initial == 4 and bar.train_progress_bar.n == 9 and bar.train_progress_bar.total == 9


def test_samples_are_counted_from_the_batch_image():
    assert samples_in({"image": torch.zeros(6, 1, 4, 4, 4)}) == 6 and samples_in(torch.zeros(3, 2)) == 3


@pytest.mark.parametrize("enabled", [True, False])
def test_medrl_fit_trains_with_the_step_bar_unless_bars_are_off(tmp_path, monkeypatch, enabled):
    monkeypatch.chdir(tmp_path)
    args = ["--config", str(REPO / "medrl" / "configs" / "demo.yaml"), *TINY, f"--trainer.enable_progress_bar={enabled}"]
    cli = MedrlCLI(args=args, run=False, **cli_kwargs())
    bars = [c for c in cli.trainer.callbacks if isinstance(c, pl.callbacks.ProgressBar)]
    assert [type(b) for b in bars] == ([StepProgressBar] if enabled else [])
