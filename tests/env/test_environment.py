"""The batched environment: reset, clicks that override the target, steps, agent views."""

from __future__ import annotations

import math

import pytest
import torch

from medrl.env.actions import ActionSet
from medrl.env.clicks import Click
from medrl.env.environment import EnvConfig, RefinementEnv, click_depth_mm, click_hint_sigma_mm, zone_radius_mm
from medrl.env.rewards.ce_gain import relative_ce_gain
from medrl.env.rewards.target import reward_target
from medrl.env.state import soft_start
from medrl.errors import MedrlInputError

KEEP, MINUS_04, PLUS_04 = 3, 0, 6
GAIN_04 = math.log(0.65 / 0.25)  # reward of a soft-started voxel moved 0.4 the right way


def cube_batch(batch: int = 2, size: int = 7):
    """Labels: a 3³ cube in the centre. Starting masks: empty. Images: the label."""
    label = torch.zeros(batch, 1, size, size, size)
    label[:, :, 2:5, 2:5, 2:5] = 1
    return label.clone(), torch.zeros_like(label, dtype=torch.bool), label


def make_env(regions=None, **config):
    image, initial, label = cube_batch()
    env = RefinementEnv(EnvConfig(**config))
    state = env.reset(image, soft_start(initial), label=label, regions=regions)
    return env, state, label


def test_reset_builds_the_state():
    env, state, _ = make_env()
    assert state.shape == (2, 4, 7, 7, 7) and state.dtype == torch.float32
    assert torch.equal(state[:, 0:1], env.image) and (state[:, 1] == 0.25).all() and not state[:, 2:].any()
    assert env.valid.all() and env.agents.n_agents == 7**3


def test_keep_earns_zero_and_changes_nothing():
    env, state, _ = make_env()
    next_state, reward = env.step(torch.full((2, 7**3), KEEP))
    assert torch.equal(next_state, state) and reward.shape == (2, 1, 7, 7, 7) and (reward == 0).all()


def test_step_applies_clips_and_rewards_by_the_formula():
    env, _, label = make_env()
    actions = torch.where(label[:, 0] == 1, PLUS_04, MINUS_04)  # a (B, D, H, W) map is accepted too
    p_before = env.p.clone()
    _, reward = env.step(actions)
    assert torch.allclose(env.p, torch.where(label == 1, 0.65, 0.0))  # 0.25 - 0.4 clips to 0
    assert torch.allclose(reward, relative_ce_gain(p_before, env.p, label))
    assert reward[label == 1].allclose(torch.tensor(GAIN_04))
    assert (env.dice() == 1).all()


def test_move_is_a_step_without_its_reward_and_no_reward_target_is_computed_until_read(monkeypatch):
    import medrl.env.environment as environment

    computed = []
    monkeypatch.setattr(environment, "reward_target", lambda *args: computed.append(1) or reward_target(*args))
    stepped, _, label = make_env()
    moved, _, _ = make_env()
    first, second = torch.where(label[:, 0] == 1, PLUS_04, MINUS_04), torch.full((2, 7**3), PLUS_04)
    for env in (stepped, moved):
        env.add_clicks([[Click((3, 3, 3), True)], [Click((0, 0, 0), False)]])
    computed.clear()
    moved.move(first)
    assert not computed  # greedy inference: clicks and moves, no reward's target
    stepped.step(first)
    assert torch.equal(moved.p, stepped.p)
    assert torch.equal(moved.step(second)[1], stepped.step(second)[1])  # the step after a move: the same reward
    assert len(computed) == 2  # once per environment, for its first reward
    assert torch.equal(moved.target, stepped.target) and len(computed) == 2  # then kept


def test_robot_clicks_label_voxels_and_hint_the_state():
    env, _, _ = make_env()
    clicks = env.add_clicks()
    assert clicks == [[Click((3, 3, 3), True)], [Click((3, 3, 3), True)]]
    assert env.clinician_mask.sum() == 2 and env.clinician_label[:, 0, 3, 3, 3].tolist() == [1.0, 1.0]
    assert (env.state()[:, 2, 3, 3, 3] == 1).all() and not env.state()[:, 3].any()


