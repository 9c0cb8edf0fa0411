"""``SegmenterModule``: the maximum-likelihood step before RL — a MONAI UNet trained with Dice + CE.

Its masks are the refinement agents' starting point, so that ``medrl predict`` works on a bare scan.
Validation runs sliding-window inference on whole cases and logs the mean Dice (``val/dice``).

With ``classes`` (a list of label-value groups, one per class: ``[[47], [48], [59, 60]]``) it is a multi-class
segmenter: softmax over background and the classes, trained on the class-index maps the DataModule makes
with the same ``label_classes``; :func:`segment_labels` turns its output back into a map of label values
(each class painted with its first label value), from which any one structure's mask can be taken.
"""

from __future__ import annotations

from typing import Optional, Sequence

import pytorch_lightning as pl
import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.metrics import compute_dice
from monai.networks import one_hot
from monai.networks.nets import UNet


def build_segmenter_net(channels: Sequence[int] = (16, 32, 64, 128), strides: Sequence[int] = (2, 2, 2),
                        num_res_units: int = 1, norm: str = "instance", out_channels: int = 2) -> UNet:
    """MONAI ``UNet``: 1 input channel (the scan), ``out_channels`` logits (background, then each class; 2 for
    one foreground)."""
    return UNet(spatial_dims=3, in_channels=1, out_channels=out_channels, channels=tuple(channels), strides=tuple(strides),
                num_res_units=num_res_units, norm=norm)


def segment_probability(net: torch.nn.Module, image: torch.Tensor, roi_size: Sequence[int], sw_batch_size: int = 4,
                        overlap: float = 0.25, window_device: torch.device | str | None = None) -> torch.Tensor:
    """Foreground probability of a whole volume by sliding windows.

    Each window's softmax foreground channel is blended (Gaussian weights) into one output channel,
    so the stitched buffer holds one float per voxel, not two logits.

    Args:
        net: a network from :func:`build_segmenter_net`.
        image: (B, 1, X, Y, Z) float32 preprocessed scan, any size (windows are padded as needed).
        roi_size: window size in voxels; each side a multiple of the UNet's total stride.
        window_device: where the windows run (default: ``image``'s device); the result is stitched on
            ``image``'s device, so a whole CT can stay on the CPU while windows run on a GPU.

    Returns:
        (B, 1, X, Y, Z) float32 in [0, 1], on ``image``'s device.
    """

    def foreground(window: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(window), dim=1)[:, 1:2]

    probability = sliding_window_inference(image, tuple(roi_size), sw_batch_size, foreground, overlap=overlap,
                                           mode="gaussian", sw_device=window_device or image.device, device=image.device)
    return torch.as_tensor(probability)


@torch.no_grad()
def segment_labels(net: torch.nn.Module, image: torch.Tensor, roi_size: Sequence[int], classes: Sequence[Sequence[int]],
                   overlap: float = 0.25, window_device: torch.device | str | None = None) -> torch.Tensor:
    """Label map of a multi-class segmenter on a whole volume (sliding windows, logits blended, argmax).

    Args:
        net: a network from :func:`build_segmenter_net` with ``len(classes) + 1`` outputs.
        image: (B, 1, X, Y, Z) float32 preprocessed scan.
        roi_size: window size in voxels.
        classes: the label values of each class (class k + 1 is painted with ``classes[k][0]``).

    Returns:
        (B, 1, X, Y, Z) int32 label values (0 background), on ``image``'s device.
    """
    logits = sliding_window_inference(image, tuple(roi_size), 4, net, overlap=overlap, mode="gaussian",
                                      sw_device=window_device or image.device, device=image.device)
    values = torch.tensor([0, *(int(group[0]) for group in classes)], dtype=torch.int32, device=image.device)
    return values[torch.as_tensor(logits).argmax(dim=1, keepdim=True)]


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
        """This module's part of the checkpoint's inference bundle (see :mod:`medrl.training.bundle`)."""
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
        from medrl.training.bundle import inference_bundle

        checkpoint["medrl"] = inference_bundle(self)
