"""Reading scans into MONAI ``MetaTensor``s with one world convention whatever the file format.

Every reader returns a channel-first tensor of shape (1, X, Y, Z) whose ``.affine`` maps array
indices to RAS millimetres (see :mod:`medrl.data.geometry`). The array keeps the file's own axis
order; reorienting to a canonical grid is a transform (:mod:`medrl.data.transforms`), so that it can
be inverted and results written back on the input's own grid.

Formats: NIfTI (``.nii``, ``.nii.gz``) through nibabel; NRRD, MetaImage (``.nrrd``, ``.mha``,
``.mhd``) through SimpleITK; a DICOM series folder through SimpleITK's ``ImageSeriesReader``
(the largest series when a folder holds several, with a warning naming it).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monai.utils import SpaceKeys

from medrl.data.geometry import sitk_to_ras_affine
from medrl.data.validation import as_label_array, as_mask_array, check_finite
from medrl.errors import MedrlInputError

logger = logging.getLogger("medrl")

NIFTI_SUFFIXES = (".nii", ".nii.gz")
SITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
IMAGE_KINDS = ("image", "label", "mask")


@dataclass
class RawVolume:
    """A volume as read from disk: ``array`` in (i, j, k[, c]) order and its (4, 4) RAS ``affine``."""

    array: np.ndarray
    affine: np.ndarray
    format: str
    note: str = ""


def is_scan_path(path: str | os.PathLike) -> bool:
    """True for a file medrl can read by its suffix (NIfTI, NRRD, MetaImage)."""
    name = Path(path).name.lower()
    return name.endswith(NIFTI_SUFFIXES + SITK_SUFFIXES)


def read_raw(path: str | os.PathLike) -> RawVolume:
    """Read a file or DICOM folder into a :class:`RawVolume`, turning reader failures into one-line errors."""
    path = Path(path)
    if not path.exists():
        raise MedrlInputError(path, "no such file or folder")
    if path.is_dir():
        return _read_dicom_folder(path)
    if path.stat().st_size == 0:
        raise MedrlInputError(path, "file is empty")
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return _read_nifti(path)
    if name.endswith(SITK_SUFFIXES):
        return _read_sitk_file(path)
    raise MedrlInputError(path, f"unknown scan format; medrl reads {', '.join(NIFTI_SUFFIXES + SITK_SUFFIXES)} and DICOM folders")


def _read_nifti(path: Path) -> RawVolume:
    try:
        image = nib.load(path)
        if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
            raise MedrlInputError(path, f"not a NIfTI image (nibabel read it as {type(image).__name__})")
        array = np.asanyarray(image.dataobj)
        if np.issubdtype(array.dtype, np.floating) and array.dtype != np.float32:
            array = array.astype(np.float32)  # scaled int data comes as float64; keep one float32 copy
    except MedrlInputError:
        raise
    except MemoryError:
        raise
    except Exception as error:  # nibabel raises many types for corrupt files
        raise MedrlInputError(path, f"cannot read as NIfTI: {_one_line(error)}") from None
    return RawVolume(np.asarray(array), np.asarray(image.affine, dtype=np.float64), "nifti")


def _sitk_volume(image, path: Path, fmt: str, note: str = "") -> RawVolume:
    import SimpleITK as sitk

    if image.GetDimension() not in (3, 4):
        raise MedrlInputError(path, f"{image.GetDimension()}D image (size {image.GetSize()}); medrl needs a 3D volume")
    if image.GetDimension() == 4:
        raise MedrlInputError(path, f"4D image of size {image.GetSize()}; save one 3D volume per file")
    array = sitk.GetArrayFromImage(image)  # (k, j, i[, c])
    array = np.moveaxis(array, (0, 1, 2), (2, 1, 0))
    affine = sitk_to_ras_affine(image.GetSpacing(), image.GetDirection(), image.GetOrigin())
    return RawVolume(np.ascontiguousarray(array), affine, fmt, note)


def _read_sitk_file(path: Path) -> RawVolume:
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise MedrlInputError(path, f"cannot read with SimpleITK: {_sitk_message(error)}") from None
    return _sitk_volume(image, path, path.suffix.lower().lstrip("."))


def dicom_series_files(path: str | os.PathLike, warn: bool = True) -> tuple[str, tuple[str, ...], str]:
    """The DICOM series medrl reads from a folder: ``(series UID, its files in slice order, note)``.

    The files' order is the k axis of the volume read (GDCM's sort by position along the slice normal);
    a folder with several series gives the largest, and the note (a warning when ``warn``) says so.
    """
    import SimpleITK as sitk

    path = Path(path)
    with _quiet_itk():  # ITK prints C++ warnings to stderr for folders without DICOM
        series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path)) or ()
    if not series_ids:
        raise MedrlInputError(path, "folder holds no DICOM series (medrl reads a DICOM series from a folder)")
    files_of = {sid: sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), sid) for sid in series_ids}
    chosen = max(series_ids, key=lambda sid: len(files_of[sid]))
    note = ""
    if len(series_ids) > 1:
        note = f"folder holds {len(series_ids)} DICOM series; reading the largest, {chosen} ({len(files_of[chosen])} files)"
        if warn:
            logger.warning("%s: %s", path, note)
    return chosen, tuple(files_of[chosen]), note


def _read_dicom_folder(path: Path) -> RawVolume:
    import SimpleITK as sitk

    chosen, files, note = dicom_series_files(path)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise MedrlInputError(path, f"cannot read DICOM series {chosen}: {_sitk_message(error)}") from None
    return _sitk_volume(image, path, "dicom", note)


@contextlib.contextmanager
def _quiet_itk():
    import SimpleITK as sitk

    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)


def unchosen_volume(path: str | os.PathLike, volumes: int) -> MedrlInputError:
    """The error for a 4D file read without choosing one of its ``volumes``."""
    return MedrlInputError(path, f"4D image with {volumes} volumes; choose one with channel=K (CLI: --channel K)")


def check_volume_count(path: str | os.PathLike, channel: int | None = None) -> None:
    """Refuse early, from the header alone, a NIfTI/NRRD/MetaImage file with several volumes and no ``channel``
    chosen (the same error :func:`to_3d` gives after reading it all). Other inputs are left to the reader."""
    name = Path(path).name.lower()
    if not Path(path).is_file() or not name.endswith(NIFTI_SUFFIXES + SITK_SUFFIXES):
        return
    try:
        if name.endswith(NIFTI_SUFFIXES):
            shape = tuple(nib.load(path).shape)
        else:
            import SimpleITK as sitk

            reader = sitk.ImageFileReader()
            reader.SetFileName(os.fspath(path))
            reader.ReadImageInformation()
            shape = tuple(reader.GetSize()) + ((reader.GetNumberOfComponents(),) if reader.GetNumberOfComponents() > 1 else ())
    except Exception:  # unreadable headers are the reader's to report, with its message
        return
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) == 4 and channel is None and shape[3] > 1:
        raise unchosen_volume(path, shape[3])


def to_3d(array: np.ndarray, path: str | os.PathLike, channel: int | None = None) -> np.ndarray:
    """Reduce a read array to 3D (X, Y, Z).

    Trailing singleton dimensions are dropped (NIfTI often stores (X, Y, Z, 1) or (X, Y, Z, 1, C)).
    A 4D array with several volumes needs an explicit ``channel`` choice.

    Raises:
        MedrlInputError: for 2D images (fewer than 3 axes longer than 1) or an unchosen 4D channel.
    """
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 5 and array.shape[3] == 1:  # NIfTI vector images: (X, Y, Z, 1, C)
        array = array[:, :, :, 0]
    if array.ndim < 3 or min(array.shape[:3]) < 2:
        raise MedrlInputError(path, f"2D image (shape {array.shape}); medrl needs a 3D volume")
    if array.ndim == 4:
        volumes = array.shape[3]
        if channel is None:
            raise unchosen_volume(path, volumes)
        if not 0 <= channel < volumes:
            raise MedrlInputError(path, f"channel {channel} out of range; the image has {volumes} volumes")
        array = array[..., channel]
    if array.ndim != 3:
        raise MedrlInputError(path, f"image of shape {array.shape} is not a 3D volume")
    return array


def read_scan(
    path: str | os.PathLike, kind: str = "image", channel: int | None = None, dtype: np.dtype | None = np.float32
) -> MetaTensor:
    """Read a scan or label map as a channel-first ``MetaTensor`` of shape (1, X, Y, Z).

    Args:
        path: ``.nii``/``.nii.gz``/``.nrrd``/``.mha``/``.mhd`` file, or a DICOM series folder.
        kind: ``"image"`` (checked for NaN/Inf, cast to ``dtype``), ``"label"`` (checked for
            non-negative integer values, returned as ``uint8``, or ``int32`` above 255) or
            ``"mask"`` (a starting mask: a label map, whose non-zero voxels count as foreground, or a
            probability map in [0, 1]; returned as uint8 {0, 1}, a probability map as float32).
        channel: which volume of a 4D file to take; required when it holds several.
        dtype: dtype of an image (``None`` keeps the file's, e.g. int16 for CT). Ignored for labels.

    Returns:
        MetaTensor (1, X, Y, Z); ``.affine`` (4, 4) float64 maps indices to RAS mm; ``.meta`` also
        holds ``filename_or_obj``, ``original_affine``, ``spatial_shape``, ``format`` and ``note``.

    Raises:
        MedrlInputError: missing/empty/corrupt file, 2D image, 4D image without ``channel``,
            NaN/Inf voxels, non-integer labels.
    """
    if kind not in IMAGE_KINDS:
        raise ValueError(f"kind must be one of {IMAGE_KINDS}, got {kind!r}")
    raw = read_raw(path)
    array = to_3d(raw.array, path, channel)
    if kind == "label":
        array = as_label_array(array, path)
    elif kind == "mask":
        array = as_mask_array(array, path)
    else:
        check_finite(array, path)
        if dtype is not None:
            array = array.astype(dtype, copy=False)
    affine = torch.as_tensor(raw.affine, dtype=torch.float64)
    meta = {
        "filename_or_obj": os.fspath(path),
        "original_affine": raw.affine.copy(),
        "spatial_shape": np.asarray(array.shape),
        "original_channel_dim": "no_channel",
        "space": SpaceKeys.RAS,
        "format": raw.format,
        "note": raw.note,
    }
    return MetaTensor(torch.from_numpy(np.ascontiguousarray(array))[None], affine=affine, meta=meta)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _sitk_message(error: RuntimeError) -> str:
    """SimpleITK errors span many lines of C++ context; keep the most telling one."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "ERROR" in line.upper() or "Unable" in line or "not" in line:
            return line.split("): ")[-1][:200]
    return (lines[-1] if lines else type(error).__name__)[:200]
