"""What the training logs say: did a model improve the masks of its own training episodes?

Each model logs, per optimizer step, the Dice of its training episode's masks (CSV logger,
``logs/NAME/lightning_logs/version_N/metrics.csv`` beside the checkpoint):

- agents: ``train/dice/before_1`` (the starting mask) and ``train/dice/after_K`` (after the episode's K
  interactions, with *sampled* actions, so lower than greedy evaluation would give);
- click network: ``train/dice/before`` (its input mask at the trained interaction) and ``train/dice/after``
  (its answer there).

:func:`episode_dice` averages them over the first and the last share of the logged steps.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from benchdoc_training import TrainingRecord


@dataclass(frozen=True)
class EpisodeDice:
    """Mean training-episode Dice (before → after the model acted) early and late in training; NaN where not logged."""

    early_before: float
    early_after: float
    late_before: float
    late_after: float

    @property
    def late_gain(self) -> float:
        return self.late_after - self.late_before


def metrics_file(record: TrainingRecord, name: str) -> Path | None:
    """The newest ``metrics.csv`` of the model ``name`` trained into the record's folder (``None`` if absent)."""
    versions = sorted((Path(record.checkpoint).parent / "logs" / name / "lightning_logs").glob("version_*/metrics.csv"),
                      key=lambda path: int(path.parent.name.split("_")[1]))
    return versions[-1] if versions else None


def _keys(header: list[str]) -> tuple[str, str] | None:
    """(before, after) column names of an agents' or a click network's log; ``None`` for other models."""
    if "train/dice/before" in header:
        return "train/dice/before", "train/dice/after"
    afters = sorted((k for k in header if k.startswith("train/dice/after_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    return ("train/dice/before_1", afters[-1]) if afters else None


def _mean(rows: list[dict], key: str) -> float:
    values = [float(row[key]) for row in rows if row.get(key) not in (None, "")]
    return float(np.nanmean(values)) if values else math.nan


def episode_dice(record: TrainingRecord, name: str, share: float = 0.1) -> EpisodeDice | None:
    """Mean episode Dice over the first and the last ``share`` of the logged steps of model ``name``
    (``None`` for a model that logs no episode Dice, e.g. the segmenter, or without a log)."""
    path = metrics_file(record, name)
    if path is None:
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        keys = _keys(list(reader.fieldnames or []))
        rows = [row for row in reader if keys and row.get(keys[0]) not in (None, "")]
    if keys is None or not rows:
        return None
    count = max(1, int(len(rows) * share))
    early, late = rows[:count], rows[-count:]
    return EpisodeDice(_mean(early, keys[0]), _mean(early, keys[1]), _mean(late, keys[0]), _mean(late, keys[1]))
