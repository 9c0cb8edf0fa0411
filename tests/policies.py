"""A policy wrapper shared by the agents' and the inference tests."""

from __future__ import annotations

import torch


class RecordingPolicy(torch.nn.Module):
    """Wraps a policy and records the spatial size of every state it is given (``len(shapes)``: its calls)."""

    def __init__(self, policy: torch.nn.Module):
        super().__init__()
        self.policy, self.shapes = policy, []

    def forward(self, state: torch.Tensor):
        self.shapes.append(tuple(state.shape[2:]))
        return self.policy(state)
