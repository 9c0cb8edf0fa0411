"""``SegmenterModule``: the maximum-likelihood step before RL — a MONAI UNet trained with Dice + CE.

Its masks are the refinement agents' starting point, so that ``medrl predict`` works on a bare scan.
Validation runs sliding-window inference on whole cases and logs the mean Dice (``val/dice``).

With ``classes`` (a list of label-value groups, one per class: ``[[47], [48], [59, 60]]``) it is a multi-class
segmenter: softmax over background and the classes, trained on the class-index maps the DataModule makes
with the same ``label_classes``; :func:`medrl.models.segmenter_net.segment_labels` turns its output back into a map of label values
(each class painted with its first label value), from which any one structure's mask can be taken.
"""

from __future__ import annotations

from typing import Optional

import pytorch_lightning as pl
import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.metrics import compute_dice
from monai.networks import one_hot

from medrl.models.checkpoint import inference_bundle
from medrl.models.segmenter_net import build_segmenter_net, segment_probability


class SegmenterModule(pl.LightningModule):
    """Trains the initial segmenter on (image, label) patches.

    Args:
        channels: UNet feature channels per level.
        strides: UNet downsampling strides (one fewer than ``channels``).
        num_res_units: residual units per UNet block.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        roi_size: sliding-window size for validation and inference (multiple of the total stride).
        sw_batch_size: windows per forward pass.
        classes: ``None`` (one foreground) or the label values of each class of a multi-class segmenter
            (give the DataModule the same ``label_classes``).
    """

    def __init__(
        self,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        strides: tuple[int, ...] = (2, 2, 2),
        num_res_units: int = 1,
        lr: float = 2e-3,
        weight_decay: float = 1e-5,
        roi_size: tuple[int, int, int] = (32, 32, 32),
        sw_batch_size: int = 4,
        classes: Optional[list[list[int]]] = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.n_outputs = 2 if classes is None else len(classes) + 1
        self.net = build_segmenter_net(channels, strides, num_res_units, out_channels=self.n_outputs)
        self.loss = DiceCELoss(to_onehot_y=True, softmax=True)

    def bundle_parts(self) -> dict:
        """This module's part of the checkpoint's inference bundle (see :mod:`medrl.models.checkpoint`)."""
        architecture = {"channels": list(self.hparams.channels), "strides": list(self.hparams.strides),
                        "num_res_units": self.hparams.num_res_units, "out_channels": self.n_outputs}
        part = {"architecture": architecture, "roi_size": list(self.hparams.roi_size), "prefix": "net."}
        if self.hparams.classes is not None:
            part["classes"] = [[int(v) for v in group] for group in self.hparams.classes]
        return {"segmenter": part}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        image, label = batch["image"].as_tensor(), batch["label"].as_tensor().long()
        loss = self.loss(self.net(image), label)
        self.log("train/loss", loss, prog_bar=True, batch_size=image.shape[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        image, label = batch["image"].as_tensor(), batch["label"].as_tensor()
        if self.hparams.classes is None:
            probability = segment_probability(self.net, image, self.hparams.roi_size, self.hparams.sw_batch_size)
            dice = compute_dice((probability >= 0.5).float(), label.float(), include_background=True, ignore_empty=False)
        else:
            logits = sliding_window_inference(image, self.hparams.roi_size, self.hparams.sw_batch_size, self.net, mode="gaussian")
            predicted = one_hot(torch.as_tensor(logits).argmax(1, keepdim=True), self.n_outputs)
            dice = compute_dice(predicted, one_hot(label.long(), self.n_outputs), include_background=False, ignore_empty=False)
        self.log("val/dice", dice.nanmean(), prog_bar=True, sync_dist=True, batch_size=image.shape[0])

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["medrl"] = inference_bundle(self)
