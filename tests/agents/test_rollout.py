"""Rollout of K interactions × S steps, the loss built from it, and one update, for voxel and region agents."""

from __future__ import annotations

import pytest
import torch

from medrl.agents.a2c import A2CConfig, a2c_update, compute_loss
from medrl.agents.losses import behaviour_cloning_loss, value_loss
from medrl.agents.policy import PolicyValueNet
from medrl.agents.rollout import rollout
from medrl.env.environment import EnvConfig, RefinementEnv
from medrl.env.regions import grid_regions
from medrl.env.state import soft_start
from tests.policies import RecordingPolicy


def small_policy(**kwargs) -> PolicyValueNet:
    torch.manual_seed(0)
    return PolicyValueNet(channels=(4, 8), strides=(2,), **kwargs)


def reset_env(batch, region_agents: bool) -> RefinementEnv:
    env = RefinementEnv(EnvConfig(seed=0))
    regions = None
    if region_agents:
        regions = torch.from_numpy(grid_regions((12, 12, 12), (4, 4, 4))).expand(2, 12, 12, 12)
    env.reset(batch.image, soft_start(batch.initial), label=batch.label, regions=regions)
    return env


@pytest.mark.parametrize("region_agents, n_agents", [(False, 12**3), (True, 27)])
def test_rollout_shapes(tiny_batch, region_agents, n_agents):
    env = reset_env(tiny_batch, region_agents)
    b = rollout(env, small_policy(), interactions=2, steps=3)
    steps = 2 * 3
    assert b.b_logits.shape == (steps, 2, 7, n_agents) and b.b_logits.requires_grad
    assert b.b_values.shape == b.b_actions.shape == b.b_rewards.shape == b.b_valid.shape == (steps, 2, n_agents)
    assert b.b_oracle_actions.shape == (steps, 2, n_agents) and b.b_actions.dtype == torch.int64
    assert b.bootstrap_value.shape == (2, n_agents) and not b.bootstrap_value.requires_grad
    assert b.dice_before.shape == b.dice_after.shape == (2, 2)
    assert len(env.clicks[0]) == 2  # one robot click per interaction
    assert (b.volume_shape is None) == region_agents


def test_rollout_records_the_environment_rewards(tiny_batch):
    env = reset_env(tiny_batch, region_agents=False)
    b = rollout(env, small_policy(), interactions=1, steps=1, sample=False)
    # replay the recorded actions from the same start: the rewards must match
    replay = reset_env(tiny_batch, region_agents=False)
    replay.add_clicks()
    _, reward_map = replay.step(b.b_actions[0])
    assert torch.equal(b.b_rewards[0], reward_map.flatten(1))
    assert torch.equal(b.b_actions[0], b.b_logits[0].argmax(1))


def test_loss_parts_and_warm_start(tiny_batch):
    env = reset_env(tiny_batch, region_agents=False)
    b = rollout(env, small_policy(), interactions=2, steps=1)
    config = A2CConfig(cloning_weight=0.5)
    terms = compute_loss(b, config)
    by_hand = terms.policy + terms.value - 0.01 * terms.entropy + 0.5 * terms.cloning
    assert terms.total.item() == pytest.approx(by_hand.item(), abs=1e-5)
    warm = compute_loss(b, config, warm_start=True)
    cloning = behaviour_cloning_loss(b.b_logits, b.b_oracle_actions, b.b_valid, action_dim=2)
    assert warm.total.item() == pytest.approx((cloning + warm.value).item(), abs=1e-5)
    pure = compute_loss(b, A2CConfig(cloning_weight=0.0))
    assert pure.cloning.item() == 0.0
    assert pure.total.item() == pytest.approx((pure.policy + pure.value - 0.01 * pure.entropy).item(), abs=1e-5)


def test_returns_bootstrap_or_terminal(tiny_batch):
    env = reset_env(tiny_batch, region_agents=False)
    b = rollout(env, small_policy(), interactions=1, steps=1)
    terminal = compute_loss(b, A2CConfig(bootstrap=False, cloning_weight=0.0))
    b_returns = b.b_rewards  # one step, terminal: R = r
    assert terminal.value.item() == pytest.approx(value_loss(b_returns, b.b_values, b.b_valid).item(), abs=1e-5)


def test_a_terminal_update_skips_the_final_states_forward_and_learns_the_same(tiny_batch):
    losses, calls = [], []
    for bootstrap in (True, False):
        policy = RecordingPolicy(small_policy())
        torch.manual_seed(5)
        b = rollout(reset_env(tiny_batch, region_agents=False), policy, interactions=2, steps=1, bootstrap=bootstrap)
        losses.append(compute_loss(b, A2CConfig(bootstrap=False, cloning_weight=0.5)).total.item())
        calls.append(len(policy.shapes))
    assert calls == [3, 2]  # two acting steps, and the final state's value only when bootstrapping
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)
    assert torch.count_nonzero(b.bootstrap_value) == 0 and b.bootstrap_value.shape == (2, 12**3)


