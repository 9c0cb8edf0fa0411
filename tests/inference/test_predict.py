"""``medrl predict``: outputs on each scan's own grid, starting masks, clicks, batches and safety."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from medrl.cli import main
from medrl.data.geometry import orientation_affine
from medrl.data.mask_metrics import dice_score
from medrl.data.readers import read_scan
from tests.conftest import make_volume, save_nifti
from tests.data.dicom_fixture import write_dicom_series

from .scenes import two_blob_scene


def predict(*args) -> int:
    return main(["predict", *map(str, args)])


def read_mask(path: Path):
    mask = read_scan(path, kind="label")
    return mask[0].numpy(), np.asarray(mask.affine)


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("orientation, spacing", [("RAS", (1.0, 1.0, 1.0)), ("LPS", (0.7, 0.7, 2.5)),
                                                  ("LAS", (1.2, 0.9, 3.0)), ("PIR", (0.8, 1.1, 1.6))])
def test_masks_come_back_on_the_scans_own_grid(tmp_path, write_case, untrained, orientation, spacing):
    image_path, _, affine = write_case(orientation, spacing, shape=(26, 21, 13))
    before = digest(image_path)
    assert predict("--checkpoint", untrained, "--input", image_path, "--output", tmp_path / "out", "--save-probabilities",
                   "--save-entropy") == 0
    mask, mask_affine = read_mask(tmp_path / "out" / "case_img_mask.nii.gz")
    assert mask.shape == (26, 21, 13) and set(np.unique(mask)) <= {0, 1}
    assert nib.load(tmp_path / "out" / "case_img_mask.nii.gz").get_data_dtype() == np.uint8
    np.testing.assert_allclose(mask_affine, affine, atol=1e-4)
    for kind in ("probability", "entropy"):
        volume = read_scan(tmp_path / "out" / f"case_img_{kind}.nii.gz")
        assert volume.shape[1:] == (26, 21, 13) and 0 <= float(volume.min()) and float(volume.max()) <= 1
        np.testing.assert_allclose(np.asarray(volume.affine), affine, atol=1e-4)
    assert digest(image_path) == before  # the input is untouched


def test_a_dicom_series_gets_a_mask_aligned_with_it_in_world_space(tmp_path, untrained):
    image, _ = make_volume((20, 18, 12))
    direction = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # rotated in-plane
    series = write_dicom_series(tmp_path / "series", (image * 10).astype(np.int16), (0.8, 0.9, 2.5), direction,
                                (-40.0, 25.0, 100.0), "1.2.826.0.1.3680043.2.1125.7")
    assert predict("--checkpoint", untrained, "--input", tmp_path / "series", "--output", tmp_path / "out") == 0
    mask = sitk.ReadImage(str(tmp_path / "out" / "series_mask.nii.gz"))
    assert mask.GetSize() == series.GetSize()
    np.testing.assert_allclose(mask.GetSpacing(), series.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(mask.GetOrigin(), series.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(mask.GetDirection(), series.GetDirection(), atol=1e-4)
    for index in [(0, 0, 0), (19, 17, 11), (7, 3, 9)]:  # the same index is the same world point
        np.testing.assert_allclose(mask.TransformIndexToPhysicalPoint(index), series.TransformIndexToPhysicalPoint(index),
                                   atol=1e-3)


def _lps_case(tmp_path, shape=(24, 20, 12)):
    image, label = make_volume(shape)
    affine = orientation_affine("LPS", (0.8, 0.9, 2.5), shape, center_mm=(10.0, -20.0, 30.0))
    return save_nifti(image, affine, tmp_path / "scan.nii.gz"), label, affine


def test_a_binary_starting_mask_is_kept_when_the_agents_take_no_step(tmp_path, untrained):
    image_path, label, affine = _lps_case(tmp_path)
    mask_path = save_nifti(label * 3, affine, tmp_path / "start.nii.gz")  # any non-zero label is foreground
    assert predict("--checkpoint", untrained, "--input", image_path, "--mask", mask_path, "--steps", 0,
                   "--output", tmp_path / "out") == 0
    np.testing.assert_array_equal(read_mask(tmp_path / "out" / "scan_mask.nii.gz")[0], label)


def test_a_probability_map_starts_the_agents_at_its_half_level(tmp_path, untrained):
    image_path, _, affine = _lps_case(tmp_path)
    probability = np.random.default_rng(0).uniform(0, 1, (24, 20, 12)).astype(np.float32)
    mask_path = save_nifti(probability, affine, tmp_path / "probability.nii.gz")
    assert predict("--checkpoint", untrained, "--input", image_path, "--mask", mask_path, "--steps", 0,
                   "--output", tmp_path / "out", "--save-probabilities") == 0
    np.testing.assert_array_equal(read_mask(tmp_path / "out" / "scan_mask.nii.gz")[0], probability >= 0.5)
    p = read_scan(tmp_path / "out" / "scan_probability.nii.gz")[0].numpy()
    np.testing.assert_allclose(p, 0.25 + 0.5 * probability, atol=1e-6)  # the soft start's range


@pytest.mark.parametrize("system", ["RAS", "LPS", "voxel"])
def test_clicked_voxels_keep_the_clinicians_label(tmp_path, untrained, system):
    image_path, _, affine = _lps_case(tmp_path)
    empty = save_nifti(np.zeros((24, 20, 12), np.uint8), affine, tmp_path / "empty.nii.gz")
    voxel = np.array([3, 15, 10])
    ras = affine[:3, :3] @ voxel + affine[:3, 3]
    position = {"voxel": voxel, "RAS": ras, "LPS": ras * [-1, -1, 1]}[system]
    clicks = tmp_path / "clicks.json"
    clicks.write_text(json.dumps({"coordinate_system": system,
                                  "points": [{"position": [float(v) for v in position], "positive": True}]}))
    assert predict("--checkpoint", untrained, "--input", image_path, "--mask", empty, "--clicks", clicks, "--steps", 0,
                   "--output", tmp_path / "out") == 0
    mask = read_mask(tmp_path / "out" / "scan_mask.nii.gz")[0]
    assert np.argwhere(mask).tolist() == [voxel.tolist()]


def test_a_click_on_a_missed_region_raises_dice(tmp_path, trained_agents):
    """The clinician's loop: the starting mask misses a whole blob; one positive click in it."""
    scene = two_blob_scene()
    affine = orientation_affine("LPS", (1.0, 1.0, 1.0), scene.image.shape)
    image_path = save_nifti(scene.image, affine, tmp_path / "scan.nii.gz")
    start = save_nifti(scene.initial, affine, tmp_path / "start.nii.gz")
    clicks = tmp_path / "clicks.json"
    clicks.write_text(json.dumps({"coordinate_system": "voxel", "points": [{"position": list(scene.missed_centre),
                                                                             "positive": True}]}))
    assert predict("--checkpoint", trained_agents, "--input", image_path, "--mask", start, "--clicks", clicks,
                   "--output", tmp_path / "out") == 0
    mask = read_mask(tmp_path / "out" / "scan_mask.nii.gz")[0]
    before, after = dice_score(scene.initial, scene.label), dice_score(mask, scene.label)
    recovered = float(mask[scene.missed].mean())
    print(f"Dice {before:.3f} -> {after:.3f} after one click; {recovered:.0%} of the missed blob recovered")
    assert after >= before + 0.03 and recovered >= 0.8


