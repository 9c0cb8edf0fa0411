"""Pure pieces of the supervised click-refinement network (DeepEdit-style), shared by its training
(:mod:`medrl.training.click_network`) and by ``medrl evaluate`` (:class:`medrl.evaluation.methods.ClickNetwork`).

The network sees what medrl's agents see, built by the same code: [image, previous mask, h+, h−]
(:func:`medrl.env.state.build_state`), the hint maps being Gaussians of the distance in mm to the
clicks so far (:func:`medrl.env.clicks.hint_maps`) and the clicks those of the robot clinician
(:func:`medrl.env.clicks.robot_clicks`). It answers with two logits per voxel (background,
foreground); the next probability map is their softmax's foreground channel, with every clicked voxel
set to the clinician's label, and the mask is p ≥ 0.5 (:data:`medrl.env.state.MASK_THRESHOLD`).

The loss is MONAI's Dice + cross-entropy restricted to the voxels whose target is known
(:class:`PartialDiceCELoss`): with every voxel known it equals ``monai.losses.DiceCELoss(to_onehot_y=True,
softmax=True)``; a voxel whose target is unknown changes nothing, so sparse labels train through
their known voxels only (partial cross-entropy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.inferers import sliding_window_inference
from monai.losses import MaskedDiceLoss
from monai.metrics import compute_dice
from monai.networks.nets import UNet
from torch import nn

from medrl.env.clicks import Click, click_ball, hint_maps, robot_clicks
from medrl.env.feedback import reward_target, split_corrections
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


# ------------------------------------------------------------------------------------------ loss
class LossTerms(NamedTuple):
    """Scalar float32 loss terms; ``total = lambda_dice·dice + lambda_ce·ce``."""

    total: torch.Tensor
    dice: torch.Tensor
    ce: torch.Tensor


class PartialDiceCELoss(nn.Module):
    """Dice + cross-entropy of two-class logits over the voxels whose target is known.

    * CE: the mean over known voxels (of the whole batch) of the voxel's cross-entropy;
    * Dice: MONAI's soft Dice loss per volume and class, on softmax probabilities and one-hot targets
      that are both zero where the target is unknown (``monai.losses.MaskedDiceLoss``), averaged over
      the volumes that hold a known voxel.

    With every voxel known this is ``monai.losses.DiceCELoss(to_onehot_y=True, softmax=True, lambda_dice,
    lambda_ce)`` (tested); a batch without any known voxel gives 0 (and zero gradients).

    Args:
        lambda_dice: weight of the Dice term.
        lambda_ce: weight of the cross-entropy term.
    """

    def __init__(self, lambda_dice: float = 1.0, lambda_ce: float = 1.0):
        super().__init__()
        self.lambda_dice, self.lambda_ce = float(lambda_dice), float(lambda_ce)
        self.dice = MaskedDiceLoss(softmax=True, reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor, known: torch.Tensor | None = None) -> LossTerms:
        """Args:
            logits: (B, 2, X, Y, Z) float32, background and foreground logits.
            target: (B, 1, X, Y, Z) {0, 1} (any dtype); read only where ``known``.
            known: (B, 1, X, Y, Z) bool (or {0, 1}), where ``target`` is known; ``None``: everywhere.
        """
        known = torch.ones_like(target, dtype=torch.bool) if known is None else known.bool()
        classes = (target > 0.5).long()[:, 0]
        one_hot = F.one_hot(classes, 2).movedim(-1, 1).float()
        per_volume = self.dice(logits, one_hot, known.float()).flatten(1).mean(1)  # (B,)
        has_known = known.flatten(1).any(1)
        dice = (per_volume * has_known).sum() / has_known.sum().clamp_min(1)
        ce_map = F.cross_entropy(logits, classes, reduction="none")  # (B, X, Y, Z)
        ce = (ce_map * known[:, 0]).sum() / known.sum().clamp_min(1)
        return LossTerms(self.lambda_dice * dice + self.lambda_ce * ce, dice, ce)


# -------------------------------------------------------------------------------------- targets
def training_target(label: torch.Tensor, label_known: torch.Tensor | None = None,
                    corrections: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The supervised target and where it is known, as the agents' reward target is built
    (:func:`medrl.env.feedback.reward_target`): a clinician's correction overrides the label; a voxel
    neither labelled nor corrected is unknown.

    Args:
        label: (B, 1, X, Y, Z) {0, 1} dataset label (zeros where there is none).
        label_known: (B, 1, X, Y, Z) bool, where ``label`` is known (``None``: everywhere).
        corrections: (B, 1, X, Y, Z) uint8 clinician corrections {0 untouched, 1 background, 2 foreground}.

    Returns:
        ``(target, known)``: (B, 1, X, Y, Z) float32 {0, 1} (0 where unknown) and bool.
    """
    if corrections is None:
        clinician_label, clinician_mask = torch.zeros_like(label, dtype=torch.float32), torch.zeros_like(label, dtype=torch.bool)
    else:
        clinician_label, clinician_mask = split_corrections(corrections)
    target, known, _ = reward_target(label.float(), clinician_label, clinician_mask, 1.0, label_known)
    return target, known


def known_dice(mask: torch.Tensor, target: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) float32 Dice of bool masks (B, 1, X, Y, Z) against ``target`` within ``known``; empty
    target and empty mask give 1, and a volume without a known voxel gives NaN."""
    known = torch.ones_like(mask, dtype=torch.bool) if known is None else known.bool()
    dice = compute_dice((mask & known).float(), (target > 0.5).float() * known, include_background=True,
                        ignore_empty=False)[:, 0]
    return dice.masked_fill(~known.flatten(1).any(1), float("nan"))


# ------------------------------------------------------------------------------------- clicks
def robot_round(p: torch.Tensor, target: torch.Tensor, known: torch.Tensor | None, spacings: Sequence[Sequence[float]],
                clicks_per_interaction: int, rng: np.random.Generator) -> list[list[Click]]:
    """The robot clinician's clicks of one interaction, for each of B volumes.

    Args:
        p: (B, 1, X, Y, Z) float32 current probabilities (the mask is p ≥ 0.5).
        target: (B, 1, X, Y, Z) {0, 1} truth; ``known``: where it is known (``None``: everywhere).
        spacings: B voxel sizes in mm.
        clicks_per_interaction: clicks per volume (one per error component, largest first).
        rng: the robot's tie-breaking generator.

    Returns:
        B lists of clicks (a volume without a known error gets none).
    """
    if len(spacings) != p.shape[0]:
        raise MedrlInputError("spacings", f"{len(spacings)} voxel sizes for {p.shape[0]} volumes")
    masks, targets = to_mask(p)[:, 0].cpu().numpy(), (target[:, 0] > 0.5).cpu().numpy()
    valid = None if known is None else known[:, 0].cpu().numpy()
    return [robot_clicks(masks[b], targets[b], spacings[b], clicks_per_interaction,
                         None if valid is None else valid[b], rng) for b in range(len(masks))]


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
