"""The policy applied by sliding windows of its training patch size.

The policy/value network normalises features per instance, so its output on a whole volume differs
from its output on the patches it was trained on; whole volumes are also where memory runs out. Both
are solved by running it in windows of the training patch size (MONAI ``sliding_window_inference``,
Gaussian-weighted blending), which makes validation and inference see what training saw.
"""

from __future__ import annotations

from typing import Sequence

import torch
from monai.inferers import sliding_window_inference
from torch import nn

from medrl.agents.policy import PolicyValueNet


class SlidingWindowPolicy(nn.Module):
    """Wrap a :class:`PolicyValueNet` so that it runs in windows; same call and outputs.

    Args:
        policy: the trained network.
        roi_size: window size in voxels (the training patch size).
        overlap: window overlap fraction.
        sw_batch_size: windows per forward pass.

    Inputs smaller than ``roi_size`` are padded to it; outputs always have the input's spatial size.
    """

    def __init__(self, policy: PolicyValueNet, roi_size: Sequence[int], overlap: float = 0.25, sw_batch_size: int = 4):
        super().__init__()
        self.policy, self.roi_size, self.overlap, self.sw_batch_size = policy, tuple(roi_size), overlap, sw_batch_size
        self.reward_conv = policy.reward_conv

    def _joined(self, state: torch.Tensor) -> torch.Tensor:
        logits, value = self.policy(state)
        return torch.cat([logits, value], dim=1)

    def forward(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 4, D, H, W) state -> ((B, A, D, H, W) logits, (B, 1, D, H, W) values), float32."""
        joined = sliding_window_inference(state, self.roi_size, self.sw_batch_size, self._joined,
                                          overlap=self.overlap, mode="gaussian")
        joined = torch.as_tensor(joined)
        return joined[:, :-1], joined[:, -1:]
