"""Dataset lists: which image goes with which label, from three common layouts.

A *case* is a plain dict with absolute paths: ``{"image": ..., "label": ... or None, **extra}``.
Extra per-case keys are kept as given (``initial`` for a starting mask is made absolute too). A case of
a ``dataset.json`` without its own ``modality`` takes the document's, when the document names one
modality (MSD's ``"modality": {"0": "MR"}``); the intensity preset ``auto`` reads it
(:func:`medrl.data.intensity.preset_for_modality`).

Several datasets train together (:func:`load_datasets`): their cases are concatenated, each marked with
``dataset`` (its source's position in the list), so training can balance the datasets.

Layouts:
- an MSD ``dataset.json`` with ``training`` / ``validation`` / ``test`` lists (entries are dicts
  with ``image`` and optional ``label``, or plain image paths), paths relative to the JSON's folder;
- a folder with ``imagesTr/`` and ``labelsTr/`` (and optional ``imagesTs/``, ``labelsTs/``), pairs
  matched by file name; an nnU-Net channel suffix ``_0000`` on the image name is ignored;
- a CSV with ``image`` and ``label`` columns (``label`` may be empty), paths relative to the CSV.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Sequence

from medrl.data.readers import is_scan_path
from medrl.errors import MedrlInputError

SECTIONS = ("training", "validation", "test")
PATH_KEYS = ("image", "label", "initial")


def load_dataset(source: str | os.PathLike, section: str = "training") -> list[dict]:
    """List the cases of one section of a dataset.

    Args:
        source: ``dataset.json``, a folder with ``imagesTr/labelsTr`` (or holding a
            ``dataset.json``), or a ``.csv`` with an ``image`` column.
        section: ``"training"``, ``"validation"`` or ``"test"`` (a CSV has one list, used for all);
            a ``dataset.json`` may hold further lists of cases under other keys (e.g. ``test_mr``).

    Returns:
        list of case dicts with absolute path strings; ``label`` is ``None`` when absent.

    Raises:
        MedrlInputError: unknown layout, missing keys, or paths to files that do not exist.
    """
    source = _resolve_source(source)
    if section not in SECTIONS and not (source.suffix.lower() == ".json" and section in dataset_sections(source)):
        raise MedrlInputError(source, f"unknown section {section!r}; choose one of {SECTIONS}")
    if source.is_dir():
        cases = _folder_cases(source, section)
    elif source.suffix.lower() == ".json":
        cases = _msd_cases(source, section)
    elif source.suffix.lower() == ".csv":
        cases = _csv_cases(source)
    else:
        raise MedrlInputError(source, "not a dataset: give a dataset.json, a folder with imagesTr/labelsTr, or a .csv")
    for case in cases:
        _check_files_exist(case, source)
    return cases


def load_datasets(sources: str | os.PathLike | Sequence[str | os.PathLike], section: str = "training") -> list[dict]:
    """The cases of one section of one dataset or of several, concatenated in the order given.

    Args:
        sources: one dataset (as :func:`load_dataset`) or a list of them.
        section: as :func:`load_dataset`; a dataset lacking an extra section contributes no case.

    Returns:
        case dicts as :func:`load_dataset`'s, each with ``dataset`` (int: the position of its source).
    """
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not sources:
        raise MedrlInputError("data.dataset", "an empty list of datasets")
    cases = []
    for position, source in enumerate(sources):
        if section not in SECTIONS and section not in dataset_sections(source):
            continue
        cases += [{**case, "dataset": position} for case in load_dataset(source, section)]
    return cases


def _resolve_source(source: str | os.PathLike) -> Path:
    source = Path(source)
    if not source.exists():
        raise MedrlInputError(source, "no such file or folder")
    if source.is_dir() and (source / "dataset.json").is_file():
        return source / "dataset.json"
    return source


def dataset_sections(source: str | os.PathLike) -> list[str]:
    """Names of the case lists a dataset holds: the MSD sections, plus any other list of cases in a
    ``dataset.json`` (e.g. ``test_mr``). A folder or CSV always reports the MSD sections."""
    source = _resolve_source(source)
    if source.suffix.lower() != ".json":
        return list(SECTIONS)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return list(SECTIONS)  # load_dataset reports the problem
    extra = [
        key for key, value in (document.items() if isinstance(document, dict) else [])
        if key not in SECTIONS and isinstance(value, list) and value and all(isinstance(v, dict) and "image" in v for v in value)
    ]
    return list(SECTIONS) + extra


def is_dataset_path(path: str | os.PathLike) -> bool:
    """True when ``path`` looks like a dataset rather than a single scan or a DICOM folder."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() in (".json", ".csv")
    return path.is_dir() and ((path / "dataset.json").is_file() or (path / "imagesTr").is_dir())


