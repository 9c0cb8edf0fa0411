"""The feedback store: every accepted review and every verdict on a refinement, append-only, in one folder.

Layout of a store folder::

    feedback.sqlite                  one row per accepted review (table ``reviews``) and per verdict
                                     (table ``verdicts``), WAL journal so readers never block the writer
    reviews/<id>/accepted.nii.gz     the accepted mask, uint8, on the scan's own grid
    reviews/<id>/before.nii.gz       the mask the review started from
    reviews/<id>/after.nii.gz        the agents' last refinement (when they ran)
    reviews/<id>/corrections.nii.gz  clinician labels: 0 untouched, 1 marked background, 2 marked foreground
    verdicts/<id>/before.nii.gz      the mask the judged refinement started from
    verdicts/<id>/direction.nii.gz   what the refinement did: 0 unchanged, 1 lowered, 2 raised (see
                                     :mod:`medrl.env.rewards.verdict`)
    verdicts/<id>/corrections.nii.gz the clinician's marks when the verdict was given (0/1/2 as above)
    autosave/<session>.json          in-progress clicks and strokes of open sessions (see ``autosave``)

A verdict is a clinician's +1 (accepted) or −1 (rejected) on one refinement of the agents. A row records
the scan (path and SHA-256 of its file), the reviewer, the time (UTC, ISO 8601), the clicks in RAS
world millimetres, and the paths of the masks. Rows are only ever added: SQLite triggers refuse UPDATE
and DELETE. Mask files are written (atomically) before their row is committed, so a crash leaves at
most unreferenced files, never a row that points at nothing. Accepting a session is one transaction (its
review and the verdict +1 on its last refinement together) and is recorded once: a session accepted again
(resumed from its autosave after a crash between the record and the autosave's removal) gets back the
review already recorded, and a recorded session's autosave no longer counts as open work.
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

from medrl.data.atomic import write_text_atomically
from medrl.data.writers import write_mask
from medrl.errors import MedrlInputError

DATABASE = "feedback.sqlite"
MASK_KINDS = ("accepted", "before", "after", "corrections")
VERDICT_MASK_KINDS = ("before", "direction", "corrections")
VERDICTS = (-1, 1)
"""A verdict: −1 the clinician rejected the refinement, +1 accepted it."""
ACCEPTED_VERDICT = 1
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
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    verdict_uid TEXT NOT NULL UNIQUE,
    scan_path TEXT NOT NULL,
    scan_sha256 TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    created_utc TEXT NOT NULL,
    clicks_ras_json TEXT NOT NULL,
    checkpoint TEXT,
    verdict INTEGER NOT NULL CHECK (verdict IN (-1, 1)),
    session_id TEXT,
    before_path TEXT NOT NULL,
    direction_path TEXT NOT NULL,
    corrections_path TEXT
);
CREATE TRIGGER IF NOT EXISTS verdicts_no_update BEFORE UPDATE ON verdicts
BEGIN SELECT RAISE(ABORT, 'the feedback store is append-only'); END;
CREATE TRIGGER IF NOT EXISTS verdicts_no_delete BEFORE DELETE ON verdicts
BEGIN SELECT RAISE(ABORT, 'the feedback store is append-only'); END;
"""
VERDICT_COLUMNS = ("id", "verdict_uid", "scan_path", "scan_sha256", "reviewer", "created_utc", "clicks_ras_json", "checkpoint",
                   "verdict", "session_id", "before_path", "direction_path", "corrections_path")


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
    structure: dict | None = None
    """The structure of a multi-label map the review was about (``{"value": 5, "name": "liver"}``), or ``None``."""
    session_id: str | None = None
    """The review session accepted (``None`` for reviews recorded without one, or by an earlier medrl)."""


