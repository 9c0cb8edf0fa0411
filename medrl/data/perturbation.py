"""Imperfect starting masks from a label: the starting mask p(0) of a refinement training episode.

Random parameter *sampling* is kept apart from the deterministic *application* (as in MONAI and
TorchIO):

- :func:`sample_perturbation` draws a :class:`PerturbationParams` record (which operations, with
  which sizes in mm and which centres in voxel indices) from a label and a :class:`PerturbationConfig`;
- :func:`apply_perturbation` turns a label and a record into a mask, with no randomness at all;
- :func:`perturb_mask` repeats the two, seeded, until the Dice with the label falls in
  ``config.target_dice``, and returns the mask with a JSON-serialisable record that replays it::

      mask, record = perturb_mask(label, spacing=(1.5, 1.5, 3.0), seed=7)
      params = PerturbationParams.from_dict(record["params"])
      assert (apply_perturbation(label, (1.5, 1.5, 3.0), params) == mask).all()

Operations, applied in this fixed order to the label (all distances in mm on the voxel grid, so
anisotropic spacing is honoured; "axes" below are the array's index axes, not world axes):

1. erosion (``morph_mm < 0``) or dilation (``morph_mm > 0``) by ``|morph_mm|`` mm: a threshold of
   the Euclidean distance transform computed with ``sampling=spacing``;
2. holes: balls removed from the mask, centred deep enough inside the label to stay internal;
3. missing chunks: balls centred on the label's boundary, and half-space cuts (everything beyond a
   plane ``depth_mm`` inside the boundary, normal pointing away from the label's centroid), removed;
4. false-positive blobs: axis-aligned ellipsoids added, centred in the background near the label;
5. a shift by whole voxels, content shifted past the volume's edge is lost (no wrap-around).

Computation happens in the bounding box of the label (padded by what the operations can reach), so
a large CT with a small organ never gets whole-volume float64 distance maps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from medrl.data.mask_metrics import dice_score
from medrl.errors import MedrlInputError

Range = tuple[float, float]
IntRange = tuple[int, int]
Index = tuple[int, int, int]


@dataclass(frozen=True)
class PerturbationConfig:
    """How strongly and how often each operation perturbs a label. Ranges are inclusive (lo, hi)."""

    p_morph: float = 0.7
    """Probability of one global erosion or dilation."""
    p_erode: float = 0.5
    """Given an erosion/dilation, the probability that it is an erosion."""
    morph_mm: Range = (1.0, 3.0)
    """Erosion/dilation radius in mm."""
    p_holes: float = 0.3
    """Probability of punching holes inside the object."""
    n_holes: IntRange = (1, 2)
    """Number of holes."""
    hole_radius_mm: Range = (1.5, 4.0)
    """Hole (ball) radius in mm."""
    p_chunk: float = 0.4
    """Probability of removing chunks at the object's boundary."""
    n_chunks: IntRange = (1, 1)
    """Number of missing chunks."""
    p_halfspace_chunk: float = 0.5
    """Probability that a chunk is a half-space cut rather than a ball."""
    chunk_radius_mm: Range = (3.0, 8.0)
    """Radius in mm of a ball chunk, centred on a boundary voxel."""
    chunk_depth_mm: Range = (2.0, 5.0)
    """Depth in mm of a half-space cut, measured inwards from a boundary voxel."""
    p_blobs: float = 0.4
    """Probability of adding false-positive blobs near the object."""
    n_blobs: IntRange = (1, 2)
    """Number of false-positive blobs."""
    blob_radius_mm: Range = (2.0, 5.0)
    """Semi-axis length in mm of a blob, drawn per axis."""
    blob_distance_mm: Range = (1.0, 8.0)
    """Distance in mm from a blob's centre to the nearest object voxel."""
    p_shift: float = 0.3
    """Probability of shifting the whole mask."""
    shift_mm: Range = (0.0, 3.0)
    """Shift magnitude in mm per axis (random sign), rounded to whole voxels."""
    empty_label_blobs: IntRange = (1, 2)
    """Number of blobs for an empty label, placed anywhere in the volume; (0, 0) gives an empty mask."""
    target_dice: Range = (0.7, 0.9)
    """Accepted Dice between the perturbed mask and the label."""
    max_tries: int = 20
    """Samples drawn at most before giving up and returning the closest one."""
    adapt_factor: float = 1.5
    """After a miss, all magnitudes are divided (Dice too low) or multiplied (too high) by this."""
    scale_bounds: Range = (0.25, 4.0)
    """Limits of that cumulative magnitude scale."""

    def __post_init__(self):
        lo, hi = self.target_dice
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"target_dice must satisfy 0 <= lo <= hi <= 1, got {self.target_dice}")
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {self.max_tries}")