def _absolute_case(entry: dict, root: Path) -> dict:
    case = dict(entry)
    case.setdefault("label", None)
    for key in PATH_KEYS:
        if case.get(key):
            case[key] = os.fspath((root / str(case[key])).resolve())
        elif key == "label":
            case[key] = None
    return case


def _msd_cases(path: Path, section: str) -> list[dict]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MedrlInputError(path, f"not valid JSON: {error}") from None
    if not isinstance(document, dict) or not any(key in document for key in SECTIONS):
        raise MedrlInputError(path, f"dataset.json needs at least one of the lists {SECTIONS}")
    entries = document.get(section, [])
    if not isinstance(entries, list):
        raise MedrlInputError(path, f"'{section}' must be a list of cases")
    modality = _document_modality(document)
    cases = []
    for index, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"image": entry}
        if isinstance(entry, dict) and modality and not entry.get("modality"):
            entry = {**entry, "modality": modality}
        if not isinstance(entry, dict) or "image" not in entry:
            raise MedrlInputError(path, f"'{section}'[{index}] has no 'image' key")
        if section == "training" and not entry.get("label"):
            raise MedrlInputError(path, f"'training'[{index}] has no 'label' key")
        cases.append(_absolute_case(entry, path.parent))
    return cases


def _document_modality(document: dict) -> str | None:
    """The one modality an MSD ``dataset.json`` names for all its cases (``{"0": "MR"}`` or ``"MR"``), else ``None``
    (several channels, or a note such as "see each entry")."""
    modality = document.get("modality")
    if isinstance(modality, dict) and len(modality) == 1:
        modality = next(iter(modality.values()))
    if not isinstance(modality, str) or not modality.strip() or len(modality.split()) > 2:
        return None
    return modality.strip()


def _strip_channel_suffix(name: str) -> str:
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            return stem[:-5] if stem.endswith("_0000") else stem
    return name


def _scan_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {_strip_channel_suffix(p.name): p for p in sorted(folder.iterdir()) if is_scan_path(p) and not p.name.startswith(".")}


def _folder_cases(root: Path, section: str) -> list[dict]:
    if not (root / "imagesTr").is_dir():
        raise MedrlInputError(root, "folder is not a dataset: it has neither dataset.json nor imagesTr/")
    if section == "validation":
        return []
    images_dir, labels_dir = ("imagesTr", "labelsTr") if section == "training" else ("imagesTs", "labelsTs")
    images, labels = _scan_files(root / images_dir), _scan_files(root / labels_dir)
    if section == "training":
        if not images:
            raise MedrlInputError(root / images_dir, "no scans found")
        missing = sorted(set(images) - set(labels))
        if missing:
            raise MedrlInputError(root / labels_dir, f"no label for image(s) {', '.join(missing[:5])}")
    return [
        {"image": os.fspath(images[name].resolve()), "label": os.fspath(labels[name].resolve()) if name in labels else None}
        for name in sorted(images)
    ]


def _csv_cases(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "image" not in rows[0]:
        raise MedrlInputError(path, "CSV needs a header with an 'image' column (and usually 'label')")
    return [_absolute_case({k: v for k, v in row.items() if k is not None}, path.parent) for row in rows]


def _check_files_exist(case: dict, source: Path) -> None:
    for key in PATH_KEYS:
        if case.get(key) and not Path(case[key]).exists():
            raise MedrlInputError(source, f"{key} file {case[key]} does not exist")
