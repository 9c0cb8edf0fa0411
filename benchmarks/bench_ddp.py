"""DDP on a CPU: training steps with 2 processes vs 1, and validation metrics synced across ranks.

Both runs use the whole machine: one process with 2 torch threads, or two DDP processes (gloo) with one
thread each. ``medrl fit --config medrl/configs/demo.yaml`` (per-voxel agents on the built-in data, patches of
32³, batch 2 per process) runs twice per setting, for ``--short`` and ``--long`` steps; the time per
step is the difference over the extra steps, so start-up (imports, data caching, process launch) drops
out. A DDP step trains on twice the patches (each rank its own batch), so samples per second are shown
too. Then ``medrl validate`` plays the robot-clinician protocol on the same 4 validation cases with the last
checkpoint, once with 1 process and once with 2 (2 cases each, metrics synced with ``sync_dist``): the
logged Dice after each interaction must match.

Run:  python benchmarks/bench_ddp.py [--short 10] [--long 40]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--data.demo_cases=[8, 4, 0]", "--data.batch_size=2", "--data.max_validation_cases=4",
         "--model.init_args.val_interactions=3", "--trainer.enable_progress_bar=false", "--trainer.log_every_n_steps=1",
         "--trainer.check_val_every_n_epoch=100000", "--trainer.enable_model_summary=false"]


def processes(n: int) -> list[str]:
    return ["--trainer.accelerator=cpu", f"--trainer.devices={n}"] + (["--trainer.strategy=ddp"] if n > 1 else [])


def run(command: list[str], cwd: Path, threads: int) -> float:
    """Run a medrl command; return its wall time in seconds (exit on failure, with its output)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(REPO))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "medrl.cli", *command], cwd=cwd, env=env, capture_output=True, encoding="utf-8", errors="replace")
    if result.returncode != 0:
        sys.exit(result.stdout[-2000:] + result.stderr[-4000:])
    return time.perf_counter() - start


def fit(cwd: Path, n: int, steps: int) -> float:
    return run(["fit", "--config", str(REPO / "medrl" / "configs" / "demo.yaml"), *SMALL, *processes(n), f"--trainer.max_steps={steps}",
                f"--trainer.default_root_dir={cwd / f'run{n}_{steps}'}"], cwd, threads=2 // n)


def validation_dice(cwd: Path, n: int, checkpoint: Path) -> dict[str, float]:
    """The val/dice_k metrics ``medrl validate`` logs with ``n`` processes."""
    log_dir = cwd / f"validate{n}"
    run(["validate", "--config", str(REPO / "medrl" / "configs" / "demo.yaml"), *SMALL, *processes(n), f"--ckpt_path={checkpoint}",
         f"--trainer.logger.init_args.save_dir={log_dir}"], cwd, threads=2 // n)
    rows = list(csv.DictReader(next(log_dir.rglob("metrics.csv")).open(encoding="utf-8")))
    return {key: float(value) for row in rows for key, value in row.items() if key.startswith("val/dice_") and value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=10, help="steps of the short run")
    parser.add_argument("--long", type=int, default=40, help="steps of the long run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        fit(cwd, 1, 1)  # writes the demo data and warms the caches once
        per_step = {}
        for n in (1, 2):
            short, long = fit(cwd, n, args.short), fit(cwd, n, args.long)
            per_step[n] = (long - short) / (args.long - args.short)
        checkpoint = cwd / "medrl_runs" / "demo" / "checkpoints" / "last.ckpt"
        synced = {n: validation_dice(cwd, n, checkpoint) for n in (1, 2)}

    print(f"medrl fit, medrl/configs/demo.yaml agents, 32³ patches, batch 2 per process; {args.long - args.short} steps timed")
    print(f"{'processes':>10}  {'threads each':>12}  {'s / step':>9}  {'patches / s':>11}")
    for n, seconds in per_step.items():
        print(f"{n:>10}  {2 // n:>12}  {seconds:>9.3f}  {2 * n / seconds:>11.1f}")
    print(f"DDP speed-up in patches per second: {per_step[1] * 2 / per_step[2]:.2f}x")
    print("\nmedrl validate, 4 cases, robot-clinician protocol (Dice after k interactions):")
    print(f"{'metric':<14}{'1 process':>11}{'2 processes':>13}")
    for key in sorted(synced[1]):
        print(f"{key:<14}{synced[1][key]:>11.4f}{synced[2].get(key, float('nan')):>13.4f}")
    worst = max(abs(synced[1][key] - synced[2][key]) for key in synced[1])
    print(f"largest difference: {worst:.2e} ({'match' if worst < 1e-4 else 'MISMATCH'})")


if __name__ == "__main__":
    main()