def test_clicks_override_the_dataset_label_with_their_weight():
    env, _, _ = make_env(clinician_weight=2.0)
    env.add_clicks([[Click((0, 0, 0), True)], []])  # the clinician disagrees with the label at (0, 0, 0)
    _, reward = env.step(torch.full((2, 7**3), PLUS_04))
    assert env.target[0, 0, 0, 0, 0] == 1 and env.weight[0, 0, 0, 0, 0] == 2.0
    assert reward[0, 0, 0, 0, 0].item() == pytest.approx(2 * GAIN_04, abs=1e-5)
    assert reward[1, 0, 0, 0, 0].item() == pytest.approx(math.log(0.35 / 0.75), abs=1e-5)  # label 0 there


def test_without_ground_truth_only_clicked_voxels_earn_rewards():
    image, initial, _ = cube_batch(batch=1)
    env = RefinementEnv(EnvConfig(click_radius_mm=1.0))
    env.reset(image, soft_start(initial))
    assert not env.valid.any() and torch.isnan(env.dice()).all()
    with pytest.raises(MedrlInputError, match="label"):
        env.add_clicks()
    env.add_clicks([[Click((3, 3, 3), True)]])
    assert int(env.valid.sum()) == 7  # a ball of 1 mm: the voxel and its 6 face neighbours
    _, reward = env.step(torch.full((1, 7**3), PLUS_04))
    assert (reward[env.valid] > 0).all() and (reward[~env.valid] == 0).all()


def test_region_agents_share_the_api():
    regions = (torch.arange(7).view(1, 7, 1, 1) >= 2).long().expand(2, 7, 7, 7)  # slices 0-1 | slices 2-6
    env, _, label = make_env(regions=regions)
    assert env.agents.n_agents == 2 and env.agent_valid().all()
    # region 0 (98 voxels) holds no foreground: -0.4 is best. Region 1 holds 27 foreground and 218
    # background voxels at p = 0.25; summed rewards: -0.1 gains 218·ln(0.9/0.75) − 27·ln(0.25/0.15)
    # ≈ 25.9, -0.2 gains 218·ln(0.95/0.75) − 27·ln(0.25/0.05) ≈ 8.1, -0.4 loses (27·ln(0.25/1e-6))
    assert env.oracle_actions()[0].tolist() == [MINUS_04, 2]
    _, reward = env.step(torch.tensor([[MINUS_04, PLUS_04], [KEEP, KEEP]]))
    assert torch.allclose(env.p[0, 0, :2], torch.zeros(2, 7, 7)) and (env.p[1] == 0.25).all()
    agent_rewards = env.agent_rewards(reward)
    background_gain = math.log(1.0 / 0.75)  # 0.25 -> 0 with y = 0 (1 − eps ≈ 1)
    by_hand_region_1 = (27 * GAIN_04 + 218 * math.log(0.35 / 0.75)) / 245  # 0.25 -> 0.65, y = 0 loses
    assert agent_rewards[0].tolist() == pytest.approx([background_gain, by_hand_region_1], abs=1e-4)
    assert agent_rewards[1].tolist() == [0.0, 0.0]


def test_boundary_weighting_weighs_the_boundary_more():
    env, _, label = make_env(boundary_gain=1.0, boundary_sigma_mm=1.0)
    assert env.weight[0, 0, 3, 3, 3] < env.weight[0, 0, 2, 3, 3]  # centre of the cube vs its face
    assert env.weight[0, 0, 1, 3, 3].item() == pytest.approx(1 + math.exp(-0.5))
    assert env.weight.min() >= 1


def test_robot_seed_replays_the_episode():
    target = torch.zeros(1, 1, 8, 8, 8)
    target[..., 2:6, 2:6, 2:6] = 1  # an even cube: the click's voxel is a seeded tie-break
    env = RefinementEnv(EnvConfig(seed=3))
    runs = []
    for _ in range(2):
        env.reset(target, soft_start(torch.zeros_like(target)), label=target, seed=3)
        runs.append(env.add_clicks())
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"p0": torch.full((2, 1, 7, 7, 6), 0.5)}, "p0"),
        ({"label": torch.zeros(1, 1, 7, 7, 7)}, "label"),
        ({"label": torch.full((2, 1, 7, 7, 7), 2.0)}, "label"),
        ({"p0": torch.full((2, 1, 7, 7, 7), 1.5)}, "p0"),
        ({"spacing": (1.0, 0.0, 1.0)}, "spacing"),
        ({"regions": torch.zeros(2, 7, 7, 6, dtype=torch.long)}, "regions"),
    ],
)
def test_bad_inputs_are_user_errors(kwargs, name):
    image = torch.zeros(2, 1, 7, 7, 7)
    arguments = {"p0": torch.full_like(image, 0.5), **kwargs}
    with pytest.raises(MedrlInputError, match=name):
        RefinementEnv().reset(image, **arguments)


