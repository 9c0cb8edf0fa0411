"""Clinicians' corrections teach the agents: a systematic error, corrected on reviewed scans, shrinks on
unseen scans after ``medrl finetune``, with no real loss elsewhere.

The setting. The starting masks of new scans always miss the same part of the organ: the segmenter's
mask with everything above a plane removed, the plane cutting off the top ``--cap`` of the organ's
superior-inferior extent (the "superior cap"). On ``--reviewed`` new scans a scripted clinician opens
a review session (:class:`medrl.review.session.ReviewSession`) on that mask, paints the largest
errors with a brush of ``--brush-mm`` (:func:`medrl.review.scripted_review.scripted_review`: each dab
stays inside its error, so it never labels a voxel wrongly), lets the agents refine, paints again,
and accepts: the reviews go to a feedback store. These scans have no label in training: they teach only through the painted voxels.

Three agents are then compared on ``--held-out`` other new scans:
- ``base``: the checkpoint as it is (``medrl demo``'s);
- ``control``: fine-tuned for the same steps on the original labelled dataset alone (no feedback),
  so that gains from merely training longer are not credited to the feedback;
- ``feedback``: ``medrl finetune --feedback STORE --data DATASET``, the same steps, the reviews mixed
  with the original dataset (``--no-replay``: the reviews alone; ``--anchor W``: the weight of the
  anchor to the starting policy, default medrl finetune's; ``--target accepted``: the accepted masks
  as labels instead of the painted voxels alone).

Each starts from three kinds of masks: ``systematic`` (the segmenter's mask minus the superior cap:
the corrected error), ``segmenter`` (the segmenter's mask as it is) and ``perturbed`` (the original
training perturbations of the label): the last two show whether anything was lost elsewhere. Per start:
Dice of the starting mask, after one agents' pass without any click, and after 1, 3, 5 robot-clinician
interactions; for ``systematic`` also the share of the missing cap recovered.

    medrl demo --output medrl_demo
    python benchmarks/bench_feedback_finetune.py --demo medrl_demo --work feedback_experiment [--seeds 0 1 2]

Each seed draws its own new scans (reviewed and held-out) and its own training randomness; the table
shows the mean over held-out scans, as mean ± sd over seeds. About 3 minutes per seed on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from feedback_play import CLICKS, play

from medrl.data.datasets import load_dataset
from medrl.data.perturbation import PerturbationConfig, perturb_mask
from medrl.data.readers import read_scan
from medrl.data.synthetic import write_synthetic_dataset
from medrl.data.writers import write_mask
from medrl.feedback.store import FeedbackStore
from medrl.inference.refiner import Refiner
from medrl.review.scripted_review import scripted_review
from medrl.training.finetune import run_finetune

QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
         "--trainer.check_val_every_n_epoch=100000"]


# ------------------------------------------------------------------------------------ the error
def world_z(shape, affine: np.ndarray) -> np.ndarray:
    """(X, Y, Z) float32 superior coordinate (RAS z, mm) of every voxel of a grid."""
    index = np.indices(shape, dtype=np.float32)
    return np.tensordot(affine[2, :3].astype(np.float32), index, axes=1) + np.float32(affine[2, 3])


def cap_plane(label: np.ndarray, affine: np.ndarray, cap: float) -> float:
    """World z (mm) of the plane that cuts the top ``cap`` share of the organ's S-I extent."""
    z = world_z(label.shape, affine)[label > 0]
    return float(z.max() - cap * (z.max() - z.min()))


def above(shape, affine: np.ndarray, plane: float) -> np.ndarray:
    """(X, Y, Z) bool: voxels above the plane z = ``plane`` (mm)."""
    return world_z(shape, affine) > plane


