"""Fixtures for the notebook tests: a tiny demo checkpoint, trained once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TINY_DEMO_MINUTES = 1.0  # hard cap on each training stage; the tiny budget needs about 25 s in all on 2 cores


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Path:
    """Folder of a tiny ``medrl demo`` training: ``medrl_demo.ckpt`` (segmenter + agents, random-ish
    weights after 3 steps each) and ``data/`` (4 + 1 + 2 synthetic CT-like cases in RAS/LPS/LAS with
    anisotropic spacing, plus the MNI152 MRI case), as ``medrl.demo.train`` writes them.

    Notebooks read them through ``MEDRL_CHECKPOINT`` and ``MEDRL_DEMO_DATA`` (see :func:`notebook_environment`).
    """
    from medrl.demo import DemoSettings, _quiet_lightning, train

    _quiet_lightning()
    folder = tmp_path_factory.mktemp("tiny_demo")
    settings = DemoSettings(segmenter_steps=3, refiner_steps=3, warm_start_steps=2, cases=(4, 1, 2), channels=(4, 8, 16),
                            max_minutes=TINY_DEMO_MINUTES)
    checkpoint, steps = train(folder, settings)
    assert steps == {"segmenter": 3, "agents": 3} and checkpoint == folder / "medrl_demo.ckpt" and (folder / "data" / "dataset.json").is_file()
    return folder


def notebook_environment(demo: Path, work: Path) -> dict:
    """Environment for a notebook's kernel: the tiny demo's checkpoint and data, outputs under ``work``,
    one thread per library (the CPU is shared), this checkout importable."""
    repo = Path(__file__).resolve().parents[2]
    return {"MEDRL_CHECKPOINT": str(demo / "medrl_demo.ckpt"), "MEDRL_DEMO_DATA": str(demo / "data"),
            "MEDRL_REVIEW_WORK": str(work), "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
