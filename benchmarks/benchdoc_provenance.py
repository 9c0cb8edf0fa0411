"""Which medrl code produced a model or an evaluation: the repository's commit when the script started."""

from __future__ import annotations

import subprocess
from pathlib import Path

WATCHED = ("medrl", "configs")
"""Folders whose uncommitted changes would change what the benchmark measures."""


def git(repository: Path, *args: str) -> str:
    """The stripped output of ``git -C repository ARGS``, or ``"unknown"`` without git or a repository."""
    try:
        return subprocess.run(["git", "-C", str(repository), *args], capture_output=True, encoding="utf-8", errors="replace", check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def code_version(repository: Path) -> str:
    """``"bde65b2"``: the short commit of ``repository``, with ``"+uncommitted"`` when :data:`WATCHED` folders differ from it."""
    changed = git(repository, "status", "--porcelain", "--", *WATCHED)
    return git(repository, "rev-parse", "--short", "HEAD") + ("+uncommitted" if changed and changed != "unknown" else "")
