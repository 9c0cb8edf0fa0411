"""``medrl finetune``: continue training agents — on clinicians' reviews, with a task reward, or both —
and write a new checkpoint.

The run is an ordinary LightningCLI ``fit`` of :class:`~medrl.training.agents.AgentsModule`, whose
configuration is layered, later layers winning:

1. the checkpoint's own settings (architecture, action set, hints, soft start, preprocessing), so
   the fine-tuned agents see scans exactly as before and the weights fit, and the tasks it trained on
   (:data:`TASK_SETTINGS`: e.g. the any-structure recipe's one task per label), so a labelled dataset
   mixed in teaches what it taught before;
2. fine-tuning defaults (:data:`FINETUNE_DEFAULTS`: a small learning rate, a short run; the anchor to
   the starting policy on when the reviews are the only data, :data:`ANCHOR_WITHOUT_DATASET`), and the
   checkpoint's own learning rule carried on: the rest of its behaviour-cloning warm start, none when
   its run had finished it (agents that always learnt by cloning, as the any-structure recipe's, go on
   cloning; agents that had gone on to A2C go on with A2C);
3. the user's ``--config`` files and dotted overrides (``--trainer.max_steps=500``).

The policy (and segmenter) start from the checkpoint (``model.init_args.init_from``); the data are the
feedback store's reviews (``data.feedback``), a labelled dataset (``data.dataset``), or both (the
dataset keeps what the agents knew). **Task-reward tuning** (the two-step recipe of Pinto et al. 2023:
a CE-gain policy first, then a task reward) is the same run with a reward config, e.g.
``configs/tune_surface_gain.yaml``, and ``select_by``: the starting agents are validated, the best
tuned checkpoint by that metric is kept, and the better of the two is written. The layered base
config, Lightning's resolved config and the run's checkpoints go to ``<output>.run/``; the final
agents are written atomically to ``output``. The input checkpoint is never modified, and a killed
run resumes with ``resume=True``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import yaml

from medrl.data.atomic import atomic_path, refuse_to_overwrite, write_text_atomically
from medrl.errors import MedrlInputError
from medrl.feedback.cases import check_store
from medrl.models.checkpoint import Checkpoint, read_checkpoint

logger = logging.getLogger("medrl")

FINETUNE_DEFAULTS = {
    "model": {"lr": 3e-4, "segmenter_fraction": 0.5},
    "data": {"batch_size": 4, "patches_per_case": 1, "feedback_repeats": 1},
    "trainer": {"max_steps": 300, "log_every_n_steps": 10, "check_val_every_n_epoch": 10, "num_sanity_val_steps": 0},
}
"""Fine-tuning settings applied on top of the checkpoint's (model keys are ``AgentsModule`` arguments)."""

ANCHOR_WITHOUT_DATASET = 1.0
"""Default ``a2c.anchor_weight`` when the reviews are the only data. Corrections mark only errors: alone,
they teach "flip every voxel" (measured: Dice 0.87 -> 0.31 on unseen scans, see
``benchmarks/bench_feedback_finetune.py``); the anchor holds the agents near the policy they start
from wherever no target is known. With a labelled dataset mixed in, its labels do that (and better:
the anchor roughly halved the gain on the corrected error there), so the default is 0."""

PREPROCESSING_TO_DATA = ("spacing", "intensity", "ct_window", "mr_percentiles", "crop_foreground", "foreground_labels")
TASK_SETTINGS = ("tasks", "min_task_voxels", "union_task", "balance_datasets", "perturbation_dice", "visits_per_epoch")
"""DataModule settings carried from the checkpoint's training run (checkpoints that saved them)."""


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


