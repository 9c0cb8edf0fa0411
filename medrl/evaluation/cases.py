"""An evaluation case: one dataset entry read and brought to the working grid, with its binary truth.

All methods of one evaluation see the same prepared case, so their masks, the robot clinician's
clicks and the metrics share one grid: the working grid of the main checkpoint (canonical RAS
orientation, the checkpoint's spacing; see :meth:`medrl.inference.refiner.Refiner.prepare`).

The truth is the case's label reduced to the task's foreground labels (``Refiner.foreground_labels``,
which evaluation may override, e.g. ``[1]`` for the spleen of a multi-organ map). A case's
``initial`` mask is read as predict reads ``--mask`` (a label mask, non-zero = foreground, or a
probability map in [0, 1]); when foreground labels are chosen and the starting mask is a multi-label
map (integer values above 1), the same label values are selected from it first, so another model's
multi-organ output can start the same single-organ task.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from monai.transforms import SpatialCrop

from medrl.data.label_transforms import foreground
from medrl.data.readers import read_scan
from medrl.data.tasks import structure_box
from medrl.errors import MedrlInputError

logger = logging.getLogger(__name__)


@dataclass
class EvaluationCase:
    """One case on the working grid.

    Attributes:
        name: the case's name (image file name without its extensions; made unique within a run).
        image: path of the scan as listed in the dataset.
        data: the prepared case of :meth:`Refiner.prepare`: ``image`` (1, X, Y, Z) float32, ``label``
            (1, X, Y, Z) uint8 {0, 1}, optionally ``initial`` (1, X, Y, Z): uint8 {0, 1} or float32 in [0, 1].
        label: (X, Y, Z) uint8 {0, 1} truth (a view of ``data["label"]``).
        spacing: voxel size in mm along (X, Y, Z) of the working grid.
    """

    name: str
    image: str
    data: dict
    label: np.ndarray
    spacing: tuple[float, float, float]

    @property
    def initial(self) -> torch.Tensor | None:
        """(X, Y, Z) float32 in [0, 1]: the dataset's starting mask on the working grid, if read."""
        initial = self.data.get("initial")
        if initial is None:
            return None
        return (initial.as_tensor() if hasattr(initial, "as_tensor") else torch.as_tensor(initial))[0].float()


def case_name(image: str | os.PathLike) -> str:
    """``ct_07`` for ``.../ct_07.nii.gz`` (a DICOM folder keeps its folder name)."""
    name = Path(image).name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def unique_names(images: Sequence[str]) -> list[str]:
    """Case names for ``images``; repeated names get ``_2``, ``_3``, … in order of appearance."""
    names, seen = [], {}
    for image in images:
        name = case_name(image)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


def _initial_source(path: str, labels: Sequence[int] | None):
    """The starting mask to hand to ``Refiner.prepare``: the path, or the chosen labels of a multi-label map."""
    if labels is None:
        return path
    raw = read_scan(path, kind="image", dtype=None)
    values = raw.as_tensor()
    integer = not torch.is_floating_point(values) or bool((values == values.round()).all())
    if not integer or float(values.max()) <= 1:
        return path  # a binary mask or a probability map: the task's mask already
    selected = raw.clone().to(torch.uint8)
    selected.copy_(foreground(values.long(), labels))
    return selected


def cropped_to_structure(case: EvaluationCase, start_mask: torch.Tensor, margin_mm: float) -> tuple[EvaluationCase, torch.Tensor]:
    """The case and its (X, Y, Z) starting mask cut to the bounding box of the truth grown by ``margin_mm`` on
    each side (unchanged when the truth is empty): every method then runs and is measured in that box, as a
    clinician's tool works in a region of interest around the structure.

    The box's image, label and starting mask are crops of the working-grid case's, their affine moved to
    the box (so hint maps and metrics keep their millimetres)."""
    if not case.label.any():
        return case, start_mask
    margin = [int(math.ceil(margin_mm / s)) for s in case.spacing]
    start, end = structure_box(case.label.astype(bool), margin, case.label.shape)
    crop = SpatialCrop(roi_start=start, roi_end=end)
    data = {**case.data, **{key: crop(case.data[key]) for key in ("image", "label", "initial") if key in case.data}}
    cropped = EvaluationCase(case.name, case.image, data, data["label"][0].numpy(), case.spacing)
    return cropped, start_mask[tuple(slice(a, b) for a, b in zip(start, end))].clone()


def prepare_case(refiner, entry: dict, name: str, read_initial: bool, modality: str | None = None) -> EvaluationCase:
    """Read one dataset entry onto the working grid of ``refiner`` (its foreground labels apply).

    Args:
        refiner: a :class:`medrl.inference.refiner.Refiner`.
        entry: a case of :func:`medrl.data.datasets.load_dataset` (``image``, ``label``, maybe ``initial``).
        name: the case's name in reports.
        read_initial: also read the entry's ``initial`` mask.
        modality: the scan's modality for the ``auto`` intensity preset (``None``: the entry's ``modality``,
            else guessed from the intensities).

    Raises:
        MedrlInputError: the case has no label (the robot clinician needs the truth), or its files
            do not share one grid, or cannot be read.
    """
    if not entry.get("label"):
        raise MedrlInputError(entry["image"], "case has no label; evaluation needs the truth for the robot clinician")
    initial = _initial_source(entry["initial"], refiner.foreground_labels) if read_initial and entry.get("initial") else None
    data = refiner.prepare(entry["image"], label=entry["label"], initial=initial, modality=modality or entry.get("modality"))
    label = data["label"][0].numpy()
    if not label.any():
        logger.warning("%s: the label holds no voxel of the foreground labels %s", entry["label"], refiner.foreground_labels)
    return EvaluationCase(name, entry["image"], data, label, refiner.spacing(data))
