"""``Refiner``: a trained checkpoint as a Python API — segment a scan, let the agents refine a mask
with clicks, and put results back on the scan's own grid.

Everything runs on the working grid (canonical RAS orientation, the checkpoint's spacing and
intensity preset); :meth:`Refiner.to_input_grid` inverts the preprocessing so masks are written with
the input file's own shape and affine. Whole volumes stay on the CPU; the networks run window by
window (segmenter) and tile by tile (agents, see :mod:`medrl.inference.tiles`) on the chosen device.

Example, step by step on the working grid:
    >>> refiner = Refiner.from_checkpoint("medrl_demo/medrl_demo.ckpt")           # doctest: +SKIP
    >>> case = refiner.prepare("scan.nii.gz")                                      # doctest: +SKIP
    >>> mask = refiner.segment(case)                                               # doctest: +SKIP
    >>> p = refiner.refine(case, mask, [Click((30, 41, 12), positive=True)])       # doctest: +SKIP
    >>> write_mask(refiner.to_input_grid(case, p >= 0.5)[0].numpy(), ...)          # doctest: +SKIP

or in one call on the input's grid (what ``medrl predict`` does):
    >>> result = refiner.predict("scan.nii.gz", clicks=read_clicks_file("clicks.json"))  # doctest: +SKIP
    >>> result.mask.shape, result.mask.affine                                      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from monai.data import MetaTensor

from medrl.agents.policy import PolicyValueNet
from medrl.agents.rollout import act_greedily
from medrl.agents.windowed import SlidingWindowPolicy
from medrl.data.geometry import voxel_spacing
from medrl.data.label_maps import LabelMap
from medrl.data.label_transforms import SelectForegroundd
from medrl.data.loading import align_case_grid, load_case
from medrl.data.readers import read_scan
from medrl.data.transforms import Preprocessing, invert, preprocessing_transform
from medrl.data.validation import as_mask_array
from medrl.env.clicks import Click
from medrl.env.environment import EnvConfig, RefinementEnv, click_depth_mm, zone_radius_mm
from medrl.env.episode import start_episode
from medrl.env.state import soft_start, to_mask
from medrl.errors import MedrlInputError
from medrl.inference.clicks_file import ClickSet, to_working_grid, world_ras
from medrl.inference.progress import Progress, sliding_window_count
from medrl.inference.scan_checks import scan_mismatches
from medrl.inference.structures import StructureChange, apply_structure_change, clicks_by_structure
from medrl.inference.tiles import Box, bounding_box, click_reach, refinement_region, shifted, tiles
from medrl.models.checkpoint import Checkpoint
from medrl.models.segmenter_net import (
    WINDOW_OVERLAP,
    WINDOWS_PER_BATCH,
    build_segmenter_net,
    segment_labels,
    segment_probability,
)

logger = logging.getLogger("medrl")

PREPROCESSING_FIELDS = ("spacing", "intensity", "ct_window", "mr_percentiles", "crop_foreground", "crop_margin")


@dataclass
class Prediction:
    """The result of :meth:`Refiner.predict`, on the input file's own grid.

    Attributes:
        mask: MetaTensor (1, X, Y, Z) uint8 {0, 1}, ``.affine`` the input's.
        probability: MetaTensor (1, X, Y, Z) float32 in [0, 1], the agents' final p (``None`` unless asked).
        entropy: MetaTensor (1, X, Y, Z) float32 in [0, 1], binary entropy of p in bits (``None`` unless asked).
        clicks: the clicks applied, on the working grid.
        click_report: where each click landed (:func:`click_reports`).
        warnings: how the scan differs from what the checkpoint was made for (:mod:`medrl.inference.scan_checks`).
        seconds: wall time of each stage (``load``, ``segment``, ``refine``, ``invert``).
    """

    mask: torch.Tensor
    probability: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    clicks: list[Click] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    click_report: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    """Binary entropy in bits of probabilities ``p`` (any shape), float32 in [0, 1]; 1 at p = 0.5."""
    q = p.float().clamp(1e-6, 1 - 1e-6)
    return -(q * torch.log2(q) + (1 - q) * torch.log2(1 - q))


def preprocessing_from_record(record: Mapping | None) -> Preprocessing:
    """A :class:`Preprocessing` from a checkpoint's plain-typed record (``None``: the defaults)."""
    record = dict(record or {})
    values = {key: tuple(record[key]) if isinstance(record.get(key), list) else record[key]
              for key in PREPROCESSING_FIELDS if key in record}
    return Preprocessing(**values)


