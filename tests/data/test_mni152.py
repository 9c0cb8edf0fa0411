"""A real MRI case from nilearn's packaged MNI152 template, built without touching the network."""

import json
import socket

import nibabel as nib
import numpy as np
import pytest

from medrl.data.mni152 import write_mni152_case
from medrl.data.synthetic import write_synthetic_dataset
from medrl.errors import MedrlInputError


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_white_matter_case(tmp_path, no_network):
    paths = write_mni152_case(tmp_path, tissue="wm")
    image, label = nib.load(paths["image"]), nib.load(paths["label"])
    assert image.shape == label.shape == (99, 117, 95)
    np.testing.assert_allclose(image.header.get_zooms(), (2.0, 2.0, 2.0))
    np.testing.assert_allclose(image.affine, label.affine, atol=1e-4)
    assert image.get_data_dtype() == np.float32 and label.get_data_dtype() == np.uint8
    t1, wm = image.get_fdata(), np.asanyarray(label.dataobj)
    assert set(np.unique(wm)) == {0, 1}
    brain = t1 > 0.05 * t1.max()
    assert 0.03 < wm.mean() < 0.15 and 0.2 < wm.sum() / brain.sum() < 0.6
    assert t1[wm == 1].mean() > t1[brain & (wm == 0)].mean()  # white matter is bright on T1


def test_grey_matter_and_bad_arguments(tmp_path, no_network):
    paths = write_mni152_case(tmp_path, tissue="gm", threshold=0.5)
    gm = np.asanyarray(nib.load(paths["label"]).dataobj)
    assert paths["label"].name == "mni152_gm.nii.gz" and 0.05 < gm.mean() < 0.25
    with pytest.raises(MedrlInputError, match="exists"):
        write_mni152_case(tmp_path, tissue="gm")
    with pytest.raises(MedrlInputError, match="tissue"):
        write_mni152_case(tmp_path / "x", tissue="csf")


def test_added_to_synthetic_dataset_under_its_own_key(tmp_path, no_network):
    path = write_synthetic_dataset(tmp_path, n_train=1, n_val=0, n_test=1, shape=(16, 16, 8), include_mni152=True)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert len(document["test"]) == 1  # the MR case is not mixed into the CT-like test list
    (entry,) = document["test_mr"]
    assert entry["modality"] == "MR" and entry["image"].startswith("./mni152/")
    assert (tmp_path / entry["image"]).is_file() and (tmp_path / entry["label"]).is_file()
    (tmp_path / "dataset.json").unlink()  # an MNI152 file left over still blocks a rewrite
    with pytest.raises(MedrlInputError, match="mni152"):
        write_synthetic_dataset(tmp_path, n_train=0, n_val=0, n_test=0, include_mni152=True)
