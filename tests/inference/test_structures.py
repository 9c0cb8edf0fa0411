"""``medrl predict --label``: one structure of a multi-label map refined, every other voxel kept as it was."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from medrl.cli import main
from medrl.data.geometry import orientation_affine
from medrl.data.label_maps import read_label_map
from medrl.inference.structures import apply_structure_change

SHAPE = (30, 26, 14)
NAMES = {"background": 0, "kidney": 2, "liver": 5, "spleen": 300}
CT_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ct_abdomen_3mm"


def predict(*args) -> int:
    return main(["predict", *map(str, args)])


@pytest.fixture(scope="module")
def resampled(untrained, tmp_path_factory):
    """The untrained checkpoint with a 1.3 mm working grid, so masks go through resampling both ways."""
    checkpoint = torch.load(untrained, weights_only=True)
    checkpoint["medrl"]["preprocessing"] = {"spacing": [1.3, 1.3, 1.3], "intensity": "mr"}
    path = tmp_path_factory.mktemp("resampled") / "resampled.ckpt"
    torch.save(checkpoint, path)
    return path


@pytest.fixture
def scene(tmp_path):
    """An LPS scan (0.8 x 0.9 x 2.5 mm) and an int16 map with three touching structures, names in a dataset.json."""
    affine = orientation_affine("LPS", (0.8, 0.9, 2.5), SHAPE, center_mm=(10.0, -20.0, 30.0))
    image = np.random.default_rng(0).normal(0, 10, SHAPE).astype(np.float32)
    label_map = np.zeros(SHAPE, np.int16)
    label_map[5:15, 5:15, 3:9] = 5
    label_map[15:25, 5:15, 3:9] = 2
    label_map[8:20, 16:24, 4:11] = 300
    image[label_map > 0] += 100
    nib.save(nib.Nifti1Image(image, affine), tmp_path / "scan.nii.gz")
    nib.save(nib.Nifti1Image(label_map, affine), tmp_path / "map.nii.gz")
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": NAMES}))
    return tmp_path, label_map, affine


def _clicks(folder: Path, affine, points) -> Path:
    """A RAS clicks file from (voxel, positive, label) triples."""
    document = {"coordinate_system": "RAS", "points": [
        {"position": list((affine @ np.array([*voxel, 1.0]))[:3]), "positive": positive, **({"label": label} if label else {})}
        for voxel, positive, label in points]}
    path = folder / "clicks.json"
    path.write_text(json.dumps(document))
    return path


def _output(folder: Path) -> tuple[np.ndarray, nib.Nifti1Image]:
    image = nib.load(folder / "scan_mask.nii.gz")
    return np.asanyarray(image.dataobj), image


@pytest.mark.parametrize("checkpoint", ["untrained", "resampled"])
def test_refining_one_structure_leaves_every_other_label_byte_identical(scene, checkpoint, request):
    folder, label_map, affine = scene
    clicks = _clicks(folder, affine, [((10, 10, 6), False, None), ((16, 10, 6), True, None)])
    assert predict("--checkpoint", request.getfixturevalue(checkpoint), "--input", folder / "scan.nii.gz", "--mask",
                   folder / "map.nii.gz", "--label", "liver", "--clicks", clicks, "--output", folder / "out") == 0
    result, image = _output(folder / "out")
    assert result.dtype == np.int16 and result.shape == SHAPE
    np.testing.assert_allclose(image.affine, affine, atol=1e-4)
    others = (label_map != 0) & (label_map != 5)
    np.testing.assert_array_equal(result[others], label_map[others])  # the clicked kidney voxel stays kidney
    changed = result != label_map
    assert changed.any()  # the negative click at least removes its own voxel from the liver
    assert set(np.unique(result[changed])) <= {0, 5}
    assert result[10, 10, 6] == 0
    report = json.loads((folder / "out" / "predict_report.json").read_text())[0]
    assert report["structures"][0]["name"] == "liver" and report["structures"][0]["removed_voxels"] >= 1
    assert report["clicks"][0]["voxel"] == [10, 10, 6] and report["clicks"][0]["changed"] is True


def test_without_agent_steps_only_the_clicked_voxels_change_despite_resampling(scene, resampled):
    folder, label_map, affine = scene
    clicks = _clicks(folder, affine, [((10, 10, 6), False, None)])
    assert predict("--checkpoint", resampled, "--input", folder / "scan.nii.gz", "--mask", folder / "map.nii.gz",
                   "--label", "5", "--clicks", clicks, "--steps", 0, "--output", folder / "out") == 0
    result, _ = _output(folder / "out")
    changed = np.argwhere(result != label_map)
    assert len(changed) >= 1 and np.all(np.abs(changed - [10, 10, 6]) <= [1, 1, 0])  # one 1.3 mm working voxel
    assert predict("--checkpoint", resampled, "--input", folder / "scan.nii.gz", "--mask", folder / "map.nii.gz",
                   "--label", "all", "--steps", 0, "--output", folder / "none") == 0
    np.testing.assert_array_equal(_output(folder / "none")[0], label_map)


def test_several_structures_in_one_run_each_with_its_clicks(scene, untrained):
    folder, label_map, affine = scene
    clicks = _clicks(folder, affine, [((10, 10, 6), False, "liver"), ((20, 10, 6), False, 2)])
    assert predict("--checkpoint", untrained, "--input", folder / "scan.nii.gz", "--mask", folder / "map.nii.gz",
                   "--label", "liver,kidney", "--clicks", clicks, "--output", folder / "out") == 0
    result, _ = _output(folder / "out")
    spleen = label_map == 300
    np.testing.assert_array_equal(result[spleen], label_map[spleen])
    assert result[10, 10, 6] == 0 and result[20, 10, 6] == 0
    report = json.loads((folder / "out" / "predict_report.json").read_text())[0]
    assert [s["name"] for s in report["structures"]] == ["liver", "kidney"]
    assert [c["structure"] for c in report["clicks"]] == ["liver", "kidney"]


def test_names_come_from_the_nifti_header_extension_as_totalsegmentator_writes_them(tmp_path):
    image = nib.Nifti1Image(np.array([[[0, 3], [7, 7]]] * 2, dtype=np.uint8), np.eye(4))
    table = ('<?xml version="1.0" encoding="UTF-8"?><CaretExtension><VolumeInformation Index="0"><LabelTable>'
             '<Label Key="3" Red="1" Green="0" Blue="0" Alpha="1"><![CDATA[liver]]></Label>'
             '<Label Key="7" Red="0" Green="1" Blue="0" Alpha="1"><![CDATA[kidney_left]]></Label>'
             '</LabelTable></VolumeInformation></CaretExtension>')
    image.header.extensions.append(nib.nifti1.Nifti1Extension(0, table.encode()))
    nib.save(image, tmp_path / "ts.nii.gz")
    names = read_label_map(tmp_path / "ts.nii.gz").names
    assert names.names == {3: "liver", 7: "kidney_left"}
    assert names.value_of("Kidney Left", [3, 7], "ts") == 7


def test_an_added_voxel_of_another_structure_keeps_it_unless_asked():
    label_map = np.array([0, 5, 5, 2, 0], np.int16)
    added = np.array([1, 0, 0, 1, 0], bool)
    removed = np.array([0, 1, 0, 0, 0], bool)
    kept, change = apply_structure_change(label_map, 5, added, removed, "liver")
    np.testing.assert_array_equal(kept, [5, 0, 5, 2, 0])
    assert (change.added, change.removed, change.kept_other, change.replaced_other) == (1, 1, 1, 0)
    taken, change = apply_structure_change(label_map, 5, added, removed, replace_other_structures=True)
    np.testing.assert_array_equal(taken, [5, 0, 5, 5, 0])
    assert change.replaced_other == 1 and label_map[3] == 2  # the input array is not modified


def test_a_map_written_with_flipped_and_permuted_axes_is_laid_onto_the_scan(scene, untrained, caplog):
    folder, label_map, affine = scene
    orientation = np.array([[2, 1], [0, -1], [1, -1]])  # another converter's axis order and directions
    flipped = nib.orientations.apply_orientation(label_map, orientation)
    flipped_affine = affine @ nib.orientations.inv_ornt_aff(orientation, label_map.shape)
    nib.save(nib.Nifti1Image(flipped, flipped_affine), folder / "flipped.nii.gz")
    assert predict("--checkpoint", untrained, "--input", folder / "scan.nii.gz", "--mask", folder / "flipped.nii.gz",
                   "--label", "all", "--steps", 0, "--output", folder / "out") == 0
    np.testing.assert_array_equal(_output(folder / "out")[0], label_map)
    assert "laid onto the scan's grid" in caplog.text


def test_a_slicer_segmentation_round_trips_with_names_and_geometry(scene, untrained):
    folder, label_map, affine = scene
    predict("--checkpoint", untrained, "--input", folder / "scan.nii.gz", "--mask", folder / "map.nii.gz", "--label", "all",
            "--steps", 0, "--output-format", "seg.nrrd", "--output", folder / "seg")
    segmentation = read_label_map(folder / "seg" / "scan_mask.seg.nrrd")
    np.testing.assert_array_equal(segmentation.array, label_map)
    np.testing.assert_allclose(segmentation.affine, affine, atol=1e-4)
    assert segmentation.names.names == {2: "kidney", 5: "liver", 300: "spleen"}
    clicks = _clicks(folder, affine, [((10, 10, 6), False, None)])
    assert predict("--checkpoint", untrained, "--input", folder / "scan.nii.gz", "--mask", folder / "seg" / "scan_mask.seg.nrrd",
                   "--label", "liver", "--clicks", clicks, "--steps", 0, "--output", folder / "again") == 0
    again = read_label_map(folder / "again" / "scan_mask.seg.nrrd")  # auto: a .seg.nrrd in, a .seg.nrrd out
    assert again.array[10, 10, 6] == 0 and again.names.names == segmentation.names.names


@pytest.mark.skipif(not (CT_DATA / "labels.nii.gz").is_file(), reason="the real abdominal CT is not beside the checkout")
def test_one_organ_of_the_real_ct_map_is_refined_and_the_others_kept(tmp_path, untrained):
    original = np.asanyarray(nib.load(CT_DATA / "labels.nii.gz").dataobj)
    values = [int(v) for v in np.unique(original) if v != 0]
    target = max(values, key=lambda v: int((original == v).sum()))
    image = next(p for p in CT_DATA.iterdir() if p.name.endswith(".nii.gz") and p.name != "labels.nii.gz")
    assert predict("--checkpoint", untrained, "--input", image, "--mask", CT_DATA / "labels.nii.gz", "--label", target,
                   "--steps", 1, "--output", tmp_path / "out") == 0
    result = np.asanyarray(nib.load(tmp_path / "out" / f"{image.name[:-7]}_mask.nii.gz").dataobj)
    others = (original != 0) & (original != target)
    assert result.shape == original.shape and result.dtype == original.dtype
    np.testing.assert_array_equal(result[others], original[others])