@dataclass(frozen=True)
class Ball:
    """A ball of ``radius_mm`` around the voxel index ``center``."""

    center: Index
    radius_mm: float


@dataclass(frozen=True)
class Cut:
    """The half-space ``(x - point)·normal >= -depth_mm`` (x in mm along the array axes)."""

    point: Index
    normal: tuple[float, float, float]
    depth_mm: float


@dataclass(frozen=True)
class Blob:
    """An axis-aligned ellipsoid around the voxel index ``center`` with semi-axes in mm."""

    center: Index
    semi_axes_mm: tuple[float, float, float]


@dataclass(frozen=True)
class PerturbationParams:
    """A complete, deterministic description of one perturbation (see the module docstring)."""

    morph_mm: float = 0.0
    """Signed radius in mm: > 0 dilates, < 0 erodes, 0 leaves the label as it is."""
    holes: tuple[Ball, ...] = ()
    chunks: tuple[Ball, ...] = ()
    cuts: tuple[Cut, ...] = ()
    blobs: tuple[Blob, ...] = ()
    shift_vox: Index = (0, 0, 0)
    """Shift in voxels along each array axis."""

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict (lists, ints, floats)."""
        return _to_plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, record: dict) -> PerturbationParams:
        """Inverse of :meth:`to_dict` (also accepts the lists that a JSON round trip yields)."""
        unknown = set(record) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise MedrlInputError("perturbation params", f"unknown keys {sorted(unknown)}")
        return cls(
            morph_mm=float(record.get("morph_mm", 0.0)),
            holes=tuple(Ball(_index(b["center"]), float(b["radius_mm"])) for b in record.get("holes", ())),
            chunks=tuple(Ball(_index(b["center"]), float(b["radius_mm"])) for b in record.get("chunks", ())),
            cuts=tuple(
                Cut(_index(c["point"]), _floats(c["normal"]), float(c["depth_mm"])) for c in record.get("cuts", ())
            ),
            blobs=tuple(Blob(_index(b["center"]), _floats(b["semi_axes_mm"])) for b in record.get("blobs", ())),
            shift_vox=_index(record.get("shift_vox", (0, 0, 0))),
        )


def _to_plain(value):
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


def _index(values) -> Index:
    return tuple(int(v) for v in values)


def _floats(values) -> tuple[float, float, float]:
    return tuple(float(v) for v in values)


# --------------------------------------------------------------------------------------------
# Input checks and small helpers
# --------------------------------------------------------------------------------------------


def _binary_label(label) -> np.ndarray:
    """(X, Y, Z) bool array from a {0, 1} (or bool) label; anything else is an input error."""
    label = np.asarray(label)
    if label.ndim != 3:
        raise MedrlInputError("label", f"expected a 3D label, got shape {label.shape}")
    if label.dtype != bool and not np.isin(label, (0, 1)).all():
        values = np.unique(label)[:6].tolist()
        raise MedrlInputError("label", f"expected a binary label with values {{0, 1}}, got values {values}")
    return label.astype(bool)


def _spacing(spacing) -> np.ndarray:
    spacing = np.asarray(spacing, dtype=np.float64).reshape(-1)
    if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise MedrlInputError("spacing", f"expected three positive voxel sizes in mm, got {spacing.tolist()}")
    return spacing


def _bounding_box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(lo, hi) voxel indices of the non-zero voxels, hi exclusive; None for an empty mask."""
    nonzero = np.argwhere(mask)
    if nonzero.size == 0:
        return None
    return nonzero.min(axis=0), nonzero.max(axis=0) + 1