@dataclass(frozen=True)
class VerdictRecord:
    """One verdict on a refinement as stored: ``verdict`` +1 (accepted) or −1 (rejected); the masks
    (absolute paths, on the scan's own grid) are the mask the refinement started from (``before``),
    what it did (``direction``: 0 unchanged, 1 lowered, 2 raised) and the clinician's marks at that
    moment (``corrections``, or ``None``); ``clicks_ras`` as in :class:`ReviewRecord`; ``session_id``
    the review session that gave it."""

    id: int
    verdict_uid: str
    scan_path: str
    scan_sha256: str
    reviewer: str
    created_utc: str
    clicks_ras: list
    checkpoint: str | None
    verdict: int
    session_id: str | None
    before_path: str
    direction_path: str
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


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """Bring a store written by an earlier medrl up to this schema (new columns are nullable)."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(reviews)")}
    for column in ("structure_json", "session_id"):
        if column not in columns:
            connection.execute(f"ALTER TABLE reviews ADD COLUMN {column} TEXT")


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
            _add_missing_columns(connection)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.folder / DATABASE, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    # ------------------------------------------------------------------------------ writing
    def add_review(self, scan_path: str | os.PathLike, reviewer: str, masks: dict, affine: np.ndarray,
                   clicks_ras: list, checkpoint: str | None = None, structure: dict | None = None,
                   session_id: str | None = None, accepted_refinement: dict | None = None) -> ReviewRecord:
        """Record one accepted review.

        Args:
            scan_path: the reviewed scan (file or DICOM folder); its content hash is stored.
            reviewer: who accepted it.
            masks: ``{"accepted": (X, Y, Z) array, "before": ..., "after": ..., "corrections": ...}``
                on the scan's own grid (``accepted`` required; corrections hold 0/1/2, see module doc).
            affine: (4, 4) RAS affine of the scan's grid.
            clicks_ras: clicks as ``{"position": [x, y, z], "positive": bool}`` in RAS mm.
            checkpoint: the checkpoint whose agents refined the mask, if any.
            structure: the structure of a multi-label map reviewed (``{"value": int, "name": str}``), if any;
                the masks are then that structure's binary masks.
            session_id: the review session accepted. A session is recorded once: if it already is, nothing
                is written and its recorded review is returned.
            accepted_refinement: the masks of the verdict +1 on the session's last refinement (as
                :meth:`add_verdict` takes them), recorded in the same transaction as the review.
        """
        if masks.get("accepted") is None:
            raise MedrlInputError("accepted", "a review needs its accepted mask")
        recorded = self.review_of_session(session_id)
        if recorded is not None:
            return recorded
        if accepted_refinement is not None:
            _check_verdict(ACCEPTED_VERDICT, accepted_refinement)
        uid = uuid.uuid4().hex
        paths = _write_masks(self.folder / "reviews" / uid, masks, MASK_KINDS, affine)
        provenance = _provenance(scan_path, reviewer, clicks_ras)
        row = (uid, *provenance, checkpoint, *paths, None if structure is None else json.dumps(structure), session_id)
        verdict_row = None
        if accepted_refinement is not None:
            verdict_uid = uuid.uuid4().hex
            verdict_paths = _write_masks(self.folder / "verdicts" / verdict_uid, accepted_refinement, VERDICT_MASK_KINDS, affine)
            verdict_row = (verdict_uid, *provenance, checkpoint, ACCEPTED_VERDICT, session_id, *verdict_paths)
        with self._connect() as connection:  # one transaction: the review and its verdict, or neither
            if verdict_row is not None:
                _insert_verdict(connection, verdict_row)
            connection.execute(
                "INSERT INTO reviews (review_uid, scan_path, scan_sha256, reviewer, created_utc, clicks_ras_json, "
                "checkpoint, accepted_path, before_path, after_path, corrections_path, structure_json, session_id) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
        return next(r for r in self.reviews() if r.review_uid == uid)

    def review_of_session(self, session_id: str | None) -> ReviewRecord | None:
        """The review recorded for ``session_id``, or ``None`` (also for ``None``)."""
        if session_id is None:
            return None
        return next(iter(self.reviews(session_id)), None)

    def add_verdict(self, scan_path: str | os.PathLike, reviewer: str, verdict: int, masks: dict, affine: np.ndarray,
                    clicks_ras: list, checkpoint: str | None = None, session_id: str | None = None) -> VerdictRecord:
        """Record one verdict on a refinement of the agents.

        Args:
            scan_path: the reviewed scan (file or DICOM folder); its content hash is stored.
            reviewer: who gave the verdict.
            verdict: +1 (accepted) or −1 (rejected).
            masks: ``{"before": (X, Y, Z) {0, 1}, "direction": (X, Y, Z) {0, 1, 2}, "corrections": (X, Y, Z)
                {0, 1, 2}}`` integer arrays on the scan's own grid (``corrections`` optional).
            affine: (4, 4) RAS affine of the scan's grid.
            clicks_ras: the clinician's clicks and strokes so far, in RAS mm (as for :meth:`add_review`).
            checkpoint: the checkpoint whose agents made the refinement.
            session_id: the review session that gave the verdict.

        Raises:
            MedrlInputError: a verdict other than ±1, a mask missing, of another shape or with values
                outside its range; nothing is written then.
        """
        _check_verdict(verdict, masks)
        uid = uuid.uuid4().hex
        paths = _write_masks(self.folder / "verdicts" / uid, masks, VERDICT_MASK_KINDS, affine)
        row = (uid, *_provenance(scan_path, reviewer, clicks_ras), checkpoint, int(verdict), session_id, *paths)
        with self._connect() as connection:
            _insert_verdict(connection, row)
        return next(r for r in self.verdicts() if r.verdict_uid == uid)

    # ------------------------------------------------------------------------------ reading
    def reviews(self, session_id: str | None = None) -> list[ReviewRecord]:
        """Every accepted review, oldest first (only the one of ``session_id``, when given)."""
        where, parameters = ("WHERE session_id = ? ", (session_id,)) if session_id is not None else ("", ())
        rows = self._select("SELECT id, review_uid, scan_path, scan_sha256, reviewer, created_utc, clicks_ras_json, checkpoint, "
                            "accepted_path, before_path, after_path, corrections_path, structure_json, session_id "
                            f"FROM reviews {where}ORDER BY id", parameters)
        return [ReviewRecord(*row[:6], json.loads(row[6]), *row[7:12], json.loads(row[12]) if row[12] else None, row[13])
                for row in rows]

    def verdicts(self) -> list[VerdictRecord]:
        """Every verdict on a refinement, oldest first."""
        rows = self._select(f"SELECT {', '.join(VERDICT_COLUMNS)} FROM verdicts ORDER BY id")
        return [VerdictRecord(*row[:6], json.loads(row[6]), *row[7:]) for row in rows]

    def _select(self, query: str, parameters: tuple = ()) -> list[tuple]:
        """Rows of a query on a read-only connection (never blocks the writer)."""
        connection = sqlite3.connect(f"file:{self.folder / DATABASE}?mode=ro", uri=True, timeout=30)
        try:
            return connection.execute(query, parameters).fetchall()
        finally:
            connection.close()

    # ----------------------------------------------------------------------------- autosave
    def autosave_path(self, session: str) -> Path:
        return self.folder / "autosave" / f"{session}.json"

    def autosave(self, session: str, state: dict) -> Path:
        """Atomically save an open session's in-progress state (JSON-able dict)."""
        path = self.autosave_path(session)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, json.dumps(state))
        return path

    def recover(self, session: str) -> dict | None:
        """The last autosaved state of ``session``, or ``None`` (none saved, or the session is already recorded)."""
        path = self.autosave_path(session)
        if not path.is_file() or self.review_of_session(session) is not None:
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def open_sessions(self) -> list[str]:
        """Sessions with autosaved, not yet accepted work."""
        folder = self.folder / "autosave"
        recorded = {row[0] for row in self._select("SELECT session_id FROM reviews WHERE session_id IS NOT NULL")}
        return sorted(p.stem for p in folder.glob("*.json") if p.stem not in recorded) if folder.is_dir() else []

    def close_session(self, session: str) -> None:
        """Forget a session's autosave once its review is recorded."""
        self.autosave_path(session).unlink(missing_ok=True)