# ------------------------------------------------------------------------------- the reviews
def write_biased_starts(refiner: Refiner, cases: list[dict], folder: Path, cap: float) -> list[Path]:
    """The systematic error on each scan's own grid: the segmenter's mask minus the superior cap."""
    paths = []
    for case in cases:
        data = refiner.prepare(case["image"], label=case["label"])
        mask = refiner.to_input_grid(data, refiner.segment(data))[0].numpy().astype(np.uint8)
        label = refiner.to_input_grid(data, data["label"])[0].numpy()
        affine = np.asarray(data["input_affine"])
        mask[above(mask.shape, affine, cap_plane(label, affine, cap))] = 0
        paths.append(write_mask(mask, affine, folder / Path(case["image"]).name, overwrite=True))
    return paths


# ---------------------------------------------------------------------------- the evaluation
def evaluate(checkpoint: Path, cases: list[dict], cap_share: float, seed: int) -> dict:
    """Scores per start kind, model-independent starts (the segmenter is frozen in fine-tuning)."""
    refiner = Refiner.from_checkpoint(checkpoint)
    results = {"systematic": [], "segmenter": [], "perturbed": []}
    for index, case in enumerate(cases):
        data = refiner.prepare(case["image"], label=case["label"])
        truth = data["label"][0].numpy()
        segmenter = refiner.segment(data)[0, 0].numpy() > 0
        affine = np.asarray(data["image"].affine)
        cap = above(truth.shape, affine, cap_plane(truth, affine, cap_share)) & (truth > 0)
        perturbed, _ = perturb_mask(truth, refiner.spacing(data), seed + index, PerturbationConfig(target_dice=(0.6, 0.85)))
        starts = {"systematic": segmenter & ~above(truth.shape, affine, cap_plane(truth, affine, cap_share)),
                  "segmenter": segmenter, "perturbed": perturbed > 0}
        for name, start in starts.items():
            results[name].append(play(refiner, data, start, cap if name == "systematic" else np.zeros_like(cap), seed + index,
                                      "cap"))
    return results


def mean_scores(rows: list[dict], measure: str) -> dict:
    keys = rows[0][measure].keys()
    return {key: float(np.nanmean([row[measure][key] for row in rows])) for key in keys}


def print_table(per_seed: list[dict]) -> None:
    """Means over held-out scans, then mean ± sd over seeds, per start, agents and measure."""
    keys = ["start", "pass", *(f"@{k}" for k in CLICKS)]
    header = f"{'start':<12}{'agents':<10}{'measure':<11}" + "".join(f"{'no click' if k == 'pass' else k:>14}" for k in keys)
    print(header + "\n" + "-" * len(header))
    for start in ("systematic", "segmenter", "perturbed"):
        for measure in ("dice", "cap") if start == "systematic" else ("dice",):
            for model in per_seed[0]:
                values = np.array([[seed[model][start][measure][k] for k in keys] for seed in per_seed])
                cells = "".join(f"{m:>8.3f} ± {d:.3f}" if len(values) > 1 else f"{m:>14.3f}"
                                for m, d in zip(values.mean(0), values.std(0, ddof=1) if len(values) > 1 else values[0]))
                print(f"{start:<12}{model:<10}{'Dice' if measure == 'dice' else 'cap found':<11}{cells}")
        print("-" * len(header))


