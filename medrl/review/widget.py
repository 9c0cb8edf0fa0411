"""``ReviewWidget``: the clinician's review of one scan in a notebook (JupyterLab or classic Notebook).

    from medrl.review.widget import ReviewWidget
    review = ReviewWidget(session, save_to="out/case_001_reviewed.nii.gz")
    review                                   # the last expression of a cell shows it

What the clinician sees: axial, coronal and sagittal slices of the scan in physical proportions with
the mask as an orange overlay (reviewing one structure of a multi-label map: the other structures as light-blue
outlines, and a **structure** menu to pick the next one), anatomical letters at the edges (R/L, A/P, S/I); a slice slider per view
(or the mouse wheel over a view); a window menu (CT soft tissue, liver, lung, bone, brain; MR automatic
percentiles); the overlay's opacity.

What the clinician does (left mouse button, in the mode chosen above the picture):

* **positive click** / **negative click**: this voxel is organ / is not (``session.click``);
* **paint** / **erase**: drag the brush (size in mm) over the slice; one drag is one stroke, ONE
  undoable action (``session.stroke``);
* **Refine**: the agents act around every click and stroke since the last refinement, with progress;
* **Undo** / **Redo**; **Accept & save**: the review goes into the feedback store and, when a path is
  given, the corrected mask is written there as NIfTI on the scan's own grid (an existing file only
  with "overwrite"); for a multi-label map, the whole map with only this structure changed;
* **structure** (multi-label maps): review another structure once this one is accepted; it starts from
  the map as just saved, and "Accept & save" to the same path adds it to that file
  (:meth:`~medrl.review.session.ReviewSession.review_structure`).

Every action goes through :class:`~medrl.review.session.ReviewSession`, so a notebook cell or a test
can do the same without a browser. Errors raised in a mouse or button callback (which ipympl would
otherwise swallow) are shown in the widget's ``errors`` output area and on the status line.
"""

from __future__ import annotations

import functools
import os
import time
import traceback

import ipywidgets as widgets
import numpy as np
from matplotlib.backend_bases import MouseButton

from medrl.errors import MedrlInputError
from medrl.review.figure import SliceFigure
from medrl.review.session import ReviewSession
from medrl.review.views import VIEW_NAMES, event_to_voxel, slice_2d, view, voxel_to_display
from medrl.review.windows import window, window_limits, window_names

MODES = (("positive click", "positive"), ("negative click", "negative"), ("paint", "paint"), ("erase", "erase"))
BRUSH_MODES = ("paint", "erase")


def guarded(method):
    """Run a callback; show any exception in the widget's ``errors`` area instead of losing it.

    A :class:`~medrl.errors.MedrlInputError` is shown as its one line, anything else with its traceback.
    The buttons are enabled again afterwards whatever happened.
    """

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except MedrlInputError as error:
            self.report_error(str(error))
        except Exception as error:  # noqa: BLE001 - a callback must never lose an error silently
            self.report_error(f"{type(error).__name__}: {error}", traceback.format_exc())
        finally:
            self._set_busy(False)

    return run


