"""Warnings when a scan does not look like what the checkpoint was made for."""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor

from medrl.data.transforms import Preprocessing
from medrl.inference.scan_checks import scan_mismatches


def _scan(values: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> MetaTensor:
    return MetaTensor(torch.from_numpy(values[None].astype(np.float32)), affine=torch.diag(torch.tensor([*spacing, 1.0])))


def test_a_ct_checkpoint_warns_about_an_mr_and_not_about_a_ct():
    mr = _scan(np.random.default_rng(0).uniform(0, 800, (12, 12, 12)))
    ct = _scan(np.where(np.arange(12 ** 3).reshape(12, 12, 12) % 7 == 0, -1000.0, 40.0))
    ct_checkpoint = Preprocessing(intensity="ct")
    assert any("does not look like CT" in w for w in scan_mismatches(ct_checkpoint, mr))
    assert scan_mismatches(ct_checkpoint, ct) == []
    assert scan_mismatches(ct_checkpoint, mr, modality="CT") == []  # the user's word wins over the guess
    assert any("looks like CT" in w for w in scan_mismatches(Preprocessing(intensity="mr"), ct))
    assert scan_mismatches(Preprocessing(intensity="auto"), mr) == []


def test_a_scan_far_from_the_working_spacing_is_flagged():
    checkpoint = Preprocessing(intensity="none", spacing=(1.0, 1.0, 1.0))
    values = np.zeros((8, 8, 8))
    assert scan_mismatches(checkpoint, _scan(values, (0.8, 0.8, 2.0))) == []
    assert any("far from the checkpoint's working grid" in w for w in scan_mismatches(checkpoint, _scan(values, (0.8, 0.8, 5.0))))
