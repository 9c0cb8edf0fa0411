"""``medrl predict``: each bad multi-label, markups, DICOM SEG or checkpoint input is one line naming the file, exit 2."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from medrl.cli import main
from medrl.data.label_maps import LabelMap, write_label_map
from medrl.data.label_names import LabelNames
from tests.conftest import make_volume


@pytest.fixture
def case(tmp_path):
    image, label = make_volume((20, 18, 12))
    nib.save(nib.Nifti1Image(image, np.eye(4)), tmp_path / "scan.nii.gz")
    nib.save(nib.Nifti1Image((label * 4).astype(np.uint8), np.eye(4)), tmp_path / "map.nii.gz")
    return tmp_path


def _segmenter_only(folder, untrained):
    checkpoint = torch.load(untrained, weights_only=True)
    checkpoint["medrl"]["policy"] = None
    torch.save(checkpoint, folder / "segmenter_only.ckpt")
    return folder / "segmenter_only.ckpt"


def _bad(folder, untrained, kind):
    """(extra arguments, the file the error names, the problem it states) for each bad input."""
    args = ["--input", folder / "scan.nii.gz"]
    if kind == "label value":
        return [*args, "--mask", folder / "map.nii.gz", "--label", "9"], folder / "map.nii.gz", "label 9 is not in the map"
    if kind == "label name":
        return [*args, "--mask", folder / "map.nii.gz", "--label", "livr"], folder / "map.nii.gz", "no structure named 'livr'"
    if kind == "curve":
        path = folder / "curve.mrk.json"
        path.write_text(json.dumps({"markups": [{"type": "Curve", "coordinateSystem": "LPS", "controlPoints": []}]}))
        return [*args, "--clicks", path], path, "markups 0 is a Curve"
    if kind == "misspelt key":
        path = folder / "clicks.json"
        path.write_text(json.dumps({"coordinate_system": "RAS", "points": [{"position": [1, 2, 3], "postive": True}]}))
        return [*args, "--clicks", path], path, "point 0: unknown key 'postive'"
    if kind == "dicom-seg for nifti":
        return [*args, "--output-format", "dicom-seg"], folder / "scan.nii.gz", "--output-format dicom-seg needs a DICOM series"
    if kind == "seg.nrrd elsewhere":
        shifted = np.eye(4)
        shifted[:3, 3] = 0.4
        path = folder / "other.seg.nrrd"
        write_label_map(LabelMap(np.ones((20, 18, 12), np.uint8), shifted, LabelNames({1: "liver"}), "x"), path)
        return [*args, "--mask", path, "--label", "liver"], path, "mask affine differs"
    if kind == "text checkpoint":
        path = folder / "notes.txt"
        path.write_text("these are notes\n" * 10)
        return ["--checkpoint", path, *args], path, "not a medrl checkpoint, or corrupt"
    if kind == "random checkpoint":
        path = folder / "random.ckpt"
        path.write_bytes(np.random.default_rng(0).bytes(5000))
        return ["--checkpoint", path, *args], path, "not a medrl checkpoint, or corrupt"
    if kind == "segmenter only":
        path = _segmenter_only(folder, untrained)
        return ["--checkpoint", path, *args], path, "this checkpoint has no refinement agents"
    if kind == "4D scan":
        path = folder / "four_d.nii.gz"
        nib.save(nib.Nifti1Image(np.zeros((20, 18, 12, 3), np.float32), np.eye(4)), path)
        return ["--input", path], path, "choose one with channel=K (CLI: --channel K)"
    raise ValueError(kind)


KINDS = ["label value", "label name", "curve", "misspelt key", "dicom-seg for nifti", "seg.nrrd elsewhere", "text checkpoint",
         "random checkpoint", "segmenter only", "4D scan"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_bad_input_is_one_line_naming_its_file(case, untrained, capsys, kind):
    args, named, problem = _bad(case, untrained, kind)
    if "--checkpoint" not in args:
        args = ["--checkpoint", untrained, *args]
    assert main(["predict", *map(str, args), "--output", str(case / "out")]) == 2
    captured = capsys.readouterr()
    err = [line for line in captured.err.strip().splitlines() if not line.startswith("medrl: WARNING")]
    assert len(err) == 1 and err[0].startswith(f"medrl: error: {named}: ") and problem in err[0], err
    assert "weights_only" not in err[0]
    if kind == "4D scan":
        assert "Predicting" not in captured.out + captured.err  # refused before Lightning's progress bar


def test_a_4d_scan_predicts_with_channel(case, untrained):
    path = case / "four_d.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((20, 18, 12, 3), np.float32), np.eye(4)), path)
    assert main(["predict", "--checkpoint", str(untrained), "--input", str(path), "--channel", "1", "--output",
                 str(case / "out")]) == 0
    assert nib.load(case / "out" / "four_d_mask.nii.gz").shape == (20, 18, 12)
