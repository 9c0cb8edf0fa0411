"""The frozen initial segmenter inside the agents' and the click network's modules: loaded from a
checkpoint, and making the starting masks of a share of the training patches.

Both training modules start some episodes from the segmenter's mask (what a scan gets in ``medrl
predict``), the others from perturbed labels or a clinician's review; this file is that one rule.
"""

from __future__ import annotations

import os

import torch

from medrl.errors import MedrlInputError
from medrl.training.bundle import sub_state_dict
from medrl.training.segmenter import build_segmenter_net, segment_probability


def load_frozen_segmenter(checkpoint: dict, source: str | os.PathLike = "checkpoint") -> tuple[torch.nn.Module, dict]:
    """The segmenter network of a medrl checkpoint (a segmenter's or agents'), frozen in evaluation mode.

    Args:
        checkpoint: a checkpoint dict from :func:`medrl.training.bundle.read_checkpoint`.
        source: the checkpoint's path, for the error message.

    Returns:
        ``(net, bundle)``: the network (no gradients) and its plain-typed bundle entry (architecture,
        ``roi_size``, ``prefix``).

    Raises:
        MedrlInputError: the checkpoint holds no segmenter.
    """
    bundle = checkpoint["medrl"].get("segmenter")
    if not bundle:
        raise MedrlInputError(source, "this checkpoint has no segmenter")
    net = build_segmenter_net(**bundle["architecture"])
    net.load_state_dict(sub_state_dict(checkpoint["state_dict"], bundle["prefix"]))
    return net.requires_grad_(False).eval(), bundle


def with_segmenter_masks(segmenter: torch.nn.Module | None, roi_size, image: torch.Tensor, given: torch.Tensor,
                         fraction: float, from_review: torch.Tensor | None = None) -> torch.Tensor:
    """Starting masks: ``given``, with the segmenter's mask for the first ``fraction`` of the patches
    that are not from a clinician's review (a review starts from the mask the clinician started from).

    Args:
        segmenter: the frozen segmenter, or ``None`` (then ``given`` is returned unchanged, as a copy).
        roi_size: the segmenter's sliding-window size.
        image: (B, 1, X, Y, Z) float32 patches.
        given: (B, 1, X, Y, Z) {0, 1} masks (any dtype; the result keeps it).
        fraction: share in [0, 1] of the non-review patches to start from the segmenter.
        from_review: optional (B,) bool flags of review patches.

    Returns:
        (B, 1, X, Y, Z) masks of ``given``'s dtype.
    """
    masks = given.clone()
    candidates = torch.arange(image.shape[0]) if from_review is None else torch.nonzero(~from_review.cpu().bool())[:, 0]
    chosen = candidates[: int(round(fraction * len(candidates)))] if segmenter is not None else candidates[:0]
    if len(chosen):
        chosen = chosen.to(image.device)
        with torch.no_grad():
            probability = segment_probability(segmenter, image[chosen], roi_size)
        masks[chosen] = (probability >= 0.5).to(masks.dtype)
    return masks
