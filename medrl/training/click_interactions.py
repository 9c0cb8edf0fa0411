"""Training the supervised click network: its loss, its target and the robot clinician's clicks of one round.

The network itself, its input encoding and one interaction are :mod:`medrl.models.click_net`'s. The loss is
MONAI's Dice + cross-entropy restricted to the voxels whose target is known (:class:`PartialDiceCELoss`): with
every voxel known it equals ``monai.losses.DiceCELoss(to_onehot_y=True, softmax=True)``; a voxel whose target is
unknown changes nothing, so sparse labels train through their known voxels only (partial cross-entropy).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from monai.losses import MaskedDiceLoss
from torch import nn

from medrl.env.rewards.target import reward_target, split_corrections


# ------------------------------------------------------------------------------------------ loss
class ClickLossTerms(NamedTuple):
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

    def forward(self, logits: torch.Tensor, target: torch.Tensor, known: torch.Tensor | None = None) -> ClickLossTerms:
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
        return ClickLossTerms(self.lambda_dice * dice + self.lambda_ce * ce, dice, ce)


# -------------------------------------------------------------------------------------- targets
def training_target(label: torch.Tensor, label_known: torch.Tensor | None = None,
                    corrections: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The supervised target and where it is known, as the agents' reward target is built
    (:func:`medrl.env.rewards.target.reward_target`): a clinician's correction overrides the label; a voxel
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
