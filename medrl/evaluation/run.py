"""``medrl evaluate`` as a Python function: every method through the robot-clinician protocol on every case.

For each case of the chosen dataset section: read it onto the main checkpoint's working grid, pick its
starting mask (:mod:`medrl.evaluation.starts`), then play K robot-clinician interactions with each
method — the ``initial`` baseline, the main checkpoint's method, and every checkpoint to compare (medrl's
agents, or a supervised click network: each checkpoint says which it holds) — from that same mask
and with the same robot seed, measuring Dice, HD95 and NSD after each interaction. Then write the
CSV tables, the summary JSON and the Dice-vs-clicks plot into the output folder and print a table.

Example:
    >>> settings = EvaluationSettings(checkpoint="voxel.ckpt", data="data/dataset.json", output="eval",
    ...                               interactions=10, name="voxel", compare={"region": "region.ckpt"})
    >>> document = run_evaluation(settings)                                          # doctest: +SKIP
    >>> document["methods"]["voxel"]["dice"][-1].mean                               # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from medrl import __version__
from medrl.data.datasets import load_dataset
from medrl.errors import MedrlInputError
from medrl.evaluation.cases import cropped_to_structure, prepare_case, unique_names
from medrl.evaluation.methods import ClickNetwork, KeepInitial, Method, RefinementAgents
from medrl.evaluation.plot import plot_dice_curves
from medrl.evaluation.protocol import play_robot_protocol
from medrl.evaluation.reports import (
    CASES_CSV,
    DEFINITIONS,
    INTERACTIONS_CSV,
    SUMMARY_JSON,
    case_rows,
    format_table,
    interaction_rows,
    write_csv,
    write_json,
)
from medrl.evaluation.settings import EvaluationSettings
from medrl.evaluation.starts import ROBOT_STREAM, case_seed, resolve_start, starting_mask
from medrl.evaluation.summary import CaseResult, summarise
from medrl.inference.refiner import Refiner

PLOT_PNG = "dice_vs_clicks.png"
OUTPUT_FILES = (INTERACTIONS_CSV, CASES_CSV, SUMMARY_JSON, PLOT_PNG)


def refuse_existing_results(output: Path, overwrite: bool) -> None:
    """Raise unless ``output`` may receive this run's files (none exist yet, or ``overwrite``)."""
    if output.exists() and not output.is_dir():
        raise MedrlInputError(output, "output exists and is not a folder")
    existing = [output / name for name in OUTPUT_FILES if (output / name).exists()]
    if existing and not overwrite:
        raise MedrlInputError(existing[0], "evaluation results exist; pass --overwrite to replace them")


def _preprocessing_differences(refiner: Refiner, main: Refiner) -> str:
    """``"intensity: ct vs none"`` for every preprocessing field in which ``refiner`` differs from ``main``."""
    ours, theirs = dataclasses.asdict(refiner.preprocessing), dataclasses.asdict(main.preprocessing)
    return "; ".join(f"{key}: {ours[key]} vs {theirs[key]}" for key in ours if ours[key] != theirs[key])


def load_refiners(settings: EvaluationSettings) -> dict[str, Refiner]:
    """The main and the compared checkpoints as Refiners, by method name, checked to share one working grid.

    Raises:
        MedrlInputError: a checkpoint with neither agents nor a click network, or with other preprocessing
            than the main one.
    """
    main = Refiner.from_checkpoint(settings.checkpoint, device=settings.device)
    if settings.foreground_labels is not None:
        main.foreground_labels = [int(v) for v in settings.foreground_labels]  # the task's label values win
    refiners = {settings.name: main}
    for name, path in settings.compare.items():
        refiners[name] = Refiner.from_checkpoint(path, device=settings.device)
        differences = _preprocessing_differences(refiners[name], main)
        if differences:
            raise MedrlInputError(path, f"preprocessing differs from {settings.checkpoint}'s ({differences}); "
                                  "compared methods must share one working grid")
    for name, refiner in refiners.items():
        if method_kind(refiner) is None:
            raise MedrlInputError(refiner.source, f"checkpoint of method {name!r} has neither refinement agents "
                                  "nor a click network")
    return refiners


def method_kind(refiner: Refiner) -> str | None:
    """What a checkpoint holds: ``"voxel"`` / ``"region"`` agents, ``"click_network"`` (the supervised
    baseline), or ``None`` (a segmenter alone)."""
    if refiner.policy is not None:
        return refiner.agents["kind"]
    return "click_network" if refiner.checkpoint.click_network is not None else None


def checkpoint_method(name: str, refiner: Refiner) -> Method:
    """The evaluated method of one checkpoint: its agents, or its supervised click network."""
    if method_kind(refiner) == "click_network":
        return ClickNetwork.from_checkpoint(refiner.source, name, refiner.device)
    return RefinementAgents(refiner, name)


def _cases(settings: EvaluationSettings, has_segmenter: bool) -> list[tuple[dict, str, str]]:
    """(entry, name, start) of every case to evaluate, all checked before any work."""
    entries = load_dataset(settings.data, settings.section)[: settings.max_cases]
    if not entries:
        raise MedrlInputError(settings.data, f"the dataset's {settings.section!r} list has no cases")
    for entry in entries:
        if not entry.get("label"):
            raise MedrlInputError(entry["image"], "case has no label; evaluation needs the truth for the robot clinician")
    names = unique_names([entry["image"] for entry in entries])
    return [(entry, name, resolve_start(settings.start, entry, has_segmenter)) for entry, name in zip(entries, names)]


