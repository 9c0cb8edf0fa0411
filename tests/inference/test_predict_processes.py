"""``medrl predict`` as real processes: two DDP ranks on the CPU (gloo) share a folder of scans, each
scan written exactly once; and a run killed mid-way leaves no half-written output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from medrl.data.geometry import orientation_affine
from medrl.data.readers import read_scan
from tests.conftest import make_volume, save_nifti
from tests.training.cli_run import environment


def _scans(folder: Path, count: int, shape=(20, 18, 12)) -> Path:
    folder.mkdir()
    for n in range(count):
        image, _ = make_volume(shape, seed=n)
        save_nifti(image, orientation_affine("LAS", (1.0, 1.0, 2.0), shape), folder / f"scan{n}.nii.gz")
    return folder


def _command(checkpoint, scans, out, *extra) -> list[str]:
    return [sys.executable, "-m", "medrl.cli", "predict", "--checkpoint", str(checkpoint), "--input", str(scans),
            "--output", str(out), *extra]


def test_two_ddp_processes_share_the_scans_and_write_each_once(tmp_path, untrained):
    scans = _scans(tmp_path / "scans", 5)
    result = subprocess.run(_command(untrained, scans, tmp_path / "out", "--devices", "2"), cwd=tmp_path, env=environment(),
                            capture_output=True, encoding="utf-8", errors="replace", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "predict_report.json").read_text(encoding="utf-8"))
    assert sorted(r["name"] for r in report) == [f"scan{n}" for n in range(5)]  # each scan once, none twice
    assert {r["rank"] for r in report} == {0, 1} and all(r["status"] == "ok" for r in report)
    for n in range(5):
        mask = read_scan(tmp_path / "out" / f"scan{n}_mask.nii.gz", kind="label")
        np.testing.assert_allclose(np.asarray(mask.affine), orientation_affine("LAS", (1.0, 1.0, 2.0), (20, 18, 12)), atol=1e-4)


def test_a_killed_run_leaves_only_complete_outputs(tmp_path, untrained):
    scans = _scans(tmp_path / "scans", 8, shape=(64, 64, 48))
    out = tmp_path / "out"
    process = subprocess.Popen(_command(untrained, scans, out, "--save-probabilities"), cwd=tmp_path, env=environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob("*_mask.nii.gz")) and process.poll() is None:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = [p for p in out.iterdir() if not p.name.startswith(".")] if out.exists() else []
    assert written, "the run was killed before it wrote anything"
    for path in written:  # whatever carries a real name is complete
        assert read_scan(path, kind="image").shape[1:] == (64, 64, 48)
    assert not (out / "predict_report.json").exists()