PRECISIONS = {"32": None, "32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
"""Inference precisions (Lightning's names) and the autocast dtype of each (``None``: float32, no autocast)."""


def _cpu_layout(net: torch.nn.Module, device: torch.device) -> None:
    """On the CPU, keep ``net``'s weights channels-last (``torch.channels_last_3d``): oneDNN's 3D convolutions, the
    transposed ones of the UNet's up path above all, run much faster so (a click on 128³: 0.61 -> 0.44 s, the
    same probabilities; ``benchmarks/bench_click_latency.py``). GPUs keep the default layout."""
    if device.type == "cpu":
        net.to(memory_format=torch.channels_last_3d)


def _no_progress(stage: str, done: int, total: int) -> None:
    """The progress callback when nobody watches."""


class Refiner:
    """Segmenter and refinement agents of one checkpoint, ready for inference.

    Args:
        checkpoint: a typed checkpoint (:meth:`medrl.models.checkpoint.Checkpoint.load`), or the dict
            :func:`medrl.models.checkpoint.read_checkpoint` returns.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        override_preprocessing: use these preprocessing settings instead of the checkpoint's
            (e.g. the MR preset for an MR scan given to CT-trained agents).
        tile_edge: largest tile side in voxels for the agents (bounds memory on big scans).
        window_overlap: overlap of the policy's sliding windows; 0.25 blends window seams, 0 is about
            3.5× faster on a 128³ region with 64³ windows (see ``benchmarks/bench_click_latency.py``).
        precision: ``"32"`` (float32), or ``"bf16-mixed"`` / ``"16-mixed"``: the networks run under
            ``torch.autocast`` in bfloat16 / float16 (Lightning's names; the agents' probabilities stay
            float32). bf16 suits CPUs and recent GPUs, float16 GPUs.
    """

    def __init__(self, checkpoint: Checkpoint | dict, device: str | torch.device = "cpu",
                 override_preprocessing: Preprocessing | None = None, tile_edge: int = 160, window_overlap: float = 0.25,
                 precision: str = "32"):
        checkpoint = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint.from_dict(checkpoint)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise MedrlInputError("--device", f"{device} asked for, but CUDA is not available on this machine")
        if precision not in PRECISIONS:
            raise MedrlInputError("--precision", f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        self.checkpoint = checkpoint
        self.preprocessing = override_preprocessing or preprocessing_from_record(checkpoint.preprocessing)
        self.foreground_labels = checkpoint.foreground_labels
        self.segmenter = None
        if checkpoint.segmenter is not None:
            self.segmenter = build_segmenter_net(**checkpoint.segmenter.architecture)
            self.segmenter.load_state_dict(checkpoint.segmenter.weights(checkpoint.state_dict))
            self.segmenter.to(self.device).eval()
            _cpu_layout(self.segmenter, self.device)
        self.policy = None
        if checkpoint.policy is not None:
            self.policy = PolicyValueNet(**checkpoint.policy.architecture)
            self.policy.load_state_dict(checkpoint.policy.weights(checkpoint.state_dict))
            self.policy.to(self.device).eval()
            _cpu_layout(self.policy, self.device)
            roi = checkpoint.policy.roi_size
            self.policy = SlidingWindowPolicy(self.policy, roi, overlap=window_overlap) if roi else self.policy
        self.env_config = EnvConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in checkpoint.env.items()})
        self.soft_start = checkpoint.soft_start
        self.steps = checkpoint.steps
        self.agents = checkpoint.agents
        self.transform = preprocessing_transform(self.preprocessing, "image", ("label", "initial", "structures"))
        self.tile_edge = int(tile_edge)
        self.source: str | None = None  # the checkpoint file, when loaded from one

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu", **kwargs) -> "Refiner":
        """Load a checkpoint as data (weights only) and build the networks it describes."""
        refiner = cls(Checkpoint.load(path), device, **kwargs)
        refiner.source = os.fspath(path)
        return refiner

    # ------------------------------------------------------------------------------- grids
    def prepare(self, image, label=None, initial=None, modality: str | None = None, structures=None) -> dict:
        """Read (paths) or take (MetaTensors (1, X, Y, Z)) a scan, an optional label and an optional
        starting mask, bring them onto the scan's grid (:func:`medrl.data.loading.align_case_grid`), and
        then to the working grid.

        Args:
            image: scan path (NIfTI, NRRD, MHA, DICOM series folder) or MetaTensor.
            label: optional label map (path or MetaTensor); its foreground labels become {0, 1}.
            initial: optional starting mask: a label mask (non-zero = foreground) or a probability
                map in [0, 1], e.g. another model's output.
            modality: the scan's modality (``"CT"``, ``"MR"``, ``"PET"``, ...), which chooses the intensity
                preset when the checkpoint's is ``auto``; ``None``: guessed from the intensities
                (:mod:`medrl.data.intensity`).
            structures: optional multi-label map (MetaTensor (1, X, Y, Z), integer values) whose structures
                :meth:`refine_structures` refines one by one.

        Returns:
            dict with ``image`` (1, X', Y', Z') float32, and when given ``label`` (1, X', Y', Z') uint8
            {0, 1}, ``initial`` (1, X', Y', Z') a mask (uint8 {0, 1}; float32 after resampling) or float32
            probabilities in [0, 1], and ``structures`` (1, X', Y', Z') float32
            label values; ``input_affine`` / ``input_shape`` of the scan as read; ``input_structures`` the map
            on the scan's grid; plus MONAI's records used by :meth:`to_input_grid`.
        """
        case = {"image": image, "label": label}
        paths = {k: v for k, v in case.items() if isinstance(v, (str, os.PathLike))}
        case.update(load_case(paths) if paths else {})
        if initial is not None:
            case["initial"] = self._starting_mask(initial)
        if structures is not None:
            case["structures"] = structures
        case = {k: v for k, v in case.items() if v is not None}
        case = align_case_grid(case, other_keys=("label", "initial", "structures"), sub_extent_keys=("initial", "structures"))
        input_structures = None
        if structures is not None:
            input_structures = case["structures"][0].numpy()
            case["structures"] = case["structures"].float()
        if modality is not None:
            case["modality"] = modality
        input_affine, input_shape = np.asarray(case["image"].affine, dtype=np.float64), tuple(case["image"].shape[1:])
        warnings = scan_mismatches(self.preprocessing, case["image"], modality)
        for warning in warnings:
            logger.warning("%s: %s", case["image"].meta.get("filename_or_obj", "scan"), warning)
        data = SelectForegroundd("label", self.foreground_labels)(self.transform(case))
        extra = {"input_structures": input_structures} if structures is not None else {}
        return {**data, "input_affine": input_affine, "input_shape": input_shape, "warnings": warnings, **extra}

    @staticmethod
    def _starting_mask(initial):
        """A starting mask as a MetaTensor: uint8 {0, 1} from a label mask, float32 in [0, 1] from a probability map
        (see :func:`medrl.data.validation.as_mask_array`)."""
        if isinstance(initial, (str, os.PathLike)):
            return read_scan(initial, kind="mask")
        source = getattr(initial, "meta", {}).get("filename_or_obj", "starting mask")
        checked = torch.from_numpy(as_mask_array(np.asarray(initial), source))
        return initial.clone().to(checked.dtype).copy_(checked) if hasattr(initial, "affine") else checked

    def _as_case(self, image) -> dict:
        return image if isinstance(image, dict) else self.prepare(image)

    def to_input_grid(self, data: dict, tensor: torch.Tensor, nearest: bool = True) -> torch.Tensor:
        """Map a (1, X', Y', Z') or (1, 1, X', Y', Z') working-grid tensor back to the input grid.

        Returns:
            MetaTensor (1, X, Y, Z) with the input file's shape and affine; masks (``nearest``) keep
            their values, probability maps are interpolated linearly.
        """
        tensor = tensor[0] if tensor.dim() == 5 else tensor
        if tensor.shape != data["image"].shape:
            raise MedrlInputError("tensor", f"shape {tuple(tensor.shape)} is not the working grid's {tuple(data['image'].shape)}")
        # the inversion takes the working grid's affine and recorded operations from data["image"]: no copy of the scan
        output = tensor.detach().cpu()
        if output.dtype == torch.bool:
            output = output.to(torch.uint8)
        elif not nearest:  # a probability map is interpolated in float
            output = output.float()
        output = MetaTensor(_plain(output))  # shares the voxels
        return invert(self.transform, {**data, "_output": output}, "_output", nearest=nearest)

    @staticmethod
    def spacing(data: dict) -> tuple[float, float, float]:
        """Voxel size in mm of the working grid."""
        return voxel_spacing(np.asarray(data["image"].affine))

    def clicks_on_working_grid(self, data: dict, clicks: ClickSet) -> list[Click]:
        """A user's clicks (RAS/LPS mm or input voxel indices) as working-grid clicks."""
        return to_working_grid(clicks, data["input_affine"], data["input_shape"], np.asarray(data["image"].affine),
                               data["image"].shape[1:])

    # ------------------------------------------------------------------------------ networks
    def _batch(self, tensor: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(tensor).float()[None]

    def autocast(self):
        """The context the networks run in: ``torch.autocast`` at :attr:`precision`, or nothing at float32."""
        dtype = PRECISIONS[self.precision]
        return contextlib.nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)

    @torch.no_grad()
    def segment(self, image, progress: Progress | None = None) -> torch.Tensor:
        """(1, 1, X', Y', Z') uint8 mask of the segmenter on the working grid (sliding windows on the
        device, stitched on the CPU). ``image``: a prepared case, a path or a MetaTensor; ``progress``: optional
        ``progress("segmenting (windows)", done, total)`` after each batch of windows."""
        if self.segmenter is None:
            raise MedrlInputError(self.source or "checkpoint", "this checkpoint has no segmenter; give a starting mask (CLI: --mask)")
        data = self._as_case(image)
        roi = self.checkpoint.segmenter.roi_size
        if self.checkpoint.segmenter.extras.get("classes"):  # a multi-class segmenter: the task's labels, else any class
            labels = self.segment_labels(data)
            return (labels != 0 if self.foreground_labels is None else torch.isin(labels, torch.tensor(self.foreground_labels,
                                                                                  dtype=labels.dtype))).to(torch.uint8)
        on_windows = None
        if progress is not None:
            total, done = sliding_window_count(data["image"].shape[1:], roi, WINDOW_OVERLAP, WINDOWS_PER_BATCH), itertools.count(1)
            progress("segmenting (windows)", 0, total)

            def on_windows() -> None:
                progress("segmenting (windows)", next(done), total)
        with self.autocast():
            probability = segment_probability(self.segmenter, self._batch(data["image"]), roi, window_device=self.device,
                                              on_windows=on_windows)
        return (probability >= 0.5).to(torch.uint8)

    @torch.no_grad()
    def segment_labels(self, image) -> torch.Tensor:
        """(1, 1, X', Y', Z') int32 label map of a multi-class segmenter on the working grid, each class painted
        with its label value (:func:`medrl.models.segmenter_net.segment_labels`)."""
        part = self.checkpoint.segmenter
        if part is None or not part.extras.get("classes"):
            raise MedrlInputError(self.source or "checkpoint", "this checkpoint has no multi-class segmenter")
        data = self._as_case(image)
        with self.autocast():
            return segment_labels(self.segmenter, self._batch(data["image"]), part.roi_size, part.extras["classes"],
                                  window_device=self.device)

    def new_env(self, data: dict, initial: torch.Tensor, with_label: bool = False, seed: int = 0) -> RefinementEnv:
        """An environment on one whole working-grid case, starting from ``initial`` (…, X', Y', Z'),
        a binary mask or a probability map, by the soft start. Used by evaluation (it needs the label)."""
        image = self._batch(data["image"]).to(self.device)
        p0 = soft_start(torch.as_tensor(initial).reshape(image.shape), *self.soft_start).to(self.device)
        label = self._batch(data["label"]).to(self.device) if with_label else None
        return self._episode(image, p0, self.spacing(data), label, seed)

    def _episode(self, image: torch.Tensor, p0: torch.Tensor, spacing, label=None, seed: int = 0) -> RefinementEnv:
        return start_episode(
            self.env_config, image, p0, [spacing], label=label, agents=self.agents["kind"],
            region_method=self.agents["region_method"], region_size_mm=self.agents["region_size_mm"],
            seed=seed,
        )

    @torch.no_grad()
    def act(self, env: RefinementEnv, steps: int | None = None) -> torch.Tensor:
        """Let the agents take ``steps`` greedy steps (default: the checkpoint's S); returns p (1, 1, ...)."""
        if self.policy is None:
            raise MedrlInputError(self.source or "checkpoint", "this checkpoint has no refinement agents (a segmenter-only "
                                  "checkpoint); train agents with `medrl fit --config configs/agents_any_structure.yaml`")
        with self.autocast():
            return act_greedily(env, self.policy, self.steps if steps is None else steps)

    def refine(self, image, initial: torch.Tensor, clicks: Sequence[Click] = (), steps: int | None = None,
               previous_clicks: Sequence[Click] = (), resume: bool = False,
               progress: Callable[[int, int], None] | None = None, region: Box | None = None) -> torch.Tensor:
        """One interaction: the clinician's new clicks, then ``steps`` agent steps around them.

        Args:
            image: a prepared case (or a path / MetaTensor, prepared here).
            initial: (…, X', Y', Z') working-grid start: a binary mask or a probability map (soft
                start), or with ``resume=True`` the agents' own p from an earlier call.
            clicks: the new clicks (working-grid voxel indices); the agents refine the region they
                can influence (:func:`~medrl.inference.tiles.refinement_region`), or ``region`` when
                there are none. Clicked voxels keep the clinician's label. Agents with an action
                zone (``env.act_within_mm``) may change nothing without a click: then (as with
                ``steps=0``) the start comes back as it is, without running the policy.
            steps: agent steps (default: the checkpoint's S).
            previous_clicks: earlier clicks; their hints stay in the agents' state.
            resume: continue from ``initial`` as probabilities, without the soft start.
            progress: optional ``progress(done, total)``, called with ``(0, total)`` before the first
                tile and after each tile the agents refine (e.g. to drive a progress bar).
            region: refine only this box when there are no clicks (default: :meth:`mask_region`, the start's
                box grown by a click's reach).

        Returns:
            (1, 1, X', Y', Z') float32 probabilities in [0, 1] on the CPU; the mask is ``p >= 0.5``.
        """
        data = self._as_case(image)
        volume = _plain(data["image"])
        shape = tuple(volume.shape[1:])
        start = _plain(initial).reshape(1, 1, *shape).cpu()  # plain tensors: no metadata carried through every step
        p = start.to(torch.float32, copy=True) if resume else soft_start(start, *self.soft_start)  # a new volume: refined in place
        if not clicks and not previous_clicks and (self.env_config.act_within_mm > 0 or steps == 0):
            if progress is not None:  # without a click the action zone is empty (or no step is taken): nothing may change
                progress(0, 0)
            return p
        spacing, window = self.spacing(data), self._window(shape)
        if clicks:
            region = refinement_region(shape, list(clicks), self.click_reaches(data, p, clicks))
        elif region is None:
            region = self.mask_region(data, p)
            region = Box.whole(shape) if region is None else region
        refined = p[(..., *region.slices)].clone()  # every tile reads the unrefined p around it
        pieces = list(tiles(region, shape, self.tile_edge, [w // 2 for w in window]))
        for done, (core, context) in enumerate(pieces):
            if progress is not None:
                progress(done, len(pieces))
            refined[(..., *core.within(region))] = self._refine_tile(volume, p, context, previous_clicks, clicks, spacing,
                                                                     steps)[(..., *core.within(context))]
        if progress is not None:
            progress(len(pieces), len(pieces))
        p[(..., *region.slices)] = refined
        return p

    def _window(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple((self.checkpoint.policy.roi_size if self.checkpoint.policy is not None else None) or shape)

    def reach(self, data: dict) -> tuple[int, int, int]:
        """Half-size in working-grid voxels of the box one click can change (:func:`~medrl.inference.tiles.click_reach`)."""
        return click_reach(self.spacing(data), self.env_config.widest_hint_sigma_mm, self._window(data["image"].shape[1:]),
                           self.env_config.zone_reach_mm)

    def click_reaches(self, data: dict, p: torch.Tensor, clicks: Sequence[Click]) -> list[tuple[int, int, int]]:
        """Per click, half-size in working-grid voxels of the box it can change: :meth:`reach`, or with an action zone
        the click's own zone radius (:func:`~medrl.env.environment.zone_radius_mm`: a click beside the mask gets the
        near zone, one far from it the far zone), from ``p`` (…, X', Y', Z'), the probabilities the agents start from."""
        config, spacing = self.env_config, self.spacing(data)
        if config.act_within_mm <= 0 or config.depth_horizon_mm <= 0:
            return [self.reach(data)] * len(clicks)
        p = torch.as_tensor(p).reshape(data["image"].shape[1:])
        reaches = []
        for click in clicks:
            depth = click_depth_mm(p, click, spacing, config.depth_horizon_mm)
            reaches.append(tuple(math.ceil(zone_radius_mm(config, bool(click.positive), depth) / s) for s in spacing))
        return reaches

    def mask_region(self, data: dict, start: torch.Tensor) -> Box | None:
        """The box the agents refine without clicks: the starting mask's foreground grown by :meth:`reach`, or
        ``None`` (the whole scan) when the start is empty. Farther away the start is background: the agents mend a
        mask's borders; a structure the start missed entirely is found by a click (or the segmenter).

        Args:
            data: the prepared case.
            start: (…, X', Y', Z') working-grid binary mask or probability map (foreground where ≥ 0.5).
        """
        shape = tuple(data["image"].shape[1:])
        box = bounding_box(to_mask(torch.as_tensor(start).reshape(shape)))
        return box.grown(self.reach(data), shape) if box is not None else None

    def _refine_tile(self, volume: torch.Tensor, p: torch.Tensor, context: Box, previous_clicks: Sequence[Click],
                     clicks: Sequence[Click], spacing, steps: int | None) -> torch.Tensor:
        """(1, 1, *context.shape) refined p of one tile, clinician-labelled voxels fixed, on the CPU. The earlier
        clicks enter first, then the new ones, so an action zone (``env.act_within_mm``) is the new clicks'."""
        image = volume[(slice(None), *context.slices)][None].float().to(self.device)
        env = self._episode(image, p[(..., *context.slices)].to(self.device), spacing)
        if previous_clicks:
            env.add_clicks([shifted(previous_clicks, context.start)])
        env.add_clicks([shifted(clicks, context.start)])
        self.act(env, steps)
        return torch.where(env.clinician_mask, env.clinician_label, env.p).cpu()

    # ------------------------------------------------------------------------------- one call
    def predict(self, image, mask=None, clicks: ClickSet | None = None, steps: int | None = None,
                probability: bool = False, entropy: bool = False, modality: str | None = None,
                progress: Progress | None = None) -> Prediction:
        """Segment (unless ``mask`` is given), refine with ``clicks``, and return results on the
        input's own grid.

        Args:
            image: scan path or MetaTensor (1, X, Y, Z).
            mask: optional starting mask on the scan's grid (path or MetaTensor): a label mask or a
                probability map in [0, 1]. Without it the checkpoint's segmenter makes one.
            clicks: optional clinician clicks (:func:`~medrl.inference.clicks_file.read_clicks_file`).
            steps: agent steps (default: the checkpoint's S).
            probability, entropy: also return the agents' probability map / its entropy.
            modality: the scan's modality for a checkpoint whose intensity preset is ``auto`` (see :meth:`prepare`).
            progress: optional ``progress(stage, done, total)`` through the stages (reading, segmenting,
                refining, writing back), e.g. a :class:`~medrl.inference.progress.StageReport`.
        """
        progress = progress or _no_progress
        seconds, clock = {}, _Clock()
        progress("reading", 0, 1)
        data = self.prepare(image, initial=mask, modality=modality)
        seconds["load"] = clock.lap()
        initial = data["initial"] if mask is not None else self.segment(data, progress)
        seconds["segment"] = clock.lap()
        working_clicks = self.clicks_on_working_grid(data, clicks) if clicks is not None else []
        p = self.refine(data, initial, working_clicks, steps, progress=lambda done, total: progress("refining (tiles)", done, total))
        seconds["refine"] = clock.lap()
        progress("writing back to the scan's grid", 0, 1)
        result = Prediction(self.to_input_grid(data, to_mask(p).to(torch.uint8)).to(torch.uint8), clicks=working_clicks)
        if working_clicks:  # the start's mask as the agents saw it (a float volume: only when there are clicks to report)
            before = to_mask(soft_start(_plain(initial).reshape(p.shape), *self.soft_start))
            result.click_report = click_reports(clicks, working_clicks, before[0, 0], to_mask(p)[0, 0], data)
        result.warnings = data["warnings"]
        if probability:
            result.probability = self.to_input_grid(data, p, nearest=False).clamp(0, 1)
        if entropy:
            result.entropy = self.to_input_grid(data, binary_entropy(p), nearest=False).clamp(0, 1)
        seconds["invert"] = clock.lap()
        result.seconds = seconds
        return result


    def refine_structures(self, image, label_map: LabelMap, values: Sequence[int], clicks: ClickSet | None = None,
                          steps: int | None = None, modality: str | None = None,
                          replace_other_structures: bool = False, progress: Progress | None = None) -> StructuresPrediction:
        """Refine structures of a multi-label map one by one and return the whole map on the scan's grid,
        only those structures changed (see :mod:`medrl.inference.structures`).

        Args:
            image: scan path or MetaTensor (1, X, Y, Z).
            label_map: the map (:func:`medrl.data.label_maps.read_label_map`), on the scan's grid or on the
                same voxels in another axis order, direction or extent.
            values: the label values to refine, in order (:func:`medrl.data.label_names.choose_labels`).
            clicks: clicks, each about one structure (:func:`~medrl.inference.structures.clicks_by_structure`).
            steps, modality: as in :meth:`predict`.
            replace_other_structures: let a structure take voxels of another one.
            progress: as in :meth:`predict` (a stage per structure).
        """
        progress = progress or _no_progress
        clock = _Clock()
        progress("reading", 0, 1)
        data = self.prepare(image, modality=modality, structures=label_map.as_meta_tensor())
        seconds = {"load": clock.lap()}
        grouped = clicks_by_structure(clicks, values, label_map.names, label_map.labels, label_map.path)
        current, changes, reports = data["input_structures"].copy(), [], []
        for value in values:
            start = data["structures"] == value
            points = grouped[value]
            working_clicks = self.clicks_on_working_grid(data, points) if points is not None and points.points else []
            region, name = self.mask_region(data, start), label_map.names.name_of(value)
            if region is None and not working_clicks:
                changes.append(StructureChange(int(value), name, 0, 0, 0, 0))
                continue  # nothing of it survived on the working grid and nobody clicked
            stage = f"refining {name} (tiles)"
            refined = to_mask(self.refine(data, start.float(), working_clicks, steps, region=region,
                                          progress=lambda done, total, stage=stage: progress(stage, done, total)))[0]
            added, removed = self.changes_on_input_grid(data, start, refined)
            current, change = apply_structure_change(current, value, added, removed, name, replace_other_structures)
            changes.append(change)
            reports += click_reports(points, working_clicks, start[0], refined[0], data, structure=change.name)
        seconds["refine"] = clock.lap()
        result = label_map.on_grid(current, data["input_affine"])
        return StructuresPrediction(result, changes, reports, seconds, data["warnings"])

    def changes_on_input_grid(self, data: dict, before: torch.Tensor, after: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(added, removed): (X, Y, Z) bool voxels of the scan's grid that a refinement turned from ``before`` to
        ``after`` (bool working-grid masks (1, X', Y', Z') or (1, 1, X', Y', Z')) foreground / background."""
        added = self.to_input_grid(data, (after & ~before).to(torch.uint8))[0].numpy() > 0
        removed = self.to_input_grid(data, (before & ~after).to(torch.uint8))[0].numpy() > 0
        return added, removed


@dataclass
class StructuresPrediction:
    """The result of :meth:`Refiner.refine_structures`: the whole map on the scan's grid, what changed in each
    structure, and where each click landed."""

    label_map: LabelMap
    changes: list[StructureChange]
    clicks: list[dict]
    seconds: dict
    warnings: list[str] = field(default_factory=list)


def click_reports(clicks: ClickSet | None, working_clicks: Sequence[Click], before: torch.Tensor, after: torch.Tensor,
                  data: dict, structure: str | None = None) -> list[dict]:
    """Where each click landed and whether it changed the mask there.

    Args:
        clicks: the user's clicks; ``working_clicks`` the same clicks on the working grid.
        before, after: (X', Y', Z') bool working-grid masks before and after the refinement.
        data: the prepared case (its ``input_affine``).

    Returns:
        one dict per click: ``ras_mm`` (world position), ``voxel`` (index on the scan's own grid), ``positive``,
        ``structure``, ``changed`` (the voxel under the click changed label).
    """
    if clicks is None or not clicks.points:
        return []
    world = world_ras(clicks, data["input_affine"], data["input_shape"])
    inverse = np.linalg.inv(np.asarray(data["input_affine"], dtype=np.float64))
    voxels = np.rint(world @ inverse[:3, :3].T + inverse[:3, 3]).astype(int)
    reports = []
    for point, ras, voxel, click in zip(clicks.points, world, voxels, working_clicks):
        record = {"ras_mm": [round(float(v), 3) for v in ras], "voxel": [int(v) for v in voxel], "positive": point.positive,
                  "changed": bool(before[click.index] != after[click.index])}
        reports.append({**record, "structure": structure} if structure is not None else record)
    return reports


def _plain(tensor) -> torch.Tensor:
    """A MetaTensor's voxels as a plain ``torch.Tensor`` (no copy), anything else through ``torch.as_tensor``."""
    return tensor.as_tensor() if hasattr(tensor, "as_tensor") else torch.as_tensor(tensor)


class _Clock:
    """Wall time between successive :meth:`lap` calls, in seconds."""

    def __init__(self):
        self.last = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self.last = now - self.last, now
        return round(elapsed, 3)
