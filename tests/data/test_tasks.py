"""Structure-agnostic tasks: every label of a multi-label map its own binary task, drawn and cropped to."""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor

from medrl.data.tasks import ListTasksd, SampleTaskd, capped_box, list_tasks, structure_box, task_boxes


def label_map() -> np.ndarray:
    label = np.zeros((20, 20, 20), np.uint8)
    label[2:6, 2:6, 2:6] = 3        # 64 voxels
    label[10:18, 10:14, 4:8] = 7    # 128 voxels
    label[15, 15, 15] = 9           # 1 voxel: below any useful floor
    return label


def test_every_label_above_the_floor_is_a_task_and_the_union_is_one_more():
    assert list_tasks(label_map(), min_voxels=10) == [(3,), (7,), (3, 7, 9)]
    assert list_tasks(label_map(), min_voxels=100) == [(7,), (3, 7, 9)]
    assert list_tasks(label_map(), min_voxels=10, union=False) == [(3,), (7,)]
    assert list_tasks(np.zeros((4, 4, 4), np.uint8)) == []
    single = np.zeros((4, 4, 4), np.uint8); single[1:3, 1:3, 1:3] = 1
    assert list_tasks(single, min_voxels=1) == [(1,)]  # one label: no separate union


def test_task_boxes_are_the_bounding_boxes_of_their_labels():
    boxes = task_boxes(label_map(), [(3,), (7,), (3, 7, 9)])
    assert boxes == [[2, 2, 2, 6, 6, 6], [10, 10, 4, 18, 14, 8], [2, 2, 2, 18, 16, 16]]


def test_structure_box_grows_and_clips():
    mask = label_map() == 3
    assert structure_box(mask, (1, 3, 0), mask.shape) == ([1, 0, 2], [7, 9, 6])
    assert structure_box(np.zeros((5, 5, 5), bool), (1, 1, 1), (5, 5, 5)) == ([0, 0, 0], [5, 5, 5])


def test_a_large_structure_is_cut_to_a_window_around_one_of_its_voxels():
    mask = np.zeros((40, 10, 10), bool); mask[2:38, 3:6, 3:6] = True
    start, end = capped_box(mask, [0, 0, 0], [40, 10, 10], (16, 16, 16), np.random.default_rng(0))
    assert end[0] - start[0] == 16 and (start[1:], end[1:]) == ([0, 0], [10, 10])
    assert mask[start[0]:end[0]].any()


def case() -> dict:
    label = MetaTensor(torch.from_numpy(label_map())[None], affine=torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0])))
    image = MetaTensor(torch.rand(1, 20, 20, 20), affine=label.affine.clone())
    return ListTasksd(min_voxels=10)({"image": image, "label": label})


def test_sampled_task_gives_a_binary_label_cropped_around_its_structure():
    sampler = SampleTaskd(["image", "label"], margin=(2, 2, 2)).set_random_state(seed=0)
    seen = set()
    for _ in range(30):
        sample = sampler(case())
        task = tuple(sample["task"])
        seen.add(task)
        label = sample["label"]
        assert label.dtype == torch.uint8 and set(label.unique().tolist()) <= {0, 1}
        assert sample["image"].shape == label.shape
        full = np.isin(label_map(), task)
        assert int(label.sum()) == int(full.sum())  # the whole structure lies in the crop
        if task == (3,):
            assert tuple(label.shape[1:]) == (8, 8, 8)  # its 4-voxel box and 2 voxels either side (clipped at 0)
            assert np.allclose(label.affine[:3, 3].numpy(), [0.0, 0.0, 0.0])
        if task == (7,):
            assert tuple(label.shape[1:]) == (12, 8, 8) and np.allclose(label.affine[:3, 3].numpy(), [16.0, 16.0, 4.0])
    assert seen == {(3,), (7,), (3, 7, 9)}  # every task is drawn


def test_a_seeded_case_always_gets_the_same_task():
    sampler = SampleTaskd(["image", "label"], margin=(2, 2, 2))
    tasks = {tuple(sampler({**case(), "task_seed": 5})["task"]) for _ in range(5)}
    assert len(tasks) == 1


def test_a_review_of_one_structure_has_that_task_only_and_a_case_without_label_none():
    label = torch.zeros(1, 12, 12, 12, dtype=torch.uint8)
    label[0, 1:5, 1:5, 1:5], label[0, 6:11, 6:11, 6:11] = 2, 5
    reviewed = ListTasksd(min_voxels=1)({"label": label, "review_structure": 5})
    assert reviewed["tasks"] == [[5]] and reviewed["task_boxes"] == [[6, 6, 6, 11, 11, 11]]
    unlabelled = ListTasksd(min_voxels=1)({"image": label.float(), "label": None})
    assert unlabelled["tasks"] == [] and unlabelled["label"] is None
    sampled = SampleTaskd(["image"], margin=[2, 2, 2])(unlabelled)
    assert sampled["image"].shape == (1, 12, 12, 12)  # nothing to crop around: the case is used as it is
