"""The supervised click-refinement network (DeepEdit-style): its UNet, how clicks and the previous result become
its input, and one interaction. Trained by :class:`medrl.training.click_network.ClickNetworkModule`; run by
``medrl evaluate`` (:class:`medrl.evaluation.methods.ClickNetwork`).

The network sees what medrl's agents see, built by the same code: [image, previous mask, h+, h−]
(:func:`medrl.env.state.build_state`), the hint maps being Gaussians of the distance in mm to the
clicks so far (:func:`medrl.env.clicks.hint_maps`). It answers with two logits per voxel (background,
foreground); the next probability map is their softmax's foreground channel, with every clicked voxel
set to the clinician's label, and the mask is p ≥ 0.5 (:data:`medrl.env.state.MASK_THRESHOLD`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import UNet
from torch import nn

from medrl.env.clicks import Click, click_ball, hint_maps
from medrl.env.state import STATE_CHANNELS, build_state, to_mask
from medrl.errors import MedrlInputError

PREVIOUS_MODES = ("mask", "probability")
"""How the previous result enters the network: its mask p ≥ 0.5 as {0, 1}, or p itself."""


@dataclass(frozen=True)
class ClickEncoding:
    """How clicks and the previous result become the network's input (saved in checkpoints, so that
    evaluation encodes exactly as training did).

    Attributes:
        hint_sigma_mm: σ in mm of the Gaussian hint maps (the agents' ``env.hint_sigma_mm``).
        click_radius_mm: a click sets the voxels within this radius in mm to its label (0: the voxel only).
        previous: ``"mask"`` (the previous mask, {0, 1}) or ``"probability"`` (the previous p in [0, 1]).
    """

    hint_sigma_mm: float = 5.0
    click_radius_mm: float = 0.0
    previous: str = "mask"

    def __post_init__(self):
        if self.previous not in PREVIOUS_MODES:
            raise MedrlInputError("previous", f"must be one of {', '.join(PREVIOUS_MODES)}, got {self.previous!r}")
        if not self.hint_sigma_mm > 0:
            raise MedrlInputError("hint_sigma_mm", f"must be > 0 mm, got {self.hint_sigma_mm}")
        if not self.click_radius_mm >= 0:
            raise MedrlInputError("click_radius_mm", f"must be >= 0 mm, got {self.click_radius_mm}")


def build_click_net(channels: Sequence[int] = (16, 32, 64, 128), strides: Sequence[int] = (2, 2, 2),
                    num_res_units: int = 0, norm: str = "instance") -> UNet:
    """MONAI ``UNet`` with the agents' backbone settings: 4 input channels [image, previous, h+, h−],
    2 output channels (background, foreground logits). Spatial sizes must be multiples of ∏ strides."""
    return UNet(spatial_dims=3, in_channels=STATE_CHANNELS, out_channels=2, channels=tuple(channels),
                strides=tuple(strides), num_res_units=num_res_units, norm=norm)


def check_divisible(name: str, size: Sequence[int], strides: Sequence[int]) -> None:
    """Raise :class:`MedrlInputError` unless every side of ``size`` is a multiple of the UNet's total stride."""
    divisor = math.prod(strides)
    if any(int(s) % divisor for s in size):
        raise MedrlInputError(name, f"{list(size)} must be multiples of {divisor} (the product of the network's strides)")


def batch_hints(clicks: Sequence[Sequence[Click]], shape: Sequence[int], spacings: Sequence[Sequence[float]],
                encoding: ClickEncoding, device: torch.device | str | None = None) -> torch.Tensor:
    """(B, 2, X, Y, Z) float32 hint maps [h+, h−] in [0, 1] of every volume's clicks so far."""
    return torch.stack([hint_maps(c, shape, s, encoding.hint_sigma_mm, device) for c, s in zip(clicks, spacings)])


def network_input(image: torch.Tensor, p: torch.Tensor, hints: torch.Tensor, encoding: ClickEncoding) -> torch.Tensor:
    """(B, 4, X, Y, Z) float32 [image, previous, h+, h−] from image (B, 1, …), p (B, 1, …) in [0, 1] and
    hints (B, 2, …); ``previous`` is p's mask or p itself (``encoding.previous``)."""
    previous = to_mask(p).float() if encoding.previous == "mask" else p
    return build_state(image, previous, hints)


def keep_clicked(p: torch.Tensor, clicks: Sequence[Sequence[Click]], spacings: Sequence[Sequence[float]],
                 encoding: ClickEncoding) -> torch.Tensor:
    """``p`` (B, 1, X, Y, Z) with every clicked voxel (within ``click_radius_mm``) set to its click's label
    (1 positive, 0 negative); later clicks win. A new float32 tensor."""
    p = p.float().clone()
    for b, (volume_clicks, spacing) in enumerate(zip(clicks, spacings)):
        for click in volume_clicks:
            ball = click_ball(click, p.shape[2:], spacing, encoding.click_radius_mm, p.device)
            p[b, 0][ball] = float(click.positive)
    return p


def foreground_probability(logits: torch.Tensor) -> torch.Tensor:
    """(B, 2, …) logits -> (B, 1, …) float32 foreground probability (softmax's channel 1)."""
    return torch.softmax(logits.float(), dim=1)[:, 1:2]


def windowed_probability(net: nn.Module, inputs: torch.Tensor, roi_size: Sequence[int], overlap: float = 0.25,
                         sw_batch_size: int = 4, window_device: torch.device | str | None = None) -> torch.Tensor:
    """Foreground probability of whole volumes by Gaussian-blended sliding windows of ``roi_size``.

    Args:
        inputs: (B, 4, X, Y, Z) float32 network input, any size (windows are padded as needed).
        window_device: where the windows run (default: ``inputs``' device); stitched on ``inputs``' device.

    Returns:
        (B, 1, X, Y, Z) float32 in [0, 1], on ``inputs``' device.
    """
    probability = sliding_window_inference(inputs, tuple(roi_size), sw_batch_size, lambda w: foreground_probability(net(w)),
                                           overlap=overlap, mode="gaussian", sw_device=window_device or inputs.device,
                                           device=inputs.device)
    return torch.as_tensor(probability).clamp(0.0, 1.0)


def interact(net: nn.Module, image: torch.Tensor, p: torch.Tensor, clicks: Sequence[Sequence[Click]],
             spacings: Sequence[Sequence[float]], encoding: ClickEncoding, roi_size: Sequence[int] | None = None,
             overlap: float = 0.25, window_device: torch.device | str | None = None) -> torch.Tensor:
    """One interaction of the click network, without gradient: all clicks so far -> hint maps -> the
    network on [image, previous, h+, h−] -> the next probabilities, clicked voxels set to their labels.

    Args:
        net: a network of :func:`build_click_net` (in evaluation mode for inference).
        image: (B, 1, X, Y, Z) float32 preprocessed images.
        p: (B, 1, X, Y, Z) float32 in [0, 1], the previous result (or the starting mask).
        clicks: B lists of every click so far (voxel indices of this grid).
        spacings: B voxel sizes in mm.
        encoding: the checkpoint's :class:`ClickEncoding`.
        roi_size: sliding windows of this size (whole volumes); ``None``: one pass over the input as it
            is (training patches, whose sides are multiples of the total stride).
        overlap: window overlap fraction.
        window_device: where windows run (the result is stitched on ``image``'s device).

    Returns:
        (B, 1, X, Y, Z) float32 in [0, 1] on ``image``'s device.
    """
    with torch.no_grad():
        inputs = network_input(image, p, batch_hints(clicks, image.shape[2:], spacings, encoding, image.device), encoding)
        if roi_size is None:
            probability = foreground_probability(net(inputs))
        else:
            probability = windowed_probability(net, inputs, roi_size, overlap, window_device=window_device)
    return keep_clicked(probability, clicks, spacings, encoding)
