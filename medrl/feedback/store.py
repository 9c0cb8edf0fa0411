"""The feedback store: every accepted review, append-only, in one folder.

Layout of a store folder::

    feedback.sqlite                 one row per accepted review (table ``reviews``), WAL journal so
                                    readers never block the writer
    reviews/<id>/accepted.nii.gz    the accepted mask, uint8, on the scan's own grid
    reviews/<id>/before.nii.gz      the mask the review started from
    reviews/<id>/after.nii.gz       the agents' last refinement (when they ran)
    reviews/<id>/corrections.nii.gz clinician labels: 0 untouched, 1 marked background, 2 marked foreground
    autosave/<session>.json         in-progress clicks and strokes of open sessions (see ``autosave``)

A row records the scan (path and SHA-256 of its file), the reviewer, the time (UTC, ISO 8601), the
clicks in RAS world millimetres, and the paths of the masks. Rows are only ever added: SQLite triggers
refuse UPDATE and DELETE. Mask files are written (atomically) before their row is committed, so a
crash leaves at most unreferenced files, never a row that points at nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from medrl.data.atomic import atomic_path
from medrl.data.writers import write_mask
from medrl.errors import MedrlInputError

DATABASE = "feedback.sqlite"
MASK_KINDS = ("accepted", "before", "after", "corrections")
SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    review_uid TEXT NOT NULL UNIQUE,
    scan_path TEXT NOT NULL,
    scan_sha256 TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    created_utc TEXT NOT NULL,
    clicks_ras_json TEXT NOT NULL,
    checkpoint TEXT,
    accepted_path TEXT NOT NULL,
    before_path TEXT,
    after_path TEXT,
    corrections_path TEXT
);
CREATE TRIGGER IF NOT EXISTS reviews_no_update BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'the feedback store is append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_no_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'the feedback store is append-only'); END;
"""


@dataclass(frozen=True)
class ReviewRecord:
    """One accepted review as stored. Mask paths are absolute; ``clicks_ras`` holds
    ``{"position": [x, y, z] (RAS mm), "positive": bool}`` dicts."""

    id: int
    review_uid: str
    scan_path: str
    scan_sha256: str
    reviewer: str
    created_utc: str
    clicks_ras: list
    checkpoint: str | None
    accepted_path: str
    before_path: str | None
    after_path: str | None
    corrections_path: str | None


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, or of every file of a folder (a DICOM series) in sorted order."""
    digest = hashlib.sha256()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class FeedbackStore:
    """A feedback store folder (created on first use).

    Args:
        folder: the store's folder.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).resolve()
        if self.folder.exists() and not self.folder.is_dir():
            raise MedrlInputError(self.folder, "a feedback store must be a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.folder / DATABASE, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    # ------------------------------------------------------------------------------ writing
    def add_review(self, scan_path: str | os.PathLike, reviewer: str, masks: dict, affine: np.ndarray,
                   clicks_ras: list, checkpoint: str | None = None) -> ReviewRecord:
        """Record one accepted review.

        Args:
            scan_path: the reviewed scan (file or DICOM folder); its content hash is stored.
            reviewer: who accepted it.
            masks: ``{"accepted": (X, Y, Z) array, "before": ..., "after": ..., "corrections": ...}``
                on the scan's own grid (``accepted`` required; corrections hold 0/1/2, see module doc).
            affine: (4, 4) RAS affine of the scan's grid.
            clicks_ras: clicks as ``{"position": [x, y, z], "positive": bool}`` in RAS mm.
            checkpoint: the checkpoint whose agents refined the mask, if any.
        """
        if masks.get("accepted") is None:
            raise MedrlInputError("accepted", "a review needs its accepted mask")
        uid = uuid.uuid4().hex
        folder = self.folder / "reviews" / uid
        paths = {}
        for kind in MASK_KINDS:
            if masks.get(kind) is not None:
                paths[kind] = write_mask(np.asarray(masks[kind]), affine, folder / f"{kind}.nii.gz")
        row = (uid, os.fspath(Path(scan_path).resolve()), file_sha256(scan_path), reviewer,
               datetime.now(timezone.utc).isoformat(timespec="seconds"), json.dumps(clicks_ras), checkpoint,
               *(os.fspath(paths[k]) if k in paths else None for k in MASK_KINDS))
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO reviews (review_uid, scan_path, scan_sha256, reviewer, created_utc, clicks_ras_json, "
                "checkpoint, accepted_path, before_path, after_path, corrections_path) VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)
        return next(r for r in self.reviews() if r.review_uid == uid)

    # ------------------------------------------------------------------------------ reading
    def reviews(self) -> list[ReviewRecord]:
        """Every accepted review, oldest first."""
        connection = sqlite3.connect(f"file:{self.folder / DATABASE}?mode=ro", uri=True, timeout=30)
        try:
            rows = connection.execute(
                "SELECT id, review_uid, scan_path, scan_sha256, reviewer, created_utc, clicks_ras_json, checkpoint, "
                "accepted_path, before_path, after_path, corrections_path FROM reviews ORDER BY id").fetchall()
        finally:
            connection.close()
        return [ReviewRecord(*row[:6], json.loads(row[6]), *row[7:]) for row in rows]

    # ----------------------------------------------------------------------------- autosave
    def autosave_path(self, session: str) -> Path:
        return self.folder / "autosave" / f"{session}.json"

    def autosave(self, session: str, state: dict) -> Path:
        """Atomically save an open session's in-progress state (JSON-able dict)."""
        path = self.autosave_path(session)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(state))
        return path

    def recover(self, session: str) -> dict | None:
        """The last autosaved state of ``session``, or ``None``."""
        path = self.autosave_path(session)
        return json.loads(path.read_text()) if path.is_file() else None

    def open_sessions(self) -> list[str]:
        """Sessions with autosaved, not yet accepted work."""
        folder = self.folder / "autosave"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def close_session(self, session: str) -> None:
        """Forget a session's autosave once its review is recorded."""
        self.autosave_path(session).unlink(missing_ok=True)
