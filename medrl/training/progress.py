"""Training progress that tells the truth: optimizer steps out of the run's total, with samples per second.

Lightning's own bar counts the batches of the current epoch ("Epoch 9: 4/4") even when a run is set by its
steps (the demo trains 700); medrl's runs are, so :class:`StepProgressBar` shows one bar over the whole run::

    training (epoch 9):  41%|████      | 287/700 [00:52<01:15, 5.47it/s, samples/s=21.9, train/reward=0.031]

The total is Lightning's ``trainer.estimated_stepping_batches`` (``max_steps``, or the epochs' batches when
only ``max_epochs`` is set); a resumed run starts the bar at its restored step. :class:`MedrlCLI` adds the bar
to ``medrl fit`` and ``medrl finetune`` unless ``--trainer.enable_progress_bar=false`` or a config already
names a progress bar.
"""

from __future__ import annotations

import math
import time

from pytorch_lightning.callbacks import ProgressBar, TQDMProgressBar
from pytorch_lightning.cli import LightningCLI


class StepProgressBar(TQDMProgressBar):
    """A tqdm bar over the run's optimizer steps (not the epoch's batches), with ``samples/s`` in its postfix."""

    def __init__(self, refresh_rate: int = 1):
        super().__init__(refresh_rate=refresh_rate)
        self._samples, self._clock, self._first_step = 0, None, 0

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        total = trainer.estimated_stepping_batches
        self.train_progress_bar.reset(total=None if not math.isfinite(total) else int(total))
        self.train_progress_bar.initial = self._first_step = trainer.global_step  # a resumed run goes on from there
        self.train_progress_bar.n = trainer.global_step
        self._samples, self._clock = 0, time.perf_counter()

    def on_train_epoch_start(self, trainer, *_) -> None:
        self.train_progress_bar.set_description(f"training (epoch {trainer.current_epoch})")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._samples += samples_in(batch)
        step, bar = trainer.global_step, self.train_progress_bar
        if bar is not None and self._should_update(step, bar.total or 0):
            bar.n = step
            bar.set_postfix({"samples/s": f"{self.samples_per_second():.1f}", **self.get_metrics(trainer, pl_module)})
            bar.refresh()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix({"samples/s": f"{self.samples_per_second():.1f}",
                                                 **self.get_metrics(trainer, pl_module)})

    def samples_per_second(self) -> float:
        """Training samples (patches) per second since the run (or its resumption) started."""
        seconds = time.perf_counter() - (self._clock or time.perf_counter())
        return self._samples / seconds if seconds > 0 else 0.0


def samples_in(batch) -> int:
    """How many samples a training batch holds: the first dimension of its ``image`` (or of itself)."""
    image = batch.get("image") if isinstance(batch, dict) else batch
    shape = getattr(image, "shape", None)
    return int(shape[0]) if shape else 0


class MedrlCLI(LightningCLI):
    """LightningCLI that trains with :class:`StepProgressBar` (unless the bar is off or a config sets one)."""

    def instantiate_trainer(self, **kwargs):
        trainer = self._get(self.config_init, "trainer", default={})
        callbacks = trainer.get("callbacks")
        callbacks = [] if callbacks is None else list(callbacks) if isinstance(callbacks, list) else [callbacks]
        wanted = trainer.get("enable_progress_bar", True) is not False
        if wanted and "callbacks" not in kwargs and not any(isinstance(c, ProgressBar) for c in callbacks):
            kwargs["callbacks"] = [*callbacks, StepProgressBar()]
        return super().instantiate_trainer(**kwargs)
