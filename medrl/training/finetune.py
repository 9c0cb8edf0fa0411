"""``medrl finetune``: teach trained agents from clinicians' reviews, and write a new checkpoint.

The run is an ordinary LightningCLI ``fit`` of :class:`~medrl.training.refiner.RefinerModule`, whose
configuration is layered, later layers winning:

1. the checkpoint's own settings (architecture, action set, hints, soft start, preprocessing), so
   the fine-tuned agents see scans exactly as before and the weights fit;
2. fine-tuning defaults (:data:`FINETUNE_DEFAULTS`: a small learning rate, no warm start, a short run;
   the anchor to the starting policy on when the reviews are the only data, :data:`ANCHOR_WITHOUT_DATASET`);
3. the user's ``--config`` files and dotted overrides (``--trainer.max_steps=500``).

The policy (and segmenter) start from the checkpoint (``model.init_args.init_from``); the data are the
feedback store's reviews (``data.feedback``), optionally mixed with the original dataset so the
agents keep what they knew (``data.dataset``). The layered base config, Lightning's resolved config
and the run's checkpoints go to ``<output>.run/``; the final agents are written atomically to
``output``. The input checkpoint is never modified, and a killed run resumes with ``resume=True``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import yaml

from medrl.data.atomic import atomic_path, refuse_to_overwrite
from medrl.errors import MedrlInputError
from medrl.feedback.cases import check_store
from medrl.training.bundle import read_checkpoint

logger = logging.getLogger("medrl")

FINETUNE_DEFAULTS = {
    "model": {"lr": 3e-4, "segmenter_fraction": 0.5, "a2c": {"warm_start_updates": 0}},
    "data": {"batch_size": 4, "patches_per_case": 1, "feedback_repeats": 1},
    "trainer": {"max_steps": 300, "log_every_n_steps": 10, "check_val_every_n_epoch": 10, "num_sanity_val_steps": 0},
}
"""Fine-tuning settings applied on top of the checkpoint's (model keys are ``RefinerModule`` arguments)."""

ANCHOR_WITHOUT_DATASET = 1.0
"""Default ``a2c.anchor_weight`` when the reviews are the only data. Corrections mark only errors: alone,
they teach "flip every voxel" (measured: Dice 0.87 -> 0.31 on unseen scans, see
``benchmarks/bench_feedback_finetune.py``); the anchor holds the agents near the policy they start
from wherever no target is known. With a labelled dataset mixed in, its labels do that (and better:
the anchor roughly halved the gain on the corrected error there), so the default is 0."""

PREPROCESSING_TO_DATA = ("spacing", "intensity", "ct_window", "mr_percentiles", "crop_foreground", "foreground_labels")


def _plain(value):
    """Tuples to lists, recursively, so the config can be written as YAML."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _merge(base: dict, update: dict) -> dict:
    """``base`` updated by ``update``, nested dicts merged key by key."""
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def default_output(checkpoint: str | os.PathLike) -> Path:
    """``<folder>/<stem>_finetuned.ckpt`` beside the input checkpoint."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}_finetuned.ckpt")


def run_folder(output: str | os.PathLike) -> Path:
    """Where a fine-tuning run keeps its config, logs and resumable checkpoints: ``<output>.run/``."""
    output = Path(output)
    return output.with_name(f"{output.name}.run")


