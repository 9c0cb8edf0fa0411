"""Play one episode of K interactions × S steps in a batched environment, recording what A2C needs.

Optionally the agents first act ``initial_steps`` times before any click — what ``medrl predict`` does on
a scan without clicks — so they also learn to mend a mask unaided.

Read top to bottom (CleanRL style): the episode is *played* without gradients — for each interaction the
robot clinician clicks, then for each step the shared policy scores every voxel, the scores are pooled per
agent (identity for per-voxel agents, region means for per-region agents), each agent samples (or takes the
best) action, and the environment returns the per-voxel reward, pooled per agent; the states are kept.
Then, when gradients are on, the policy is run again on the states of the steps the update learns from
(all of them, or ``trained_steps`` drawn at random: the steps of one episode are much alike, so a few of
them carry most of its gradient at a fraction of the cost), which gives the logits and values with their
autograd graph. Batch tensors are named ``b_*`` and stacked over the T = initial_steps + K·S steps. The
loss is computed from the result in :mod:`medrl.agents.a2c`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from medrl.agents.policy import PolicyValueNet
from medrl.env.environment import RefinementEnv
from medrl.env.regions import VoxelAgents


@dataclass
class Rollout:
    """One episode of T = initial_steps + K·S steps over B volumes with N agents each, A actions, of which
    the T' steps ``b_steps`` carry gradients.

    Attributes:
        b_steps: (T',) int64 indices, ascending, of the steps the update learns from (all T by default).
        b_logits: (T', B, A, N) float32 action logits per agent at those steps (with autograd graph when the
            rollout was played with gradients enabled); the action axis comes before the agents because
            softmax over a short inner axis is ~15x slower on CPU.
        b_values: (T', B, N) float32 critic values V(s) per agent at those steps (with autograd graph).
        b_actions: (T, B, N) int64 actions taken.
        b_rewards: (T, B, N) float32 agent rewards (a region's: mean over its valid voxels).
        b_valid: (T, B, N) bool, agents whose target was known (and that could act) at that step.
        b_oracle_actions: (T, B, N) int64 best immediate actions, or ``None`` if not recorded.
        b_wrong: (T, B, N) bool, agents whose mask disagreed with the target before the step, recorded with the
            oracle actions (else ``None``).
        b_reference_logits: (T', B, A, N) float32 logits of a reference policy for the states of ``b_steps``
            (no autograd graph), or ``None`` without a reference.
        bootstrap_value: (B, N) float32 V(s⁽ᵀ⁾) of the final state, detached (zeros when not bootstrapped).
        dice_before: (K, B) float32 Dice after each interaction's clicks, before the agents act.
        dice_after: (K, B) float32 Dice after each interaction's S steps.
        volume_shape: (D, H, W) for per-voxel agents (agent tensors reshape to volumes), else ``None``.
    """

    b_steps: torch.Tensor
    b_logits: torch.Tensor
    b_values: torch.Tensor
    b_actions: torch.Tensor
    b_rewards: torch.Tensor
    b_valid: torch.Tensor
    b_oracle_actions: torch.Tensor | None
    b_wrong: torch.Tensor | None
    b_reference_logits: torch.Tensor | None
    bootstrap_value: torch.Tensor
    dice_before: torch.Tensor
    dice_after: torch.Tensor
    volume_shape: tuple[int, int, int] | None

    def at_trained_steps(self, per_step: torch.Tensor) -> torch.Tensor:
        """The rows of a (T, ...) per-step tensor at ``b_steps``: (T', ...)."""
        return per_step.index_select(0, self.b_steps.to(per_step.device))


def sample_actions(logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Draw one action per agent from softmax(``logits``) along ``dim`` by inverse-CDF sampling: one
    uniform number per agent against the cumulative probabilities (exact; on CPU ~30x faster than
    ``Categorical.sample`` and ~5x faster than Gumbel-max). Returns int64 with ``dim`` removed."""
    cumulative = torch.softmax(logits.detach(), dim).cumsum(dim)
    uniform = torch.rand_like(cumulative.narrow(dim, 0, 1))
    return (cumulative.narrow(dim, 0, logits.shape[dim] - 1) < uniform).sum(dim)


def rollout(
    env: RefinementEnv,
    policy: PolicyValueNet,
    interactions: int,
    steps: int,
    sample: bool = True,
    record_oracle: bool = True,
    reference: PolicyValueNet | None = None,
    initial_steps: int = 0,
    trained_steps: int | None = None,
    bootstrap: bool = True,
) -> Rollout:
    """Play K = ``interactions`` robot-clinician interactions of S = ``steps`` agent steps each.

    Args:
        env: an environment already ``reset`` with a batch (and a label, for the robot clinician).
        policy: the shared policy/value network.
        interactions: K ≥ 1, clicks-then-act rounds.
        steps: S ≥ 1, agent steps after each round of clicks.
        sample: sample actions from π (training); False takes the most likely action (evaluation).
        record_oracle: also record the oracle actions (needed by the behaviour-cloning loss).
        reference: optional frozen policy whose logits are recorded for the trained steps' states (the
            fine-tuning anchor).
        initial_steps: agent steps before the first click (0: the clinician clicks first); the
            rollout then holds T = initial_steps + K·S steps.
        trained_steps: with gradients enabled, how many of the T steps (drawn uniformly, without
            replacement, from torch's random stream before the first step) keep the autograd graph of
            their acting forward pass for the update; ``None``: all T. The other steps act without one,
            so memory holds at most ``trained_steps`` graphs and no step is computed twice.
        bootstrap: score the final state's value V(s⁽ᵀ⁾) (one more forward pass); False records zeros, for an
            update that treats the last state as terminal (``A2CConfig.bootstrap`` False).

    Returns:
        A :class:`Rollout`. Under ``torch.no_grad()`` no graph is kept (evaluation).
    """
    b_logits, b_values, b_actions, b_rewards, b_valid, b_oracle, b_wrong, b_reference = [], [], [], [], [], [], [], []
    dice_before, dice_after = [], []
    total = initial_steps + interactions * steps
    chosen = torch.arange(total) if trained_steps is None or trained_steps >= total else torch.randperm(total)[:trained_steps].sort().values
    trained = set(chosen.tolist()) if torch.is_grad_enabled() else set()  # steps whose forward keeps its autograd graph
    if reference is not None and not trained:
        raise ValueError("a reference policy's logits are recorded for the update: play the rollout with gradients enabled")

    def act(n_steps: int) -> None:
        """``n_steps`` steps of every agent, recorded; a trained step's forward pass is the update's."""
        for _ in range(n_steps):
            state = env.state()
            with torch.enable_grad() if len(b_actions) in trained else contextlib.nullcontext():
                logit_map, value_map = policy(state)
                logits, values = env.agents.pool(logit_map), env.agents.pool(value_map)[:, 0]  # (B, A, N), (B, N)
            if reference is not None and len(b_actions) in trained:
                b_reference.append(env.agents.pool(reference(state)[0]))
            actions = sample_actions(logits) if sample else logits.max(1).indices  # (B, N); max beats argmax on CPU
            valid = env.agent_valid()
            if record_oracle:
                b_oracle.append(env.oracle_actions())
                b_wrong.append(env.agent_wrong())
            _, reward_map = env.step(actions)
            b_logits.append(logits)
            b_values.append(values)
            b_actions.append(actions)
            b_rewards.append(env.agent_rewards(reward_map))
            b_valid.append(valid)

    with torch.no_grad():  # the environment never needs gradients; trained steps' forwards enable them
        act(initial_steps)  # before any click, as `medrl predict` refines a scan without clicks
        for _ in range(interactions):
            env.add_clicks()
            dice_before.append(env.dice())
            act(steps)
            dice_after.append(env.dice())
        if bootstrap:
            bootstrap_value = env.agents.pool(policy(env.state())[1])[:, 0]
        else:
            bootstrap_value = torch.zeros_like(b_values[-1])

    if trained:  # the update sees the chosen steps only
        logits = torch.stack([b_logits[i] for i in chosen.tolist()])
        values = torch.stack([b_values[i] for i in chosen.tolist()])
    else:
        logits, values = torch.stack(b_logits), torch.stack(b_values)
    reference_logits = torch.stack(b_reference) if b_reference else None

    return Rollout(
        b_steps=chosen,
        b_logits=logits,
        b_values=values,
        b_actions=torch.stack(b_actions),
        b_rewards=torch.stack(b_rewards),
        b_valid=torch.stack(b_valid),
        b_oracle_actions=torch.stack(b_oracle) if record_oracle else None,
        b_wrong=torch.stack(b_wrong) if record_oracle else None,
        b_reference_logits=reference_logits,
        bootstrap_value=bootstrap_value,
        dice_before=torch.stack(dice_before),
        dice_after=torch.stack(dice_after),
        volume_shape=env.agents.spatial_shape if isinstance(env.agents, VoxelAgents) else None,
    )


@torch.no_grad()
def act_greedily(env: RefinementEnv, policy: PolicyValueNet, steps: int) -> torch.Tensor:
    """``steps`` steps of every agent taking its most likely action (validation, evaluation, inference).

    Args:
        env: a reset environment (after this interaction's clicks).
        policy: the shared policy, or a :class:`~medrl.agents.windowed.SlidingWindowPolicy` over it.
        steps: S >= 0.

    Returns:
        (B, 1, D, H, W) float32 the environment's probabilities afterwards.
    """
    for _ in range(steps):
        logit_map, _ = policy(env.state())
        env.move(env.agents.pool(logit_map).max(dim=1).indices)  # no reward needed; max is faster than argmax on CPU
    return env.p
