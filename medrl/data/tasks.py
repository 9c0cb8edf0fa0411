"""Structure-agnostic tasks: every label value of a multi-label map is its own binary refinement task.

A *task* of a case is a tuple of label values whose union is the foreground: ``(47,)`` is one brain
structure, ``(1, 2, 3, 4)`` the union of all labels (a glioma's whole tumour). :func:`list_tasks` finds a
case's tasks once, when the case is cached; :class:`SampleTaskd` draws one each time the case is visited
(seeded, so a validation case always gets the same one), turns the label map into that task's binary
label, and crops the case to a box around the structure, so that everything after it (perturbation,
patches, the validation protocol) works on the structure and its surroundings, not the whole scan.
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable, SpatialCrop
from scipy import ndimage

from medrl.data.label_transforms import foreground

Task = tuple[int, ...]


def list_tasks(label: np.ndarray | torch.Tensor, min_voxels: int = 200, union: bool = True) -> list[Task]:
    """The binary tasks of a label map.

    Args:
        label: integer label map (any shape), 0 = background.
        min_voxels: a label value with fewer voxels is no task (too small to refine).
        union: also the union of all label values as one task, when the map holds at least two values.

    Returns:
        one ``(value,)`` per label value with at least ``min_voxels`` voxels, ascending, then the union
        ``(v1, v2, ...)`` of every non-zero value (if asked for and it differs from a single value).

    Example:
        >>> list_tasks(np.array([0, 1, 1, 1, 2, 2, 5]), min_voxels=2)
        [(1,), (2,), (1, 2, 5)]
    """
    counts = np.bincount(np.asarray(torch.as_tensor(label).reshape(-1).long()))
    present = [int(v) for v in np.flatnonzero(counts) if v != 0]
    tasks = [(v,) for v in present if counts[v] >= min_voxels]
    if union and len(present) > 1 and int(counts[present].sum()) >= min_voxels:
        tasks.append(tuple(present))
    return tasks


def structure_box(mask: np.ndarray, margin: Sequence[int], shape: Sequence[int]) -> tuple[list[int], list[int]]:
    """``(start, end)`` voxel indices of the bounding box of ``mask`` (X, Y, Z) grown by ``margin`` per axis,
    clipped to ``shape``; the whole volume for an empty mask."""
    if not mask.any():
        return [0, 0, 0], [int(s) for s in shape]
    axes = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
    start = [max(0, int(a[0]) - int(m)) for a, m in zip(axes, margin)]
    end = [min(int(s), int(a[-1]) + 1 + int(m)) for a, m, s in zip(axes, margin, shape)]
    return start, end


def task_boxes(label: np.ndarray, tasks: Sequence[Task]) -> list[list[int]]:
    """The bounding box ``[x0, y0, z0, x1, y1, z1]`` (end exclusive) of each task's voxels in ``label``
    (X, Y, Z), all found in one pass (``scipy.ndimage.find_objects``)."""
    objects = ndimage.find_objects(np.asarray(label).astype(np.int32, copy=False))
    boxes = []
    for task in tasks:
        slices = [objects[v - 1] for v in task if v - 1 < len(objects) and objects[v - 1] is not None]
        boxes.append([min(s[a].start for s in slices) for a in range(3)] + [max(s[a].stop for s in slices) for a in range(3)])
    return boxes


class ListTasksd(MapTransform):
    """Record a case's tasks (:func:`list_tasks` of its ``label`` map) in ``data["tasks"]`` and their
    bounding boxes (:func:`task_boxes`) in ``data["task_boxes"]``, as lists of lists (cacheable); the label
    map is kept as it is.

    A case without a label (a clinician's review that teaches through its corrections alone) gets no task; a
    review of one structure of a multi-label map (``data["review_structure"]``, its label value) gets that
    structure as its only task."""

    def __init__(self, label_key: str = "label", min_voxels: int = 200, union: bool = True):
        super().__init__([label_key], allow_missing_keys=True)
        self.label_key, self.min_voxels, self.union = label_key, int(min_voxels), bool(union)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        result = dict(data)
        label = result.get(self.label_key)
        if label is None:
            result["tasks"], result["task_boxes"] = [], []
            return result
        reviewed = result.get("review_structure")
        tasks = [(int(reviewed),)] if reviewed is not None else list_tasks(label, self.min_voxels, self.union)
        result["tasks"] = [list(t) for t in tasks]
        result["task_boxes"] = task_boxes(np.asarray(label[0]), tasks)
        return result


def capped_box(mask: np.ndarray, start: list[int], end: list[int], largest: Sequence[int],
               rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """``(start, end)`` as given where the box is at most ``largest`` voxels long, else, along each longer
    axis, a window of ``largest`` voxels centred on a foreground voxel of ``mask`` drawn by ``rng``."""
    if all(e - s <= n for s, e, n in zip(start, end, largest)):
        return start, end
    points = np.argwhere(mask)
    centre = points[rng.integers(len(points))] if len(points) else [(s + e) // 2 for s, e in zip(start, end)]
    new_start, new_end = [], []
    for s, e, n, c in zip(start, end, largest, centre):
        if e - s <= n:
            new_start.append(s), new_end.append(e)
        else:
            low = min(max(s, int(c) - n // 2), e - n)
            new_start.append(low), new_end.append(low + n)
    return new_start, new_end


class SampleTaskd(Randomizable, MapTransform):
    """Draw one of a case's tasks, make ``label`` its binary {0, 1} uint8 mask, and crop ``keys`` to the
    structure's box.

    The task is drawn uniformly among ``data["tasks"]`` with ``data["task_seed"]`` when present (the same
    task each epoch) or from this transform's random state; it is recorded in ``data["task"]``. A case
    without a task keeps an empty label. A structure larger than ``largest_box`` (a lung, a whole brain)
    is cut to a window of that size around one of its voxels, so that the steps after it stay cheap.

    Args:
        keys: the volumes to crop with the label (e.g. ``image``, ``label``, ``initial``).
        margin: voxels kept around the structure's bounding box on each side (e.g. half a patch plus
            what the perturbation can add).
        largest_box: the largest box kept, in voxels per axis (``None``: no limit).
        label_key: the label map.
    """

    def __init__(self, keys: KeysCollection, margin: Sequence[int], largest_box: Sequence[int] | None = None,
                 label_key: str = "label"):
        MapTransform.__init__(self, keys, allow_missing_keys=True)
        self.margin, self.label_key = tuple(int(m) for m in margin), label_key
        self.largest_box = None if largest_box is None else tuple(int(n) for n in largest_box)
        self._seed = 0

    def randomize(self, data=None) -> None:
        self._seed = int(self.R.randint(0, 2**31 - 1))

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        result = dict(data)
        self.randomize()
        tasks = [tuple(int(v) for v in task) for task in result.get("tasks") or []]
        if result.get(self.label_key) is None:  # no label, no task: the case is used as it is
            return result
        rng = np.random.default_rng(int(result["task_seed"]) if "task_seed" in result else self._seed)
        choice = int(rng.integers(len(tasks))) if tasks else None
        task = tasks[choice] if tasks else ()
        label, shape = result[self.label_key], result[self.label_key].shape[1:]
        if task:  # the structure's box grown by the margin: the only part of the map that is read
            box = result["task_boxes"][choice]
            start = [max(0, int(a) - m) for a, m in zip(box[:3], self.margin)]
            end = [min(int(n), int(b) + m) for b, m, n in zip(box[3:], self.margin, shape)]
        else:
            start, end = [0, 0, 0], [int(n) for n in shape]
        local = label[(slice(None), *(slice(a, b) for a, b in zip(start, end)))]
        binary = (local == task[0]) if len(task) == 1 else foreground(local, task).bool() if task else torch.zeros_like(local).bool()
        if self.largest_box is not None:
            mask = binary[0].cpu().numpy()
            inner_start, inner_end = capped_box(mask, [0, 0, 0], list(mask.shape), self.largest_box, rng)
            start, end = [s + a for s, a in zip(start, inner_start)], [s + b for s, b in zip(start, inner_end)]
        crop = SpatialCrop(roi_start=start, roi_end=end)
        for key in self.key_iterator(result):
            if result[key] is not None:
                result[key] = crop(result[key])
        result[self.label_key] = foreground(result[self.label_key], task) if task else torch.zeros_like(result[self.label_key],
                                                                                                           dtype=torch.uint8)
        result["task"] = list(task)
        return result