def base_config(checkpoint: str | os.PathLike, feedback: str | os.PathLike | None, dataset: str | None, run: Path) -> dict:
    """Layers 1 and 2 of the run's configuration (see the module docstring) as a LightningCLI config dict.

    Raises:
        MedrlInputError: the checkpoint is not a medrl agents checkpoint with its training settings.
    """
    saved = Checkpoint.load(checkpoint)
    settings = saved.hyper_parameters
    if saved.policy is None or "policy_channels" not in settings:
        raise MedrlInputError(checkpoint, "not an agents checkpoint from medrl fit or medrl demo (no policy settings)")
    model = {key: value for key, value in settings.items() if not key.startswith("_")}
    model.update(segmenter_checkpoint=None, init_from=os.fspath(Path(checkpoint).resolve()))
    preprocessing = saved.preprocessing or {}
    data = {key: preprocessing[key] for key in PREPROCESSING_TO_DATA if key in preprocessing}
    data.update({key: saved.data_settings[key] for key in TASK_SETTINGS if key in saved.data_settings})
    data.update(dataset=dataset, feedback=None if feedback is None else os.fspath(Path(feedback).resolve()),
                patch_size=list(settings.get("roi_size", (32,) * 3)))
    config = {
        "seed_everything": 0,
        "model": {"class_path": "medrl.training.agents.AgentsModule", "init_args": model},
        "data": data,
        "trainer": {"default_root_dir": os.fspath(run),
                    "logger": {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": os.fspath(run)}},
                    "callbacks": [{"class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
                                   "init_args": {"dirpath": os.fspath(run / "checkpoints"), "save_last": True,
                                                 "every_n_train_steps": 50}}]},
    }
    warm_start = int((settings.get("a2c") or {}).get("warm_start_updates") or 0)
    anchor = {"a2c": {"anchor_weight": 0.0 if dataset else ANCHOR_WITHOUT_DATASET,
                      "warm_start_updates": max(0, warm_start - saved.global_step)}}
    defaults = {"model": {"init_args": _merge(FINETUNE_DEFAULTS["model"], anchor)}, "data": FINETUNE_DEFAULTS["data"],
                "trainer": FINETUNE_DEFAULTS["trainer"]}
    return _plain(_merge(config, defaults))


@dataclass
class FinetuneResult:
    """What :func:`run_finetune` wrote.

    Attributes:
        output: the written checkpoint.
        select_by: the validation metric that chose between the tuned and the starting agents (or None).
        start_score, best_score: that metric for the starting agents and the best tuned checkpoint.
        kept_start: True when the starting agents were better and were written instead.
    """

    output: Path
    select_by: str | None = None
    start_score: float | None = None
    best_score: float | None = None
    kept_start: bool = False


def run_finetune(checkpoint: str | os.PathLike, feedback: str | os.PathLike | None = None,
                 output: str | os.PathLike | None = None, dataset: str | None = None, configs: Sequence[str] = (),
                 overrides: Sequence[str] = (), resume: bool = False, overwrite: bool = False,
                 select_by: str | None = None) -> FinetuneResult:
    """Fine-tune the agents of ``checkpoint`` on clinicians' reviews, a labelled dataset, or both —
    with the checkpoint's reward or another one given in ``configs`` (task-reward tuning).

    Args:
        checkpoint: a medrl agents checkpoint (kept as it is).
        feedback: a feedback store folder (:class:`medrl.feedback.store.FeedbackStore`), or None.
        output: the new checkpoint (default :func:`default_output`); never the input.
        dataset: a labelled dataset (mixed with the reviews; its validation cases are validated on).
        configs: LightningCLI config files applied after the defaults (e.g. ``configs/tune_surface_gain.yaml``).
        overrides: LightningCLI dotted overrides (``--trainer.max_steps=500``), applied last.
        resume: continue a killed run from ``<output>.run/checkpoints/last.ckpt``.
        overwrite: replace an existing ``output``.
        select_by: a validation metric (``val/nsd``, ``val/dice_5``, ``val/hd95_mm``: lower is better
            for HD95, higher for the others): the starting agents are validated first, the best tuned
            checkpoint by this metric is kept, and whichever of the two is better is written.

    Returns:
        :class:`FinetuneResult`.

    Raises:
        MedrlInputError: neither reviews nor a dataset; ``select_by`` without a dataset to validate on;
            a bad output name; nothing to resume.
    """
    output = Path(output) if output is not None else default_output(checkpoint)
    _check_request(checkpoint, feedback, dataset, output, overwrite, select_by)
    run = run_folder(output)
    last = run / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        raise MedrlInputError(last, "nothing to resume: no last checkpoint of this fine-tuning run")
    args = ["--config", os.fspath(_write_base_config(base_config(checkpoint, feedback, dataset, run), run))]
    for extra in configs:
        args += ["--config", os.fspath(extra)]
    cli = _cli(args + list(overrides))
    result = FinetuneResult(output=output, select_by=select_by)
    selector = _add_selector(cli.trainer, select_by, run) if select_by else None
    if selector is not None and not resume:
        result.start_score = _validate(cli, select_by)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=os.fspath(last) if resume else None)
    if selector is not None:
        result.best_score = None if selector.best_model_score is None else float(selector.best_model_score)
        result.kept_start = _start_is_better(result, selector.mode)
        _load_weights(cli.model, checkpoint if result.kept_start else selector.best_model_path)
    _save(cli.trainer, output)
    return result