def test_dice_by_hand():
    env, _, label = make_env()
    env.step(torch.where(label[:, 0].flatten(1) == 1, PLUS_04, KEEP))  # the whole cube
    assert env.dice().tolist() == [1.0, 1.0]
    env.p[0, 0, 0, 0, 0:9] = 1.0  # 7 false positives in row 0 (the row has 7 voxels)
    assert env.dice()[0].item() == pytest.approx(2 * 27 / (27 + 34))


def test_action_set_is_configurable():
    env, _, _ = make_env(deltas=(-0.5, 0.5))
    assert env.actions == ActionSet((-0.5, 0.5))
    env.step(torch.ones(2, 7**3, dtype=torch.long))
    assert (env.p == 0.75).all()


def test_partial_labels_restrict_clicks_rewards_and_dice():
    image, initial, label = cube_batch(batch=1)
    known = torch.zeros_like(label, dtype=torch.bool)
    known[..., :3] = True  # only the first 3 slices along W are labelled
    env = RefinementEnv()
    env.reset(image, soft_start(initial), label=label, label_valid=known)
    assert torch.equal(env.valid, known)
    (clicks,) = env.add_clicks()
    assert clicks == [Click((3, 3, 2), True)]  # the centre of the cube's known part
    _, reward = env.step(torch.full((1, 7**3), PLUS_04))
    assert (reward[~env.valid] == 0).all()
    # within the known slab (7·7·3 = 147 voxels, all now in the mask), the cube has 3·3·1 = 9
    assert env.dice().item() == pytest.approx(2 * 9 / (9 + 147))


def test_spacing_per_volume_shapes_the_hints():
    image, initial, label = cube_batch()
    env = RefinementEnv(EnvConfig(hint_sigma_mm=1.0))
    env.reset(image, soft_start(initial), label=label, spacing=[(1.0, 1.0, 1.0), (2.0, 1.0, 1.0)])
    env.add_clicks([[Click((3, 3, 3), True)], [Click((3, 3, 3), True)]])
    assert env.hints[0, 0, 2, 3, 3].item() == pytest.approx(math.exp(-0.5))  # 1 mm from the click
    assert env.hints[1, 0, 2, 3, 3].item() == pytest.approx(math.exp(-2.0))  # 2 mm from the click


def test_corrections_alone_train_a_volume_without_label():
    image, initial, _ = cube_batch(batch=1)
    corrections = torch.zeros(1, 1, 7, 7, 7, dtype=torch.uint8)
    corrections[0, 0, 3, 3, 1:4] = 2  # three voxels painted foreground
    corrections[0, 0, 0, 0, 0] = 1  # one marked background
    env = RefinementEnv(EnvConfig(clinician_weight=2.0))
    env.reset(image, soft_start(initial), corrections=corrections)
    assert torch.equal(env.valid, corrections > 0) and (env.weight[corrections > 0] == 2.0).all()
    assert not env.hints.any() and (env.p == 0.25).all()  # corrections are targets, not applied or hinted
    (clicks,) = env.add_clicks()
    assert clicks == [Click((3, 3, 2), True)]  # the deepest voxel of the painted run, not the marked background
    _, reward = env.step(torch.full((1, 7**3), PLUS_04))
    assert (reward[~env.valid] == 0).all()
    assert reward[0, 0, 3, 3, 1].item() == pytest.approx(2.0 * GAIN_04)
    assert reward[0, 0, 0, 0, 0].item() < 0  # the marked-background voxel went the wrong way
    assert env.dice().isnan().all()


def test_corrections_override_the_label_and_the_robot_follows_them():
    image, initial, label = cube_batch(batch=1)
    corrections = torch.zeros(1, 1, 7, 7, 7, dtype=torch.uint8)
    corrections[0, 0, 2:5, 2:5, 2:5] = 1  # a clinician says the whole labelled cube is background
    env = RefinementEnv()
    env.reset(image, soft_start(~initial), label=label, corrections=corrections)  # start: everything foreground
    assert (env.target == 0).all() and env.valid.all()
    (clicks,) = env.add_clicks()
    assert clicks == [Click((3, 3, 3), False)]  # one error component: all of it, deepest in the cube's centre


