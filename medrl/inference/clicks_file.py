"""Clinician clicks from a JSON file, in world millimetres (RAS or LPS) or in the input's voxel indices.

The format, as written by a viewer or by hand::

    {"coordinate_system": "RAS",                      # or "LPS" (DICOM/ITK world) or "voxel"
     "points": [{"position": [12.5, -40.0, 88.0], "positive": true},
                {"position": [30.0, -22.5, 91.0], "positive": false, "label": "liver"}]}

``label`` (optional) names the structure a click is about, by value or name, when ``medrl predict
--label`` refines several structures of a multi-label map in one run. 3D Slicer markups files are
read too (:mod:`medrl.inference.markups`): :func:`read_clicks` chooses the reader by the suffix.

RAS and LPS positions are world millimetres (LPS = RAS with x and y negated, the DICOM/ITK/3D Slicer
"LPS" convention); ``voxel`` positions are array indices (i, j, k) of the *input file* as read by
medrl (nibabel's order for NIfTI, ITK's index order for NRRD/MHA/DICOM). Every click is mapped to the
nearest voxel of the working grid; a click outside the scan is an error naming the file and the point.
"""

from __future__ import annotations

import json
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from medrl.data.atomic import write_text_atomically
from medrl.env.clicks import Click
from medrl.errors import MedrlInputError

COORDINATE_SYSTEMS = ("RAS", "LPS", "voxel")
DOCUMENT_KEYS = ("coordinate_system", "points")
POINT_KEYS = ("position", "positive", "label")
LPS_TO_RAS_SIGNS = np.array([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class ClickPoint:
    """One click as given by the user: a position in ``coordinate_system``, positive (foreground) or
    negative, and optionally the structure it is about (a label value or name; ``None``: the one refined)."""

    position: tuple[float, float, float]
    positive: bool
    label: int | str | None = None


@dataclass(frozen=True)
class ClickSet:
    """The clicks of one file: their coordinate system and points, and where they came from."""

    coordinate_system: str
    points: tuple[ClickPoint, ...]
    source: str = "clicks"


def read_clicks_file(path: str | os.PathLike) -> ClickSet:
    """Read and check a clicks JSON file.

    Raises:
        MedrlInputError: missing file, invalid JSON, unknown coordinate system, malformed points.
    """
    return parse_clicks(load_clicks_json(path), str(path))


def load_clicks_json(path: str | os.PathLike) -> object:
    """The parsed JSON of a clicks file (medrl's or a Slicer markups file).

    Raises:
        MedrlInputError: a missing file or invalid JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise MedrlInputError(path, "clicks file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MedrlInputError(path, f"not valid JSON ({error})") from None


def parse_clicks(document: object, source: str = "clicks") -> ClickSet:
    """Check a clicks document (the parsed JSON) and return it as a :class:`ClickSet`."""
    if not isinstance(document, dict):
        raise MedrlInputError(source, 'expected a JSON object {"coordinate_system": ..., "points": [...]}')
    _check_keys(document, DOCUMENT_KEYS, "", source)
    system = document.get("coordinate_system")
    if system not in COORDINATE_SYSTEMS:
        raise MedrlInputError(source, f"coordinate_system must be one of {', '.join(COORDINATE_SYSTEMS)}, got {system!r}")
    points = document.get("points")
    if not isinstance(points, list):
        raise MedrlInputError(source, '"points" must be a list of {"position": [x, y, z], "positive": true|false}')
    return ClickSet(system, tuple(_parse_point(point, n, source) for n, point in enumerate(points)), source)


def _check_keys(entry: dict, known: tuple[str, ...], where: str, source: str) -> None:
    unknown = [key for key in entry if key not in known]
    if unknown:
        raise MedrlInputError(source, f"{where}unknown key {unknown[0]!r} (the keys are {', '.join(known)})")


def _parse_point(point: object, n: int, source: str) -> ClickPoint:
    if isinstance(point, dict):
        _check_keys(point, POINT_KEYS, f"point {n}: ", source)
    position = point.get("position") if isinstance(point, dict) else None
    positive = point.get("positive") if isinstance(point, dict) else None
    well_formed = isinstance(position, list) and len(position) == 3 and all(
        isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and np.isfinite(v) for v in position
    )
    if not well_formed:
        raise MedrlInputError(source, f"point {n}: position must be 3 finite numbers, got {position!r}")
    if not isinstance(positive, bool):
        raise MedrlInputError(source, f"point {n}: positive must be true or false, got {positive!r}")
    label = point.get("label")
    if label is not None and (isinstance(label, bool) or not isinstance(label, (int, str)) or label == ""):
        raise MedrlInputError(source, f"point {n}: label must be a structure's value or name, got {label!r}")
    return ClickPoint(tuple(float(v) for v in position), positive, label)


def world_ras(clicks: ClickSet, input_affine: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
    """(P, 3) RAS millimetres of the clicks; voxel positions go through the input file's affine.

    Raises:
        MedrlInputError: a voxel position outside the input's array.
    """
    positions = np.array([point.position for point in clicks.points], dtype=np.float64).reshape(-1, 3)
    if clicks.coordinate_system == "LPS":
        return positions * LPS_TO_RAS_SIGNS
    if clicks.coordinate_system == "RAS":
        return positions
    for n, position in enumerate(positions):
        if np.any(np.round(position) < 0) or np.any(np.round(position) > np.asarray(input_shape) - 1):
            raise MedrlInputError(clicks.source, f"point {n}: voxel {position.tolist()} lies outside the scan's array {tuple(input_shape)}")
    return positions @ np.asarray(input_affine)[:3, :3].T + np.asarray(input_affine)[:3, 3]


def to_working_grid(
    clicks: ClickSet, input_affine: np.ndarray, input_shape: Sequence[int], working_affine: np.ndarray,
    working_shape: Sequence[int],
) -> list[Click]:
    """Clicks on the nearest voxels of the working grid.

    Args:
        clicks: the user's clicks.
        input_affine: (4, 4) index -> RAS mm affine of the input file; ``input_shape`` its (X, Y, Z).
        working_affine: (4, 4) index -> RAS mm affine of the working grid; ``working_shape`` its (X', Y', Z').

    Returns:
        One :class:`Click` per point, in the file's order.

    Raises:
        MedrlInputError: a point outside the working grid (outside the scan, or cropped away).
    """
    world = world_ras(clicks, input_affine, input_shape)
    inverse = np.linalg.inv(np.asarray(working_affine, dtype=np.float64))
    indices = np.rint(world @ inverse[:3, :3].T + inverse[:3, 3]).astype(np.int64)
    result = []
    for n, (index, point) in enumerate(zip(indices, clicks.points)):
        if np.any(index < 0) or np.any(index >= np.asarray(working_shape)):
            raise MedrlInputError(
                clicks.source, f"point {n} at {list(point.position)} ({clicks.coordinate_system}) lies outside the scan"
            )
        result.append(Click(tuple(int(i) for i in index), point.positive))
    return result


def write_clicks_file(path: str | os.PathLike, coordinate_system: str, points: Sequence[ClickPoint]) -> Path:
    """Write clicks as JSON (atomically) in the format :func:`read_clicks_file` reads."""
    if coordinate_system not in COORDINATE_SYSTEMS:
        raise ValueError(f"coordinate_system must be one of {COORDINATE_SYSTEMS}")
    document = {"coordinate_system": coordinate_system, "points": [
        {"position": list(p.position), "positive": bool(p.positive), **({"label": p.label} if p.label is not None else {})}
        for p in points]}
    write_text_atomically(path, json.dumps(document, indent=2))
    return Path(path)
