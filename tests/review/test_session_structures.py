"""Reviewing one structure of a multi-label map: the others are context, saved back untouched, and the
store records which structure the review was about."""

from __future__ import annotations

import json
import sqlite3

import nibabel as nib
import numpy as np
import pytest

from medrl.data.geometry import orientation_affine
from medrl.data.label_maps import read_label_map
from medrl.errors import MedrlInputError
from medrl.feedback.store import SCHEMA, FeedbackStore
from medrl.inference.refiner import Refiner
from medrl.review.figure import CONTEXT_RGB, outline_rgba
from medrl.review.session import ReviewSession
from tests.inference.checkpoints import untrained_checkpoint

SHAPE = (30, 26, 14)
AFFINE = orientation_affine("LPS", (1.0, 1.0, 2.0), SHAPE, center_mm=(5.0, -10.0, 20.0))


def _working_index(session: ReviewSession, input_index) -> tuple[int, int, int]:
    world = AFFINE[:3, :3] @ np.asarray(input_index) + AFFINE[:3, 3]
    inverse = np.linalg.inv(np.asarray(session.case["image"].affine))
    return tuple(int(v) for v in np.rint(inverse[:3, :3] @ world + inverse[:3, 3]))


@pytest.fixture(scope="module")
def refiner(tmp_path_factory):
    return Refiner.from_checkpoint(untrained_checkpoint(tmp_path_factory.mktemp("ckpt")))


@pytest.fixture
def files(tmp_path):
    label_map = np.zeros(SHAPE, np.int16)
    label_map[5:15, 5:15, 3:9] = 5
    label_map[15:25, 5:15, 3:9] = 2
    image = np.random.default_rng(0).normal(0, 10, SHAPE).astype(np.float32) + 100.0 * (label_map > 0)
    nib.save(nib.Nifti1Image(image, AFFINE), tmp_path / "scan.nii.gz")
    nib.save(nib.Nifti1Image(label_map, AFFINE), tmp_path / "map.nii.gz")
    (tmp_path / "labels.json").write_text(json.dumps({"2": "kidney", "5": "liver"}))
    return tmp_path, label_map


def test_a_reviewed_structure_is_saved_into_the_map_and_recorded(refiner, files):
    folder, label_map = files
    session = ReviewSession(refiner, folder / "scan.nii.gz", folder / "map.nii.gz", FeedbackStore(folder / "store"), "dr_a",
                            label="liver", label_names=folder / "labels.json")
    assert session.mask().sum() == (label_map == 5).sum()  # same voxel size: the structure itself
    context = session.context()
    assert set(np.unique(context)) == {0, 2}  # the other structure, not the reviewed one
    session.click(_working_index(session, (10, 10, 6)), positive=False)
    session.refine()
    record = session.accept(save_to=folder / "out" / "map_reviewed.nii.gz")
    saved = np.asanyarray(nib.load(folder / "out" / "map_reviewed.nii.gz").dataobj)
    assert saved.dtype == np.int16 and saved[10, 10, 6] == 0
    kidney = label_map == 2
    np.testing.assert_array_equal(saved[kidney], label_map[kidney])
    assert set(np.unique(saved[saved != label_map])) <= {0, 5}
    assert record.structure == {"value": 5, "name": "liver"}
    assert FeedbackStore(folder / "store").reviews()[0].structure == {"value": 5, "name": "liver"}


def test_a_review_can_be_saved_as_a_slicer_segmentation(refiner, files):
    folder, label_map = files
    session = ReviewSession(refiner, folder / "scan.nii.gz", folder / "map.nii.gz", FeedbackStore(folder / "store"), "dr_a",
                            label=5)
    session.accept(save_to=folder / "map.seg.nrrd")
    np.testing.assert_array_equal(read_label_map(folder / "map.seg.nrrd").array, label_map)


def test_a_resumed_session_reviews_the_same_structure(refiner, files):
    folder, _ = files
    store = FeedbackStore(folder / "store")
    first = ReviewSession(refiner, folder / "scan.nii.gz", folder / "map.nii.gz", store, "dr_a", label=2)
    first.click(_working_index(first, (20, 10, 6)), positive=False)
    again = ReviewSession.resume(refiner, store, first.session_id)
    assert again.structure == {"value": 2, "name": "label 2"} and len(again.actions) == 1