def test_dice_is_nan_for_a_volume_with_no_known_voxel():
    image, initial, label = cube_batch()
    known = torch.ones_like(label, dtype=torch.bool)
    known[1] = False
    env = RefinementEnv()
    env.reset(image, soft_start(initial), label=label, label_valid=known)
    dice = env.dice()
    assert dice[0].item() == 0.0 and dice[1].isnan()


def test_corrections_must_hold_0_1_2():
    image, initial, label = cube_batch(batch=1)
    with pytest.raises(MedrlInputError, match="corrections"):
        RefinementEnv().reset(image, soft_start(initial), label=label, corrections=torch.full_like(label, 3))


def test_do_no_harm_zone_keeps_every_voxel_the_interaction_gives_no_reason_to_change():
    env, _, _ = make_env(act_within_mm=1.8)
    everyone_up = torch.full((2, 7**3), PLUS_04)
    env.step(everyone_up)
    assert (env.p == 0.25).all()  # before the first click nothing may change
    assert not env.agent_valid().any()
    env.add_clicks([[Click((3, 3, 3), True)], []])
    env.step(everyone_up)
    changed = env.p[:, 0] != 0.25
    near = torch.zeros(7, 7, 7, dtype=torch.bool); near[2:5, 2:5, 2:5] = True  # within 1.8 mm (> √3): the 26 neighbours and itself
    assert torch.equal(changed[0], near) and not changed[1].any()
    assert torch.equal(env.agent_valid()[0].view(7, 7, 7), near) and not env.agent_valid()[1].any()
    env.add_clicks([[Click((0, 0, 0), False)], []])  # the next interaction's zone is its own clicks'
    before = env.p.clone()
    env.step(torch.full((2, 7**3), MINUS_04))
    moved = (env.p != before)[0, 0]
    assert moved[:2, :2, :2].all() and int(moved.sum()) == 8 and (env.p[0, 0, 3, 3, 3] == before[0, 0, 3, 3, 3])


def test_one_way_zones_only_raise_around_positive_clicks():
    env, _, _ = make_env(act_within_mm=1.8, act_one_way=True)
    env.add_clicks([[Click((3, 3, 3), True)], [Click((3, 3, 3), False)]])
    env.step(torch.full((2, 7**3), MINUS_04))
    assert (env.p[0] == 0.25).all()  # a positive click's zone may not lower
    assert (env.p[1, 0, 2:5, 2:5, 2:5] < 0.25).all() and int((env.p[1] < 0.25).sum()) == 27  # a negative one may
    env.step(torch.full((2, 7**3), PLUS_04))
    assert int((env.p[0] > 0.25).sum()) == 27 and (env.p[1, 0, 2:5, 2:5, 2:5] < 0.25).all()


def test_depth_scaled_zone_is_sized_by_the_error_the_click_sits_in():
    """A line of 15 voxels (1 mm), the mask 0..9 foreground. A negative click at voxel 8 sits 2 mm from
    the nearest background voxel (10): with scale 1.5 its zone reaches 3 mm (voxels 5..11) and cannot
    erase the rest of the mask; a positive click at 14 then sits 10 mm from the mask (0..4): its zone is capped at 4 mm."""
    image = torch.zeros(1, 1, 1, 1, 15)
    start = torch.zeros_like(image); start[..., :10] = 1
    config = EnvConfig(act_within_mm=4.0, act_within_depth_scale=1.5, act_one_way=True)
    env = RefinementEnv(config)
    env.reset(image, soft_start(start.bool()), label=start)
    env.add_clicks([[Click((0, 0, 8), False)]])
    before = env.p.clone()
    env.step(torch.full((1, 15), MINUS_04))
    lowered = (env.p < before)[0, 0, 0, 0].nonzero().flatten().tolist()
    assert lowered == [5, 6, 7, 8, 9, 10, 11]  # 3 mm around 8
    env.add_clicks([[Click((0, 0, 14), True)]])
    before = env.p.clone()
    env.step(torch.full((1, 15), PLUS_04))
    raised = (env.p > before)[0, 0, 0, 0].nonzero().flatten().tolist()
    assert raised == [10, 11, 12, 13, 14]  # min(4 mm, 1.5 × 10 mm) around 14
    assert EnvConfig(act_within_depth_scale=[0, 1.5]).act_within_depth_scale == (0.0, 1.5)
    negative_only = RefinementEnv(EnvConfig(act_within_mm=4.0, act_within_depth_scale=(0.0, 1.5), act_one_way=True))
    negative_only.reset(image, soft_start(start.bool()), label=start)
    negative_only.add_clicks([[Click((0, 0, 8), False), Click((0, 0, 14), True)]])  # negative: 3 mm, positive: 4 mm
    negative_only.step(torch.full((1, 15), MINUS_04))
    assert (negative_only.p < soft_start(start.bool()))[0, 0, 0, 0].nonzero().flatten().tolist() == [5, 6, 7, 8, 9, 10, 11]
    negative_only.step(torch.full((1, 15), PLUS_04))
    assert (negative_only.p[0, 0, 0, 0, 10:] > 0.25).all()  # the positive click's zone: 4 mm, not scaled
    fixed = RefinementEnv(EnvConfig(act_within_mm=4.0, act_one_way=True))
    fixed.reset(image, soft_start(start.bool()), label=start)
    fixed.add_clicks([[Click((0, 0, 8), False)]])
    fixed.step(torch.full((1, 15), MINUS_04))
    assert (fixed.p[0, 0, 0, 0, :10] < 0.75).nonzero().flatten().tolist() == [4, 5, 6, 7, 8, 9]  # without depth: 4 mm

