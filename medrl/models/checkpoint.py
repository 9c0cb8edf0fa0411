"""What a medrl checkpoint carries, read as a typed :class:`Checkpoint`; written in plain types, so it loads
with ``weights_only=True``.

Every medrl checkpoint holds, besides Lightning's ``state_dict``, a ``"medrl"`` entry::

    {"format": 1, "medrl_version": "0.1.0",
     "preprocessing": {...},                       # Preprocessing fields + foreground_labels
     "segmenter": {"architecture": {...}, "roi_size": [...], "prefix": "net." | "segmenter.", "classes": [...]} or None,
     "policy": {"architecture": {...}, "roi_size": [...], "prefix": "policy."} or None,
     "env": {...EnvConfig fields: action deltas, hint sigma, action zone, ...} or None,
     "agents": {"kind": "voxel" | "region", "region_method", "region_size_mm"} or None,
     "soft_start": [inside, outside] or None, "steps": S or None,
     "click_network": {"architecture": {...}, "roi_size": [...], "prefix": "net.",
                       "encoding": {"hint_sigma_mm", "click_radius_mm", "previous"}, ...} or None,
     "provenance": {...}}                          # data, feedback and base checkpoint (medrl.models.provenance)

so that ``medrl predict --checkpoint X`` needs nothing else. A supervised click network's checkpoint
(:class:`medrl.training.click_network.ClickNetworkModule`) holds ``"click_network"`` and no ``"policy"``
(``medrl evaluate`` runs it; ``medrl predict`` runs agents only); an agents' checkpoint the reverse.
Checkpoints written before ``"click_network"``, ``"steps"`` or ``"provenance"`` existed lack those keys and
load unchanged.

Readers take :meth:`Checkpoint.load` (or :meth:`Checkpoint.from_dict` of :func:`read_checkpoint`'s dict) and
read attributes; the Lightning modules write the entry with :func:`inference_bundle`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from medrl import __version__
from medrl.errors import MedrlInputError
from medrl.models.provenance import provenance_of

BUNDLE_FORMAT = 1
DEFAULT_SOFT_START = (0.75, 0.25)
DEFAULT_AGENTS = {"kind": "voxel", "region_method": "slic", "region_size_mm": 6.0}


@dataclass(frozen=True)
class NetworkPart:
    """One network of a checkpoint: how to build it and where its weights lie in the ``state_dict``.

    Attributes:
        architecture: keyword arguments of the network's builder (e.g. ``channels``, ``strides``).
        prefix: its weights' key prefix in the checkpoint's ``state_dict`` (``"policy."`` ...).
        roi_size: its sliding-window size in voxels (``None``: whole volumes).
        extras: what else the part records (a segmenter's ``classes``; a click network's ``encoding``,
            ``threshold``, ``clicks_per_interaction``).
    """

    architecture: dict
    prefix: str
    roi_size: tuple[int, ...] | None = None
    extras: dict = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict | None) -> "NetworkPart | None":
        """The part of a stored record (``None`` stays ``None``)."""
        if not record:
            return None
        extras = {k: v for k, v in record.items() if k not in ("architecture", "prefix", "roi_size")}
        roi = record.get("roi_size")
        return cls(dict(record["architecture"]), record["prefix"], tuple(roi) if roi else None, extras)

    def record(self) -> dict:
        """The plain-typed record a checkpoint stores (the inverse of :meth:`from_record`)."""
        roi = None if self.roi_size is None else list(self.roi_size)
        return {"architecture": dict(self.architecture), "roi_size": roi, "prefix": self.prefix, **self.extras}

    def weights(self, state_dict: dict) -> dict:
        """This network's entries of ``state_dict``, its prefix removed."""
        return sub_state_dict(state_dict, self.prefix)


