"""A feedback store read as training data: reviews start from the clinician's starting mask, their
corrections override the target, scans without label train from corrections alone; verdicts on
refinements bring their direction map and verdict to the agents' environment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medrl.errors import MedrlInputError
from medrl.feedback.cases import review_cases
from medrl.training.datamodule import MedrlDataModule
from tests.training.review_store import review_store, verdict_store


def _first_batch(**kwargs) -> dict:
    data = MedrlDataModule(patch_size=(16, 16, 16), patches_per_case=2, batch_size=2, intensity="none", **kwargs)
    data.setup("fit")
    return next(iter(data.train_dataloader()))


def test_reviews_train_from_their_corrections_alone(tmp_path):
    store, _ = review_store(tmp_path)
    batch = _first_batch(feedback=str(store), feedback_target="corrections")
    assert batch["image"].shape == (4, 1, 16, 16, 16)
    assert not batch["has_label"].any() and batch["from_review"].all()
    assert not batch["label"].any()  # no label: the target is known only where the clinician marked
    marked = batch["corrections"].as_tensor()
    assert set(marked.unique().tolist()) <= {0, 1, 2}
    assert all((patch == 2).any() for patch in marked)  # every patch is centred on or near the corrections
    assert not (batch["initial"].as_tensor().bool() & (marked == 2)).any()  # the start misses what was painted


def test_accepted_masks_can_be_the_label(tmp_path):
    store, _ = review_store(tmp_path)
    batch = _first_batch(feedback=str(store), feedback_target="accepted")
    assert batch["has_label"].all() and batch["label"].any()


def test_a_reviewed_training_case_keeps_its_dataset_label(tmp_path):
    store, scans = review_store(tmp_path, n_scans=1)
    label = tmp_path / "label_0.nii.gz"
    from medrl.feedback.store import FeedbackStore

    accepted = FeedbackStore(store).reviews()[0].accepted_path
    label.write_bytes(open(accepted, "rb").read())
    cases = review_cases(store, labels={str(scans[0].resolve()): str(label)})
    assert cases[0]["label"] == str(label) and cases[0]["has_label"]


def test_a_scan_changed_since_its_review_is_refused(tmp_path):
    store, scans = review_store(tmp_path, n_scans=1)
    scans[0].write_bytes(scans[0].read_bytes() + b"\0")
    with pytest.raises(MedrlInputError, match="changed since review"):
        review_cases(store)
    scans[0].unlink()
    with pytest.raises(MedrlInputError, match="no longer exists"):
        review_cases(store)


def test_not_a_store_and_nothing_to_train(tmp_path):
    with pytest.raises(MedrlInputError, match="not a feedback store"):
        review_cases(tmp_path)
    with pytest.raises(MedrlInputError, match="give a dataset, a feedback store"):
        MedrlDataModule().setup("fit")


def test_the_datamodule_mixes_a_dataset_and_reviews(tmp_path):
    from medrl.data.synthetic import write_synthetic_dataset

    dataset = write_synthetic_dataset(tmp_path / "data", n_train=2, n_val=1, n_test=0, seed=0)
    store, _ = review_store(tmp_path)
    data = MedrlDataModule(dataset=str(dataset), feedback=str(store), feedback_repeats=3, patch_size=(16, 16, 16))
    data.setup("fit")
    flags = [bool(case.get("from_review")) for case in data.cases["training"]]
    assert flags.count(False) == 2 and flags.count(True) == 6
    batches = list(data.train_dataloader())
    has_label = torch.cat([b["has_label"] for b in batches])
    from_review = torch.cat([b["from_review"] for b in batches])
    assert torch.equal(has_label, ~from_review) and len(has_label) == 2 * 8  # two patches per case
    assert np.isclose(float(torch.cat([b["corrections"].flatten() for b in batches]).float().max()), 2.0)


def _training_cases(tmp_path, regime):
    from medrl.data.synthetic import write_synthetic_dataset

    dataset = write_synthetic_dataset(tmp_path / "data", n_train=2, n_val=1, n_test=0, seed=0)
    data = MedrlDataModule(dataset=str(dataset), patch_size=(16, 16, 16), label_regime=regime)
    data.setup("fit")
    truth = [data.case_transform()(dict(case))["label"] for case in data.cases["training"]]
    return [data.case_transform(training=True)(dict(case)) for case in data.cases["training"]], truth


def test_the_sparse_regime_hides_labels_behind_a_simulated_clinicians_marks(tmp_path):
    from medrl.training.label_regimes import LabelRegime

    cases, truth = _training_cases(tmp_path, LabelRegime(kind="sparse", sparse_strokes=2, sparse_clicks=3, sparse_confirm=2))
    for case, label in zip(cases, truth):
        assert case.get("label") is None and not case["has_label"] and case["from_review"]
        marks = case["corrections"][0].numpy()
        assert 0 < (marks > 0).mean() < 0.05  # a sparse signal
        assert label[0].numpy()[marks == 2].all() and not label[0].numpy()[marks == 1].any()  # every mark true
        start = case["initial"][0].numpy() > 0
        assert (start[marks > 0] == label[0].numpy()[marks > 0]).any()  # confirming marks: not all errors
    again, _ = _training_cases(tmp_path / "again", LabelRegime(kind="sparse", sparse_strokes=2, sparse_clicks=3, sparse_confirm=2))
    assert all(torch.equal(a["corrections"], b["corrections"]) for a, b in zip(cases, again))  # seeded per case


def test_the_sparse_regime_can_take_the_reviewed_starting_mask_as_the_label_of_unmarked_voxels(tmp_path):
    from medrl.training.label_regimes import LabelRegime

    regime = dict(kind="sparse", sparse_strokes=2, sparse_clicks=3, sparse_confirm=2)
    hidden, _ = _training_cases(tmp_path, LabelRegime(**regime))
    cases, truth = _training_cases(tmp_path / "start", LabelRegime(**regime, sparse_unmarked="start"))
    for case, other, label in zip(cases, hidden, truth):
        assert case["has_label"] and case["from_review"]
        assert torch.equal(case["label"], case["initial"]) and not torch.equal(case["label"], label)  # the start, not the truth
        assert torch.equal(case["corrections"], other["corrections"])  # the same marks, which override the label
    with pytest.raises(ValueError, match="sparse_unmarked"):
        LabelRegime(kind="sparse", sparse_unmarked="truth")


def test_the_noisy_regime_perturbs_training_labels_by_a_few_mm(tmp_path):
    from medrl.data.mask_metrics import dice_score
    from medrl.training.label_regimes import LabelRegime

    cases, truth = _training_cases(tmp_path, LabelRegime(kind="noisy", noise_mm=3.0))
    dice = [dice_score(case["label"][0].numpy(), label[0].numpy()) for case, label in zip(cases, truth)]
    print("noisy label Dice", dice)
    assert all(0.4 < d < 0.98 for d in dice) and all(case.get("has_label", True) for case in cases)


# ------------------------------------------------------------------------------------ verdicts
def test_verdicts_become_cases_without_label(tmp_path):
    from medrl.feedback.cases import verdict_cases
    from medrl.feedback.store import FeedbackStore

    store, scans = verdict_store(tmp_path)
    cases = verdict_cases(store)
    records = FeedbackStore(store).verdicts()
    assert [c["verdict"] for c in cases] == [1.0, -1.0] and [c["image"] for c in cases] == [str(s.resolve()) for s in scans]
    assert all(c["label"] is None and not c["has_label"] and c["from_review"] and c["corrections"] is None for c in cases)
    assert [(c["initial"], c["verdict_direction"]) for c in cases] == [(r.before_path, r.direction_path) for r in records]
    scans[1].write_bytes(scans[1].read_bytes() + b"\0")
    with pytest.raises(MedrlInputError, match=f"changed since verdict {records[1].verdict_uid}"):
        verdict_cases(store)


def test_verdict_batches_carry_the_direction_on_the_changed_voxels_and_the_verdict(tmp_path):
    store, _ = verdict_store(tmp_path)
    batch = _first_batch(feedback=str(store), feedback_verdicts=True)
    direction, image = batch["verdict_direction"].as_tensor(), batch["image"].as_tensor()
    assert direction.shape == (4, 1, 16, 16, 16) and direction.dtype == torch.uint8
    assert batch["verdict"].dtype in (torch.float32, torch.float64) and set(batch["verdict"].tolist()) <= {1.0, -1.0}
    assert not batch["has_label"].any() and batch["from_review"].all()
    assert all((patch == 2).any() for patch in direction)  # every patch is centred on or near what the refinement changed
    for patch_image, patch_direction, verdict in zip(image, direction, batch["verdict"]):
        changed = patch_image[patch_direction == 2].mean()  # still on the bright box's slab (accepted) or dark corner
        assert changed > 50 if verdict > 0 else changed < 50
    assert not (batch["initial"].as_tensor().bool() & (direction == 2)).any()  # raised voxels were background at the start


def test_verdicts_mix_with_reviews_and_a_dataset(tmp_path):
    from medrl.data.synthetic import write_synthetic_dataset

    dataset = write_synthetic_dataset(tmp_path / "data", n_train=2, n_val=1, n_test=0, seed=0)
    store, _ = verdict_store(tmp_path, verdicts=(1, -1, -1), with_reviews=True)
    data = MedrlDataModule(dataset=str(dataset), feedback=str(store), feedback_verdicts=True, patch_size=(16, 16, 16))
    data.setup("fit")
    kinds = [("verdict" in case, bool(case.get("from_review"))) for case in data.cases["training"]]
    assert kinds.count((False, False)) == 2 and kinds.count((False, True)) == 3 and kinds.count((True, True)) == 3
    batches = list(data.train_dataloader())
    verdict = torch.cat([b["verdict"] for b in batches])
    direction = torch.cat([b["verdict_direction"].as_tensor() for b in batches])
    assert sorted(verdict.tolist()) == [-1.0] * 4 + [0.0] * 10 + [1.0] * 2  # two patches per case
    assert not direction[verdict == 0].any() and all(d.any() for d in direction[verdict != 0])
    plain = MedrlDataModule(dataset=str(dataset), feedback=str(store), patch_size=(16, 16, 16))
    plain.setup("fit")
    assert len(plain.cases["training"]) == 5 and "verdict" not in next(iter(plain.train_dataloader()))  # off by default


def test_verdicts_need_a_store_with_something_to_train_on(tmp_path):
    from medrl.feedback.store import FeedbackStore

    with pytest.raises(MedrlInputError, match="data.feedback_verdicts: needs a feedback store"):
        MedrlDataModule(dataset=str(tmp_path), feedback_verdicts=True).setup("fit")
    FeedbackStore(tmp_path / "empty")
    with pytest.raises(MedrlInputError, match="holds no review or verdict to train on"):
        MedrlDataModule(feedback=str(tmp_path / "empty"), feedback_verdicts=True).setup("fit")
    store, _ = verdict_store(tmp_path / "only_verdicts")
    with pytest.raises(MedrlInputError, match="holds no review to train on"):
        MedrlDataModule(feedback=str(store)).setup("fit")  # verdicts are not read unless asked for


def test_the_agents_environment_gets_the_signed_verdict_map(tmp_path):
    from medrl.training.agents import AgentsModule, verdict_map_of

    store, _ = verdict_store(tmp_path, verdicts=(1, -1))
    batch = _first_batch(feedback=str(store), feedback_verdicts=True)
    signed = verdict_map_of(batch)
    direction, verdict = batch["verdict_direction"].as_tensor(), batch["verdict"]
    for b in range(len(verdict)):
        assert torch.equal(signed[b][direction[b] == 2], torch.full_like(signed[b][direction[b] == 2], float(verdict[b])))
        assert not signed[b][direction[b] == 0].any()
    module = AgentsModule(policy_channels=(4, 8), policy_strides=(2,), roi_size=(16, 16, 16))
    env = module.make_env(batch, batch["initial"].as_tensor(), seed=0)
    assert torch.equal(env.verdict_target, signed) and torch.equal(env.known, direction > 0)  # no label, no marks
    assert verdict_map_of({**batch, "verdict": torch.zeros(len(verdict))}) is None
    assert module.make_env({k: v for k, v in batch.items() if k != "verdict"}, batch["initial"].as_tensor()).verdict_target is None


def test_reviews_join_structure_agnostic_training(tmp_path):
    """With one task per label (the any-structure recipe), a binary review trains from its corrections alone and
    the dataset's cases keep drawing their structures."""
    from tests.training.test_datamodule_tasks import write_multilabel_dataset

    store, _ = review_store(tmp_path)
    dataset = write_multilabel_dataset(tmp_path / "brains", n_cases=2)
    data = MedrlDataModule(dataset=str(dataset), feedback=str(store), tasks="labels", min_task_voxels=50, intensity="auto",
                           patch_size=(8, 8, 8), batch_size=1, validation_fraction=0.0)
    data.setup("fit")
    reviews = [c for c in data.cases["training"] if c.get("from_review")]
    assert len(reviews) == 2 and all(c["label"] is None for c in reviews)
    seen = {"review": 0, "dataset": 0}
    for batch in data.train_dataloader():
        kind = "review" if bool(batch["from_review"].all()) else "dataset"
        seen[kind] += 1
        assert bool(batch["has_label"].all()) == (kind == "dataset")
    assert seen == {"review": 2, "dataset": 2}


