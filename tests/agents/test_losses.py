"""A2C losses: hand-computed tensors, and returns/advantages against a plain Python loop."""

from __future__ import annotations

import math

import pytest
import torch

from medrl.agents.losses import (
    a2c_loss,
    advantages,
    anchor_loss,
    behaviour_cloning_loss,
    discounted_returns,
    entropy_bonus,
    masked_mean,
    policy_loss,
    value_loss,
)


def test_discounted_returns_by_hand():
    rewards = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0]])  # T = 3 steps, 2 agents
    returns = discounted_returns(rewards, bootstrap_value=torch.tensor([10.0, 4.0]), gamma=0.5)
    # agent 0: R2 = 3 + 0.5·10 = 8, R1 = 2 + 0.5·8 = 6, R0 = 1 + 0.5·6 = 4
    # agent 1: R2 = -1 + 0.5·4 = 1, R1 = 1 + 0.5·1 = 1.5, R0 = 0 + 0.5·1.5 = 0.75
    assert returns.tolist() == [[4.0, 0.75], [6.0, 1.5], [8.0, 1.0]]


@pytest.mark.parametrize("gamma", [0.0, 0.95, 1.0])
def test_returns_and_advantages_match_a_python_loop(gamma):
    generator = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(4, 2, 5, generator=generator), torch.randn(4, 2, 5, generator=generator)
    bootstrap = torch.randn(2, 5, generator=generator)
    returns = discounted_returns(rewards, bootstrap, gamma)
    for b in range(2):
        for agent in range(5):
            running = bootstrap[b, agent].item()
            for t in reversed(range(4)):
                running = rewards[t, b, agent].item() + gamma * running
                assert returns[t, b, agent].item() == pytest.approx(running, abs=1e-5)
                advantage = advantages(returns, values)[t, b, agent].item()
                assert advantage == pytest.approx(running - values[t, b, agent].item(), abs=1e-5)


def test_returns_propagate_hook_is_applied_to_the_next_return():
    returns = discounted_returns(torch.tensor([1.0, 1.0]), torch.tensor(0.0), gamma=1.0, propagate=lambda r: 2 * r)
    assert returns.tolist() == [3.0, 1.0]  # R1 = 1, R0 = 1 + 2·1


def test_advantages_do_not_train_the_critic():
    values = torch.tensor([1.0, 2.0], requires_grad=True)
    assert not advantages(torch.tensor([3.0, 3.0]), values).requires_grad


def test_masked_mean_ignores_invalid_and_is_zero_when_nothing_is_valid():
    values = torch.tensor([1.0, 100.0, 3.0])
    assert masked_mean(values, torch.tensor([True, False, True])).item() == 2.0
    assert masked_mean(values, torch.zeros(3, dtype=torch.bool)).item() == 0.0
    assert masked_mean(values).item() == pytest.approx(104 / 3)


def test_policy_loss_by_hand():
    log_probs = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]))
    actions = torch.tensor([0, 1, 2])
    adv = torch.tensor([2.0, -1.0, 5.0])
    valid = torch.tensor([True, True, False])
    expected = (-math.log(0.5) * 2.0 + -math.log(0.8) * -1.0) / 2
    assert policy_loss(log_probs, actions, adv, valid).item() == pytest.approx(expected, abs=1e-6)


def test_value_loss_is_half_squared_error():
    loss = value_loss(torch.tensor([3.0, 0.0]), torch.tensor([1.0, 1.0]))
    assert loss.item() == pytest.approx((0.5 * 2.0**2 + 0.5 * 1.0**2) / 2)


def test_entropy_by_hand():
    logits = torch.log(torch.tensor([[0.25, 0.25, 0.25, 0.25], [1.0, 1e-12, 1e-12, 1e-12]]))
    assert entropy_bonus(logits[:1]).item() == pytest.approx(math.log(4))
    assert entropy_bonus(logits, torch.tensor([False, True])).item() == pytest.approx(0.0, abs=1e-6)


def test_behaviour_cloning_is_cross_entropy_to_the_oracle():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]]))
    oracle = torch.tensor([1, 2])
    assert behaviour_cloning_loss(logits, oracle).item() == pytest.approx((-math.log(0.2) + math.log(3)) / 2, abs=1e-6)
    assert behaviour_cloning_loss(logits, oracle, torch.tensor([False, True])).item() == pytest.approx(math.log(3))


