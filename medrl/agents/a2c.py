"""From a :class:`~medrl.agents.rollout.Rollout` to the loss and one optimizer update.

Warm start, then reward (docs/design.md): for the first ``warm_start_updates`` updates the policy imitates
the oracle actions (behaviour cloning; the critic already learns its value loss); afterwards the A2C
loss takes over and a small cloning term with weight ``cloning_weight`` stays.

Fine-tuning from clinicians' corrections adds an anchor: where no target is known (voxels nobody
marked on a scan without label), the policy is held near the reference policy it started from by
``anchor_weight`` × KL(π_ref ‖ π). Corrections mark only errors, so without it the agents would learn
"flip every voxel" from them; with it they change what the corrections say and keep the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch

from medrl.agents.losses import a2c_loss, anchor_loss, behaviour_cloning_loss, discounted_returns, value_loss
from medrl.agents.policy import PolicyValueNet, RewardMapConv
from medrl.agents.rollout import Rollout

ACTION_DIM = 2
"""The action axis of ``Rollout.b_logits`` (T, B, A, N)."""


@dataclass
class A2CConfig:
    """Settings of the actor-critic update.

    Attributes:
        gamma: discount γ of the returns.
        entropy_coef: β, weight of the entropy bonus.
        value_coef: weight of the critic's ½(R − V)² loss.
        cloning_weight: weight of the behaviour-cloning term after the warm start (0 = pure A2C).
        warm_start_updates: number of first updates that train by behaviour cloning only.
        bootstrap: bootstrap the returns with V(s⁽ᵀ⁾) (the episode is truncated, the clinician could
            go on); False treats the last state as terminal.
        max_grad_norm: clip the gradients' global norm to this (``None`` = no clipping).
        anchor_weight: weight of KL(π_ref ‖ π) on agents whose target is unknown, π_ref the policy
            fine-tuning started from (0 = off; needs a reference policy in the rollout).
        trained_steps: steps of each episode the update learns from, drawn at random (``None``: all of
            them); fewer cost fewer forward and backward passes (see :mod:`medrl.agents.rollout`).
        error_weight: weight in the behaviour-cloning loss of agents whose mask is wrong before the step,
            against 1 for those whose mask is right (1 = every agent alike).
    """

    gamma: float = 0.95
    entropy_coef: float = 0.01
    value_coef: float = 1.0
    cloning_weight: float = 0.1
    warm_start_updates: int = 0
    bootstrap: bool = True
    max_grad_norm: float | None = None
    anchor_weight: float = 0.0
    trained_steps: int | None = None
    error_weight: float = 1.0


class A2CLossTerms(NamedTuple):
    """Scalar loss parts; ``total`` is what is minimised."""

    total: torch.Tensor
    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor
    cloning: torch.Tensor
    anchor: torch.Tensor


def _reward_map_propagation(reward_conv: RewardMapConv | None, volume_shape: tuple | None):
    """The returns' propagation (B, N) -> (B, N) through the reward-map convolution, or ``None``."""
    if reward_conv is None or volume_shape is None:
        return None
    return lambda next_return: reward_conv(next_return.reshape(-1, 1, *volume_shape)).reshape(next_return.shape)


def compute_loss(
    b: Rollout,
    config: A2CConfig,
    warm_start: bool = False,
    reward_conv: RewardMapConv | None = None,
) -> A2CLossTerms:
    """The loss of one rollout.

    Args:
        b: the rollout (needs ``b_oracle_actions`` when cloning is used, ``b_reference_logits`` when
            ``config.anchor_weight`` > 0).
        config: the update's settings.
        warm_start: True = behaviour cloning + value loss only; False = A2C + ``cloning_weight`` ×
            cloning.
        reward_conv: optional PixelRL reward-map convolution, used for per-voxel agents only.

    Returns:
        :class:`A2CLossTerms`; all means are over valid agents and steps.
    """
    bootstrap = b.bootstrap_value if config.bootstrap else torch.zeros_like(b.bootstrap_value)
    propagate = _reward_map_propagation(reward_conv, b.volume_shape)
    b_returns = b.at_trained_steps(discounted_returns(b.b_rewards, bootstrap, config.gamma, propagate))
    b_actions, b_valid = b.at_trained_steps(b.b_actions), b.at_trained_steps(b.b_valid)

    a2c = a2c_loss(b.b_logits, b_actions, b_returns, b.b_values, b_valid, config.entropy_coef, config.value_coef,
                   action_dim=ACTION_DIM)
    use_cloning = warm_start or config.cloning_weight > 0
    if use_cloning and b.b_oracle_actions is None:
        raise ValueError("behaviour cloning needs the oracle actions: play the rollout with record_oracle=True")
    cloning = (
        behaviour_cloning_loss(b.b_logits, b.at_trained_steps(b.b_oracle_actions), b_valid, action_dim=ACTION_DIM,
                               weight=_error_weights(b, config.error_weight))
        if use_cloning
        else torch.zeros((), device=b.b_logits.device)
    )
    if warm_start:
        critic = value_loss(b_returns.detach(), b.b_values, b_valid)
        total = cloning + config.value_coef * critic
    else:
        total = a2c.total + config.cloning_weight * cloning
    anchor = torch.zeros((), device=b.b_logits.device)
    if config.anchor_weight > 0:
        if b.b_reference_logits is None:
            raise ValueError("the anchor needs a reference policy: play the rollout with reference=...")
        anchor = anchor_loss(b.b_logits, b.b_reference_logits, ~b_valid, action_dim=ACTION_DIM)
        total = total + config.anchor_weight * anchor
    return A2CLossTerms(total, a2c.policy, a2c.value, a2c.entropy, cloning, anchor)


def _error_weights(b: Rollout, error_weight: float) -> torch.Tensor | None:
    """(T', B, N) float32 cloning weights: ``error_weight`` where the mask was wrong, 1 elsewhere; ``None`` at 1."""
    if error_weight == 1.0 or b.b_wrong is None:
        return None
    return 1.0 + (error_weight - 1.0) * b.at_trained_steps(b.b_wrong).float()


def a2c_update(
    policy: PolicyValueNet,
    optimizer: torch.optim.Optimizer,
    b: Rollout,
    config: A2CConfig,
    update: int,
    backward: Callable[[torch.Tensor], None] | None = None,
    clip_gradients: Callable[[float], None] | None = None,
) -> A2CLossTerms:
    """One gradient step on the rollout's loss (warm start while ``update < warm_start_updates``): the loss,
    its gradients, their clipping to ``config.max_grad_norm``, the optimizer's step.

    Args:
        policy: the network that produced the rollout (its ``reward_conv`` is used if present).
        optimizer: an optimizer over ``policy.parameters()``.
        b: the rollout, played with autograd on.
        config: the update's settings.
        update: 0-based index of this update (decides warm start or A2C).
        backward: how to back-propagate the loss (default ``loss.backward()``; Lightning passes its
            ``manual_backward``, which handles DDP and mixed precision).
        clip_gradients: how to clip the gradients' global norm to a value (default
            ``torch.nn.utils.clip_grad_norm_`` over ``policy.parameters()``; Lightning passes its own).

    Returns:
        The loss parts, detached.
    """
    terms = compute_loss(b, config, update < config.warm_start_updates, policy.reward_conv)
    optimizer.zero_grad(set_to_none=True)
    (backward or torch.Tensor.backward)(terms.total)
    if config.max_grad_norm is not None:
        if clip_gradients is None:
            torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        else:
            clip_gradients(config.max_grad_norm)
    optimizer.step()
    return A2CLossTerms(*(value.detach() for value in terms))
