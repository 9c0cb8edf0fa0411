"""A synthetic CT-like dataset with known truth, written in seconds (MSD layout).

Each case is a small abdominal-looking volume: one labelled "organ" (an ellipsoid in a random
orientation, deformed by low-frequency noise, with smooth texture inside), one or two unlabelled
distractor blobs that are brighter, a background of fat and soft tissue, partial-volume blur and
Gaussian noise, stored as ``int16`` Hounsfield-like units so medrl's CT intensity preset applies.

World consistency: every case is first built on a RAS grid (array axes pointing Right, Anterior,
Superior, centred on the world origin) and then re-laid out in the requested orientation, with the
affine changed to match. So the same seed written in ``"LPS"`` and in ``"RAS"`` describes the same
anatomy in world space, and ``nib.as_closest_canonical`` of one gives the other's arrays.

Example:
    >>> image, label, affine = make_synthetic_case(0, orientation="LPS")     # doctest: +SKIP
    >>> write_synthetic_dataset("demo_data")                                 # doctest: +SKIP
    PosixPath('demo_data/dataset.json')
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from medrl.data.atomic import refuse_to_overwrite, write_text_atomically
from medrl.data.geometry import orientation_affine
from medrl.data.mni152 import mni152_paths, write_mni152_case
from medrl.data.writers import write_mask, write_volume
from medrl.errors import MedrlInputError

Range = tuple[float, float]
DEFAULT_SHAPE = (48, 48, 32)
DEFAULT_SPACING = (1.5, 1.5, 3.0)
ORIENTATIONS = ("RAS", "LPS", "LAS")
MNI152_FOLDER = "mni152"
MIN_SIZE = 8  # voxels per axis: room for an organ


@dataclass(frozen=True)
class SyntheticConfig:
    """Appearance of a synthetic case. Intensities in HU, lengths in mm."""

    organ_radius_fraction: Range = (0.4, 0.6)
    """Organ semi-axes as fractions of the smallest half field of view (before deformation)."""
    organ_tries: int = 20
    """Organs drawn at most until one covers a voxel (matters only on tiny, coarse grids)."""
    organ_deformation: float = 0.35
    """Relative amplitude of the low-frequency deformation of the organ's radius."""
    deformation_sigma_mm: float = 10.0
    """Correlation length of that deformation."""
    organ_hu: float = 60.0
    """Mean organ intensity."""
    organ_texture_hu: float = 10.0
    """Standard deviation of the smooth texture inside the organ."""
    texture_sigma_mm: float = 3.0
    """Correlation length of the organ texture."""
    n_distractors: tuple[int, int] = (1, 2)
    """Number of unlabelled distractor blobs (inclusive range)."""
    distractor_radius_mm: Range = (6.0, 10.0)
    """Distractor semi-axes."""
    distractor_hu: float = 150.0
    """Mean distractor intensity (brighter than the organ, like an enhancing vessel or kidney)."""
    distractor_gap_mm: float = 3.0
    """Least distance between a distractor and the organ."""
    fat_hu: float = -100.0
    """Background fat intensity."""
    soft_tissue_hu: float = 30.0
    """Background soft-tissue (muscle) intensity."""
    background_sigma_mm: float = 8.0
    """Correlation length of the fat/soft-tissue background pattern."""
    blur_sigma_mm: float = 1.0
    """Partial-volume blur applied to the noiseless image."""
    noise_hu: float = 12.0
    """Standard deviation of the additive Gaussian noise."""


def _world_grid(shape, spacing) -> list[np.ndarray]:
    """Broadcastable RAS mm coordinates of voxel centres of a grid centred on the origin."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return [((g - (n - 1) / 2) * s).astype(np.float32) for g, n, s in zip(grids, shape, spacing)]


def _smooth_noise(rng: np.random.Generator, shape, spacing, sigma_mm: float) -> np.ndarray:
    """(shape) float32 Gaussian-filtered white noise with zero mean and unit standard deviation."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_mm / np.asarray(spacing))
    return (noise - noise.mean()) / (noise.std() + 1e-8)


