"""Tiles and refinement regions: cores partition the region, clicks refine only where they can act,
and refining tile by tile gives the mask refining the whole scan at once gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medrl.env.clicks import Click
from medrl.env.state import soft_start
from medrl.inference.refiner import Refiner
from medrl.inference.tiles import Box, bounding_box, click_reach, refinement_region, shifted, tiles
from tests.policies import RecordingPolicy

from .scenes import two_blob_scene


@pytest.mark.parametrize("region, edge", [(Box((0, 0, 0), (50, 37, 20)), 16), (Box((3, 5, 7), (40, 9, 30)), 10),
                                          (Box((0, 0, 0), (8, 8, 8)), 100)])
def test_tile_cores_partition_the_region(region, edge):
    shape = (50, 40, 31)
    covered = np.zeros(shape, np.int32)
    for core, context in tiles(region, shape, edge, halo=(4, 4, 4)):
        assert max(core.shape) <= edge
        covered[core.slices] += 1
        assert all(0 <= a <= c and d <= b <= s for a, c, b, d, s in zip(context.start, core.start, context.stop, core.stop, shape))
        assert all(c - a == min(4, c) for a, c in zip(context.start, core.start))  # halo, clipped at the border
    expected = np.zeros(shape, np.int32)
    expected[region.slices] = 1
    np.testing.assert_array_equal(covered, expected)


def test_region_is_the_whole_scan_without_clicks_and_local_with_them():
    shape = (200, 200, 100)
    assert refinement_region(shape, [], (10, 10, 10)) == Box.whole(shape)
    reach = click_reach((1.0, 1.0, 2.5), hint_sigma_mm=5.0, window=(32, 32, 32))
    assert reach == (20, 20, 16)  # 4 sigma = 20 mm; at 2.5 mm voxels half a window (16) is larger
    region = refinement_region(shape, [Click((50, 60, 40), True), Click((70, 60, 45), False)], [reach] * 2)
    assert region == Box((30, 40, 24), (91, 81, 62))
    assert refinement_region(shape, [Click((5, 5, 5), True), Click((195, 195, 95), True)], [reach] * 2) == Box.whole(shape)


def test_shifted_clicks_keep_their_label():
    assert shifted([Click((5, 6, 7), False)], (10, 2, 3)) == [Click((-5, 4, 4), False)]


def _case(refiner: Refiner, image: np.ndarray) -> dict:
    return refiner.prepare(MetaTensor(torch.from_numpy(image)[None], affine=torch.eye(4, dtype=torch.float64)))


def test_tiled_refinement_matches_whole_scan_refinement(trained_agents):
    scene = two_blob_scene(shape=(96, 40, 32))
    whole = Refiner.from_checkpoint(trained_agents, tile_edge=1000)
    tiled = Refiner.from_checkpoint(trained_agents, tile_edge=30)
    case = _case(whole, scene.image)
    initial = torch.from_numpy(scene.initial)
    region = Box.whole(scene.image.shape)
    p_whole, p_tiled = whole.refine(case, initial, region=region), tiled.refine(case, initial, region=region)
    agreement = float(((p_whole >= 0.5) == (p_tiled >= 0.5)).float().mean())
    changed = float(((p_whole >= 0.5) != initial.bool()).float().mean())
    print(f"tiled vs whole: {agreement:.4%} of voxels agree; the agents changed {changed:.2%} of voxels")
    assert changed > 0.005  # the agents did act, so the comparison means something
    assert agreement > 0.99  # measured 99.55 % (tiles of 30 voxels; instance norm sees other windows)


def test_a_click_changes_nothing_outside_its_region(trained_agents):
    scene = two_blob_scene(shape=(128, 40, 32))
    refiner = Refiner.from_checkpoint(trained_agents)
    case = _case(refiner, scene.image)
    click = Click(scene.missed_centre, True)
    p = refiner.refine(case, torch.from_numpy(scene.initial), [click])
    reach = click_reach(refiner.spacing(case), refiner.env_config.hint_sigma_mm, (48, 40, 32))
    region = refinement_region(scene.image.shape, [click], [reach])
    assert region != Box.whole(scene.image.shape)
    outside = np.ones(scene.image.shape, bool)
    outside[region.slices] = False
    np.testing.assert_array_equal((p[0, 0].numpy() >= 0.5)[outside], scene.initial[outside])
    assert float(p[0, 0][click.index]) == 1.0  # the clicked voxel keeps the clinician's label


def test_without_clicks_the_agents_refine_the_starting_masks_box_and_no_farther(trained_agents):
    scene = two_blob_scene(shape=(160, 40, 32))  # the start's blob at x 6..22; beyond x ~ 46 only noise
    refiner = Refiner.from_checkpoint(trained_agents, tile_edge=1000)
    counting = refiner.policy = RecordingPolicy(refiner.policy)
    image = MetaTensor(torch.from_numpy(scene.image)[None], affine=torch.eye(4, dtype=torch.float64))
    mask = MetaTensor(torch.from_numpy(scene.initial)[None], affine=torch.eye(4, dtype=torch.float64))
    predicted = refiner.predict(image, mask=mask).mask[0].numpy().astype(bool)

    case = _case(refiner, scene.image)
    initial = torch.from_numpy(scene.initial)
    region = bounding_box(initial.bool()).grown(refiner.reach(case), scene.image.shape)
    assert refiner.mask_region(case, initial) == region != Box.whole(scene.image.shape)
    halo = [w // 2 for w in (48, 40, 32)]
    assert counting.shapes == [region.grown(halo, scene.image.shape).shape]  # the mask's box and its context, once
    outside = np.ones(scene.image.shape, bool)
    outside[region.slices] = False
    np.testing.assert_array_equal(predicted[outside], scene.initial.astype(bool)[outside])
    assert (predicted != scene.initial.astype(bool)).sum() > 20  # the agents did act within the box

    whole = (refiner.refine(case, initial, region=Box.whole(scene.image.shape))[0, 0] >= 0.5).numpy()  # as before
    agreement = float((whole == predicted).mean())
    right, right_whole = (float((m == scene.label.astype(bool)).mean()) for m in (predicted, whole))
    print(f"mask's box vs whole scan: {agreement:.3%} of voxels agree; right {right:.3%} vs {right_whole:.3%}")
    assert right >= right_whole  # far from the start the whole-scan agents only added false positives (97.4% agree)


def test_a_zone_reaches_as_far_as_its_radius():
    assert click_reach((1.0, 1.0, 2.5), hint_sigma_mm=5.0, window=(32, 32, 32), act_within_mm=10.0) == (10, 10, 4)
    assert click_reach((0.8, 1.0, 3.0), hint_sigma_mm=5.0, window=(64, 64, 64), act_within_mm=7.0) == (9, 7, 3)


def _with_zone(refiner: Refiner, radius_mm: float) -> Refiner:
    refiner.env_config = dataclasses.replace(refiner.env_config, act_within_mm=radius_mm, act_one_way=True)
    return refiner


def test_agents_with_a_zone_run_only_around_it_and_refine_as_over_a_wide_region(trained_agents):
    scene = two_blob_scene(shape=(128, 40, 32))
    refiner = _with_zone(Refiner.from_checkpoint(trained_agents), radius_mm=6.0)
    case = _case(refiner, scene.image)
    click, initial = Click(scene.missed_centre, True), torch.from_numpy(scene.initial)
    counting = refiner.policy = RecordingPolicy(refiner.policy)
    p = refiner.refine(case, initial, [click])[0, 0]

    halo = [w // 2 for w in (48, 40, 32)]
    zone_box = Box(click.index, tuple(i + 1 for i in click.index)).grown((6, 6, 6), scene.image.shape)
    assert counting.shapes == [zone_box.grown(halo, scene.image.shape).shape]  # the zone's box and its halo, once
    changed = (p.numpy() >= 0.5) != scene.initial.astype(bool)
    assert changed.sum() > 20  # the agents did act around the click
    distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(np.indices(scene.image.shape), click.index)))
    assert not changed[distance > 6.0].any()  # nothing beyond the zone

    wide = Box.whole(scene.image.shape)  # the same click refined over the whole scan as one tile
    volume = case["image"].as_tensor()
    p_wide = refiner._refine_tile(volume, soft_start(initial.float()[None, None], *refiner.soft_start), wide, [], [click],
                                  refiner.spacing(case), None)[0, 0]
    within, truth = distance <= 6.0, scene.label.astype(bool)
    agreement = float(((p_wide.numpy() >= 0.5) == (p.numpy() >= 0.5))[within].mean())
    right, right_wide = (float(((q.numpy() >= 0.5) == truth)[within].mean()) for q in (p, p_wide))
    print(f"zone box vs whole scan: {agreement:.2%} of the zone's voxels agree; right {right:.2%} vs {right_wide:.2%}")
    assert agreement > 0.9
    assert right >= right_wide - 0.01


def test_a_click_far_from_the_mask_gets_the_far_zone_and_its_box(trained_agents):
    """The missed blob's centre lies 14 mm from the kept blob: with a 6 mm near zone and a 15 mm far zone its
    click may act 14 mm around it (its zone reaches the mask), a click beside the kept blob 6 mm; the policy runs on
    that click's own box, and nothing beyond its zone changes."""
    scene = two_blob_scene(shape=(64, 40, 32))
    refiner = _with_zone(Refiner.from_checkpoint(trained_agents), radius_mm=6.0)
    refiner.env_config = dataclasses.replace(refiner.env_config, act_far_mm=15.0)
    case = _case(refiner, scene.image)
    initial = torch.from_numpy(scene.initial)
    p0 = soft_start(initial.float(), *refiner.soft_start)
    far, beside = Click(scene.missed_centre, True), Click((23, 20, 16), True)
    reach = refiner.click_reaches(case, p0, [far, beside])
    assert reach == [(14, 14, 14), (6, 6, 6)]  # the kept blob's nearest voxel: (22, 20, 16), 14 mm from the far click
    counting = refiner.policy = RecordingPolicy(refiner.policy)
    p = refiner.refine(case, initial, [far])[0, 0]
    halo = [w // 2 for w in (48, 40, 32)]
    zone_box = Box(far.index, tuple(i + 1 for i in far.index)).grown(reach[0], scene.image.shape)
    assert counting.shapes == [zone_box.grown(halo, scene.image.shape).shape]
    changed = (p.numpy() >= 0.5) != scene.initial.astype(bool)
    distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(np.indices(scene.image.shape), far.index)))
    assert changed.sum() > 20 and not changed[distance > reach[0][0]].any()


def test_a_click_refinement_computes_no_reward(trained_agents, monkeypatch):
    """Greedy inference needs no reward: refining a click never computes the reward's target."""
    import medrl.env.environment as environment

    def no_reward_target(*args):
        raise AssertionError("the reward's target was computed during inference")

    scene = two_blob_scene(shape=(64, 40, 32))
    refiner = _with_zone(Refiner.from_checkpoint(trained_agents), radius_mm=6.0)
    case = _case(refiner, scene.image)
    monkeypatch.setattr(environment, "reward_target", no_reward_target)
    p = refiner.refine(case, torch.from_numpy(scene.initial), [Click(scene.missed_centre, True)])[0, 0]
    assert ((p.numpy() >= 0.5) != scene.initial.astype(bool)).sum() > 20  # the agents did act