def _offsets_mm(shape, origin, center, spacing) -> list[np.ndarray]:
    """Per axis, the broadcastable mm offsets of a crop's voxels (starting at ``origin``) from ``center``."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return [(grid + origin[axis] - center[axis]) * spacing[axis] for axis, grid in enumerate(grids)]


def _ellipsoid(shape, origin, center, semi_axes_mm, spacing) -> np.ndarray:
    """(shape) bool: voxels of a crop inside an axis-aligned ellipsoid (full-volume centre)."""
    offsets = _offsets_mm(shape, origin, center, spacing)
    return sum((d / a) ** 2 for d, a in zip(offsets, semi_axes_mm)) <= 1.0


def _ball(shape, origin, ball: Ball, spacing) -> np.ndarray:
    return _ellipsoid(shape, origin, ball.center, (ball.radius_mm,) * 3, spacing)


def _halfspace(shape, origin, cut: Cut, spacing) -> np.ndarray:
    offsets = _offsets_mm(shape, origin, cut.point, spacing)
    return sum(d * n for d, n in zip(offsets, cut.normal)) >= -cut.depth_mm


# --------------------------------------------------------------------------------------------
# Deterministic application
# --------------------------------------------------------------------------------------------


def _working_region(label: np.ndarray, spacing: np.ndarray, params: PerturbationParams) -> tuple[slice, ...] | None:
    """Slices of the sub-volume that every operation stays inside; None when the result is empty.

    The label's box is padded by the dilation radius (plus one background voxel so distance maps in
    the crop equal those of the whole volume), joined with the blobs' boxes, then padded by the
    shift, and clipped to the volume.
    """
    shape = np.asarray(label.shape)
    boxes = []
    label_box = _bounding_box(label)
    if label_box is not None:
        pad = np.ceil(max(params.morph_mm, 0.0) / spacing).astype(int) + 1
        boxes.append((label_box[0] - pad, label_box[1] + pad))
    for blob in params.blobs:
        reach = np.ceil(np.asarray(blob.semi_axes_mm) / spacing).astype(int) + 1
        boxes.append((np.asarray(blob.center) - reach, np.asarray(blob.center) + reach + 1))
    if not boxes:
        return None
    shift = np.abs(np.asarray(params.shift_vox))
    lo = np.clip(np.min([b[0] for b in boxes], axis=0) - shift, 0, shape)
    hi = np.clip(np.max([b[1] for b in boxes], axis=0) + shift, 0, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def _morph(mask: np.ndarray, spacing: np.ndarray, morph_mm: float) -> np.ndarray:
    """Dilate (> 0) or erode (< 0) a bool mask by ``|morph_mm|`` mm using the EDT in mm.

    Dilation adds background voxels within ``morph_mm`` of the object; erosion keeps object voxels
    farther than ``|morph_mm|`` from the background. A mask without background is left as it is.
    """
    if morph_mm == 0.0 or not mask.any():
        return mask
    if morph_mm > 0:
        return mask | (ndimage.distance_transform_edt(~mask, sampling=spacing) <= morph_mm + 1e-6)
    if mask.all():
        return mask
    return ndimage.distance_transform_edt(mask, sampling=spacing) > -morph_mm + 1e-6


def _shift(mask: np.ndarray, shift_vox) -> np.ndarray:
    """Shift by whole voxels; what leaves the array is lost and zeros come in (no wrap-around)."""
    if not any(shift_vox):
        return mask
    shifted = np.zeros_like(mask)
    src, dst = [], []
    for n, s in zip(mask.shape, shift_vox):
        src.append(slice(max(0, -s), min(n, n - s)))
        dst.append(slice(max(0, s), min(n, n + s)))
    shifted[tuple(dst)] = mask[tuple(src)]
    return shifted


def apply_perturbation(label, spacing, params: PerturbationParams) -> np.ndarray:
    """Apply a perturbation record to a label, deterministically.

    Args:
        label: (X, Y, Z) binary array ({0, 1} or bool).
        spacing: (3,) voxel size in mm along the array axes.
        params: what to do, e.g. from :func:`sample_perturbation` or ``PerturbationParams.from_dict``.

    Returns:
        (X, Y, Z) ``uint8`` mask with values {0, 1}. An empty label gives a mask holding only the
        record's blobs (empty if there are none).
    """
    label, spacing = _binary_label(label), _spacing(spacing)
    out = np.zeros(label.shape, dtype=np.uint8)
    region = _working_region(label, spacing, params)
    if region is None:
        return out
    origin = np.array([s.start for s in region])
    mask = _morph(label[region].copy(), spacing, params.morph_mm)
    for ball in params.holes + params.chunks:
        mask &= ~_ball(mask.shape, origin, ball, spacing)
    for cut in params.cuts:
        mask &= ~_halfspace(mask.shape, origin, cut, spacing)
    for blob in params.blobs:
        mask |= _ellipsoid(mask.shape, origin, blob.center, blob.semi_axes_mm, spacing)
    out[region] = _shift(mask, params.shift_vox)
    return out


# --------------------------------------------------------------------------------------------
# Random sampling
# --------------------------------------------------------------------------------------------


@dataclass
class _LabelGeometry:
    """Distance maps of a label in its padded bounding box, computed once per label."""

    shape: tuple[int, int, int]
    spacing: np.ndarray
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=int))
    inside_mm: np.ndarray | None = None  # crop: distance of object voxels to the background
    outside_mm: np.ndarray | None = None  # crop: distance of background voxels to the object
    boundary: np.ndarray | None = None  # (N, 3) full-volume indices of the object's boundary voxels
    centroid: np.ndarray | None = None  # (3,) full-volume voxel coordinates

    @property
    def empty(self) -> bool:
        return self.inside_mm is None

    @classmethod
    def of(cls, label: np.ndarray, spacing: np.ndarray, margin_mm: float) -> _LabelGeometry:
        box = _bounding_box(label)
        if box is None:
            return cls(label.shape, spacing)
        pad = np.ceil(margin_mm / spacing).astype(int) + 1
        lo, hi = np.maximum(box[0] - pad, 0), np.minimum(box[1] + pad, label.shape)
        crop = label[tuple(slice(a, b) for a, b in zip(lo, hi))]
        inside = ndimage.distance_transform_edt(crop, sampling=spacing).astype(np.float32)
        outside = ndimage.distance_transform_edt(~crop, sampling=spacing).astype(np.float32)
        boundary = np.argwhere(crop & (inside <= spacing.max() + 1e-6)) + lo
        centroid = np.argwhere(crop).mean(axis=0) + lo
        return cls(label.shape, spacing, lo, inside, outside, boundary, centroid)

    def pick(self, rng: np.random.Generator, candidates: np.ndarray) -> Index:
        """A random full-volume index among crop-relative (N, 3) ``candidates``."""
        return _index(candidates[rng.integers(len(candidates))] + self.origin)


def _uniform(rng: np.random.Generator, bounds: Range, scale: float = 1.0) -> float:
    return float(rng.uniform(bounds[0], bounds[1]) * scale)


def _count(rng: np.random.Generator, bounds: IntRange) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _sample_holes(rng, config, geometry, scale) -> tuple[Ball, ...]:
    holes = []
    for _ in range(_count(rng, config.n_holes)):
        radius = _uniform(rng, config.hole_radius_mm, scale)
        deep_enough = np.argwhere(geometry.inside_mm > radius)
        if len(deep_enough) == 0:  # a thin object: a smaller hole at its deepest voxel
            deepest = np.unravel_index(np.argmax(geometry.inside_mm), geometry.inside_mm.shape)
            deep_enough, radius = np.array([deepest]), 0.5 * float(geometry.inside_mm.max())
        holes.append(Ball(geometry.pick(rng, deep_enough), radius))
    return tuple(holes)


def _outward_normal(rng, geometry, point) -> tuple[float, float, float]:
    """Unit vector (mm along the array axes) from the label's centroid towards ``point``."""
    direction = (np.asarray(point) - geometry.centroid) * geometry.spacing
    norm = np.linalg.norm(direction)
    if norm < 1e-9:
        direction = rng.normal(size=3)
        norm = np.linalg.norm(direction)
    return _floats(direction / norm)