def test_a_store_written_before_structures_were_recorded_still_opens(tmp_path):
    folder = tmp_path / "old_store"
    folder.mkdir()
    connection = sqlite3.connect(folder / "feedback.sqlite")
    connection.executescript(SCHEMA)  # the reviews table as earlier medrl wrote it, without the structure column
    connection.execute("INSERT INTO reviews (review_uid, scan_path, scan_sha256, reviewer, created_utc, clicks_ras_json, "
                       "checkpoint, accepted_path, before_path, after_path, corrections_path) VALUES "
                       "('u1', 'scan.nii.gz', 'abc', 'dr_a', '2026-01-01', '[]', NULL, 'a.nii.gz', NULL, NULL, NULL)")
    connection.commit()
    connection.close()
    reviews = FeedbackStore(folder).reviews()
    assert len(reviews) == 1 and reviews[0].structure is None and reviews[0].reviewer == "dr_a"


def test_context_outlines_mark_only_region_borders():
    labels = np.zeros((6, 6), np.int32)
    labels[1:5, 1:5] = 3
    rgba = outline_rgba(labels)
    assert tuple(rgba[1, 1, :3]) == CONTEXT_RGB and rgba[1, 1, 3] == 255
    assert rgba[2, 2, 3] == 0 and rgba[0, 0, 3] == 0  # inside and outside stay clear


def test_structures_reviewed_one_after_another_gather_in_one_saved_map(refiner, files):
    folder, label_map = files
    original = (folder / "map.nii.gz").read_bytes()
    out = folder / "map_reviewed.nii.gz"
    liver = ReviewSession(refiner, folder / "scan.nii.gz", folder / "map.nii.gz", FeedbackStore(folder / "store"), "dr_a",
                          label="liver", label_names=folder / "labels.json")
    liver.click(_working_index(liver, (10, 10, 6)), positive=False)
    with pytest.raises(MedrlInputError, match="not accepted"):
        liver.review_structure("kidney")  # one structure's corrections are never dropped by moving on
    liver.accept(save_to=out)
    kidney = liver.review_structure("kidney")
    assert kidney.mask_path == str(out) and kidney.structure == {"value": 2, "name": "kidney"}
    kidney.click(_working_index(kidney, (20, 10, 6)), positive=False)
    kidney.accept(save_to=out)  # the sitting's own output: written over without asking
    saved = np.asanyarray(nib.load(out).dataobj)
    assert saved[10, 10, 6] == 0 and saved[20, 10, 6] == 0  # both structures' corrections are in the one file
    changed = saved != label_map
    assert set(zip(label_map[changed].tolist(), saved[changed].tolist())) == {(5, 0), (2, 0)}  # only the two erasures
    assert (folder / "map.nii.gz").read_bytes() == original
    again = kidney.review_structure("liver")
    with pytest.raises(MedrlInputError, match="input file"):
        again.accept(save_to=folder / "map.nii.gz", overwrite=True)  # the clinician's map, never


@pytest.mark.filterwarnings("ignore:Passing unrecognized arguments to super\\(Toolbar\\):DeprecationWarning")
def test_the_widget_picks_the_next_structure_of_the_map(refiner, files):
    from medrl.review.widget import ReviewWidget

    folder, label_map = files
    out = folder / "reviewed.seg.nrrd"
    session = ReviewSession(refiner, folder / "scan.nii.gz", folder / "map.nii.gz", FeedbackStore(folder / "store"), "dr_a",
                            label=5, label_names=folder / "labels.json")
    widget = ReviewWidget(session, save_to=out)
    assert widget.structure.options == (("2 kidney", 2), ("5 liver", 5))
    session.click(_working_index(session, (10, 10, 6)), positive=False)
    widget.structure.value = 2
    assert widget.session is session and widget.structure.value == 5 and "not accepted" in widget.status.value
    widget.accept()
    widget.structure.value = 2
    assert widget.session is not session and widget.session.structure["value"] == 2
    assert set(np.unique(widget._context)) == {0, 5} and widget.save_path.value == str(out)
    assert not widget.accept_button.disabled
    first = read_label_map(out).array
    widget.accept()  # the kidney unchanged: the file still holds the liver's correction
    np.testing.assert_array_equal(read_label_map(out).array, first)
    assert first[10, 10, 6] == 0 and len(FeedbackStore(folder / "store").reviews()) == 2