def base_config(checkpoint: str | os.PathLike, feedback: str | os.PathLike, dataset: str | None, run: Path) -> dict:
    """Layers 1 and 2 of the run's configuration (see the module docstring) as a LightningCLI config dict.

    Raises:
        MedrlInputError: the checkpoint is not a medrl agents checkpoint with its training settings.
    """
    saved = read_checkpoint(checkpoint)
    settings = dict(saved.get("hyper_parameters") or {})
    if not saved["medrl"].get("policy") or "policy_channels" not in settings:
        raise MedrlInputError(checkpoint, "not an agents checkpoint from medrl fit or medrl demo (no policy settings)")
    model = {key: value for key, value in settings.items() if not key.startswith("_")}
    model.update(segmenter_checkpoint=None, init_from=os.fspath(Path(checkpoint).resolve()))
    preprocessing = saved["medrl"].get("preprocessing") or {}
    data = {key: preprocessing[key] for key in PREPROCESSING_TO_DATA if key in preprocessing}
    data.update(dataset=dataset, feedback=os.fspath(Path(feedback).resolve()), patch_size=list(settings.get("roi_size", (32,) * 3)))
    config = {
        "seed_everything": 0,
        "model": {"class_path": "medrl.training.refiner.RefinerModule", "init_args": model},
        "data": data,
        "trainer": {"default_root_dir": os.fspath(run),
                    "logger": {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": os.fspath(run)}},
                    "callbacks": [{"class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
                                   "init_args": {"dirpath": os.fspath(run / "checkpoints"), "save_last": True,
                                                 "every_n_train_steps": 50}}]},
    }
    anchor = {"a2c": {"anchor_weight": 0.0 if dataset else ANCHOR_WITHOUT_DATASET}}
    defaults = {"model": {"init_args": _merge(FINETUNE_DEFAULTS["model"], anchor)}, "data": FINETUNE_DEFAULTS["data"],
                "trainer": FINETUNE_DEFAULTS["trainer"]}
    return _plain(_merge(config, defaults))


def run_finetune(checkpoint: str | os.PathLike, feedback: str | os.PathLike, output: str | os.PathLike | None = None,
                 dataset: str | None = None, configs: Sequence[str] = (), overrides: Sequence[str] = (),
                 resume: bool = False, overwrite: bool = False) -> Path:
    """Fine-tune the agents of ``checkpoint`` on the reviews of the feedback store ``feedback``.

    Args:
        checkpoint: a medrl agents checkpoint (kept as it is).
        feedback: a feedback store folder (:class:`medrl.feedback.store.FeedbackStore`).
        output: the new checkpoint (default :func:`default_output`); never the input.
        dataset: optional labelled dataset mixed in (its validation cases are validated on).
        configs: LightningCLI config files applied after the defaults.
        overrides: LightningCLI dotted overrides (``--trainer.max_steps=500``), applied last.
        resume: continue a killed run from ``<output>.run/checkpoints/last.ckpt``.
        overwrite: replace an existing ``output``.

    Returns:
        the written checkpoint's path.
    """
    output = Path(output) if output is not None else default_output(checkpoint)
    if output.suffix != ".ckpt":
        raise MedrlInputError(output, "the fine-tuned checkpoint's name must end in .ckpt")
    refuse_to_overwrite(output, overwrite, inputs=(checkpoint,))
    check_store(feedback)
    run = run_folder(output)
    last = run / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        raise MedrlInputError(last, "nothing to resume: no last checkpoint of this fine-tuning run")
    config = base_config(checkpoint, feedback, dataset, run)
    run.mkdir(parents=True, exist_ok=True)
    base = run / "finetune_base.yaml"
    with atomic_path(base) as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    args = ["--config", os.fspath(base)]
    for extra in configs:
        args += ["--config", os.fspath(extra)]
    trainer = _fit(args + list(overrides), ckpt_path=os.fspath(last) if resume else None)
    # the agents and what inference needs, without optimizer state (the run's own checkpoints keep that)
    if trainer.is_global_zero:
        with atomic_path(output) as tmp:
            trainer.save_checkpoint(tmp, weights_only=True)
    else:
        trainer.save_checkpoint(output, weights_only=True)  # a collective call; only rank 0 writes
    return output


def _fit(args: list[str], ckpt_path: str | None):
    """Build LightningCLI from ``args`` and run ``fit``; returns the trainer."""
    from pytorch_lightning.cli import LightningCLI

    from medrl.training.lightning_cli import cli_kwargs

    cli = LightningCLI(args=args, run=False, **cli_kwargs())
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path)
    return cli.trainer
