"""Clinicians' corrections on real patients teach the agents: a systematic error, corrected on reviewed
patients, shrinks on patients nobody reviewed.

The setting (see ``feedback_real_plan.py``): brain T1 MR of 25 different subjects. The base agents are the
any-structure recipe (``medrl fit --config configs/agents_any_structure.yaml``) trained on 10 subjects, every
structure. On every new patient the starting mask of each hippocampus misses its tail: the posterior ``--cut``
share of its A-P extent. Per seed, the 15 new patients are shuffled into ``--reviewed`` reviewed ones and the
rest held out. On each reviewed patient a scripted clinician opens a ``ReviewSession`` on each hippocampus's
cut mask, paints the largest errors with a brush (``medrl.review.scripted_review``), refines, paints again and
accepts: the reviews go to a feedback store; their labels are never trained on. Then, the same steps each:

- ``control``: ``medrl finetune`` on the base's training dataset alone (so longer training is not credited to
  the feedback);
- ``feedback``: ``medrl finetune --feedback STORE --data DATASET``: the reviews mixed with that dataset.

The held-out patients' hippocampi are evaluated for ``base``, ``control`` and ``feedback``, from two starts:
``cut`` (the systematic error) and ``perturbed`` (the manual label perturbed to Dice 0.6-0.8, no systematic
error: what the feedback must not spoil). Per start: Dice of the start, after one agents' pass without any
click (``pass``: the checkpoint's do-no-harm zone, which keeps the mask unchanged without a click; ``free
pass``: the same agents with the zone lifted), and after 1, 3, 5 robot-clinician clicks; for ``cut`` also the
share of the missing tail in the mask. The share of the systematic error closed is (Dice − base Dice) /
(1 − base Dice), per seed.

    python benchmarks/bench_feedback_real.py --work feedback_real [--seeds 0 1 2]

Everything is cached in the work folder (base agents, masks, stores, fine-tuned checkpoints, per-seed
results); a killed run resumes where it stopped. About 20 minutes per seed on 2 cores after the base's 30.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from benchdoc_report import machine_facts
from doc_sections import FEEDBACK_REAL_SECTION, put_section
from feedback_play import CLICKS, play
from feedback_real_plan import shuffle_new_patients, split_subjects, structure_cases, write_base_dataset
from real_patients_runs import AGENTS_CONFIG, QUICK, REPOSITORY, train

from medrl.data.atomic import write_text_atomically
from medrl.data.perturbation import PerturbationConfig, perturb_mask
from medrl.evaluation.cases import cropped_to_structure, prepare_case
from medrl.feedback.store import FeedbackStore
from medrl.inference.refiner import Refiner
from medrl.review.scripted_review import scripted_review
from medrl.training.finetune import run_finetune

KEYS = ("start", "pass", "free pass", *(f"@{k}" for k in CLICKS))
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]


# ---------------------------------------------------------------------------- the evaluation
def evaluate(checkpoint: Path, cases, seed: int, margin_mm: float) -> dict:
    """Per start (``cut``, ``perturbed``): one score dict per held-out structure, each played in the box of its
    truth grown by ``margin_mm`` (as ``medrl evaluate --crop-margin`` does)."""
    zone = Refiner.from_checkpoint(checkpoint)
    free = Refiner.from_checkpoint(checkpoint)
    free.env_config = dataclasses.replace(free.env_config, act_within_mm=0.0)
    results = {"cut": [], "perturbed": []}
    for index, case in enumerate(cases):
        entry = {"image": case.image, "label": case.truth, "initial": case.start}
        prepared = prepare_case(zone, entry, f"{case.patient} {case.structure}", read_initial=True)
        prepared, cut = cropped_to_structure(prepared, prepared.data["initial"][0] >= 0.5, margin_mm)
        data, truth, cut = prepared.data, prepared.label > 0, cut.numpy()
        perturbed, _ = perturb_mask(truth.astype(np.uint8), prepared.spacing, seed * 100 + index,
                                    PerturbationConfig(target_dice=(0.6, 0.8)))
        passes = {"pass": zone, "free pass": free}  # the do-no-harm zone as trained, and lifted
        results["cut"].append(play(zone, data, cut, truth & ~cut, seed * 100 + index, "tail", passes))
        results["perturbed"].append(play(zone, data, perturbed > 0, np.zeros_like(truth), seed * 100 + index, "tail", passes))
    return results


def mean_scores(rows: list[dict], measure: str) -> dict:
    return {key: float(np.nanmean([row[measure][key] for row in rows])) for key in KEYS}


# ------------------------------------------------------------------------------------ the run
def run_seed(args, seed: int, base: Path, dataset: Path, new_patients: list[dict], clock: float) -> dict:
    """One seed: reviews on its reviewed patients, the two fine-tunings, the evaluation on its held-out ones."""
    work = Path(args.work) / f"seed{seed}"
    result_path = work / "result.json"
    wanted = ["base", "control", *map(agents_name, args.targets)]
    if result_path.is_file() and all(name in json.loads(result_path.read_text(encoding="utf-8"))["scores"] for name in wanted):
        return json.loads(result_path.read_text(encoding="utf-8"))
    reviewed, held_out = shuffle_new_patients(new_patients, seed, args.reviewed)
    own = time.perf_counter()
    masks = Path(args.work) / "masks"
    masks.mkdir(parents=True, exist_ok=True)
    reviewed_cases = structure_cases(reviewed, masks, args.cut)
    held_out_cases = structure_cases(held_out, masks, args.cut)[: args.max_held_out]

    store_folder, done = work / "store", work / "store.done"
    if not done.is_file():  # a killed review round is redone from scratch in a fresh store
        if store_folder.exists():
            store_folder.rename(work / f"store.abandoned.{int(time.time())}")
        refiner, store = Refiner.from_checkpoint(base), FeedbackStore(store_folder)
        for case in reviewed_cases:
            scripted_review(refiner, case.image, case.truth, store, case.start, args.strokes, args.brush_mm)
        write_text_atomically(done, f"{len(reviewed_cases)} reviews\n")
        print(f"seed {seed}: {len(reviewed_cases)} reviews of {len(reviewed)} patients [{time.perf_counter() - clock:.0f} s]",
              flush=True)

    common = [f"--trainer.max_steps={args.steps}", f"--seed_everything={seed}", *QUIET, *args.finetune_overrides]
    checkpoints = {"base": base, "control": work / "control.ckpt"}
    if not checkpoints["control"].is_file():
        run_finetune(base, None, checkpoints["control"], dataset=str(dataset), overrides=common, resume=_resumable(work / "control.ckpt"))
    for target in args.targets:
        name, path = agents_name(target), work / ("feedback.ckpt" if target == "corrections" else f"feedback_{target}.ckpt")
        checkpoints[name] = path
        if not path.is_file():
            run_finetune(base, store_folder, path, dataset=str(dataset), resume=_resumable(path),
                         overrides=[*common, f"--data.feedback_repeats={args.repeats}", f"--data.feedback_target={target}",
                                    f"--data.feedback_trust_mm={args.trust_mm}"])
    print(f"seed {seed}: control and feedback ({', '.join(args.targets)}) fine-tuned [{time.perf_counter() - clock:.0f} s]",
          flush=True)
    result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else {
        "seed": seed, "reviewed": [c["image"] for c in reviewed], "held_out": [c["image"] for c in held_out],
        "held_out_structures": len(held_out_cases), "scores": {}, "seconds_own": 0.0}
    for name, path in checkpoints.items():
        if name in result["scores"]:
            continue  # evaluated by an earlier run
        per_start = evaluate(path, held_out_cases, seed, args.margin_mm)
        result["scores"][name] = {start: {m: mean_scores(rows, m) for m in ("dice", "tail")} for start, rows in per_start.items()}
        result["scores"][name]["per_case"] = per_start
    result["seconds_own"] += time.perf_counter() - own
    result["load_after"] = os.getloadavg()[0]
    write_text_atomically(result_path, json.dumps(result, indent=1) + "\n")
    print(f"seed {seed}: evaluated [{time.perf_counter() - clock:.0f} s]", flush=True)
    return result


def agents_name(target: str) -> str:
    """The table's name of the agents fine-tuned on the reviews with ``target``."""
    return "feedback" if target == "corrections" else f"feedback ({target.replace('_', ' ')})"