def _ellipsoid_radius(coords, center, semi_axes, rotation: Rotation) -> np.ndarray:
    """Ellipsoidal radius (1 on the surface) of every voxel, for an ellipsoid rotated by ``rotation``."""
    matrix = rotation.as_matrix().astype(np.float32)  # columns: ellipsoid axes in world coordinates
    offsets = [c - m for c, m in zip(coords, center)]
    squared = 0.0
    for axis in range(3):
        along = sum(matrix[row, axis] * offsets[row] for row in range(3))
        squared = squared + (along / semi_axes[axis]) ** 2
    return np.sqrt(squared)


def _organ(rng, config: SyntheticConfig, shape, spacing, coords) -> np.ndarray:
    """(shape) bool organ: a randomly rotated ellipsoid whose radius wobbles with smooth noise."""
    half_fov = (np.asarray(shape) - 1) / 2 * np.asarray(spacing)
    semi_axes = rng.uniform(*config.organ_radius_fraction, size=3) * half_fov.min()
    room = np.maximum(half_fov - semi_axes.max() * (1 + config.organ_deformation), 0.0)
    center = rng.uniform(-0.5, 0.5, size=3) * room
    radius = _ellipsoid_radius(coords, center, semi_axes, Rotation.random(random_state=rng))
    wobble = _smooth_noise(rng, shape, spacing, config.deformation_sigma_mm)
    return radius <= 1.0 + config.organ_deformation * np.clip(wobble, -2, 2) / 2


def _nonempty_organ(rng, config: SyntheticConfig, shape, spacing, coords) -> np.ndarray:
    """Draw organs until one covers at least one voxel centre (only coarse, tiny grids ever need two)."""
    for _ in range(config.organ_tries):
        organ = _organ(rng, config, shape, spacing, coords)
        if organ.any():
            return organ
    raise MedrlInputError("shape", f"grid {list(shape)} at {list(spacing)} mm is too coarse to hold an organ")


def _distractors(rng, config: SyntheticConfig, organ: np.ndarray, spacing, coords) -> np.ndarray:
    """(shape) bool union of distractor ellipsoids, each at least ``distractor_gap_mm`` from the organ."""
    distance = ndimage.distance_transform_edt(~organ, sampling=spacing)
    edge = np.ceil(config.distractor_radius_mm[1] / np.asarray(spacing)).astype(int)
    inner = tuple(slice(e, n - e) for e, n in zip(edge, organ.shape))
    blobs = np.zeros(organ.shape, dtype=bool)
    for _ in range(int(rng.integers(config.n_distractors[0], config.n_distractors[1] + 1))):
        semi_axes = rng.uniform(*config.distractor_radius_mm, size=3)
        allowed = np.zeros(organ.shape, dtype=bool)
        allowed[inner] = distance[inner] > semi_axes.max() + config.distractor_gap_mm
        candidates = np.argwhere(allowed & ~blobs)
        if len(candidates) == 0:
            continue
        index = candidates[rng.integers(len(candidates))]
        center = [float(c.reshape(-1)[i]) for c, i in zip(coords, index)]
        blobs |= _ellipsoid_radius(coords, center, semi_axes, Rotation.random(random_state=rng)) <= 1.0
    return blobs


def _intensities(rng, config: SyntheticConfig, organ, distractors, shape, spacing) -> np.ndarray:
    """(shape) int16 HU image: background pattern, textured organ, distractors, blur and noise."""
    tissue = 1.0 / (1.0 + np.exp(-3.0 * _smooth_noise(rng, shape, spacing, config.background_sigma_mm)))
    image = config.fat_hu + (config.soft_tissue_hu - config.fat_hu) * tissue
    texture = config.organ_hu + config.organ_texture_hu * _smooth_noise(rng, shape, spacing, config.texture_sigma_mm)
    image = np.where(organ, texture, image)
    image = np.where(distractors, config.distractor_hu, image)
    image = ndimage.gaussian_filter(image, config.blur_sigma_mm / np.asarray(spacing))
    image = image + config.noise_hu * rng.standard_normal(shape, dtype=np.float32)
    return np.clip(np.round(image), -1024, 3071).astype(np.int16)


def _reorient(array: np.ndarray, ras_affine: np.ndarray, orientation: str) -> tuple[np.ndarray, np.ndarray]:
    """Lay a RAS array out in ``orientation`` and change the affine so world positions are kept."""
    transform = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt("RAS"), nib.orientations.axcodes2ornt(tuple(orientation))
    )
    affine = ras_affine @ nib.orientations.inv_ornt_aff(transform, array.shape)
    return np.ascontiguousarray(nib.orientations.apply_orientation(array, transform)), affine


