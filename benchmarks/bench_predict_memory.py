"""Peak memory and wall time of ``medrl predict`` on a full-size CT: 512×512×300 voxels, int16.

Writes a synthetic CT-like scan (body ellipse of soft tissue, brighter organs, air outside; LPS,
0.78×0.78×1.0 mm) into a scratch folder, then runs ``medrl predict`` under ``/usr/bin/time -v`` and
prints its peak resident memory (RSS) and wall time. The targets: at most 2 GB peak RSS and 25 s on
2 CPU cores.

The checkpoint decides the working grid: pass ``--checkpoint medrl_demo/medrl_demo.ckpt`` (from
``medrl demo``), or leave it out to use an untrained checkpoint with the demo's architecture and no
resampling (the working grid is then the full 512×512×300 grid, the hardest case for memory). Without
clicks the agents refine the box of the starting mask (grown by a click's reach): the segmenter's mask,
whatever its weights make of this scan, or with ``--mask`` the organ's own mask.

    python benchmarks/bench_predict_memory.py [--checkpoint CKPT] [--clicks] [--mask] [--shape 512 512 300]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from medrl.data.geometry import orientation_affine


def _cross_sections(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) bool cross-sections of the body ellipse and of the organ inside it."""
    x = np.linspace(-1, 1, shape[0], dtype=np.float32)[:, None]
    y = np.linspace(-1, 1, shape[1], dtype=np.float32)[None, :]
    return (x / 0.85) ** 2 + (y / 0.65) ** 2 <= 1, ((x - 0.3) / 0.25) ** 2 + ((y + 0.1) / 0.2) ** 2 <= 1


def _organ_in_slice(k: int, depth: int) -> bool:
    """Whether axial slice ``k`` of ``depth`` holds the organ (the middle two thirds)."""
    return abs(k - depth / 2) < depth / 3


def synthetic_ct(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """int16 HU volume (X, Y, Z): air -1000 outside an elliptic body of ~40 HU, an organ of ~120 HU."""
    rng = np.random.default_rng(seed)
    body, organ = _cross_sections(shape)
    volume = np.empty(shape, np.int16)
    for k in range(shape[2]):  # slice by slice: never a float copy of the whole CT
        slice_hu = np.where(body, 40.0, -1000.0) + 80.0 * (organ & _organ_in_slice(k, shape[2]))
        volume[:, :, k] = (slice_hu + rng.normal(0, 15, slice_hu.shape)).astype(np.int16)
    return volume


def organ_mask(shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 (X, Y, Z) mask of the synthetic CT's organ: a start as another model would give it."""
    organ = _cross_sections(shape)[1]
    mask = np.zeros(shape, np.uint8)
    for k in range(shape[2]):
        mask[:, :, k] = organ & _organ_in_slice(k, shape[2])
    return mask


def untrained_demo_checkpoint(path: Path) -> Path:
    """A checkpoint with the demo's networks (random weights), CT window, no resampling."""
    from medrl.training.agents import AgentsModule
    from medrl.training.segmenter import SegmenterModule

    segmenter = SegmenterModule(channels=(8, 16, 32, 64), strides=(2, 2, 2), roi_size=(96, 96, 64))
    segmenter_path = path.with_name("segmenter.ckpt")
    torch.save({"state_dict": segmenter.state_dict(), "medrl": {"format": 1, **segmenter.bundle_parts()}}, segmenter_path)
    agents = AgentsModule(segmenter_checkpoint=str(segmenter_path), policy_channels=(8, 16, 32, 64),
                           policy_strides=(2, 2, 2), roi_size=(32, 32, 32))
    saved = {"state_dict": agents.state_dict()}
    agents.on_save_checkpoint(saved)
    saved["medrl"]["preprocessing"] = {"spacing": None, "intensity": "ct", "ct_window": [-175.0, 250.0]}
    torch.save(saved, path)
    return path


def run_measured(command: list[str]) -> dict:
    """Run ``command`` under ``/usr/bin/time -v``; return peak RSS (GB), wall seconds and exit status."""
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, encoding="utf-8", errors="replace")
    wall = time.perf_counter() - start
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
    return {"peak_rss_gb": peak_kb / 1024**2, "wall_s": wall, "exit": result.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="medrl checkpoint (default: untrained demo architecture, native grid)")
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 300))
    parser.add_argument("--clicks", action="store_true", help="also run with one positive click (refines around it)")
    parser.add_argument("--mask", action="store_true",
                        help="also run from the organ's mask as the start (--mask; the agents refine its box)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        shape = tuple(args.shape)
        affine = orientation_affine("LPS", (0.78, 0.78, 1.0), shape)
        scan = scratch / "ct.nii"
        nib.save(nib.Nifti1Image(synthetic_ct(shape), affine), scan)
        checkpoint = args.checkpoint or untrained_demo_checkpoint(scratch / "demo_architecture.ckpt")
        base = [sys.executable, "-m", "medrl.cli", "predict", "--checkpoint", str(checkpoint), "--input", str(scan)]
        runs = {"segment + agents (no clicks)": base + ["--output", str(scratch / "out1")]}
        if args.mask:
            mask = scratch / "organ.nii"
            nib.save(nib.Nifti1Image(organ_mask(shape), affine), mask)
            runs["agents from the organ's mask"] = base + ["--mask", str(mask), "--output", str(scratch / "out3")]
        if args.clicks:
            clicks = scratch / "clicks.json"
            centre = [int(s * 0.65) for s in shape[:2]] + [shape[2] // 2]
            clicks.write_text(json.dumps({"coordinate_system": "voxel", "points": [{"position": centre, "positive": True}]}), encoding="utf-8")
            runs["segment + agents around one click"] = base + ["--clicks", str(clicks), "--output", str(scratch / "out2")]
        print(f"scan {shape} int16 ({np.prod(shape) * 2 / 1e9:.2f} GB on disk as .nii), checkpoint {checkpoint}, "
              f"{torch.get_num_threads()} threads")
        for name, command in runs.items():
            figures = run_measured(command)
            print(f"{name:36s} peak RSS {figures['peak_rss_gb']:.2f} GB   wall {figures['wall_s']:.0f} s   exit {figures['exit']}")


if __name__ == "__main__":
    main()
