"""What a review session records: the clinician's actions (clicks, brush dabs, strokes) and what each
refinement of the agents did, on the working grid."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Action:
    """One clinician action on the working grid (voxel indices (i, j, k)).

    Attributes:
        index: the clicked voxel, a dab's centre, or a stroke's first point.
        foreground: True for foreground (positive click, paint), False for background (negative, erase).
        radius_mm: brush radius in mm (0: a click, the voxel alone).
        path: a stroke's points in drawing order (``path[0] == index``); empty for a click or a dab.
    """

    index: tuple[int, int, int]
    foreground: bool
    radius_mm: float = 0.0
    path: tuple[tuple[int, int, int], ...] = ()

    @property
    def kind(self) -> str:
        """``"stroke"``, ``"brush"`` (one dab) or ``"click"``."""
        return "stroke" if self.path else ("brush" if self.radius_mm > 0 else "click")

    @property
    def points(self) -> tuple[tuple[int, int, int], ...]:
        """Every point the clinician gave: the stroke's path, else the single index."""
        return self.path or (self.index,)

    def as_dict(self) -> dict:
        """JSON-able form, as autosaved (``path`` only for strokes, so older autosaves stay valid)."""
        record = {"index": list(self.index), "foreground": self.foreground, "radius_mm": self.radius_mm}
        return {**record, "path": [list(p) for p in self.path]} if self.path else record

    @classmethod
    def from_dict(cls, record: dict) -> "Action":
        """Inverse of :meth:`as_dict`."""
        path = tuple(tuple(int(v) for v in p) for p in record.get("path", ()))
        return cls(tuple(int(v) for v in record["index"]), bool(record["foreground"]), float(record["radius_mm"]), path)


@dataclass(frozen=True)
class Refinement:
    """What one :meth:`ReviewSession.refine` did, on the working grid, kept for a verdict.

    Attributes:
        before: (1, 1, X', Y', Z') uint8 {0, 1}: the mask it started from.
        direction: (1, 1, X', Y', Z') uint8: 0 unchanged, 1 turned background, 2 turned foreground.
    """

    before: torch.Tensor
    direction: torch.Tensor