def _resumable(output: Path) -> bool:
    """True when a killed fine-tuning run left a last checkpoint to resume from."""
    return (output.with_name(output.name + ".run") / "checkpoints" / "last.ckpt").is_file()


# ---------------------------------------------------------------------------------- the table
def closed_share(per_seed: list[dict], agents: str, key: str) -> tuple[float, float]:
    """Mean and sd over seeds of (Dice − base Dice) / (1 − base Dice) on the cut starts at ``key``."""
    shares = []
    for result in per_seed:
        base, tuned = (result["scores"][name]["cut"]["dice"][key] for name in ("base", agents))
        shares.append((tuned - base) / max(1.0 - base, 1e-9))
    return float(np.mean(shares)), float(np.std(shares, ddof=1)) if len(shares) > 1 else 0.0


def agents_of(per_seed: list[dict]) -> list[str]:
    """The agents every seed evaluated, base first, in the order they were evaluated."""
    return [name for name in per_seed[0]["scores"] if all(name in r["scores"] for r in per_seed)]


def table(per_seed: list[dict]) -> list[str]:
    """Markdown table: mean over held-out structures, then mean ± sd over seeds."""
    def cell(values):
        values = np.asarray(values, dtype=float)
        return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}" if len(values) > 1 else f"{values.mean():.3f}"

    lines = ["| start | agents | measure | " + " | ".join("no click (zone)" if k == "pass" else "no click, zone lifted"
                                                         if k == "free pass" else k for k in KEYS) + " |",
             "| --- | --- | --- |" + " --- |" * len(KEYS)]
    for start in ("cut", "perturbed"):
        for measure in ("dice", "tail") if start == "cut" else ("dice",):
            for agents in agents_of(per_seed):
                cells = [cell([r["scores"][agents][start][measure][k] for r in per_seed]) for k in KEYS]
                label = "Dice" if measure == "dice" else "tail found"
                lines.append(f"| {start} | {agents} | {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| share of the systematic error closed (cut starts) | " + " | ".join(KEYS) + " |")
    lines.append("| --- |" + " --- |" * len(KEYS))
    for agents in agents_of(per_seed)[1:]:
        cells = []
        for k in KEYS:
            mean, sd = closed_share(per_seed, agents, k)
            cells.append(f"{mean:+.0%} ± {sd:.0%}")
        lines.append(f"| {agents} vs base | " + " | ".join(cells) + " |")
    return lines