def test_the_accepted_mask_is_trusted_near_the_marks_only():
    from monai.data import MetaTensor

    from medrl.data.label_transforms import TrustNearMarksd

    affine = torch.diag(torch.tensor([2.0, 1.0, 1.0, 1.0]))  # 2 mm along x
    corrections = torch.zeros(1, 12, 5, 5, dtype=torch.uint8)
    corrections[0, 2, 2, 2] = 2  # one painted voxel at x = 2
    accepted = torch.zeros(1, 12, 5, 5, dtype=torch.uint8)
    accepted[0, 0:4, :, :] = 1  # the accepted structure ends after x = 3
    out = TrustNearMarksd(radius_mm=4.0)({"corrections": MetaTensor(corrections, affine=affine),
                                          "accepted": MetaTensor(accepted, affine=affine)})
    marks = out["corrections"][0, :, 2, 2].tolist()
    assert marks == [2, 2, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0]  # within 4 mm (2 voxels of 2 mm): accepted as marks
    assert out["corrections"][0, 2, 2, 2] == 2 and "accepted" not in out
    assert TrustNearMarksd(4.0)({"corrections": corrections}) == {"corrections": corrections}  # no accepted: as it was


def test_near_marks_reviews_train_with_the_accepted_mask_around_their_corrections(tmp_path):
    store, _ = review_store(tmp_path)
    cases = review_cases(store, "near_marks")
    assert all(c["accepted"] and c["label"] is None and not c["has_label"] for c in cases)
    batch = _first_batch(feedback=str(store), feedback_target="near_marks", feedback_trust_mm=3.0)
    marks = batch["corrections"].as_tensor()
    assert not batch["has_label"].any() and (marks == 1).any() and (marks == 2).any()  # where to stop, not only where to go
