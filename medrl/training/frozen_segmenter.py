"""The frozen initial segmenter inside the agents' and the click network's modules (loaded by
:func:`medrl.models.segmenter_net.load_frozen_segmenter`) makes the starting masks of a share of the training patches.

Both training modules start some episodes from the segmenter's mask (what a scan gets in ``medrl
predict``), the others from perturbed labels or a clinician's review; this file is that one rule.
"""

from __future__ import annotations

import torch

from medrl.models.segmenter_net import segment_probability


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
