"""Which patients train and which test, fold by fold, for the real-patient benchmark; and the tasks tested.

The visible real datasets (``../shared/data/real``, each folder an MSD dataset) are split by *patient*:

- ``brain_mr_miccai2012``: 25 subjects (one scan each); fold f tests ``BRAIN_TEST_SUBJECTS`` subjects of a seeded
  permutation, the others train;
- ``brain_tumour_brats2013``: 4 glioma patients; fold f tests patients f, f + F, ... (F folds; with 4 folds,
  leave-one-patient-out);
- ``sarcoma_ct_mr_pet``: 2 patients, each with a CT, a T1 MR and a PET; fold f tests the scans of patient
  f mod 2 (leave-one-patient-out), the other patient's three scans train;
- ``single_cases``: one-off scans, always training.

Training uses every structure of every training scan (the recipe's ``tasks: labels``); testing uses the tasks
named below. Every path written is absolute, so the work folder's dataset files point into the data folder and
nothing is copied.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medrl.data.atomic import write_text_atomically
from medrl.data.datasets import load_dataset

BRAIN, BRATS, SARCOMA, SINGLE = "brain_mr_miccai2012", "brain_tumour_brats2013", "sarcoma_ct_mr_pet", "single_cases"
BRAIN_TEST_SUBJECTS = 5
BRAIN_STRUCTURES = {  # label values of brain_mr_miccai2012 (its label_names.csv)
    "hippocampus": (47, 48), "thalamus": (59, 60), "caudate": (36, 37), "putamen": (57, 58),
    "lateral ventricle": (51, 52), "amygdala": (31, 32),
}
BRATS_WHOLE_TUMOUR = (1, 2, 3, 4)
MODALITIES = {BRAIN: "MR", BRATS: "FLAIR", SARCOMA: None, SINGLE: None}  # each training file's dataset modality


@dataclass(frozen=True)
class TestTask:
    """One structure tested on one held-out scan list.

    Attributes:
        group: the table's group (``brain``, ``BraTS whole tumour``, ``sarcoma CT`` ...).
        name: the structure (``hippocampus R`` ...).
        dataset: the test dataset file (its ``test`` list).
        labels: the label values that make the structure.
    """

    group: str
    name: str
    dataset: Path
    labels: tuple[int, ...]

    @property
    def slug(self) -> str:
        """A file-name form of group and name."""
        return re.sub(r"[^a-z0-9]+", "_", f"{self.group} {self.name}".lower()).strip("_")


def patient_of(case: dict) -> str:
    """The patient a case belongs to: sarcoma scans ``STS_001_CT`` -> ``STS_001``, BraTS ``pat0005_flair`` ->
    ``pat0005``, others their file name."""
    name = Path(case["image"]).name.split(".")[0]
    match = re.match(r"(STS_\d+|pat\d+)", name)
    return match.group(1) if match else name


def _absolute(case: dict) -> dict:
    return {key: value for key, value in case.items() if value is not None and key != "dataset"}


def _write(path: Path, name: str, modality: str | None, training: list[dict], test: list[dict]) -> Path:
    document = {"name": name, "training": [_absolute(c) for c in training], "test": [_absolute(c) for c in test]}
    if modality:
        document["modality"] = {"0": modality}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(document, indent=1) + "\n")
    return path


@dataclass(frozen=True)
class Fold:
    """One fold's data files.

    Attributes:
        index: the fold's number.
        training: the training dataset files, one per source dataset (what ``--data.dataset`` gets).
        tasks: the held-out scans' tasks.
        test_patients: the held-out patients, by dataset.
    """

    index: int
    training: tuple[Path, ...]
    tasks: tuple[TestTask, ...]
    test_patients: dict


def _held_out(patients: list[str], fold: int, folds: int) -> set[str]:
    return {p for i, p in enumerate(patients) if i % folds == fold % folds}


def make_fold(data_root: Path, folder: Path, fold: int, folds: int, seed: int = 0) -> Fold:
    """Write fold ``fold`` of ``folds``'s training and test dataset files into ``folder`` and list its tasks."""
    cases = {name: load_dataset(data_root / name, "training") for name in (BRAIN, BRATS, SARCOMA, SINGLE)}
    subjects = sorted(patient_of(c) for c in cases[BRAIN])
    order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    brain_test = set(order[fold * BRAIN_TEST_SUBJECTS:(fold + 1) * BRAIN_TEST_SUBJECTS])
    held = {BRAIN: brain_test, SINGLE: set(),
            BRATS: _held_out(sorted({patient_of(c) for c in cases[BRATS]}), fold, folds),
            SARCOMA: _held_out(sorted({patient_of(c) for c in cases[SARCOMA]}), fold, 2)}
    training, tests = [], {}
    for name, members in cases.items():
        train = [c for c in members if patient_of(c) not in held[name]]
        test = [c for c in members if patient_of(c) in held[name]]
        training.append(_write(folder / "train" / f"{name}.json", name, MODALITIES[name], train, []))
        if test:
            tests[name] = test
    tasks = []
    if BRAIN in tests:
        path = _write(folder / "test" / f"{BRAIN}.json", BRAIN, "MR", [], tests[BRAIN])
        for structure, values in BRAIN_STRUCTURES.items():
            for side, value in zip(("R", "L"), values):
                tasks.append(TestTask("brain", f"{structure} {side}", path, (value,)))
    if BRATS in tests:
        path = _write(folder / "test" / f"{BRATS}.json", BRATS, "FLAIR", [], tests[BRATS])
        tasks.append(TestTask("BraTS whole tumour", "whole tumour (FLAIR)", path, BRATS_WHOLE_TUMOUR))
    for modality in ("CT", "MR_T1", "PET"):
        scans = [c for c in tests.get(SARCOMA, []) if c.get("modality") == modality]
        if scans:
            path = _write(folder / "test" / f"{SARCOMA}_{modality}.json", SARCOMA, modality, [], scans)
            tasks.append(TestTask(f"sarcoma {modality.replace('_T1', ' T1')}", "tumour (GTV)", path, (1,)))
    return Fold(fold, tuple(training), tuple(tasks), {name: sorted(patients) for name, patients in held.items() if patients})
