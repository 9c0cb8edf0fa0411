"""Synthetic demo dataset: MSD layout, consistent geometry, world-consistent orientations, seeds."""

import json
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medrl.data.geometry import orientation_code, voxel_spacing
from medrl.data.synthetic import make_synthetic_case, write_synthetic_dataset
from medrl.data.writers import write_volume
from medrl.errors import MedrlInputError

SMALL = dict(n_train=3, n_val=1, n_test=2, shape=(24, 24, 16), spacing=(1.5, 1.5, 3.0))


def entries(document):
    return [(section, e) for section in ("training", "validation", "test") for e in document[section]]


def load(path):
    image = nib.load(path)
    return np.asanyarray(image.dataobj), image.affine


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    path = write_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), seed=3, **SMALL)
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_layout_and_dataset_json(small_dataset):
    path, document = small_dataset
    assert path.name == "dataset.json"
    assert document["modality"] == {"0": "CT"} and document["labels"] == {"0": "background", "1": "organ"}
    assert document["numTraining"] == len(document["training"]) == 3
    assert len(document["validation"]) == 1 and len(document["test"]) == 2
    folders = {"training": ("imagesTr", "labelsTr"), "validation": ("imagesTr", "labelsTr"), "test": ("imagesTs", "labelsTs")}
    names = []
    for section, entry in entries(document):
        for key, folder in zip(("image", "label"), folders[section]):
            assert entry[key].startswith(f"./{folder}/") and (path.parent / entry[key]).is_file()
        names.append(Path(entry["image"]).name)
        assert Path(entry["image"]).name == Path(entry["label"]).name
    assert len(set(names)) == len(names) == 6
    assert "test_mr" not in document


def test_pairs_share_grid_and_labels_are_binary(small_dataset):
    path, document = small_dataset
    orientations = set()
    for _, entry in entries(document):
        image, image_affine = load(path.parent / entry["image"])
        label, label_affine = load(path.parent / entry["label"])
        assert image.dtype == np.int16 and label.dtype == np.uint8
        assert image.shape == label.shape == (24, 24, 16)
        np.testing.assert_allclose(image_affine, label_affine, atol=1e-4)
        np.testing.assert_allclose(voxel_spacing(image_affine), (1.5, 1.5, 3.0), atol=1e-5)
        assert orientation_code(image_affine) == entry["orientation"]
        orientations.add(entry["orientation"])
        assert set(np.unique(label)) == {0, 1}
        assert -1024 <= image.min() and image.max() <= 3071
    assert orientations == {"RAS", "LPS", "LAS"}


def test_same_seed_same_data(tmp_path):
    first = write_synthetic_dataset(tmp_path / "a", seed=11, **SMALL)
    second = write_synthetic_dataset(tmp_path / "b", seed=11, **SMALL)
    assert json.loads(first.read_text(encoding="utf-8")) == json.loads(second.read_text(encoding="utf-8"))
    for _, entry in entries(json.loads(first.read_text(encoding="utf-8"))):
        for key in ("image", "label"):
            (a, affine_a), (b, affine_b) = load(first.parent / entry[key]), load(second.parent / entry[key])
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(affine_a, affine_b)
    other = write_synthetic_dataset(tmp_path / "c", seed=12, **SMALL)
    a, _ = load(first.parent / "imagesTr" / "case_000.nii.gz")
    c, _ = load(other.parent / "imagesTr" / "case_000.nii.gz")
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("orientation", ["LPS", "LAS"])
def test_anatomy_is_world_consistent(orientation, tmp_path):
    image_ras, label_ras, affine_ras = make_synthetic_case(5, shape=(24, 20, 12))
    image, label, affine = make_synthetic_case(5, shape=(24, 20, 12), orientation=orientation)
    assert orientation_code(affine) == orientation
    for name, array, reference in (("image", image, image_ras), ("label", label, label_ras)):
        written = write_volume(array, affine, tmp_path / f"{name}.nii.gz")
        canonical = nib.as_closest_canonical(nib.load(written))
        np.testing.assert_array_equal(np.asanyarray(canonical.dataobj), reference)
        np.testing.assert_allclose(canonical.affine, affine_ras, atol=1e-4)


def test_recorded_case_seed_rebuilds_the_case(small_dataset):
    path, document = small_dataset
    entry = document["test"][0]
    image, label, affine = make_synthetic_case(entry["seed"], SMALL["shape"], SMALL["spacing"], entry["orientation"])
    np.testing.assert_array_equal(load(path.parent / entry["image"])[0], image)
    np.testing.assert_array_equal(load(path.parent / entry["label"])[0], label)


def test_case_contents_are_ct_like():
    image, label, _ = make_synthetic_case(0)
    assert image.shape == label.shape == (48, 48, 32)
    organ, background = np.median(image[label == 1]), np.median(image[label == 0])
    assert 40 <= organ <= 80 and background < organ
    assert image.max() > 120  # an unlabelled distractor brighter than the organ
    assert 0.01 < label.mean() < 0.2


def test_default_dataset_is_fast(tmp_path):
    start = time.perf_counter()
    path = write_synthetic_dataset(tmp_path)
    assert time.perf_counter() - start < 10.0  # about 0.3 s on 2 CPU cores
    assert len(list((tmp_path / "imagesTr").iterdir())) + len(list((tmp_path / "imagesTs").iterdir())) == 12
    assert path.is_file()


def test_refuses_to_overwrite_before_writing_anything(tmp_path):
    write_synthetic_dataset(tmp_path, n_train=1, n_val=0, n_test=0, shape=(16, 16, 8))
    (tmp_path / "dataset.json").unlink()  # only a case file is left to collide with
    with pytest.raises(MedrlInputError, match="exists"):
        write_synthetic_dataset(tmp_path, n_train=1, n_val=0, n_test=0, shape=(16, 16, 8))
    assert not (tmp_path / "dataset.json").exists()
    write_synthetic_dataset(tmp_path, n_train=1, n_val=0, n_test=0, shape=(16, 16, 8), overwrite=True)


@pytest.mark.parametrize(
    "kwargs, source",
    [(dict(orientation="RRS"), "orientation"), (dict(shape=(4, 16, 16)), "shape"), (dict(spacing=(1, 0, 1)), "spacing")],
)
def test_bad_arguments_are_input_errors(kwargs, source):
    with pytest.raises(MedrlInputError, match=source):
        make_synthetic_case(0, **kwargs)


def test_demo_data_script(tmp_path):
    script = Path(__file__).parents[2] / "data_scripts" / "make_demo_data.py"
    command = [sys.executable, str(script), "--out", str(tmp_path), "--n-train", "2", "--n-val", "0", "--n-test", "1"]
    done = subprocess.run(command + ["--shape", "16", "16", "8"], capture_output=True, encoding="utf-8", errors="replace", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote 3 synthetic cases" in done.stdout and (tmp_path / "dataset.json").is_file()
    again = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace", timeout=120)
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr


def test_dataset_reader_accepts_it(small_dataset):
    datasets = pytest.importorskip("medrl.data.datasets")
    path, _ = small_dataset
    assert [len(datasets.load_dataset(path, s)) for s in ("training", "validation", "test")] == [3, 1, 2]
