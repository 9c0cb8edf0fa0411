"""Intensity presets per scan: CT by its HU window, everything else by its own percentiles."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from medrl.data.intensity import ScaleIntensityd, guess_modality, preset_for_modality, resolved_preset


@pytest.mark.parametrize("modality, preset", [
    ("CT", "ct"), ("ct", "ct"), ("CT_arterial", "ct"), ("MR", "mr"), ("MR_T1", "mr"), ("MR T2", "mr"), ("FLAIR", "mr"),
    ("PET", "mr"), ("SPECT", "mr"), ("", None), (None, None),
])
def test_modality_names_choose_a_preset(modality, preset):
    assert preset_for_modality(modality) == preset


def test_air_in_hounsfield_units_means_ct():
    ct = torch.full((10, 10, 10), 40.0); ct[:2] = -1000.0
    z_scored_mr = torch.randn(10, 10, 10) * 2.0 - 3.0
    pet = torch.rand(10, 10, 10) * 20.0
    assert guess_modality(ct) == "CT"
    assert guess_modality(z_scored_mr) == guess_modality(pet) == "unknown"
    assert resolved_preset("auto", None, ct) == "ct" and resolved_preset("auto", None, pet) == "mr"
    assert resolved_preset("auto", "MR", ct) == "mr"  # a named modality wins over the guess
    assert resolved_preset("ct", "MR", pet) == "ct"  # a fixed preset is kept


def test_auto_scaling_per_case():
    scale = ScaleIntensityd()
    hu = MetaTensor(torch.tensor([[[[-1000.0, -175.0, 37.5, 250.0, 1000.0]]]]))
    out = scale({"image": hu, "modality": "CT"})
    assert out["intensity_preset"] == "ct"
    assert torch.allclose(out["image"].flatten(), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))
    mr = MetaTensor(torch.linspace(-3.0, 5.0, 1001).reshape(1, 1, 1, -1))
    out = scale({"image": mr})
    assert out["intensity_preset"] == "mr"
    assert float(out["image"].min()) == 0.0 and float(out["image"].max()) == 1.0
    assert abs(float(out["image"].median()) - 0.5) < 0.01  # percentiles do not care for the units
