"""Clicks from 3D Slicer: markups point lists (``.mrk.json``) and legacy fiducial lists (``.fcsv``).

A markups file holds one or more point lists ("Fiducial" nodes) in LPS or RAS millimetres, as the file
says (``coordinateSystem``; ``.fcsv``: its ``# CoordinateSystem`` header, where ``0`` is RAS and ``1`` LPS).
Curves, planes, lines, angles and ROIs are refused. Which clicks are positive, the convention medrl reads:

- a control point whose label (or description) starts with a sign word takes that sign:
  ``positive``, ``pos``, ``foreground``, ``fg``, ``+`` / ``negative``, ``neg``, ``background``, ``bg``, ``-``;
  text after a colon names the structure the click is about (``negative: liver``);
- otherwise the point list's name decides (``name`` in the file, or for a file with one list its file
  name): a list named like ``background`` / ``negative`` holds negative clicks, and any other list positive
  ones — so two lists named "foreground" and "background", as MONAI Label's Slicer module keeps them, just work;
- control points without a position (Slicer's "undefined"/"missing" status) are skipped.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np

from medrl.data.atomic import write_text_atomically
from medrl.errors import MedrlInputError
from medrl.inference.clicks_file import LPS_TO_RAS_SIGNS, ClickPoint, ClickSet, load_clicks_json, parse_clicks

MARKUPS_SUFFIXES = (".mrk.json", ".fcsv")
POINT_LIST_TYPES = ("Fiducial", "PointList")
POSITIVE_WORDS = ("positive", "pos", "foreground", "fg", "+")
NEGATIVE_WORDS = ("negative", "neg", "background", "bg", "-")
SIGN_PATTERN = re.compile(r"^\s*(positive|pos|foreground|fg|negative|neg|background|bg|\+|-)(?![a-z0-9])\s*(?::\s*(.+?))?\s*$",
                          re.IGNORECASE)
PLACED_STATUSES = ("defined", "preview")
MARKUPS_SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/"
                  "markups-schema-v1.0.3.json#")


def is_markups_path(path: str | os.PathLike) -> bool:
    """True for a 3D Slicer markups (``.mrk.json``) or fiducial list (``.fcsv``) file name."""
    return Path(path).name.lower().endswith(MARKUPS_SUFFIXES)


def read_clicks(path: str | os.PathLike) -> ClickSet:
    """Read clicks from a medrl clicks JSON, a Slicer ``.mrk.json`` or a ``.fcsv`` file (chosen by suffix).

    Raises:
        MedrlInputError: missing or malformed file, or a markups file that is not a point list.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".fcsv"):
        if not path.is_file():
            raise MedrlInputError(path, "clicks file not found")
        return _read_fcsv(path)
    document = load_clicks_json(path)
    if name.endswith(".mrk.json") or (isinstance(document, dict) and "markups" in document):
        return _read_markups_json(path, document)
    return parse_clicks(document, str(path))


def sign_and_structure(text: str | None) -> tuple[bool | None, str | None]:
    """``(positive, structure)`` a control point's label says: ``("negative: liver")`` -> ``(False, "liver")``;
    ``(None, None)`` when the text starts with no sign word."""
    match = SIGN_PATTERN.match(text or "")
    if not match:
        return None, None
    word = match.group(1).lower()
    return word in POSITIVE_WORDS, match.group(2) or None


def _list_sign(name: str) -> bool:
    """A point list's sign from its name: negative when the name says so, positive otherwise."""
    words = re.split(r"[^a-z+-]+", name.lower())
    return not any(word in NEGATIVE_WORDS for word in words)


def _point(position, label_text: str | None, description: str | None, list_positive: bool) -> ClickPoint:
    positive, structure = sign_and_structure(label_text)
    if positive is None:
        positive, structure = sign_and_structure(description)
    return ClickPoint(tuple(float(v) for v in position), list_positive if positive is None else positive, structure)


