"""Datasets of the benchmark document: the synthetic demo data and organ tasks of one real CT.

Everything is written into the benchmark's work folder; the shared CT is read where it lies and never
copied (its derived binary labels and the dataset lists point to its image by absolute path).

The real CT has one patient, so no split by patient exists. The split is by organ instead: the
methods train on the binary labels of the *other* organs of the scan (each organ one training case
on the same image) and are tested on organs they never saw, each a task of its own whose dataset
lists the same image several times, so that several seeded starting masks make several cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from medrl.data.atomic import write_text_atomically
from medrl.data.synthetic import write_synthetic_dataset
from medrl.data.writers import write_mask

CT_TEST_ORGANS = ("spleen", "liver", "kidney_right")
"""The real-CT tasks, by organ name in the scan's ``labels.json``."""
CT_CONTROL_ORGAN = "kidney_left"
"""A training organ evaluated like a test organ (a control: seen in training); the largest training
organ when this one is not trained on."""


@dataclass(frozen=True)
class Organ:
    """One label of the CT's label map.

    Attributes:
        name: organ name from ``labels.json`` (e.g. ``"spleen"``).
        value: its value in the label map (e.g. 1).
        voxels: its voxel count in the label map.
    """

    name: str
    value: int
    voxels: int


@dataclass(frozen=True)
class CtData:
    """The derived files of the CT tasks.

    Attributes:
        training_json: dataset.json whose ``training`` list holds the training organs (no validation list).
        task_json: organ name -> dataset.json of that task (its ``test`` list: the organ repeated), for the
            test organs and the control organ.
        training_organs: the organs trained on, largest first.
        test_organs: the tested organs, in :data:`CT_TEST_ORGANS` order.
        control_organ: the training organ also evaluated (see :data:`CT_CONTROL_ORGAN`).
        shape: the scan's (X, Y, Z) voxels.
        spacing: its voxel size in mm.
    """

    training_json: Path
    task_json: dict[str, Path]
    training_organs: tuple[Organ, ...]
    test_organs: tuple[Organ, ...]
    control_organ: Organ
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]


def demo_dataset(folder: Path, cases: tuple[int, int, int], seed: int) -> Path:
    """The synthetic cases of ``medrl demo`` (same generator, counts and seed; without its MNI152 case) in
    ``folder``, written on first use; returns the path of its ``dataset.json``."""
    dataset = folder / "dataset.json"
    if not dataset.is_file():
        write_synthetic_dataset(folder, *cases, seed=seed)
    return dataset


def read_organs(ct_folder: Path) -> list[Organ]:
    """Every labelled organ of the CT folder's ``labels.json``, largest first."""
    document = json.loads((ct_folder / "labels.json").read_text(encoding="utf-8"))
    counts = document["voxel_counts"]
    organs = [Organ(name, int(value), int(counts.get(value, 0))) for value, name in document["labels"].items()]
    return sorted(organs, key=lambda organ: -organ.voxels)


def split_organs(organs: list[Organ], min_voxels: int, max_training: int | None) -> tuple[list[Organ], list[Organ]]:
    """``(training, test)``: the test organs of :data:`CT_TEST_ORGANS`, and every other organ with at least
    ``min_voxels`` voxels (the ``max_training`` largest when given) for training.

    Raises:
        ValueError: a test organ is missing from the label map, or no organ is left to train on.
    """
    by_name = {organ.name: organ for organ in organs}
    missing = [name for name in CT_TEST_ORGANS if name not in by_name]
    if missing:
        raise ValueError(f"the CT's labels.json has no {', '.join(missing)}")
    training = [o for o in organs if o.name not in CT_TEST_ORGANS and o.voxels >= min_voxels][:max_training]
    if not training:
        raise ValueError(f"no training organ has {min_voxels} voxels or more")
    return training, [by_name[name] for name in CT_TEST_ORGANS]


def _write_binary_labels(ct_folder: Path, organs: list[Organ], out: Path) -> dict[str, Path]:
    """Write each organ's binary (X, Y, Z) uint8 {0, 1} label on the CT's grid into ``out`` (once)."""
    label_map = nib.load(ct_folder / "labels.nii.gz")
    values = np.asarray(label_map.dataobj)
    paths = {}
    for organ in organs:
        path = out / f"{organ.name}.nii.gz"
        if not path.is_file():
            write_mask((values == organ.value).astype(np.uint8), label_map.affine, path)
        paths[organ.name] = path
    return paths


def _write_json(document: dict, path: Path) -> Path:
    write_text_atomically(path, json.dumps(document, indent=2) + "\n")
    return path


def ct_datasets(ct_folder: Path, work: Path, min_voxels: int, max_training: int | None, repeats: int) -> CtData:
    """Write the binary labels and dataset lists of the CT tasks into ``work`` (see the module docstring).

    Args:
        ct_folder: the shared CT folder (``image.nii.gz``, ``labels.nii.gz``, ``labels.json``).
        work: folder for the derived files (outside the repository).
        min_voxels: least voxel count of a training organ.
        max_training: train on at most this many organs (the largest; ``None``: all).
        repeats: cases per test task (the organ listed this many times; each case's starting mask is
            drawn with its own seed by the evaluation).
    """
    training, test = split_organs(read_organs(ct_folder), min_voxels, max_training)
    control = next((o for o in training if o.name == CT_CONTROL_ORGAN), training[0])
    labels = _write_binary_labels(ct_folder, training + test, work / "labels")
    image = str((ct_folder / "image.nii.gz").resolve())
    entries = {organ.name: {"image": image, "label": str(labels[organ.name].resolve()), "organ": organ.name} for organ in training + test}
    training_json = _write_json({"name": "ct_abdomen_3mm training organs", "training": [entries[o.name] for o in training],
                                 "validation": [], "test": []}, work / "training.json")
    task_json = {
        organ.name: _write_json({"name": f"ct_abdomen_3mm {organ.name}", "training": [], "validation": [],
                                 "test": [entries[organ.name]] * repeats}, work / f"{organ.name}.json")
        for organ in [*test, control]
    }
    header = nib.load(ct_folder / "image.nii.gz").header
    return CtData(training_json, task_json, tuple(training), tuple(test), control, tuple(int(n) for n in header.get_data_shape()),
                  tuple(round(float(z), 3) for z in header.get_zooms()[:3]))
