"""Patients and masks of the real-patient feedback benchmark (``bench_feedback_real.py``).

The 25 brain MR subjects of ``brain_mr_miccai2012`` (every subject a different person) are split by patient, once:
``BASE_SUBJECTS`` train the base agents (the any-structure recipe, every structure), the others are new patients. Per
seed, the new patients are shuffled into ``reviewed`` ones (a scripted clinician reviews them; their labels are
never trained on) and ``held_out`` ones (never reviewed, only evaluated).

The systematic error is a fixed anatomical cut: the starting mask of a hippocampus is its manual label with the
posterior ``cut`` share of its anterior-posterior extent removed (its tail), on every patient, as a model that
always misses the tail would give. Each structure of each patient is one binary case (``truth``: the label of that
structure alone, ``start``: the cut mask), written into the work folder on the scan's own grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from medrl.data.atomic import write_text_atomically
from medrl.data.datasets import load_dataset
from medrl.data.writers import write_mask

BRAIN = "brain_mr_miccai2012"
BASE_SUBJECTS = 10
HIPPOCAMPUS = {"hippocampus R": 47, "hippocampus L": 48}


@dataclass(frozen=True)
class StructureCase:
    """One structure of one patient: paths on the scan's own grid (``truth`` and ``start`` binary uint8)."""

    patient: str
    structure: str
    image: str
    truth: str
    start: str


def subject_of(case: dict) -> str:
    return Path(case["image"]).name.split(".")[0]


def split_subjects(data_root: Path) -> tuple[list[dict], list[dict]]:
    """(base training cases, new patients' cases), split once by a seeded permutation of the subjects."""
    cases = sorted(load_dataset(data_root / BRAIN, "training"), key=subject_of)
    order = np.random.default_rng(0).permutation(len(cases))
    return [cases[i] for i in order[:BASE_SUBJECTS]], [cases[i] for i in order[BASE_SUBJECTS:]]


def write_base_dataset(cases: list[dict], path: Path) -> Path:
    """The base agents' training dataset (absolute paths into the data folder; nothing copied)."""
    document = {"name": f"{BRAIN} base", "modality": {"0": "MR"},
                "training": [{"image": c["image"], "label": c["label"]} for c in cases], "test": []}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(document, indent=1) + "\n")
    return path


def shuffle_new_patients(new: list[dict], seed: int, reviewed: int) -> tuple[list[dict], list[dict]]:
    """(reviewed, held-out) new patients for one seed."""
    order = np.random.default_rng(1000 + seed).permutation(len(new))
    return [new[i] for i in order[:reviewed]], [new[i] for i in order[reviewed:]]


def posterior_cut(label: np.ndarray, affine: np.ndarray, cut: float) -> np.ndarray:
    """``label`` (X, Y, Z bool) without the posterior ``cut`` share of its A-P extent (RAS y, mm), as bool."""
    index = np.indices(label.shape, dtype=np.float32)
    anterior = np.tensordot(affine[1, :3].astype(np.float32), index, axes=1) + np.float32(affine[1, 3])
    y = anterior[label]
    plane = y.min() + cut * (y.max() - y.min())
    return label & (anterior >= plane)


def structure_cases(cases: list[dict], folder: Path, cut: float) -> list[StructureCase]:
    """Each hippocampus of each case as a binary truth and its cut start, written once into ``folder``."""
    result = []
    for case in cases:
        patient = subject_of(case)
        label_image = nib.load(case["label"])
        labels, affine = np.asanyarray(label_image.dataobj), label_image.affine
        for structure, value in HIPPOCAMPUS.items():
            slug = f"{patient}_{structure.replace(' ', '_')}"
            truth, start = folder / f"{slug}_truth.nii.gz", folder / f"{slug}_start_cut{cut:g}.nii.gz"
            if not start.is_file():
                mask = labels == value
                write_mask(mask.astype(np.uint8), affine, truth, overwrite=True)
                write_mask(posterior_cut(mask, affine, cut).astype(np.uint8), affine, start, overwrite=True)
            result.append(StructureCase(patient, structure, case["image"], str(truth), str(start)))
    return result
