"""Every bad input gives one clear line on stderr naming the file, exit status 2, no traceback, nothing written."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medrl.cli import main
from tests.conftest import save_nifti


def _truncated_nifti(folder: Path) -> Path:
    good = save_nifti(np.random.default_rng(0).normal(size=(30, 30, 30)).astype(np.float32), np.eye(4), folder / "good.nii.gz")
    data = good.read_bytes()
    path = folder / "truncated.nii.gz"
    path.write_bytes(data[: len(data) // 2])
    good.unlink()
    return path


def _text_named_nifti(folder: Path) -> Path:
    path = folder / "notes.nii.gz"
    path.write_text("this is not an image\n", encoding="utf-8")
    return path


def _gzipped_text(folder: Path) -> Path:
    path = folder / "text.nii.gz"
    path.write_bytes(gzip.compress(b"plain text inside a gzip stream\n" * 20))
    return path


def _empty(folder: Path) -> Path:
    path = folder / "empty.nii.gz"
    path.touch()
    return path


def _two_d(folder: Path) -> Path:
    return save_nifti(np.zeros((16, 16), np.float32), np.eye(4), folder / "slice.nii.gz")


def _four_d(folder: Path) -> Path:
    return save_nifti(np.zeros((8, 8, 8, 3), np.float32), np.eye(4), folder / "series4d.nii.gz")


def _nan(folder: Path) -> Path:
    data = np.zeros((8, 8, 8), np.float32)
    data[1, 2, 3], data[4, 4, 4] = np.nan, np.inf
    return save_nifti(data, np.eye(4), folder / "nan.nii.gz")


def _no_dicom(folder: Path) -> Path:
    path = folder / "not_dicom"
    path.mkdir()
    (path / "readme.txt").write_text("no DICOM here", encoding="utf-8")
    return path


def _dataset(folder: Path, *, label_data=None, label_affine=None, entries=None) -> Path:
    image = np.zeros((8, 8, 8), np.float32)
    save_nifti(image, np.eye(4), folder / "img.nii.gz")
    label = np.zeros((8, 8, 8), np.uint8) if label_data is None else label_data
    save_nifti(label, np.eye(4) if label_affine is None else label_affine, folder / "lbl.nii.gz")
    entries = entries if entries is not None else [{"image": "img.nii.gz", "label": "lbl.nii.gz"}]
    path = folder / "dataset.json"
    path.write_text(json.dumps({"training": entries}), encoding="utf-8")
    return path


def _float_label(folder: Path) -> Path:
    return _dataset(folder, label_data=np.full((8, 8, 8), 0.5, np.float32))


def _shape_mismatch(folder: Path) -> Path:
    return _dataset(folder, label_data=np.zeros((8, 8, 7), np.uint8))


def _affine_mismatch(folder: Path) -> Path:
    shifted = np.eye(4)
    shifted[0, 3] = 0.5  # half a voxel: a grid that really differs (a whole-voxel shift would share the lattice)
    return _dataset(folder, label_affine=shifted)


def _missing_key(folder: Path) -> Path:
    return _dataset(folder, entries=[{"label": "lbl.nii.gz"}])


def _missing_file(folder: Path) -> Path:
    return _dataset(folder, entries=[{"image": "img.nii.gz", "label": "labelsTr/nowhere.nii.gz"}])


BAD_INPUTS = {
    # name: (maker, text the error must contain, file the error must name)
    "missing path": (lambda folder: folder / "nowhere.nii.gz", "no such file", "nowhere.nii.gz"),
    "empty file": (_empty, "empty", "empty.nii.gz"),
    "truncated nii.gz": (_truncated_nifti, "cannot read", "truncated.nii.gz"),
    "text named nii.gz": (_text_named_nifti, "cannot read", "notes.nii.gz"),
    "gzipped text": (_gzipped_text, "cannot read", "text.nii.gz"),
    "2D image": (_two_d, "2D image", "slice.nii.gz"),
    "4D image": (_four_d, "4D image with 3 volumes", "series4d.nii.gz"),
    "NaN/Inf voxels": (_nan, "2 NaN or Inf", "nan.nii.gz"),
    "no DICOM in folder": (_no_dicom, "no DICOM series", "not_dicom"),
    "non-integer label": (_float_label, "non-integer", "lbl.nii.gz"),
    "shape mismatch": (_shape_mismatch, "label shape (8, 8, 7) differs", "lbl.nii.gz"),
    "affine mismatch": (_affine_mismatch, "affine differs", "lbl.nii.gz"),
    "dataset.json missing key": (_missing_key, "has no 'image' key", "dataset.json"),
    "dataset.json missing file": (_missing_file, "does not exist", "nowhere.nii.gz"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_one_clear_line(tmp_path, capsys, name):
    maker, problem, named_file = BAD_INPUTS[name]
    folder = tmp_path / "inputs"
    folder.mkdir()
    path = maker(folder)
    before = sorted(p.name for p in tmp_path.rglob("*"))

    status = main(["inspect", str(path)])

    captured = capsys.readouterr()
    error_lines = captured.err.strip().splitlines()
    assert status == 2
    assert len(error_lines) == 1, captured.err
    assert error_lines[0].startswith("medrl: error: ")
    assert problem in error_lines[0] and named_file in error_lines[0]
    assert "Traceback" not in captured.err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


@pytest.mark.parametrize("name", ["missing path", "no DICOM in folder", "truncated nii.gz"])
def test_console_script_error_is_one_line_without_traceback(tmp_path, name):
    """Run as a process, so that output from C++ libraries (ITK) would show on stderr too."""
    maker, problem, _ = BAD_INPUTS[name]
    path = maker(tmp_path)
    result = subprocess.run([sys.executable, "-m", "medrl.cli", "inspect", str(path)], capture_output=True,
                            encoding="utf-8", errors="replace")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"medrl: error: {path}: ") and problem in result.stderr


def test_four_d_channel_choice_on_the_cli(tmp_path, capsys):
    path = _four_d(tmp_path)
    assert main(["inspect", str(path), "--channel", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shape"] == [8, 8, 8]