def _check_orientation(orientation: str) -> str:
    code = str(orientation).upper()
    letters = sorted("RLAPSI".index(c) // 2 for c in code if c in "RLAPSI")
    if len(code) != 3 or letters != [0, 1, 2]:
        raise MedrlInputError("orientation", f"expected a code such as 'RAS', 'LPS' or 'LAS', got {orientation!r}")
    return code


def _check_grid(shape, spacing) -> tuple[tuple[int, ...], tuple[float, ...]]:
    shape, spacing = tuple(int(n) for n in shape), tuple(float(s) for s in spacing)
    if len(shape) != 3 or min(shape) < MIN_SIZE:
        raise MedrlInputError("shape", f"expected three sizes of at least {MIN_SIZE} voxels, got {list(shape)}")
    if len(spacing) != 3 or not min(spacing) > 0:
        raise MedrlInputError("spacing", f"expected three positive voxel sizes in mm, got {list(spacing)}")
    return shape, spacing


def make_synthetic_case(
    seed: int,
    shape=DEFAULT_SHAPE,
    spacing=DEFAULT_SPACING,
    orientation: str = "RAS",
    config: SyntheticConfig | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One synthetic case.

    Args:
        seed: integer seed; the same seed, shape, spacing and config give the same anatomy.
        shape: (3,) voxels along the world x (R), y (A), z (S) axes, before reorientation.
        spacing: (3,) mm along world x, y, z (anisotropic by default).
        orientation: axis code of the returned arrays, e.g. ``"RAS"``, ``"LPS"``, ``"LAS"``.
        config: appearance; defaults to ``SyntheticConfig()``.

    Returns:
        ``(image, label, affine)``: image (I, J, K) ``int16`` HU in about [-150, 200]; label
        (I, J, K) ``uint8`` in {0, 1}, non-empty, marking the organ only (not the distractors);
        affine (4, 4) float64 voxel -> RAS mm whose axis code is ``orientation``. (I, J, K) is
        ``shape`` permuted to the orientation's axis order (unchanged for RAS, LPS, LAS).
    """
    config = config or SyntheticConfig()
    orientation = _check_orientation(orientation)
    shape, spacing = _check_grid(shape, spacing)
    rng = np.random.default_rng(seed)
    coords = _world_grid(shape, spacing)
    organ = _nonempty_organ(rng, config, shape, spacing, coords)
    distractors = _distractors(rng, config, organ, spacing, coords)
    image = _intensities(rng, config, organ, distractors, shape, spacing)
    ras_affine = orientation_affine("RAS", spacing, shape)
    image, affine = _reorient(image, ras_affine, orientation)
    label, _ = _reorient(organ.astype(np.uint8), ras_affine, orientation)
    return image, label, affine


# --------------------------------------------------------------------------------------------
# Dataset on disk
# --------------------------------------------------------------------------------------------


def _split(n_train: int, n_val: int, n_test: int) -> list[tuple[str, str, str]]:
    """(section, images folder, labels folder) per case, in case order."""
    return (
        [("training", "imagesTr", "labelsTr")] * n_train
        + [("validation", "imagesTr", "labelsTr")] * n_val
        + [("test", "imagesTs", "labelsTs")] * n_test
    )


def _orientations(rng: np.random.Generator, n: int, choices) -> list[str]:
    """Each choice about equally often (all of them once n >= len(choices)), in random order."""
    cycle = [choices[i % len(choices)] for i in range(n)]
    return [cycle[i] for i in rng.permutation(n)]


def _dataset_document(n_train, n_val, n_test, seed, shape, spacing) -> dict:
    return {
        "name": "medrl-synthetic",
        "description": (
            f"Synthetic CT-like organ segmentation (seed {seed}, shape {list(shape)}, spacing {list(spacing)} mm): "
            "one labelled organ, unlabelled brighter distractors, texture and noise, random orientations."
        ),
        "reference": "medrl.data.synthetic",
        "licence": "CC0",
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "organ"},
        "numTraining": n_train,
        "numValidation": n_val,
        "numTest": n_test,
        "training": [],
        "validation": [],
        "test": [],
    }


def write_synthetic_dataset(
    out_dir: str | os.PathLike,
    n_train: int = 8,
    n_val: int = 2,
    n_test: int = 2,
    seed: int = 0,
    shape=DEFAULT_SHAPE,
    spacing=DEFAULT_SPACING,
    orientations=ORIENTATIONS,
    include_mni152: bool = False,
    overwrite: bool = False,
    config: SyntheticConfig | None = None,
) -> Path:
    """Write a synthetic dataset in MSD layout and return the path of its ``dataset.json``.

    Layout: ``imagesTr/``, ``labelsTr/`` (training and validation cases), ``imagesTs/``,
    ``labelsTs/`` (test cases, with truth for held-out evaluation), files ``case_000.nii.gz``, ...
    ``dataset.json`` has ``training``, ``validation`` and ``test`` lists of
    ``{"image": "./imagesTr/case_000.nii.gz", "label": "./labelsTr/case_000.nii.gz",
    "orientation": "LPS", "seed": 123}`` with paths relative to the JSON's folder; ``numTraining``
    counts the ``training`` list. Case ``i`` uses a seed drawn from ``seed`` (recorded, so
    ``make_synthetic_case(entry["seed"], shape, spacing, entry["orientation"])`` rebuilds it);
    orientations cycle through ``orientations`` in a random order, so each appears once there are at
    least as many cases. Sizes: 8 + 2 + 2 cases of (48, 48, 32) voxels by default, written in well
    under a second.

    With ``include_mni152=True`` the real MRI case of :func:`medrl.data.mni152.write_mni152_case`
    (white matter) is written to ``mni152/`` and listed under a separate key ``"test_mr"`` with
    ``"modality": "MR"``: it is not in ``test``, so CT-preset evaluation never sees an MR scan.

    Raises:
        MedrlInputError: if ``dataset.json`` or any case file exists and ``overwrite`` is False
            (checked before anything is written).
    """
    out_dir = Path(out_dir)
    shape, spacing = _check_grid(shape, spacing)
    if min(n_train, n_val, n_test) < 0:
        raise MedrlInputError("n_train/n_val/n_test", f"case counts must be >= 0, got {n_train}, {n_val}, {n_test}")
    rng = np.random.default_rng(seed)
    split = _split(n_train, n_val, n_test)
    seeds = rng.integers(0, 2**31 - 1, size=len(split))
    codes = _orientations(rng, len(split), [_check_orientation(o) for o in orientations])
    names = [f"case_{i:03d}.nii.gz" for i in range(len(split))]
    planned = [out_dir / "dataset.json"] + [out_dir / d / n for (_, *dirs), n in zip(split, names) for d in dirs]
    if include_mni152:
        planned += list(mni152_paths(out_dir / MNI152_FOLDER).values())
    for path in planned:
        refuse_to_overwrite(path, overwrite)
    document = _dataset_document(n_train, n_val, n_test, seed, shape, spacing)
    for (section, images_dir, labels_dir), name, case_seed, code in zip(split, names, seeds, codes):
        image, label, affine = make_synthetic_case(int(case_seed), shape, spacing, code, config)
        write_volume(image, affine, out_dir / images_dir / name, overwrite=overwrite)
        write_mask(label, affine, out_dir / labels_dir / name, overwrite=overwrite)
        entry = {"image": f"./{images_dir}/{name}", "label": f"./{labels_dir}/{name}"}
        document[section].append({**entry, "orientation": code, "seed": int(case_seed)})
    if include_mni152:
        document["test_mr"] = [_mni152_entry(out_dir, overwrite)]
    return _write_json(document, out_dir / "dataset.json")


def _mni152_entry(out_dir: Path, overwrite: bool) -> dict:
    paths = write_mni152_case(out_dir / MNI152_FOLDER, tissue="wm", overwrite=overwrite)
    relative = {key: "./" + Path(path).relative_to(out_dir).as_posix() for key, path in paths.items()}
    return {**relative, "modality": "MR", "orientation": "RAS"}


def _write_json(document: dict, path: Path) -> Path:
    write_text_atomically(path, json.dumps(document, indent=2) + "\n")
    return path


__all__ = ["SyntheticConfig", "make_synthetic_case", "write_synthetic_dataset", "ORIENTATIONS"]
