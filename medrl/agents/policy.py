"""The shared policy/value network of all agents, on a downsampling MONAI ``UNet`` backbone.

One fully convolutional network maps the state (B, 4, D, H, W) = [image, p, h+, h−] to per-voxel
action logits (B, A, D, H, W) and a per-voxel value (B, 1, D, H, W): the backbone's last 1×1×1
convolution has A + 1 output channels, the first A are the logits, the last the value. Per-region
agents pool these maps per region (mean of voxel logits/values; see :mod:`medrl.env.regions`).
A downsampling UNet rather than PixelRL's full-resolution dilated stack keeps a step about as cheap
as one forward pass of a segmenter (docs/design.md, "Cheap backbone").

Optional :class:`RewardMapConv`, PixelRL's reward-map convolution: a learned 3×3×3 kernel w used in
the returns, R⁽ᵗ⁾ = r⁽ᵗ⁾ + γ·(w ∗ R⁽ᵗ⁺¹⁾), so an agent's return can include its neighbours' rewards.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from monai.networks.nets import UNet
from torch import nn

from medrl.env.state import STATE_CHANNELS


class RewardMapConv(nn.Module):
    """PixelRL's learned reward-map convolution, initialised to the identity (centre 1, rest 0).

    Args:
        kernel_size: odd edge length of the cubic kernel.
    """

    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv3d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0, kernel_size // 2, kernel_size // 2, kernel_size // 2] = 1.0

    def forward(self, reward_map: torch.Tensor) -> torch.Tensor:
        """(B, 1, D, H, W) -> (B, 1, D, H, W) float32, zero-padded at the borders."""
        return self.conv(reward_map)


class PolicyValueNet(nn.Module):
    """Action logits and values for every voxel from the state.

    Args:
        n_actions: A, the size of the action set.
        in_channels: state channels (4: image, probability, positive hint, negative hint).
        channels: feature channels of the UNet levels, e.g. (16, 32, 64, 128).
        strides: downsampling strides between levels (one fewer than ``channels``).
        num_res_units: residual units per UNet block (MONAI ``UNet``).
        norm: MONAI normalisation name for the UNet blocks.
        dropout: dropout probability inside the UNet.
        reward_map_kernel: kernel edge of the optional PixelRL reward-map convolution
            (``None`` = no reward-map convolution; the attribute ``reward_conv`` is then ``None``).

    Inputs of any spatial size are padded (with zeros, at the far end) to a multiple of the total
    stride and the outputs cropped back, so sizes need not be divisible by 2^depth.

    Example:
        >>> net = PolicyValueNet(n_actions=7, channels=(8, 16), strides=(2,))
        >>> logits, value = net(torch.zeros(1, 4, 5, 6, 7))
        >>> tuple(logits.shape), tuple(value.shape)
        ((1, 7, 5, 6, 7), (1, 1, 5, 6, 7))
    """

    def __init__(
        self,
        n_actions: int = 7,
        in_channels: int = STATE_CHANNELS,
        channels: Sequence[int] = (16, 32, 64, 128),
        strides: Sequence[int] = (2, 2, 2),
        num_res_units: int = 0,
        norm: str = "instance",
        dropout: float = 0.0,
        reward_map_kernel: int | None = None,
    ):
        super().__init__()
        self.n_actions = n_actions
        self.divisor = math.prod(strides)
        self.backbone = UNet(
            spatial_dims=3,
            in_channels=in_channels,
            out_channels=n_actions + 1,
            channels=tuple(channels),
            strides=tuple(strides),
            num_res_units=num_res_units,
            norm=norm,
            dropout=dropout,
        )
        self.reward_conv = None if reward_map_kernel is None else RewardMapConv(reward_map_kernel)

    def forward(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-voxel action logits and values.

        Args:
            state: (B, in_channels, D, H, W) float32.

        Returns:
            ``(logits, value)``: (B, A, D, H, W) unnormalised action scores and (B, 1, D, H, W)
            state values, both float32.
        """
        size = state.shape[2:]
        padding = [(-n) % self.divisor for n in size]
        if any(padding):
            state = F.pad(state, [amount for pad in reversed(padding) for amount in (0, pad)])
        out = self.backbone(state)[:, :, : size[0], : size[1], : size[2]]
        return out[:, : self.n_actions], out[:, self.n_actions :]