def verdicts(per_seed: list[dict]) -> list[str]:
    """The issue's targets, checked on the table's own numbers, for each fine-tuning on the reviews."""
    lines = []
    for agents in (name for name in agents_of(per_seed) if name.startswith("feedback")):
        for key, label in (("free pass", "0 clicks (zone lifted)"), ("@1", "1 click")):
            mean, sd = closed_share(per_seed, agents, key)
            control, _ = closed_share(per_seed, "control", key)
            lines.append(f"- {agents}: share of the systematic error closed at {label}: {mean:+.0%} ± {sd:.0%} (control "
                         f"{control:+.0%}); target ≥ 50%: {'met' if mean >= 0.5 else 'missed'}")
        losses = []
        for key in KEYS[1:]:
            deltas = [r["scores"][agents]["perturbed"]["dice"][key] - r["scores"]["base"]["perturbed"]["dice"][key]
                      for r in per_seed]
            losses.append((float(np.mean(deltas)), key))
        worst, at = min(losses)
        loss = f"{-worst:.3f} Dice at {at}" if worst < 0 else f"none (at least {worst:+.3f} Dice everywhere)"
        lines.append(f"- {agents}: on starts without the error (perturbed), the largest mean loss against base: {loss}; "
                     f"target ≤ 0.005: {'met' if -worst <= 0.005 else 'missed'}")
    return lines


