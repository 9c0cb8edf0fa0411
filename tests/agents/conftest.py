"""Fixtures for the agents' tests."""

from __future__ import annotations

import pytest

from .synthetic_volumes import SyntheticBatch, synthetic_batch


@pytest.fixture
def tiny_batch() -> SyntheticBatch:
    """2 volumes of 12³."""
    return synthetic_batch(batch=2, size=12, seed=0)
