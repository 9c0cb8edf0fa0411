"""The three views as pure functions: which voxel each display pixel shows, anatomical directions,
aspect ratios on anisotropic grids, and the mapping of mouse coordinates to voxels."""

from __future__ import annotations

import numpy as np
import pytest

from medrl.errors import MedrlInputError
from medrl.review.views import (
    VIEW_NAMES,
    aspect,
    display_to_voxel,
    event_to_voxel,
    physical_size,
    slice_2d,
    view,
    voxel_to_display,
)

SHAPE = (5, 7, 4)  # (X, Y, Z): every axis a different length, so a transposition cannot pass unnoticed
SPACING = (0.7, 1.1, 3.0)


def coded_volume(shape=SHAPE) -> np.ndarray:
    """value = 10000 i + 100 j + k: every voxel names its own index."""
    i, j, k = np.indices(shape)
    return (10000 * i + 100 * j + k).astype(np.int64)


def decode(value) -> tuple[int, int, int]:
    return int(value) // 10000, int(value) // 100 % 100, int(value) % 100


@pytest.mark.parametrize("radiological", [True, False])
@pytest.mark.parametrize("name", VIEW_NAMES)
def test_every_display_pixel_shows_the_voxel_display_to_voxel_names(name, radiological):
    v, volume = view(name, radiological), coded_volume()
    for index in range(SHAPE[v.fixed]):
        plane = slice_2d(volume, v, index)
        assert plane.shape == (SHAPE[v.vertical], SHAPE[v.horizontal])
        for row in range(plane.shape[0]):
            for col in range(plane.shape[1]):
                voxel = display_to_voxel(v, index, col, row, SHAPE)
                assert decode(plane[row, col]) == voxel
                assert voxel_to_display(v, voxel, SHAPE) == (col, row)


# (view, radiological) -> voxel shown at the top-left display pixel of slice 2, and the edge letters.
# RAS grid: high i = patient's Right, high j = Anterior, high k = Superior.
ORIENTATION = [
    ("axial", True, (4, 6, 2), {"left": "R", "right": "L", "top": "A", "bottom": "P"}),
    ("axial", False, (0, 6, 2), {"left": "L", "right": "R", "top": "A", "bottom": "P"}),
    ("coronal", True, (4, 2, 3), {"left": "R", "right": "L", "top": "S", "bottom": "I"}),
    ("coronal", False, (0, 2, 3), {"left": "L", "right": "R", "top": "S", "bottom": "I"}),
    ("sagittal", True, (2, 6, 3), {"left": "A", "right": "P", "top": "S", "bottom": "I"}),
    ("sagittal", False, (2, 6, 3), {"left": "A", "right": "P", "top": "S", "bottom": "I"}),
]


@pytest.mark.parametrize("name, radiological, top_left, letters", ORIENTATION)
def test_anatomical_display_orientation_and_letters(name, radiological, top_left, letters):
    v = view(name, radiological)
    assert display_to_voxel(v, 2, 0, 0, SHAPE) == top_left
    assert decode(slice_2d(coded_volume(), v, 2)[0, 0]) == top_left
    assert v.labels == letters


@pytest.mark.parametrize("name, expected", [("axial", 1.1 / 0.7), ("coronal", 3.0 / 0.7), ("sagittal", 3.0 / 1.1)])
def test_aspect_is_the_vertical_over_the_horizontal_voxel_size(name, expected):
    v = view(name)
    assert aspect(v, SPACING) == pytest.approx(expected)
    width, height = physical_size(v, SHAPE, SPACING)
    assert height / width == pytest.approx(expected * SHAPE[v.vertical] / SHAPE[v.horizontal])


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_event_coordinates_round_to_the_nearest_pixel_and_stay_inside(name):
    v = view(name)
    cols, rows = SHAPE[v.horizontal], SHAPE[v.vertical]
    assert event_to_voxel(v, 1, 0.49, 0.0, SHAPE) == display_to_voxel(v, 1, 0, 0, SHAPE)
    assert event_to_voxel(v, 1, 0.5, 1.2, SHAPE) == display_to_voxel(v, 1, 1, 1, SHAPE)
    assert event_to_voxel(v, 1, cols - 0.51, rows - 0.51, SHAPE) == display_to_voxel(v, 1, cols - 1, rows - 1, SHAPE)
    for x, y in [(-0.51, 0.0), (0.0, -0.6), (cols - 0.5, 0.0), (0.0, rows - 0.5), (None, 1.0), (np.nan, 1.0)]:
        assert event_to_voxel(v, 1, x, y, SHAPE) is None


def test_bad_view_or_slice_is_a_clear_error():
    with pytest.raises(MedrlInputError, match="unknown view 'oblique'"):
        view("oblique")
    with pytest.raises(MedrlInputError, match="axial slice: index 4 outside 0..3"):
        slice_2d(coded_volume(), view("axial"), 4)


def test_a_slice_is_a_view_of_the_volume_not_a_copy():
    volume = np.zeros(SHAPE, np.float32)
    plane = slice_2d(volume, view("coronal"), 3)
    volume[4, 3, 0] = 7.0  # i = 4 (right), k = 0 (inferior): bottom-left in a radiological coronal view
    assert plane[-1, 0] == 7.0 and np.shares_memory(plane, volume)
