"""``Refiner``: a trained checkpoint as a Python API — segment a scan, let the agents refine a mask
with clicks, and put results back on the scan's own grid.

Everything runs on the working grid (canonical RAS orientation, the checkpoint's spacing and
intensity preset); :meth:`Refiner.to_input_grid` inverts the preprocessing so masks are written with
the input file's own shape and affine.

Example:
    >>> refiner = Refiner.from_checkpoint("medrl_demo/medrl_demo.ckpt")           # doctest: +SKIP
    >>> data = refiner.prepare("scan.nii.gz")                                      # doctest: +SKIP
    >>> mask = refiner.segment(data)                                               # doctest: +SKIP
    >>> p = refiner.refine(data, mask, [Click((30, 41, 12), positive=True)])       # doctest: +SKIP
    >>> write_mask(refiner.to_input_grid(data, p >= 0.5)[0].numpy(), ...)          # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import torch

from medrl.agents.policy import PolicyValueNet
from medrl.agents.windowed import SlidingWindowPolicy
from medrl.data.geometry import voxel_spacing
from medrl.data.label_transforms import SelectForegroundd
from medrl.data.loading import load_case
from medrl.data.transforms import Preprocessing, invert, preprocessing_transform
from medrl.env.clicks import Click
from medrl.env.environment import EnvConfig, RefinementEnv
from medrl.errors import MedrlInputError
from medrl.training.bundle import read_checkpoint, sub_state_dict
from medrl.training.episode import start_episode
from medrl.training.segmenter import build_segmenter_net, segment_probability

PREPROCESSING_FIELDS = ("spacing", "intensity", "ct_window", "mr_percentiles", "crop_foreground", "crop_margin")


def preprocessing_from_record(record: Mapping | None) -> Preprocessing:
    """A :class:`Preprocessing` from a checkpoint's plain-typed record (``None``: the defaults)."""
    record = dict(record or {})
    values = {key: tuple(record[key]) if isinstance(record.get(key), list) else record[key]
              for key in PREPROCESSING_FIELDS if key in record}
    return Preprocessing(**values)


