"""A clinician's review of one scan, as a Python object: what the notebook widget drives, and what a
notebook cell or a test can drive without a browser.

    session = ReviewSession(refiner, "scan.nii.gz", store=FeedbackStore("feedback/"), reviewer="dr_a")
    session.click((60, 41, 22), positive=True)        # working-grid voxel (the widget's views)
    session.paint((70, 45, 20), radius_mm=4.0)        # brush: these voxels are foreground
    session.paint((72, 45, 20), radius_mm=2.0, erase=True)
    session.refine()                                   # the agents act around the new clicks and strokes
    session.undo(); session.redo()
    record = session.accept()                          # mask on the scan's own grid + a feedback record

Everything happens on the refiner's working grid (canonical RAS). Clinician labels are final: a
clicked or painted voxel keeps its label through every refinement. Strokes also give the agents a
hint at their centre. After every action the session's clicks and strokes are autosaved in the store,
so a crashed kernel loses nothing: ``ReviewSession.resume(...)`` replays them.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import numpy as np
import torch

from medrl.env.clicks import Click, click_ball
from medrl.env.state import soft_start, to_mask
from medrl.feedback.store import FeedbackStore, ReviewRecord
from medrl.inference.refiner import Refiner

UNTOUCHED, MARKED_BACKGROUND, MARKED_FOREGROUND = 0, 1, 2


@dataclass(frozen=True)
class Action:
    """One clinician action on the working grid: a click (radius 0) or a brush stroke."""

    index: tuple[int, int, int]
    foreground: bool
    radius_mm: float = 0.0

    def as_dict(self) -> dict:
        return {"index": list(self.index), "foreground": self.foreground, "radius_mm": self.radius_mm}


class ReviewSession:
    """One scan under review.

    Args:
        refiner: the agents (and segmenter) to use.
        scan: the scan's path.
        mask: optional starting mask on the scan's grid (path); default: the segmenter's.
        store: where ``accept`` records the review and where work in progress is autosaved.
        reviewer: who reviews.
        session_id: name of the autosave (default: a new random one).
    """

    def __init__(self, refiner: Refiner, scan: str | os.PathLike, mask: str | os.PathLike | None = None,
                 store: FeedbackStore | None = None, reviewer: str = "unknown", session_id: str | None = None):
        self.refiner, self.scan, self.mask_path = refiner, os.fspath(scan), None if mask is None else os.fspath(mask)
        self.store, self.reviewer = store, reviewer
        self.session_id = session_id or uuid.uuid4().hex
        self.case = refiner.prepare(self.scan, initial=self.mask_path)
        start = self.case["initial"][None] if mask is not None else refiner.segment(self.case)
        self.before = (start.float() >= 0.5).to(torch.uint8)  # (1, 1, X', Y', Z')
        self.p = soft_start(start.float(), *refiner.soft_start)
        self.after: torch.Tensor | None = None
        self.actions: list[Action] = []
        self.refined_upto = 0  # actions[:refined_upto] were seen by the agents
        self._undo: list[tuple] = []
        self._redo: list[tuple] = []

    @classmethod
    def resume(cls, refiner: Refiner, store: FeedbackStore, session_id: str) -> "ReviewSession":
        """Reopen an autosaved session (e.g. after a kernel crash) and replay its clicks and strokes
        (the agents' refinements are not replayed: call :meth:`refine` again)."""
        state = store.recover(session_id)
        session = cls(refiner, state["scan"], state["mask"], store, state["reviewer"], session_id)
        for action in state["actions"]:
            session._apply(Action(tuple(action["index"]), action["foreground"], action["radius_mm"]))
        return session

    # ------------------------------------------------------------------------------ actions
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.case["image"].shape[1:])

    def mask(self) -> np.ndarray:
        """(X', Y', Z') uint8 {0, 1}: the current mask on the working grid."""
        return to_mask(self.p)[0, 0].numpy().astype(np.uint8)

    def click(self, index, positive: bool = True) -> None:
        """A click at working-grid voxel ``index``: that voxel's label, and a hint for the agents."""
        self._apply(Action(tuple(int(i) for i in index), bool(positive)))

    def paint(self, centre, radius_mm: float, erase: bool = False) -> None:
        """A brush dab: voxels within ``radius_mm`` of ``centre`` become foreground (erase: background)."""
        self._apply(Action(tuple(int(i) for i in centre), not erase, float(radius_mm)))

    def refine(self, steps: int | None = None) -> None:
        """Let the agents act around the actions since the last refinement (all clicks stay as hints)."""
        self._checkpoint()
        clicks = [Click(a.index, a.foreground) for a in self.actions]
        new, previous = clicks[self.refined_upto:], clicks[: self.refined_upto]
        self.p = self.refiner.refine(self.case, self.p, new, steps=steps, previous_clicks=previous, resume=True)
        self._fix_labels()
        self.after, self.refined_upto = to_mask(self.p).to(torch.uint8), len(self.actions)

    def undo(self) -> bool:
        """Go back one action or refinement; False when there is nothing to undo."""
        return self._swap(self._undo, self._redo)

    def redo(self) -> bool:
        return self._swap(self._redo, self._undo)

    def accept(self) -> ReviewRecord:
        """Record the review in the store: accepted, before, after and correction masks on the scan's
        own grid, clicks in RAS mm. The autosave is then closed."""
        if self.store is None:
            raise ValueError("this session has no feedback store to accept into")
        to_input = self.refiner.to_input_grid
        masks = {"accepted": to_input(self.case, to_mask(self.p)), "before": to_input(self.case, self.before),
                 "corrections": to_input(self.case, self.corrections()[None, None])}
        if self.after is not None:
            masks["after"] = to_input(self.case, self.after)
        affine = np.asarray(masks["accepted"].affine)
        record = self.store.add_review(self.scan, self.reviewer, {k: v[0].numpy().round().astype(np.uint8) for k, v in masks.items()},
                                       affine, self.clicks_ras(), checkpoint=self.refiner.source)
        self.store.close_session(self.session_id)
        return record

    # ---------------------------------------------------------------------------- records
    def corrections(self) -> torch.Tensor:
        """(X', Y', Z') uint8: 0 untouched, 1 marked background, 2 marked foreground (later actions win)."""
        marks = torch.zeros(self.shape, dtype=torch.uint8)
        for action in self.actions:
            marks[self._ball(action)] = MARKED_FOREGROUND if action.foreground else MARKED_BACKGROUND
        return marks

    def clicks_ras(self) -> list[dict]:
        """Every action in RAS millimetres: ``{"position", "positive", "radius_mm"}``."""
        affine = np.asarray(self.case["image"].affine)
        return [{"position": (affine[:3, :3] @ np.asarray(a.index) + affine[:3, 3]).round(4).tolist(),
                 "positive": a.foreground, "radius_mm": a.radius_mm} for a in self.actions]

    # --------------------------------------------------------------------------- internals
    def _ball(self, action: Action) -> torch.Tensor:
        return click_ball(Click(action.index, action.foreground), self.shape, self.refiner.spacing(self.case), action.radius_mm)

    def _apply(self, action: Action) -> None:
        if any(not 0 <= i < s for i, s in zip(action.index, self.shape)):
            raise IndexError(f"voxel {action.index} lies outside the working grid {self.shape}")
        self._checkpoint()
        self.actions.append(action)
        self.p[0, 0][self._ball(action)] = 1.0 if action.foreground else 0.0
        self._autosave()

    def _fix_labels(self) -> None:
        marks = self.corrections()
        self.p[0, 0] = torch.where(marks == MARKED_FOREGROUND, 1.0, torch.where(marks == MARKED_BACKGROUND, 0.0, self.p[0, 0]))

    def _state(self) -> tuple:
        return self.p.clone(), list(self.actions), self.refined_upto, self.after

    def _checkpoint(self) -> None:
        self._undo.append(self._state())
        self._redo.clear()

    def _swap(self, source: list, target: list) -> bool:
        if not source:
            return False
        target.append(self._state())
        self.p, self.actions, self.refined_upto, self.after = source.pop()
        self._autosave()
        return True

    def _autosave(self) -> None:
        if self.store is not None:
            self.store.autosave(self.session_id, {"scan": self.scan, "mask": self.mask_path, "reviewer": self.reviewer,
                                                  "actions": [a.as_dict() for a in self.actions]})
