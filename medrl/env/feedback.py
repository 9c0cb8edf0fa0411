"""Clinician feedback overrides the reward's target (DESIGN.md, "The method").

Per voxel, the target used in the reward is: the clinician's label where the clinician clicked or
painted it (optionally weighted more); else the dataset's label where one exists; else nothing, and
the voxel carries no reward and no loss. So a scan with no ground truth still trains from its
corrections.
"""

from __future__ import annotations

import torch

from medrl.errors import MedrlInputError


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
