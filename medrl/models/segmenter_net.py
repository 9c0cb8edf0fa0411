"""The initial segmenter's network: a MONAI UNet, its sliding-window foreground probability and, for a
multi-class segmenter, its label map; and loading it frozen from a checkpoint.

Trained by :class:`medrl.training.segmenter.SegmenterModule`; used by inference (:class:`medrl.inference.refiner.Refiner`)
and by training's episode starts (the agents and the click network start half their patches from its masks).
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import UNet

from medrl.errors import MedrlInputError
from medrl.models.checkpoint import Checkpoint


def build_segmenter_net(channels: Sequence[int] = (16, 32, 64, 128), strides: Sequence[int] = (2, 2, 2),
                        num_res_units: int = 1, norm: str = "instance", out_channels: int = 2) -> UNet:
    """MONAI ``UNet``: 1 input channel (the scan), ``out_channels`` logits (background, then each class; 2 for
    one foreground)."""
    return UNet(spatial_dims=3, in_channels=1, out_channels=out_channels, channels=tuple(channels), strides=tuple(strides),
                num_res_units=num_res_units, norm=norm)


WINDOW_OVERLAP, WINDOWS_PER_BATCH = 0.25, 4
"""The segmenter's sliding windows: their overlap and how many run per forward pass."""


def segment_probability(net: torch.nn.Module, image: torch.Tensor, roi_size: Sequence[int],
                        sw_batch_size: int = WINDOWS_PER_BATCH, overlap: float = WINDOW_OVERLAP,
                        window_device: torch.device | str | None = None, on_windows: Callable[[], None] | None = None) -> torch.Tensor:
    """Foreground probability of a whole volume by sliding windows.

    Each window's softmax foreground channel is blended (Gaussian weights) into one output channel,
    so the stitched buffer holds one float per voxel, not two logits.

    Args:
        net: a network from :func:`build_segmenter_net`.
        image: (B, 1, X, Y, Z) float32 preprocessed scan, any size (windows are padded as needed).
        roi_size: window size in voxels; each side a multiple of the UNet's total stride.
        window_device: where the windows run (default: ``image``'s device); the result is stitched on
            ``image``'s device, so a whole CT can stay on the CPU while windows run on a GPU.
        on_windows: called after each batch of ``sw_batch_size`` windows (progress).

    Returns:
        (B, 1, X, Y, Z) float32 in [0, 1], on ``image``'s device.
    """

    def foreground(window: torch.Tensor) -> torch.Tensor:
        probability = torch.softmax(net(window), dim=1)[:, 1:2]
        if on_windows is not None:
            on_windows()
        return probability

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


def load_frozen_segmenter(checkpoint: Checkpoint, source: str | os.PathLike = "checkpoint") -> tuple[torch.nn.Module, dict]:
    """The segmenter network of a medrl checkpoint (a segmenter's or agents'), frozen in evaluation mode.

    Args:
        checkpoint: the typed checkpoint (:meth:`Checkpoint.load`).
        source: the checkpoint's path, for the error message.

    Returns:
        ``(net, record)``: the network (no gradients) and its plain-typed record (``architecture``,
        ``roi_size``, ``prefix``, and ``classes`` for a multi-class segmenter), as a new checkpoint stores it.

    Raises:
        MedrlInputError: the checkpoint holds no segmenter.
    """
    part = checkpoint.segmenter
    if part is None:
        raise MedrlInputError(source, "this checkpoint has no segmenter")
    net = build_segmenter_net(**part.architecture)
    net.load_state_dict(part.weights(checkpoint.state_dict))
    return net.requires_grad_(False).eval(), part.record()
