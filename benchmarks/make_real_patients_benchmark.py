"""Write the real-patient benchmark into ``docs/benchmarks.md``: medrl's agents, trained by the structure-agnostic
recipe on the visible real datasets, against keeping the start, a brush and the supervised click network, on
patients held out of training.

For each fold (:mod:`real_patients_plan`: brain subjects, glioma and sarcoma patients held out by patient):

1. the agents train with ``medrl fit --config configs/agents_any_structure.yaml --data.dataset [the fold's four
   training datasets]``, the click network with ``configs/click_network_any_structure.yaml`` on the same data and
   wall-time budget, and medrl's segmenter (``configs/segmenter.yaml``) on each group's training patients — one
   multi-class network for the 12 brain structures, one for the glioma's whole tumour, one for the sarcoma;
2. each test task (12 brain structures; BraTS whole tumour on FLAIR; the sarcoma in CT, T1 MR and PET) is played
   by the robot-clinician protocol of ``medrl evaluate`` for 10 interactions, from perturbed truth (Dice 0.6–0.8; for
   BraTS also 0.75–0.79, the start IteR-MRL reports from) and from the segmenter's masks, in a box of the
   structure plus 20 mm.

Everything is cached in ``--work`` (models with their commands and wall times, starting masks, evaluations);
a killed run continues where it stopped. The section between ``<!-- real-patients -->`` markers of
``--output`` is replaced, the rest of the document kept.

    python benchmarks/make_real_patients_benchmark.py --work ../real_patients_work --only-folds 0   # about 2 h on 2 cores
    python benchmarks/make_real_patients_benchmark.py --work ../real_patients_work                 # both folds, about 4 h
    python benchmarks/make_real_patients_benchmark.py --work /tmp/quick --quick --folds 1   # a few minutes: the pipeline only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from benchdoc_report import machine_facts
from doc_sections import REAL_PATIENTS_SECTION, put_section
from real_patients_plan import BRAIN_TEST_SUBJECTS, Fold, make_fold
from real_patients_runs import (
    AGENTS_CONFIG,
    CLICK_NETWORK_CONFIG,
    FULL,
    QUICK,
    SEGMENTER_LABELS,
    Budget,
    TrainedModel,
    evaluate,
    segmenter_for,
    segmenter_starts,
    train_recipe,
    train_segmenter,
)
from real_patients_table import Curve, method_rows, read_curves, render_rows, verdicts

from medrl.data.atomic import write_text_atomically

REPOSITORY = Path(__file__).resolve().parents[1]
BRATS_077 = (0.75, 0.79)


def run_fold(fold: Fold, folder: Path, budget: Budget, threads: int) -> tuple[list[Curve], dict[str, TrainedModel]]:
    """Train the fold's models and evaluate its tasks; return the curves and the models."""
    print(f"fold {fold.index}: held out {json.dumps(fold.test_patients)}", flush=True)
    datasets = list(fold.training)
    models = {"agents": train_recipe("agents", folder / "agents", AGENTS_CONFIG, datasets, budget, threads),
              "click network": train_recipe("click network", folder / "click_network", CLICK_NETWORK_CONFIG, datasets, budget,
                                            threads)}
    by_name = {Path(d).stem: d for d in datasets}
    sources = {"segmenter_brain": "brain_mr_miccai2012", "segmenter_brats": "brain_tumour_brats2013",
               "segmenter_sarcoma": "sarcoma_ct_mr_pet"}
    curves = []
    for task in fold.tasks:
        name = segmenter_for(task)
        if name not in models:
            models[name] = train_segmenter(name, folder / name, by_name[sources[name]], budget, threads, **SEGMENTER_LABELS[name])
        starts = [("perturbed", task.dataset, (0.6, 0.8)),
                  ("segmenter", segmenter_starts(models[name], task.dataset, folder / "starts"), None)]
        if task.group.startswith("BraTS"):
            starts.append(("perturbed 0.75-0.79", task.dataset, BRATS_077))
        for label, dataset, dice in starts:
            evaluation = folder / "eval" / f"{task.slug}_{label.split()[0]}{'_077' if '0.75' in label else ''}"
            evaluate(task, "perturbed" if dice else "initial", dataset, models["agents"], models["click network"], evaluation,
                     budget, dice or (0.6, 0.8))
            curves += read_curves(evaluation, task.group, task.name, label)
    return curves, models


def _groups(curves: list[Curve]) -> list[str]:
    return list(dict.fromkeys(c.group for c in curves))


def work_span_hours(folder: Path) -> float:
    """Hours from the first to the last file written in a work folder: the wall time of the work this document
    reads, however many runs filled the cache."""
    times = [path.stat().st_mtime for path in folder.rglob("*") if path.is_file()]
    return (max(times) - min(times)) / 3600 if times else 0.0


