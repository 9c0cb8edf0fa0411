"""A review process killed with SIGKILL while it accepts loses nothing and counts nothing twice: accepting
is one transaction (the review and the verdict on the last refinement), and a session recorded once is
never recorded again, even when its autosave outlived the record."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from medrl.errors import MedrlInputError
from medrl.feedback.store import FeedbackStore
from medrl.inference.refiner import Refiner
from medrl.review.session import ReviewSession
from tests.conftest import save_nifti
from tests.inference.checkpoints import untrained_checkpoint
from tests.inference.scenes import two_blob_scene
from tests.training.cli_run import REPO, environment

AFFINE = np.diag([1.0, 1.0, 1.5, 1.0])
MISSED = (36, 20, 16)  # centre of the blob the starting mask misses (the grid is already RAS)

# The review a clinician does; the kill lands where ``point`` says.
REVIEW = """
import os, signal, sys
from medrl.feedback import store as store_module
from medrl.feedback.store import FeedbackStore
from medrl.inference.refiner import Refiner
from medrl.review.session import ReviewSession

checkpoint, scan, start, folder, point = sys.argv[1:]
die = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
if point == "inside_the_transaction":  # the verdict's row inserted, the review's not yet, nothing committed
    insert = store_module._insert_verdict
    store_module._insert_verdict = lambda *args: (insert(*args), die())
elif point == "before_the_autosave_is_closed":  # everything committed, the autosave still there
    FeedbackStore.close_session = die
session = ReviewSession(Refiner.from_checkpoint(checkpoint), scan, start, FeedbackStore(folder), "dr_a", session_id="s1")
session.click((36, 20, 16), positive=True)
session.refine()
session.accept()
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash")
    scene = two_blob_scene()
    scan = save_nifti((scene.image * 200).astype(np.float32), AFFINE, folder / "scan.nii.gz")
    start = save_nifti(scene.initial, AFFINE, folder / "start.nii.gz")
    (folder / "ckpt").mkdir()
    return untrained_checkpoint(folder / "ckpt"), scan, start


def _killed_review(files, store, point: str) -> None:
    result = subprocess.run([sys.executable, "-c", REVIEW, *map(str, files), str(store), point], env=environment(),
                            cwd=REPO, capture_output=True, encoding="utf-8", errors="replace", timeout=300)
    assert result.returncode == -9, result.stderr[-2000:]


def _finish(files, store) -> ReviewSession:
    """The clinician reopens the autosaved session, refines and accepts again."""
    session = ReviewSession.resume(Refiner.from_checkpoint(files[0]), FeedbackStore(store), "s1")
    assert [a.index for a in session.actions] == [MISSED]  # the click survived the crash
    session.refine()
    session.accept()
    return session


def test_killed_inside_the_accept_transaction_records_nothing_and_the_session_goes_on(files, tmp_path):
    store = tmp_path / "store"
    _killed_review(files, store, "inside_the_transaction")
    assert FeedbackStore(store).reviews() == [] and FeedbackStore(store).verdicts() == []  # neither row: one transaction
    assert FeedbackStore(store).open_sessions() == ["s1"]
    session = _finish(files, store)
    reviews, verdicts = FeedbackStore(store).reviews(), FeedbackStore(store).verdicts()
    assert len(reviews) == 1 and reviews[0].session_id == "s1"
    assert [v.verdict for v in verdicts] == [1] and session.verdicts == verdicts  # the refinement changed voxels: judged once


def test_killed_after_the_record_the_session_is_not_counted_twice(files, tmp_path):
    store = tmp_path / "store"
    _killed_review(files, store, "before_the_autosave_is_closed")
    reviews, verdicts = FeedbackStore(store).reviews(), FeedbackStore(store).verdicts()
    assert len(reviews) == 1 and len(verdicts) == 1
    assert FeedbackStore(store).autosave_path("s1").is_file() and FeedbackStore(store).open_sessions() == []
    with pytest.raises(MedrlInputError, match=f"accepted as review {reviews[0].id}"):
        ReviewSession.resume(Refiner.from_checkpoint(files[0]), FeedbackStore(store), "s1")
    again = FeedbackStore(store).add_review(files[1], "dr_a", {"accepted": np.zeros((48, 40, 32), np.uint8)}, AFFINE, [],
                                            session_id="s1")
    assert again == reviews[0] and FeedbackStore(store).reviews() == reviews  # the same review, not a second one
