"""What ``medrl predict --input PATH`` means: the scans to process and the files each one produces.

PATH may be a scan file (NIfTI, NRRD, MHA), a DICOM series folder, a folder of scans (files and DICOM
series sub-folders), or a dataset (``dataset.json``, a folder holding one or ``imagesTs/``, a CSV):
its ``test`` list. Each scan gets a name (its file name without suffix, or the DICOM folder's name)
and writes, into the output folder::

    NAME_mask.nii.gz          uint8 {0, 1} on the scan's own grid (shape and affine); with --label the whole
                              multi-label map, in its own dtype, only the refined structures changed
    NAME_probability.nii.gz   float32 in [0, 1]   (with --save-probabilities)
    NAME_entropy.nii.gz       float32 in [0, 1]   (with --save-entropy)

``--output-format`` writes the mask as ``NAME_mask.nrrd``, ``NAME_mask.seg.nrrd`` (3D Slicer) or
``NAME_mask.dcm`` (DICOM SEG, for a DICOM series input) instead.

plus one ``predict_report.json`` for the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from medrl.data.datasets import is_dataset_path, load_dataset
from medrl.data.readers import NIFTI_SUFFIXES, SITK_SUFFIXES, is_scan_path
from medrl.errors import MedrlInputError

REPORT_NAME = "predict_report.json"
OUTPUT_KINDS = ("mask", "probability", "entropy")
MASK_FORMATS = {"nifti": ".nii.gz", "nrrd": ".nrrd", "seg.nrrd": ".seg.nrrd", "dicom-seg": ".dcm"}


@dataclass(frozen=True)
class ScanInput:
    """One scan to predict: its ``name`` (unique within a run) and ``image`` path."""

    name: str
    image: str


def scan_name(path: str | os.PathLike) -> str:
    """File name without its scan suffix (``liver_003.nii.gz`` -> ``liver_003``), or a folder's name."""
    name = Path(path).name
    for suffix in sorted(NIFTI_SUFFIXES + SITK_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _is_dicom_folder(path: Path) -> bool:
    return path.is_dir() and any(p.is_file() and not p.name.startswith(".") and not is_scan_path(p) for p in path.iterdir())


def list_scans(path: str | os.PathLike) -> list[ScanInput]:
    """The scans behind ``--input PATH``, in a stable (sorted) order.

    Raises:
        MedrlInputError: missing path, an empty folder, or two scans that would share an output name.
    """
    path = Path(path)
    if not path.exists():
        raise MedrlInputError(path, "no such file or folder")
    if is_dataset_path(path):
        images = [case["image"] for case in load_dataset(path, "test")]
        if not images:
            raise MedrlInputError(path, "the dataset's 'test' list is empty")
    elif path.is_file() or not any(p.is_dir() or is_scan_path(p) for p in path.iterdir() if not p.name.startswith(".")):
        images = [os.fspath(path)]  # a scan file or a DICOM series folder (read_scan reports anything else)
    else:
        entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        images = [os.fspath(p) for p in entries if (p.is_file() and is_scan_path(p)) or _is_dicom_folder(p)]
        if not images:
            raise MedrlInputError(path, "no scans found (NIfTI, NRRD, MHA files or DICOM series folders)")
    scans = [ScanInput(scan_name(image), image) for image in images]
    _check_unique_names(scans, path)
    return scans


def _check_unique_names(scans: list[ScanInput], source: Path) -> None:
    seen: dict[str, str] = {}
    for scan in scans:
        if scan.name in seen:
            raise MedrlInputError(source, f"{seen[scan.name]} and {scan.image} would both write outputs named {scan.name!r}")
        seen[scan.name] = scan.image


def output_paths(scan: ScanInput, output_dir: str | os.PathLike, kinds: tuple[str, ...] = ("mask",),
                 mask_format: str = "nifti") -> dict[str, Path]:
    """The files ``scan`` writes: ``{kind: OUTPUT/NAME_kind.nii.gz}`` for each of ``kinds``, the mask in
    ``mask_format`` (a key of ``MASK_FORMATS``)."""
    return {kind: Path(output_dir) / f"{scan.name}_{kind}{MASK_FORMATS[mask_format] if kind == 'mask' else '.nii.gz'}"
            for kind in kinds}


def existing_outputs(scans: list[ScanInput], output_dir: str | os.PathLike, kinds: tuple[str, ...],
                     mask_format: str = "nifti") -> list[Path]:
    """Outputs of this run that already exist (the report included)."""
    planned = [path for scan in scans for path in output_paths(scan, output_dir, kinds, mask_format).values()]
    return [path for path in [*planned, Path(output_dir) / REPORT_NAME] if path.exists()]