def _read_markups_json(path: Path, document: object) -> ClickSet:
    lists = document.get("markups") if isinstance(document, dict) else None
    if not isinstance(lists, list) or not lists:
        raise MedrlInputError(path, 'not a Slicer markups file: expected {"markups": [{"type": "Fiducial", ...}]}')
    systems, points = set(), []
    for n, node in enumerate(lists):
        kind = node.get("type") if isinstance(node, dict) else None
        if kind not in POINT_LIST_TYPES:
            raise MedrlInputError(path, f"markups {n} is a {kind or 'markup of no type'}; medrl reads point lists "
                                        "(Fiducial) as clicks, not curves, lines, angles, planes or ROIs")
        units = node.get("coordinateUnits", "mm")
        if units != "mm" and units != ["mm", "mm", "mm"]:
            raise MedrlInputError(path, f"markups {n}: coordinates in {units!r}; medrl reads millimetres")
        systems.add(node.get("coordinateSystem", "LPS"))
        list_positive = _list_sign(node.get("name") or (path.name[: -len(".mrk.json")] if len(lists) == 1 else ""))
        for m, control in enumerate(node.get("controlPoints") or []):
            if control.get("positionStatus", "defined") not in PLACED_STATUSES:
                continue
            position = control.get("position")
            if not (isinstance(position, list) and len(position) == 3 and all(isinstance(v, (int, float)) for v in position)):
                raise MedrlInputError(path, f"markups {n}, control point {m}: position must be 3 numbers, got {position!r}")
            points.append(_point(position, control.get("label"), control.get("description"), list_positive))
    return ClickSet(_one_system(systems, path), tuple(points), str(path))


def _one_system(systems: set, path: Path) -> str:
    if len(systems) > 1 or not systems <= {"LPS", "RAS"}:
        raise MedrlInputError(path, f"coordinateSystem must be LPS or RAS (one for the whole file), got {sorted(systems)}")
    return systems.pop()


FCSV_SYSTEMS = {"0": "RAS", "RAS": "RAS", "1": "LPS", "LPS": "LPS"}
FCSV_COLUMNS = ("id", "x", "y", "z", "ow", "ox", "oy", "oz", "vis", "sel", "lock", "label", "desc", "associatedNodeID")


def _read_fcsv(path: Path) -> ClickSet:
    system, columns, rows = "LPS", list(FCSV_COLUMNS), []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition("=")
            if key.strip().lower() == "coordinatesystem":
                if value.strip() not in FCSV_SYSTEMS:
                    raise MedrlInputError(path, f"CoordinateSystem must be RAS, LPS, 0 or 1, got {value.strip()!r}")
                system = FCSV_SYSTEMS[value.strip()]
            elif key.strip().lower() == "columns":
                columns = [c.strip() for c in value.split(",")]
        elif line.strip():
            rows.append(line)
    points, list_positive = [], _list_sign(path.name[: -len(".fcsv")])
    for n, row in enumerate(csv.reader(rows)):
        entry = dict(zip(columns, row))
        try:
            position = [float(entry[axis]) for axis in ("x", "y", "z")]
        except (KeyError, ValueError):
            raise MedrlInputError(path, f"fiducial {n}: x, y, z must be numbers, got {row[1:4]}") from None
        points.append(_point(position, entry.get("label"), entry.get("desc"), list_positive))
    return ClickSet(system, tuple(points), str(path))


def write_markups_json(path: str | os.PathLike, clicks: ClickSet) -> Path:
    """Write RAS or LPS clicks as a Slicer markups point list (LPS), each point labelled ``positive`` or
    ``negative`` (``: structure`` when it has one), so Slicer shows them and :func:`read_clicks` reads them back."""
    if clicks.coordinate_system not in ("RAS", "LPS"):
        raise ValueError("voxel clicks have no world position; map them to RAS or LPS first")
    signs = LPS_TO_RAS_SIGNS if clicks.coordinate_system == "RAS" else np.ones(3)
    controls = [{"id": str(n + 1), "label": ("positive" if p.positive else "negative") + (f": {p.label}" if p.label else ""),
                 "position": [float(v) for v in np.asarray(p.position) * signs], "positionStatus": "defined"}
                for n, p in enumerate(clicks.points)]
    document = {"@schema": MARKUPS_SCHEMA, "markups": [
        {"type": "Fiducial", "coordinateSystem": "LPS", "coordinateUnits": "mm", "controlPoints": controls}]}
    write_text_atomically(path, json.dumps(document, indent=2))
    return Path(path)