def _folder_of_scans(tmp_path, names=("a", "b", "c")) -> Path:
    folder = tmp_path / "scans"
    folder.mkdir()
    for n, name in enumerate(names):
        image, _ = make_volume((20, 18, 12), seed=n)
        save_nifti(image, orientation_affine("RAS", (1.0, 1.0, 2.0), (20, 18, 12)), folder / f"{name}.nii.gz")
    return folder


def test_a_bad_scan_in_a_batch_is_reported_and_skipped(tmp_path, untrained, capsys):
    folder = _folder_of_scans(tmp_path)
    (folder / "b.nii.gz").write_bytes(b"not a nifti file at all")
    assert predict("--checkpoint", untrained, "--input", folder, "--output", tmp_path / "out") == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_mask.nii.gz", "c_mask.nii.gz", "predict_report.json"]
    report = {r["name"]: r for r in json.loads((tmp_path / "out" / "predict_report.json").read_text(encoding="utf-8"))}
    assert [report[n]["status"] for n in "abc"] == ["ok", "failed", "ok"]
    assert str(folder / "b.nii.gz") in report["b"]["error"]
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("medrl: error:")]
    assert len(errors) == 1 and "b.nii.gz" in errors[0]


def test_a_dataset_json_predicts_its_test_list(tmp_path, untrained):
    folder = _folder_of_scans(tmp_path, ("t1", "t2"))
    (tmp_path / "dataset.json").write_text(json.dumps({"training": [], "test": ["scans/t1.nii.gz", {"image": "scans/t2.nii.gz"}]}))
    assert predict("--checkpoint", untrained, "--input", tmp_path / "dataset.json", "--output", tmp_path / "out") == 0
    assert {p.name for p in (tmp_path / "out").glob("*_mask.nii.gz")} == {"t1_mask.nii.gz", "t2_mask.nii.gz"}
    assert folder.is_dir()


