"""Writing masks: uint8 on the input grid, atomic, never over an input or an existing output unasked."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from medrl.data import atomic
from medrl.data.writers import write_mask
from medrl.errors import MedrlInputError


def test_mask_is_uint8_with_exact_affine(tmp_path, write_case):
    _, label_path, affine = write_case("LAS", (0.6, 0.6, 3.3))
    mask = nib.load(label_path).get_fdata().astype(np.int64)
    out = write_mask(mask, affine, tmp_path / "m.nii.gz")
    written = nib.load(out)
    assert written.get_data_dtype() == np.uint8
    np.testing.assert_allclose(written.affine, affine, atol=1e-4)
    assert written.header["sform_code"] == 1 and written.header["qform_code"] == 1
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), mask)


def test_never_overwrites_an_input_even_when_asked(tmp_path, write_case):
    image_path, label_path, affine = write_case()
    before = label_path.read_bytes()
    with pytest.raises(MedrlInputError, match="input file"):
        write_mask(np.zeros((20, 18, 12)), affine, label_path, overwrite=True, inputs=(image_path, label_path))
    assert label_path.read_bytes() == before


def test_existing_output_needs_overwrite(tmp_path):
    out = write_mask(np.zeros((4, 4, 4)), np.eye(4), tmp_path / "m.nii.gz")
    with pytest.raises(MedrlInputError, match="output exists"):
        write_mask(np.ones((4, 4, 4)), np.eye(4), out)
    write_mask(np.ones((4, 4, 4)), np.eye(4), out, overwrite=True)
    assert np.asanyarray(nib.load(out).dataobj).min() == 1


def test_crash_while_writing_leaves_no_file(tmp_path, monkeypatch):
    def failing_save(image, path):
        open(path, "wb").write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("medrl.data.writers.nib.save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_mask(np.zeros((4, 4, 4)), np.eye(4), tmp_path / "m.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_nifti_suffix(tmp_path):
    with atomic.atomic_path(tmp_path / "x.nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz") and tmp.parent == tmp_path
        tmp.write_bytes(b"data")
    assert (tmp_path / "x.nii.gz").read_bytes() == b"data"


def test_atomic_output_gets_the_usual_file_mode_not_mkstemps_private_one(tmp_path):
    """A plain open() honours the umask (typically 0o644); mkstemp alone would leave 0o600."""
    (tmp_path / "plain").write_bytes(b"")
    with atomic.atomic_path(tmp_path / "x.csv") as tmp:
        tmp.write_bytes(b"a,b")
    assert (tmp_path / "x.csv").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777



def test_text_is_written_atomically_as_utf8_whatever_the_locale(tmp_path):
    """CI runs under an ASCII locale; generated documents hold '±', '→' and '—'."""
    text = "Dice 0.88 ± 0.02 → kept — ok\n"
    path = atomic.write_text_atomically(tmp_path / "sub" / "doc.md", text)
    assert path == tmp_path / "sub" / "doc.md" and path.read_bytes() == text.encode("utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["doc.md"]  # no temporary file left beside it

@pytest.mark.parametrize("bad", [np.full((3, 3, 3), 0.5), np.full((3, 3, 3), -1), np.full((3, 3, 3), 300)])
def test_mask_values_must_fit_uint8_labels(tmp_path, bad):
    with pytest.raises(MedrlInputError, match="integer values"):
        write_mask(bad, np.eye(4), tmp_path / "m.nii.gz")
