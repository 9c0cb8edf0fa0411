"""``medrl fit | validate | test --config configs/X.yaml``: Lightning's CLI over medrl's modules.

The model is chosen in the config (``model.class_path``: ``medrl.training.segmenter.SegmenterModule``
or ``medrl.training.agents.AgentsModule``); the data is always :class:`MedrlDataModule`. Any
argument can be overridden on the command line (``--trainer.devices=2``); the resolved config is
saved beside each run's logs. Training shows one bar of optimizer steps out of the run's total, with samples
per second (:mod:`medrl.training.progress`).
"""

from __future__ import annotations

import sys
from typing import Sequence

import pytorch_lightning as pl

from medrl.training.datamodule import MedrlDataModule
from medrl.training.progress import MedrlCLI

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test")


def cli_kwargs() -> dict:
    """LightningCLI's arguments for medrl: any LightningModule as the model, MedrlDataModule as the data."""
    return dict(model_class=pl.LightningModule, datamodule_class=MedrlDataModule, subclass_mode_model=True,
                save_config_kwargs={"overwrite": True}, parser_kwargs={"prog": "medrl"}, auto_configure_optimizers=False)


def run_lightning_cli(argv: Sequence[str]) -> None:
    """Run one of :data:`LIGHTNING_SUBCOMMANDS` with LightningCLI (``argv`` starts with it)."""
    MedrlCLI(args=list(argv), **cli_kwargs())


if __name__ == "__main__":
    run_lightning_cli(sys.argv[1:])