def test_existing_outputs_need_overwrite_and_inputs_are_never_replaced(tmp_path, untrained, capsys):
    image_path, _, _ = _lps_case(tmp_path)
    assert predict("--checkpoint", untrained, "--input", image_path, "--output", tmp_path / "out") == 0
    written = digest(tmp_path / "out" / "scan_mask.nii.gz")
    assert predict("--checkpoint", untrained, "--input", image_path, "--output", tmp_path / "out") == 2
    assert "output exists" in capsys.readouterr().err
    assert digest(tmp_path / "out" / "scan_mask.nii.gz") == written
    assert predict("--checkpoint", untrained, "--input", image_path, "--output", tmp_path / "out", "--overwrite") == 0
    # the next round starts from this round's mask: replacing it would destroy an input, so it is refused
    mask_path = tmp_path / "out" / "scan_mask.nii.gz"
    before = digest(mask_path)
    assert predict("--checkpoint", untrained, "--input", image_path, "--mask", mask_path, "--output", tmp_path / "out",
                   "--overwrite") == 2
    assert "refusing to overwrite an input file" in capsys.readouterr().err
    assert digest(mask_path) == before


def _bad_checkpoints(tmp_path, untrained) -> dict:
    import torch

    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(Path(untrained).read_bytes()[:3000])
    return {"missing": (tmp_path / "none.ckpt", "checkpoint file not found"),
            "foreign": (foreign, "not a medrl checkpoint"), "truncated": (truncated, "not a medrl checkpoint, or corrupt")}


@pytest.mark.parametrize("kind", ["missing", "foreign", "truncated"])
def test_bad_checkpoints_are_one_line_errors(tmp_path, untrained, capsys, kind):
    image_path, _, _ = _lps_case(tmp_path)
    path, problem = _bad_checkpoints(tmp_path, untrained)[kind]
    assert predict("--checkpoint", path, "--input", image_path, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"medrl: error: {path}: {problem}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", ["mask_shape", "mask_values", "mask_nan", "clicks_outside", "clicks_json", "input_missing",
                                 "mask_with_folder"])