def run_methods(refiners: dict[str, Refiner], extra: Sequence[Method] = ()) -> list[Method]:
    """The methods of a run, in report order: the ``initial`` baseline, the method of every checkpoint
    (:func:`checkpoint_method`), then ``extra`` methods, their names unique."""
    methods = [KeepInitial(), *(checkpoint_method(name, refiner) for name, refiner in refiners.items()), *extra]
    names = [method.name for method in methods]
    if len(set(names)) != len(names):
        raise MedrlInputError("methods", f"method names must be unique, got {', '.join(names)}")
    return methods


def _evaluate_case(index: int, entry: dict, name: str, source: str, settings: EvaluationSettings,
                   main: Refiner, methods: Sequence[Method]) -> tuple[dict, list[CaseResult]]:
    case = prepare_case(main, entry, name, read_initial=source == "initial", modality=settings.modality)
    start = starting_mask(case, source, main, index, settings.seed, settings.perturbation_dice)
    if settings.crop_margin_mm is not None:
        case, mask = cropped_to_structure(case, start.mask, settings.crop_margin_mm)
        start = dataclasses.replace(start, mask=mask)
    robot_seed = case_seed(settings.seed, index, ROBOT_STREAM)
    results = [
        CaseResult(case.name, method.name, start.source,
                   play_robot_protocol(method, case, start.mask, settings.interactions, settings.clicks_per_interaction,
                                       robot_seed, settings.nsd_tolerance_mm),
                   extra={"start_seed": start.seed if start.seed is not None else ""})
        for method in methods
    ]
    record = {"case": case.name, "image": entry["image"], "label": entry["label"], "initial": entry.get("initial"),
              "start": start.source, "start_seed": start.seed, "robot_seed": robot_seed,
              "working_shape": list(case.label.shape), "spacing_mm": [round(s, 6) for s in case.spacing],
              "foreground_voxels": int(case.label.sum())}
    return record, results


def _document(settings: EvaluationSettings, refiners: dict[str, Refiner], methods: Sequence[Method], cases: list[dict],
              summaries: dict) -> dict:
    main = refiners[settings.name]
    return {
        "medrl_version": __version__,
        "settings": dataclasses.asdict(settings),
        "methods_evaluated": [method.name for method in methods],
        "checkpoints": {name: refiner.source for name, refiner in refiners.items()},
        "agents": {name: method_kind(refiner) for name, refiner in refiners.items()},
        "working_grid": {"orientation": "RAS", "preprocessing": dataclasses.asdict(main.preprocessing),
                         "foreground_labels": main.foreground_labels},
        "definitions": DEFINITIONS,
        "cases": cases,
        "methods": summaries,
    }


def _title(settings: EvaluationSettings, cases: list[dict], separator: str = ", ") -> str:
    """``3 cases (test of data/dataset.json), start: initial ×3, 5 interactions × 1 click``."""
    starts = Counter(case["start"] for case in cases)
    data = "/".join(Path(settings.data).parts[-2:])
    return (f"{len(cases)} cases ({settings.section} of {data}){separator}start: "
            + ", ".join(f"{source} ×{count}" for source, count in starts.items())
            + f", {settings.interactions} interactions × {settings.clicks_per_interaction} click")


def run_evaluation(settings: EvaluationSettings, extra_methods: Sequence[Method] = (), progress: bool = True) -> dict:
    """Run the evaluation described by ``settings``, write its files, print its table.

    Args:
        settings: the run (see :class:`EvaluationSettings`).
        extra_methods: further :class:`~medrl.evaluation.methods.Method` objects to evaluate beside the
            agents, on the same cases, starting masks and working grid (Python API only).
        progress: show a progress bar over cases (stderr).

    Returns:
        the summary document written to ``summary.json``, with :class:`~medrl.evaluation.summary.Estimate`
        objects where the file has ``{mean, ci95_low, ci95_high, n}``.

    Raises:
        MedrlInputError: bad settings, checkpoints, dataset or cases, or results that exist without
            ``overwrite`` — all checked before any case is evaluated (a case's files are read when its turn comes).
    """
    settings.check()
    output = Path(settings.output)
    refuse_existing_results(output, settings.overwrite)
    refiners = load_refiners(settings)
    main = refiners[settings.name]
    methods = run_methods(refiners, extra_methods)
    jobs = _cases(settings, main.segmenter is not None)
    cases, results = [], []
    for index, (entry, name, source) in enumerate(tqdm(jobs, desc="medrl evaluate", unit="case", disable=not progress)):
        record, case_results = _evaluate_case(index, entry, name, source, settings, main, methods)
        cases.append(record)
        results.extend(case_results)
    summaries = summarise(results, settings.noc_thresholds)
    document = _document(settings, refiners, methods, cases, summaries)
    output.mkdir(parents=True, exist_ok=True)
    write_csv(interaction_rows(results), output / INTERACTIONS_CSV)
    write_csv(case_rows(results, settings.noc_thresholds), output / CASES_CSV)
    write_json(document, output / SUMMARY_JSON)
    plot_dice_curves(summaries, output / PLOT_PNG, title=_title(settings, cases, separator="\n"))
    print(f"medrl evaluate: {_title(settings, cases)}")
    print(format_table(summaries, settings.noc_thresholds, settings.nsd_tolerance_mm))
    print(f"written: {', '.join(str(output / name) for name in OUTPUT_FILES)}")
    return document
