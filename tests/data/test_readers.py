"""Reading scans: one RAS convention across NIfTI, NRRD/MHA and DICOM; round trips keep geometry."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from medrl.data.geometry import LPS_TO_RAS, orientation_affine
from medrl.data.readers import read_scan
from medrl.data.writers import write_mask, write_volume
from tests.conftest import make_volume
from tests.data.dicom_fixture import write_dicom_series

ORIENTATIONS = ["RAS", "LPS", "LAS", "PIR"]
SPACINGS = [(1.0, 1.0, 1.0), (0.7, 0.9, 3.0)]


def rotation(seed=0) -> np.ndarray:
    """A proper rotation (det +1) that is not axis-aligned."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def assert_same_world(volume, sitk_image):
    """Every tested index maps to the same world point and holds the same value as in SimpleITK."""
    affine = volume.affine.numpy()
    size = sitk_image.GetSize()
    for index in [(0, 0, 0), (size[0] - 1, 1, 2), (2, size[1] - 1, size[2] - 1)]:
        lps = np.array([*sitk_image.TransformIndexToPhysicalPoint(index), 1.0])
        np.testing.assert_allclose(affine @ [*index, 1.0], LPS_TO_RAS @ lps, atol=1e-4)
        assert volume[0][index].item() == pytest.approx(sitk_image.GetPixel(*index))


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("spacing", SPACINGS)
def test_nifti_round_trip_keeps_shape_affine_values(tmp_path, write_case, orientation, spacing):
    image_path, label_path, affine = write_case(orientation, spacing)
    image, label = read_scan(image_path), read_scan(label_path, kind="label")
    assert image.shape == (1, 20, 18, 12) and image.dtype.is_floating_point
    assert label.dtype == np.uint8 or str(label.dtype) == "torch.uint8"
    np.testing.assert_allclose(image.affine.numpy(), affine, atol=1e-5)

    out = write_mask(label[0].numpy(), label.affine.numpy(), tmp_path / "out" / "mask.nii.gz")
    again = read_scan(out, kind="label")
    assert again.shape == label.shape
    np.testing.assert_allclose(again.affine.numpy(), affine, atol=1e-4)
    np.testing.assert_array_equal(again.numpy(), label.numpy())


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_sitk_formats_match_simpleitk_geometry(tmp_path, suffix):
    image_array, _ = make_volume((9, 8, 7))
    image = sitk.GetImageFromArray(image_array.transpose(2, 1, 0).copy())
    image.SetSpacing((0.8, 1.3, 2.9))
    image.SetDirection(tuple(rotation().reshape(-1)))
    image.SetOrigin((12.0, -40.5, 7.25))
    path = tmp_path / f"scan{suffix}"
    sitk.WriteImage(image, str(path))
    volume = read_scan(path)
    assert volume.shape == (1, 9, 8, 7)
    assert_same_world(volume, image)

    out = write_volume(volume[0].numpy(), volume.affine.numpy(), tmp_path / f"back{suffix}")
    again = sitk.ReadImage(str(out))
    np.testing.assert_allclose(again.GetDirection(), image.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(again.GetOrigin(), image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(again.GetSpacing(), image.GetSpacing(), atol=1e-6)


def test_nifti_and_sitk_readers_agree(tmp_path):
    """The same scan saved by SimpleITK as NIfTI and as NRRD reads back identically through both readers."""
    image_array, _ = make_volume((9, 8, 7))
    image = sitk.GetImageFromArray(image_array.transpose(2, 1, 0).copy())
    image.SetSpacing((0.8, 1.3, 2.9))
    image.SetDirection(tuple(np.diag([-1.0, 1.0, 1.0]).reshape(-1)))
    image.SetOrigin((1.0, 2.0, 3.0))
    sitk.WriteImage(image, str(tmp_path / "a.nii.gz"))
    sitk.WriteImage(image, str(tmp_path / "a.nrrd"))
    from_nifti, from_nrrd = read_scan(tmp_path / "a.nii.gz"), read_scan(tmp_path / "a.nrrd")
    np.testing.assert_allclose(from_nifti.affine.numpy(), from_nrrd.affine.numpy(), atol=1e-4)
    np.testing.assert_array_equal(from_nifti.numpy(), from_nrrd.numpy())


def test_dicom_series_reads_with_world_geometry(tmp_path):
    array, _ = make_volume((16, 14, 6))
    array = (array * 10).astype(np.int16)
    direction = rotation(1)
    source = write_dicom_series(tmp_path / "dicom", array, (0.7, 0.8, 2.5), direction, (-100.0, 20.0, 55.0), "1.2.826.0.1.3680043.2.1125.1")
    volume = read_scan(tmp_path / "dicom", dtype=None)
    assert volume.shape == (1, 16, 14, 6)
    assert volume.meta["format"] == "dicom"
    assert_same_world(volume, source)

    # the mask written for a DICOM input is aligned with the series in world space
    mask = (volume[0].numpy() > 500).astype(np.uint8)
    out = write_mask(mask, volume.affine.numpy(), tmp_path / "mask.nii.gz")
    written = sitk.ReadImage(str(out))
    for index in [(0, 0, 0), (15, 13, 5), (3, 9, 2)]:
        np.testing.assert_allclose(written.TransformIndexToPhysicalPoint(index), source.TransformIndexToPhysicalPoint(index), atol=1e-3)
        assert written.GetPixel(*index) == mask[index]


def test_dicom_folder_with_two_series_reads_the_largest_and_says_so(tmp_path, caplog):
    small, _ = make_volume((8, 8, 3))
    large, _ = make_volume((8, 8, 5))
    write_dicom_series(tmp_path / "d", small.astype(np.int16), (1, 1, 2), np.eye(3), (0, 0, 0), "1.2.3.4.1", prefix="a")
    write_dicom_series(tmp_path / "d", large.astype(np.int16), (1, 1, 2), np.eye(3), (0, 0, 0), "1.2.3.4.2", prefix="b")
    with caplog.at_level("WARNING", logger="medrl"):
        volume = read_scan(tmp_path / "d")
    assert volume.shape == (1, 8, 8, 5)
    assert "2 DICOM series" in volume.meta["note"] and "1.2.3.4.2" in caplog.text


def test_four_d_scan_needs_a_channel_choice(tmp_path):
    from medrl.errors import MedrlInputError
    from tests.conftest import save_nifti

    data = np.stack([np.full((6, 5, 4), c, np.float32) for c in range(3)], axis=-1)
    path = save_nifti(data, np.eye(4), tmp_path / "four_d.nii.gz")
    with pytest.raises(MedrlInputError, match="3 volumes"):
        read_scan(path)
    assert read_scan(path, channel=2).unique().tolist() == [2.0]
    single = save_nifti(data[..., :1], np.eye(4), tmp_path / "single.nii.gz")
    assert read_scan(single).shape == (1, 6, 5, 4)


def test_mni152_round_trip(tmp_path):
    nilearn_datasets = pytest.importorskip("nilearn.datasets")
    template = nilearn_datasets.load_mni152_template(resolution=2)
    path = tmp_path / "mni.nii.gz"
    template.to_filename(path)
    volume = read_scan(path)
    assert volume.shape == (1, *template.shape)
    np.testing.assert_allclose(volume.affine.numpy(), template.affine, atol=1e-5)
    mask = (volume[0].numpy() > 0.5 * float(volume.max())).astype(np.uint8)
    again = read_scan(write_mask(mask, volume.affine.numpy(), tmp_path / "m.nii.gz"), kind="label")
    np.testing.assert_array_equal(again[0].numpy(), mask)
    np.testing.assert_allclose(again.affine.numpy(), template.affine, atol=1e-4)


def test_shared_ct_round_trip(tmp_path, shared_ct):
    image = read_scan(shared_ct / "image.nii.gz", dtype=None)
    label = read_scan(shared_ct / "labels.nii.gz", kind="label")
    assert image.shape == label.shape == (1, 122, 101, 30)
    assert str(image.dtype) == "torch.int16"
    spleen = (label[0].numpy() == 1).astype(np.uint8)
    out = write_mask(spleen, label.affine.numpy(), tmp_path / "spleen.nii.gz", inputs=(shared_ct / "labels.nii.gz",))
    again = read_scan(out, kind="label")
    np.testing.assert_array_equal(again[0].numpy(), spleen)
    np.testing.assert_allclose(again.affine.numpy(), label.affine.numpy(), atol=1e-4)
    assert int(spleen.sum()) == 9452


def test_orientation_affine_codes():
    from medrl.data.geometry import orientation_code

    for code in ORIENTATIONS:
        assert orientation_code(orientation_affine(code, (1, 2, 3), (4, 4, 4))) == code
