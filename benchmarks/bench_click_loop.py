"""The clinician's loop through the command line, on ``medrl demo``'s checkpoint and held-out cases.

Round 0: ``medrl predict`` on the bare scan (segmenter, then the agents over the whole scan). Rounds
1-3: the robot clinician puts one click on the largest error of the last round's mask, written as a
clicks file in LPS world millimetres, and ``medrl predict --mask <last round> --clicks <file>`` refines
around it. Prints Dice per round and case, and the means.

    medrl demo --output medrl_demo && python benchmarks/bench_click_loop.py --demo medrl_demo
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from medrl.data.datasets import load_dataset
from medrl.data.geometry import voxel_spacing
from medrl.data.mask_metrics import dice_score
from medrl.data.readers import read_scan
from medrl.env.clicks import robot_clicks


def predict(checkpoint: Path, image: str, output: Path, *extra: str) -> np.ndarray:
    command = [sys.executable, "-m", "medrl.cli", "predict", "--checkpoint", str(checkpoint), "--input", image,
               "--output", str(output), *extra]
    result = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace")
    if result.returncode != 0:
        sys.exit(result.stderr)
    return read_scan(next(output.glob("*_mask.nii.gz")), kind="label")[0].numpy() > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", default="medrl_demo", help="the output folder of `medrl demo`")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    checkpoint = Path(args.demo) / "medrl_demo.ckpt"
    dice = []
    with tempfile.TemporaryDirectory() as scratch:
        for case in load_dataset(Path(args.demo) / "data" / "dataset.json", "test"):
            folder = Path(scratch) / Path(case["image"]).name.split(".")[0]
            label = read_scan(case["label"], kind="label")
            truth, affine = label[0].numpy() > 0, np.asarray(label.affine)
            masks = [predict(checkpoint, case["image"], folder / "round0")]
            for k in range(1, args.rounds + 1):
                [click] = robot_clicks(masks[-1], truth, voxel_spacing(affine), 1, rng=0) or [None]
                if click is None:
                    masks.append(masks[-1])
                    continue
                lps = (affine[:3, :3] @ np.asarray(click.index) + affine[:3, 3]) * [-1, -1, 1]
                clicks = folder / f"clicks{k}.json"
                clicks.write_text(json.dumps({"coordinate_system": "LPS",
                                              "points": [{"position": lps.tolist(), "positive": click.positive}]}), encoding="utf-8")
                previous = next((folder / f"round{k - 1}").glob("*_mask.nii.gz"))
                masks.append(predict(checkpoint, case["image"], folder / f"round{k}", "--mask", str(previous),
                                     "--clicks", str(clicks)))
            dice.append([dice_score(mask, truth) for mask in masks])
            print(f"{folder.name:12s} " + "  ".join(f"{d:.3f}" for d in dice[-1]))
    print(f"{'mean':12s} " + "  ".join(f"{d:.3f}" for d in np.mean(dice, axis=0)))


if __name__ == "__main__":
    main()