class ReviewWidget:
    """An interactive review of one :class:`~medrl.review.session.ReviewSession`.

    Args:
        session: the review (scan, mask, store, reviewer).
        save_to: default path for "Accept & save" (the clinician can change it in the widget; empty:
            the review is only recorded in the store).
        radiological: radiological display convention (patient's right on the left of axial and
            coronal views); False for the neurological one.
        width_in: width of the picture in inches.

    Attributes:
        ui: the ipywidgets layout (displayed when the widget is the last expression of a cell).
        status: one line: what just happened (or the last error).
        summary: the session's state: actions, unrefined actions, mask volume.
        errors: ``ipywidgets.Output`` collecting errors raised in callbacks.
        last_record: the :class:`~medrl.feedback.store.ReviewRecord` of "Accept & save", once accepted.
    """

    def __init__(self, session: ReviewSession, save_to: str | os.PathLike | None = None, radiological: bool = True,
                 width_in: float = 9.5):
        self.session = session
        self.image = session.display_image()
        self.views = [view(name, radiological) for name in VIEW_NAMES]
        self.figure = SliceFigure(self.views, session.shape, session.spacing, width_in)
        self.last_record = None
        self._drag: tuple | None = None  # (view, [voxels]) while a brush stroke is drawn
        self._mask = session.mask()
        self._context = session.context()  # other structures of a multi-label map, or None
        self._build_controls(save_to)
        self._connect()
        self._apply_window()
        self.refresh()

    # ---------------------------------------------------------------------------- layout
    def _build_controls(self, save_to) -> None:
        shape, wide = self.session.shape, {"description_width": "initial"}  # captions in full
        self.mode = widgets.ToggleButtons(options=MODES, value="positive", description="mode", style=wide)
        self.brush_mm = widgets.FloatSlider(value=5.0, min=0.5, max=30.0, step=0.5, description="brush (mm)", style=wide)
        self.opacity = widgets.FloatSlider(value=0.4, min=0.0, max=1.0, step=0.05, description="mask opacity", style=wide)
        self.window = widgets.Dropdown(options=window_names(self.session.intensity), description="window", style=wide)
        self.structure = None  # the structure menu, for a multi-label map
        if self.session.label_map is not None:
            names = self.session.label_map.names
            self.structure = widgets.Dropdown(options=[(f"{v} {names.name_of(v)}", v) for v in self.session.label_map.labels],
                                              value=self.session.structure["value"], description="structure", style=wide)
        self.sliders = {v.name: widgets.IntSlider(value=shape[v.fixed] // 2, min=0, max=shape[v.fixed] - 1,
                                                  description=f"{v.name} {_axis_letters(v.fixed)}", style=wide)
                        for v in self.views}
        self.refine_button = widgets.Button(description="Refine", button_style="primary", icon="magic")
        self.reject_button = widgets.Button(description="Reject", button_style="warning", icon="times",
                                            tooltip="undo the agents' last refinement and record that it was wrong")
        self.undo_button = widgets.Button(description="Undo", icon="undo")
        self.redo_button = widgets.Button(description="Redo", icon="repeat")
        self.accept_button = widgets.Button(description="Accept & save", button_style="success", icon="check")
        self.save_path = widgets.Text(value="" if save_to is None else os.fspath(save_to), description="save to",
                                      placeholder="corrected mask .nii.gz (empty: feedback store only)",
                                      layout=widgets.Layout(width="55%"))
        self.overwrite = widgets.Checkbox(value=False, description="overwrite an existing file")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="agents", layout=widgets.Layout(width="40%"))
        self.status = widgets.Label(value="ready")
        self.summary = widgets.Label()
        self.errors = widgets.Output(layout=widgets.Layout(max_height="12em", overflow="auto"))
        self.buttons = (self.refine_button, self.reject_button, self.undo_button, self.redo_button, self.accept_button)
        self.ui = widgets.VBox([
            widgets.HBox([self.mode, self.brush_mm]),
            widgets.HBox([c for c in (self.structure, self.window, self.opacity) if c is not None]),
            self.figure.canvas,
            widgets.HBox(list(self.sliders.values())),
            widgets.HBox([*self.buttons, self.progress]),
            widgets.HBox([self.save_path, self.overwrite]),
            self.summary, self.status, self.errors,
        ])

    def _connect(self) -> None:
        for event, handler in (("button_press_event", self.on_press), ("motion_notify_event", self.on_move),
                               ("button_release_event", self.on_release), ("scroll_event", self.on_scroll)):
            self.figure.canvas.mpl_connect(event, handler)
        for name, slider in self.sliders.items():
            slider.observe(functools.partial(self._on_slider, name), names="value")
        self.window.observe(lambda change: self._apply_window(), names="value")
        self.opacity.observe(lambda change: self.refresh(), names="value")
        self.refine_button.on_click(lambda button: self.refine())
        self.reject_button.on_click(lambda button: self.reject())
        self.undo_button.on_click(lambda button: self.undo())
        self.redo_button.on_click(lambda button: self.redo())
        self.accept_button.on_click(lambda button: self.accept())
        if self.structure is not None:
            self.structure.observe(self._on_structure, names="value")

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)

    def view_box(self, name: str) -> tuple[float, float, float, float]:
        """Where view ``name`` is drawn on the canvas, as fractions of the canvas' width and height:
        ``(left, top, width, height)``, measured from the top-left corner (for scripted browser checks)."""
        self.figure.canvas.draw()
        box, page = self.figure.axes[name].get_window_extent(), self.figure.figure.bbox
        return (box.x0 / page.width, 1.0 - box.y1 / page.height, box.width / page.width, box.height / page.height)

    # --------------------------------------------------------------------------- drawing
    @guarded
    def refresh(self) -> None:
        """Redraw every view and the summary from the session (after any change, e.g. from a cell)."""
        self._mask = self.session.mask()
        for v in self.views:
            self._draw_view(v)
        self._update_summary()
        self.figure.draw()

    def _draw_view(self, v) -> None:
        index, shape = self.sliders[v.name].value, self.session.shape
        marks = {True: [], False: []}
        for action in self.session.actions:
            if action.kind == "click" and action.index[v.fixed] == index:
                marks[action.foreground].append(voxel_to_display(v, action.index, shape))
        title = f"{v.name}  {index} of 0–{shape[v.fixed] - 1}"  # the slider's voxel index
        context = None if self._context is None else slice_2d(self._context, v, index)
        self.figure.show_slice(v.name, slice_2d(self.image, v, index), slice_2d(self._mask, v, index),
                               self.opacity.value, title, marks[True], marks[False], context)

    def _update_summary(self) -> None:
        actions = self.session.actions
        kinds = {kind: sum(a.kind == kind for a in actions) for kind in ("click", "brush", "stroke")}
        parts = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in kinds.items() if n)
        pending = len(actions) - self.session.refined_upto
        ml = float(self._mask.sum()) * float(np.prod(self.session.spacing)) / 1000.0
        state = "accepted" if self.session.record is not None else f"{pending} not yet refined"
        self.summary.value = f"actions: {len(actions)}" + (f" ({parts})" if parts else "") + f" · {state} · mask {ml:.1f} ml"

    @guarded
    def _apply_window(self) -> None:
        low, high = window_limits(window(self.window.value), self.image)
        self.figure.set_window(low, high)
        self.figure.draw()

    @guarded
    def _on_slider(self, name: str, change) -> None:
        self._draw_view(next(v for v in self.views if v.name == name))
        self.figure.draw()

    # ----------------------------------------------------------------------------- mouse
    def _event_voxel(self, event):
        """(view, voxel) under a mouse event, or (view or None, None) outside the slices."""
        v = self.figure.view_of(event.inaxes)
        if v is None:
            return None, None
        return v, event_to_voxel(v, self.sliders[v.name].value, event.xdata, event.ydata, self.session.shape)

    def _navigating(self) -> bool:
        """True while the canvas toolbar's pan or zoom is on: then the mouse moves the picture, not the mask."""
        toolbar = getattr(self.figure.canvas, "toolbar", None)
        return bool(getattr(toolbar, "mode", ""))

    @guarded
    def on_press(self, event) -> None:
        """Left button down: a click in click modes, the start of a stroke in brush modes."""
        if event.button != MouseButton.LEFT or self._navigating():
            return
        v, voxel = self._event_voxel(event)
        if voxel is None:
            return
        if self.mode.value in BRUSH_MODES:
            self._drag = (v, [voxel])
            self._show_drag()
            return
        self.session.click(voxel, positive=self.mode.value == "positive")
        self.status.value = f"{self.mode.value} click at voxel {voxel} ({v.name})"
        self.refresh()

    @guarded
    def on_move(self, event) -> None:
        """Mouse moved: extend the stroke being drawn (only within the view it started in). A move
        without the left button held means it was released outside the canvas: the stroke ends there."""
        if self._drag is None:
            return
        held = getattr(event, "buttons", None)
        if held is not None and MouseButton.LEFT not in held:
            self._finish_stroke()
            return
        v, voxel = self._event_voxel(event)
        if voxel is not None and v is self._drag[0] and voxel != self._drag[1][-1]:
            self._drag[1].append(voxel)
            self._show_drag()

    @guarded
    def on_release(self, event) -> None:
        """Left button up: the stroke drawn since the press becomes one session action."""
        if self._drag is not None and event.button == MouseButton.LEFT:
            self._finish_stroke()

    def _finish_stroke(self) -> None:
        (v, points), self._drag = self._drag, None
        self.figure.show_stroke(None)
        erase, radius = self.mode.value == "erase", round(self.brush_mm.value, 3)  # the browser's float, to the slider's step
        self.session.stroke(points, radius, erase=erase)
        kind = "erase" if erase else "paint"
        self.status.value = f"{kind} stroke of {len(points)} points, {radius:g} mm ({v.name})"
        self.refresh()

    @guarded
    def on_scroll(self, event) -> None:
        """Mouse wheel over a view: next / previous slice."""
        v = self.figure.view_of(event.inaxes)
        if v is not None:
            slider = self.sliders[v.name]
            slider.value = int(min(max(slider.value + (1 if event.step > 0 else -1), slider.min), slider.max))

    def _show_drag(self) -> None:
        v, points = self._drag
        shape = self.session.shape
        self.figure.show_stroke(v.name, [voxel_to_display(v, p, shape) for p in points], self.mode.value == "paint")
        self.figure.draw()

    # --------------------------------------------------------------------------- buttons
    @guarded
    def refine(self) -> None:
        """The Refine button: the agents act around every click and stroke since the last refinement."""
        self._set_busy(True)
        self.status.value = "the agents are refining the mask ..."
        start = time.perf_counter()
        self.session.refine(progress=self._on_progress)
        self.status.value = f"refined in {time.perf_counter() - start:.2f} s"
        self.refresh()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = done
        self.status.value = f"the agents are refining the mask: tile {min(done + 1, total)} of {total}"

    @guarded
    def reject(self) -> None:
        """The Reject button: the agents' last refinement is undone and recorded as wrong (verdict −1), so
        fine-tuning learns not to repeat it."""
        record = self.session.reject()
        recorded = f"; verdict {record.id} recorded in the feedback store" if record is not None else ""
        self.status.value = f"refinement rejected and undone{recorded}"
        self.refresh()

    @guarded
    def undo(self) -> None:
        """The Undo button: back one action or refinement."""
        self.status.value = "undone" if self.session.undo() else "nothing to undo"
        self.refresh()

    @guarded
    def redo(self) -> None:
        """The Redo button."""
        self.status.value = "redone" if self.session.redo() else "nothing to redo"
        self.refresh()

    @guarded
    def accept(self) -> None:
        """The Accept & save button: record the review; write the mask where "save to" says (if anywhere)."""
        self._set_busy(True)
        path = self.save_path.value.strip() or None
        self.last_record = self.session.accept(save_to=path, overwrite=self.overwrite.value)
        written = f"; mask written to {self.session.saved_to}" if path else ""
        self.status.value = f"accepted: review {self.last_record.id} recorded in the feedback store{written}"
        self.refresh()

    def _on_structure(self, change) -> None:
        if change["new"] != self.session.structure["value"]:
            self.pick_structure(change["new"])

    @guarded
    def pick_structure(self, label: int | str) -> None:
        """The structure menu: review ``label`` next, starting from the map as last saved in this sitting.
        Refused (and the menu set back) while this structure has actions not yet accepted."""
        try:
            session = self.session.review_structure(label)
        except MedrlInputError:
            self.structure.value = self.session.structure["value"]  # the menu shows what is under review
            raise
        saved_to, self.session = self.session.saved_to, session
        if saved_to is not None:
            self.save_path.value = os.fspath(saved_to)  # the next structure goes into the same file
        self._context = session.context()
        self.structure.value = session.structure["value"]
        source = f"from {saved_to}" if saved_to is not None else f"from {session.mask_path}"
        self.status.value = f"reviewing {session.structure['name']} ({session.structure['value']}), {source}"
        self._set_busy(False)
        self.refresh()

    # ---------------------------------------------------------------------------- status
    def _set_busy(self, busy: bool) -> None:
        accepted = self.session.record is not None
        for button in self.buttons:
            button.disabled = busy or accepted

    def report_error(self, message: str, details: str | None = None) -> None:
        """Show an error: its first line on the status line, the whole text in ``errors``."""
        self.status.value = "error: " + message.splitlines()[0]
        self.errors.append_stderr((details or message).rstrip() + "\n")


def _axis_letters(axis: int) -> str:
    """Slider caption of a slice axis, low to high: ``"R→L"``-style letters of the RAS grid."""
    return ("(L→R)", "(P→A)", "(I→S)")[axis]
