"""Checkpoints and datasets shared by the evaluation tests (made once per test session)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import torch

from tests.evaluation.datasets import two_blob_dataset
from tests.inference.checkpoints import trained_agents_checkpoint, untrained_checkpoint


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread, then restore. These networks are tiny: a second thread gains little, and
    when other jobs share the two cores, OpenMP's waiting threads made training ten times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _one_thread_per_test():
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def voxel_agents(tmp_path_factory) -> Path:
    """Per-voxel agents trained for ~6 s on synthetic ellipsoids (intensity preset "none", no segmenter)."""
    with one_torch_thread():
        return trained_agents_checkpoint(tmp_path_factory.mktemp("voxel"), updates=200, window=(48, 40, 32))


@pytest.fixture(scope="session")
def region_agents(voxel_agents, tmp_path_factory) -> Path:
    """The same policy weights acting as per-region agents (SLIC supervoxels of about 4 mm): a second
    checkpoint with the voxel agents' preprocessing, as a region-agents run would save it."""
    checkpoint = torch.load(voxel_agents, weights_only=True)
    checkpoint["medrl"]["agents"] = {"kind": "region", "region_method": "slic", "region_size_mm": 4.0}
    path = tmp_path_factory.mktemp("region") / "region_agents.ckpt"
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="session")
def with_segmenter(tmp_path_factory) -> Path:
    """A complete checkpoint (segmenter + agents, CT preset) with random weights, 16³ windows."""
    return untrained_checkpoint(tmp_path_factory.mktemp("untrained"))


@pytest.fixture(scope="session")
def blobs_with_initial(tmp_path_factory) -> Path:
    """dataset.json of 3 two-blob cases (RAS, LPS, LAS) whose 'initial' masks miss the second blob."""
    return two_blob_dataset(tmp_path_factory.mktemp("blobs_initial"), cases=3, initial=True)


@pytest.fixture(scope="session")
def blobs_without_initial(tmp_path_factory) -> Path:
    """dataset.json of 2 two-blob cases with labels only, on an anisotropic grid (1 × 1 × 2 mm)."""
    return two_blob_dataset(tmp_path_factory.mktemp("blobs_bare"), cases=2, initial=False, spacing=(1.0, 1.0, 2.0))
