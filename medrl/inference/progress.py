"""Progress within one scan for ``medrl predict``: which stage a scan is in (reading, segmenting, refining,
writing back) and, where a stage has parts (the segmenter's windows, the agents' tiles), how many are done and
about how long the stage has left, shown after Lightning's bar over the scans::

    Predicting DataLoader 0:   0%|          | 0/1 [00:21<?, ?it/s, ct_0042=segmenting (windows) 46/120, 34 s left]

A :class:`StageReport` is a callable ``progress(stage, done, total)``, what :meth:`Refiner.predict` and
:meth:`Refiner.refine_structures` take as ``progress``; it hands one line of text to ``show``.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: ``done`` of ``total`` parts of ``stage`` are finished."""


class StageReport:
    """Turns ``progress(stage, done, total)`` calls into one line: the stage, its parts done, the time it has left.

    Args:
        show: receives the line (e.g. a tqdm bar's ``set_postfix_str``); called at most every ``every`` seconds
            within a stage, and at each new stage and each stage's end.
        every: the shortest interval between two lines of the same stage.
    """

    def __init__(self, show: Callable[[str], None], every: float = 0.5):
        self.show, self.every = show, every
        self.stage, self.started, self.shown = None, 0.0, 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage != self.stage:
            self.stage, self.started, self.shown = stage, now, 0.0
        elif now - self.shown < self.every and done < total:
            return
        self.shown = now
        self.show(self.line(stage, done, total, now - self.started))

    @staticmethod
    def line(stage: str, done: int, total: int, elapsed: float) -> str:
        """``"stage 3/12, 40 s left"``; without the count for a one-part stage, without the estimate before a part is done."""
        if total <= 1:
            return stage
        left = f", {elapsed / done * (total - done):.0f} s left" if 0 < done < total else ""
        return f"{stage} {min(done, total)}/{total}{left}"


def sliding_window_count(shape: Sequence[int], roi_size: Sequence[int], overlap: float, batch: int) -> int:
    """How many batches of ``batch`` windows MONAI's sliding-window inference runs over ``shape`` (its scan: a
    window every ``roi · (1 − overlap)`` voxels along each axis, the last one flush with the end)."""
    windows = 1
    for size, roi in zip(shape, roi_size):
        interval = max(int(roi * (1 - overlap)), 1)
        windows *= 1 if size <= roi else math.ceil((size - roi) / interval) + 1
    return math.ceil(windows / max(batch, 1))
