"""Region pooling and broadcasting are exact; voxel and region agents share one interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medrl.env.regions import RegionAgents, VoxelAgents, broadcast, grid_regions, region_mean, slic_regions
from medrl.errors import MedrlInputError

# two volumes of 1×2×3 voxels; region maps differ per volume, volume 1 leaves region 2 empty
REGIONS = torch.tensor([[[[0, 0, 1], [1, 2, 2]]], [[[1, 1, 1], [0, 0, 1]]]])
VALUES = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]]], [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]]).unsqueeze(1)


def test_region_mean_by_hand():
    means = region_mean(VALUES, REGIONS, n_regions=3)
    assert means.shape == (2, 1, 3) and means.dtype == torch.float32
    assert means[0, 0].tolist() == pytest.approx([1.5, 3.5, 6.0])
    assert means[1, 0].tolist() == pytest.approx([4.5, 3.0, 0.0])  # (4+5)/2, (1+2+3+6)/4, empty -> 0


def test_region_mean_with_mask_by_hand():
    mask = torch.tensor([[[[True, False, True], [False, False, True]]], [[[False] * 3, [False] * 3]]]).unsqueeze(1)
    means = region_mean(VALUES, REGIONS, 3, mask)
    assert means[0, 0].tolist() == pytest.approx([1.0, 3.0, 7.0])
    assert means[1, 0].tolist() == [0.0, 0.0, 0.0]


def test_region_mean_keeps_channels_apart():
    two_channels = torch.cat([VALUES, 10 * VALUES], dim=1)
    means = region_mean(two_channels, REGIONS, 3)
    assert torch.allclose(means[:, 1], 10 * means[:, 0])


def test_broadcast_by_hand():
    region_values = torch.tensor([[[10, 20, 30]], [[40, 50, 60]]])
    out = broadcast(region_values, REGIONS)
    assert out.shape == (2, 1, 1, 2, 3) and out.dtype == torch.int64
    assert out[0, 0, 0].tolist() == [[10, 10, 20], [20, 30, 30]]
    assert out[1, 0, 0].tolist() == [[50, 50, 50], [40, 40, 50]]


def test_broadcast_then_mean_is_identity_on_used_regions():
    region_values = torch.tensor([[[1.5, -2.0, 4.0]]])
    regions = REGIONS[:1]
    assert torch.equal(region_mean(broadcast(region_values, regions), regions, 3), region_values)


def test_grid_regions_by_hand():
    regions = grid_regions((2, 3, 4), (2, 2, 2))
    assert regions.dtype == np.int64
    assert regions[0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]]
    assert (regions[1] == regions[0]).all()


def test_slic_regions_follow_an_intensity_edge_and_are_contiguous_labels():
    volume = np.zeros((8, 8, 8), dtype=np.float32)
    volume[:, :, 4:] = 1.0
    regions = slic_regions(volume, n_segments=8, compactness=0.01, spacing=(1.0, 1.0, 1.0))
    assert regions.shape == volume.shape and regions.dtype == np.int64
    assert set(np.unique(regions)) == set(range(regions.max() + 1))
    for label in np.unique(regions):
        assert len(np.unique(volume[regions == label])) == 1  # no region straddles the edge


def test_voxel_agents_are_reshapes():
    agents = VoxelAgents((1, 2, 3))
    pooled = agents.pool(VALUES)
    assert agents.n_agents == 6 and pooled.shape == (2, 1, 6)
    assert torch.equal(agents.broadcast(pooled), VALUES)


def test_region_agents_pool_and_broadcast():
    agents = RegionAgents(REGIONS, n_regions=3)
    assert agents.n_agents == 3
    assert torch.equal(agents.pool(VALUES), region_mean(VALUES, REGIONS, 3))
    assert agents.broadcast(torch.tensor([[[7, 8, 9]], [[1, 2, 3]]]))[1, 0, 0, 1].tolist() == [1, 1, 2]


def test_region_labels_out_of_range_are_a_user_error():
    with pytest.raises(MedrlInputError, match="regions"):
        RegionAgents(REGIONS, n_regions=2)