@pytest.mark.parametrize("region_agents", [False, True])
def test_update_changes_the_policy(tiny_batch, region_agents):
    policy = small_policy(reward_map_kernel=3)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in policy.parameters()]
    b = rollout(reset_env(tiny_batch, region_agents), policy, interactions=1, steps=2)
    terms = a2c_update(policy, optimizer, b, A2CConfig(max_grad_norm=1.0), update=0)
    assert all(torch.isfinite(value) and not value.requires_grad for value in terms) and terms.cloning > 0
    changed = [not torch.equal(p0, p1) for p0, p1 in zip(before, policy.parameters())]
    assert sum(changed) >= len(changed) - 1
    reward_conv_changed = not torch.equal(before[-1], policy.reward_conv.conv.weight)
    assert reward_conv_changed != region_agents  # the reward-map convolution serves voxel agents only


def test_sampled_actions_follow_the_softmax():
    from medrl.agents.rollout import sample_actions

    torch.manual_seed(0)
    logits = torch.log(torch.tensor([0.1, 0.6, 0.3])).view(1, 3, 1).expand(1, 3, 20000)
    frequencies = torch.bincount(sample_actions(logits)[0], minlength=3).float() / 20000
    torch.testing.assert_close(frequencies, torch.tensor([0.1, 0.6, 0.3]), atol=0.015, rtol=0)


def test_the_anchor_holds_unknown_agents_to_the_reference(tiny_batch):
    from medrl.agents.losses import anchor_loss

    env = reset_env(tiny_batch, region_agents=False)
    known = torch.zeros_like(env.valid)
    known[..., :3] = True  # the target is known on a slab only
    env.reset(env.image, env.p, label=env.label, label_valid=known)
    policy, reference = small_policy(), PolicyValueNet(channels=(4, 8), strides=(2,))  # another random policy
    b = rollout(env, policy, interactions=1, steps=2, reference=reference)
    assert b.b_reference_logits.shape == b.b_logits.shape and not b.b_reference_logits.requires_grad
    config = A2CConfig(cloning_weight=0.0, anchor_weight=2.0)
    terms = compute_loss(b, config)
    assert terms.anchor.item() == pytest.approx(anchor_loss(b.b_logits, b.b_reference_logits, ~b.b_valid, 2).item())
    assert terms.anchor.item() > 0  # two different random policies disagree
    plain = compute_loss(b, A2CConfig(cloning_weight=0.0))
    assert terms.total.item() == pytest.approx((plain.total + 2.0 * terms.anchor).item(), abs=1e-5)
    same = rollout(reset_env(tiny_batch, region_agents=False), policy, interactions=1, steps=1, reference=policy)
    assert compute_loss(same, config).anchor.item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="reference"):
        compute_loss(rollout(env, policy, interactions=1, steps=1), config)


def test_initial_steps_act_before_any_click(tiny_batch):
    env = reset_env(tiny_batch, region_agents=False)
    b = rollout(env, small_policy(), interactions=2, steps=1, initial_steps=2)
    assert b.b_logits.shape[0] == 4 and b.dice_before.shape[0] == 2  # 2 unaided steps + 2 interactions × 1 step
    assert [len(c) for c in env.clicks] == [2, 2]  # the robot clicked only in the two interactions


def test_only_the_trained_steps_keep_their_graph_and_their_logits_chose_the_actions(tiny_batch):
    policy = small_policy()
    torch.manual_seed(3)
    b = rollout(reset_env(tiny_batch, region_agents=False), policy, interactions=3, steps=1, sample=False, trained_steps=2)
    assert b.b_steps.tolist() in ([0, 1], [0, 2], [1, 2]) and b.b_logits.shape[0] == 2 and b.b_logits.requires_grad
    assert b.b_actions.shape[0] == b.b_rewards.shape[0] == 3
    for row, step in enumerate(b.b_steps.tolist()):  # greedy actions are the argmax of the kept logits
        assert torch.equal(b.b_actions[step], b.b_logits[row].argmax(1))
    terms = compute_loss(b, A2CConfig(cloning_weight=0.5))
    terms.total.backward()
    assert all(p.grad is not None for p in policy.parameters())
    with torch.no_grad():
        evaluation = rollout(reset_env(tiny_batch, region_agents=False), policy, interactions=3, steps=1, sample=False)
    assert evaluation.b_logits.shape[0] == 3 and not evaluation.b_logits.requires_grad


def test_the_cloning_loss_weighs_the_agents_whose_mask_was_wrong(tiny_batch):
    env = reset_env(tiny_batch, region_agents=False)
    wrong_at_start = (env.mask() != (env.target >= 0.5)).flatten(1)
    b = rollout(env, small_policy(), interactions=1, steps=1)
    known = env.known.flatten(1)
    assert torch.equal(b.b_wrong[0][known], wrong_at_start[known])  # the clicks change no p: wrong as at the start
    assert b.b_wrong[0].any() and not b.b_wrong[0].all()
    weighted = compute_loss(b, A2CConfig(error_weight=4.0), warm_start=True)
    weight = 1.0 + 3.0 * b.b_wrong.float()
    by_hand = behaviour_cloning_loss(b.b_logits, b.b_oracle_actions, b.b_valid, action_dim=2, weight=weight)
    assert weighted.cloning.item() == pytest.approx(by_hand.item(), abs=1e-6)
    plain = compute_loss(b, A2CConfig(), warm_start=True)
    assert plain.cloning.item() != pytest.approx(weighted.cloning.item(), abs=1e-4)
