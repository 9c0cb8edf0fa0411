"""``ClickNetworkModule``: the supervised baseline of medrl's agents — a DeepEdit-style click-refinement network.

The same MONAI UNet backbone as the agents' policy, on the same input [image, previous mask, h+, h−]
built by the same code (robot clinician, Gaussian hint maps in mm; see
:mod:`medrl.models.click_net`), but with two output logits per voxel trained by Dice + CE
on the truth instead of actions trained by a reward. Each training step, on a batch of patches
(:class:`medrl.training.datamodule.MedrlDataModule`):

1. starting masks: the batch's ``initial`` masks (perturbed labels, the dataset's or a review's), and
   for a share ``segmenter_fraction`` of the dataset patches the frozen segmenter's, as the agents do;
2. DeepEdit's click simulation: draw n uniformly in 1..K (``interactions``); play n − 1 robot
   interactions without gradient (the robot clicks the current mask's largest error components
   against the target where it is known, the hint maps grow, the network predicts the next mask);
3. the n-th interaction's robot clicks, then one supervised step on that state: the partial Dice + CE
   loss (:class:`~medrl.training.click_interactions.PartialDiceCELoss`) over the voxels whose target
   is known — the label where the patch has one (and, if a batch carries a per-voxel ``known`` map,
   only there), overridden by a clinician's corrections. A reviewed scan without label trains from
   its corrections alone; a patch with no known voxel teaches nothing.

Validation plays the robot-clinician protocol on whole validation cases in sliding windows of
``roi_size`` and logs the Dice after each interaction (``val/dice_0`` = starting mask … ``val/dice_K``,
``val/dice_gain``; with a segmenter also ``val_segmenter/...`` from its masks), like the agents.
Checkpoints carry a plain-typed ``"click_network"`` part (see :mod:`medrl.models.checkpoint`), so
``medrl evaluate --compare supervised=CKPT`` rebuilds the network from the file alone.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import pytorch_lightning as pl
import torch

from medrl.data.mask_metrics import known_dice
from medrl.env.clicks import robot_round
from medrl.env.protocol import play_protocol
from medrl.env.state import MASK_THRESHOLD, to_mask
from medrl.errors import MedrlInputError
from medrl.models.checkpoint import Checkpoint, inference_bundle
from medrl.models.click_net import ClickEncoding, batch_hints, build_click_net, check_divisible, interact, network_input
from medrl.models.segmenter_net import load_frozen_segmenter
from medrl.training.agents import batch_spacings, corrections_of, label_validity
from medrl.training.click_interactions import ClickLossTerms, PartialDiceCELoss, training_target
from medrl.training.frozen_segmenter import with_segmenter_masks
from medrl.training.validation_logs import log_dice_curve, robot_seed_of

KNOWN_KEY = "known"
"""Optional batch entry (B, 1, X, Y, Z) {0, 1}: where the patch's label is known (partial labels)."""


def _plain(tensor) -> torch.Tensor:
    """A MetaTensor's plain tensor (other tensors as they are)."""
    return tensor.as_tensor() if hasattr(tensor, "as_tensor") else torch.as_tensor(tensor)