def render_section(per_seed: list[dict], header: str, command: str, facts: dict) -> str:
    lines = ["## Feedback on real patients: corrections on reviewed patients, measured on unseen ones", "",
             f"Generated by `{command}` (see the script's docstring for the setting). {header}.", "",
             "Mean over held-out hippocampi, then mean ± sd over seeds. *cut*: the manual label minus the posterior "
             "share of its A-P extent (the systematic error, on every patient); *perturbed*: the label perturbed to "
             "Dice 0.6–0.8 (no systematic error). *No click (zone)*: one agents' pass with the checkpoint's do-no-harm "
             "zone, which leaves a mask unchanged without a click; *zone lifted*: the same pass acting everywhere. "
             "*Tail found*: the share of the cut-away tail in the mask.", "", *table(per_seed), "",
             "### Targets", "", *verdicts(per_seed), "", "### Machine", "",
             *[f"- {key}: {value}" for key, value in facts.items()], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPOSITORY.parent / "shared" / "data" / "real"), help="the real datasets' folder")
    parser.add_argument("--work", default="feedback_real", help="work folder (cached, resumable; outside the repository)")
    parser.add_argument("--reviewed", type=int, default=10, help="new patients reviewed per seed (the rest are held out)")
    parser.add_argument("--max-held-out", type=int, default=None, help="evaluate at most this many held-out structures")
    parser.add_argument("--cut", type=float, default=0.35, help="share of the hippocampus's A-P extent the starts miss")
    parser.add_argument("--brush-mm", type=float, default=3.0, help="the scripted clinician's brush radius")
    parser.add_argument("--strokes", type=int, nargs="+", default=[4, 2], help="strokes per round (refine after each)")
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps (feedback and control alike)")
    parser.add_argument("--repeats", type=int, default=2, help="each review's weight against a dataset case")
    parser.add_argument("--targets", nargs="+", default=["corrections", "near_marks"], choices=("corrections", "accepted", "near_marks"),
                        help="what the reviews teach, one fine-tuning each (medrl finetune --data.feedback_target)")
    parser.add_argument("--trust-mm", type=float, default=10.0, help="near_marks: how far from a mark the accepted mask is trusted")
    parser.add_argument("--margin-mm", type=float, default=20.0, help="evaluation box: the truth grown by this margin")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run: tiny base, 2 fine-tuning steps")
    parser.add_argument("--output", default=str(REPOSITORY / "docs" / "benchmarks.md"), help="the document to write into")
    parser.add_argument("--no-document", action="store_true", help="print the table only")
    args = parser.parse_args()
    if Path(args.work).resolve().is_relative_to(REPOSITORY):
        parser.error(f"--work {args.work}: keep checkpoints and derived data outside the repository")
    args.finetune_overrides = ["--data.num_workers=0", "--data.visits_per_epoch=8"] if args.quick else []
    if args.quick:
        args.steps = min(args.steps, 2)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    work, clock, facts = Path(args.work), time.perf_counter(), machine_facts(REPOSITORY)
    base_cases, new_patients = split_subjects(Path(args.data))
    dataset = write_base_dataset(base_cases, work / "data" / "brain_base.json")
    base = train("base agents", work / "base_agents", AGENTS_CONFIG, [dataset],
                 list(QUICK.recipe_overrides) if args.quick else [], args.threads)
    per_seed = [run_seed(args, seed, Path(base.checkpoint), dataset, new_patients, clock) for seed in args.seeds]
    header = (f"Base agents: `{base.command}` on {len(base_cases)} subjects ({base.seconds / 60:.1f} min, {base.steps} steps, "
              f"load {base.load_before:.1f} before); {args.reviewed} reviewed patients per seed ({2 * args.reviewed} hippocampi), "
              f"{per_seed[0]['held_out_structures']} held-out hippocampi per seed; seeds {args.seeds}; fine-tuning "
              f"{args.steps} steps each; this invocation {(time.perf_counter() - clock) / 60:.0f} min, the seeds' work over all "
              f"invocations on this work folder {sum(r['seconds_own'] for r in per_seed) / 60:.0f} min (reviews, fine-tuning, "
              f"evaluation), beside the base's training")
    print("\n" + header + "\n")
    print("\n".join(table(per_seed) + [""] + verdicts(per_seed)))
    write_text_atomically(work / "results.json", json.dumps({"settings": {k: v for k, v in vars(args).items()},
                                                             "base": dataclasses.asdict(base), "per_seed": per_seed,
                                                             "header": header}, indent=1) + "\n")
    if not args.no_document and not args.quick:
        command = "python benchmarks/bench_feedback_real.py " + " ".join(sys.argv[1:])
        output = Path(args.output)
        text = output.read_text(encoding="utf-8") if output.is_file() else "# Benchmarks\n"
        write_text_atomically(output, put_section(text, FEEDBACK_REAL_SECTION, render_section(per_seed, header, command, facts)))
        print(f"written: {output} (section {FEEDBACK_REAL_SECTION})")


if __name__ == "__main__":
    main()
