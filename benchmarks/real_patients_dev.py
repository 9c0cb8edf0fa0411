"""The development split of docs/real_patients.md: choose the recipe's settings on unseen patients that are not
the benchmark's.

Brain subjects ``DEV_SUBJECTS`` of ``brain_mr_miccai2012`` are held out (they are in neither fold's test set of
``make_real_patients_benchmark.py``); every other visible real scan trains. Each checkpoint is evaluated on both
sides of the six benchmark structures (36 cases), from perturbed truth (Dice 0.6–0.8; or ``--start empty``), K = 10 robot-clinician
interactions in the box of the structure + 20 mm — the protocol of ``medrl evaluate``. ``--structures large`` tests
instead three structures tens of millimetres across (``LARGE_STRUCTURES``: cerebellum exterior and white matter,
cerebral white matter; 18 cases), where a click on an empty or partial mask sits deep inside the error. Prints, per checkpoint,
mean Dice after 1/3/5/10 interactions, the harm rate (interactions lowering a case's Dice by > 0.005), the worst
step and the median seconds per interaction; with two or more checkpoints also the paired differences to the first
(mean ± Student-t 95% CI over cases). Evaluations are cached in ``--work`` per checkpoint file.

    python benchmarks/real_patients_dev.py --work DIR --split-only                 # write the split's dataset files
    medrl fit --config configs/agents_any_structure.yaml --data.dataset "$(cat DIR/split/training.txt)"
    python benchmarks/real_patients_dev.py --work DIR --checkpoints base.ckpt variant.ckpt
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from pathlib import Path

from real_patients_plan import BRAIN, BRAIN_STRUCTURES, BRATS, MODALITIES, SARCOMA, SINGLE, _write, patient_of
from real_patients_table import Curve, harm_rate, read_curves

from medrl.data.datasets import load_dataset
from medrl.evaluation.methods import Brush
from medrl.evaluation.run import run_evaluation
from medrl.evaluation.settings import EvaluationSettings
from medrl.evaluation.summary import mean_ci

REPOSITORY = Path(__file__).resolve().parents[1]
DATA = REPOSITORY.parent / "shared" / "data" / "real"
DEV_SUBJECTS = ("1003", "1008", "1025")
KS = (1, 3, 5, 10)
LARGE_STRUCTURES = {  # label values of brain_mr_miccai2012 (its label_names.csv), structures tens of millimetres across
    "cerebellum exterior": (38, 39), "cerebellum white matter": (40, 41), "cerebral white matter": (44, 45),
}


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


def evaluate_checkpoint(checkpoint: Path, test: Path, folder: Path, start: str = "perturbed",
                        method: str = "medrl", structures: dict = BRAIN_STRUCTURES) -> dict[tuple[str, str], Curve]:
    """``method``'s curve (the agents', or ``brush``) per (task, case) with ``checkpoint`` on the split's tasks (both
    sides of ``structures``) from ``start`` masks (``perturbed`` or ``empty``; evaluations cached in ``folder``)."""
    curves = {}
    for structure, values in structures.items():
        for side, value in zip(("R", "L"), values):
            task = f"{structure.replace(' ', '_')}_{side}"
            output = folder / task
            if not (output / "interactions.csv").is_file():
                run_evaluation(EvaluationSettings(
                    checkpoint=str(checkpoint), data=str(test), output=str(output), interactions=max(KS),
                    start=start, perturbation_dice=(0.6, 0.8), foreground_labels=(value,), crop_margin_mm=20.0,
                    overwrite=True), extra_methods=[Brush()], progress=False)
            curves.update({(task, c.case): c for c in read_curves(output, "brain", task, start) if c.method == method})
    return curves


def summary_line(name: str, curves: dict[tuple[str, str], Curve]) -> str:
    means = "  ".join(f"@{k} {statistics.mean(c.dice[k] for c in curves.values()):.3f}" for k in (0, *KS))
    worst = min(after - before for c in curves.values() for before, after in zip(c.dice, c.dice[1:]))
    seconds = statistics.median(s for c in curves.values() for s in c.seconds)
    return (f"{name}: {len(curves)} cases  {means}  harm {harm_rate(list(curves.values())):.1%}  worst {worst:+.3f}  "
            f"s/interaction {seconds:.3f}")


def paired_line(name: str, curves: dict[tuple[str, str], Curve], base: dict[tuple[str, str], Curve]) -> str:
    parts = []
    for k in KS:
        estimate = mean_ci([curves[key].dice[k] - base[key].dice[k] for key in base])
        parts.append(f"@{k} {estimate.mean:+.4f} ± {(estimate.high - estimate.low) / 2:.4f}")
    return f"{name} minus the first (mean, 95% CI half-width): " + "  ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="work folder (split files, cached evaluations)")
    parser.add_argument("--data", type=Path, default=DATA, help="the real datasets' folder")
    parser.add_argument("--checkpoints", type=Path, nargs="*", default=[], help="agents' checkpoints; the first is the base")
    parser.add_argument("--split-only", action="store_true", help="write the split's dataset files and stop")
    parser.add_argument("--start", choices=("perturbed", "empty"), default="perturbed",
                        help="starting masks: perturbed truth (Dice 0.6-0.8) or empty (segmentation from clicks alone)")
    parser.add_argument("--structures", choices=("benchmark", "large"), default="benchmark",
                        help="the benchmark's six structures, or three large ones (LARGE_STRUCTURES)")
    args = parser.parse_args()
    structures = BRAIN_STRUCTURES if args.structures == "benchmark" else LARGE_STRUCTURES
    _, test = write_split(args.data, args.work / "split")
    print(f"training datasets: {(args.work / 'split' / 'training.txt').read_text(encoding='utf-8')}")
    if args.split_only:
        return
    results = []
    for checkpoint in args.checkpoints:
        digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:12]
        suffix = "".join(f"_{part}" for part, default in ((args.start, "perturbed"), (args.structures, "benchmark"))
                         if part != default)
        folder = args.work / "eval" / f"{digest}{suffix}"
        results.append((checkpoint.name, evaluate_checkpoint(checkpoint, test, folder, args.start, structures=structures)))
        print(summary_line(*results[-1]), flush=True)
        if len(results) == 1:
            print(summary_line("brush (reads the truth)",
                               evaluate_checkpoint(checkpoint, test, folder, args.start, "brush", structures)))
    for name, dice in results[1:]:
        print(paired_line(name, dice, results[0][1]))


if __name__ == "__main__":
    main()
