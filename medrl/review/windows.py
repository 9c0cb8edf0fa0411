"""Display windows (grey-level ranges) for CT and MR scans in the review widget.

A window maps intensities to grey: ``low`` is black, ``high`` white. CT windows are fixed ranges in
Hounsfield units given as level (centre) and width, the usual reading-room presets; MR intensities
have no absolute scale, so MR windows are robust percentiles of the scan itself.

Windows act on the scan's raw intensities (see :func:`medrl.review.display_image.raw_on_working_grid`),
not on the networks' preset-scaled input.

Example:
    >>> window_limits(window("CT soft tissue"), volume)     # doctest: +SKIP
    (-160.0, 240.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medrl.errors import MedrlInputError

SAMPLE_VOXELS = 1 << 21  # percentiles from at most ~2 M voxels (a strided subsample): fast, no big copy


@dataclass(frozen=True)
class Window:
    """A display window.

    Attributes:
        name: shown in the widget's window menu.
        level, width: centre and width in the scan's units (HU for CT); ``None`` for percentile windows.
        percentiles: (low, high) percentiles of the scan in [0, 100], for windows without fixed units.
    """

    name: str
    level: float | None = None
    width: float | None = None
    percentiles: tuple[float, float] | None = None


CT_WINDOWS = (
    Window("CT soft tissue", level=40.0, width=400.0),
    Window("CT liver", level=30.0, width=150.0),
    Window("CT lung", level=-600.0, width=1500.0),
    Window("CT bone", level=400.0, width=1800.0),
    Window("CT brain", level=40.0, width=80.0),
)
MR_WINDOWS = (
    Window("MR automatic (1-99 %)", percentiles=(1.0, 99.0)),
    Window("MR wide (0.1-99.9 %)", percentiles=(0.1, 99.9)),
    Window("full range", percentiles=(0.0, 100.0)),
)
WINDOWS = {w.name: w for w in CT_WINDOWS + MR_WINDOWS}


def window(name: str) -> Window:
    """The preset called ``name`` (see ``WINDOWS``)."""
    if name not in WINDOWS:
        raise MedrlInputError("window", f"unknown window {name!r}; choose one of {list(WINDOWS)}")
    return WINDOWS[name]


def window_names(intensity: str) -> list[str]:
    """Every preset's name, the best default for a checkpoint intensity preset first: CT soft tissue for
    ``"ct"``, automatic percentiles for ``"mr"`` and ``"none"``."""
    first, second = (CT_WINDOWS, MR_WINDOWS) if intensity == "ct" else (MR_WINDOWS, CT_WINDOWS)
    return [w.name for w in first + second]


def _sample(volume: np.ndarray) -> np.ndarray:
    """A strided subsample of ``volume`` with at most about ``SAMPLE_VOXELS`` voxels (a view, no copy)."""
    stride = max(1, int(np.ceil((volume.size / SAMPLE_VOXELS) ** (1 / volume.ndim))))
    return volume[(slice(None, None, stride),) * volume.ndim]


def window_limits(w: Window, volume: np.ndarray) -> tuple[float, float]:
    """(low, high) grey-level limits of window ``w`` for ``volume`` (any shape, any real dtype).

    Fixed windows give ``level ± width / 2``; percentile windows the percentiles of a subsample of the
    finite voxels. ``high > low`` always (a constant scan gets ``low + 1``).
    """
    if w.percentiles is None:
        low, high = w.level - w.width / 2.0, w.level + w.width / 2.0
    else:
        sample = _sample(np.asarray(volume))
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            raise MedrlInputError("scan", "no finite intensity to choose a display window from")
        low, high = (float(v) for v in np.percentile(sample, w.percentiles))
    return float(low), (float(high) if high > low else float(low) + 1.0)
