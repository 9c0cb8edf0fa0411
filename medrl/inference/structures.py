"""Refining one structure of a multi-label map and writing the map back with only that structure changed.

The agents work on one binary task at a time: the structure's voxels are the starting mask. What they
change is carried back to the map's own grid as two sets, voxels *added* to the structure and voxels
*removed* from it, and only those are written: every voxel the refinement left alone keeps its value
exactly, whatever resampling the working grid needed. A voxel added to the structure that belongs to
another structure keeps the other structure unless ``replace_other_structures`` says otherwise; a
removed voxel becomes background (0).

With several structures (``--label liver,spleen`` or ``all``) each starts from the map as it was read
and their changes are applied in the order given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from medrl.data.label_names import LabelNames
from medrl.errors import MedrlInputError
from medrl.inference.clicks_file import ClickSet


@dataclass(frozen=True)
class StructureChange:
    """What refining one structure did to the map, counted in voxels of the map's grid.

    Attributes:
        value, name: the structure.
        added: background voxels that joined it; removed: its voxels that became background.
        kept_other: voxels the agents added that belong to another structure and kept it
            (``replace_other_structures=False``), or that it took over (``True``: ``replaced_other``).
    """

    value: int
    name: str
    added: int
    removed: int
    kept_other: int
    replaced_other: int

    def as_record(self) -> dict:
        return {"value": self.value, "name": self.name, "added_voxels": self.added, "removed_voxels": self.removed,
                "kept_other_structure_voxels": self.kept_other, "replaced_other_structure_voxels": self.replaced_other}


def apply_structure_change(label_map: np.ndarray, value: int, added: np.ndarray, removed: np.ndarray, name: str = "",
                           replace_other_structures: bool = False) -> tuple[np.ndarray, StructureChange]:
    """``label_map`` with ``value``'s refinement applied (a new array; the input is not modified).

    Args:
        label_map: (X, Y, Z) integer map.
        value: the structure refined.
        added, removed: (X, Y, Z) bool, voxels the refinement added to / removed from the structure.
        replace_other_structures: let added voxels take over other structures' voxels.
    """
    added, removed = np.asarray(added, dtype=bool), np.asarray(removed, dtype=bool)
    result = label_map.copy()
    removing = removed & (label_map == value)
    result[removing] = 0
    other = added & (label_map != value) & (label_map != 0)
    gaining = added & (label_map == 0) | (other if replace_other_structures else np.zeros_like(other))
    result[gaining] = value
    count = int(other.sum())
    return result, StructureChange(int(value), name, int((added & (label_map == 0)).sum()), int(removing.sum()),
                                   0 if replace_other_structures else count, count if replace_other_structures else 0)


def clicks_by_structure(clicks: ClickSet | None, values: Sequence[int], names: LabelNames, present: Sequence[int],
                        where: str) -> dict[int, ClickSet]:
    """Each chosen structure's clicks: a point's ``label`` says which structure it is about; a point
    without one belongs to the only structure refined (with several, every point must say).

    Raises:
        MedrlInputError: a point without a label when several structures are refined, or one about a
            structure that ``--label`` does not choose.
    """
    grouped: dict[int, list] = {int(v): [] for v in values}
    for n, point in enumerate(clicks.points if clicks is not None else ()):
        if point.label is None:
            if len(values) > 1:
                raise MedrlInputError(clicks.source, f'point {n} has no "label"; with several structures refined, each '
                                                     "click must name the structure it is about")
            value = int(values[0])
        else:
            value = names.value_of(point.label, present, where)
            if value not in grouped:
                raise MedrlInputError(clicks.source, f"point {n} is about {point.label!r} (label {value}), which --label "
                                                     "does not choose")
        grouped[value].append(point)
    return {v: ClickSet(clicks.coordinate_system, tuple(points), clicks.source) if clicks is not None else None
            for v, points in grouped.items()}