@dataclass(frozen=True)
class Checkpoint:
    """A medrl checkpoint, typed.

    Attributes:
        state_dict: the weights of every network (Lightning's ``state_dict``).
        preprocessing: the working grid's record (:class:`medrl.data.transforms.Preprocessing` fields and
            ``foreground_labels``), ``None`` when trained without a DataModule.
        segmenter, policy, click_network: the networks it holds (``None`` where absent).
        env: the :class:`~medrl.env.environment.EnvConfig` fields of inference (plain types).
        agents: ``kind`` (``"voxel"`` | ``"region"``), ``region_method``, ``region_size_mm``.
        soft_start: (inside, outside) probabilities of a binary starting mask.
        steps: S, agent steps per interaction.
        hyper_parameters: the Lightning module's saved settings (fine-tuning rebuilds from them).
        provenance: where the weights came from (:mod:`medrl.models.provenance`), ``None`` if not recorded.
        data_settings: the training DataModule's saved settings (tasks, perturbations ...; ``{}`` if not saved).
        global_step: optimizer steps of the run that wrote it (0 when written outside a training run).
    """

    state_dict: dict
    preprocessing: dict | None = None
    segmenter: NetworkPart | None = None
    policy: NetworkPart | None = None
    click_network: NetworkPart | None = None
    env: dict = field(default_factory=dict)
    agents: dict = field(default_factory=lambda: dict(DEFAULT_AGENTS))
    soft_start: tuple[float, float] = DEFAULT_SOFT_START
    steps: int = 1
    hyper_parameters: dict = field(default_factory=dict)
    provenance: dict | None = None
    data_settings: dict = field(default_factory=dict)
    global_step: int = 0

    @classmethod
    def from_dict(cls, checkpoint: dict) -> "Checkpoint":
        """The typed view of a dict from :func:`read_checkpoint`."""
        entry = checkpoint["medrl"]
        return cls(
            state_dict=checkpoint["state_dict"], preprocessing=entry.get("preprocessing"),
            segmenter=NetworkPart.from_record(entry.get("segmenter")), policy=NetworkPart.from_record(entry.get("policy")),
            click_network=NetworkPart.from_record(entry.get("click_network")), env=dict(entry.get("env") or {}),
            agents={**DEFAULT_AGENTS, **(entry.get("agents") or {})},
            soft_start=tuple(entry.get("soft_start") or DEFAULT_SOFT_START), steps=int(entry.get("steps") or 1),
            hyper_parameters=dict(checkpoint.get("hyper_parameters") or {}), provenance=entry.get("provenance"),
            data_settings=dict(checkpoint.get("datamodule_hyper_parameters") or {}),
            global_step=int(checkpoint.get("global_step") or 0),
        )

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> "Checkpoint":
        """Read ``path`` as data (:func:`read_checkpoint`) and type it."""
        return cls.from_dict(read_checkpoint(path, map_location))

    @property
    def foreground_labels(self) -> list[int] | None:
        """The label values that formed the task's foreground in training (``None``: any non-zero label)."""
        return (self.preprocessing or {}).get("foreground_labels")


def preprocessing_of(module) -> dict | None:
    """The preprocessing record of the module's datamodule, when it is trained through one."""
    trainer = getattr(module, "_trainer", None)
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    return datamodule.preprocessing_record() if hasattr(datamodule, "preprocessing_record") else None


def inference_bundle(module) -> dict:
    """Build the ``"medrl"`` checkpoint entry from a module with ``bundle_parts()`` (SegmenterModule,
    AgentsModule or ClickNetworkModule)."""
    bundle = {"format": BUNDLE_FORMAT, "medrl_version": __version__, "preprocessing": preprocessing_of(module),
              "segmenter": None, "policy": None, "env": None, "agents": None, "soft_start": None, "click_network": None,
              "provenance": provenance_of(module)}
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
    except Exception as error:  # torch raises many types for truncated or foreign files; its advice (unsafe loading) is not passed on
        raise MedrlInputError(path, f"not a medrl checkpoint, or corrupt (torch cannot read it as data: "
                                    f"{type(error).__name__})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("medrl"), dict) or "state_dict" not in checkpoint:
        raise MedrlInputError(path, "not a medrl checkpoint (no 'medrl' entry); train one with `medrl fit` or `medrl demo`")
    if checkpoint["medrl"].get("format") != BUNDLE_FORMAT:
        raise MedrlInputError(path, f"checkpoint format {checkpoint['medrl'].get('format')} is not supported (expected {BUNDLE_FORMAT})")
    return checkpoint


def sub_state_dict(state_dict: dict, prefix: str) -> dict:
    """The entries of ``state_dict`` under ``prefix`` (e.g. ``"policy."``), with the prefix removed."""
    return {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}
