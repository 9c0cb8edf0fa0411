"""The scripted clinician: a whole review against a known truth, recorded like a real one, with every
painted voxel agreeing with the truth."""

from __future__ import annotations

import numpy as np

from medrl.data.geometry import orientation_affine
from medrl.data.readers import read_scan
from medrl.feedback.store import FeedbackStore
from medrl.inference.refiner import Refiner
from medrl.review.scripted_review import scripted_review
from tests.conftest import save_nifti
from tests.inference.checkpoints import untrained_checkpoint
from tests.inference.scenes import two_blob_scene


def test_a_scripted_review_paints_only_what_the_truth_says(tmp_path):
    scene = two_blob_scene()
    affine = orientation_affine("LAS", (1.0, 1.0, 1.5), scene.image.shape)
    scan = save_nifti(scene.image, affine, tmp_path / "scan.nii.gz")
    truth = save_nifti(scene.label, affine, tmp_path / "truth.nii.gz")
    start = save_nifti(scene.initial, affine, tmp_path / "start.nii.gz")
    store = FeedbackStore(tmp_path / "store")
    record = scripted_review(Refiner.from_checkpoint(untrained_checkpoint(tmp_path)), scan, truth, store, start,
                             strokes_per_round=(2, 1), brush_mm=3.0)
    assert [r.review_uid for r in store.reviews()] == [record.review_uid] and record.reviewer == "scripted clinician"
    corrections = read_scan(record.corrections_path, kind="label")[0].numpy()
    assert (corrections == 2).sum() > 1 and scene.label[corrections == 2].all() and not scene.label[corrections == 1].any()
    assert (corrections[scene.missed] == 2).any()  # the first dab went to the largest error: the missed blob
    np.testing.assert_array_equal(read_scan(record.before_path, kind="label")[0].numpy(), scene.initial)
    assert len(record.clicks_ras) == 3 and record.after_path
