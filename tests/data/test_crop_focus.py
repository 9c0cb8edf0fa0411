"""Where training patches are centred: positives on the label (or a review's corrections), negatives on
true background — MONAI alone, given a uint8 label, counts every voxel as background."""

from __future__ import annotations

import torch
from monai.data import MetaTensor
from monai.transforms.utils import map_binary_to_indices

from medrl.data.label_transforms import CropFocusd


def _case(has_label: bool) -> dict:
    label = torch.zeros(1, 12, 12, 12, dtype=torch.uint8)
    label[:, 4:8, 4:8, 4:8] = 1
    corrections = torch.zeros_like(label)
    corrections[:, 5, 5, 5] = 2
    return {"label": MetaTensor(label if has_label else torch.zeros_like(label)), "corrections": corrections,
            "has_label": has_label}


def test_negatives_of_a_labelled_case_lie_on_background():
    case = CropFocusd(reach=(2, 2, 2))(_case(has_label=True))
    foreground, background = map_binary_to_indices(case["crop_focus"], case["crop_region"], 0)
    assert len(foreground) == 64 and len(background) == 12**3 - 64
    label = case["label"].flatten()
    assert label[torch.as_tensor(foreground)].all() and not label[torch.as_tensor(background)].any()
    _, monai_background = map_binary_to_indices(case["label"], None, 0)
    assert len(monai_background) == 12**3  # MONAI's own, with a uint8 label: every voxel


def test_a_case_known_only_by_corrections_is_centred_near_them():
    case = CropFocusd(reach=(2, 2, 2))(_case(has_label=False))
    foreground, background = map_binary_to_indices(case["crop_focus"], case["crop_region"], 0)
    assert torch.as_tensor(foreground).tolist() == [5 * 144 + 5 * 12 + 5]  # the corrected voxel
    assert len(background) == 5**3 - 1  # the rest of the box within reach of it
