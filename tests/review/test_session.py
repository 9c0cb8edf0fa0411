"""The review session API (what the notebook widget drives): clicks and strokes change the mask where
expected, undo restores, accept writes the scan's exact geometry and a full feedback record, and a
killed kernel's work comes back from the autosave."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from medrl.data.geometry import orientation_affine
from medrl.data.readers import read_scan
from medrl.feedback.store import FeedbackStore, file_sha256
from medrl.inference.refiner import Refiner
from medrl.review.session import ReviewSession
from tests.conftest import save_nifti
from tests.inference.checkpoints import untrained_checkpoint
from tests.inference.scenes import two_blob_scene
from tests.training.cli_run import REPO, environment

AFFINE = orientation_affine("LPS", (1.0, 1.0, 1.0), (48, 40, 32), center_mm=(5.0, -10.0, 20.0))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return untrained_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture
def scene_files(tmp_path):
    scene = two_blob_scene()
    return scene, save_nifti(scene.image, AFFINE, tmp_path / "scan.nii.gz"), save_nifti(scene.initial, AFFINE, tmp_path / "start.nii.gz")


def _session(checkpoint, scene_files, tmp_path, **kwargs) -> ReviewSession:
    _, scan, start = scene_files
    return ReviewSession(Refiner.from_checkpoint(checkpoint), scan, start, FeedbackStore(tmp_path / "store"), "dr_a", **kwargs)


def _working_index(session: ReviewSession, input_index) -> tuple[int, int, int]:
    world = AFFINE[:3, :3] @ np.asarray(input_index) + AFFINE[:3, 3]
    inverse = np.linalg.inv(np.asarray(session.case["image"].affine))
    return tuple(int(v) for v in np.rint(inverse[:3, :3] @ world + inverse[:3, 3]))


def test_a_click_and_a_stroke_change_the_mask_where_expected_and_undo_restores(checkpoint, scene_files, tmp_path):
    scene = scene_files[0]
    session = _session(checkpoint, scene_files, tmp_path)
    start = session.mask().copy()
    centre = _working_index(session, scene.missed_centre)
    session.click(centre, positive=True)
    assert session.mask()[centre] == 1 and int((session.mask() != start).sum()) == 1
    session.paint(centre, radius_mm=3.0)
    painted = session.mask() != start
    ball = int(((np.indices((7, 7, 7)) - 3) ** 2).sum(0).__le__(9).sum())  # voxels within 3 mm on a 1 mm grid
    assert int(painted.sum()) == ball == 123
    session.paint(centre, radius_mm=1.0, erase=True)
    assert session.mask()[centre] == 0
    assert session.undo() and session.mask()[centre] == 1
    assert session.undo() and session.undo() and np.array_equal(session.mask(), start)
    assert not session.undo()
    assert session.redo() and session.mask()[centre] == 1


def test_refinement_keeps_the_clinicians_labels(checkpoint, scene_files, tmp_path):
    scene = scene_files[0]
    session = _session(checkpoint, scene_files, tmp_path)
    centre = _working_index(session, scene.missed_centre)
    session.paint(centre, radius_mm=3.0)
    session.click(_working_index(session, (14, 20, 16)), positive=False)
    session.refine()
    marks = session.corrections().numpy()
    assert (session.mask()[marks == 2] == 1).all() and (session.mask()[marks == 1] == 0).all()
    assert session.undo()  # undoes the refinement, not the click
    assert len(session.actions) == 2


def test_accept_writes_the_scans_geometry_and_a_full_record(checkpoint, scene_files, tmp_path):
    scene, scan, _ = scene_files
    session = _session(checkpoint, scene_files, tmp_path)
    session.click(_working_index(session, scene.missed_centre), positive=True)
    session.refine(steps=0)
    record = session.accept()
    accepted = read_scan(record.accepted_path, kind="label")
    np.testing.assert_allclose(np.asarray(accepted.affine), AFFINE, atol=1e-4)
    assert accepted.shape[1:] == scene.image.shape and accepted[0].numpy()[scene.missed_centre] == 1
    assert read_scan(record.before_path, kind="label")[0].numpy().sum() == scene.initial.sum()
    assert read_scan(record.corrections_path, kind="label")[0].numpy()[scene.missed_centre] == 2
    assert record.after_path and record.scan_sha256 == file_sha256(scan) and record.reviewer == "dr_a"
    world = AFFINE[:3, :3] @ np.asarray(scene.missed_centre) + AFFINE[:3, 3]
    np.testing.assert_allclose(record.clicks_ras[0]["position"], world, atol=1e-3)
    assert record.checkpoint == str(checkpoint)
    assert FeedbackStore(tmp_path / "store").open_sessions() == []


def test_a_killed_kernel_loses_no_correction(checkpoint, scene_files, tmp_path):
    scene, scan, start = scene_files
    code = f"""
import os, signal
from medrl.feedback.store import FeedbackStore
from medrl.inference.refiner import Refiner
from medrl.review.session import ReviewSession
session = ReviewSession(Refiner.from_checkpoint({str(checkpoint)!r}), {str(scan)!r}, {str(start)!r},
                        FeedbackStore({str(tmp_path / 'store')!r}), "dr_a", session_id="crash")
session.click((30, 20, 16), positive=True)
session.paint((10, 12, 9), radius_mm=2.0, erase=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", code], env=environment(), cwd=REPO, timeout=60)
    assert result.returncode == -9
    store = FeedbackStore(tmp_path / "store")
    assert store.open_sessions() == ["crash"]
    session = ReviewSession.resume(Refiner.from_checkpoint(checkpoint), store, "crash")
    assert [(a.index, a.foreground, a.radius_mm) for a in session.actions] == [((30, 20, 16), True, 0.0),
                                                                               ((10, 12, 9), False, 2.0)]
    assert session.mask()[30, 20, 16] == 1 and session.mask()[10, 12, 9] == 0
    assert torch.equal(session.corrections()[10, 12, 9], torch.tensor(1, dtype=torch.uint8))
