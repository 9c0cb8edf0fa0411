"""What a checkpoint carries for inference, in plain types, so it loads with ``weights_only=True``.

Every medrl checkpoint holds, besides Lightning's ``state_dict``, a ``"medrl"`` entry::

    {"format": 1, "medrl_version": "0.1.0",
     "preprocessing": {...},                       # Preprocessing fields + foreground_labels
     "segmenter": {"architecture": {...}, "roi_size": [...], "prefix": "net." | "segmenter."} or None,
     "policy": {"architecture": {...}, "roi_size": [...], "prefix": "policy."} or None,
     "env": {...EnvConfig fields: action deltas, hint sigma, ...} or None,
     "agents": {"kind": "voxel" | "region", ...} or None,
     "soft_start": [inside, outside] or None,
     "click_network": {"architecture": {...}, "roi_size": [...], "prefix": "net.",
                       "encoding": {"hint_sigma_mm", "click_radius_mm", "previous"}, ...} or None}

so that ``medrl predict --checkpoint X`` needs nothing else. A supervised click network's checkpoint
(:class:`medrl.training.click_network.ClickNetworkModule`) holds ``"click_network"`` and no ``"policy"``
(``medrl evaluate`` runs it; ``medrl predict`` runs agents only); an agents' checkpoint the reverse.
Checkpoints written before ``"click_network"`` existed lack that key; readers take
``bundle.get("click_network")``, so they keep loading unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from medrl import __version__
from medrl.errors import MedrlInputError

BUNDLE_FORMAT = 1


def preprocessing_of(module) -> dict | None:
    """The preprocessing record of the module's datamodule, when it is trained through one."""
    trainer = getattr(module, "_trainer", None)
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    return datamodule.preprocessing_record() if hasattr(datamodule, "preprocessing_record") else None


def inference_bundle(module) -> dict:
    """Build the ``"medrl"`` checkpoint entry from a SegmenterModule, RefinerModule or ClickNetworkModule."""
    bundle = {"format": BUNDLE_FORMAT, "medrl_version": __version__, "preprocessing": preprocessing_of(module),
              "segmenter": None, "policy": None, "env": None, "agents": None, "soft_start": None, "click_network": None}
    bundle.update(module.bundle_parts())
    return bundle


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint as data (``weights_only=True``: it can never run code) and check it is medrl's.

    Raises:
        MedrlInputError: missing, truncated or corrupt file, or a checkpoint without medrl's entry.
    """
    path = Path(path)
    if not path.is_file():
        raise MedrlInputError(path, "checkpoint file not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for truncated or foreign files
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise MedrlInputError(path, f"cannot load checkpoint ({type(error).__name__}: {first_line})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("medrl"), dict) or "state_dict" not in checkpoint:
        raise MedrlInputError(path, "not a medrl checkpoint (no 'medrl' entry); train one with `medrl fit` or `medrl demo`")
    if checkpoint["medrl"].get("format") != BUNDLE_FORMAT:
        raise MedrlInputError(path, f"checkpoint format {checkpoint['medrl'].get('format')} is not supported (expected {BUNDLE_FORMAT})")
    return checkpoint


def sub_state_dict(state_dict: dict, prefix: str) -> dict:
    """The entries of ``state_dict`` under ``prefix`` (e.g. ``"policy."``), with the prefix removed."""
    return {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}
