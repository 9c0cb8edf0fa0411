"""Dataset lists from MSD dataset.json, imagesTr/labelsTr folders and CSV files."""

from __future__ import annotations

import json
import shutil

import pytest

from medrl.data.datasets import is_dataset_path, load_dataset
from medrl.errors import MedrlInputError


@pytest.fixture
def msd(tmp_path, write_case):
    root = tmp_path / "Task01"
    for i in range(3):
        image, label, _ = write_case(name=f"c{i}", folder=root / "raw")
        (root / "imagesTr").mkdir(parents=True, exist_ok=True)
        (root / "labelsTr").mkdir(exist_ok=True)
        shutil.move(image, root / "imagesTr" / f"case_{i}.nii.gz")
        shutil.move(label, root / "labelsTr" / f"case_{i}.nii.gz")
    shutil.rmtree(root / "raw")
    return root


def test_msd_json_keeps_extra_keys_and_resolves_paths(msd):
    document = {
        "name": "demo",
        "training": [{"image": "./imagesTr/case_0.nii.gz", "label": "./labelsTr/case_0.nii.gz", "initial": "./labelsTr/case_1.nii.gz", "site": "A"}],
        "validation": [{"image": "./imagesTr/case_1.nii.gz", "label": "./labelsTr/case_1.nii.gz"}],
        "test": ["./imagesTr/case_2.nii.gz"],
    }
    (msd / "dataset.json").write_text(json.dumps(document))
    training = load_dataset(msd / "dataset.json", "training")
    assert training[0]["image"] == str(msd / "imagesTr" / "case_0.nii.gz")
    assert training[0]["initial"] == str(msd / "labelsTr" / "case_1.nii.gz") and training[0]["site"] == "A"
    assert len(load_dataset(msd, "validation")) == 1  # a folder holding dataset.json reads the JSON
    test = load_dataset(msd / "dataset.json", "test")
    assert test == [{"image": str(msd / "imagesTr" / "case_2.nii.gz"), "label": None}]


def test_folder_pairs_by_name_and_ignores_channel_suffix(msd):
    (msd / "imagesTr" / "case_2.nii.gz").rename(msd / "imagesTr" / "case_2_0000.nii.gz")
    cases = load_dataset(msd)
    assert [c["label"].rsplit("/", 1)[-1] for c in cases] == ["case_0.nii.gz", "case_1.nii.gz", "case_2.nii.gz"]
    assert cases[2]["image"].endswith("case_2_0000.nii.gz")
    assert is_dataset_path(msd) and load_dataset(msd, "validation") == []


def test_folder_with_unpaired_image_is_an_error(msd):
    (msd / "labelsTr" / "case_1.nii.gz").unlink()
    with pytest.raises(MedrlInputError, match="no label for image"):
        load_dataset(msd)


def test_csv_rows_with_optional_labels(msd):
    (msd / "list.csv").write_text("image,label,initial\nimagesTr/case_0.nii.gz,labelsTr/case_0.nii.gz,\nimagesTr/case_1.nii.gz,,\n")
    cases = load_dataset(msd / "list.csv")
    assert cases[0]["label"] == str(msd / "labelsTr" / "case_0.nii.gz")
    assert cases[1]["label"] is None and not cases[1]["initial"]


@pytest.mark.parametrize(
    "document, problem",
    [
        ({"training": [{"image": "./imagesTr/case_0.nii.gz"}]}, "has no 'label' key"),
        ({"training": {"image": "x"}}, "must be a list"),
        ({"name": "no lists"}, "needs at least one of the lists"),
        ({"training": [{"image": "./imagesTr/case_0.nii.gz", "label": "./labelsTr/missing.nii.gz"}]}, "does not exist"),
    ],
)
def test_bad_dataset_json(msd, document, problem):
    (msd / "dataset.json").write_text(json.dumps(document))
    with pytest.raises(MedrlInputError, match=problem):
        load_dataset(msd / "dataset.json")


def test_not_json_and_unknown_section(tmp_path):
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(MedrlInputError, match="not valid JSON"):
        load_dataset(tmp_path / "dataset.json")
    with pytest.raises(MedrlInputError, match="unknown section"):
        load_dataset(tmp_path / "dataset.json", "train")


def test_several_datasets_concatenate_with_their_position_and_modality(msd, tmp_path):
    from medrl.data.datasets import load_datasets

    entries = [{"image": f"./imagesTr/case_{i}.nii.gz", "label": f"./labelsTr/case_{i}.nii.gz"} for i in range(3)]
    entries[2]["modality"] = "CT"
    (msd / "dataset.json").write_text(json.dumps({"modality": {"0": "MR"}, "training": entries}))
    other = msd / "other.json"
    other.write_text(json.dumps({"modality": {"0": "CT / MR (see each entry)"}, "training": entries[:1]}))
    cases = load_datasets([msd, other], "training")
    assert [c["dataset"] for c in cases] == [0, 0, 0, 1]
    assert [c.get("modality") for c in cases] == ["MR", "MR", "CT", None]  # an entry's own wins; a note is no modality
    assert load_datasets(msd, "test") == []
    with pytest.raises(MedrlInputError, match="empty list"):
        load_datasets([], "training")