def _sample_chunks(rng, config, geometry, scale) -> tuple[tuple[Ball, ...], tuple[Cut, ...]]:
    balls, cuts = [], []
    for _ in range(_count(rng, config.n_chunks)):
        point = _index(geometry.boundary[rng.integers(len(geometry.boundary))])
        if rng.random() < config.p_halfspace_chunk:
            cuts.append(Cut(point, _outward_normal(rng, geometry, point), _uniform(rng, config.chunk_depth_mm, scale)))
        else:
            balls.append(Ball(point, _uniform(rng, config.chunk_radius_mm, scale)))
    return tuple(balls), tuple(cuts)


def _semi_axes(rng, config, scale) -> tuple[float, float, float]:
    return tuple(_uniform(rng, config.blob_radius_mm, scale) for _ in range(3))


def _sample_blobs(rng, config, geometry, scale) -> tuple[Blob, ...]:
    blobs = []
    for _ in range(_count(rng, config.n_blobs)):
        lo, hi = config.blob_distance_mm[0] * scale, config.blob_distance_mm[1] * scale
        shell = np.argwhere((geometry.outside_mm >= lo) & (geometry.outside_mm <= hi))
        if len(shell) == 0:  # the object fills the volume: nowhere to put a false positive
            continue
        blobs.append(Blob(geometry.pick(rng, shell), _semi_axes(rng, config, scale)))
    return tuple(blobs)


