"""Training of the benchmark's models, cached in the work folder, each with its measured wall time.

Every model trains with a plain ``pl.Trainer`` as ``medrl demo`` does (no validation, no Lightning
checkpoints, CSV logs), for a fixed number of optimizer steps, from ``pl.seed_everything(seed)``.
A model is trained once: its checkpoint and a JSON record beside it (settings, wall time, torch
threads, load averages, date) are reused by later runs that ask for the same settings; other
settings retrain it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pytorch_lightning as pl
import torch

from medrl.agents.a2c import A2CConfig
from medrl.data.atomic import atomic_path, write_text_atomically
from medrl.demo import DEMO_SEGMENTER_FRACTION, DemoSettings, demo_recipe
from medrl.training.agents import AgentsModule
from medrl.training.click_network import ClickNetworkModule
from medrl.training.datamodule import MedrlDataModule
from medrl.training.label_regimes import LabelRegime
from medrl.training.segmenter import SegmenterModule

DEMO = demo_recipe()
"""The demo's recipe (medrl/configs/demo.yaml): the benchmark's budget is the demo's unless a script says otherwise."""
_AGENTS = DEMO["model"]["init_args"]
CLONING_WEIGHT = float(_AGENTS["a2c"]["cloning_weight"])
"""The agents' behaviour-cloning term after the warm start (the demo's)."""
MAX_GRAD_NORM = float(_AGENTS["a2c"]["max_grad_norm"])
"""The agents' gradient clipping (the demo's)."""


@dataclass(frozen=True)
class Budget:
    """What every model of the benchmark gets; the defaults are ``medrl demo``'s (its recipe and settings).

    Attributes:
        segmenter_steps: optimizer steps of the segmenter (Dice + CE); demo task only.
        agent_steps: optimizer steps of each kind of agents (per-voxel, per-region).
        warm_start_steps: the agents' first steps that clone the oracle action (then A2C + 0.1 cloning).
        click_network_steps: optimizer steps of the supervised click network.
        train_interactions: K of a training episode (agents: K interactions with gradients; click network:
            n − 1 without gradient, n uniform in 1..K, then one supervised step).
        patch_size: edge of the cubic training patch and of the inference window, in voxels.
        batch_size: patches per optimizer step (one patch per case visit).
        channels: UNet channels of every network (strides 2 between levels).
        lr: Adam learning rate of the agents and the click network (the segmenter keeps its 2e-3).
        segmenter_fraction: share of a demo batch whose starting masks are the segmenter's (the rest:
            perturbed labels, Dice drawn in the data module's 0.6-0.85).
    """

    segmenter_steps: int = DemoSettings.segmenter_steps
    agent_steps: int = int(DEMO["trainer"]["max_steps"])
    warm_start_steps: int = int(_AGENTS["a2c"]["warm_start_updates"])
    click_network_steps: int = int(DEMO["trainer"]["max_steps"])
    train_interactions: int = int(_AGENTS["interactions"])
    patch_size: int = int(DEMO["data"]["patch_size"][0])
    batch_size: int = int(DEMO["data"]["batch_size"])
    channels: tuple[int, ...] = tuple(_AGENTS["policy_channels"])
    lr: float = float(_AGENTS["lr"])
    segmenter_fraction: float = DEMO_SEGMENTER_FRACTION

    def longer(self, factor: int) -> "Budget":
        """This budget with ``factor`` times the agents' steps and warm start."""
        return dataclasses.replace(self, agent_steps=self.agent_steps * factor, warm_start_steps=self.warm_start_steps * factor)

    @property
    def strides(self) -> tuple[int, ...]:
        return (2,) * (len(self.channels) - 1)

    @property
    def roi(self) -> tuple[int, int, int]:
        return (self.patch_size,) * 3


