"""MONAI dictionary transforms on labels: pick the foreground, make a perturbed starting mask, and give
dataset cases and clinicians' reviews the same training targets.

Array logic lives in :mod:`medrl.data.perturbation`; these wrappers only move data in and out of
case dicts (MetaTensors keep their affine and recorded operations, so results stay invertible).
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable
from scipy import ndimage

from medrl.data.geometry import voxel_spacing
from medrl.data.perturbation import PerturbationConfig, perturb_mask


def foreground(label: torch.Tensor, values: Sequence[int] | None = None) -> torch.Tensor:
    """Binary uint8 mask of ``label``: voxels whose value is in ``values`` (any non-zero if None)."""
    if values is None:
        return (label != 0).to(torch.uint8)
    return torch.isin(label, torch.as_tensor(list(values), dtype=label.dtype, device=label.device)).to(torch.uint8)


def class_indices(label: torch.Tensor, classes: Sequence[Sequence[int]]) -> torch.Tensor:
    """uint8 map of class indices of ``label``: k + 1 where the value is in ``classes[k]``, 0 elsewhere.

    Example:
        >>> class_indices(torch.tensor([0, 47, 48, 59, 60, 3]), [[47], [48], [59, 60]]).tolist()
        [0, 1, 2, 3, 3, 0]
    """
    indices = torch.zeros_like(label, dtype=torch.uint8)
    for k, group in enumerate(classes):
        indices[foreground(label, group).bool()] = k + 1
    return indices


class ClassIndicesd(MapTransform):
    """Turn a label map into class indices (:func:`class_indices`) for a multi-class segmenter."""

    def __init__(self, keys: KeysCollection, classes: Sequence[Sequence[int]]):
        super().__init__(keys, allow_missing_keys=True)
        self.classes = [[int(v) for v in group] for group in classes]

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        result = dict(data)
        for key in self.key_iterator(result):
            if result[key] is not None:
                result[key] = class_indices(result[key], self.classes)
        return result


class SelectForegroundd(MapTransform):
    """Turn label maps into binary {0, 1} uint8 masks of the chosen label values.

    Args:
        keys: label keys (e.g. ``label``; an ``initial`` mask is made binary with ``values=None``).
        values: label values that count as foreground (``None``: any non-zero value).
    """

    def __init__(self, keys: KeysCollection, values: Sequence[int] | None = None, allow_missing_keys: bool = True):
        super().__init__(keys, allow_missing_keys)
        self.values = None if values is None else [int(v) for v in values]

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        result = dict(data)
        for key in self.key_iterator(result):
            if result[key] is not None:
                result[key] = foreground(result[key], self.values)
        return result


class PerturbLabeld(Randomizable, MapTransform):
    """Add ``initial_key``: an imperfect copy of the binary label, unless the case already has one.

    The perturbation's seed is ``data["perturbation_seed"]`` when present (validation cases replay the
    same episode every epoch), otherwise drawn from this transform's seeded random state. The record
    of what was done (seed, operations, Dice) goes to ``data["perturbation"]``.

    Args:
        label_key: the binary (1, X, Y, Z) label.
        initial_key: where the (1, X, Y, Z) uint8 starting mask goes.
        config: :class:`PerturbationConfig` (target Dice range, operations, magnitudes in mm).
    """

    def __init__(self, label_key: str = "label", initial_key: str = "initial", config: PerturbationConfig | None = None):
        MapTransform.__init__(self, [label_key])
        self.label_key, self.initial_key = label_key, initial_key
        self.config = config or PerturbationConfig()
        self._seed = 0

    def randomize(self, data=None) -> None:
        self._seed = int(self.R.randint(0, 2**31 - 1))

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        result = dict(data)
        if result.get(self.initial_key) is not None:
            return result
        self.randomize()
        seed = int(result.get("perturbation_seed", self._seed))
        label = result[self.label_key]
        spacing = voxel_spacing(np.asarray(label.affine))
        mask, record = perturb_mask(label[0].cpu().numpy(), spacing, seed, self.config)
        initial = label.clone()
        initial[0] = torch.from_numpy(mask).to(label.dtype)
        result[self.initial_key] = initial
        result["perturbation"] = {"seed": seed, "dice": record["dice"]}
        return result


class TrainingTargetsd(MapTransform):
    """Give every training case the same keys, whether it comes from a dataset or a clinician's review.

    After it, a case holds ``label`` (1, X, Y, Z) uint8 {0, 1} (zeros where the case has no label),
    ``corrections`` (1, X, Y, Z) uint8 {0, 1, 2} (zeros where no clinician marked anything),
    ``has_label`` (bool: the label is known everywhere) and ``from_review`` (bool). A review trained
    on its accepted mask brings it as ``accepted``, which becomes the label. Dataset cases default to
    ``has_label=True, from_review=False``.

    With ``verdicts``, a case also holds ``verdict_direction`` (1, X, Y, Z) uint8 {0, 1, 2} (zeros where
    no verdict was given) and ``verdict`` (float: +1 accepted, −1 rejected, 0 none); see
    :mod:`medrl.feedback.cases`.
    """

    def __init__(self, image_key: str = "image", verdicts: bool = False):
        super().__init__([image_key])
        self.image_key, self.verdicts = image_key, verdicts

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        result = dict(data)
        accepted = result.pop("accepted", None)
        if accepted is not None:
            result["label"] = accepted
        empty = torch.zeros_like(result[self.image_key], dtype=torch.uint8)
        result["has_label"] = bool(result.get("has_label", True)) and result.get("label") is not None
        result["from_review"] = bool(result.get("from_review", False))
        maps = ("label", "corrections", "verdict_direction") if self.verdicts else ("label", "corrections")
        for key in maps:
            if result.get(key) is None:
                result[key] = empty.clone()
        if self.verdicts:
            result["verdict"] = float(result.get("verdict", 0.0))
        return result


class TrustNearMarksd(MapTransform):
    """A review's accepted mask as targets near the clinician's marks only (``feedback_target="near_marks"``).

    Where a case holds ``accepted`` (1, X, Y, Z) {0, 1} beside its ``corrections`` (1, X, Y, Z) uint8: 0 untouched,
    1 marked background, 2 marked foreground, every untouched voxel within ``radius_mm`` of a marked one takes the
    accepted mask's value as a mark (2 where it is foreground, 1 where it is background); the clinician's own
    marks stay, voxels further away stay untouched (unknown), and ``accepted`` is dropped so it is not taken for
    a label. Distances in mm on the case's grid (its affine). Cases without ``accepted`` pass unchanged.
    """

    def __init__(self, radius_mm: float):
        super().__init__(["accepted"], allow_missing_keys=True)
        self.radius_mm = float(radius_mm)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        result = dict(data)
        accepted, corrections = result.get("accepted"), result.get("corrections")
        if accepted is None or corrections is None:
            return result
        marks = np.asarray(corrections[0]).astype(np.uint8)
        spacing = voxel_spacing(np.asarray(corrections.affine)) if hasattr(corrections, "affine") else (1.0,) * 3
        distance = ndimage.distance_transform_edt(marks == 0, sampling=spacing)
        trusted = (marks == 0) & (distance <= self.radius_mm)
        inside = np.asarray(accepted[0]) > 0
        marks[trusted] = np.where(inside[trusted], 2, 1)  # 2 marked foreground, 1 marked background
        result["corrections"] = corrections.clone() if hasattr(corrections, "clone") else corrections
        result["corrections"][0] = torch.as_tensor(marks)
        del result["accepted"]
        return result


class CropFocusd(MapTransform):
    """Where training patches are centred: ``crop_focus`` (positive centres) and ``crop_region`` (where
    any centre may lie), for MONAI's ``RandCropByPosNegLabeld(label_key="crop_focus", image_key="crop_region")``.

    A labelled case is centred on its label (positives) or anywhere (negatives). A case known only by
    a clinician's corrections is centred on the marked voxels, or within ``reach`` voxels of them; a verdict's
    case on the voxels its judged refinement changed (``verdict_direction`` > 0), or within ``reach`` of them:
    so that every patch holds what the case teaches.

    Args:
        reach: (x, y, z) voxels around the corrections where centres may lie: ``(patch - 1) // 2`` keeps the
            voxel inside its patch (a patch of even size p spans centre − p/2 to centre + p/2 − 1).
    """

    def __init__(self, reach: Sequence[int]):
        super().__init__(["label"])
        self.reach = tuple(int(r) for r in reach)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        result = dict(data)
        if result["has_label"]:
            result["crop_focus"] = result["label"]
            result["crop_region"] = torch.ones_like(result["label"])
        else:
            direction = result.get("verdict_direction")
            judged = direction is not None and bool((direction > 0).any())
            marked = ((direction if judged else result["corrections"]) > 0).cpu().numpy()
            size = (1, *(2 * r + 1 for r in self.reach))
            region = ndimage.maximum_filter(marked.astype(np.uint8), size=size, mode="constant")
            result["crop_focus"] = torch.from_numpy(marked.astype(np.uint8))
            result["crop_region"] = torch.from_numpy(region)
        return result