def test_far_zone_widens_a_positive_click_the_mask_missed_entirely():
    """A line of 40 voxels (1 mm), the mask 0..4 foreground. With act_within_mm 3 and act_far_mm 12: a positive
    click at 6 (2 mm from the mask) keeps its 3 mm zone; one at 30 (26 mm away) gets 12 mm; on an empty mask 12 mm;
    negative clicks are untouched by act_far_mm, and the widest zone's radius is what a click's box must reach."""
    image = torch.zeros(1, 1, 1, 1, 40)
    start = torch.zeros_like(image); start[..., :5] = 1
    config = EnvConfig(act_within_mm=3.0, act_far_mm=12.0, act_one_way=True)
    assert config.zone_reach_mm == 12.0 and EnvConfig(act_far_mm=12.0).zone_reach_mm == 0.0  # no zone, no reach

    def changed_by(click_index: int, mask: torch.Tensor, positive: bool = True) -> list[int]:
        env = RefinementEnv(config)
        env.reset(image, soft_start(mask.bool()), label=mask)
        env.add_clicks([[Click((0, 0, click_index), positive)]])
        before = env.p.clone()
        env.step(torch.full((1, 40), PLUS_04 if positive else MINUS_04))
        return (env.p != before)[0, 0, 0, 0].nonzero().flatten().tolist()

    assert changed_by(6, start) == [3, 4, 5, 6, 7, 8, 9]  # near the mask: the 3 mm zone
    assert changed_by(30, start) == list(range(18, 40))  # 26 mm from the mask: 12 mm
    assert changed_by(30, torch.zeros_like(image)) == list(range(18, 40))  # an empty mask: 12 mm
    assert changed_by(2, start, positive=False) == [0, 1, 2, 3, 4, 5]  # a negative click: its 3 mm zone
    both = RefinementEnv(config)  # two positive clicks of one interaction: each keeps its own zone
    both.reset(image, soft_start(start.bool()), label=start)
    both.add_clicks([[Click((0, 0, 6), True), Click((0, 0, 30), True)]])
    before = both.p.clone()
    both.step(torch.full((1, 40), PLUS_04))
    assert (both.p != before)[0, 0, 0, 0].nonzero().flatten().tolist() == [3, 4, 5, 6, 7, 8, 9] + list(range(18, 40))
    near = RefinementEnv(EnvConfig(act_within_mm=3.0, act_far_mm=12.0, act_one_way=True))
    near.reset(image, soft_start(start.bool()), label=start)
    near.add_clicks([[Click((0, 0, 12), True)]])  # 8 mm from the mask: its zone reaches the mask's edge, 8 mm
    before = near.p.clone()
    near.step(torch.full((1, 40), PLUS_04))
    assert (near.p > before)[0, 0, 0, 0].nonzero().flatten().tolist() == list(range(4, 21))