# ------------------------------------------------------------------------------------ the run
def run_seed(args, seed: int, work: Path, base: Path, dataset: Path, clock: float) -> dict:
    """One seed: new scans, scripted reviews, the two fine-tunings, the evaluation; mean scores per agents."""
    scans = work / "new_scans" / "dataset.json"
    if not scans.is_file():
        write_synthetic_dataset(scans.parent, n_train=args.reviewed, n_val=0, n_test=args.held_out, seed=1000 + seed)
    reviewed, held_out = load_dataset(scans, "training"), load_dataset(scans, "test")

    store_folder = work / "store"
    if not store_folder.is_dir():
        refiner = Refiner.from_checkpoint(base)
        starts = write_biased_starts(refiner, reviewed, work / "biased_starts", args.cap)
        store = FeedbackStore(store_folder)
        records = [scripted_review(refiner, case["image"], case["label"], store, start, args.strokes, args.brush_mm)
                   for case, start in zip(reviewed, starts)]
        marked = [int((read_scan(r.corrections_path, kind="label") > 0).sum()) for r in records]
        print(f"seed {seed}: {len(marked)} reviews recorded; voxels marked per review: mean {np.mean(marked):.0f} "
              f"(min {min(marked)}, max {max(marked)}) [{time.perf_counter() - clock:.0f} s]", flush=True)

    common = ["--trainer.max_steps=" + str(args.steps), f"--seed_everything={seed}", *QUIET,
              f"--model.init_args.initial_steps={args.initial_steps}"]
    variant = ("alone" if args.no_replay else "replay") + ("" if args.anchor is None else f"_anchor{args.anchor:g}") \
        + ("" if args.target == "corrections" else f"_{args.target}")
    checkpoints = {"base": base, "control": work / "control.ckpt", "feedback": work / f"feedback_{variant}.ckpt"}
    if not checkpoints["control"].is_file():
        run_finetune(base, None, checkpoints["control"], dataset=str(dataset), overrides=common)
    if not checkpoints["feedback"].is_file():
        anchor = [] if args.anchor is None else [f"--model.init_args.a2c.anchor_weight={args.anchor}"]
        run_finetune(base, store_folder, checkpoints["feedback"], dataset=None if args.no_replay else str(dataset),
                     overrides=[*common, *anchor, f"--data.feedback_repeats={args.repeats}", f"--data.feedback_target={args.target}"])
    print(f"seed {seed}: control and feedback ({variant}) fine-tuned [{time.perf_counter() - clock:.0f} s]", flush=True)
    results = {name: evaluate(path, held_out, args.cap, seed) for name, path in checkpoints.items()}
    return {name: {start: {m: mean_scores(rows, m) for m in ("dice", "cap")} for start, rows in scores.items()}
            for name, scores in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", default="medrl_demo", help="output folder of `medrl demo` (checkpoint and dataset)")
    parser.add_argument("--work", default="feedback_experiment", help="scratch folder for scans, store, checkpoints")
    parser.add_argument("--reviewed", type=int, default=12, help="new scans reviewed by the scripted clinician")
    parser.add_argument("--held-out", type=int, default=8, help="new scans to evaluate on")
    parser.add_argument("--cap", type=float, default=0.35, help="share of the organ's S-I extent the starts miss")
    parser.add_argument("--brush-mm", type=float, default=4.0, help="the scripted clinician's brush radius")
    parser.add_argument("--strokes", type=int, nargs="+", default=[4, 2], help="strokes per round (refine after each)")
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps (feedback and control alike)")
    parser.add_argument("--repeats", type=int, default=2, help="each review's weight against a dataset case")
    parser.add_argument("--anchor", type=float, help="a2c.anchor_weight of the feedback run (default: medrl finetune's)")
    parser.add_argument("--no-replay", action="store_true", help="fine-tune on the reviews alone, without the dataset")
    parser.add_argument("--target", choices=("corrections", "accepted", "near_marks"), default="corrections",
                        help="what a review teaches: the marked voxels only, the accepted mask as a label, or it near the marks")
    parser.add_argument("--initial-steps", type=int, default=0,
                        help="agent steps before the first click in fine-tuning episodes (control and feedback alike)")
    parser.add_argument("--threads", type=int, help="torch threads (1 when other jobs share the cores)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one new set of scans and runs per seed")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    demo, work = Path(args.demo), Path(args.work)
    clock = time.perf_counter()
    per_seed = [run_seed(args, seed, work / f"seed{seed}", demo / "medrl_demo.ckpt", demo / "data" / "dataset.json", clock)
                for seed in args.seeds]
    print(f"\n{args.held_out} held-out scans per seed, seeds {args.seeds} (mean over scans, then mean ± sd over seeds); "
          f"systematic starts miss the top {args.cap:.0%} of the organ [{time.perf_counter() - clock:.0f} s]\n")
    print_table(per_seed)
    (work / "results.json").write_text(json.dumps({"settings": vars(args), "per_seed": per_seed}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