def _sample_shift(rng, config, geometry, scale) -> Index:
    magnitude = np.array([_uniform(rng, config.shift_mm, scale) for _ in range(3)])
    signs = rng.choice((-1.0, 1.0), size=3)
    return _index(np.round(signs * magnitude / geometry.spacing))


def _sample_empty(rng, config, geometry) -> PerturbationParams:
    """Empty label: only false-positive blobs, centred anywhere in the volume."""
    blobs = tuple(
        Blob(_index(rng.integers(0, geometry.shape)), _semi_axes(rng, config, 1.0))
        for _ in range(_count(rng, config.empty_label_blobs))
    )
    return PerturbationParams(blobs=blobs)


OPERATIONS = ("morph", "holes", "chunks", "blobs", "shift")


def _choose_operations(rng, config) -> dict[str, bool]:
    """Each operation with its probability; at least one, so a sample never equals the label."""
    probabilities = (config.p_morph, config.p_holes, config.p_chunk, config.p_blobs, config.p_shift)
    chosen = {name: bool(rng.random() < p) for name, p in zip(OPERATIONS, probabilities)}
    if not any(chosen.values()):
        chosen[OPERATIONS[rng.integers(len(OPERATIONS))]] = True
    return chosen


def _sample(rng, config: PerturbationConfig, geometry: _LabelGeometry, scale: float) -> PerturbationParams:
    if geometry.empty:
        return _sample_empty(rng, config, geometry)
    chosen = _choose_operations(rng, config)
    params = {}
    if chosen["morph"]:
        sign = -1.0 if rng.random() < config.p_erode else 1.0
        params["morph_mm"] = sign * _uniform(rng, config.morph_mm, scale)
    if chosen["holes"]:
        params["holes"] = _sample_holes(rng, config, geometry, scale)
    if chosen["chunks"]:
        params["chunks"], params["cuts"] = _sample_chunks(rng, config, geometry, scale)
    if chosen["blobs"]:
        params["blobs"] = _sample_blobs(rng, config, geometry, scale)
    if chosen["shift"]:
        params["shift_vox"] = _sample_shift(rng, config, geometry, scale)
    return PerturbationParams(**params)


def _geometry(label: np.ndarray, spacing: np.ndarray, config: PerturbationConfig) -> _LabelGeometry:
    return _LabelGeometry.of(label, spacing, margin_mm=config.blob_distance_mm[1] * config.scale_bounds[1])


