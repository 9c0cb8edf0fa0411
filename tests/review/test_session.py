"""The review session API (what the notebook widget drives): clicks and strokes change the mask where
expected, undo restores, accept writes the scan's exact geometry and a full feedback record, reject
undoes a refinement and records a verdict, and a killed kernel's work comes back from the autosave."""

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


# ------------------------------------------------------------------------------- strokes
def test_a_stroke_is_one_action_painting_a_tube_along_its_path_and_one_undo_removes_it(checkpoint, scene_files, tmp_path):
    from medrl.review.brush import densify, footprint_mask

    session = _session(checkpoint, scene_files, tmp_path)
    start = session.mask().copy()
    path = [(30, 12, 16), (34, 20, 16), (40, 26, 16)]
    session.stroke(path, radius_mm=2.0)
    expected = footprint_mask(densify(path, session.spacing, 2.0), session.shape, session.spacing, 2.0)
    assert len(session.actions) == 1 and session.actions[0].kind == "stroke"
    assert np.array_equal(session.mask(), start | expected) and expected.sum() > 3 * 33  # more than three balls
    assert np.array_equal(session.corrections().numpy() == 2, expected)
    session.stroke([(34, 20, 16), (34, 24, 16)], radius_mm=1.0, erase=True)
    assert session.mask()[34, 22, 16] == 0 and session.corrections()[34, 22, 16] == 1
    assert session.undo() and session.mask()[34, 22, 16] == 1
    assert session.undo() and np.array_equal(session.mask(), start) and not session.actions


def test_strokes_give_hints_along_their_path_and_are_recorded_in_ras(checkpoint, scene_files, tmp_path):
    session = _session(checkpoint, scene_files, tmp_path)
    path = [(20, 20, 16), (44, 20, 16)]  # 24 mm along x on the 1 mm grid
    session.stroke(path, radius_mm=1.0)
    hints = session._hints(session.actions[0])
    assert hints[0].index == path[0] and hints[-1].index == path[-1] and all(h.positive for h in hints)
    assert len(hints) == 6  # every 5 mm (the hint maps' sigma): x = 20, 25, 30, 35, 40, then 44
    record = session.clicks_ras()[0]
    affine = np.asarray(session.case["image"].affine)
    assert record["kind"] == "stroke" and record["positive"] and record["radius_mm"] == 1.0
    np.testing.assert_allclose(record["path"], [affine[:3, :3] @ p + affine[:3, 3] for p in path], atol=1e-3)
    np.testing.assert_allclose(record["position"], record["path"][0])


def test_a_resumed_session_replays_its_strokes(checkpoint, scene_files, tmp_path):
    session = _session(checkpoint, scene_files, tmp_path, session_id="drag")
    session.click((10, 10, 10), positive=False)
    session.stroke([(30, 12, 16), (40, 26, 16)], radius_mm=2.0)
    resumed = ReviewSession.resume(Refiner.from_checkpoint(checkpoint), FeedbackStore(tmp_path / "store"), "drag")
    assert resumed.actions == session.actions
    assert np.array_equal(resumed.mask(), session.mask())
    assert torch.equal(resumed.corrections(), session.corrections())


def test_bad_strokes_are_refused_and_change_nothing(checkpoint, scene_files, tmp_path):
    from medrl.errors import MedrlInputError

    session = _session(checkpoint, scene_files, tmp_path)
    start = session.mask().copy()
    with pytest.raises(MedrlInputError, match="at least one point"):
        session.stroke([], radius_mm=2.0)
    with pytest.raises(MedrlInputError, match=r"voxel \(48, 0, 0\): lies outside the working grid"):
        session.stroke([(40, 0, 0), (48, 0, 0)], radius_mm=2.0)
    with pytest.raises(MedrlInputError, match="brush radius"):
        session.paint((10, 10, 10), radius_mm=-1.0)
    assert not session.actions and np.array_equal(session.mask(), start)


# ------------------------------------------------------------------------- refine, accept
def test_refine_reports_progress_over_the_agents_tiles(checkpoint, scene_files, tmp_path):
    session = _session(checkpoint, scene_files, tmp_path)
    session.refiner.tile_edge = 16  # the whole 48x40x32 scan (no clicks) in 3 x 3 x 2 tiles
    calls = []
    session.refine(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(done, 18) for done in range(19)]


def test_accept_saves_the_mask_on_the_scans_grid_where_asked_and_never_over_an_input(checkpoint, scene_files, tmp_path):
    from medrl.errors import MedrlInputError

    scene, scan, start = scene_files
    session = _session(checkpoint, scene_files, tmp_path)
    session.click(_working_index(session, scene.missed_centre), positive=True)
    scan_bytes = scan.read_bytes()
    for bad, message in [(scan, "refusing to overwrite an input"), (start, "refusing to overwrite an input"),
                         (tmp_path / "mask.nrrd", "saved as NIfTI")]:
        with pytest.raises(MedrlInputError, match=message):
            session.accept(save_to=bad, overwrite=True)
    existing = tmp_path / "taken.nii.gz"
    existing.write_bytes(b"keep me")
    with pytest.raises(MedrlInputError, match="output exists"):
        session.accept(save_to=existing)
    assert existing.read_bytes() == b"keep me" and scan.read_bytes() == scan_bytes
    assert FeedbackStore(tmp_path / "store").reviews() == []  # a refused save records nothing

    record = session.accept(save_to=tmp_path / "out" / "reviewed.nii.gz")
    saved = read_scan(session.saved_to, kind="label")
    np.testing.assert_allclose(np.asarray(saved.affine), AFFINE, atol=1e-4)
    assert np.array_equal(saved[0].numpy(), read_scan(record.accepted_path, kind="label")[0].numpy())
    assert saved[0].numpy()[scene.missed_centre] == 1
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["reviewed.nii.gz"]  # no temporary left


