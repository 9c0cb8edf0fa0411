"""A feedback store read as training cases: each accepted review, and each verdict on a refinement, is
one case for the agents.

A review's case starts from the mask the clinician started from (``before``), and its reward target
comes from what the clinician did:

- ``target="corrections"``: only the voxels the clinician clicked or painted carry a
  target (the corrections map, 0 untouched / 1 marked background / 2 marked foreground). Where the
  reviewed scan is also a labelled case of the training dataset, that label fills in the rest, with
  the corrections overriding it. A scan without any label trains from its corrections alone.
- ``target="accepted"``: the accepted mask is the label everywhere (the clinician approved it), the
  corrections still override it.
- ``target="near_marks"`` (the default): the accepted mask is trusted only near what the clinician marked: within
  ``feedback_trust_mm`` of a marked voxel it becomes a target (its foreground as marked foreground, its
  background as marked background), further away nothing is known; the marks themselves still win. So a
  review teaches where a correction stops as well as where it goes, without vouching for the whole mask
  (:class:`medrl.data.label_transforms.TrustNearMarksd`). On real patients it was the one of the three that
  taught without harm (``benchmarks/bench_feedback_real.py``: the marks alone taught agents to overshoot).

A verdict's case (:func:`verdict_cases`) starts from the mask the judged refinement started from, with
the clinician's marks of that moment as corrections and no label; it brings the refinement's direction
map (``verdict_direction``: 0 unchanged, 1 lowered, 2 raised) and the scalar ``verdict`` (+1 accepted,
−1 rejected), from which training builds the signed verdict map of :mod:`medrl.env.rewards.verdict`:
agents that repeat an accepted refinement earn, agents that repeat a rejected one lose.

Case dicts hold absolute paths and flags (see :func:`review_cases`); the DataModule reads them like
dataset cases.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from medrl.errors import MedrlInputError
from medrl.feedback.store import FeedbackStore, ReviewRecord, VerdictRecord, file_sha256

logger = logging.getLogger("medrl")
FEEDBACK_TARGETS = ("corrections", "accepted", "near_marks")
DEFAULT_FEEDBACK_TARGET = "near_marks"


def _check_scan(record: ReviewRecord | VerdictRecord, check_hash: bool) -> None:
    """Raise unless the reviewed scan is still there with the content the clinician saw."""
    what = f"review {record.review_uid}" if isinstance(record, ReviewRecord) else f"verdict {record.verdict_uid}"
    if not Path(record.scan_path).exists():
        raise MedrlInputError(record.scan_path, f"scan of {what} no longer exists")
    if check_hash and file_sha256(record.scan_path) != record.scan_sha256:
        raise MedrlInputError(record.scan_path, f"scan changed since {what} (SHA-256 differs); "
                              "its corrections no longer match it")


def review_case(record: ReviewRecord, target: str = DEFAULT_FEEDBACK_TARGET, labels: dict[str, str] | None = None) -> dict | None:
    """One review as a training case, or ``None`` when it cannot teach anything under ``target``.

    Args:
        record: an accepted review.
        target: ``"corrections"`` or ``"accepted"`` (see the module docstring).
        labels: resolved scan path -> label path of the training dataset's labelled cases.

    Returns:
        ``{"image", "initial", "corrections", "label", "has_label", "from_review", "review_uid",
        "review_structure"}``: paths as strings (``label`` may be ``None``), ``has_label`` True where the label
        is known everywhere, ``from_review`` True, ``review_structure`` the label value of the structure a
        review of a multi-label map was about when ``label`` is the dataset's map (else ``None``). ``None`` for a review without a ``before`` mask (no start
        to replay) or, under ``"corrections"``, without corrections and without a dataset label.
    """
    if target not in FEEDBACK_TARGETS:
        raise MedrlInputError("feedback_target", f"must be one of {FEEDBACK_TARGETS}, got {target!r}")
    if record.before_path is None:
        return None
    if target == "near_marks" and record.corrections_path is None:
        return None  # nothing marked: nothing to trust the accepted mask near
    label = record.accepted_path if target == "accepted" else (labels or {}).get(os.fspath(Path(record.scan_path).resolve()))
    if label is None and record.corrections_path is None:
        return None
    near_marks = {"accepted": record.accepted_path} if target == "near_marks" and label is None else {}
    return {"image": record.scan_path, "initial": record.before_path, "corrections": record.corrections_path, **near_marks,
            "label": label, "has_label": label is not None, "from_review": True, "review_uid": record.review_uid,
            "review_structure": None if record.structure is None or label is None or target == "accepted"
            else int(record.structure["value"])}


def check_store(store: str | os.PathLike) -> Path:
    """``store`` as a Path, if it is a feedback store folder.

    Raises:
        MedrlInputError: if it is not one (no ``feedback.sqlite`` inside).
    """
    if not (Path(store) / "feedback.sqlite").is_file():
        raise MedrlInputError(store, "not a feedback store (no feedback.sqlite); reviews are recorded by medrl.review")
    return Path(store)


def review_cases(store: str | os.PathLike, target: str = DEFAULT_FEEDBACK_TARGET, labels: dict[str, str] | None = None,
                 check_hash: bool = True) -> list[dict]:
    """Every accepted review of a feedback store that can teach, as training cases (oldest first).

    Args:
        store: the feedback store's folder.
        target: ``"corrections"`` or ``"accepted"``.
        labels: resolved scan path -> label path of labelled training cases (see :func:`review_case`).
        check_hash: refuse a review whose scan changed since (SHA-256 of the file or DICOM folder).

    Raises:
        MedrlInputError: no store at ``store``, a reviewed scan missing or changed.
    """
    records = FeedbackStore(check_store(store)).reviews()
    cases = []
    for record in records:
        case = review_case(record, target, labels)
        if case is not None:
            _check_scan(record, check_hash)
            cases.append(case)
    if len(cases) < len(records):
        logger.warning("%s: %d of %d reviews have nothing to train on under target %r (no 'before' mask or no corrections)",
                       store, len(records) - len(cases), len(records), target)
    return cases


def verdict_case(record: VerdictRecord) -> dict:
    """One verdict as a training case.

    Returns:
        ``{"image", "initial", "corrections", "verdict_direction", "verdict", "label", "has_label",
        "from_review", "verdict_uid"}``: paths as strings (``corrections`` may be ``None``), ``verdict``
        a float, +1.0 or −1.0; no label (``label`` ``None``, ``has_label`` False), ``from_review`` True.
    """
    return {"image": record.scan_path, "initial": record.before_path, "corrections": record.corrections_path,
            "verdict_direction": record.direction_path, "verdict": float(record.verdict), "label": None,
            "has_label": False, "from_review": True, "verdict_uid": record.verdict_uid}


def verdict_cases(store: str | os.PathLike, check_hash: bool = True) -> list[dict]:
    """Every verdict of a feedback store as a training case (oldest first; see :func:`verdict_case`).

    Args:
        store: the feedback store's folder.
        check_hash: refuse a verdict whose scan changed since (SHA-256 of the file or DICOM folder).

    Raises:
        MedrlInputError: no store at ``store``, a judged scan missing or changed.
    """
    records = FeedbackStore(check_store(store)).verdicts()
    checked = set()
    for record in records:  # a scan judged several times is checked once
        if (record.scan_path, record.scan_sha256) not in checked:
            _check_scan(record, check_hash)
            checked.add((record.scan_path, record.scan_sha256))
    return [verdict_case(record) for record in records]
