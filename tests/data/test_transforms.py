"""Preprocessing: canonical RAS, spacing, intensity presets, crop — and inversion back to the input grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medrl.data.geometry import orientation_code
from medrl.data.loading import load_case
from medrl.data.transforms import Preprocessing, invert, preprocessing_transform


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "LAS"])
@pytest.mark.parametrize("spacing, target", [((1.0, 1.0, 1.0), None), ((0.7, 0.9, 2.5), (1.4, 1.4, 1.4))])
@pytest.mark.parametrize("crop", [False, True])
def test_prediction_inverts_to_input_grid(write_case, orientation, spacing, target, crop):
    image_path, label_path, affine = write_case(orientation, spacing, shape=(24, 20, 12))
    case = load_case({"image": str(image_path), "label": str(label_path)})
    original_label = case["label"][0].numpy().copy()
    transform = preprocessing_transform(Preprocessing(spacing=target, intensity="none", crop_foreground=crop))
    data = transform(case)

    assert orientation_code(data["image"].affine.numpy()) == "RAS"
    if target is not None:
        np.testing.assert_allclose(np.linalg.norm(data["image"].affine.numpy()[:3, :3], axis=0), target, atol=1e-5)

    data["prediction"] = data["label"].float()  # a perfect prediction on the working grid
    back = invert(transform, data, "prediction")
    assert tuple(back.shape[1:]) == original_label.shape
    np.testing.assert_allclose(back.affine.numpy(), affine, atol=1e-4)
    agreement = ((back[0].numpy() > 0.5) == (original_label > 0)).mean()
    assert agreement == 1.0 if target is None else agreement > 0.97  # resampling blurs edges a little


def test_ct_and_mr_presets_scale_to_unit_range(write_case):
    image_path, _, _ = write_case()
    ct = preprocessing_transform(Preprocessing(intensity="ct", ct_window=(-10.0, 50.0)))(load_case({"image": str(image_path)}))
    assert float(ct["image"].min()) == 0.0 and float(ct["image"].max()) == 1.0
    raw = load_case({"image": str(image_path)})["image"]
    expected = torch.clamp((raw + 10.0) / 60.0, 0, 1)
    torch.testing.assert_close(ct["image"].as_tensor(), expected.as_tensor())
    mr = preprocessing_transform(Preprocessing(intensity="mr", mr_percentiles=(1.0, 99.0)))(load_case({"image": str(image_path)}))
    assert float(mr["image"].min()) == 0.0 and float(mr["image"].max()) == 1.0


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="intensity"):
        Preprocessing(intensity="pet")
