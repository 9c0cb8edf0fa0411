"""Write a DICOM series with SimpleITK, with known spacing, direction and origin, for reader tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk


def write_dicom_series(folder: Path, array_ijk: np.ndarray, spacing, direction, origin, series_uid: str, prefix="slice"):
    """Write ``array_ijk`` (int16, index order i, j, k) as one DICOM file per k-slice.

    Returns the SimpleITK image the series was made from, to compare geometry against.
    """
    folder.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_ijk.transpose(2, 1, 0)).astype(np.int16))
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection([float(d) for d in np.asarray(direction).reshape(-1)])
    image.SetOrigin([float(o) for o in origin])
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    orientation = "\\".join(f"{v:.6f}" for v in (*d[:, 0], *d[:, 1]))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        slice_k = image[:, :, k]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        tags = {
            "0008|0060": "CT",
            "0008|0016": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
            "0010|0010": "Test^Patient",
            "0010|0020": "MEDRL-TEST",
            "0020|0052": series_uid + ".9",  # frame of reference
            "0020|000d": series_uid + ".1",
            "0020|000e": series_uid,
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{p:.6f}" for p in position),
            "0020|0037": orientation,
            "0018|0050": f"{spacing[2]:.6f}",
            "0018|0088": f"{spacing[2]:.6f}",  # spacing between slices
            "0008|0018": f"{series_uid}.{k + 1}",
        }
        for tag, value in tags.items():
            slice_k.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{prefix}_{k:03d}.dcm"))
        writer.Execute(slice_k)
    return image
