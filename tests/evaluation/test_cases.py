"""Evaluation cases: names, the task's foreground labels, and how a case's starting mask is read."""

from __future__ import annotations

import numpy as np
import pytest

from medrl.data.geometry import orientation_affine
from medrl.errors import MedrlInputError
from medrl.evaluation.cases import case_name, prepare_case, unique_names
from medrl.inference.refiner import Refiner
from tests.conftest import save_nifti


def test_case_names_drop_extensions_and_stay_unique():
    assert case_name("/data/imagesTs/ct_07.nii.gz") == "ct_07" and case_name("/data/dicom/series_3") == "series_3"
    assert unique_names(["a/ct.nii.gz", "b/ct.nii.gz", "c/mr.nrrd", "d/ct.nii"]) == ["ct", "ct_2", "mr", "ct_3"]


@pytest.fixture
def multi_label_case(tmp_path):
    """A scan whose label map holds organs 1 and 5, with a binary and a multi-label starting mask (LPS, anisotropic)."""
    shape = (12, 10, 8)
    affine = orientation_affine("LPS", (1.0, 1.5, 3.0), shape)
    labels = np.zeros(shape, np.uint8)
    labels[1:5, 1:5, 1:4] = 1
    labels[6:11, 4:9, 3:7] = 5
    binary = (labels == 5).astype(np.uint8)
    binary[6, 4, 3] = 0  # one voxel off, so the start is not the truth itself
    paths = {name: save_nifti(array, affine, tmp_path / f"{name}.nii.gz") for name, array in
             (("image", labels.astype(np.float32)), ("label", labels), ("binary", binary), ("multi", labels))}
    return {key: str(path) for key, path in paths.items()}


def _refiner(checkpoint, labels):
    refiner = Refiner.from_checkpoint(checkpoint)
    refiner.foreground_labels = labels
    return refiner


def test_the_task_label_and_a_binary_initial_mask(multi_label_case, voxel_agents):
    entry = {"image": multi_label_case["image"], "label": multi_label_case["label"], "initial": multi_label_case["binary"]}
    case = prepare_case(_refiner(voxel_agents, [5]), entry, "organ5", read_initial=True)
    assert case.label.dtype == np.uint8 and int(case.label.sum()) == 5 * 5 * 4  # organ 5 only
    assert case.spacing == pytest.approx((1.0, 1.5, 3.0))
    initial = case.initial.numpy()  # binary: kept as given, not reduced to label value 5 (which would empty it)
    assert initial.dtype == np.float32 and int(initial.sum()) == 5 * 5 * 4 - 1 and initial[case.label == 0].sum() == 0


def test_a_multi_label_initial_map_gives_the_tasks_organ(multi_label_case, voxel_agents):
    entry = {"image": multi_label_case["image"], "label": multi_label_case["label"], "initial": multi_label_case["multi"]}
    case = prepare_case(_refiner(voxel_agents, [1]), entry, "organ1", read_initial=True)
    np.testing.assert_array_equal(case.initial.numpy(), case.label.astype(np.float32))
    without_labels = prepare_case(_refiner(voxel_agents, None), entry, "any", read_initial=True)
    assert int(without_labels.initial.sum()) == int((without_labels.label > 0).sum())  # non-zero = foreground


def test_a_case_without_label_is_refused(multi_label_case, voxel_agents):
    with pytest.raises(MedrlInputError, match="has no label"):
        prepare_case(_refiner(voxel_agents, None), {"image": multi_label_case["image"], "label": None}, "x", read_initial=False)
