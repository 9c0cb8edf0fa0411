"""The feedback store: accepted reviews and verdicts on refinements with their masks on the scan's grid,
append-only, readable by another process while one writes, and autosaved work that survives a killed process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from medrl.data.geometry import orientation_affine
from medrl.data.readers import read_scan
from medrl.errors import MedrlInputError
from medrl.feedback.store import SCHEMA, FeedbackStore, file_sha256
from tests.conftest import make_volume, save_nifti
from tests.training.cli_run import REPO, environment


def _scan(tmp_path):
    image, label = make_volume((20, 18, 12))
    affine = orientation_affine("LPS", (0.8, 0.9, 2.5), (20, 18, 12))
    return save_nifti(image, affine, tmp_path / "scan.nii.gz"), label, affine


def test_a_review_is_recorded_with_its_masks_on_the_scans_grid(tmp_path):
    scan, label, affine = _scan(tmp_path)
    corrections = np.zeros_like(label)
    corrections[2, 3, 4] = 2
    store = FeedbackStore(tmp_path / "store")
    clicks = [{"position": [1.0, -2.0, 3.5], "positive": True}]
    record = store.add_review(scan, "dr_a", {"accepted": label, "before": label * 0, "corrections": corrections}, affine,
                              clicks, checkpoint="model.ckpt")
    assert (record.reviewer, record.clicks_ras, record.checkpoint) == ("dr_a", clicks, "model.ckpt")
    assert record.scan_sha256 == file_sha256(scan) and record.scan_path == str(scan.resolve())
    assert record.after_path is None and record.created_utc.endswith("+00:00")
    accepted = read_scan(record.accepted_path, kind="label")
    np.testing.assert_array_equal(accepted[0].numpy(), label)
    np.testing.assert_allclose(np.asarray(accepted.affine), affine, atol=1e-4)
    assert read_scan(record.corrections_path, kind="label")[0].numpy()[2, 3, 4] == 2
    assert [r.id for r in FeedbackStore(tmp_path / "store").reviews()] == [record.id]  # reopened: still there


def test_the_store_is_append_only(tmp_path):
    scan, label, affine = _scan(tmp_path)
    store = FeedbackStore(tmp_path / "store")
    store.add_review(scan, "dr_a", {"accepted": label}, affine, [])
    connection = sqlite3.connect(tmp_path / "store" / "feedback.sqlite")
    for statement in ("UPDATE reviews SET reviewer = 'x'", "DELETE FROM reviews"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute(statement)
    connection.close()
    assert [r.reviewer for r in store.reviews()] == ["dr_a"]


def test_another_process_reads_while_this_one_writes(tmp_path):
    scan, label, affine = _scan(tmp_path)
    store = FeedbackStore(tmp_path / "store")
    store.add_review(scan, "dr_a", {"accepted": label}, affine, [])
    writer = sqlite3.connect(tmp_path / "store" / "feedback.sqlite")
    writer.execute("BEGIN IMMEDIATE")  # a write transaction held open
    writer.execute("INSERT INTO reviews (review_uid, scan_path, scan_sha256, reviewer, created_utc, clicks_ras_json, "
                   "accepted_path) VALUES ('u2', 's', 'h', 'dr_b', 't', '[]', 'a')")
    reader = subprocess.run([sys.executable, "-c", "from medrl.feedback.store import FeedbackStore; import sys; "
                             "print(len(FeedbackStore(sys.argv[1]).reviews()))", str(tmp_path / "store")],
                            capture_output=True, encoding="utf-8", errors="replace", timeout=20, env=environment(), cwd=REPO)
    writer.commit()
    writer.close()
    assert reader.returncode == 0, reader.stderr
    assert reader.stdout.strip() == "1"  # the committed review, without waiting for the writer
    assert len(store.reviews()) == 2


def test_autosaved_work_survives_a_killed_process(tmp_path):
    code = ("import os, signal, sys; from medrl.feedback.store import FeedbackStore; "
            "store = FeedbackStore(sys.argv[1]); "
            "store.autosave('s1', {'clicks': [{'position': [1, 2, 3], 'positive': True}]}); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "store")], env=environment(), cwd=REPO, timeout=20)
    assert result.returncode == -9
    store = FeedbackStore(tmp_path / "store")
    assert store.open_sessions() == ["s1"]
    assert store.recover("s1") == {"clicks": [{"position": [1, 2, 3], "positive": True}]}
    store.close_session("s1")
    assert store.open_sessions() == [] and store.recover("s1") is None


def test_a_store_opened_on_a_relative_folder_records_absolute_paths(tmp_path, monkeypatch):
    scan, label, affine = _scan(tmp_path)
    monkeypatch.chdir(tmp_path)
    record = FeedbackStore("store").add_review(scan, "dr_a", {"accepted": label}, affine, [])
    assert record.accepted_path.startswith(str(tmp_path)) and read_scan(record.accepted_path, kind="label").shape[1:] == label.shape


# ------------------------------------------------------------------------------------ verdicts
def _verdict_masks(label):
    before = label.copy()
    before[:, :, 5:] = 0
    direction = np.zeros_like(label)
    direction[label.astype(bool) & (before == 0)] = 2  # the refinement raised what the start missed
    direction[0, 0, 0] = 1
    corrections = np.zeros_like(label)
    corrections[5, 5, 5] = 2
    return {"before": before, "direction": direction, "corrections": corrections}


def test_a_verdict_is_recorded_with_its_masks_on_the_scans_grid(tmp_path):
    scan, label, affine = _scan(tmp_path)
    store = FeedbackStore(tmp_path / "store")
    masks = _verdict_masks(label)
    clicks = [{"kind": "click", "position": [1.0, -2.0, 3.5], "positive": True, "radius_mm": 0.0}]
    rejected = store.add_verdict(scan, "dr_a", -1, masks, affine, clicks, checkpoint="model.ckpt", session_id="s1")
    accepted = store.add_verdict(scan, "dr_b", 1, {k: masks[k] for k in ("before", "direction")}, affine, [])
    assert (rejected.verdict, rejected.reviewer, rejected.clicks_ras, rejected.checkpoint, rejected.session_id) == \
        (-1, "dr_a", clicks, "model.ckpt", "s1")
    assert rejected.scan_sha256 == file_sha256(scan) and rejected.created_utc.endswith("+00:00")
    assert accepted.verdict == 1 and accepted.corrections_path is None and accepted.session_id is None
    for kind in ("before", "direction", "corrections"):
        written = read_scan(getattr(rejected, f"{kind}_path"), kind="label")
        np.testing.assert_array_equal(written[0].numpy(), masks[kind])
        np.testing.assert_allclose(np.asarray(written.affine), affine, atol=1e-4)
    reopened = FeedbackStore(tmp_path / "store")
    assert [v.id for v in reopened.verdicts()] == [rejected.id, accepted.id] and reopened.reviews() == []


def test_verdicts_are_append_only(tmp_path):
    scan, label, affine = _scan(tmp_path)
    store = FeedbackStore(tmp_path / "store")
    store.add_verdict(scan, "dr_a", 1, _verdict_masks(label), affine, [])
    connection = sqlite3.connect(tmp_path / "store" / "feedback.sqlite")
    for statement in ("UPDATE verdicts SET verdict = -1", "DELETE FROM verdicts"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute(statement)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):  # the table itself refuses other verdicts
        connection.execute("INSERT INTO verdicts (verdict_uid, scan_path, scan_sha256, reviewer, created_utc, clicks_ras_json, "
                           "verdict, before_path, direction_path) VALUES ('u', 's', 'h', 'r', 't', '[]', 0, 'b', 'd')")
    connection.close()
    assert [v.verdict for v in store.verdicts()] == [1]


@pytest.mark.parametrize("verdict, change, message", [
    (0, {}, "verdict: must be \\+1 \\(accepted\\) or -1"),
    (True, {}, "verdict: must be"),
    (1, {"direction": None}, "direction: a verdict needs"),
    (1, {"direction": np.full((20, 18, 12), 3, np.uint8)}, "direction: values must be integers in 0..2"),
    (-1, {"before": np.full((20, 18, 12), 2, np.uint8)}, "before: values must be integers in 0..1"),
    (-1, {"corrections": np.zeros((20, 18, 11), np.uint8)}, "corrections: shape"),
])
def test_a_bad_verdict_is_refused_and_writes_nothing(tmp_path, verdict, change, message):
    scan, label, affine = _scan(tmp_path)
    store = FeedbackStore(tmp_path / "store")
    with pytest.raises(MedrlInputError, match=message):
        store.add_verdict(scan, "dr_a", verdict, {**_verdict_masks(label), **change}, affine, [])
    assert store.verdicts() == [] and not (tmp_path / "store" / "verdicts").exists()


def test_an_older_store_gains_the_verdicts_table_when_opened(tmp_path):
    scan, label, affine = _scan(tmp_path)
    folder = tmp_path / "store"
    folder.mkdir()
    connection = sqlite3.connect(folder / "feedback.sqlite")
    connection.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS verdicts")[0])  # a store from before verdicts
    connection.close()
    store = FeedbackStore(folder)
    store.add_review(scan, "dr_a", {"accepted": label}, affine, [])
    assert store.verdicts() == [] and len(store.reviews()) == 1
    store.add_verdict(scan, "dr_a", -1, _verdict_masks(label), affine, [])
    assert [v.verdict for v in store.verdicts()] == [-1]
