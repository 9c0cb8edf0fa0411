"""Clicks from 3D Slicer markups: LPS and RAS files land on the same voxels as medrl's own clicks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medrl.data.geometry import orientation_affine
from medrl.errors import MedrlInputError
from medrl.inference.clicks_file import ClickPoint, ClickSet, to_working_grid
from medrl.inference.markups import read_clicks, write_markups_json

SHAPE = (24, 20, 12)
AFFINE = orientation_affine("LPS", (0.8, 0.9, 2.5), SHAPE, center_mm=(10.0, -20.0, 30.0))
VOXELS = [(3, 4, 5), (20, 1, 11)]


def _ras(voxel) -> np.ndarray:
    return (AFFINE @ np.array([*voxel, 1.0]))[:3]


def _markups(path, system: str, labels, node_name=None, kind="Fiducial"):
    signs = np.array([-1.0, -1.0, 1.0]) if system == "LPS" else np.ones(3)
    node = {"type": kind, "coordinateSystem": system, "coordinateUnits": "mm", "controlPoints": [
        {"id": str(n), "label": label, "position": list(_ras(v) * signs), "positionStatus": "defined"}
        for n, (v, label) in enumerate(zip(VOXELS, labels))]}
    if node_name:
        node["name"] = node_name
    path.write_text(json.dumps({"@schema": "markups-schema-v1.0.3.json#", "markups": [node]}))
    return path


def _voxels(clicks: ClickSet):
    return [(c.index, c.positive) for c in to_working_grid(clicks, AFFINE, SHAPE, AFFINE, SHAPE)]


def test_lps_and_ras_markups_land_on_the_voxels_of_the_equivalent_medrl_clicks(tmp_path):
    medrl_clicks = tmp_path / "clicks.json"
    medrl_clicks.write_text(json.dumps({"coordinate_system": "voxel", "points": [
        {"position": list(VOXELS[0]), "positive": True}, {"position": list(VOXELS[1]), "positive": False}]}))
    expected = _voxels(read_clicks(medrl_clicks))
    assert expected == [(VOXELS[0], True), (VOXELS[1], False)]
    for system in ("LPS", "RAS"):
        path = _markups(tmp_path / f"{system}.mrk.json", system, ["F-1", "negative"])
        assert _voxels(read_clicks(path)) == expected


def test_a_legacy_fiducial_list_in_ras_lands_on_the_same_voxels(tmp_path):
    rows = [f"vtkMRMLMarkupsFiducialNode_{n},{','.join(map(str, _ras(v)))},0,0,0,1,1,1,0,{label},,"
            for n, (v, label) in enumerate(zip(VOXELS, ["pos", "neg"]))]
    path = tmp_path / "points.fcsv"
    path.write_text("# Markups fiducial file version = 4.10\n# CoordinateSystem = 0\n"
                    "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n" + "\n".join(rows) + "\n")
    assert _voxels(read_clicks(path)) == [(VOXELS[0], True), (VOXELS[1], False)]


def test_a_point_list_named_background_holds_negative_clicks_and_labels_name_structures(tmp_path):
    clicks = read_clicks(_markups(tmp_path / "b.mrk.json", "LPS", ["F-1", "positive: liver"], node_name="background"))
    assert [(p.positive, p.label) for p in clicks.points] == [(False, None), (True, "liver")]


def test_written_markups_read_back_as_the_same_clicks(tmp_path):
    clicks = ClickSet("RAS", (ClickPoint(tuple(_ras(VOXELS[0])), True), ClickPoint(tuple(_ras(VOXELS[1])), False, "liver")))
    again = read_clicks(write_markups_json(tmp_path / "out.mrk.json", clicks))
    assert _voxels(again) == _voxels(clicks) and again.points[1].label == "liver"


@pytest.mark.parametrize("kind", ["Curve", "Plane", "ClosedCurve"])
def test_a_markups_file_of_another_type_is_refused(tmp_path, kind):
    with pytest.raises(MedrlInputError, match=f"is a {kind}; medrl reads point lists"):
        read_clicks(_markups(tmp_path / "c.mrk.json", "LPS", ["a", "b"], kind=kind))


def test_a_misspelt_key_is_named(tmp_path):
    path = tmp_path / "clicks.json"
    path.write_text(json.dumps({"coordinate_system": "RAS", "points": [{"position": [1, 2, 3], "postive": True}]}))
    with pytest.raises(MedrlInputError, match="point 0: unknown key 'postive'"):
        read_clicks(path)