def batch_target(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """``(target, known)`` (B, 1, X, Y, Z) float32 {0, 1} and bool of a training batch: the label where
    the patch has one (``has_label``) and, when the batch has it, where its ``known`` map says so;
    clinician ``corrections`` override both."""
    label = _plain(batch["label"]).float()
    label_known = label_validity(batch.get("has_label"), label)
    if batch.get(KNOWN_KEY) is not None:
        per_voxel = _plain(batch[KNOWN_KEY]).to(label.device).bool()
        label_known = per_voxel if label_known is None else label_known & per_voxel
    return training_target(label, label_known, corrections_of(batch))


class ClickNetworkModule(pl.LightningModule):
    """Trains the supervised click-refinement network.

    Args:
        segmenter_checkpoint: a ``SegmenterModule`` (or medrl agents) checkpoint whose segmenter makes
            the starting masks of a share of the patches; it travels (frozen) in this module's
            checkpoints. ``None``: patches start from their ``initial`` masks only.
        segmenter_fraction: share of the dataset patches (not reviews) that start from the segmenter's mask.
        interactions: K; each training step plays n − 1 simulated interactions (n uniform in 1..K) and
            trains on the n-th.
        val_interactions: interactions of the validation protocol.
        clicks_per_interaction: robot clicks per interaction (one per error component).
        hint_sigma_mm: σ in mm of the Gaussian hint maps (use the agents' ``env.hint_sigma_mm``).
        click_radius_mm: a click sets the voxels within this radius to its label (the agents' ``env.click_radius_mm``).
        previous: the previous result as input: ``"mask"`` (p ≥ 0.5 as {0, 1}) or ``"probability"``.
        channels: UNet feature channels per level (the agents' ``policy_channels``).
        strides: UNet strides (one fewer than ``channels``).
        num_res_units: residual units per UNet block.
        norm: MONAI normalisation of the UNet blocks.
        lambda_dice: weight of the Dice term of the loss.
        lambda_ce: weight of the cross-entropy term.
        roi_size: sliding window in validation and inference (normally the training patch size);
            each side a multiple of ∏ strides.
        window_overlap: overlap of the sliding windows in validation (inference keeps its own).
        lr: Adam learning rate.
    """

    def __init__(
        self,
        segmenter_checkpoint: Optional[str] = None,
        segmenter_fraction: float = 0.5,
        interactions: int = 5,
        val_interactions: int = 5,
        clicks_per_interaction: int = 1,
        hint_sigma_mm: float = 5.0,
        click_radius_mm: float = 0.0,
        previous: str = "mask",
        channels: tuple[int, ...] = (16, 32, 64, 128),
        strides: tuple[int, ...] = (2, 2, 2),
        num_res_units: int = 0,
        norm: str = "instance",
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        roi_size: tuple[int, int, int] = (32, 32, 32),
        window_overlap: float = 0.25,
        lr: float = 1e-3,
    ):
        super().__init__()
        self.save_hyperparameters()
        self._check_settings()
        self.encoding = ClickEncoding(hint_sigma_mm, click_radius_mm, previous)
        self.net = build_click_net(channels, strides, num_res_units, norm)
        self.loss = PartialDiceCELoss(lambda_dice, lambda_ce)
        self.segmenter, self.segmenter_bundle = None, None
        if segmenter_checkpoint:
            self._load_segmenter(segmenter_checkpoint)

    def _check_settings(self) -> None:
        """Raise :class:`MedrlInputError` naming the first setting with an impossible value."""
        h = self.hparams
        checks = [
            ("model.interactions", h.interactions >= 1, "must be 1 or more"),
            ("model.val_interactions", h.val_interactions >= 0, "must be 0 or more"),
            ("model.clicks_per_interaction", h.clicks_per_interaction >= 1, "must be 1 or more"),
            ("model.segmenter_fraction", 0.0 <= h.segmenter_fraction <= 1.0, "must lie in [0, 1]"),
            ("model.strides", len(h.strides) == len(h.channels) - 1, "needs one entry fewer than model.channels"),
        ]
        for name, fine, problem in checks:
            if not fine:
                raise MedrlInputError(name, problem)
        check_divisible("model.roi_size", h.roi_size, h.strides)

    def _load_segmenter(self, path: str) -> None:
        self.segmenter, self.segmenter_bundle = load_frozen_segmenter(Checkpoint.load(path), path)

    def train(self, mode: bool = True) -> "ClickNetworkModule":
        """Switch the network's mode; the frozen segmenter always stays in evaluation mode."""
        super().train(mode)
        if self.segmenter is not None:
            self.segmenter.eval()
        return self

    # ------------------------------------------------------------------------------ starting masks
    def starting_masks(self, image: torch.Tensor, given: torch.Tensor, fraction: float,
                       from_review: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 1, X, Y, Z) float32 {0, 1} starting masks: ``given``, replaced by the segmenter's mask for
        the first ``fraction`` of the patches that are not from a review (none without a segmenter)."""
        roi = self.segmenter_bundle["roi_size"] if self.segmenter_bundle else None
        return with_segmenter_masks(self.segmenter, roi, image, given.float(), fraction, from_review)

    # ------------------------------------------------------------------------------------ training
    def episode_loss(self, image: torch.Tensor, start: torch.Tensor, target: torch.Tensor, known: torch.Tensor,
                     spacings: Sequence[Sequence[float]],
                     rng: np.random.Generator) -> tuple[ClickLossTerms, torch.Tensor, torch.Tensor]:
        """DeepEdit's recipe on one batch: n − 1 simulated interactions (n uniform in 1..K), then the
        loss of the n-th.

        Args:
            image: (B, 1, X, Y, Z) float32 patches (sides multiples of ∏ strides).
            start: (B, 1, X, Y, Z) float32 starting masks {0, 1} (or probabilities in [0, 1]).
            target, known: (B, 1, X, Y, Z) {0, 1} target and bool, where it is known.
            spacings: B voxel sizes in mm.
            rng: the robot clinician's generator.

        Returns:
            ``(terms, dice_before, dice_after)``: the loss terms (with graph), and (B,) Dice within
            ``known`` of the trained interaction's input mask and of the network's answer (NaN
            where nothing is known).
        """
        check_divisible("data.patch_size", image.shape[2:], self.hparams.strides)
        n = 1 + int(torch.randint(self.hparams.interactions, ()).item())
        p, clicks = start.float(), [[] for _ in range(image.shape[0])]
        for k in range(n):
            self._add_robot_clicks(clicks, p, target, known, spacings, rng)
            if k < n - 1:
                p = interact(self.net, image, p, clicks, spacings, self.encoding)
        hints = batch_hints(clicks, image.shape[2:], spacings, self.encoding, image.device)
        logits = self.net(network_input(image, p, hints, self.encoding))
        answer = logits.detach().argmax(1, keepdim=True) == 1
        return self.loss(logits, target, known), known_dice(to_mask(p), target, known), known_dice(answer, target, known)

    def _add_robot_clicks(self, clicks: list[list], p: torch.Tensor, target: torch.Tensor, known: torch.Tensor | None,
                          spacings: Sequence[Sequence[float]], rng: np.random.Generator) -> None:
        """Extend each volume's clicks by the robot clinician's clicks of one interaction on p's mask."""
        new = robot_round(to_mask(p), target, spacings, self.hparams.clicks_per_interaction, known, rng)
        for volume_clicks, volume_new in zip(clicks, new):
            volume_clicks.extend(volume_new)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        image = _plain(batch["image"]).float()
        start = self.starting_masks(image, _plain(batch["initial"]), self.hparams.segmenter_fraction, batch.get("from_review"))
        target, known = batch_target(batch)
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
        terms, before, after = self.episode_loss(image, start, target, known, batch_spacings(batch["image"]), rng)
        size = image.shape[0]
        for name, value in terms._asdict().items():
            self.log(f"train/loss/{name}", value.detach(), prog_bar=name == "total", batch_size=size)
        self.log("train/dice/before", before.nanmean(), batch_size=size)
        self.log("train/dice/after", after.nanmean(), batch_size=size)
        self.log("train/known_fraction", known.float().mean(), batch_size=size)
        return terms.total

    # ---------------------------------------------------------------------------------- validation
    def robot_protocol(self, image: torch.Tensor, start: torch.Tensor, label: torch.Tensor,
                       spacings: Sequence[Sequence[float]], interactions: int, seed: int = 0) -> torch.Tensor:
        """The robot-clinician protocol (:func:`medrl.env.protocol.play_protocol`) on whole volumes, in sliding windows
        of ``roi_size``.

        Args:
            image: (B, 1, X, Y, Z) float32; start: (B, 1, X, Y, Z) starting masks {0, 1};
            label: (B, 1, X, Y, Z) {0, 1} truth (known everywhere).
            spacings: B voxel sizes in mm; interactions: K; seed: the robot's tie-breaking seed.

        Returns:
            (K + 1, B) float32 Dice: the starting mask, then after each interaction.
        """
        h, clicks, dice = self.hparams, [[] for _ in range(image.shape[0])], []

        def answer(p: torch.Tensor, new: list) -> torch.Tensor:
            for volume_clicks, volume_new in zip(clicks, new):
                volume_clicks.extend(volume_new)
            return interact(self.net, image, p, clicks, spacings, self.encoding, h.roi_size, h.window_overlap)

        play_protocol(start.float(), label, spacings, interactions, answer, h.clicks_per_interaction, seed,
                      record=lambda k, p, new: dice.append(known_dice(to_mask(p), label)))
        return torch.stack(dice)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        image, label = _plain(batch["image"]).float(), _plain(batch["label"]).float()
        starts = {"val": _plain(batch["initial"]).float()}
        if self.segmenter is not None:
            starts["val_segmenter"] = self.starting_masks(image, starts["val"], fraction=1.0)
        for prefix, start in starts.items():
            dice = self.robot_protocol(image, start, label, batch_spacings(batch["image"]), self.hparams.val_interactions,
                                       seed=robot_seed_of(batch, default=batch_idx))
            log_dice_curve(self, prefix, dice, image.shape[0], prog_bar=prefix == "val")

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.hparams.lr)

    # --------------------------------------------------------------------------------- checkpoints
    def bundle_parts(self) -> dict:
        """This module's part of the checkpoint's inference bundle (see :mod:`medrl.models.checkpoint`)."""
        h = self.hparams
        parts = {"click_network": {
            "architecture": {"channels": list(h.channels), "strides": list(h.strides), "num_res_units": h.num_res_units,
                             "norm": h.norm},
            "roi_size": list(h.roi_size), "prefix": "net.", "encoding": dataclasses.asdict(self.encoding),
            "threshold": MASK_THRESHOLD, "clicks_per_interaction": h.clicks_per_interaction,
        }}
        if self.segmenter_bundle is not None:
            parts["segmenter"] = {**self.segmenter_bundle, "prefix": "segmenter."}
        return parts

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["medrl"] = inference_bundle(self)