def test_an_accepted_session_refuses_further_changes(checkpoint, scene_files, tmp_path):
    from medrl.errors import MedrlInputError

    session = _session(checkpoint, scene_files, tmp_path)
    session.click((10, 10, 10), positive=True)
    record = session.accept()
    for change in (lambda: session.click((11, 10, 10)), lambda: session.stroke([(5, 5, 5)], 1.0), session.refine,
                   session.undo, session.reject, session.accept):
        with pytest.raises(MedrlInputError, match=f"accepted \\(review {record.id}\\)"):
            change()
    assert len(FeedbackStore(tmp_path / "store").reviews()) == 1 and len(session.actions) == 1


def test_undo_history_is_bounded(checkpoint, scene_files, tmp_path):
    session = _session(checkpoint, scene_files, tmp_path, undo_limit=2)
    for z in (10, 11, 12):
        session.click((20, 20, z), positive=True)
    assert session.undo() and session.undo() and not session.undo()  # the oldest step was dropped
    assert len(session.actions) == 1


# ------------------------------------------------------------------------------- verdicts
def _changed_by_refining(session: ReviewSession) -> tuple[np.ndarray, np.ndarray]:
    """Refine; the masks before and after (working grid). The untrained agents change many voxels."""
    before = session.mask().astype(bool)
    session.refine()
    after = session.mask().astype(bool)
    assert (before != after).sum() > 10
    return before, after


def test_reject_undoes_the_refinement_and_records_verdict_minus_one(checkpoint, scene_files, tmp_path):
    scene = scene_files[0]
    session = _session(checkpoint, scene_files, tmp_path)
    session.click(_working_index(session, scene.missed_centre), positive=True)
    start = session.mask().copy()
    before, after = _changed_by_refining(session)
    record = session.reject()
    assert np.array_equal(session.mask(), start) and len(session.actions) == 1  # the click stays
    assert record.verdict == -1 and session.verdicts == [record] and record.session_id == session.session_id
    assert FeedbackStore(tmp_path / "store").verdicts() == [record] and FeedbackStore(tmp_path / "store").reviews() == []
    stored_before = read_scan(record.before_path, kind="label")
    direction = read_scan(record.direction_path, kind="label")[0].numpy()
    np.testing.assert_allclose(np.asarray(stored_before.affine), AFFINE, atol=1e-4)
    assert stored_before.shape[1:] == scene.image.shape and stored_before[0].numpy().sum() == before.sum()
    assert (direction == 2).sum() == (after & ~before).sum() and (direction == 1).sum() == (before & ~after).sum()
    assert direction[scene.missed_centre] == 0  # the clicked voxel keeps its label: the agents did not change it
    assert read_scan(record.corrections_path, kind="label")[0].numpy()[scene.missed_centre] == 2
    assert record.clicks_ras == session.clicks_ras() and record.checkpoint == str(checkpoint)
    assert not session.redo()  # a rejected refinement cannot come back
    assert session.undo() and np.array_equal(session.mask(), session.before[0, 0].numpy())  # the click undone


def test_accept_records_verdict_plus_one_for_the_last_refinement_standing(checkpoint, scene_files, tmp_path):
    scene = scene_files[0]
    session = _session(checkpoint, scene_files, tmp_path)
    session.click(_working_index(session, scene.missed_centre), positive=True)
    first_before, first_after = _changed_by_refining(session)
    session.click((10, 10, 10), positive=False)
    _changed_by_refining(session)
    rejected = session.reject()
    assert session.mask()[10, 10, 10] == 0 and len(session.actions) == 2
    review = session.accept()
    verdicts = FeedbackStore(tmp_path / "store").verdicts()
    assert [v.verdict for v in verdicts] == [-1, 1] and verdicts[0] == rejected and session.verdicts == verdicts
    accepted = verdicts[1]
    direction = read_scan(accepted.direction_path, kind="label")[0].numpy()
    assert (direction == 2).sum() == (first_after & ~first_before).sum()  # the first refinement's changes
    assert read_scan(accepted.before_path, kind="label")[0].numpy().sum() == first_before.sum()
    corrections = read_scan(accepted.corrections_path, kind="label")[0].numpy()
    assert (corrections == 2).sum() == 1 and (corrections == 1).sum() == 1  # the marks when accepted: both clicks
    assert review.after_path is not None and len(FeedbackStore(tmp_path / "store").reviews()) == 1


def test_no_verdict_for_an_undone_or_an_empty_refinement(checkpoint, scene_files, tmp_path):
    session = _session(checkpoint, scene_files, tmp_path)
    _changed_by_refining(session)
    assert session.undo() and session.refinement is None
    session.refine(steps=0)  # the agents do nothing: there is nothing to judge
    assert session.reject() is None and session.refinement is None
    session.accept()
    assert FeedbackStore(tmp_path / "store").verdicts() == [] and session.verdicts == []


def test_reject_needs_a_refinement_just_made(checkpoint, scene_files, tmp_path):
    from medrl.errors import MedrlInputError

    _, scan, start = scene_files
    session = ReviewSession(Refiner.from_checkpoint(checkpoint), scan, start)  # no store: reject still undoes
    with pytest.raises(MedrlInputError, match="reject: no refinement to reject"):
        session.reject()
    before, _ = _changed_by_refining(session)
    session.click((10, 10, 10), positive=True)
    with pytest.raises(MedrlInputError, match="no refinement to reject"):
        session.reject()
    assert session.undo()  # the click
    assert session.reject() is None and np.array_equal(session.mask(), before)
    assert session.redo() is False and session.undo() is False
