"""The agents' state and the probability <-> mask conventions.

State per voxel (docs/design.md): [image, probability p, positive hint h+, negative hint h−], so the
batched state is (B, 4, D, H, W). The mask of a probability map is p ≥ 0.5. A binary starting mask
becomes a *soft start* p⁽⁰⁾ = 0.75 inside / 0.25 outside, so one ±0.4 action can flip a voxel; a
probability map from another model is squeezed into the same range.
"""

from __future__ import annotations

import torch

STATE_CHANNELS = 4
"""Channels of the state: image, probability, positive hint, negative hint."""

MASK_THRESHOLD = 0.5
"""A voxel is foreground when its probability is at least this."""


def soft_start(mask: torch.Tensor, inside: float = 0.75, outside: float = 0.25) -> torch.Tensor:
    """Initial probabilities p⁽⁰⁾ from a binary mask or a probability map.

    Args:
        mask: any shape; bool or {0, 1} (a mask), or floats in [0, 1] (another model's probabilities).
        inside: probability given to mask voxels, in [0.5, 1] so the mask is preserved.
        outside: probability given to the other voxels, in [0, 0.5).

    Returns:
        float32 tensor of ``mask``'s shape: ``outside + (inside − outside)·mask``, so a binary mask
        gives {outside, inside} and a probability map q is squeezed into [outside, inside] with
        q = 0.5 staying at the threshold 0.5 when the defaults are symmetric.

    Example:
        >>> soft_start(torch.tensor([True, False]))
        tensor([0.7500, 0.2500])
        >>> soft_start(torch.tensor([1.0, 0.5, 0.0]))
        tensor([0.7500, 0.5000, 0.2500])
    """
    p = torch.empty(mask.shape, dtype=torch.float32, device=mask.device).copy_(mask)  # one new volume, never ``mask``
    return p.mul_(float(inside) - float(outside)).add_(float(outside))


def to_mask(p: torch.Tensor) -> torch.Tensor:
    """Binary mask p ≥ 0.5 of probabilities ``p`` (any shape), as bool."""
    return p >= MASK_THRESHOLD


def build_state(image: torch.Tensor, p: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
    """Concatenate image (B, 1, ...), probability (B, 1, ...) and hints (B, 2, ...) -> (B, 4, ...) float32."""
    return torch.cat([image.float(), p.float(), hints.float()], dim=1)
