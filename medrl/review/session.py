"""A clinician's review of one scan, as a Python object: what the notebook widget drives, and what a
notebook cell or a test can drive without a browser.

    session = ReviewSession(refiner, "scan.nii.gz", store=FeedbackStore("feedback/"), reviewer="dr_a")
    session.click((60, 41, 22), positive=True)        # working-grid voxel (the widget's views)
    session.paint((70, 45, 20), radius_mm=4.0)        # brush: these voxels are foreground
    session.paint((72, 45, 20), radius_mm=2.0, erase=True)
    session.stroke([(60, 40, 22), (66, 44, 22)], radius_mm=3.0)   # a mouse drag: one undoable action
    session.refine()                                   # the agents act around the new clicks and strokes
    session.reject()                                   # not like that: undone, and a verdict -1 recorded
    session.undo(); session.redo()
    session.refine()
    record = session.accept(save_to="out/scan_mask.nii.gz")   # mask on the scan's grid + a feedback record
                                                       # (and a verdict +1 for the last refinement)

One structure of a multi-label map (nnU-Net, TotalSegmentator, a Slicer segmentation) is reviewed with
``ReviewSession(refiner, scan, mask="ct_ml.nii.gz", label="liver", ...)``: the structure is the mask
under review, the others are context (:meth:`ReviewSession.context`), ``accept(save_to=...)`` writes the
whole map back with only that structure changed, and the store records which structure it was. The next
structure of the same sitting is ``session.review_structure("spleen")``: it starts from the map as this
session saved it, and may save over that file (never over the clinician's original map), so one output
file gathers every structure reviewed.

Everything happens on the refiner's working grid (canonical RAS). Clinician labels are final: a
clicked or painted voxel keeps its label through every refinement. A dab gives the agents a hint at
its centre, a stroke hints along its path (one every σ of the hint maps). After every action the
session's clicks and strokes are autosaved in the store, so a crashed kernel loses nothing:
``ReviewSession.resume(...)`` replays them. Once accepted, a session refuses further changes (one
session, one review): open a new session to review the scan again.

Verdicts teach the agents what a clinician thought of their work (:mod:`medrl.env.rewards.verdict`):
``reject()`` right after a refinement undoes it and records verdict −1 for it in the store;
``accept()`` records verdict +1 for the last refinement still standing. Each verdict keeps the mask the
refinement started from and its direction map (which voxels it turned foreground or background); a
refinement that changed no voxel's mask gets no verdict.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from medrl.data.atomic import refuse_to_overwrite
from medrl.data.label_maps import LabelMap, is_seg_nrrd, read_label_map, write_label_map
from medrl.data.writers import NIFTI_SUFFIXES, write_mask
from medrl.env.clicks import Click
from medrl.env.rewards.target import MARKED_BACKGROUND, MARKED_FOREGROUND
from medrl.env.rewards.verdict import ACCEPTED, REJECTED, refinement_direction
from medrl.env.state import soft_start, to_mask
from medrl.errors import MedrlInputError
from medrl.feedback.store import FeedbackStore, ReviewRecord, VerdictRecord
from medrl.inference.refiner import Refiner
from medrl.inference.structures import apply_structure_change
from medrl.review.brush import densify, footprint, thin
from medrl.review.display_image import raw_on_working_grid
from medrl.review.history import Action, Refinement


class ReviewSession:
    """One scan under review.

    Args:
        refiner: the agents (and segmenter) to use.
        scan: the scan's path.
        mask: optional starting mask on the scan's grid (path); default: the segmenter's.
        store: where ``accept`` records the review and where work in progress is autosaved.
        reviewer: who reviews.
        session_id: name of the autosave (default: a new random one).
        undo_limit: undo steps kept; each holds a float32 copy of the working-grid probabilities
            (about 50 MB for 256×256×200 voxels), so the oldest are dropped beyond this.
        label: with a multi-label ``mask``, the structure to review (value or name).
        label_names: a names sidecar for ``label`` (see :mod:`medrl.data.label_names`).
        original: when ``mask`` is this sitting's own output (see :meth:`review_structure`), the clinician's
            map it was made from: that one is never written over, ``mask`` itself may be.
    """

    def __init__(self, refiner: Refiner, scan: str | os.PathLike, mask: str | os.PathLike | None = None,
                 store: FeedbackStore | None = None, reviewer: str = "unknown", session_id: str | None = None,
                 undo_limit: int = 30, label: int | str | None = None, label_names: str | os.PathLike | None = None,
                 original: str | os.PathLike | None = None):
        self.refiner, self.scan, self.mask_path = refiner, os.fspath(scan), None if mask is None else os.fspath(mask)
        self.original = None if original is None else os.fspath(original)
        self.store, self.reviewer = store, reviewer
        self.session_id = session_id or uuid.uuid4().hex
        self.label_map, self.structure = None, None
        self.label_names = None if label_names is None else os.fspath(label_names)
        if label is not None:
            if mask is None:
                raise MedrlInputError("label", "a structure is chosen from a multi-label mask; give the map as mask")
            self.label_map = read_label_map(self.mask_path, label_names)
            value = self.label_map.names.value_of(label, self.label_map.labels, self.mask_path)
            self.structure = {"value": value, "name": self.label_map.names.name_of(value)}
            self.case = refiner.prepare(self.scan, structures=self.label_map.as_meta_tensor())
            start = (self.case["structures"] == value).float()[None]
        else:
            self.case = refiner.prepare(self.scan, initial=self.mask_path)
            start = self.case["initial"][None] if mask is not None else refiner.segment(self.case)
        self.before = (start.float() >= 0.5).to(torch.uint8)  # (1, 1, X', Y', Z')
        self.p = soft_start(start.float(), *refiner.soft_start)
        self.after: torch.Tensor | None = None
        self.actions: list[Action] = []
        self.refined_upto = 0  # actions[:refined_upto] were seen by the agents
        self.saved_to: Path | None = None  # where accept(save_to=...) wrote the mask
        self.record: ReviewRecord | None = None  # set by accept; the session is then closed to changes
        self.refinement: Refinement | None = None  # the last refinement standing (not rejected, not undone)
        self.verdicts: list[VerdictRecord] = []  # recorded by reject and accept, oldest first
        self._display: np.ndarray | None = None
        self._undo: list[tuple] = []
        self._redo: list[tuple] = []
        self.undo_limit = max(1, int(undo_limit))

    @classmethod
    def resume(cls, refiner: Refiner, store: FeedbackStore, session_id: str) -> "ReviewSession":
        """Reopen an autosaved session (e.g. after a kernel crash) and replay its clicks and strokes
        (the agents' refinements are not replayed: call :meth:`refine` again).

        Raises:
            MedrlInputError: no autosave of that session, or the session is already recorded as a review.
        """
        state = store.recover(session_id)
        if state is None:
            recorded = store.review_of_session(session_id)
            why = f"it was accepted as review {recorded.id}" if recorded else "no autosave of it in this store"
            raise MedrlInputError(f"session {session_id}", f"nothing to resume: {why}")
        session = cls(refiner, state["scan"], state["mask"], store, state["reviewer"], session_id,
                      label=state.get("label"), label_names=state.get("label_names"), original=state.get("original"))
        for action in state["actions"]:
            session._apply(Action.from_dict(action))
        return session

    def review_structure(self, label: int | str) -> "ReviewSession":
        """A new session on another structure of the same multi-label map, in the same sitting.

        It starts from the map as this session saved it (``accept(save_to=...)``), else from the map this
        session read; accepting it with the same ``save_to`` writes over that saved file, so one output
        gathers every structure reviewed, while the clinician's original map is never written over.

        Raises:
            MedrlInputError: this session reviews a binary mask, has actions not yet accepted (accept or
                undo them first), or ``label`` is not in the map.
        """
        if self.label_map is None:
            raise MedrlInputError("label", "this session reviews a binary mask; open a multi-label map to pick structures")
        if self.record is None and self.actions:
            raise MedrlInputError(f"label {label}", f"{len(self.actions)} action(s) on {self.structure['name']} are not "
                                  "accepted; accept or undo them before reviewing another structure")
        saved = self.saved_to is not None
        return ReviewSession(self.refiner, self.scan, self.saved_to if saved else self.mask_path, self.store,
                             self.reviewer, undo_limit=self.undo_limit, label=label, label_names=self.label_names,
                             original=(self.original or self.mask_path) if saved else self.original)

    # ------------------------------------------------------------------------------ actions
    @property
    def shape(self) -> tuple[int, int, int]:
        """(X', Y', Z'): the working grid's size in voxels."""
        return tuple(self.case["image"].shape[1:])

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm of the working grid along (X', Y', Z')."""
        return self.refiner.spacing(self.case)

    @property
    def intensity(self) -> str:
        """The checkpoint's intensity preset (``"ct"``, ``"mr"`` or ``"none"``): the scan's kind."""
        return self.refiner.preprocessing.intensity

    def display_image(self) -> np.ndarray:
        """(X', Y', Z') float32: the scan on the working grid in its own intensities (HU for CT), for
        display; read once, then kept (see :mod:`medrl.review.display_image`)."""
        if self._display is None:
            self._display = raw_on_working_grid(self.refiner.preprocessing, self.scan, self.case["image"])
        return self._display

    def mask(self) -> np.ndarray:
        """(X', Y', Z') uint8 {0, 1}: the current mask on the working grid."""
        return to_mask(self.p)[0, 0].numpy().astype(np.uint8)

    def context(self) -> np.ndarray | None:
        """(X', Y', Z') int32 label values of the map's *other* structures on the working grid (0 elsewhere), for
        showing them around the structure under review; ``None`` when the session reviews a binary mask."""
        if self.label_map is None:
            return None
        labels = self.case["structures"][0].numpy().astype(np.int32)
        return np.where(labels == self.structure["value"], 0, labels)

    def click(self, index, positive: bool = True) -> None:
        """A click at working-grid voxel ``index``: that voxel's label, and a hint for the agents."""
        self._apply(Action(tuple(int(i) for i in index), bool(positive)))

    def paint(self, centre, radius_mm: float, erase: bool = False) -> None:
        """A brush dab: voxels within ``radius_mm`` of ``centre`` become foreground (erase: background)."""
        self._apply(Action(tuple(int(i) for i in centre), not erase, _radius(radius_mm)))

    def stroke(self, points: Sequence, radius_mm: float, erase: bool = False) -> None:
        """A brush stroke (a mouse drag) as ONE action, undone in one step: voxels within ``radius_mm``
        of the path through ``points`` (working-grid voxels, in drawing order) become foreground
        (erase: background). Dabs are put along each segment (:func:`medrl.review.brush.densify`)."""
        path = tuple(tuple(int(i) for i in point) for point in points)
        if not path or any(len(point) != 3 for point in path):
            raise MedrlInputError("stroke", "a stroke needs at least one point of three voxel indices")
        self._apply(Action(path[0], not erase, _radius(radius_mm), path))

    def refine(self, steps: int | None = None, progress: Callable[[int, int], None] | None = None) -> None:
        """Let the agents act around the actions since the last refinement (all hints stay); without new
        actions, over the mask's box (:meth:`~medrl.inference.refiner.Refiner.mask_region`).

        Args:
            steps: agent steps (default: the checkpoint's).
            progress: optional ``progress(done, total)`` called after each tile the agents refine.
        """
        self._check_open()
        self._checkpoint()
        start = self._undo[-1][0]  # the probabilities before, as kept for undo
        new = [c for a in self.actions[self.refined_upto:] for c in self._hints(a)]
        previous = [c for a in self.actions[: self.refined_upto] for c in self._hints(a)]
        self.p = self.refiner.refine(self.case, self.p, new, steps=steps, previous_clicks=previous, resume=True,
                                     progress=progress)
        self._fix_labels()
        self.after, self.refined_upto = to_mask(self.p).to(torch.uint8), len(self.actions)
        self.refinement = Refinement(to_mask(start).to(torch.uint8), refinement_direction(start, self.p))

    def reject(self) -> VerdictRecord | None:
        """The clinician rejects the agents' last refinement: the mask goes back to what it was before it,
        and verdict −1 for it is recorded in the store (when the session has one). Call it right after
        :meth:`refine`; the rejected refinement cannot be redone (redo is cleared), undo continues
        from before it.

        Returns:
            The verdict's record, or ``None`` without a store or when the refinement changed no voxel.

        Raises:
            MedrlInputError: no refinement to reject (none yet, or corrections made since it).
        """
        self._check_open()
        if self.refinement is None or self.refined_upto != len(self.actions) or not self._undo:
            raise MedrlInputError("reject", "no refinement to reject: reject right after Refine (undo later corrections first)")
        record = self._record_verdict(REJECTED) if self.store is not None else None
        self.p, self.actions, self.refined_upto, self.after, self.refinement = self._undo.pop()
        self._redo.clear()
        self._autosave()
        return record

    def undo(self) -> bool:
        """Go back one action or refinement; False when there is nothing to undo."""
        self._check_open()
        return self._swap(self._undo, self._redo)

    def redo(self) -> bool:
        """Redo what :meth:`undo` undid; False when there is nothing to redo (a new action clears it)."""
        self._check_open()
        return self._swap(self._redo, self._undo)

    def accept(self, save_to: str | os.PathLike | None = None, overwrite: bool = False) -> ReviewRecord:
        """Record the review in the store: accepted, before, after and correction masks on the scan's
        own grid, clicks and strokes in RAS mm; and verdict +1 for the last refinement standing (see
        :meth:`reject`). The autosave is then closed.

        Args:
            save_to: also write the accepted mask there, as NIfTI (``.nii``/``.nii.gz``), ``uint8``
                {0, 1} with the scan's shape and affine, atomically; reviewing one structure of a
                multi-label map, the whole map (NIfTI or ``.seg.nrrd``, the map's dtype). Never over the
                scan or the clinician's starting mask; an existing file only with ``overwrite``, or when it
                is the sitting's own output this session started from (:meth:`review_structure`).
                Written before the record, so a refused path records nothing.
            overwrite: replace an existing ``save_to``.

        Raises:
            MedrlInputError: no store to accept into, a non-NIfTI ``save_to``, or a ``save_to`` that
                exists (without ``overwrite``) or is an input.
        """
        if self.store is None:
            raise MedrlInputError("store", "this review session has no feedback store to accept into")
        self._check_open()
        inputs = (self.scan, self.mask_path) if self.original is None else (self.scan, self.original)
        if save_to is not None:
            overwrite = overwrite or self._sitting_output(save_to)
            save_to = _mask_output(save_to, overwrite, inputs, multi_label=self.label_map is not None)
        masks = {"accepted": to_mask(self.p), "before": self.before, "corrections": self.corrections()[None, None]}
        if self.after is not None:
            masks["after"] = self.after
        arrays, affine = self._on_scan_grid(masks)
        if save_to is not None and self.label_map is None:
            self.saved_to = write_mask(arrays["accepted"], affine, save_to, overwrite=overwrite, inputs=inputs)
        elif save_to is not None:
            self.saved_to = write_label_map(self.accepted_map(), save_to, overwrite=overwrite, inputs=inputs)
        refinement = self._verdict_masks() if self.refinement is not None else None
        refinement = None if refinement is None else refinement[0]
        self.record = self.store.add_review(self.scan, self.reviewer, arrays, affine, self.clicks_ras(),
                                            checkpoint=self.refiner.source, structure=self.structure,
                                            session_id=self.session_id, accepted_refinement=refinement)
        if refinement is not None:
            self.verdicts += [v for v in self.store.verdicts() if v.session_id == self.session_id and v.verdict == ACCEPTED][-1:]
        self.store.close_session(self.session_id)
        return self.record

    def _sitting_output(self, path) -> bool:
        """True when ``path`` is the map this session started from and that map is this sitting's own output."""
        path = Path(path)
        return (self.original is not None and path.exists() and Path(self.mask_path).exists()
                and os.path.samefile(path, self.mask_path))

    # ---------------------------------------------------------------------------- records
    def accepted_map(self) -> LabelMap:
        """The multi-label map on the scan's grid with the reviewed structure as it is now and every other
        voxel as it was read (see :mod:`medrl.inference.structures`)."""
        added, removed = self.refiner.changes_on_input_grid(self.case, self.before.bool(), to_mask(self.p))
        array, _ = apply_structure_change(self.case["input_structures"], self.structure["value"], added, removed,
                                          self.structure["name"])
        return self.label_map.on_grid(array, self.case["input_affine"])

    def corrections(self) -> torch.Tensor:
        """(X', Y', Z') uint8: 0 untouched, 1 marked background, 2 marked foreground (later actions win)."""
        marks = torch.zeros(self.shape, dtype=torch.uint8)
        for action in self.actions:
            value = MARKED_FOREGROUND if action.foreground else MARKED_BACKGROUND
            for box, inside in self._footprint(action):
                marks[box][inside] = value
        return marks

    def clicks_ras(self) -> list[dict]:
        """Every action in RAS millimetres, in order: ``{"kind", "position", "positive", "radius_mm"}``
        (``kind`` "click", "brush" or "stroke"; ``position`` the click, dab centre or a stroke's first
        point), and for strokes ``"path"``: every point of the stroke in RAS mm."""
        affine = np.asarray(self.case["image"].affine, dtype=np.float64)

        def ras(index) -> list[float]:
            return (affine[:3, :3] @ np.asarray(index, np.float64) + affine[:3, 3]).round(4).tolist()

        records = []
        for a in self.actions:
            record = {"kind": a.kind, "position": ras(a.index), "positive": a.foreground, "radius_mm": a.radius_mm}
            records.append({**record, "path": [ras(p) for p in a.path]} if a.path else record)
        return records

    # --------------------------------------------------------------------------- internals
    def _on_scan_grid(self, masks: dict) -> tuple[dict, np.ndarray]:
        """Working-grid masks (1, 1, X', Y', Z') as uint8 (X, Y, Z) arrays on the scan's own grid, and its affine."""
        on_scan = {kind: self.refiner.to_input_grid(self.case, mask) for kind, mask in masks.items()}
        affine = np.asarray(next(iter(on_scan.values())).affine)
        return {kind: mask[0].numpy().round().astype(np.uint8) for kind, mask in on_scan.items()}, affine

    def _verdict_masks(self) -> tuple[dict, np.ndarray] | None:
        """The masks of a verdict on :attr:`refinement` with the clinician's marks now, on the scan's grid
        (see :meth:`FeedbackStore.add_verdict`), and that grid's affine; ``None`` when the refinement changed
        no voxel's mask."""
        if not bool(self.refinement.direction.any()):
            return None
        masks = {"before": self.refinement.before, "direction": self.refinement.direction,
                 "corrections": self.corrections()[None, None]}
        return self._on_scan_grid(masks)

    def _record_verdict(self, verdict: int) -> VerdictRecord | None:
        """Record ``verdict`` on :attr:`refinement`; ``None`` (nothing recorded) when it changed no voxel's mask."""
        verdict_masks = self._verdict_masks()
        if verdict_masks is None:
            return None
        masks, affine = verdict_masks
        record = self.store.add_verdict(self.scan, self.reviewer, verdict, masks, affine, self.clicks_ras(),
                                        checkpoint=self.refiner.source, session_id=self.session_id)
        self.verdicts.append(record)
        return record

    def _centres(self, action: Action) -> list[tuple[int, int, int]]:
        """Dab centres of an action: a stroke densified along its path, else its one index."""
        return densify(action.path, self.spacing, action.radius_mm) if action.path else [action.index]

    def _footprint(self, action: Action):
        return footprint(self._centres(action), self.shape, self.spacing, action.radius_mm)

    def _hints(self, action: Action) -> list[Click]:
        """The agents' hint clicks of an action: its index, or points along a stroke one σ apart."""
        if not action.path:
            return [Click(action.index, action.foreground)]
        points = thin(self._centres(action), self.spacing, self.refiner.env_config.hint_sigma_mm)
        return [Click(point, action.foreground) for point in points]

    def _check_open(self) -> None:
        if self.record is not None:
            raise MedrlInputError(self.scan, f"this review was accepted (review {self.record.id}); "
                                  "start a new ReviewSession to change the mask again")

    def _apply(self, action: Action) -> None:
        self._check_open()
        for point in action.points:
            if len(point) != 3 or any(not 0 <= i < s for i, s in zip(point, self.shape)):
                raise MedrlInputError(f"voxel {point}", f"lies outside the working grid {self.shape} of {self.scan}")
        self._checkpoint()
        self.actions.append(action)
        for box, inside in self._footprint(action):
            self.p[0, 0][box][inside] = 1.0 if action.foreground else 0.0
        self._autosave()

    def _fix_labels(self) -> None:
        marks = self.corrections()
        self.p[0, 0] = torch.where(marks == MARKED_FOREGROUND, 1.0, torch.where(marks == MARKED_BACKGROUND, 0.0, self.p[0, 0]))

    def _state(self) -> tuple:
        return self.p.clone(), list(self.actions), self.refined_upto, self.after, self.refinement

    def _checkpoint(self) -> None:
        self._undo.append(self._state())
        del self._undo[: -self.undo_limit]
        self._redo.clear()

    def _swap(self, source: list, target: list) -> bool:
        if not source:
            return False
        target.append(self._state())
        self.p, self.actions, self.refined_upto, self.after, self.refinement = source.pop()
        self._autosave()
        return True

    def _autosave(self) -> None:
        if self.store is not None:
            self.store.autosave(self.session_id, {"scan": self.scan, "mask": self.mask_path, "reviewer": self.reviewer,
                                                  "label": None if self.structure is None else self.structure["value"],
                                                  "label_names": self.label_names, "original": self.original,
                                                  "actions": [a.as_dict() for a in self.actions]})


def _radius(radius_mm: float) -> float:
    """A brush radius in mm, checked: finite and >= 0."""
    radius = float(radius_mm)
    if not np.isfinite(radius) or radius < 0:
        raise MedrlInputError("radius_mm", f"a brush radius must be a finite number of mm >= 0, got {radius_mm}")
    return radius


def _mask_output(path: str | os.PathLike, overwrite: bool, inputs: tuple, multi_label: bool = False) -> Path:
    """``path`` checked as a mask output that may be written (see :func:`medrl.data.atomic.refuse_to_overwrite`):
    NIfTI, or for a multi-label map also a Slicer ``.seg.nrrd``."""
    path = Path(path)
    if not (path.name.endswith(NIFTI_SUFFIXES) or (multi_label and is_seg_nrrd(path))):
        kinds = " or ".join(NIFTI_SUFFIXES + ((".seg.nrrd",) if multi_label else ()))
        raise MedrlInputError(path, f"the corrected mask is saved as NIfTI{' or a Slicer segmentation' if multi_label else ''}; "
                                    f"give a name ending in {kinds}")
    return refuse_to_overwrite(path, overwrite, inputs)
