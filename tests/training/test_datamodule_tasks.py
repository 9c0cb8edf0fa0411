"""The DataModule's structure-agnostic tasks: a multi-label dataset trains one binary task per label, several
datasets of several modalities train together."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from medrl.errors import MedrlInputError
from medrl.training.datamodule import MedrlDataModule, balanced_indices

LABELS = {2: (slice(2, 8), slice(2, 8), slice(2, 8)), 5: (slice(12, 20), slice(10, 16), slice(3, 9)),
          9: (slice(14, 16), slice(2, 4), slice(12, 14))}  # 216, 288 and 8 voxels


def write_multilabel_dataset(folder, n_cases: int = 3, modality: str = "MR", ct: bool = False):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    entries = []
    for i in range(n_cases):
        label = np.zeros((24, 20, 16), np.uint8)
        image = rng.normal(100.0, 5.0, label.shape).astype(np.float32)
        for value, box in LABELS.items():
            label[box] = value
            image[box] += 20.0 * value
        if ct:
            image[:, :, :2] = -1000.0  # air
        affine = np.diag([1.5, 1.5, 2.0, 1.0])
        nib.save(nib.Nifti1Image(image, affine), folder / f"img_{i}.nii.gz")
        nib.save(nib.Nifti1Image(label, affine), folder / f"lbl_{i}.nii.gz")
        entries.append({"image": f"img_{i}.nii.gz", "label": f"lbl_{i}.nii.gz"})
    (folder / "dataset.json").write_text(json.dumps({"modality": {"0": modality}, "training": entries}), encoding="utf-8")
    return folder / "dataset.json"


def test_a_multilabel_dataset_yields_one_task_per_label(tmp_path):
    data = MedrlDataModule(dataset=str(write_multilabel_dataset(tmp_path / "brains")), tasks="labels", min_task_voxels=50,
                           intensity="auto", patch_size=(8, 8, 8), patches_per_case=2, batch_size=2, validation_fraction=0.34,
                           perturbation_dice=(0.5, 0.95))
    data.setup("fit")
    assert len(data.cases["training"]) == 2 and len(data.cases["validation"]) == 1
    cached = data.case_transform(training=True)(dict(data.cases["training"][0]))
    assert cached["tasks"] == [[2], [5], [2, 5, 9]]  # label 9 is below the floor, the union is a task
    assert cached["label"].max() == 9  # the label map is kept whole until a task is drawn

    seen = set()
    for _ in range(6):
        for batch in data.train_dataloader():
            assert batch["image"].shape == (4, 1, 8, 8, 8)
            assert set(batch["label"].unique().tolist()) <= {0, 1} and batch["initial"].max() <= 1
            assert 0.0 <= float(batch["image"].min()) and float(batch["image"].max()) <= 1.0  # MR: percentiles
            seen.add(int(batch["label"].sum()))
    assert len(seen) > 1

    first, again = (next(iter(data.val_dataloader())) for _ in range(2))
    assert first["task"] == again["task"] and torch.equal(first["label"], again["label"])  # the same task every epoch
    size = int(first["label"].sum())
    assert size in (216, 288, 512) and first["label"].shape[2:] != (24, 20, 16)  # cropped around its structure


def test_datasets_of_several_modalities_train_together_balanced(tmp_path):
    mr = write_multilabel_dataset(tmp_path / "mr", n_cases=4)
    ct = write_multilabel_dataset(tmp_path / "ct", n_cases=1, modality="CT", ct=True)
    data = MedrlDataModule(dataset=[str(mr), str(ct)], tasks="labels", min_task_voxels=50, intensity="auto",
                           patch_size=(8, 8, 8), patches_per_case=1, batch_size=1, validation_fraction=0.0,
                           balance_datasets=True, visits_per_epoch=12)
    data.setup("fit")
    assert [c["dataset"] for c in data.cases["training"]] == [0, 0, 0, 0, 1]
    loader = data.train_dataloader()
    assert len(loader.dataset) == 8 and len(loader.sampler) == 12  # the balanced list, 12 visits per epoch
    assert balanced_indices([0, 0, 0, 0, 1]) == [0, 1, 2, 3, 4, 4, 4, 4]
    short = MedrlDataModule(dataset=[str(mr), str(ct)], tasks="labels", min_task_voxels=50, intensity="auto",
                            patch_size=(8, 8, 8), validation_fraction=0.0, balance_datasets=True, visits_per_epoch=3)
    short.setup("fit")
    sampler = short.train_dataloader().sampler
    epochs = [list(sampler) for _ in range(12)]
    assert all(len(e) == 3 for e in epochs) and set().union(*epochs) == set(range(8))  # the list's tail is visited too
    presets = {data.case_transform(training=True)(dict(case)).get("intensity_preset") for case in data.cases["training"]}
    assert presets == {"mr", "ct"}
    assert balanced_indices([0, 0, 0, 0, 1]) == [0, 1, 2, 3, 4, 4, 4, 4]


def test_label_tasks_refuse_a_fixed_foreground(tmp_path):
    with pytest.raises(MedrlInputError, match="tasks=labels"):
        MedrlDataModule(dataset="unused", tasks="labels", foreground_labels=[1])
    with pytest.raises(MedrlInputError, match="data.tasks"):
        MedrlDataModule(dataset="unused", tasks="every")


def test_a_multiclass_segmenter_learns_its_classes(tmp_path):
    import pytorch_lightning as pl

    from medrl.models.segmenter_net import segment_labels
    from medrl.training.segmenter import SegmenterModule

    dataset = write_multilabel_dataset(tmp_path / "brains", n_cases=2)
    classes = [[2], [5]]
    data = MedrlDataModule(dataset=str(dataset), label_classes=classes, intensity="auto", patch_size=(16, 16, 16),
                           patches_per_case=2, batch_size=2, validation_fraction=0.5)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert "initial" not in batch and set(batch["label"].unique().tolist()) <= {0, 1, 2}
    torch.manual_seed(0)
    module = SegmenterModule(channels=(8, 16), strides=(2,), num_res_units=0, lr=0.01, roi_size=(16, 16, 16), classes=classes)
    trainer = pl.Trainer(max_steps=60, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, check_val_every_n_epoch=1000)
    trainer.fit(module, datamodule=data)
    assert module.bundle_parts()["segmenter"]["classes"] == classes
    assert module.bundle_parts()["segmenter"]["architecture"]["out_channels"] == 3
    case = data.case_transform()(dict(data.cases["validation"][0]))
    labels = segment_labels(module.net.eval(), case["image"][None].as_tensor(), (16, 16, 16), classes)[0, 0]
    truth = case["label"][0].as_tensor()
    for k, (value,) in enumerate(classes, start=1):  # painted with the label values, each class found
        overlap = ((labels == value) & (truth == k)).sum() * 2 / ((labels == value).sum() + (truth == k).sum())
        assert overlap > 0.8
