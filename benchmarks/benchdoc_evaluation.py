"""The benchmark's tasks and their evaluation with ``medrl evaluate``'s Python function, cached in the work folder.

Each task runs :func:`medrl.evaluation.run.run_evaluation` once with every method: the ``initial``
baseline (starting mask kept), the per-voxel agents (the main checkpoint: its working grid and, for
``segmenter`` starts, its segmenter), the per-region agents, the supervised click network and any
further model of the task's group (the real CT's longer-trained agents). An
evaluation is reused while its ``summary.json`` has the same settings and is newer than every
checkpoint it used.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

from medrl.data.atomic import write_text_atomically
from medrl.evaluation.reports import SUMMARY_JSON
from medrl.evaluation.run import PLOT_PNG, run_evaluation
from medrl.evaluation.settings import EvaluationSettings

MAIN_METHOD = "voxel"
NOT_EVALUATED = ("segmenter",)
TIMING_JSON = "benchdoc_timing.json"


@dataclass(frozen=True)
class EvaluationPlan:
    """What is evaluated, and how.

    Attributes:
        interactions: K, robot-clinician interactions per case (one click each).
        perturbation_dice: (lo, hi) Dice range of perturbed starting masks.
        demo_cases: (training, validation, test) synthetic cases.
        ct_repeats: cases per real-CT task (seeded perturbations of the one organ).
        ct_min_voxels: least voxel count of a real-CT training organ.
        ct_max_training_organs: train on at most this many organs (the largest; ``None``: all).
        long_factor: on the real CT, per-voxel agents with this many times the steps and warm start are
            trained and evaluated too (``voxel_long``): does more of the same training help?
        seed: seed of the data, the training and the evaluation (perturbations and robot clinician).
    """

    interactions: int
    perturbation_dice: tuple[float, float]
    demo_cases: tuple[int, int, int]
    ct_repeats: int
    ct_min_voxels: int
    ct_max_training_organs: int | None
    long_factor: int
    seed: int


@dataclass(frozen=True)
class Task:
    """One evaluation of the benchmark.

    Attributes:
        key: short name, used for folders and plot files (``demo_segmenter``, ``ct_spleen``).
        title: heading in the document.
        group: which trained models it uses (``"demo"`` or ``"ct"``).
        data: the dataset.json whose ``test`` list it evaluates.
        start: ``"segmenter"`` or ``"perturbed"`` (see :mod:`medrl.evaluation.starts`).
        about: one sentence on the cases and where they start.
        control: a control rather than a test: its cases were seen in training.
    """

    key: str
    title: str
    group: str
    data: Path
    start: str
    about: str
    control: bool = False


@dataclass(frozen=True)
class EvaluationResult:
    """One task's evaluation: its output folder (``summary.json``, ``cases.csv``, ``interactions.csv``,
    ``dice_vs_clicks.png``), the summary document as written, the wall time of the run and the medrl code
    it ran (:func:`benchdoc_provenance.code_version`)."""

    task: Task
    folder: Path
    summary: dict
    seconds: float
    code: str = ""

    @property
    def plot(self) -> Path:
        return self.folder / PLOT_PNG


def evaluation_settings(task: Task, checkpoints: dict[str, str], output: Path, interactions: int,
                        perturbation_dice: tuple[float, float], seed: int, main: str = MAIN_METHOD) -> EvaluationSettings:
    """The ``medrl evaluate`` settings of ``task``; ``checkpoints`` maps method names (``main``, whose checkpoint sets
    the working grid, and ``region``, ``supervised``, ...) to checkpoint paths; a ``segmenter`` entry is not a method."""
    compare = {name: path for name, path in checkpoints.items() if name not in (main, *NOT_EVALUATED)}
    return EvaluationSettings(
        checkpoint=checkpoints[main], data=str(task.data), output=str(output), interactions=interactions,
        name=main, compare=compare, section="test", start=task.start,
        perturbation_dice=tuple(perturbation_dice), seed=seed, overwrite=True,
    )


def _reusable(folder: Path, settings: EvaluationSettings) -> tuple[dict, float, str] | None:
    """``(summary, seconds, code)`` of the earlier evaluation in ``folder`` if it ran with ``settings`` after its
    checkpoints were written, else ``None``."""
    summary_path, timing_path = folder / SUMMARY_JSON, folder / TIMING_JSON
    if not (summary_path.is_file() and timing_path.is_file()):
        return None
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    wanted = json.loads(json.dumps(dataclasses.asdict(settings)))
    newest_checkpoint = max(Path(p).stat().st_mtime for p in [settings.checkpoint, *settings.compare.values()])
    if summary["settings"] != wanted or summary_path.stat().st_mtime < newest_checkpoint:
        return None
    timing = json.loads(timing_path.read_text(encoding="utf-8"))
    return summary, timing["seconds"], timing.get("code", "")


def evaluate_task(task: Task, checkpoints: dict[str, str], work: Path, interactions: int,
                  perturbation_dice: tuple[float, float], seed: int, force: bool = False, code: str = "",
                  folder: Path | None = None, main: str = MAIN_METHOD) -> EvaluationResult:
    """Run (or reuse, unless ``force``) the evaluation of ``task`` into ``folder`` (default ``work/evaluations/KEY``);
    ``code`` is the medrl code this process runs, recorded with a new evaluation; ``main`` names the method whose
    checkpoint sets the working grid."""
    folder = folder or work / "evaluations" / task.key
    settings = evaluation_settings(task, checkpoints, folder, interactions, perturbation_dice, seed, main)
    earlier = None if force else _reusable(folder, settings)
    if earlier is not None:
        print(f"  {task.key}: evaluated earlier, reusing {folder}")
        return EvaluationResult(task, folder, *earlier)
    print(f"  {task.key}: evaluating ...", flush=True)
    start = time.perf_counter()
    run_evaluation(settings, progress=False)
    seconds = round(time.perf_counter() - start, 1)
    write_text_atomically(folder / TIMING_JSON, json.dumps({"seconds": seconds, "code": code}) + "\n")
    return EvaluationResult(task, folder, json.loads((folder / SUMMARY_JSON).read_text(encoding="utf-8")), seconds, code)
