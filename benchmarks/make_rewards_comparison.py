"""Write the rewards comparison into ``docs/benchmarks.md``: supervised click network vs medrl's agents
with the CE-gain reward vs the same agents tuned with the Dice-gain and the surface-gain rewards (and a
CE-only tuning control), under full labels, sparse clinician marks (alone, or with the reviewed start as the
label of unmarked voxels) and noisy labels, over several training seeds.

For every data group (``demo``: the synthetic cases; ``ct``: the real CT split by organ, as in
``make_benchmarks_doc.py``), label regime and seed, :mod:`rewards_runs` trains the five models on one
budget, and each is evaluated by the robot-clinician protocol of ``medrl evaluate`` from seeded perturbations
of the test labels (the same starting masks and robot clinician for every model, regime and seed). The
table gives Dice after 1, 3 and 5 clicks, NSD at 2 mm and HD95 after 5, as mean ± std over the seeds of
the per-seed means over cases. Models and evaluations are cached in ``--work``; the section between
``<!-- rewards-comparison -->`` markers of ``--output`` is replaced, the rest of the document kept.

Two processes can share the work (one per group), then a last run writes the document from the cache:

    python benchmarks/make_rewards_comparison.py --work ../benchmark_work --groups demo --no-document --threads 1 &
    python benchmarks/make_rewards_comparison.py --work ../benchmark_work --groups ct --no-document --threads 1
    python benchmarks/make_rewards_comparison.py --work ../benchmark_work
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

import torch
from benchdoc_data import CtData, ct_datasets, demo_dataset
from benchdoc_evaluation import Task, evaluate_task
from benchdoc_provenance import code_version
from benchdoc_report import machine_facts
from benchdoc_training import Budget, quiet_lightning
from doc_sections import REWARDS_SECTION, put_section
from rewards_runs import COMPARISON_REGIMES, Combo, train_combo
from rewards_table import METHODS, ComparisonInputs, render_section
from script_args import check_common_args

from medrl.data.atomic import write_text_atomically

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_CT = REPOSITORY.parent / "shared" / "data" / "ct_abdomen_3mm"
CT_VALIDATION_ORGANS = ("kidney_left", "stomach")
"""Training organs also listed for validation on the CT (one scan: no unseen organ is spared for selection)."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """The comparison's settings (see the module docstring)."""

    budget: Budget
    tuning_steps: int
    seeds: tuple[int, ...]
    regimes: tuple[str, ...]
    interactions: int = 5
    perturbation_dice: tuple[float, float] = (0.6, 0.8)
    demo_cases: tuple[int, int, int] = (16, 4, 6)
    ct_repeats: int = 3
    ct_min_voxels: int = 500
    ct_max_training_organs: int | None = None
    evaluation_seed: int = 0


FULL = Plan(Budget(agent_steps=400, warm_start_steps=100), tuning_steps=100, seeds=(0, 1, 2), regimes=COMPARISON_REGIMES)
QUICK = Plan(Budget(agent_steps=3, warm_start_steps=1, train_interactions=2, patch_size=16, batch_size=2, channels=(4, 8)),
             tuning_steps=2, seeds=(0, 1), regimes=COMPARISON_REGIMES, interactions=5, demo_cases=(3, 2, 2), ct_repeats=1,
             ct_max_training_organs=2)


def ct_with_validation(ct: CtData, folder: Path) -> Path:
    """The CT training list with :data:`CT_VALIDATION_ORGANS` (training organs) as its validation list (else the
    first training organ)."""
    document = json.loads(ct.training_json.read_text(encoding="utf-8"))
    chosen = [case for case in document["training"] if case.get("organ") in CT_VALIDATION_ORGANS]
    document["validation"] = chosen or document["training"][:1]  # a quick run's few organs may lack them
    path = folder / "training_with_validation.json"
    write_text_atomically(path, json.dumps(document, indent=2) + "\n")
    return path


