"""The agents' action set: add one of a few deltas to a foreground probability, then clip to [0, 1].

Default deltas (−0.4, −0.2, −0.1, 0, +0.1, +0.2, +0.4): IteR-MRL's ±0.1, ±0.2, ±0.4 plus 0 so an
agent can keep its value. The oracle action of a voxel (or region) is the action with the highest
immediate reward; it is the teacher of the behaviour-cloning warm start (docs/design.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from medrl.env.rewards.ce_gain import DEFAULT_EPS, log_likelihood_map, weigh_reward
from medrl.errors import MedrlInputError

DEFAULT_DELTAS: tuple[float, ...] = (-0.4, -0.2, -0.1, 0.0, 0.1, 0.2, 0.4)


@dataclass(frozen=True)
class ActionSet:
    """A configurable set of probability adjustments.

    Attributes:
        deltas: the amounts an agent may add to its probability; action index ``a`` adds
            ``deltas[a]``. At least one delta; values in [−1, 1].
    """

    deltas: tuple[float, ...] = DEFAULT_DELTAS

    def __post_init__(self) -> None:
        if len(self.deltas) == 0 or any(abs(d) > 1 for d in self.deltas):
            raise MedrlInputError("actions", f"deltas must be non-empty and within [-1, 1], got {self.deltas}")

    def __len__(self) -> int:
        return len(self.deltas)

    def delta_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """The deltas as a float32 tensor of shape (A,)."""
        return torch.tensor(self.deltas, dtype=torch.float32, device=device)

    def apply(self, p: torch.Tensor, action_index: torch.Tensor) -> torch.Tensor:
        """Next probabilities clip(p + deltas[action_index], 0, 1).

        Args:
            p: probabilities, any shape, float, values in [0, 1].
            action_index: int64 action indices in [0, A), broadcastable to ``p``.

        Returns:
            float32 tensor of the broadcast shape, values in [0, 1].
        """
        delta = self.delta_tensor(p.device)[action_index.long()]
        return (p.float() + delta).clamp(0.0, 1.0)

    def candidates(self, p: torch.Tensor) -> torch.Tensor:
        """Next probabilities under every action: (B, A, ...) from ``p`` (B, 1, ...), values in [0, 1]."""
        deltas = self.delta_tensor(p.device).view(1, -1, *([1] * (p.dim() - 2)))
        return (p.float() + deltas).clamp(0.0, 1.0)

    def action_rewards(
        self,
        p: torch.Tensor,
        target: torch.Tensor,
        valid: torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
        eps: float = DEFAULT_EPS,
    ) -> torch.Tensor:
        """Immediate reward of every action, per voxel (the relative cross-entropy gain).

        Args:
            p: current probabilities (B, 1, D, H, W), values in [0, 1].
            target: reward target, same shape, values in [0, 1].
            valid: optional bool, same shape; rewards are 0 where False.
            weight: optional float per-voxel weight, same shape.
            eps: probability clamp inside the logarithms.

        Returns:
            (B, A, D, H, W) float32 rewards; channel ``a`` is the reward of action ``a``.
        """
        reward = log_likelihood_map(self.candidates(p), target, eps) - log_likelihood_map(p, target, eps)
        return weigh_reward(reward, valid, weight)

    def best_action(self, rewards: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Index of the action with the highest reward along ``dim``; ties go to the largest |delta|.

        Args:
            rewards: rewards of every action, the actions along ``dim`` (size A).
            dim: the action axis.

        Returns:
            int64 indices in [0, A), ``rewards``' shape without ``dim``.

        Ties: a voxel's actions tie only when clipping makes them reach the same probability (e.g.
        +0.1, +0.2 and +0.4 from p = 0.95, or every non-negative delta from p = 1), so the choice
        changes nothing in the environment. It matters for learning: breaking ties towards the
        largest |delta| (then the lower index) makes a voxel's oracle action with a binary target
        simply "the largest step towards the target", ±0.4 by default, which is far easier to
        imitate than a label that depends on exactly how close p already is to 0 or 1.
        """
        order = torch.tensor(
            sorted(range(len(self.deltas)), key=lambda a: -abs(self.deltas[a])), device=rewards.device
        )
        best_in_order = rewards.index_select(dim, order).max(dim=dim).indices  # first maximum, as argmax; faster on CPU
        return order[best_in_order]

    def oracle_towards_binary_target(self, target: torch.Tensor, valid: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The per-voxel oracle for a binary target, without scoring every action (~7x less work).

        Cross-entropy with a target of 1 (0) falls as p rises (falls), and clipping only creates ties,
        so the best action is the largest positive (negative) delta; a voxel without reward (invalid, or
        zero weight) ties everywhere and gets the first largest-magnitude delta. This is exactly what
        :meth:`oracle_actions` returns for binary targets when the set has deltas of both signs.

        Args:
            target: (B, 1, ...) values in {0, 1}; valid: bool, weight: float ≥ 0, same shape.

        Returns:
            (B, ...) int64 action indices.
        """
        up = max(range(len(self.deltas)), key=lambda a: (self.deltas[a], -a))
        down = min(range(len(self.deltas)), key=lambda a: (self.deltas[a], a))
        no_reward = max(range(len(self.deltas)), key=lambda a: (abs(self.deltas[a]), -a))
        towards = torch.where(target[:, 0] >= 0.5, up, down)
        return torch.where(valid[:, 0] & (weight[:, 0] > 0), towards, no_reward)

    @property
    def has_both_directions(self) -> bool:
        """True when some delta raises and some lowers a probability (the fast oracle's condition)."""
        return min(self.deltas) < 0 < max(self.deltas)

    def oracle_actions(
        self,
        p: torch.Tensor,
        target: torch.Tensor,
        valid: torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
        eps: float = DEFAULT_EPS,
    ) -> torch.Tensor:
        """Per-voxel index of the action with the highest immediate reward.

        Args: as :meth:`action_rewards` (p (B, 1, D, H, W)).

        Returns:
            (B, D, H, W) int64 action indices in [0, A); ties go to the largest |delta| (see
            :meth:`best_action`; invalid voxels, where every action earns 0, get the first
            largest-magnitude delta).

        Example:
            >>> ActionSet().oracle_actions(torch.full((1, 1, 1, 1, 1), 0.75), torch.ones(1, 1, 1, 1, 1)).item()
            6
        """
        return self.best_action(self.action_rewards(p, target, valid, weight, eps), dim=1)
