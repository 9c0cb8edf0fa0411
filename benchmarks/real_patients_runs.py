"""The real-patient benchmark's work, cached in its work folder: training by the documented commands, the
segmenter's starting masks, and the robot-clinician evaluations.

Every model trains with ``medrl fit --config CONFIG --data.dataset [...]`` in a subprocess, exactly as a user runs
the recipe (the config's relative output folders land in the model's own folder); a JSON record beside it keeps
the command, its wall time, the machine's load and the settings, and a later run with the same settings reuses
the model. Evaluations are ``medrl evaluate``'s :func:`~medrl.evaluation.run.run_evaluation` with the brush as an
extra method, each kept in its own folder with the settings it ran with.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from real_patients_plan import BRAIN_STRUCTURES, BRATS_WHOLE_TUMOUR, TestTask

from medrl.data.atomic import write_text_atomically
from medrl.data.datasets import load_dataset
from medrl.data.writers import write_mask
from medrl.evaluation.methods import Brush
from medrl.evaluation.run import run_evaluation
from medrl.evaluation.settings import EvaluationSettings
from medrl.inference.refiner import Refiner

REPOSITORY = Path(__file__).resolve().parents[1]
AGENTS_CONFIG = REPOSITORY / "configs" / "agents_any_structure.yaml"
CLICK_NETWORK_CONFIG = REPOSITORY / "configs" / "click_network_any_structure.yaml"
SEGMENTER_CONFIG = REPOSITORY / "configs" / "segmenter.yaml"
BRAIN_CLASSES = [[value] for values in BRAIN_STRUCTURES.values() for value in values]


@dataclass(frozen=True)
class Budget:
    """What the benchmark changes in the documented configs (nothing, for the agents and the click network, at
    the full budget: ``extra`` stays empty).

    Attributes:
        recipe_overrides: extra ``medrl fit`` arguments for the agents and the click network (the quick test run's).
        segmenter_minutes: wall-time budget of each segmenter.
        segmenter_patch: patch and window edge of the segmenters, in voxels.
        segmenter_overrides: extra ``medrl fit`` arguments for the segmenters.
        interactions: K of the evaluation.
        max_cases: evaluate at most this many test scans per task (``None``: all).
    """

    recipe_overrides: tuple[str, ...] = ()
    segmenter_minutes: int = 6
    segmenter_patch: int = 48
    segmenter_overrides: tuple[str, ...] = ()
    interactions: int = 10
    max_cases: int | None = None


FULL = Budget()
QUICK = Budget(recipe_overrides=("--trainer.max_steps=3", "--trainer.val_check_interval=3", "--data.patch_size=[16,16,16]",
                                 "--model.init_args.roi_size=[16,16,16]", "--model.init_args.interactions=2",
                                 "--data.visits_per_epoch=8", "--data.max_validation_cases=1", "--data.num_workers=0",
                                 "--model.init_args.val_interactions=1"),
               segmenter_minutes=1, segmenter_patch=16,
               segmenter_overrides=("--trainer.max_steps=3", "--trainer.check_val_every_n_epoch=1000", "--data.num_workers=0",
                                    "--model.init_args.channels=[4,8]", "--model.init_args.strides=[2]"),
               interactions=3, max_cases=1)


@dataclass(frozen=True)
class TrainedModel:
    """A model trained by one ``medrl fit`` command.

    Attributes:
        checkpoint: its last checkpoint.
        command: the command, as a shell line (run in the model's folder).
        seconds: wall time of the command (start-up, data caching, training, validation).
        steps: optimizer steps it made.
        load_before, load_after: the machine's 1-minute load average around it.
        settings: what it depends on (a later run retrains when they differ).
    """

    checkpoint: str
    command: str
    seconds: float
    steps: int
    load_before: float
    load_after: float
    settings: dict


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def train(name: str, folder: Path, config: Path, datasets: list[Path], overrides: list[str], threads: int) -> TrainedModel:
    """Run ``medrl fit --config CONFIG --data.dataset [DATASETS] OVERRIDES`` in ``folder`` (or reuse its earlier run).

    The config writes its checkpoints to a relative folder (``runs/<name>/checkpoints``), which lands in ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / "trained.json"
    data_argument = datasets[0] if len(datasets) == 1 else "[" + ", ".join(str(d) for d in datasets) + "]"
    command = ["medrl", "fit", "--config", str(config), "--data.dataset", str(data_argument), *overrides]
    settings = {"config": str(config), "config_sha256": _file_digest(config), "data": [str(d) for d in datasets],
                "data_sha256": [_file_digest(d) for d in datasets], "overrides": list(overrides)}
    if record_path.is_file():
        record = TrainedModel(**json.loads(record_path.read_text(encoding="utf-8")))
        if record.settings == settings and Path(record.checkpoint).is_file():
            print(f"  {name}: trained earlier ({record.seconds / 60:.1f} min), reusing {record.checkpoint}", flush=True)
            return record
    print(f"  {name}: {shlex.join(command)}", flush=True)
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    load_before, start = os.getloadavg()[0], time.perf_counter()
    with open(folder / "fit.log", "w", encoding="utf-8") as log:
        result = subprocess.run([sys.executable, "-m", "medrl.cli", *command[1:]], cwd=folder, env=environment, stdout=log,
                                stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{name}: medrl fit failed (exit {result.returncode}); see {folder / 'fit.log'}")
    checkpoint = next(folder.glob("runs/*/checkpoints/last.ckpt"))
    import torch

    steps = int(torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"])
    record = TrainedModel(str(checkpoint.resolve()), shlex.join(command), round(seconds, 1), steps, load_before,
                          os.getloadavg()[0], settings)
    write_text_atomically(record_path, json.dumps(dataclasses.asdict(record), indent=2) + "\n")
    print(f"  {name}: {seconds / 60:.1f} min, {steps} steps", flush=True)
    return record


def train_recipe(name: str, folder: Path, config: Path, datasets: list[Path], budget: Budget, threads: int) -> TrainedModel:
    """The agents or the click network by their documented config, at the budget's overrides (none at full budget)."""
    return train(name, folder, config, datasets, list(budget.recipe_overrides), threads)


def train_segmenter(name: str, folder: Path, dataset: Path, budget: Budget, threads: int, classes=None, labels=None) -> TrainedModel:
    """medrl's segmenter (``configs/segmenter.yaml``) on one training dataset, per scan intensity preset and spacing,
    for ``budget.segmenter_minutes``: multi-class with ``classes`` (label values per class), else binary on ``labels``."""
    patch = f"[{budget.segmenter_patch},{budget.segmenter_patch},{budget.segmenter_patch}]"
    overrides = ["--data.intensity=auto", "--data.spacing=null", f"--data.patch_size={patch}", f"--model.init_args.roi_size={patch}",
                 "--data.batch_size=2", "--data.patches_per_case=2", "--data.num_workers=1", "--data.validation_fraction=0.1",
                 "--data.max_validation_cases=2", "--trainer.max_epochs=100000", "--trainer.check_val_every_n_epoch=50",
                 f"--trainer.max_time=00:00:{budget.segmenter_minutes:02d}:00"]
    if classes is not None:
        overrides += [f"--data.label_classes={json.dumps(classes)}", f"--model.init_args.classes={json.dumps(classes)}"]
    if labels is not None:
        overrides.append(f"--data.foreground_labels={json.dumps(list(labels))}")
    return train(name, folder, SEGMENTER_CONFIG, [dataset], [*overrides, *budget.segmenter_overrides], threads)


def segmenter_starts(segmenter: TrainedModel, test_dataset: Path, folder: Path) -> Path:
    """Write the segmenter's mask of every test scan (a label map with the dataset's label values, on the scan's own
    grid) and a copy of the test dataset that names them as each case's ``initial`` mask; return that copy."""
    output = folder / f"{test_dataset.stem}_segmenter.json"
    if output.is_file():
        return output
    refiner = Refiner.from_checkpoint(segmenter.checkpoint)
    multi_class = bool(refiner.checkpoint.segmenter.extras.get("classes"))
    cases = []
    for case in load_dataset(test_dataset, "test"):
        data = refiner.prepare(case["image"], modality=case.get("modality"))
        labels = refiner.segment_labels(data) if multi_class else refiner.segment(data)
        mask = refiner.to_input_grid(data, labels.float())[0].numpy().astype(np.uint8)
        path = folder / "masks" / f"{Path(case['image']).name.split('.')[0]}_segmenter.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_mask(mask, data["input_affine"], path, overwrite=True)
        cases.append({**{k: v for k, v in case.items() if v is not None}, "initial": str(path)})
    document = json.loads(test_dataset.read_text(encoding="utf-8"))
    write_text_atomically(output, json.dumps({**document, "test": cases}, indent=1) + "\n")
    return output


def segmenter_for(task: TestTask) -> str:
    """Which of a fold's segmenters makes a task's starting masks."""
    return {"brain": "segmenter_brain", "BraTS whole tumour": "segmenter_brats"}.get(task.group, "segmenter_sarcoma")


SEGMENTER_LABELS = {"segmenter_brain": {"classes": BRAIN_CLASSES}, "segmenter_brats": {"labels": BRATS_WHOLE_TUMOUR},
                    "segmenter_sarcoma": {"labels": (1,)}}


def evaluate(task: TestTask, start: str, dataset: Path, agents: TrainedModel, click_network: TrainedModel, folder: Path,
             budget: Budget, perturbation_dice: tuple[float, float] = (0.6, 0.8)) -> Path:
    """The robot-clinician protocol on one task's held-out scans: the kept start, medrl's agents, the supervised click
    network and the brush, from ``start`` (``perturbed`` or ``initial``: the segmenter's masks in ``dataset``); reused
    when its folder holds a run with the same settings. Returns the folder."""
    settings = EvaluationSettings(
        checkpoint=agents.checkpoint, data=str(dataset), output=str(folder), interactions=budget.interactions,
        compare={"supervised": click_network.checkpoint}, start=start, perturbation_dice=perturbation_dice,
        foreground_labels=task.labels, crop_margin_mm=20.0, max_cases=budget.max_cases, overwrite=True)
    marker = folder / "settings.json"
    wanted = json.dumps(dataclasses.asdict(settings), sort_keys=True)
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted and (folder / "interactions.csv").is_file():
        return folder
    print(f"  evaluating {task.group} / {task.name} from {start} ...", flush=True)
    run_evaluation(settings, extra_methods=[Brush()], progress=False)
    write_text_atomically(marker, wanted)
    return folder
