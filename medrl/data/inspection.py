"""What ``medrl inspect`` reports about a scan, a DICOM folder or a dataset.

Summaries are plain dicts (JSON-serialisable) so the CLI can print them as text or JSON and tests
can check them field by field.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medrl.data.datasets import dataset_sections, is_dataset_path, load_dataset
from medrl.data.geometry import orientation_code, voxel_spacing
from medrl.data.loading import load_case
from medrl.data.readers import read_scan
from medrl.errors import MedrlInputError

MAX_LABEL_VALUES = 64  # an integer volume with at most this many distinct values is shown as a label map


def summarize_volume(volume, path: str | os.PathLike | None = None) -> dict:
    """Shape, spacing (mm), orientation, dtype, intensity range, and label counts when label-like.

    Args:
        volume: a channel-first MetaTensor (1, X, Y, Z) from :func:`medrl.data.readers.read_scan`.
    """
    array = volume[0].numpy()
    affine = np.asarray(volume.affine)
    summary = {
        "path": os.fspath(path or volume.meta.get("filename_or_obj", "")),
        "format": volume.meta.get("format", ""),
        "shape": [int(s) for s in array.shape],
        "spacing_mm": [round(s, 4) for s in voxel_spacing(affine)],
        "orientation": orientation_code(affine),
        "dtype": str(array.dtype),
        "min": float(array.min()),
        "max": float(array.max()),
    }
    if volume.meta.get("note"):
        summary["note"] = volume.meta["note"]
    if np.issubdtype(array.dtype, np.integer):
        values, counts = np.unique(array, return_counts=True)
        if len(values) <= MAX_LABEL_VALUES:
            summary["label_counts"] = {int(v): int(c) for v, c in zip(values, counts)}
    return summary


def inspect_scan(path: str | os.PathLike, channel: int | None = None) -> dict:
    """Summary of one scan file or DICOM folder, read with the file's own dtype."""
    return summarize_volume(read_scan(path, kind="image", channel=channel, dtype=None), path)


def inspect_dataset(source: str | os.PathLike, channel: int | None = None) -> dict:
    """Summaries and pair checks of every case of every section of a dataset.

    Returns:
        ``{"dataset": path, "sections": {section: [case summary, ...]}, "problems": [str, ...]}``;
        a case summary holds ``image``/``label`` summaries, or ``error`` when its check failed.
    """
    report = {"dataset": os.fspath(source), "sections": {}, "problems": []}
    for section in dataset_sections(source):
        cases = load_dataset(source, section)
        summaries = []
        for case in cases:
            try:
                loaded = load_case(case, channel=channel, image_dtype=None)
                summary = {key: summarize_volume(loaded[key], case[key]) for key in ("image", "label", "initial") if case.get(key)}
                summary["image"].pop("label_counts", None)  # an image's histogram is no label count
            except MedrlInputError as error:
                summary = {"image": case["image"], "error": str(error)}
                report["problems"].append(str(error))
            summaries.append(summary)
        if summaries:
            report["sections"][section] = summaries
    return report


def inspect_path(path: str | os.PathLike, channel: int | None = None) -> dict:
    """Dispatch on what ``path`` is: a dataset (JSON, CSV, MSD folder) or a scan/DICOM folder."""
    if not Path(path).exists():
        raise MedrlInputError(path, "no such file or folder")
    if is_dataset_path(path):
        return inspect_dataset(path, channel)
    return inspect_scan(path, channel)


def format_scan(summary: dict, indent: str = "") -> list[str]:
    """Human-readable lines for one volume summary."""
    spacing = " x ".join(f"{s:g}" for s in summary["spacing_mm"])
    lines = [
        f"{indent}{summary['path']}",
        f"{indent}  shape {tuple(summary['shape'])}  spacing {spacing} mm  orientation {summary['orientation']}  "
        f"dtype {summary['dtype']}  range [{summary['min']:g}, {summary['max']:g}]",
    ]
    if "label_counts" in summary:
        counts = ", ".join(f"{v}: {c}" for v, c in summary["label_counts"].items())
        lines.append(f"{indent}  label values (voxels): {counts}")
    if summary.get("note"):
        lines.append(f"{indent}  note: {summary['note']}")
    return lines


def format_report(report: dict) -> list[str]:
    """Human-readable lines for :func:`inspect_path`'s result."""
    if "sections" not in report:
        return format_scan(report)
    lines = [f"dataset {report['dataset']}"]
    for section, cases in report["sections"].items():
        lines.append(f"{section}: {len(cases)} case(s)")
        for case in cases:
            if "error" in case:
                lines.append(f"  FAIL {case['error']}")
                continue
            lines.extend(format_scan(case["image"], "  "))
            for key in ("label", "initial"):
                if key in case:
                    lines.extend(format_scan(case[key], f"  {key}: "))
            lines.append("  pair check: ok (same shape and affine)" if "label" in case else "  (no label)")
    lines.append(f"problems: {len(report['problems'])}")
    return lines
