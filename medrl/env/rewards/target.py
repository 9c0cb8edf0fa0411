"""Clinician feedback overrides the reward's target (docs/design.md, "The method").

Per voxel, the target used in the reward is: the clinician's label where the clinician clicked or
painted it (optionally weighted more); else the dataset's label where one exists; else nothing, and
the voxel carries no reward and no loss. So a scan with no ground truth still trains from its
corrections.

Corrections a clinician made earlier (recorded by a review, see :mod:`medrl.feedback.store`) are
stored as one uint8 map: :data:`UNTOUCHED` (0), :data:`MARKED_BACKGROUND` (1), :data:`MARKED_FOREGROUND`
(2); :func:`split_corrections` turns it into the clinician label and mask used here.
"""

from __future__ import annotations

import torch

from medrl.errors import MedrlInputError

UNTOUCHED, MARKED_BACKGROUND, MARKED_FOREGROUND = 0, 1, 2
"""Values of a corrections map: voxel untouched, marked background, marked foreground by a clinician."""


def split_corrections(corrections: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A corrections map as ``(clinician_label, clinician_mask)``.

    Args:
        corrections: any shape, integer values in {0, 1, 2} (see the module docstring).

    Returns:
        ``clinician_label`` float32 (1 where marked foreground, else 0) and ``clinician_mask`` bool
        (where the clinician marked anything), both of ``corrections``' shape.

    Raises:
        MedrlInputError: on values outside {0, 1, 2}.

    Example:
        >>> label, mask = split_corrections(torch.tensor([0, 1, 2]))
        >>> label.tolist(), mask.tolist()
        ([0.0, 0.0, 1.0], [False, True, True])
    """
    if corrections.is_floating_point() and not torch.equal(corrections, corrections.round()):
        raise MedrlInputError("corrections", "a corrections map holds the integers 0, 1 and 2")
    if corrections.numel() and (corrections.min() < UNTOUCHED or corrections.max() > MARKED_FOREGROUND):
        raise MedrlInputError("corrections", "values must be 0 (untouched), 1 (marked background) or 2 (marked foreground)")
    return (corrections == MARKED_FOREGROUND).float(), corrections != UNTOUCHED


def _check_same_shape(name: str, tensor: torch.Tensor | None, shape: torch.Size) -> None:
    if tensor is not None and tensor.shape != shape:
        raise MedrlInputError(name, f"shape {tuple(tensor.shape)} differs from clinician_mask shape {tuple(shape)}")


def reward_target(
    label: torch.Tensor | None,
    clinician_label: torch.Tensor,
    clinician_mask: torch.Tensor,
    clinician_weight: float = 1.0,
    label_valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Build the reward's target, valid mask and weight from the dataset label and the clinician's.

    Args:
        label: dataset label, (B, 1, D, H, W), values {0, 1} (bool, integer or float), or ``None``
            when the scan has no ground truth.
        clinician_label: the clinician's labels, same shape, values {0, 1}; read only where
            ``clinician_mask`` is set.
        clinician_mask: bool, same shape: voxels the clinician clicked or painted.
        clinician_weight: reward weight of clinician voxels (> 1 makes corrections count more).
        label_valid: optional bool, same shape: where ``label`` is known. ``None`` means everywhere
            if ``label`` is given.

    Returns:
        ``(target, valid, weight)``, all of the input shape:
        ``target`` float32 in {0, 1} (0 where invalid); ``valid`` bool; ``weight`` float32,
        ``clinician_weight`` on clinician voxels, 1 on other valid voxels, 0 on invalid voxels.
        With no label and an empty ``clinician_mask``, every voxel is invalid.

    Raises:
        MedrlInputError: if the shapes differ.

    Example:
        >>> t, v, w = reward_target(None, torch.ones(1, 1, 1, 1, 2), torch.tensor([[[[[True, False]]]]]))
        >>> t.flatten().tolist(), v.flatten().tolist()
        ([1.0, 0.0], [True, False])
    """
    clinician_mask = clinician_mask.bool()
    shape = clinician_mask.shape
    _check_same_shape("clinician_label", clinician_label, shape)
    _check_same_shape("label", label, shape)
    _check_same_shape("label_valid", label_valid, shape)

    if label is None:
        label = torch.zeros(shape, dtype=torch.float32, device=clinician_mask.device)
        label_valid = torch.zeros(shape, dtype=torch.bool, device=clinician_mask.device)
    elif label_valid is None:
        label_valid = torch.ones(shape, dtype=torch.bool, device=clinician_mask.device)

    valid = clinician_mask | label_valid.bool()
    target = torch.where(clinician_mask, clinician_label.float(), label.float())
    target = torch.where(valid, target, torch.zeros_like(target))
    weight = torch.where(clinician_mask, torch.full_like(target, clinician_weight), valid.float())
    return target, valid, weight