def test_click_depth_is_searched_up_to_its_horizon_only():
    p = torch.full((1, 1, 30), 0.25); p[..., 20:] = 0.75  # foreground from voxel 20; 2 mm voxels along the line
    spacing = (1.0, 1.0, 2.0)
    assert click_depth_mm(p, Click((0, 0, 15), True), spacing, horizon_mm=12.0) == 10.0
    assert click_depth_mm(p, Click((0, 0, 15), True), spacing, horizon_mm=9.0) == float("inf")  # beyond the horizon
    assert click_depth_mm(p, Click((0, 0, 25), False), spacing, horizon_mm=20.0) == 12.0  # the nearest background: 19
    assert click_depth_mm(p, Click((0, 0, 40), True), spacing, horizon_mm=50.0) == 22.0  # off the grid: voxel 29
    config = EnvConfig(act_within_mm=10.0, act_within_depth_scale=(0.0, 2.0), act_far_mm=20.0)
    assert config.depth_horizon_mm == 20.0 and EnvConfig(act_within_mm=10.0, act_within_depth_scale=0.5).depth_horizon_mm == 20.0
    assert [zone_radius_mm(config, True, d) for d in (0.0, 14.0, float("inf"))] == [10.0, 14.0, 20.0]
    assert [zone_radius_mm(config, False, d) for d in (1.0, float("inf"))] == [2.0, 10.0]


def test_depth_scaled_hints_widen_with_the_error_a_click_sits_in_and_narrow_once_it_is_mended():
    """A line of 60 voxels (1 mm), σ = 2 mm, scale 0.5, widest σ 8 mm. A positive click at 30 on a mask that is
    foreground from 44 sits 14 mm deep: σ = 7 mm; one at 10, 34 mm deep (beyond the 16 mm horizon), σ = 8 mm; one at
    42, 2 mm deep, keeps 2 mm, and so does one on an empty mask (nothing tells its error's size). Once the mask reaches
    the click (the error mended), the next interaction's hint of that click is 2 mm again."""
    image = torch.zeros(1, 1, 1, 1, 60)
    config = EnvConfig(hint_sigma_mm=2.0, hint_depth_scale=0.5, hint_sigma_max_mm=8.0)
    assert config.widest_hint_sigma_mm == 8.0 and EnvConfig(hint_sigma_max_mm=8.0).widest_hint_sigma_mm == 5.0
    assert [click_hint_sigma_mm(config, d) for d in (0.0, 2.0, 14.0, 30.0, float("inf"))] == [2.0, 2.0, 7.0, 8.0, 8.0]

    def hint_at(mask: torch.Tensor, click: int, voxel: int) -> float:
        env = RefinementEnv(config)
        env.reset(image, soft_start(mask.bool()))
        env.add_clicks([[Click((0, 0, click), True)]])
        return float(env.hints[0, 0, 0, 0, voxel])

    partial = torch.zeros_like(image); partial[..., 44:] = 1
    gaussian = lambda d, sigma: math.exp(-d**2 / (2 * sigma**2))  # noqa: E731
    assert hint_at(partial, 30, 37) == pytest.approx(gaussian(7, 7.0), rel=1e-5)
    assert hint_at(partial, 10, 18) == pytest.approx(gaussian(8, 8.0), rel=1e-5)
    assert hint_at(torch.zeros_like(image), 30, 34) == pytest.approx(gaussian(4, 2.0), rel=1e-5)
    assert hint_at(partial, 42, 38) == pytest.approx(gaussian(4, 2.0), rel=1e-5)

    env = RefinementEnv(config)
    env.reset(image, soft_start(partial.bool()))
    env.add_clicks([[Click((0, 0, 30), True)]])
    assert float(env.hints[0, 0, 0, 0, 34]) == pytest.approx(gaussian(4, 7.0), rel=1e-5)
    env.move(torch.where(torch.arange(60) >= 28, PLUS_04, KEEP).reshape(1, 60))  # the error mended from 28 on
    env.add_clicks([[Click((0, 0, 10), False)]])  # the next interaction: a negative click on a right voxel
    assert float(env.hints[0, 0, 0, 0, 34]) == pytest.approx(gaussian(4, 2.0), rel=1e-5)  # the first click: 0 mm deep
    assert float(env.hints[0, 1, 0, 0, 8]) == pytest.approx(gaussian(2, 2.0), rel=1e-5)


def test_geodesic_hints_stop_at_an_edge():
    image = torch.zeros(1, 1, 1, 1, 9); image[..., 5:] = 1.0
    env = RefinementEnv(EnvConfig(geodesic_weight=50.0, hint_sigma_mm=3.0))
    env.reset(image, torch.full_like(image, 0.25))
    env.add_clicks([[Click((0, 0, 2), True)]])
    hint = env.hints[0, 0, 0, 0]
    assert hint[2] == 1.0 and hint[4] == pytest.approx(math.exp(-4 / 18), rel=1e-5)  # 2 mm along the same tissue
    assert hint[5] < 1e-6  # across the edge: 50 mm away
