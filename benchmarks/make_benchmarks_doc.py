"""Write ``docs/benchmarks.md``: Dice-vs-clicks tables and plots of medrl's agents against its baselines,
measured on this machine by this script.

Tasks:

- **demo data** (the synthetic cases of ``medrl demo``: 16 training, 2 validation, 6 test, seed 0):
  a segmenter, per-voxel agents, per-region agents and the supervised click network are trained on the
  training cases; the test cases are evaluated from the segmenter's masks and from seeded perturbations
  of their labels (two tasks);
- **real CT** (``../shared/data/ct_abdomen_3mm``, one abdominal scan): split by organ — the agents and
  the click network train on the other organs of the scan (binary labels, each organ a training case)
  and are tested on spleen, liver and right kidney, each a task whose cases are seeded perturbations of
  that organ's label (no segmenter: none is needed for perturbed starts).

Every task is one :func:`medrl.evaluation.run.run_evaluation` with the methods ``initial`` (starting
mask kept), ``voxel`` and ``region`` (medrl's agents) and ``supervised`` (the DeepEdit-style click
network on the same backbone, data, clicks and optimizer steps). Models and evaluations are cached in
``--work`` (outside the repository), so a rerun trains nothing already trained. The document and its
plots are written atomically beside each other (``--output``).

    python benchmarks/make_benchmarks_doc.py --work ../benchmark_work [--threads 1] [--quick] [--skip-ct]
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from functools import partial
from pathlib import Path

import torch
from benchdoc_data import CtData, Organ, ct_datasets, demo_dataset
from benchdoc_evaluation import EvaluationPlan, EvaluationResult, Task, evaluate_task
from benchdoc_provenance import code_version
from benchdoc_report import DocumentInputs, machine_facts, write_document
from benchdoc_training import Budget, TrainingRecord, agents, click_network, data_module, quiet_lightning, segmenter, train_cached
from script_args import check_common_args

from medrl.env.environment import EnvConfig

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_CT = REPOSITORY.parent / "shared" / "data" / "ct_abdomen_3mm"

FULL_PLAN = EvaluationPlan(interactions=10, perturbation_dice=(0.6, 0.8), demo_cases=(16, 2, 6), ct_repeats=5,
                           ct_min_voxels=500, ct_max_training_organs=None, long_factor=3, seed=0)
QUICK_PLAN = dataclasses.replace(FULL_PLAN, interactions=2, demo_cases=(3, 1, 2), ct_repeats=2, ct_max_training_organs=2,
                                 long_factor=2)
QUICK_BUDGET = Budget(segmenter_steps=2, agent_steps=2, warm_start_steps=1, click_network_steps=2, train_interactions=2,
                      patch_size=16, batch_size=2, channels=(4, 8))


def train_group(group: str, dataset: Path, budget: Budget, work: Path, seed: int, with_segmenter: bool, code: str,
                long_factor: int | None = None) -> dict[str, TrainingRecord]:
    """Train (or reuse) the models of one data group: ``segmenter`` (if asked), ``voxel`` and ``region``
    agents, ``supervised`` click network, and with a ``long_factor`` also ``voxel_long`` (per-voxel agents
    with that many times the steps and warm start); all start from the segmenter's masks for a share of the
    patches when there is one. ``code`` (:func:`code_version`) is recorded with each newly trained model."""
    folder, base = work / "models" / group, {"dataset": str(dataset), "budget": dataclasses.asdict(budget)}
    # the CT's training list has no validation list: every organ stays a training case
    data = partial(data_module, dataset, budget, seed, hold_out_validation=group == "demo")
    records = {}
    if with_segmenter:
        records["segmenter"] = train_cached("segmenter", partial(segmenter, budget), data, budget.segmenter_steps,
                                            {**base, "model": "segmenter"}, folder, seed, code)
    seg = records["segmenter"].checkpoint if with_segmenter else None
    upstream = {**base, "segmenter": records["segmenter"].finished if with_segmenter else None}
    for kind in ("voxel", "region"):
        records[kind] = train_cached(kind, partial(agents, kind, budget, seg), data, budget.agent_steps,
                                     {**upstream, "model": f"{kind} agents"}, folder, seed, code)
    sigma = EnvConfig().hint_sigma_mm
    records["supervised"] = train_cached("supervised", partial(click_network, budget, seg, sigma), data,
                                         budget.click_network_steps, {**upstream, "model": "click network",
                                                                      "hint_sigma_mm": sigma}, folder, seed, code)
    if long_factor:
        long = budget.longer(long_factor)
        records["voxel_long"] = train_cached("voxel_long", partial(agents, "voxel", long, seg), data, long.agent_steps,
                                             {**upstream, "budget": dataclasses.asdict(long), "model": "voxel agents"}, folder, seed,
                                             code)
    return records


def demo_tasks(dataset: Path, cases: int) -> list[Task]:
    return [
        Task("demo_segmenter", "Demo data, from the segmenter's masks", "demo", dataset, "segmenter",
             f"the {cases} synthetic test cases, each starting from the demo segmenter's mask"),
        Task("demo_perturbed", "Demo data, from perturbed labels", "demo", dataset, "perturbed",
             f"the {cases} synthetic test cases, each starting from a seeded perturbation of its label"),
    ]


def _ct_task(ct: CtData, organ: Organ, repeats: int, control: bool) -> Task:
    name = organ.name.replace("_", " ")
    seen = " — a training organ, evaluated as a control" if control else ""
    return Task(f"ct_{organ.name}", f"Real CT: {name}" + (" (control: seen in training)" if control else ""), "ct",
                ct.task_json[organ.name], "perturbed",
                f"the {name} ({organ.voxels} voxels) of the one real CT{seen}, {repeats} cases: {repeats} seeded perturbations "
                "of its label", control)


def ct_tasks(ct: CtData, repeats: int) -> list[Task]:
    """The test organs' tasks, then the control organ's."""
    return [_ct_task(ct, organ, repeats, False) for organ in ct.test_organs] + [_ct_task(ct, ct.control_organ, repeats, True)]


def _checkpoints(records: dict[str, TrainingRecord]) -> dict[str, str]:
    return {name: record.checkpoint for name, record in records.items()}


def run(args: argparse.Namespace) -> Path:
    """The whole pipeline: data, training, evaluation, document. Returns the document's path."""
    budget, plan = (QUICK_BUDGET, QUICK_PLAN) if args.quick else (Budget(), FULL_PLAN)
    work = args.work.resolve()
    facts, code = machine_facts(REPOSITORY), code_version(REPOSITORY)
    started = time.perf_counter()
    print("[1/4] data")
    demo_json = demo_dataset(work / "demo_data", plan.demo_cases, plan.seed)
    ct = None if args.skip_ct else ct_datasets(args.ct, work / "ct_data", plan.ct_min_voxels, plan.ct_max_training_organs,
                                               plan.ct_repeats)
    print("[2/4] training")
    models = {"demo": train_group("demo", demo_json, budget, work, plan.seed, with_segmenter=True, code=code)}
    if ct is not None:
        models["ct"] = train_group("ct", ct.training_json, budget, work, plan.seed, with_segmenter=False, code=code,
                                   long_factor=plan.long_factor)
    print("[3/4] evaluation")
    tasks = demo_tasks(demo_json, plan.demo_cases[2]) + ([] if ct is None else ct_tasks(ct, plan.ct_repeats))
    results: list[EvaluationResult] = [
        evaluate_task(task, _checkpoints(models[task.group]), work, plan.interactions, plan.perturbation_dice, plan.seed,
                      force=args.reevaluate, code=code)
        for task in tasks
    ]
    print("[4/4] document")
    inputs = DocumentInputs(command=_command(args), facts=facts, budget=budget, plan=plan, quick=args.quick, models=models,
                            ct=ct, ct_folder=None if ct is None else args.ct, results=results,
                            minutes=(time.perf_counter() - started) / 60)
    return write_document(inputs, args.output.resolve())


def _command(args: argparse.Namespace) -> str:
    """The command line as run, from the repository's root, with the work folder as given."""
    return "python benchmarks/make_benchmarks_doc.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True,
                        help="folder for data, checkpoints and evaluations (outside the repository); reused by reruns")
    parser.add_argument("--output", type=Path, default=REPOSITORY / "docs" / "benchmarks.md",
                        help="the Markdown document; its plots are written beside it (default: docs/benchmarks.md)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (use 1 while others share the CPU)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets and few cases: checks the pipeline in seconds")
    parser.add_argument("--ct", type=Path, default=DEFAULT_CT, help="the real CT folder (default: %(default)s)")
    parser.add_argument("--skip-ct", action="store_true", help="demo tasks only")
    parser.add_argument("--reevaluate", action="store_true", help="evaluate again even where results of the same settings exist")
    args = parser.parse_args(argv)
    check_common_args(parser, args, needs_ct=not args.skip_ct, without_ct="--skip-ct")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet_lightning()
    path = run(args)
    print(f"written: {path}")


if __name__ == "__main__":
    main()
