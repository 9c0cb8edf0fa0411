"""Inference in bfloat16 on the CPU (autocast) runs and agrees with float32; a precision that does not exist is refused."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from medrl.env.clicks import Click
from medrl.errors import MedrlInputError
from medrl.inference.refiner import Refiner
from tests.inference.checkpoints import untrained_checkpoint
from tests.inference.scenes import two_blob_scene


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return untrained_checkpoint(tmp_path_factory.mktemp("ckpt"))


def test_bf16_on_the_cpu_runs_and_agrees_with_float32(checkpoint):
    scene = two_blob_scene()
    image = MetaTensor(torch.from_numpy(scene.image * 200.0)[None], affine=torch.eye(4, dtype=torch.float64))
    results = {}
    for precision in ("32", "bf16-mixed"):
        refiner = Refiner.from_checkpoint(checkpoint, precision=precision)
        case = refiner.prepare(image)
        mask = refiner.segment(case)
        p = refiner.refine(case, mask, [Click(scene.missed_centre, positive=True)])
        results[precision] = (mask, p)
    (mask32, p32), (mask16, p16) = results["32"], results["bf16-mixed"]
    assert p16.dtype == torch.float32 and float(p16.min()) >= 0.0 and float(p16.max()) <= 1.0
    assert (mask16 == mask32).float().mean() > 0.99
    # random weights: many agents' logits nearly tie, and bf16's 8-bit mantissa flips some of their argmaxes
    assert ((p16 >= 0.5) == (p32 >= 0.5)).float().mean() > 0.95


def test_an_unknown_precision_is_refused(checkpoint):
    with pytest.raises(MedrlInputError, match="--precision"):
        Refiner.from_checkpoint(checkpoint, precision="8-bit")


def test_medrl_predict_runs_in_bf16(checkpoint, tmp_path):
    import nibabel as nib

    from medrl.cli import main
    from tests.conftest import save_nifti

    scan = save_nifti((two_blob_scene().image * 200.0).astype("float32"), torch.eye(4).numpy(), tmp_path / "scan.nii.gz")
    assert main(["predict", "--checkpoint", str(checkpoint), "--input", str(scan), "--output", str(tmp_path / "out"),
                 "--precision", "bf16-mixed"]) == 0
    assert nib.load(tmp_path / "out" / "scan_mask.nii.gz").shape == (48, 40, 32)


def test_the_channels_last_layout_on_the_cpu_gives_the_same_probabilities(checkpoint):
    scene = two_blob_scene()
    image = MetaTensor(torch.from_numpy(scene.image * 200.0)[None], affine=torch.eye(4, dtype=torch.float64))
    fast, plain = Refiner.from_checkpoint(checkpoint), Refiner.from_checkpoint(checkpoint)
    for net in (plain.policy, plain.segmenter):
        net.to(memory_format=torch.contiguous_format)  # the default layout, as on a GPU
    assert next(fast.policy.parameters()).dim() == 5 and next(fast.policy.parameters()).is_contiguous(
        memory_format=torch.channels_last_3d)
    case = fast.prepare(image)
    masks = [refiner.segment(case) for refiner in (fast, plain)]
    assert torch.equal(masks[0], masks[1])
    p_fast, p_plain = (refiner.refine(case, masks[0], [Click(scene.missed_centre, positive=True)]) for refiner in (fast, plain))
    assert float((p_fast - p_plain).abs().max()) <= 1e-5