def test_bad_inputs_are_one_line_errors(tmp_path, untrained, capsys, bad):
    image_path, label, affine = _lps_case(tmp_path)
    args = ["--checkpoint", untrained, "--input", image_path, "--output", tmp_path / "out"]
    clicks = tmp_path / "clicks.json"
    if bad == "mask_shape":
        wider = np.pad(label, ((0, 2), (0, 0), (0, 0)))
        wider[-1] = 1  # labelled voxels beyond the scan's extent
        args += ["--mask", save_nifti(wider, affine, tmp_path / "m.nii.gz")]
        problem = "240 labelled voxels of the mask lie outside the grid of"
    elif bad == "mask_values":
        args += ["--mask", save_nifti(label * 1.5, affine, tmp_path / "m.nii.gz")]
        problem = "mask has non-integer values in [0, 1.5]"
    elif bad == "mask_nan":
        args += ["--mask", save_nifti(np.where(label > 0, np.nan, 0.2).astype(np.float32), affine, tmp_path / "m.nii.gz")]
        problem = "NaN or Inf"
    elif bad == "clicks_outside":
        clicks.write_text(json.dumps({"coordinate_system": "RAS", "points": [{"position": [900, 0, 0], "positive": True}]}))
        args += ["--clicks", clicks]
        problem = "point 0 at [900.0, 0.0, 0.0] (RAS) lies outside the scan"
    elif bad == "clicks_json":
        clicks.write_text("{")
        args += ["--clicks", clicks]
        problem = "not valid JSON"
    elif bad == "input_missing":
        args[3] = tmp_path / "nothing.nii.gz"
        problem = "no such file or folder"
    else:
        args[3] = _folder_of_scans(tmp_path)
        args += ["--mask", save_nifti(label, affine, tmp_path / "m.nii.gz")]
        problem = "--mask and --clicks apply to one scan, but this input holds 3"
    assert predict(*args) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("medrl: WARNING")]  # e.g. a CT checkpoint on a synthetic scan
    assert len(err) == 1 and err[0].startswith("medrl: error: ") and problem in err[0], err
    assert not list((tmp_path / "out").glob("*.nii.gz"))  # nothing written (globbing a missing folder finds nothing)


@pytest.mark.parametrize("option, value", [("--steps", -1), ("--devices", 0), ("--tile-edge", 2), ("--window-overlap", 1.0)])
def test_out_of_range_options_are_one_line_errors(tmp_path, untrained, capsys, option, value):
    image_path, _, _ = _lps_case(tmp_path)
    assert predict("--checkpoint", untrained, "--input", image_path, "--output", tmp_path / "out", option, value) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"medrl: error: {option}: ")


def test_a_dicom_seg_for_a_rotated_series_reads_back_as_the_nifti_mask_on_the_series_grid(tmp_path, untrained):
    import highdicom as hd
    import pydicom

    from medrl.data.readers import dicom_series_files

    image, _ = make_volume((20, 18, 12))
    direction = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # rotated in-plane, LPS world
    series = write_dicom_series(tmp_path / "series", (image * 10).astype(np.int16), (0.8, 0.9, 2.5), direction,
                                (-40.0, 25.0, 100.0), "1.2.826.0.1.3680043.2.1125.8")
    for output_format in ("dicom-seg", "nifti"):
        assert predict("--checkpoint", untrained, "--input", tmp_path / "series", "--output", tmp_path / "out",
                       "--output-format", output_format, "--overwrite") == 0
    mask = read_mask(tmp_path / "out" / "series_mask.nii.gz")[0]
    segmentation = hd.seg.segread(tmp_path / "out" / "series_mask.dcm")
    sources = [pydicom.dcmread(f) for f in dicom_series_files(tmp_path / "series")[1]]
    frames = segmentation.get_pixels_by_source_instance([s.SOPInstanceUID for s in sources], combine_segments=True)
    assert mask.any() and segmentation.number_of_segments == 1
    np.testing.assert_array_equal(np.transpose(frames, (2, 1, 0)), mask)  # (frames, rows, columns) = (k, j, i)
    volume = segmentation.get_volume(combine_segments=True)  # the SEG's own geometry (LPS) and voxel order
    ijk = np.argwhere(np.ones(mask.shape, bool))
    world = np.array([series.TransformIndexToPhysicalPoint(tuple(int(v) for v in index)) for index in ijk])
    at = np.linalg.inv(volume.affine) @ np.c_[world, np.ones(len(world))].T  # each series voxel's place in the SEG
    np.testing.assert_allclose(at[:3], np.rint(at[:3]), atol=1e-3)
    seg_values = volume.array[tuple(np.rint(at[:3]).astype(int))]
    np.testing.assert_array_equal(seg_values, mask[tuple(ijk.T)])
