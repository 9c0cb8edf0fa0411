"""A real MRI case that installs with pip: nilearn's MNI152 T1 template and a tissue mask.

nilearn's wheel ships the ICBM152 2009 T1 template and its grey- and white-matter probability maps
(``nilearn/datasets/data/mni_icbm152_*.nii.gz``); ``load_mni152_template`` and friends read those
files and resample them, so nothing is downloaded. At ``resolution=2`` the grid is (99, 117, 95)
voxels of 2 mm, RAS.

Example:
    >>> paths = write_mni152_case("demo_data/mni152")          # doctest: +SKIP
    >>> sorted(paths)
    ['image', 'label']
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medrl.data.atomic import refuse_to_overwrite
from medrl.data.geometry import affines_match
from medrl.data.writers import write_mask, write_volume
from medrl.errors import MedrlInputError

TISSUES = ("wm", "gm")


def _load_templates(tissue: str, resolution: int):
    """(T1 image, tissue probability image) as nibabel images from nilearn's packaged files."""
    from nilearn import datasets  # lazy: importing nilearn takes about a second

    loaders = {"wm": datasets.load_mni152_wm_template, "gm": datasets.load_mni152_gm_template}
    return datasets.load_mni152_template(resolution=resolution), loaders[tissue](resolution=resolution)


def load_mni152_case(tissue: str = "wm", threshold: float = 0.5, resolution: int = 2):
    """The MNI152 T1 template and a thresholded tissue mask, in memory.

    Args:
        tissue: ``"wm"`` (white matter) or ``"gm"`` (grey matter).
        threshold: probability at or above which a voxel is labelled 1, in (0, 1].
        resolution: voxel size in mm (nilearn resamples the 1 mm template); 2 gives (99, 117, 95).

    Returns:
        ``(image, label, affine)``: image (X, Y, Z) ``float32`` T1 scaled to [0, 1] by nilearn;
        label (X, Y, Z) ``uint8`` in {0, 1}; affine (4, 4) float64 RAS, shared by both.
    """
    if tissue not in TISSUES:
        raise MedrlInputError("tissue", f"expected one of {TISSUES}, got {tissue!r}")
    if not 0.0 < threshold <= 1.0:
        raise MedrlInputError("threshold", f"expected a probability in (0, 1], got {threshold}")
    t1, probability = _load_templates(tissue, resolution)
    if t1.shape != probability.shape or not affines_match(t1.affine, probability.affine):
        raise MedrlInputError("nilearn MNI152", "template and tissue map are on different grids")
    image = np.asarray(t1.get_fdata(dtype=np.float32), dtype=np.float32)
    label = (probability.get_fdata(dtype=np.float32) >= threshold).astype(np.uint8)
    return image, label, np.asarray(t1.affine, dtype=np.float64)


def mni152_paths(out_dir: str | os.PathLike, tissue: str = "wm") -> dict[str, Path]:
    """Where :func:`write_mni152_case` writes: ``{"image": .../mni152_t1.nii.gz, "label": .../mni152_<tissue>.nii.gz}``."""
    out_dir = Path(out_dir)
    return {"image": out_dir / "mni152_t1.nii.gz", "label": out_dir / f"mni152_{tissue}.nii.gz"}


def write_mni152_case(
    out_dir: str | os.PathLike,
    tissue: str = "wm",
    threshold: float = 0.5,
    resolution: int = 2,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write the MNI152 T1 and its thresholded tissue mask as NIfTI files.

    Files: ``<out_dir>/mni152_t1.nii.gz`` (float32) and ``<out_dir>/mni152_<tissue>.nii.gz``
    (uint8 {0, 1}), on the same grid. Arguments as in :func:`load_mni152_case`.

    Returns:
        ``{"image": path, "label": path}``.

    Raises:
        MedrlInputError: if a file exists and ``overwrite`` is False (checked before writing).
    """
    paths = mni152_paths(out_dir, tissue)
    for path in paths.values():
        refuse_to_overwrite(path, overwrite)
    image, label, affine = load_mni152_case(tissue, threshold, resolution)
    write_volume(image, affine, paths["image"], overwrite=overwrite)
    write_mask(label, affine, paths["label"], overwrite=overwrite)
    return paths


__all__ = ["TISSUES", "load_mni152_case", "mni152_paths", "write_mni152_case"]
