"""``medrl inspect CHECKPOINT``: what a checkpoint holds and where it came from, without loading any network."""

from __future__ import annotations

import os
from pathlib import Path

from medrl.models.checkpoint import Checkpoint
from medrl.models.provenance import format_provenance

CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth")


def is_checkpoint_path(path: str | os.PathLike) -> bool:
    """True for a file named like a PyTorch checkpoint."""
    return Path(path).suffix.lower() in CHECKPOINT_SUFFIXES and Path(path).is_file()


def checkpoint_report(path: str | os.PathLike) -> dict:
    """A JSON-able description: kind, networks, working grid, agents' settings, provenance.

    Raises:
        MedrlInputError: not a medrl checkpoint (see :func:`medrl.models.checkpoint.read_checkpoint`).
    """
    saved = Checkpoint.load(path)
    kind = "agents" if saved.policy is not None else "click network" if saved.click_network is not None else "segmenter"
    networks = {name: {"architecture": part.architecture, "roi_size": None if part.roi_size is None else list(part.roi_size)}
                for name, part in (("policy", saved.policy), ("segmenter", saved.segmenter),
                                   ("click_network", saved.click_network)) if part is not None}
    report = {"checkpoint": os.fspath(path), "kind": kind, "networks": networks, "preprocessing": saved.preprocessing,
              "provenance": saved.provenance}
    if saved.policy is not None:
        report["agents"] = {**saved.agents, "steps": saved.steps, "soft_start": list(saved.soft_start)}
    return report


def format_checkpoint_report(report: dict) -> list[str]:
    """Human-readable lines for :func:`checkpoint_report`'s result."""
    lines = [f"checkpoint {report['checkpoint']}: {report['kind']}"]
    for name, network in report["networks"].items():
        channels = network["architecture"].get("channels")
        lines.append(f"  {name}: channels {channels}, window {network['roi_size']}")
    preprocessing = report.get("preprocessing") or {}
    if preprocessing:
        spacing = preprocessing.get("spacing")
        grid = "the scan's own spacing" if spacing is None else f"spacing {' x '.join(f'{s:g}' for s in spacing)} mm"
        lines.append(f"  working grid: {grid}, intensity {preprocessing.get('intensity')}")
    agents = report.get("agents")
    if agents:
        lines.append(f"  agents: {agents['kind']}, {agents['steps']} step(s) per interaction")
    return lines + format_provenance(report.get("provenance"))
