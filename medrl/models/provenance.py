"""Where a checkpoint's agents came from, kept inside the checkpoint (``checkpoint["medrl"]["provenance"]``)
and shown by ``medrl inspect CHECKPOINT``.

A record, in plain types (it loads with ``weights_only=True``)::

    {"created_utc": "2026-12-03T09:12:44Z", "medrl_version": "0.1.0", "optimizer_steps": 300,
     "data": {"datasets": ["/abs/dataset.json", ...] or [],
              "feedback": {"store": "/abs/feedback", "target": "corrections", "repeats": 1,
                           "reviews": ["<review_uid>", ...], "verdicts": ["<verdict_uid>", ...]} or None} or None,
     "base": {"path": "/abs/base.ckpt", "sha256": "...", "provenance": <the base's own record or None>} or None}

``base`` is the checkpoint fine-tuning started from (``init_from``), with its own record nested, so the
whole lineage of a checkpoint fine-tuned day after day reads from the newest file alone. ``reviews`` and
``verdicts`` are the feedback store's ids of exactly the records the run trained on (as the store held
them when the run began). Checkpoints written before provenance existed have none (``None``).
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from medrl import __version__
from medrl.feedback.store import file_sha256


def base_record(path: str | os.PathLike, provenance: dict | None) -> dict:
    """The ``base`` entry for a run that starts from the checkpoint at ``path`` (whose own record is ``provenance``)."""
    path = Path(path).resolve()
    return {"path": os.fspath(path), "sha256": file_sha256(path), "provenance": provenance}


def provenance_of(module) -> dict:
    """The record for a checkpoint of ``module`` being saved now: its trainer's optimizer steps, its
    datamodule's ``provenance_record()`` (when it has one) and the module's ``base_provenance`` (fine-tuning)."""
    trainer = getattr(module, "_trainer", None)
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    data = datamodule.provenance_record() if hasattr(datamodule, "provenance_record") else None
    return {"created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "medrl_version": __version__, "optimizer_steps": None if trainer is None else int(trainer.global_step),
            "data": data, "base": getattr(module, "base_provenance", None)}


def lineage(provenance: dict | None) -> list[dict]:
    """The records from this checkpoint's back to the first one, newest first (``[]`` without provenance)."""
    records = []
    while provenance:
        records.append(provenance)
        provenance = (provenance.get("base") or {}).get("provenance")
    return records


def format_provenance(provenance: dict | None, indent: str = "  ") -> list[str]:
    """Human-readable lines: one block per generation, newest first."""
    if not provenance:
        return [f"{indent}provenance: none recorded (written before medrl kept it, or not by medrl fit/finetune)"]
    lines = []
    for generation, record in enumerate(lineage(provenance)):
        head = "this checkpoint" if generation == 0 else f"its base, {generation} back"
        steps = record.get("optimizer_steps")
        trained = "written outside a training run" if steps is None else f"{steps} optimizer steps"
        lines.append(f"{indent}{head}: {record.get('created_utc')}, medrl {record.get('medrl_version')}, {trained}")
        data = record.get("data") or {}
        for dataset in data.get("datasets") or []:
            lines.append(f"{indent}  dataset {dataset}")
        feedback = data.get("feedback")
        if feedback:
            lines.append(f"{indent}  feedback store {feedback['store']}: {len(feedback.get('reviews', []))} reviews, "
                         f"{len(feedback.get('verdicts', []))} verdicts (target {feedback.get('target')}, "
                         f"repeats {feedback.get('repeats')})")
        base = record.get("base")
        if base:
            lines.append(f"{indent}  started from {base['path']} (sha256 {base['sha256'][:12]}…)")
    return lines
