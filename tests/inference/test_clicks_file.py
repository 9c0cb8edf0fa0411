"""Clicks JSON: RAS, LPS and voxel coordinates of the same point land on the same working-grid voxel,
and malformed files or points outside the scan are one clear error naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medrl.data.geometry import orientation_affine
from medrl.errors import MedrlInputError
from medrl.inference.clicks_file import (
    ClickPoint,
    parse_clicks,
    read_clicks_file,
    to_working_grid,
    write_clicks_file,
)
from medrl.inference.refiner import Refiner


def _points(system: str, position) -> dict:
    return {"coordinate_system": system, "points": [{"position": list(position), "positive": True}]}


def test_ras_lps_and_voxel_clicks_land_on_the_same_voxel_of_an_lps_file(tmp_path, write_case, untrained):
    image_path, _, affine = write_case("LPS", (0.8, 0.9, 2.5), shape=(24, 20, 12))
    refiner = Refiner.from_checkpoint(untrained)
    case = refiner.prepare(str(image_path))
    voxel = np.array([5, 13, 7])
    ras = affine[:3, :3] @ voxel + affine[:3, 3]
    lps = ras * np.array([-1, -1, 1])
    clicks = [refiner.clicks_on_working_grid(case, parse_clicks(_points(system, position)))[0]
              for system, position in (("voxel", voxel), ("RAS", ras), ("LPS", lps))]
    assert clicks[0] == clicks[1] == clicks[2]
    # and the working voxel is the input voxel, through the working grid's own affine
    working = np.asarray(case["image"].affine)
    np.testing.assert_allclose(working[:3, :3] @ np.array(clicks[0].index) + working[:3, 3], ras, atol=1e-4)


def test_a_click_a_fraction_of_a_voxel_off_goes_to_the_nearest_voxel():
    affine = orientation_affine("RAS", (2.0, 2.0, 2.0), (10, 10, 10))
    world = affine[:3, :3] @ np.array([3, 4, 5]) + affine[:3, 3] + np.array([0.9, -0.9, 0.4])
    [click] = to_working_grid(parse_clicks(_points("RAS", world)), affine, (10, 10, 10), affine, (10, 10, 10))
    assert click.index == (3, 4, 5) and click.positive


@pytest.mark.parametrize("document, problem", [
    ([1, 2], "expected a JSON object"),
    ({"coordinate_system": "IJK", "points": []}, "coordinate_system must be one of"),
    ({"coordinate_system": "RAS"}, '"points" must be a list'),
    ({"coordinate_system": "RAS", "points": [{"position": [1, 2], "positive": True}]}, "point 0: position must be 3 finite numbers"),
    ({"coordinate_system": "RAS", "points": [{"position": [1, 2, "x"], "positive": True}]}, "point 0: position"),
    ({"coordinate_system": "RAS", "points": [{"position": [1, 2, 3], "positive": "yes"}]}, "point 0: positive must be true or false"),
])
def test_malformed_clicks_are_clear_errors(tmp_path, document, problem):
    path = tmp_path / "clicks.json"
    path.write_text(json.dumps(document))
    with pytest.raises(MedrlInputError, match=problem) as error:
        read_clicks_file(path)
    assert error.value.source == str(path)


def test_unreadable_clicks_files(tmp_path):
    with pytest.raises(MedrlInputError, match="clicks file not found"):
        read_clicks_file(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"coordinate_system": "RAS", "points": [')
    with pytest.raises(MedrlInputError, match="not valid JSON"):
        read_clicks_file(broken)


def test_clicks_outside_the_scan_are_refused():
    affine = orientation_affine("LPS", (1.0, 1.0, 1.0), (10, 10, 10))
    with pytest.raises(MedrlInputError, match="point 0: voxel .* lies outside the scan's array"):
        to_working_grid(parse_clicks(_points("voxel", (3, 12, 4))), affine, (10, 10, 10), affine, (10, 10, 10))
    with pytest.raises(MedrlInputError, match=r"point 0 at \[500.0, 0.0, 0.0\] \(RAS\) lies outside the scan"):
        to_working_grid(parse_clicks(_points("RAS", (500.0, 0.0, 0.0))), affine, (10, 10, 10), affine, (10, 10, 10))


def test_written_clicks_read_back(tmp_path):
    points = [ClickPoint((1.5, -2.0, 3.0), True), ClickPoint((0.0, 0.0, 0.0), False)]
    clicks = read_clicks_file(write_clicks_file(tmp_path / "c.json", "LPS", points))
    assert clicks.coordinate_system == "LPS" and clicks.points == tuple(points)