def group_data(group: str, plan: Plan, work: Path, ct_folder: Path) -> tuple[Path, list[Task]]:
    """``(training dataset, test tasks)`` of ``group``, written into the work folder on first use."""
    if group == "demo":
        dataset = demo_dataset(work / "demo_data", plan.demo_cases, plan.evaluation_seed)
        return dataset, [Task("demo", "Demo data", "demo", dataset, "perturbed",
                              f"the {plan.demo_cases[2]} synthetic test cases")]
    ct = ct_datasets(ct_folder, work / "ct_data", plan.ct_min_voxels, plan.ct_max_training_organs, plan.ct_repeats)
    tasks = [Task(f"ct_{organ.name}", f"Real CT: {organ.name.replace('_', ' ')}", "ct", ct.task_json[organ.name], "perturbed",
                  f"{plan.ct_repeats} seeded perturbations of the {organ.name} label") for organ in ct.test_organs]
    return ct_with_validation(ct, work / "ct_data"), tasks


def run_group(group: str, plan: Plan, work: Path, ct_folder: Path, code: str) -> list[tuple[Combo, Task, dict, dict]]:
    """Train and evaluate every regime and seed of ``group``: ``(combo, task, summary.json, training records)``."""
    dataset, tasks = group_data(group, plan, work, ct_folder)
    results = []
    for regime in plan.regimes:
        for seed in plan.seeds:
            combo = Combo(group, regime, seed)
            records = train_combo(combo, dataset, plan.budget, plan.tuning_steps, work, code)
            checkpoints = {name: records[name].checkpoint for name in METHODS}
            for task in tasks:
                result = evaluate_task(task, checkpoints, work, plan.interactions, plan.perturbation_dice, plan.evaluation_seed,
                                       code=code, folder=work / "evaluations" / combo.key / task.key, main="ce")
                results.append((combo, task, result.summary, {n: dataclasses.asdict(r) for n, r in records.items()}))
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="folder for data, checkpoints and evaluations (outside the repository)")
    parser.add_argument("--output", type=Path, default=REPOSITORY / "docs" / "benchmarks.md",
                        help="the document whose rewards-comparison section is (re)written (default: docs/benchmarks.md)")
    parser.add_argument("--groups", nargs="+", choices=("demo", "ct"), default=["demo", "ct"])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (use 1 while others share the CPU)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the pipeline; the numbers mean nothing")
    parser.add_argument("--ct", type=Path, default=DEFAULT_CT, help="the real CT folder (default: %(default)s)")
    parser.add_argument("--regimes", nargs="+", choices=COMPARISON_REGIMES, help="label regimes (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, help="training seeds (default: 0 1 2; quick: 0 1)")
    parser.add_argument("--no-document", action="store_true", help="train and evaluate only (e.g. one group per process)")
    args = parser.parse_args(argv)
    check_common_args(parser, args, needs_ct="ct" in args.groups, without_ct="--groups demo")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet_lightning()
    plan, work, code = (QUICK if args.quick else FULL), args.work.resolve(), code_version(REPOSITORY)
    plan = dataclasses.replace(plan, regimes=tuple(args.regimes or plan.regimes), seeds=tuple(args.seeds or plan.seeds))
    started = time.perf_counter()
    results = [row for group in args.groups for row in run_group(group, plan, work, args.ct, code)]
    if args.no_document:
        return
    inputs = ComparisonInputs(command="python benchmarks/make_rewards_comparison.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                              facts=machine_facts(REPOSITORY), plan=plan, quick=args.quick, results=results,
                              minutes=(time.perf_counter() - started) / 60)
    output = args.output.resolve()
    text = put_section(output.read_text(encoding="utf-8") if output.is_file() else "# Benchmarks\n", REWARDS_SECTION, render_section(inputs))
    write_text_atomically(output, text)
    print(f"written: {output}")


if __name__ == "__main__":
    main()