def _insert_verdict(connection: sqlite3.Connection, row: tuple) -> None:
    connection.execute(f"INSERT INTO verdicts ({', '.join(VERDICT_COLUMNS[1:])}) VALUES ({', '.join('?' * len(row))})", row)


def _provenance(scan_path, reviewer: str, clicks_ras: list) -> tuple:
    """(resolved scan path, its SHA-256, reviewer, UTC time now, clicks as JSON): a row's first columns."""
    return (os.fspath(Path(scan_path).resolve()), file_sha256(scan_path), reviewer,
            datetime.now(timezone.utc).isoformat(timespec="seconds"), json.dumps(clicks_ras))


def _write_masks(folder: Path, masks: dict, kinds: tuple, affine: np.ndarray) -> list[str | None]:
    """Write each given mask of ``kinds`` to ``folder/<kind>.nii.gz`` (uint8, atomically); their paths in
    the order of ``kinds``, ``None`` for masks not given."""
    return [None if masks.get(kind) is None else os.fspath(write_mask(np.asarray(masks[kind]), affine, folder / f"{kind}.nii.gz"))
            for kind in kinds]


def _check_verdict(verdict, masks: dict) -> None:
    """Raise :class:`MedrlInputError` unless ``verdict`` is ±1 and the masks of a verdict fit together."""
    if isinstance(verdict, bool) or verdict not in VERDICTS:
        raise MedrlInputError("verdict", f"must be +1 (accepted) or -1 (rejected), got {verdict!r}")
    highest = {"before": 1, "direction": 2, "corrections": 2}
    for kind in ("before", "direction"):
        if masks.get(kind) is None:
            raise MedrlInputError(kind, "a verdict needs the mask its refinement started from and the refinement's direction map")
    shape = np.shape(masks["before"])
    for kind, top in highest.items():
        mask = masks.get(kind)
        if mask is None:
            continue
        mask = np.asarray(mask)
        if mask.shape != shape:
            raise MedrlInputError(kind, f"shape {mask.shape} differs from the before mask's {shape}")
        if mask.size and (mask.min() < 0 or mask.max() > top or not np.array_equal(mask, np.round(mask))):
            raise MedrlInputError(kind, f"values must be integers in 0..{top}")