def _check_request(checkpoint, feedback, dataset, output: Path, overwrite: bool, select_by: str | None) -> None:
    if feedback is None and dataset is None:
        raise MedrlInputError("finetune", "give clinicians' reviews (--feedback), a labelled dataset (--data), or both")
    if select_by and dataset is None:
        raise MedrlInputError("--select-by", "needs a labelled dataset (--data) whose validation cases are validated on")
    if output.suffix != ".ckpt":
        raise MedrlInputError(output, "the fine-tuned checkpoint's name must end in .ckpt")
    refuse_to_overwrite(output, overwrite, inputs=(checkpoint,))
    if feedback is not None:
        check_store(feedback)


def _write_base_config(config: dict, run: Path) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    base = run / "finetune_base.yaml"
    write_text_atomically(base, yaml.safe_dump(config, sort_keys=False))
    return base


def _cli(args: list[str]):
    """LightningCLI built from ``args``, not run."""
    from medrl.training.lightning_cli import cli_kwargs
    from medrl.training.progress import MedrlCLI

    return MedrlCLI(args=args, run=False, **cli_kwargs())


def _add_selector(trainer, metric: str, run: Path):
    """A ModelCheckpoint keeping the best checkpoint by ``metric`` (lower is better for HD95)."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    selector = ModelCheckpoint(dirpath=run / "best", filename="best", monitor=metric, mode="min" if "hd95" in metric else "max",
                               save_top_k=1, auto_insert_metric_name=False)
    trainer.callbacks.append(selector)
    return selector


def _validate(cli, metric: str) -> float:
    """The starting agents' ``metric`` on the validation cases."""
    scores = cli.trainer.validate(cli.model, datamodule=cli.datamodule, verbose=False)
    if not scores or metric not in scores[0]:
        raise MedrlInputError("--select-by", f"validation logs no {metric!r}; choose e.g. val/nsd, val/dice_5, val/hd95_mm")
    return float(scores[0][metric])


def _start_is_better(result: FinetuneResult, mode: str) -> bool:
    if result.best_score is None:
        return True
    return result.start_score is not None and (result.start_score < result.best_score if mode == "min"
                                               else result.start_score > result.best_score)


def _load_weights(module, path) -> None:
    """Load a checkpoint's weights (policy, segmenter, reference) into ``module``."""
    module.load_state_dict(read_checkpoint(path)["state_dict"])


def _save(trainer, output: Path) -> None:
    """The agents and what inference needs, without optimizer state (the run's own checkpoints keep it)."""
    if trainer.is_global_zero:
        with atomic_path(output) as tmp:
            trainer.save_checkpoint(tmp, weights_only=True)
    else:
        trainer.save_checkpoint(output, weights_only=True)  # a collective call; only rank 0 writes