def test_a2c_loss_is_the_design_formula():
    logits = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))  # 2 agents, 2 actions
    actions, returns, values = torch.tensor([0, 1]), torch.tensor([1.0, 0.5]), torch.tensor([0.25, 1.5])
    entropy = [math.log(2), -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))]
    per_agent = [
        -math.log(0.5) * 0.75 + 0.5 * 0.75**2 - 0.01 * entropy[0],
        -math.log(0.1) * -1.0 + 0.5 * 1.0**2 - 0.01 * entropy[1],
    ]
    loss = a2c_loss(logits, actions, returns, values)
    assert loss.total.item() == pytest.approx(sum(per_agent) / 2, abs=1e-6)
    assert loss.entropy.item() == pytest.approx(sum(entropy) / 2, abs=1e-6)
    masked = a2c_loss(logits, actions, returns, values, valid=torch.tensor([True, False]), entropy_coef=0.1)
    assert masked.total.item() == pytest.approx(-math.log(0.5) * 0.75 + 0.5 * 0.75**2 - 0.1 * entropy[0], abs=1e-6)


def test_a2c_gradients_go_where_they_belong():
    logits = torch.zeros(3, 4, requires_grad=True)
    values = torch.zeros(3, requires_grad=True)
    actions, returns, valid = torch.tensor([0, 1, 2]), torch.ones(3), torch.tensor([True, True, False])
    loss = a2c_loss(logits, actions, returns, values, valid=valid)
    loss.total.backward()
    assert (logits.grad[2] == 0).all() and values.grad[2] == 0  # invalid agent: no loss
    assert values.grad[0].item() == pytest.approx(-(1.0 - 0.0) / 2)  # d/dV ½(R − V)² / 2 agents
    assert logits.grad[0, 0] < 0  # a positive advantage makes the taken action more likely


def test_losses_agree_whatever_the_action_axis():
    """The rollout keeps actions on axis 2 (T, B, A, N); the losses must equal the action-last form."""
    from medrl.agents.losses import a2c_loss, behaviour_cloning_loss

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 5, 7, generator=generator)  # (T, B, N, A)
    actions = torch.randint(0, 7, (3, 2, 5), generator=generator)
    returns, values = torch.randn(3, 2, 5, generator=generator), torch.randn(3, 2, 5, generator=generator)
    valid = torch.rand(3, 2, 5, generator=generator) > 0.3
    last = a2c_loss(logits, actions, returns, values, valid)
    moved = a2c_loss(logits.transpose(2, 3), actions, returns, values, valid, action_dim=2)
    for a, b in zip(last, moved):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(
        behaviour_cloning_loss(logits, actions, valid), behaviour_cloning_loss(logits.transpose(2, 3), actions, valid, action_dim=2)
    )


def test_anchor_is_the_kl_from_the_reference_by_hand():
    reference = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    logits = torch.log(torch.tensor([[0.25, 0.75], [0.9, 0.1]]))
    kl_first = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert anchor_loss(logits, reference).item() == pytest.approx(kl_first / 2, abs=1e-6)  # the second agrees: KL 0
    assert anchor_loss(logits, reference, torch.tensor([True, False])).item() == pytest.approx(kl_first, abs=1e-6)
    assert anchor_loss(logits, reference, torch.tensor([False, False])).item() == 0.0
    trained = logits.clone().requires_grad_(True)
    anchor_loss(trained, reference.requires_grad_(True)).backward()
    assert trained.grad.abs().sum() > 0 and reference.grad is None  # only the trained policy moves


def test_weighted_behaviour_cloning_is_the_weighted_mean_of_the_cross_entropies():
    logits = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]))
    oracle = torch.tensor([0, 1, 1])
    ce = -torch.log(torch.tensor([0.5, 0.1, 0.8]))
    weight = torch.tensor([1.0, 3.0, 1.0])
    valid = torch.tensor([True, True, False])
    got = behaviour_cloning_loss(logits, oracle, valid, weight=weight)
    assert torch.isclose(got, (ce[0] + 3 * ce[1]) / 4)
    assert torch.isclose(behaviour_cloning_loss(logits, oracle, valid), (ce[0] + ce[1]) / 2)