def sample_perturbation(
    rng: np.random.Generator,
    config: PerturbationConfig,
    spacing,
    label,
    scale: float = 1.0,
) -> PerturbationParams:
    """Draw one random perturbation of ``label``.

    Args:
        rng: numpy generator; the only source of randomness.
        config: probabilities and magnitude ranges.
        spacing: (3,) voxel size in mm along the array axes.
        label: (X, Y, Z) binary array ({0, 1} or bool).
        scale: factor on every magnitude (radii, depths, distances, shift), within
            ``config.scale_bounds``; :func:`perturb_mask` adapts it to reach the target Dice.

    Returns:
        A :class:`PerturbationParams`. For an empty label it holds only blobs (their number from
        ``config.empty_label_blobs``), centred at uniformly random voxels.
    """
    label, spacing = _binary_label(label), _spacing(spacing)
    scale = float(np.clip(scale, *config.scale_bounds))
    return _sample(rng, config, _geometry(label, spacing, config), scale)


def _gap_to_range(value: float, bounds: Range) -> float:
    """0 inside [lo, hi], else the distance to the nearest bound."""
    return max(bounds[0] - value, 0.0, value - bounds[1])


def _adapted_scale(scale: float, dice: float, config: PerturbationConfig) -> float:
    """Weaker perturbations after a too-low Dice, stronger after a too-high one."""
    if dice < config.target_dice[0]:
        scale /= config.adapt_factor
    elif dice > config.target_dice[1]:
        scale *= config.adapt_factor
    return float(np.clip(scale, *config.scale_bounds))


def perturb_mask(label, spacing, seed: int, config: PerturbationConfig | None = None) -> tuple[np.ndarray, dict]:
    """An imperfect starting mask whose Dice with ``label`` lies in ``config.target_dice``.

    Samples with ``np.random.default_rng(seed)`` and applies until the Dice falls in the target
    range. After each miss every magnitude is scaled by ``1 / adapt_factor`` (Dice too low) or
    ``adapt_factor`` (too high), within ``scale_bounds``. After ``max_tries`` misses it returns the
    sample whose Dice was closest to the range, with ``in_range: False`` in the record.

    An empty label is perturbed once, into false-positive blobs only (see
    ``config.empty_label_blobs``); its Dice is 0.0 (1.0 if no blob was asked for), which usually
    lies outside the target range, so ``in_range`` is then False.

    Args:
        label: (X, Y, Z) binary array ({0, 1} or bool).
        spacing: (3,) voxel size in mm along the array axes.
        seed: integer seed; the same seed, label, spacing and config give the same mask.
        config: defaults to ``PerturbationConfig()``.

    Returns:
        ``(mask, record)``: mask is (X, Y, Z) ``uint8`` in {0, 1}; record is a JSON-serialisable dict
        with ``seed``, ``params`` (``PerturbationParams.to_dict()``, enough to replay the mask with
        :func:`apply_perturbation`), ``dice``, ``in_range``, ``tries``, ``target_dice``, ``spacing``
        and ``config``.
    """
    config = config or PerturbationConfig()
    label, spacing = _binary_label(label), _spacing(spacing)
    rng = np.random.default_rng(seed)
    geometry = _geometry(label, spacing, config)
    scale, best = float(np.clip(1.0, *config.scale_bounds)), None
    for tries in range(1, config.max_tries + 1):
        params = _sample(rng, config, geometry, scale)
        mask = apply_perturbation(label, spacing, params)
        dice = dice_score(mask, label)
        gap = _gap_to_range(dice, config.target_dice)
        if best is None or gap < best[0]:
            best = (gap, mask, params, dice)
        if gap == 0.0 or geometry.empty:
            break
        scale = _adapted_scale(scale, dice, config)
    gap, mask, params, dice = best
    record = {
        "seed": int(seed),
        "params": params.to_dict(),
        "dice": float(dice),
        "in_range": bool(gap == 0.0),
        "tries": tries,
        "target_dice": list(config.target_dice),
        "spacing": spacing.tolist(),
        "config": _to_plain(dataclasses.asdict(config)),
    }
    return mask, record


__all__ = [
    "Ball",
    "Blob",
    "Cut",
    "PerturbationConfig",
    "PerturbationParams",
    "apply_perturbation",
    "perturb_mask",
    "sample_perturbation",
]
