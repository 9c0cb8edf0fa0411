"""Checks shared by the benchmark document scripts' command lines."""

from __future__ import annotations

import argparse
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def check_common_args(parser: argparse.ArgumentParser, args: argparse.Namespace, needs_ct: bool, without_ct: str) -> None:
    """Exit through ``parser.error`` when ``--threads`` is below 1, the real CT folder ``--ct`` is needed but has no
    image (``without_ct`` names the option that avoids it), or ``--work`` lies inside the repository."""
    if args.threads < 1:
        parser.error("--threads must be 1 or more")
    if needs_ct and not (args.ct / "image.nii.gz").is_file():
        parser.error(f"{args.ct}: no image.nii.gz (the real CT folder); give --ct or {without_ct}")
    if args.work.resolve().is_relative_to(REPOSITORY):
        parser.error(f"--work {args.work}: keep checkpoints and derived data outside the repository")
