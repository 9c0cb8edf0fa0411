"""Advantage actor-critic losses as pure functions (docs/design.md, "Learning").

Convention: the action axis of ``logits`` / ``log_probs`` is the **last** axis (…, A); every other
tensor has the shape (…) of one value per agent, e.g. (T, B, N) for T steps, B volumes, N agents.
``valid`` (bool, (…)) marks agents whose target is known; the others carry no loss. Every loss is a
masked mean over valid agents and is 0 when no agent is valid.

A2C: R⁽ᵗ⁾ = r⁽ᵗ⁾ + γ R⁽ᵗ⁺¹⁾ (bootstrapped with V(s⁽ᵀ⁾)), A = R − V(s), and
loss = mean(−log π(a|s)·A + ½(R − V)² − β·H(π(·|s))), β = 0.01 by default.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F


def masked_mean(values: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``values`` over the ``valid`` entries (all if ``None``); 0 when none is valid."""
    if valid is None:
        return values.mean()
    valid = valid.to(values.dtype)
    return (values * valid).sum() / valid.sum().clamp(min=1.0)


def discounted_returns(
    rewards: torch.Tensor,
    bootstrap_value: torch.Tensor,
    gamma: float = 0.95,
    propagate: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """n-step discounted returns R⁽ᵗ⁾ = r⁽ᵗ⁾ + γ·propagate(R⁽ᵗ⁺¹⁾), R⁽ᵀ⁾ = bootstrap_value.

    Args:
        rewards: (T, …) float rewards of T steps.
        bootstrap_value: (…) value estimate V(s⁽ᵀ⁾) of the state after the last step
            (zeros for a terminal state).
        gamma: discount γ in [0, 1].
        propagate: optional map applied to the next return before discounting (PixelRL's
            reward-map convolution); ``None`` = identity.

    Returns:
        (T, …) float32 returns.

    Example:
        >>> discounted_returns(torch.tensor([1.0, 2.0]), torch.tensor(10.0), gamma=0.5)
        tensor([4.0000, 7.0000])
    """
    next_return = bootstrap_value.float()
    returns = []
    for reward in reversed(rewards.unbind(0)):
        next_return = reward.float() + gamma * (next_return if propagate is None else propagate(next_return))
        returns.append(next_return)
    return torch.stack(returns[::-1])


def advantages(returns: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """A = R − V, with V detached so the policy loss does not train the critic. Shapes (…)."""
    return returns - values.detach()


def policy_loss(
    log_probs: torch.Tensor,
    actions: torch.Tensor,
    advantages: torch.Tensor,
    valid: torch.Tensor | None = None,
    action_dim: int = -1,
) -> torch.Tensor:
    """Policy-gradient loss mean(−log π(a|s)·A) over valid agents.

    Args:
        log_probs: (…, A) log-probabilities of every action (``log_softmax`` of the logits); the
            action axis is ``action_dim`` (last by default).
        actions: (…) int64 actions taken (``log_probs``' shape without the action axis).
        advantages: (…) float advantages.
        valid: optional (…) bool.

    Returns:
        Scalar float32.
    """
    taken = _taken(log_probs, actions, action_dim)
    return masked_mean(-taken * advantages, valid)


def value_loss(returns: torch.Tensor, values: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Critic loss mean(½(R − V)²) over valid agents; shapes (…); scalar float32."""
    return masked_mean(0.5 * (returns - values) ** 2, valid)


def _taken(log_probs: torch.Tensor, actions: torch.Tensor, action_dim: int) -> torch.Tensor:
    """log π of the given actions: ``log_probs`` gathered along ``action_dim``, which is then removed."""
    return log_probs.gather(action_dim, actions.long().unsqueeze(action_dim)).squeeze(action_dim)


def entropy_bonus(logits: torch.Tensor, valid: torch.Tensor | None = None, action_dim: int = -1) -> torch.Tensor:
    """Mean policy entropy H = −Σ_a π(a) log π(a) (nats) over valid agents; logits (…, A) with the
    action axis at ``action_dim``; scalar ≥ 0."""
    return _entropy(F.log_softmax(logits, dim=action_dim), valid, action_dim)


def _entropy(log_probs: torch.Tensor, valid: torch.Tensor | None, action_dim: int) -> torch.Tensor:
    """:func:`entropy_bonus` from the log-probabilities (``log_softmax`` of the logits)."""
    return masked_mean(-(log_probs.exp() * log_probs).sum(action_dim), valid)


def behaviour_cloning_loss(
    logits: torch.Tensor,
    oracle_actions: torch.Tensor,
    valid: torch.Tensor | None = None,
    action_dim: int = -1,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of the policy against the oracle actions, mean over valid agents (weighted by ``weight``).

    Args:
        logits: (…, A) action logits, the action axis at ``action_dim``.
        oracle_actions: (…) int64 best immediate actions (``RefinementEnv.oracle_actions``).
        valid: optional (…) bool.
        weight: optional (…) float ≥ 0 per agent; the mean is Σ w·ce / Σ w over valid agents.

    Returns:
        Scalar float32 ≥ 0 (log A for a uniform policy).
    """
    cross_entropy = -_taken(F.log_softmax(logits, dim=action_dim), oracle_actions, action_dim)
    if weight is None:
        return masked_mean(cross_entropy, valid)
    weight = weight if valid is None else weight * valid.to(weight.dtype)
    return (cross_entropy * weight).sum() / weight.sum().clamp(min=1e-12)


def anchor_loss(
    logits: torch.Tensor,
    reference_logits: torch.Tensor,
    where: torch.Tensor | None = None,
    action_dim: int = -1,
) -> torch.Tensor:
    """KL(π_ref ‖ π) = Σ_a π_ref(a)·(log π_ref(a) − log π(a)), mean over the agents ``where`` is True.

    Keeps a fine-tuned policy close to its reference (the policy it started from) where nothing tells
    it otherwise — like the KL penalty towards a reference policy in RL fine-tuning.

    Args:
        logits: (…, A) action logits of the policy being trained, action axis at ``action_dim``.
        reference_logits: (…, A) the reference policy's logits for the same states (no gradient).
        where: optional (…) bool, the agents to anchor (e.g. those whose target is unknown).

    Returns:
        Scalar float32 ≥ 0; 0 where the two policies agree, and when no agent is selected.

    Example:
        >>> float(anchor_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 0.0]])))
        0.0
    """
    reference = F.log_softmax(reference_logits.detach(), dim=action_dim)
    kl = (reference.exp() * (reference - F.log_softmax(logits, dim=action_dim))).sum(action_dim)
    return masked_mean(kl, where)


class A2CLoss(NamedTuple):
    """The A2C loss and its parts (scalars): ``total = policy + value_coef·value − entropy_coef·entropy``."""

    total: torch.Tensor
    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor


def a2c_loss(
    logits: torch.Tensor,
    actions: torch.Tensor,
    returns: torch.Tensor,
    values: torch.Tensor,
    valid: torch.Tensor | None = None,
    entropy_coef: float = 0.01,
    value_coef: float = 1.0,
    action_dim: int = -1,
) -> A2CLoss:
    """mean(−log π(a|s)·A + value_coef·½(R − V)² − entropy_coef·H) over valid agents.

    Args:
        logits: (…, A) action logits.
        actions: (…) int64 actions taken.
        returns: (…) float returns R (gradients flow through them only if they carry any, e.g. from a
            reward-map convolution, as in PixelRL).
        values: (…) float critic values V(s).
        valid: optional (…) bool.
        entropy_coef: β, weight of the entropy bonus.
        value_coef: weight of the value loss (1 gives the docs/design.md formula).
        action_dim: the action axis of ``logits`` (last by default).

    Returns:
        :class:`A2CLoss` of scalars.
    """
    log_probs = F.log_softmax(logits, dim=action_dim)
    pg = policy_loss(log_probs, actions, advantages(returns, values), valid, action_dim)
    critic = value_loss(returns, values, valid)
    entropy = _entropy(log_probs, valid, action_dim)
    return A2CLoss(pg + value_coef * critic - entropy_coef * entropy, pg, critic, entropy)
