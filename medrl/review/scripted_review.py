"""A scripted clinician: a whole review session played against a known truth, for demos, tests and
experiments where nobody can click (notebooks run unattended, the feedback fine-tuning benchmark).

Per round, the scripted clinician paints the largest errors of the current mask, one brush dab at a
time, each with the largest radius up to the brush's that stays inside its error
(:func:`medrl.env.clicks.robot_strokes`, so it never labels a voxel wrongly), then presses Refine.
After the last round it accepts, and the review lands in the feedback store like a real one. A real
clinician has no truth file: the truth only plays the clinician here.
"""

from __future__ import annotations

import os
from typing import Sequence

from medrl.env.clicks import robot_strokes
from medrl.feedback.store import FeedbackStore, ReviewRecord
from medrl.inference.refiner import Refiner
from medrl.review.session import ReviewSession


def scripted_review(refiner: Refiner, scan: str | os.PathLike, truth: str | os.PathLike, store: FeedbackStore,
                    start: str | os.PathLike | None = None, strokes_per_round: Sequence[int] = (4, 2),
                    brush_mm: float = 4.0, reviewer: str = "scripted clinician") -> ReviewRecord:
    """Review ``scan`` as a simulated clinician who knows ``truth``, and accept.

    Args:
        refiner: the agents (and segmenter) the session uses.
        scan: the scan's path.
        truth: the true label map on the scan's grid (the refiner's foreground labels select the organ).
        store: where the review is recorded.
        start: the starting mask on the scan's grid (default: the refiner's segmenter).
        strokes_per_round: brush dabs before each Refine, e.g. (4, 2): four dabs, refine, two dabs, refine.
        brush_mm: the brush's largest radius in mm.
        reviewer: the name recorded with the review.

    Returns:
        the stored review (its ``corrections`` mask holds the painted voxels).
    """
    target = refiner.prepare(scan, label=truth)["label"][0].numpy() > 0
    session = ReviewSession(refiner, scan, start, store, reviewer=reviewer)
    for strokes in strokes_per_round:
        for _ in range(strokes):  # one dab at a time, each on the largest error left
            for click, radius in robot_strokes(session.mask(), target, session.spacing, 1, brush_mm, rng=len(session.actions)):
                session.paint(click.index, radius_mm=radius, erase=not click.positive)
        session.refine()
    return session.accept()