@dataclass(frozen=True)
class TrainingRecord:
    """One trained model.

    Attributes:
        checkpoint: the Lightning checkpoint (medrl's inference bundle inside).
        seconds: wall time of ``trainer.fit`` (data caching and all steps), measured when it trained.
        steps: optimizer steps.
        threads: torch threads it trained with.
        load_before, load_after: the machine's 1-minute load average before and after training.
        finished: UTC time training ended (ISO 8601).
        settings: the settings it trained with (a later run reuses the model only when they match).
        code: the medrl code it trained with (:func:`benchdoc_provenance.code_version`).
    """

    checkpoint: str
    seconds: float
    steps: int
    threads: int
    load_before: float
    load_after: float
    finished: str
    settings: dict
    code: str = ""


def quiet_lightning() -> None:
    """Keep the script's output to its own lines: hide Lightning's start-up notes and known warnings."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message="The number of training batches.*")
    warnings.filterwarnings("ignore", message="Found .* module.* in eval mode")


def _trainer(steps: int, logs: Path) -> pl.Trainer:
    return pl.Trainer(
        max_steps=steps, accelerator="cpu", devices=1, logger=pl.loggers.CSVLogger(logs), default_root_dir=logs,
        enable_checkpointing=False, num_sanity_val_steps=0, limit_val_batches=0, log_every_n_steps=10,
        enable_model_summary=False, enable_progress_bar=False,
    )


def read_record(path: Path, settings: dict, ignore: tuple[str, ...] = ()) -> TrainingRecord | None:
    """The record at ``path`` when it and its checkpoint exist and it trained with ``settings`` (JSON-normalised;
    keys in ``ignore`` are results stored with the settings, not settings, and are left out of the match)."""
    if not path.is_file():
        return None
    record = TrainingRecord(**json.loads(path.read_text(encoding="utf-8")))
    recorded = {key: value for key, value in record.settings.items() if key not in ignore}
    if recorded != json.loads(json.dumps(settings)) or not Path(record.checkpoint).is_file():
        return None
    return record


def save_record(path: Path, checkpoint: Path, seconds: float, steps: int, load_before: float, settings: dict,
                code: str) -> TrainingRecord:
    """Write the :class:`TrainingRecord` of a model that just finished training (threads, load after and time of
    day taken now) atomically to ``path``, and return it."""
    record = TrainingRecord(str(checkpoint.resolve()), round(seconds, 1), steps, torch.get_num_threads(), load_before,
                            os.getloadavg()[0], datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            json.loads(json.dumps(settings)), code)
    write_text_atomically(path, json.dumps(asdict(record), indent=2) + "\n")
    return record


def train_cached(name: str, build: Callable[[], pl.LightningModule], data: Callable[[], MedrlDataModule], steps: int,
                 settings: dict, folder: Path, seed: int, code: str = "", resume_from: TrainingRecord | None = None) -> TrainingRecord:
    """Train ``build()`` on ``data()`` for ``steps`` optimizer steps, or reuse an earlier identical run.

    Args:
        name: file stem of the checkpoint (``folder/NAME.ckpt``) and its record (``folder/NAME.json``).
        build, data: make the LightningModule and the data module (called only when training).
        steps: optimizer steps.
        settings: JSON-serialisable description of everything the model depends on.
        folder: where checkpoints, records and CSV logs go.
        seed: ``pl.seed_everything`` seed.
        code: the medrl code this process runs, recorded with the model.
        resume_from: an earlier run of the same model to continue (weights, optimizer and step count) up to
            ``steps`` in all; its wall time is added to this one's.
    """
    checkpoint, record_path = folder / f"{name}.ckpt", folder / f"{name}.json"
    resumed = {} if resume_from is None else {"resumed": {"checkpoint": resume_from.checkpoint, "finished": resume_from.finished}}
    settings = json.loads(json.dumps({**settings, "steps": steps, "seed": seed, **resumed}))
    cached = read_record(record_path, settings)
    if cached is not None:
        print(f"  {name}: trained earlier ({cached.seconds:.0f} s), reusing {checkpoint}")
        return cached
    print(f"  {name}: training {steps} steps ...", flush=True)
    pl.seed_everything(seed, workers=True, verbose=False)
    module, trainer, load_before = build(), _trainer(steps, folder / "logs" / name), os.getloadavg()[0]
    start = time.perf_counter()
    trainer.fit(module, data(), ckpt_path=None if resume_from is None else resume_from.checkpoint)
    seconds = time.perf_counter() - start + (0.0 if resume_from is None else resume_from.seconds)
    with atomic_path(checkpoint) as tmp:
        trainer.save_checkpoint(tmp)
    record = save_record(record_path, checkpoint, seconds, steps, load_before, settings, code)
    print(f"  {name}: {seconds:.0f} s")
    return record


def data_module(dataset: Path, budget: Budget, seed: int, hold_out_validation: bool = True,
                label_regime: LabelRegime | None = None) -> MedrlDataModule:
    """The training data: one ``patch_size``³ patch per case visit, ``batch_size`` per step (CT preset).
    ``hold_out_validation=False`` keeps every training case for training when the dataset has no validation list;
    ``label_regime`` (default: full labels) sets how much of the truth the training cases show."""
    return MedrlDataModule(str(dataset), patch_size=budget.roi, patches_per_case=1, batch_size=budget.batch_size, seed=seed,
                           label_regime=label_regime, **({} if hold_out_validation else {"validation_fraction": 0.0}))


def segmenter(budget: Budget) -> SegmenterModule:
    """The initial segmenter of ``medrl demo`` at this budget's channels and window."""
    return SegmenterModule(channels=budget.channels, strides=budget.strides, roi_size=budget.roi)


