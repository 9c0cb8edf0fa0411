"""The Refiner: a checkpoint made by training loads as data, refines with clicks, and writes back on
the input's own grid (shape and affine) for RAS, LPS and LAS scans with anisotropic spacing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medrl.data.readers import read_scan
from medrl.data.writers import write_mask
from medrl.env.clicks import Click
from medrl.errors import MedrlInputError
from medrl.inference.refiner import Refiner


@pytest.fixture
def checkpoint(untrained) -> dict:
    return {"path": untrained}


@pytest.mark.parametrize("orientation, spacing", [("RAS", (1.0, 1.0, 1.0)), ("LPS", (0.8, 0.8, 2.5)), ("LAS", (1.2, 0.9, 3.0))])
def test_masks_come_back_on_the_input_grid(tmp_path, write_case, checkpoint, orientation, spacing):
    image_path, label_path, affine = write_case(orientation, spacing, shape=(24, 20, 12))
    refiner = Refiner.from_checkpoint(checkpoint["path"])
    data = refiner.prepare(str(image_path), label=str(label_path))
    mask = refiner.segment(data)
    p = refiner.refine(data, mask, [Click((5, 5, 5), positive=True)])
    assert p.shape == (1, 1, *data["image"].shape[1:]) and 0 <= float(p.min()) and float(p.max()) <= 1
    back = refiner.to_input_grid(data, p >= 0.5)
    assert tuple(back.shape[1:]) == (24, 20, 12)
    np.testing.assert_allclose(np.asarray(back.affine), affine, atol=1e-4)
    out = write_mask(back[0].numpy(), np.asarray(back.affine), tmp_path / "mask.nii.gz", inputs=(image_path,))
    np.testing.assert_allclose(read_scan(out, kind="label").affine.numpy(), affine, atol=1e-4)


def test_label_round_trips_through_the_working_grid(write_case, checkpoint):
    """The working grid is RAS; inverting the prepared label gives the file's label exactly."""
    image_path, label_path, _ = write_case("LPS", (0.8, 0.8, 2.5), shape=(24, 20, 12))
    refiner = Refiner.from_checkpoint(checkpoint["path"])
    data = refiner.prepare(str(image_path), label=str(label_path))
    back = refiner.to_input_grid(data, data["label"])
    np.testing.assert_array_equal(back[0].numpy() > 0.5, read_scan(label_path, kind="label")[0].numpy() > 0)


def test_foreign_or_broken_checkpoints_are_clear_errors(tmp_path):
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(MedrlInputError, match="not a medrl checkpoint"):
        Refiner.from_checkpoint(foreign)
    truncated = tmp_path / "truncated.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "medrl": {"format": 1}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:500])
    with pytest.raises(MedrlInputError, match="not a medrl checkpoint, or corrupt"):
        Refiner.from_checkpoint(truncated)


def test_checkpoints_never_run_code(tmp_path):
    """A pickle that would execute code on load is refused (weights-only loading)."""

    class Exploit:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "medrl": {"format": 1}, "payload": Exploit()}, path)
    with pytest.raises(MedrlInputError, match="not a medrl checkpoint, or corrupt"):
        Refiner.from_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_robot_protocol_measures_the_initial_mask_then_each_interaction(write_case, checkpoint):
    from medrl.evaluation.protocol import play_agents_protocol

    image_path, label_path, _ = write_case("LAS", (1.0, 1.0, 2.0), shape=(24, 20, 12))
    refiner = Refiner.from_checkpoint(checkpoint["path"])
    data = refiner.prepare(str(image_path), label=str(label_path))
    label = data["label"][0].numpy().astype(bool)
    initial = np.zeros_like(label)
    initial[: label.shape[0] // 2] = label[: label.shape[0] // 2]  # half the object: Dice 2·h/(h + 2h) = 2/3
    result = play_agents_protocol(refiner, data, torch.from_numpy(initial.astype(np.uint8)), interactions=3)
    assert result.dice.shape == (4,)
    expected = 2 * (initial & label).sum() / (initial.sum() + label.sum())
    assert result.dice[0] == pytest.approx(expected, abs=1e-6)
    assert result.clicks == 3  # one click per interaction while errors remain


def test_refine_continues_from_its_own_probabilities(write_case, checkpoint):
    """The notebook's loop: each click continues from the agents' last p, earlier clicks stay fixed."""
    image_path, _, _ = write_case("LPS", (0.8, 0.8, 2.5), shape=(24, 20, 12))
    refiner = Refiner.from_checkpoint(checkpoint["path"])
    case = refiner.prepare(str(image_path))
    first, second = Click((4, 4, 4), positive=True), Click((18, 15, 8), positive=False)
    p1 = refiner.refine(case, refiner.segment(case), [first])
    p2 = refiner.refine(case, p1, [second], steps=0, previous_clicks=[first], resume=True)
    assert float(p2[0, 0][first.index]) == 1.0 and float(p2[0, 0][second.index]) == 0.0
    unchanged = torch.ones_like(p1, dtype=torch.bool)
    unchanged[0, 0][second.index] = False
    torch.testing.assert_close(p2[unchanged], p1[unchanged])  # no step, no soft start again: p carried over
