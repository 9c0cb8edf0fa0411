"""The agents' state and the probability <-> mask conventions.

State per voxel (DESIGN.md): [image, probability p, positive hint h+, negative hint h−], so the
batched state is (B, 4, D, H, W). The mask of a probability map is p ≥ 0.5. A binary initial mask
becomes a *soft start* p⁽⁰⁾ = 0.75 inside / 0.25 outside, so one ±0.4 action can flip a voxel.
"""

from __future__ import annotations

import torch

STATE_CHANNELS = 4
"""Channels of the state: image, probability, positive hint, negative hint."""

MASK_THRESHOLD = 0.5
"""A voxel is foreground when its probability is at least this."""


def soft_start(mask: torch.Tensor, inside: float = 0.75, outside: float = 0.25) -> torch.Tensor:
    """Initial probabilities p⁽⁰⁾ from a binary mask.

    Args:
        mask: any shape, bool or {0, 1}.
        inside: probability given to mask voxels, in [0.5, 1] so the mask is preserved.
        outside: probability given to the other voxels, in [0, 0.5).

    Returns:
        float32 tensor of ``mask``'s shape with values in {outside, inside}.

    Example:
        >>> soft_start(torch.tensor([True, False]))
        tensor([0.7500, 0.2500])
    """
    return torch.where(mask.bool(), float(inside), float(outside)).float()


def to_mask(p: torch.Tensor) -> torch.Tensor:
    """Binary mask p ≥ 0.5 of probabilities ``p`` (any shape), as bool."""
    return p >= MASK_THRESHOLD


def build_state(image: torch.Tensor, p: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
    """Concatenate image (B, 1, ...), probability (B, 1, ...) and hints (B, 2, ...) -> (B, 4, ...) float32."""
    return torch.cat([image.float(), p.float(), hints.float()], dim=1)