def agents(kind: str, budget: Budget, segmenter_checkpoint: str | None) -> AgentsModule:
    """``medrl demo``'s agents (warm start, then A2C with a small cloning term, clipped gradients), of ``kind``
    ``"voxel"`` or ``"region"`` (SLIC supervoxels of about 6 mm)."""
    return AgentsModule(
        segmenter_checkpoint=segmenter_checkpoint, segmenter_fraction=budget.segmenter_fraction, agents=kind,
        interactions=budget.train_interactions, policy_channels=budget.channels, policy_strides=budget.strides,
        lr=budget.lr, roi_size=budget.roi,
        a2c={"warm_start_updates": budget.warm_start_steps, "cloning_weight": CLONING_WEIGHT, "max_grad_norm": MAX_GRAD_NORM},
    )


def click_network(budget: Budget, segmenter_checkpoint: str | None, hint_sigma_mm: float) -> ClickNetworkModule:
    """The supervised baseline on the agents' backbone, data, starting masks and robot clicks (1 per interaction,
    hints of σ = ``hint_sigma_mm``, the agents' value)."""
    return ClickNetworkModule(
        segmenter_checkpoint=segmenter_checkpoint, segmenter_fraction=budget.segmenter_fraction,
        interactions=budget.train_interactions, clicks_per_interaction=1, hint_sigma_mm=hint_sigma_mm, click_radius_mm=0.0,
        previous="mask", channels=budget.channels, strides=budget.strides, num_res_units=0, roi_size=budget.roi, lr=budget.lr,
    )


def _default(cls, name: str):
    return inspect.signature(cls).parameters[name].default


def library_defaults() -> dict:
    """The medrl defaults the benchmark's models train with (read from the classes, for the document)."""
    a2c = A2CConfig()
    return {"soft_start": _default(AgentsModule, "soft_start"), "region_method": _default(AgentsModule, "region_method"),
            "region_size_mm": _default(AgentsModule, "region_size_mm"), "segmenter_lr": _default(SegmenterModule, "lr"),
            "training_perturbation_dice": _default(MedrlDataModule, "perturbation_dice"),
            "ct_window": _default(MedrlDataModule, "ct_window"), "gamma": a2c.gamma, "entropy_coef": a2c.entropy_coef,
            "cloning_weight": CLONING_WEIGHT, "max_grad_norm": MAX_GRAD_NORM}
