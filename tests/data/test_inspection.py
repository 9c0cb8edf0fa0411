"""``medrl inspect`` on a scan, a DICOM folder and a dataset."""

from __future__ import annotations

import json
import shutil

import numpy as np

from medrl.cli import main
from tests.data.dicom_fixture import write_dicom_series


def test_inspect_scan_reports_geometry_and_range(write_case, capsys):
    image_path, label_path, _ = write_case("LPS", (0.5, 0.75, 3.0))
    assert main(["inspect", str(image_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["shape"] == [20, 18, 12] and summary["spacing_mm"] == [0.5, 0.75, 3.0]
    assert summary["orientation"] == "LPS" and summary["dtype"] == "float32"
    assert "label_counts" not in summary

    assert main(["inspect", str(label_path)]) == 0
    text = capsys.readouterr().out
    # box [5:15, 4:12, 3:9] = 10 * 8 * 6 = 480 voxels of 20 * 18 * 12 = 4320
    assert "orientation LPS" in text and "label values (voxels): 0: 3840, 1: 480" in text


def test_inspect_dicom_folder(tmp_path, capsys):
    array = np.arange(8 * 7 * 4, dtype=np.int16).reshape(8, 7, 4)
    write_dicom_series(tmp_path / "series", array, (0.5, 0.5, 2.0), np.diag([1.0, -1.0, -1.0]), (0, 0, 0), "1.2.3.9")
    assert main(["inspect", str(tmp_path / "series"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # DICOM +x is Left, so index axis i along LPS +x points to L; j along -y (anterior), k along -z (inferior)
    assert summary["orientation"] == "LAI" and summary["format"] == "dicom"
    assert summary["shape"] == [8, 7, 4] and summary["min"] == 0 and summary["max"] == 8 * 7 * 4 - 1


def test_inspect_dataset_checks_pairs(tmp_path, write_case, capsys):
    root = tmp_path / "ds"
    for name in ("a", "b"):
        image, label, _ = write_case(name=name, folder=tmp_path / "raw")
        (root / "imagesTr").mkdir(parents=True, exist_ok=True)
        (root / "labelsTr").mkdir(exist_ok=True)
        shutil.copy(image, root / "imagesTr" / f"{name}.nii.gz")
        shutil.copy(label, root / "labelsTr" / f"{name}.nii.gz")
    assert main(["inspect", str(root)]) == 0
    text = capsys.readouterr().out
    assert "training: 2 case(s)" in text and text.count("pair check: ok") == 2 and "problems: 0" in text

    shutil.copy(image, root / "labelsTr" / "a.nii.gz")  # a float image where a label should be
    assert main(["inspect", str(root)]) == 2
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "labelsTr/a.nii.gz: label has non-integer values" in captured.err