def render_section(curves: list[Curve], models: dict[int, dict[str, TrainedModel]], folds: list[Fold], budget: Budget,
                   facts: dict, seconds: float, work_hours: float, command: str) -> str:
    """The document section: settings, machine, wall times, the tables per start and group, verdicts."""
    k = budget.interactions
    lines = ["## Real patients never seen in training", "",
             f"Generated by `{command}`: {work_hours:.1f} h of work on the machine below, first to last file of the work "
             f"folder ({seconds / 3600:.1f} h for this run; models and evaluations already in the work folder are reused, not "
             f"redone).", "",
             "medrl's agents are trained by the recipe of the README (`medrl fit --config configs/agents_any_structure.yaml "
             "--data.dataset [...]`, defaults unchanged) on the visible real datasets minus the held-out patients, and "
             "tested on those patients only. Methods, all on the same starting masks, robot clicks (the deepest voxel of "
             "the largest error component) and box (the structure's bounding box + 20 mm):", "",
             "- **start kept**: the starting mask, whatever the clicks;",
             "- **brush**: each click paints (or erases) the largest ball that fits inside its error component;",
             "- **click network**: the supervised DeepEdit-style network, same backbone, data, tasks and clinician, "
             "`configs/click_network_any_structure.yaml`, the same wall-time budget;",
             "- **medrl agents**: the shared per-voxel policy, acting only near each interaction's clicks "
             "(the recipe's \"do no harm\" zone).", "",
             f"Metrics after k interactions (k = {', '.join(str(r) for r in (0, 1, 3, 5, 10) if r <= k)}): Dice; NSD at 2 mm "
             "and HD95 after 5; **harm** = share of interactions that lowered their case's Dice by more than 0.005; seconds "
             "per interaction (wall time of the method's step, 2-core CPU). Mean ± half-width of the 95% Student-t interval "
             "over cases (a case = one structure of one held-out scan).", ""]
    ran = [fold for fold in folds if fold.index in models]
    lines += ["### Folds and held-out patients", ""]
    if len(ran) < len(folds):
        lines += [f"Folds run: {', '.join(str(f.index) for f in ran)} of {len(folds)} (the others' patients are not in these "
                  "tables).", ""]
    for fold in ran:
        trained = models[fold.index]
        walls = ", ".join(f"{name} {m.seconds / 60:.1f} min ({m.steps} steps)" for name, m in trained.items())
        lines.append(f"- fold {fold.index}: held out {', '.join(f'{d}: {len(p)}' for d, p in fold.test_patients.items())} "
                     f"({'; '.join(f'{d}: ' + ', '.join(p) for d, p in fold.test_patients.items())}); trained: {walls}.")
    lines += [""]
    perturbed = [c for c in curves if c.start == "perturbed"]
    segmenter = [c for c in curves if c.start == "segmenter"]
    brats = [c for c in curves if c.start.startswith("perturbed 0.75")]
    lines += ["### Targets (held-out patients)", "", "| target | measured | met |", "| --- | --- | --- |"]
    for verdict in verdicts(perturbed, segmenter, brats, k):
        lines.append(f"| {verdict.target} | {verdict.measured} | {'yes' if verdict.met else 'no'} |")
    lines += [""]
    for label, chosen in (("perturbed truth (Dice 0.6–0.8)", perturbed), ("the segmenter's masks", segmenter),
                          ("perturbed truth (Dice 0.75–0.79), BraTS", brats)):
        if not chosen:
            continue
        lines += [f"### From {label}", "", "All groups together:", "", *render_rows(method_rows(chosen, k)), ""]
        for group in _groups(chosen):
            mine = [c for c in chosen if c.group == group]
            lines += [f"{group} ({len({(c.task, c.case) for c in mine})} cases):", "", *render_rows(method_rows(mine, k)), ""]
    lines += ["### Machine", "", *[f"- {key}: {value}" for key, value in facts.items()], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="cache folder (outside the repository)")
    parser.add_argument("--data-root", type=Path, default=REPOSITORY.parent / "shared" / "data" / "real")
    parser.add_argument("--folds", type=int, default=2, help=f"folds (each holds out {BRAIN_TEST_SUBJECTS} brain subjects)")
    parser.add_argument("--only-folds", type=int, nargs="*", help="run these folds only (the document says which ran)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the pipeline, measures nothing")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--output", type=Path, default=REPOSITORY / "docs" / "benchmarks.md")
    parser.add_argument("--no-document", action="store_true", help="only fill the cache")
    args = parser.parse_args(argv)
    if args.work.resolve().is_relative_to(REPOSITORY):
        parser.error(f"--work {args.work}: keep checkpoints and derived data outside the repository")
    if not (args.data_root / "brain_mr_miccai2012" / "dataset.json").is_file():
        parser.error(f"{args.data_root}: the real datasets are not there; give --data-root")
    if not 1 <= args.folds <= 5:
        parser.error("--folds must be 1 to 5 (25 brain subjects, 5 per fold)")
    torch.set_num_threads(args.threads)
    budget, start, facts = QUICK if args.quick else FULL, time.perf_counter(), machine_facts(REPOSITORY)
    folds = [make_fold(args.data_root, args.work / f"fold_{f}", f, args.folds) for f in range(args.folds)]
    curves, models = [], {}
    for fold in folds:
        if args.only_folds is not None and fold.index not in args.only_folds:
            continue
        fold_curves, models[fold.index] = run_fold(fold, args.work / f"fold_{fold.index}", budget, args.threads)
        curves += fold_curves
    if args.no_document or not models:
        return 0
    command = "python benchmarks/make_real_patients_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    span = sum(work_span_hours(args.work / f"fold_{index}") for index in models)
    section = render_section(curves, models, folds, budget, facts, time.perf_counter() - start, span, command)
    text = args.output.read_text(encoding="utf-8") if args.output.is_file() else "# Benchmarks\n"
    write_text_atomically(args.output, put_section(text, REAL_PATIENTS_SECTION, section))
    print(f"written: {args.output} (section {REAL_PATIENTS_SECTION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