class Refiner:
    """Segmenter and refinement agents of one checkpoint, ready for inference.

    Args:
        checkpoint: a checkpoint dict from :func:`medrl.training.bundle.read_checkpoint`.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        override_preprocessing: use these preprocessing settings instead of the checkpoint's
            (e.g. the MR preset for an MR scan given to CT-trained agents).
    """

    def __init__(self, checkpoint: dict, device: str | torch.device = "cpu", override_preprocessing: Preprocessing | None = None):
        bundle, state = checkpoint["medrl"], checkpoint["state_dict"]
        self.device = torch.device(device)
        self.bundle = bundle
        self.preprocessing = override_preprocessing or preprocessing_from_record(bundle.get("preprocessing"))
        self.foreground_labels = (bundle.get("preprocessing") or {}).get("foreground_labels")
        self.segmenter = None
        if bundle.get("segmenter"):
            self.segmenter = build_segmenter_net(**bundle["segmenter"]["architecture"])
            self.segmenter.load_state_dict(sub_state_dict(state, bundle["segmenter"]["prefix"]))
            self.segmenter.to(self.device).eval()
        self.policy = None
        if bundle.get("policy"):
            self.policy = PolicyValueNet(**bundle["policy"]["architecture"])
            self.policy.load_state_dict(sub_state_dict(state, bundle["policy"]["prefix"]))
            self.policy.to(self.device).eval()
            roi = bundle["policy"].get("roi_size")
            self.policy = SlidingWindowPolicy(self.policy, roi) if roi else self.policy
        self.env_config = EnvConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in (bundle.get("env") or {}).items()})
        self.soft_start = tuple(bundle.get("soft_start") or (0.75, 0.25))
        self.steps = int(bundle.get("steps") or 1)
        self.agents = bundle.get("agents") or {"kind": "voxel"}
        self.transform = preprocessing_transform(self.preprocessing, "image", ("label", "initial"))

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu", **kwargs) -> "Refiner":
        """Load a checkpoint as data (weights only) and build the networks it describes."""
        return cls(read_checkpoint(path, map_location="cpu"), device, **kwargs)

    # ------------------------------------------------------------------------------- grids
    def prepare(self, image, label=None, initial=None) -> dict:
        """Read (paths) or take (MetaTensors (1, X, Y, Z)) a scan and optional label/initial mask,
        check they share a grid, and bring them to the working grid.

        Returns:
            dict with ``image`` (1, X', Y', Z') float32 and, when given, ``label`` and ``initial``
            (1, X', Y', Z') uint8 {0, 1}; plus the records needed by :meth:`to_input_grid`.
        """
        case = {"image": image, "label": label, "initial": initial}
        paths = {k: v for k, v in case.items() if isinstance(v, (str, os.PathLike))}
        loaded = load_case(paths) if paths else {}
        case.update({k: loaded[k] for k in paths})
        case = {k: v for k, v in case.items() if v is not None}
        data = self.transform(case)
        data = SelectForegroundd("label", self.foreground_labels)(data)
        return SelectForegroundd("initial")(data)

    def to_input_grid(self, data: dict, tensor: torch.Tensor, nearest: bool = True) -> torch.Tensor:
        """Map a (1, X', Y', Z') or (1, 1, X', Y', Z') working-grid tensor back to the input grid.

        Returns:
            MetaTensor (1, X, Y, Z) with the input file's shape and affine; masks (``nearest``) keep
            their values, probability maps are interpolated linearly.
        """
        tensor = tensor[0] if tensor.dim() == 5 else tensor
        if tensor.shape != data["image"].shape:
            raise MedrlInputError("tensor", f"shape {tuple(tensor.shape)} is not the working grid's {tuple(data['image'].shape)}")
        output = data["image"].clone().float()  # carries the working grid's affine and recorded operations
        output.copy_(tensor.float().cpu())
        return invert(self.transform, {**data, "_output": output}, "_output", nearest=nearest)

    @staticmethod
    def spacing(data: dict) -> tuple[float, float, float]:
        """Voxel size in mm of the working grid."""
        return voxel_spacing(np.asarray(data["image"].affine))

    # ------------------------------------------------------------------------------ networks
    def _batch(self, tensor: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(tensor).float()[None].to(self.device)

    @torch.no_grad()
    def segment(self, data: dict) -> torch.Tensor:
        """(1, 1, X', Y', Z') uint8 mask of the segmenter on the working grid (sliding windows)."""
        if self.segmenter is None:
            raise MedrlInputError("checkpoint", "this checkpoint has no segmenter; give an initial mask")
        roi = self.bundle["segmenter"]["roi_size"]
        return (segment_probability(self.segmenter, self._batch(data["image"]), roi) >= 0.5).to(torch.uint8)

    def new_env(self, data: dict, initial: torch.Tensor, with_label: bool = False, seed: int = 0) -> RefinementEnv:
        """An environment on one working-grid case, starting from the binary ``initial`` (…, X', Y', Z')."""
        image = self._batch(data["image"])
        initial = torch.as_tensor(initial).reshape(image.shape).to(self.device)
        return start_episode(
            self.env_config, image, initial, [self.spacing(data)], label=self._batch(data["label"]) if with_label else None,
            agents=self.agents.get("kind", "voxel"), region_method=self.agents.get("region_method", "slic"),
            region_size_mm=self.agents.get("region_size_mm", 6.0), soft_start_values=self.soft_start, seed=seed,
        )

    @torch.no_grad()
    def act(self, env: RefinementEnv, steps: int | None = None) -> torch.Tensor:
        """Let the agents take ``steps`` greedy steps (default: the checkpoint's S); returns p (1, 1, ...)."""
        if self.policy is None:
            raise MedrlInputError("checkpoint", "this checkpoint has no refinement policy")
        for _ in range(self.steps if steps is None else steps):
            logit_map, _ = self.policy(env.state())
            actions = env.agents.pool(logit_map).max(dim=1).indices  # max is faster than argmax on CPU
            env.step(actions)
        return env.p

    def refine(self, data: dict, mask: torch.Tensor, clicks: Sequence[Click] = (), steps: int | None = None) -> torch.Tensor:
        """Refine a binary mask with a clinician's clicks (working-grid voxel indices).

        Returns:
            (1, 1, X', Y', Z') float32 probabilities in [0, 1]; the mask is ``p >= 0.5``.
        """
        env = self.new_env(data, mask)
        if clicks:
            env.add_clicks([list(clicks)])
        return self.act(env, steps)
