"""DICOM Segmentation objects (through ``highdicom``) for masks refined on a DICOM series.

The SEG references the very series medrl read (:func:`medrl.data.readers.dicom_series_files`): frame k of
the SEG is the mask's k-th slice, which lies on the k-th file of the series in medrl's order, and within a
frame rows follow the mask's j axis and columns its i axis, as DICOM stores pixels. highdicom copies each
source image's position and orientation, so the geometry is the series' own (no resampling, no flips);
a test reads the SEG back with highdicom and compares it with the mask on the series' grid voxel by voxel.

One segment per structure, named as the label map names it, numbered 1..N in label-value order; the
label values go into each segment's tracking ID (``label 7``) so they can be recovered.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medrl.data.atomic import atomic_path, refuse_to_overwrite
from medrl.data.geometry import LPS_TO_RAS, affines_match
from medrl.data.label_maps import LabelMap
from medrl.data.readers import dicom_series_files
from medrl.errors import MedrlInputError

ANATOMICAL_STRUCTURE = ("123037004", "SCT", "Anatomical Structure")
TISSUE = ("85756007", "SCT", "Tissue")


def write_dicom_seg(label_map: LabelMap, series_folder: str | os.PathLike, path: str | os.PathLike, *,
                    overwrite: bool = False) -> Path:
    """Write ``label_map`` (on the series' grid, as ``medrl predict`` returns it) as a DICOM SEG referencing
    the series in ``series_folder``; returns ``path``.

    Raises:
        MedrlInputError: the input is not a DICOM series folder, or the map is not on its grid.
    """
    import highdicom as hd
    import pydicom
    from pydicom.sr.coding import Code

    from medrl import __version__

    series_folder = Path(series_folder)
    if not series_folder.is_dir():
        raise MedrlInputError(series_folder, "DICOM SEG output needs a DICOM series folder as --input, not a "
                                             f"{_format_name(series_folder)} file; use --output-format nifti, nrrd or seg.nrrd")
    _, files, _ = dicom_series_files(series_folder, warn=False)
    sources = [pydicom.dcmread(f) for f in files]
    slice_spacing = _check_on_series_grid(label_map, sources, series_folder)
    for source in sources:  # in memory only: highdicom copies this into the SEG, and series often carry a wrong one
        source.SpacingBetweenSlices = f"{slice_spacing:.6g}"
    values = label_map.labels
    segment_numbers = np.zeros(int(label_map.array.max()) + 1 if label_map.array.size else 1, dtype=np.uint16)
    descriptions = []
    algorithm = hd.AlgorithmIdentificationSequence(name="medrl", version=__version__,
                                                   family=Code("123109", "DCM", "Manual Processing"))
    for number, value in enumerate(values, 1):
        segment_numbers[value] = number
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=label_map.names.name_of(value)[:64],
            segmented_property_category=Code(*ANATOMICAL_STRUCTURE), segmented_property_type=Code(*TISSUE),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC, algorithm_identification=algorithm,
            tracking_uid=hd.UID(), tracking_id=f"label {value}"))
    if not descriptions:
        raise MedrlInputError(path, "the mask is empty; a DICOM SEG needs at least one segment")
    frames = segment_numbers[np.transpose(label_map.array, (2, 1, 0))]  # (k, rows = j, columns = i)
    try:
        segmentation = hd.seg.Segmentation(
            source_images=sources, pixel_array=frames, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(),
            series_number=int(getattr(sources[0], "SeriesNumber", 0) or 0) + 1000, sop_instance_uid=hd.UID(),
            instance_number=1, manufacturer="medrl", manufacturer_model_name="medrl", software_versions=__version__,
            device_serial_number="0", series_description="medrl refined segmentation", omit_empty_frames=False,
        )
    except (ValueError, AttributeError, TypeError) as error:  # highdicom checks the source images against the IOD
        raise MedrlInputError(series_folder, f"cannot make a DICOM SEG for this series: {str(error).splitlines()[0][:200]}") from None
    path = refuse_to_overwrite(path, overwrite, tuple(files))
    with atomic_path(path) as temporary:
        segmentation.save_as(temporary)
    return path


def _check_on_series_grid(label_map: LabelMap, sources, folder: Path) -> float:
    """Raise unless the map lies on the series' grid; returns the spacing between slices in mm (from the
    slice positions: a series' own SpacingBetweenSlices is often missing or wrong)."""
    first, last = sources[0], sources[-1]
    rows, columns = int(first.Rows), int(first.Columns)
    if label_map.array.shape != (columns, rows, len(sources)):
        raise MedrlInputError(folder, f"the mask's shape {label_map.array.shape} is not the series' "
                                      f"{(columns, rows, len(sources))}")
    orientation = np.asarray(first.ImageOrientationPatient, dtype=np.float64)
    row_step, column_step = (float(v) for v in first.PixelSpacing)  # between rows (along j), between columns (along i)
    origin = np.asarray(first.ImagePositionPatient, dtype=np.float64)
    if len(sources) > 1:
        slice_step = (np.asarray(last.ImagePositionPatient, dtype=np.float64) - origin) / (len(sources) - 1)
    else:
        slice_step = np.cross(orientation[:3], orientation[3:]) * float(getattr(first, "SliceThickness", 1.0) or 1.0)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = orientation[:3] * column_step, orientation[3:] * row_step, slice_step, origin
    if not affines_match(LPS_TO_RAS @ lps, label_map.affine, 1e-3):
        raise MedrlInputError(folder, "the mask is not on the series' grid (its affine differs); a DICOM SEG must lie on "
                                      "its source series")
    return float(np.linalg.norm(slice_step))


def _format_name(path: Path) -> str:
    name = path.name.lower()
    return "NIfTI" if name.endswith((".nii", ".nii.gz")) else (Path(name).suffix.lstrip(".").upper() or "non-DICOM")
