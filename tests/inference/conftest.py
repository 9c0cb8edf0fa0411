"""Checkpoints shared by the inference tests (made once per test session)."""

from __future__ import annotations

import pytest

from tests.inference.checkpoints import trained_agents_checkpoint, untrained_checkpoint


@pytest.fixture(scope="session")
def untrained(tmp_path_factory):
    """Path of a complete checkpoint (segmenter + agents) with random weights, 16³ windows."""
    return untrained_checkpoint(tmp_path_factory.mktemp("untrained"))


@pytest.fixture(scope="session")
def trained_agents(tmp_path_factory):
    """Path of a checkpoint whose agents were trained for ~8 s on synthetic ellipsoids (no segmenter)."""
    return trained_agents_checkpoint(tmp_path_factory.mktemp("trained"), updates=200, window=(48, 40, 32))
