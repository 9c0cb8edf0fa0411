"""Geodesic (image-aware) distance: hand-checkable images, the Euclidean limit, and the exact graph distance."""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pytest
import torch
from scipy import ndimage

from medrl.env.geodesic import geodesic_distance_mm


def test_an_edge_costs_its_contrast_times_the_weight():
    image = torch.zeros(1, 1, 1, 1, 5); image[..., 3:] = 1.0  # an edge between voxels 2 and 3
    seeds = torch.zeros(1, 1, 1, 1, 5, dtype=torch.bool); seeds[..., 0] = True
    distance = geodesic_distance_mm(image, seeds, [(1.0, 1.0, 1.0)], intensity_weight=3.0)[0, 0, 0, 0]
    crossing = np.sqrt(1.0 + 3.0**2)  # one 1 mm step across a jump of 1 at λ = 3 mm per unit
    assert distance.tolist() == pytest.approx([0.0, 1.0, 2.0, 2.0 + crossing, 3.0 + crossing])


def test_a_wall_of_contrast_makes_the_way_round_shorter():
    image = torch.zeros(1, 1, 1, 9, 9); image[0, 0, 0, :7, 4] = 1.0  # a bright wall with a gap at the far end
    seeds = torch.zeros_like(image, dtype=torch.bool); seeds[0, 0, 0, 0, 0] = True
    distance = geodesic_distance_mm(image, seeds, [(1.0, 1.0, 1.0)], intensity_weight=100.0)[0, 0, 0]
    assert distance[0, 8] > 8.0 + 5.0  # through the gap at rows 7-8, not straight through the wall
    assert distance[0, 8] < 20.0  # ... which is still far cheaper than crossing it (≥ 200)
    assert distance[0, 3] == pytest.approx(3.0)  # before the wall, plain distance


def test_without_intensity_weight_it_is_close_to_the_euclidean_distance():
    seeds = torch.zeros(1, 1, 16, 16, 16, dtype=torch.bool); seeds[0, 0, 5, 9, 3] = True
    spacing = (1.0, 1.5, 2.0)
    distance = geodesic_distance_mm(torch.rand(1, 1, 16, 16, 16), seeds, [spacing], intensity_weight=0.0)[0, 0].numpy()
    euclidean = ndimage.distance_transform_edt(~seeds[0, 0].numpy(), sampling=spacing)
    ratio = distance[euclidean > 0] / euclidean[euclidean > 0]
    assert ratio.min() >= 1.0 - 1e-5 and ratio.max() < 1.3  # a 26-neighbour path is never shorter, and close


def test_it_is_the_shortest_path_on_the_26_neighbour_graph():
    rng = np.random.default_rng(1)
    n, spacing, weight, source = 6, (1.0, 1.5, 2.0), 3.0, (1, 4, 2)
    image = rng.random((n, n, n)).astype(np.float32)
    exact = np.full((n, n, n), np.inf); exact[source] = 0.0
    queue = [(0.0, source)]
    offsets = [o for o in itertools.product((-1, 0, 1), repeat=3) if o != (0, 0, 0)]
    while queue:  # Dijkstra
        d, voxel = heapq.heappop(queue)
        if d > exact[voxel]:
            continue
        for offset in offsets:
            other = tuple(a + b for a, b in zip(voxel, offset))
            if all(0 <= i < n for i in other):
                step = np.sqrt(sum((o * s) ** 2 for o, s in zip(offset, spacing)) + weight**2 * (image[voxel] - image[other]) ** 2)
                if d + step < exact[other]:
                    exact[other] = d + step
                    heapq.heappush(queue, (d + step, other))
    seeds = torch.zeros(1, 1, n, n, n, dtype=torch.bool); seeds[(0, 0, *source)] = True
    distance = geodesic_distance_mm(torch.from_numpy(image)[None, None], seeds, [spacing], weight, rounds=3)[0, 0].numpy()
    assert np.allclose(distance, exact, rtol=1e-5)


def test_known_starting_distances_and_no_seeds():
    start = torch.full((2, 1, 1, 1, 4), float("inf")); start[0, 0, 0, 0, 0] = 2.5  # a seed 2.5 mm off the volume
    distance = geodesic_distance_mm(torch.zeros(2, 1, 1, 1, 4), start, [(1.0, 1.0, 1.0)] * 2, 10.0)
    assert distance[0, 0, 0, 0].tolist() == pytest.approx([2.5, 3.5, 4.5, 5.5])
    assert torch.isinf(distance[1]).all()
