"""The development split of docs/real_patients.md: choose the recipe's settings on unseen patients that are not
the benchmark's.

Brain subjects ``DEV_SUBJECTS`` of ``brain_mr_miccai2012`` are held out (they are in neither fold's test set of
``make_real_patients_benchmark.py``); every other visible real scan trains. Each checkpoint is evaluated on both
sides of the six benchmark structures (36 cases), from perturbed truth (Dice 0.6–0.8), K = 10 robot-clinician
interactions in the box of the structure + 20 mm — the protocol of ``medrl evaluate``. Prints, per checkpoint,
mean Dice after 1/3/5/10 interactions, the harm rate (interactions lowering a case's Dice by > 0.005), the worst
step and the median seconds per interaction; with two or more checkpoints also the paired differences to the first
(mean ± 95% CI over cases). Evaluations are cached in ``--work`` per checkpoint file.

    python benchmarks/real_patients_dev.py --work DIR --split-only                 # write the split's dataset files
    medrl fit --config configs/agents_any_structure.yaml --data.dataset "$(cat DIR/split/training.txt)"
    python benchmarks/real_patients_dev.py --work DIR --checkpoints base.ckpt variant.ckpt
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import statistics
from pathlib import Path

from real_patients_plan import BRAIN, BRAIN_STRUCTURES, BRATS, SARCOMA, SINGLE, _write, patient_of

from medrl.data.datasets import load_dataset
from medrl.evaluation.run import run_evaluation
from medrl.evaluation.settings import EvaluationSettings

REPOSITORY = Path(__file__).resolve().parents[1]
DATA = REPOSITORY.parent / "shared" / "data" / "real"
DEV_SUBJECTS = ("1003", "1008", "1025")
MODALITIES = {BRAIN: "MR", BRATS: "FLAIR", SARCOMA: None, SINGLE: None}
HARM = 0.005
KS = (1, 3, 5, 10)


def write_split(data_root: Path, folder: Path) -> tuple[list[Path], Path]:
    """Write the training dataset files (one per source) and the test file; return (training files, test file)."""
    training, test = [], None
    for name in (BRAIN, BRATS, SARCOMA, SINGLE):
        cases = load_dataset(data_root / name, "training")
        kept = [c for c in cases if patient_of(c) not in DEV_SUBJECTS]
        training.append(_write(folder / "train" / f"{name}.json", name, MODALITIES[name], kept, []))
        if name == BRAIN:
            test = _write(folder / "test" / f"{name}.json", name, "MR", [], [c for c in cases if patient_of(c) in DEV_SUBJECTS])
    (folder / "training.txt").write_text(json.dumps([str(p) for p in training]), encoding="utf-8")
    return training, test


def evaluate_checkpoint(checkpoint: Path, test: Path, folder: Path) -> dict[tuple[str, str], dict[int, float]]:
    """Dice per (task, case) per interaction of the agents in ``checkpoint`` on the split's 12 tasks."""
    dice: dict[tuple[str, str], dict[int, float]] = {}
    seconds = []
    for structure, values in BRAIN_STRUCTURES.items():
        for side, value in zip(("R", "L"), values):
            task = f"{structure.replace(' ', '_')}_{side}"
            output = folder / task
            if not (output / "interactions.csv").is_file():
                run_evaluation(EvaluationSettings(
                    checkpoint=str(checkpoint), data=str(test), output=str(output), interactions=max(KS),
                    start="perturbed", perturbation_dice=(0.6, 0.8), foreground_labels=(value,), crop_margin_mm=20.0,
                    overwrite=True), progress=False)
            with open(output / "interactions.csv", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    if row["method"] == "medrl":
                        dice.setdefault((task, row["case"]), {})[int(row["interaction"])] = float(row["dice"])
                        if int(row["interaction"]) > 0 and row["seconds"]:
                            seconds.append(float(row["seconds"]))
    dice["seconds"] = {0: statistics.median(seconds)} if seconds else {0: float("nan")}
    return dice


def summary_line(name: str, dice: dict) -> str:
    cases = {key: curve for key, curve in dice.items() if key != "seconds"}
    steps = [curve[k] - curve[k - 1] for curve in cases.values() for k in range(1, max(KS) + 1)]
    means = "  ".join(f"@{k} {statistics.mean(c[k] for c in cases.values()):.3f}" for k in (0, *KS))
    return (f"{name}: {len(cases)} cases  {means}  harm {sum(s < -HARM for s in steps) / len(steps):.1%}  "
            f"worst {min(steps):+.3f}  s/interaction {dice['seconds'][0]:.3f}")


def paired_line(name: str, dice: dict, base: dict) -> str:
    parts = []
    for k in KS:
        diffs = [dice[key][k] - base[key][k] for key in base if key != "seconds"]
        half = 1.96 * statistics.stdev(diffs) / math.sqrt(len(diffs))
        parts.append(f"@{k} {statistics.mean(diffs):+.4f} ± {half:.4f}")
    return f"{name} minus the first: " + "  ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="work folder (split files, cached evaluations)")
    parser.add_argument("--data", type=Path, default=DATA, help="the real datasets' folder")
    parser.add_argument("--checkpoints", type=Path, nargs="*", default=[], help="agents' checkpoints; the first is the base")
    parser.add_argument("--split-only", action="store_true", help="write the split's dataset files and stop")
    args = parser.parse_args()
    _, test = write_split(args.data, args.work / "split")
    print(f"training datasets: {(args.work / 'split' / 'training.txt').read_text(encoding='utf-8')}")
    if args.split_only:
        return
    results = []
    for checkpoint in args.checkpoints:
        digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:12]
        results.append((checkpoint.name, evaluate_checkpoint(checkpoint, test, args.work / "eval" / digest)))
        print(summary_line(*results[-1]), flush=True)
    for name, dice in results[1:]:
        print(paired_line(name, dice, results[0][1]))


if __name__ == "__main__":
    main()
