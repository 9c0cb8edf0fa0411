"""Multi-label maps as users have them (nnU-Net, TotalSegmentator, 3D Slicer), read and written so that
what medrl did not change stays byte for byte what it was.

A :class:`LabelMap` keeps the file's integer dtype, its structure names (:mod:`medrl.data.label_names`)
and what its writer needs to write the same kind of file back: the NIfTI header (extensions included,
so TotalSegmentator's names survive), or a Slicer segmentation's segments (names, colours, terminology).

Formats: NIfTI (``.nii``, ``.nii.gz``); a 3D Slicer segmentation (``.seg.nrrd``, through ``slicerio``;
overlapping segments in layers are refused: export them as a label map); NRRD / MetaImage label maps
(``.nrrd``, ``.mha``, ``.mhd``, through SimpleITK).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medrl.data.atomic import atomic_path, refuse_to_overwrite
from medrl.data.geometry import LPS_TO_RAS
from medrl.data.label_names import LabelNames, find_label_names, present_labels
from medrl.data.readers import read_raw, to_3d
from medrl.data.validation import as_label_array
from medrl.data.writers import write_volume
from medrl.errors import MedrlInputError

SEG_NRRD_SUFFIX = ".seg.nrrd"


@dataclass
class LabelMap:
    """A multi-label map on its file's own grid.

    Attributes:
        array: (X, Y, Z) integer label values, the file's dtype (uint8, int16, ...).
        affine: (4, 4) float64, index -> RAS mm.
        names: its structures' names.
        path: the file it was read from.
        nifti_header: the NIfTI header to write back with (``None`` for other formats).
        segments: a Slicer segmentation's segment records by label value (name, colour, terminology...).
    """

    array: np.ndarray
    affine: np.ndarray
    names: LabelNames
    path: str
    nifti_header: object | None = None
    segments: dict[int, dict] = field(default_factory=dict)

    @property
    def labels(self) -> list[int]:
        """The non-zero values present, ascending."""
        return present_labels(self.array)

    def as_meta_tensor(self):
        """The map as a MONAI MetaTensor (1, X, Y, Z) with its affine (what :meth:`Refiner.prepare` takes)."""
        import torch
        from monai.data import MetaTensor

        return MetaTensor(torch.from_numpy(np.ascontiguousarray(self.array))[None],
                          affine=torch.as_tensor(self.affine, dtype=torch.float64), meta={"filename_or_obj": self.path})

    def on_grid(self, array: np.ndarray, affine: np.ndarray) -> "LabelMap":
        """The same map (names, header, segments, source) holding ``array`` on the grid of ``affine`` (e.g. the
        scan's, once refined), cast to this map's dtype."""
        return LabelMap(np.asarray(array).astype(self.array.dtype, copy=False), np.asarray(affine, dtype=np.float64),
                        self.names, self.path, self.nifti_header, self.segments)


def is_seg_nrrd(path: str | os.PathLike) -> bool:
    return Path(path).name.lower().endswith(SEG_NRRD_SUFFIX)


def read_label_map(path: str | os.PathLike, names_file: str | os.PathLike | None = None) -> LabelMap:
    """Read a multi-label map and its structure names.

    Raises:
        MedrlInputError: missing or unreadable file, non-integer or negative values, overlapping Slicer segments.
    """
    path = Path(path)
    if is_seg_nrrd(path):
        return _read_seg_nrrd(path, names_file)
    raw = read_raw(path)
    array = to_3d(raw.array, path)
    if not np.issubdtype(array.dtype, np.integer):
        array = as_label_array(array, path)  # float-stored labels: checked integral, then integer
    elif array.size and array.min() < 0:
        raise MedrlInputError(path, f"label map has negative values (min {array.min()})")
    header = None
    if raw.format == "nifti":
        import nibabel as nib

        header = nib.load(path).header.copy()
    return LabelMap(np.asarray(array), raw.affine, find_label_names(path, names_file), os.fspath(path), header)


def _read_seg_nrrd(path: Path, names_file) -> LabelMap:
    import slicerio

    if not path.is_file():
        raise MedrlInputError(path, "no such file")
    try:
        segmentation = slicerio.read_segmentation(os.fspath(path))
    except Exception as error:  # pynrrd/slicerio raise many types for foreign or corrupt files
        raise MedrlInputError(path, f"cannot read as a Slicer segmentation ({type(error).__name__}: {error})"[:240]) from None
    voxels = np.asarray(segmentation["voxels"])
    segments = segmentation.get("segments") or []
    if voxels.ndim == 4:
        raise MedrlInputError(path, f"segments overlap ({voxels.shape[0]} layers); in 3D Slicer export the segmentation "
                                    "as a label map, or save the structures to refine without overlaps")
    by_value = {int(s["labelValue"]): s for s in segments if "labelValue" in s}
    names = LabelNames({v: s.get("name", s.get("id", f"label {v}")) for v, s in by_value.items()}, f"{path} (segments)")
    affine = LPS_TO_RAS @ np.asarray(segmentation["ijkToLPS"], dtype=np.float64)
    return LabelMap(voxels, affine, find_label_names(path, names_file, embedded=names), os.fspath(path), None, by_value)


def write_label_map(label_map: LabelMap, path: str | os.PathLike, *, overwrite: bool = False, inputs: tuple = ()) -> Path:
    """Write ``label_map`` atomically, in the format ``path``'s suffix names, with its dtype, names and header.

    A NIfTI output keeps the input's header (extensions, descriptions, units) with this map's affine; a
    ``.seg.nrrd`` output keeps each segment's name and colour (new values get generated ones).
    """
    path = Path(path)
    if not (is_seg_nrrd(path) or path.name.lower().endswith((".nii", ".nii.gz"))):  # NRRD / MetaImage label maps
        return write_volume(label_map.array, label_map.affine, path, overwrite=overwrite, inputs=inputs)
    refuse_to_overwrite(path, overwrite, inputs)
    with atomic_path(path) as temporary:
        (_write_seg_nrrd if is_seg_nrrd(path) else _write_nifti)(label_map, temporary)
    return path


def _write_nifti(label_map: LabelMap, path: Path) -> None:
    import nibabel as nib

    header = label_map.nifti_header.copy() if label_map.nifti_header is not None else None
    image = nib.Nifti1Image(label_map.array, label_map.affine, header=header)
    image.set_data_dtype(label_map.array.dtype)
    image.header.set_slope_inter(1.0, 0.0)  # label values are stored as they are
    nib.save(image, path)


def _write_seg_nrrd(label_map: LabelMap, path: Path) -> None:
    import slicerio

    segments = []
    for value in label_map.labels:
        known = dict(label_map.segments.get(value, {}))
        known.update({"labelValue": value, "layer": 0, "name": known.get("name") or label_map.names.name_of(value)})
        known.setdefault("id", f"Segment_{value}")
        known.setdefault("color", list(_generated_colour(value)))
        known.pop("extent", None)  # slicerio recomputes nothing; an old extent would be wrong after a change
        segments.append(known)
    segmentation = {"voxels": label_map.array, "ijkToLPS": LPS_TO_RAS @ label_map.affine, "segments": segments}
    slicerio.write_segmentation(os.fspath(path), segmentation)


def _generated_colour(value: int) -> tuple[float, float, float]:
    """A distinct colour for a label value without one (golden-ratio hues)."""
    import colorsys

    return colorsys.hsv_to_rgb((value * 0.618033988749895) % 1.0, 0.75, 0.95)
