"""The review widget's picture: three orthogonal slices of the scan with the mask as a coloured
overlay, on one interactive matplotlib canvas (ipympl's widget canvas: JupyterLab and Notebook).

This module only draws; :mod:`medrl.review.widget` decides what to draw and handles the mouse.
Each view is drawn in display orientation (:mod:`medrl.review.views`) with its physical aspect ratio,
the anatomical direction letters at its edges, and the clinician's clicks on the shown slice as
markers (green + for foreground, red × for background).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from medrl.review.views import View, aspect, physical_size

MASK_RGB = (255, 170, 0)  # the overlay's colour (orange): visible on grey in every window
CONTEXT_RGB = (80, 200, 255)  # outlines of a multi-label map's other structures (light blue)
STROKE_COLOUR = {True: "lime", False: "red"}
TITLE_PAD = 0.9  # inches of figure height kept for titles, letters and margins


def overlay_rgba(mask2d: np.ndarray, opacity: float) -> np.ndarray:
    """(rows, cols, 4) uint8 RGBA: ``MASK_RGB`` with alpha ``opacity`` (0..1) where ``mask2d`` is non-zero,
    fully transparent elsewhere."""
    rgba = np.zeros((*mask2d.shape, 4), np.uint8)
    inside = np.asarray(mask2d) != 0
    rgba[inside, :3] = MASK_RGB
    rgba[inside, 3] = int(round(255 * min(max(opacity, 0.0), 1.0)))
    return rgba


def outline_rgba(labels2d: np.ndarray) -> np.ndarray:
    """(rows, cols, 4) uint8 RGBA: ``CONTEXT_RGB``, opaque, on the border pixels of every labelled region of
    ``labels2d`` (a pixel whose 4-neighbour holds another value), transparent elsewhere."""
    labels = np.asarray(labels2d)
    padded = np.pad(labels, 1, mode="edge")
    border = np.zeros(labels.shape, bool)
    for shifted in (padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]):
        border |= shifted != labels
    border &= labels != 0
    rgba = np.zeros((*labels.shape, 4), np.uint8)
    rgba[border, :3] = CONTEXT_RGB
    rgba[border, 3] = 255
    return rgba


def _canvas(figure: Figure):
    """An ipympl widget canvas for ``figure`` (no pyplot state, nothing shown yet)."""
    from ipympl.backend_nbagg import Canvas, FigureManager

    canvas = Canvas(figure)
    FigureManager(canvas, id(figure))  # routes the browser's mouse messages to matplotlib events
    canvas.header_visible = False
    canvas.footer_visible = False
    canvas.capture_scroll = True  # the wheel turns slices instead of scrolling the page
    canvas.toolbar_position = "left"
    return canvas


class SliceFigure:
    """Three views side by side, widths in proportion to their physical sizes.

    Args:
        views: the :class:`~medrl.review.views.View` objects, left to right.
        shape: (X, Y, Z) of the working grid.
        spacing: its voxel size in mm.
        width_in: figure width in inches (dpi 100).

    Attributes:
        canvas: the ipympl ``Canvas`` widget to put in a layout.
        axes: ``{view name: Axes}``.
    """

    def __init__(self, views: Sequence[View], shape, spacing, width_in: float = 9.5):
        self.views = {v.name: v for v in views}
        sizes = [physical_size(v, shape, spacing) for v in views]
        ratios = [w / h for w, h in sizes]
        height_in = width_in / sum(ratios) / 1.15 + TITLE_PAD
        self.figure = Figure(figsize=(width_in, height_in), dpi=100)
        self.canvas = _canvas(self.figure)
        grid = self.figure.add_gridspec(1, len(views), width_ratios=ratios, left=0.03, right=0.97, top=0.86,
                                        bottom=0.06, wspace=0.15)
        self.axes, self._image, self._overlay, self._context, self._markers = {}, {}, {}, {}, {}
        for column, v in enumerate(views):
            self._add_view(self.figure.add_subplot(grid[0, column]), v, shape, spacing)
        self.stroke_line = None

    def _add_view(self, ax, v: View, shape, spacing) -> None:
        rows, cols = shape[v.vertical], shape[v.horizontal]
        blank = np.zeros((rows, cols), np.float32)
        self._image[v.name] = ax.imshow(blank, cmap="gray", interpolation="nearest", aspect=aspect(v, spacing))
        self._context[v.name] = ax.imshow(outline_rgba(blank), interpolation="nearest", aspect=aspect(v, spacing))
        self._overlay[v.name] = ax.imshow(overlay_rgba(blank, 0.0), interpolation="nearest", aspect=aspect(v, spacing))
        self._markers[v.name] = (ax.plot([], [], "+", color="lime", ms=10, mew=2)[0],
                                 ax.plot([], [], "x", color="red", ms=8, mew=2)[0])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(-0.5, cols - 0.5)
        ax.set_ylim(rows - 0.5, -0.5)
        letters = v.labels
        style = {"color": "yellow", "fontsize": 11, "fontweight": "bold", "transform": ax.transAxes}
        ax.text(0.01, 0.5, letters["left"], ha="left", va="center", **style)
        ax.text(0.99, 0.5, letters["right"], ha="right", va="center", **style)
        ax.text(0.5, 0.99, letters["top"], ha="center", va="top", **style)
        ax.text(0.5, 0.01, letters["bottom"], ha="center", va="bottom", **style)
        self.axes[v.name] = ax

    def view_of(self, ax) -> View | None:
        """The view drawn in ``ax`` (``None`` for anything else, e.g. a click outside every view)."""
        return next((self.views[name] for name, a in self.axes.items() if a is ax), None)

    def show_slice(self, name: str, image2d: np.ndarray, mask2d: np.ndarray, opacity: float, title: str,
                   positive: Sequence[tuple[int, int]] = (), negative: Sequence[tuple[int, int]] = (),
                   context2d: np.ndarray | None = None) -> None:
        """Draw one view's slice: ``image2d`` (rows, cols) grey, ``mask2d`` (rows, cols) overlay, click
        markers at display (col, row) pixels, and the other structures of a multi-label map (``context2d``,
        label values) as outlines."""
        self._image[name].set_data(image2d)
        self._context[name].set_data(outline_rgba(np.zeros_like(mask2d) if context2d is None else context2d))
        self._overlay[name].set_data(overlay_rgba(mask2d, opacity))
        for line, points in zip(self._markers[name], (positive, negative)):
            line.set_data([p[0] for p in points], [p[1] for p in points])
        self.axes[name].set_title(title, fontsize=10)

    def set_window(self, low: float, high: float) -> None:
        """Grey levels: ``low`` black, ``high`` white, in every view."""
        for image in self._image.values():
            image.set_clim(low, high)

    def show_stroke(self, name: str | None, points: Sequence[tuple[int, int]] = (), foreground: bool = True) -> None:
        """Preview of a stroke being drawn in view ``name`` (display pixels); ``None`` removes it."""
        if self.stroke_line is not None:
            self.stroke_line.remove()
            self.stroke_line = None
        if name is not None and points:
            xs, ys = zip(*points)
            self.stroke_line = self.axes[name].plot(xs, ys, "-", color=STROKE_COLOUR[foreground], lw=2, alpha=0.8)[0]

    def draw(self) -> None:
        """Ask the front end to redraw (coalesced by ipympl)."""
        self.canvas.draw_idle()
