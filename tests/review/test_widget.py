"""The review widget without a browser: mouse messages are fed to the ipympl canvas exactly as the
browser sends them, buttons are clicked through ipywidgets, and the session must change as promised."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from medrl.data.geometry import orientation_affine
from medrl.data.readers import read_scan
from medrl.feedback.store import FeedbackStore
from medrl.inference.refiner import Refiner
from medrl.review.session import ReviewSession
from medrl.review.views import VIEW_NAMES, slice_2d, voxel_to_display
from medrl.review.widget import ReviewWidget
from medrl.review.windows import window, window_limits
from tests.conftest import save_nifti
from tests.inference.checkpoints import untrained_checkpoint
from tests.inference.scenes import two_blob_scene

# ipympl's toolbar passes traitlets an argument it deprecates; nothing medrl can change.
pytestmark = pytest.mark.filterwarnings("ignore:Passing unrecognized arguments to super\\(Toolbar\\):DeprecationWarning")

SPACING = (0.8, 1.3, 2.5)  # anisotropic: every view has its own aspect ratio
AFFINE = orientation_affine("LPS", SPACING, (48, 40, 32), center_mm=(5.0, -10.0, 20.0))
# The scan is written in LPS; the working grid is RAS, so input voxel (x, y, z) is (47 - x, 39 - y, z) there.
KEPT = (47 - 14, 39 - 20, 16)  # centre of the blob the starting mask has
MISSED = (47 - 36, 39 - 20, 16)  # centre of the blob it misses


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return untrained_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture
def review(checkpoint, tmp_path) -> ReviewWidget:
    scene = two_blob_scene()
    hu = (scene.image * 200.0).astype(np.float32)  # blobs about 200 HU, background about 0
    scan = save_nifti(hu, AFFINE, tmp_path / "scan.nii.gz")
    start = save_nifti(scene.initial, AFFINE, tmp_path / "start.nii.gz")
    session = ReviewSession(Refiner.from_checkpoint(checkpoint), scan, start, FeedbackStore(tmp_path / "store"), "dr_a")
    widget = ReviewWidget(session)
    widget.figure.canvas.draw()  # lays the axes out, as the first frame in the browser does
    return widget


# ------------------------------------------------------------------------- the browser's mouse
def _browser_xy(review: ReviewWidget, name: str, voxel) -> tuple[float, float]:
    """Canvas pixel (x from the left, y from the top) of a voxel's centre in view ``name``."""
    v = next(v for v in review.views if v.name == name)
    col, row = voxel_to_display(v, voxel, review.session.shape)
    x, y = review.figure.axes[name].transData.transform((col, row))
    return float(x), float(review.figure.figure.bbox.height - y)


def _mouse(review: ReviewWidget, kind: str, xy, buttons: int) -> None:
    """Send one mouse message the way ipympl's front end does (``button`` 0 = left)."""
    message = {"type": kind, "x": xy[0], "y": xy[1], "button": 0, "buttons": buttons, "modifiers": [], "guiEvent": None}
    review.figure.canvas._handle_message(review.figure.canvas, message, [])


def click(review, name, voxel):
    xy = _browser_xy(review, name, voxel)
    _mouse(review, "button_press", xy, 1)
    _mouse(review, "button_release", xy, 0)


def drag(review, name, voxels):
    xys = [_browser_xy(review, name, v) for v in voxels]
    _mouse(review, "button_press", xys[0], 1)
    for xy in xys[1:]:
        _mouse(review, "motion_notify", xy, 1)
    _mouse(review, "button_release", xys[-1], 0)


def _on_slices(review, voxel) -> None:
    for v in review.views:
        review.sliders[v.name].value = voxel[v.fixed]


# -------------------------------------------------------------------------------- picture
def test_views_are_drawn_in_physical_proportions(review):
    """Each view's axes box on screen has the height/width ratio of the slice in millimetres."""
    shape = review.session.shape
    for v in review.views:
        ax = review.figure.axes[v.name]
        box = ax.get_window_extent()
        width_mm, height_mm = shape[v.horizontal] * SPACING[v.horizontal], shape[v.vertical] * SPACING[v.vertical]
        assert box.height / box.width == pytest.approx(height_mm / width_mm, rel=0.02)
        assert ax.get_aspect() == pytest.approx(SPACING[v.vertical] / SPACING[v.horizontal])


def test_the_picture_shows_the_raw_scan_and_the_mask_on_the_chosen_slices(review):
    session = review.session
    review.sliders["axial"].value = 20
    for v in review.views:
        index = review.sliders[v.name].value
        np.testing.assert_array_equal(review.figure._image[v.name].get_array(), slice_2d(session.display_image(), v, index))
        alpha = review.figure._overlay[v.name].get_array()[..., 3]
        np.testing.assert_array_equal(alpha > 0, slice_2d(session.mask(), v, index) == 1)
    assert session.display_image().max() > 150  # HU, not the preset-scaled [0, 1]


def test_window_and_opacity_controls(review):
    review.window.value = "CT bone"
    assert review.figure._image["axial"].get_clim() == window_limits(window("CT bone"), review.image) == (-500.0, 1300.0)
    review.opacity.value = 1.0
    alphas = np.unique(review.figure._overlay["coronal"].get_array()[..., 3])
    assert set(alphas) <= {0, 255} and 255 in alphas


def test_view_box_locates_each_view_on_the_canvas(review):
    """A click at the centre of ``view_box`` (what the browser check does) hits that view's slice centre."""
    for name in VIEW_NAMES:
        left, top, width, height = review.view_box(name)
        page = review.figure.figure.bbox
        xy = ((left + width / 2) * page.width, (top + height / 2) * page.height)
        _mouse(review, "button_press", xy, 1)
        _mouse(review, "button_release", xy, 0)
        v = review.views[VIEW_NAMES.index(name)]
        voxel = review.session.actions[-1].index
        col, row = voxel_to_display(v, voxel, review.session.shape)
        shape = review.session.shape
        assert voxel[v.fixed] == review.sliders[name].value
        assert abs(col - (shape[v.horizontal] - 1) / 2) <= 1 and abs(row - (shape[v.vertical] - 1) / 2) <= 1
    assert [a.kind for a in review.session.actions] == ["click"] * 3


def test_the_mouse_wheel_turns_slices(review):
    before = review.sliders["sagittal"].value
    xy = _browser_xy(review, "sagittal", (before, 20, 16))
    message = {"type": "scroll", "x": xy[0], "y": xy[1], "step": 1, "button": 0, "buttons": 0, "modifiers": [], "guiEvent": None}
    review.figure.canvas._handle_message(review.figure.canvas, message, [])
    assert review.sliders["sagittal"].value == before + 1


# ---------------------------------------------------------------------------------- clicks
@pytest.mark.parametrize("name", VIEW_NAMES)
def test_a_click_in_each_view_lands_on_the_voxel_under_the_mouse(review, name):
    voxel = (37, 9, 25)  # off-centre on every axis, so a flipped or swapped axis would miss
    _on_slices(review, voxel)
    click(review, name, voxel)
    action = review.session.actions[-1]
    assert (action.index, action.foreground, action.kind) == (voxel, True, "click")
    assert review.session.mask()[voxel] == 1
    assert review.summary.value.startswith("actions: 1 (1 click)")


def test_a_negative_click_and_clicks_outside_the_slices_or_while_zooming(review):
    review.mode.value = "negative"
    voxel = KEPT
    _on_slices(review, voxel)
    click(review, "axial", voxel)
    assert review.session.actions[-1].foreground is False and review.session.mask()[voxel] == 0
    _mouse(review, "button_press", (2.0, 2.0), 1)  # the figure's corner: no view there
    review.figure.canvas.toolbar.pan()  # pan mode: the mouse moves the picture, not the mask
    click(review, "axial", voxel)
    assert len(review.session.actions) == 1


# --------------------------------------------------------------------------------- strokes
def test_a_drag_paints_one_stroke_that_one_undo_removes(review):
    session = review.session
    start = session.mask().copy()
    review.mode.value = "paint"
    review.brush_mm.value = 2.0
    path = [(30, 2, 16), (33, 4, 16), (36, 6, 16), (40, 3, 16)]  # in the background, outside both blobs
    _on_slices(review, path[0])
    drag(review, "axial", path)
    assert len(session.actions) == 1
    action = session.actions[0]
    assert action.kind == "stroke" and action.path == tuple(path) and action.radius_mm == 2.0 and action.foreground
    painted = session.mask() & ~start.astype(bool)
    assert all(session.mask()[p] == 1 for p in path) and painted.sum() > 4 * 7
    assert review.summary.value.startswith("actions: 1 (1 stroke)")
    review.undo_button.click()
    assert not session.actions and np.array_equal(session.mask(), start)
    review.redo_button.click()
    assert session.actions == [action] and all(session.mask()[p] == 1 for p in path)


def test_a_button_released_outside_the_canvas_still_ends_the_stroke(review):
    review.mode.value = "paint"
    path = [(30, 2, 16), (36, 6, 16)]
    _on_slices(review, path[0])
    xys = [_browser_xy(review, "axial", v) for v in path]
    _mouse(review, "button_press", xys[0], 1)
    _mouse(review, "motion_notify", xys[1], 1)
    _mouse(review, "motion_notify", (xys[1][0] + 3, xys[1][1]), 0)  # back over the canvas, no button held
    assert [a.path for a in review.session.actions] == [tuple(path)]
    _mouse(review, "motion_notify", xys[0], 0)  # plain moves change nothing
    assert len(review.session.actions) == 1


def test_an_erase_drag_in_the_coronal_view_clears_voxels(review):
    session = review.session
    review.mode.value = "erase"
    review.brush_mm.value = 1.0
    path = [(29, 19, 12), (37, 19, 20)]  # through the kept blob's centre, on coronal slice j = 19
    _on_slices(review, path[0])
    assert session.mask()[KEPT] == 1
    drag(review, "coronal", path)
    assert session.actions[0].foreground is False and session.mask()[KEPT] == 0
    assert review.figure.stroke_line is None  # the drag's preview line is gone


# --------------------------------------------------------------------------------- buttons
def test_refine_button_runs_the_agents_with_the_buttons_disabled_and_progress_shown(review):
    session = review.session
    _on_slices(review, MISSED)
    click(review, "axial", MISSED)
    seen = []
    review.progress.observe(lambda change: seen.append(([b.disabled for b in review.buttons], review.status.value)), "value")
    review.refine_button.click()
    assert session.refined_upto == 1 and session.after is not None
    assert seen and all(all(disabled) for disabled, _ in seen) and "refining" in seen[0][1]
    assert review.progress.value == review.progress.max
    assert review.status.value.startswith("refined in") and not any(b.disabled for b in review.buttons)
    assert "0 not yet refined" in review.summary.value


def test_reject_button_undoes_the_refinement_and_records_the_verdict(review, tmp_path):
    session = review.session
    _on_slices(review, MISSED)
    review.reject_button.click()
    assert "no refinement to reject" in review.status.value  # nothing refined yet: a one-line error, nothing recorded
    click(review, "axial", MISSED)
    before = session.p.clone()
    review.refine_button.click()
    flipped = bool(((session.p >= 0.5) != (before >= 0.5)).any())  # a refinement that flipped nothing gets no verdict
    review.reject_button.click()
    assert torch.equal(session.p, before) and session.refined_upto == 0 and len(session.actions) == 1
    assert [v.verdict for v in FeedbackStore(tmp_path / "store").verdicts()] == ([-1] if flipped else [])
    assert review.status.value.startswith("refinement rejected and undone")


def test_accept_button_records_the_review_and_writes_the_mask_where_asked(review, tmp_path):
    session = review.session
    _on_slices(review, MISSED)
    click(review, "axial", MISSED)
    taken = tmp_path / "reviewed.nii.gz"
    taken.write_bytes(b"an earlier result")
    review.save_path.value = str(taken)
    review.accept_button.click()
    assert "output exists" in review.status.value and session.record is None and taken.read_bytes() == b"an earlier result"
    review.overwrite.value = True
    review.accept_button.click()
    saved = read_scan(taken, kind="label")
    np.testing.assert_allclose(np.asarray(saved.affine), AFFINE, atol=1e-4)
    assert tuple(saved.shape[1:]) == (48, 40, 32) and nib.load(taken).get_data_dtype() == np.uint8
    assert saved[0].numpy()[36, 20, 16] == 1  # the clicked voxel, on the scan's own (LPS) grid
    assert [r.id for r in FeedbackStore(tmp_path / "store").reviews()] == [review.last_record.id]
    assert review.status.value.startswith("accepted") and all(b.disabled for b in review.buttons)
    click(review, "axial", (30, 2, 16))  # an accepted review takes no more changes, and says so
    assert len(session.actions) == 1 and "start a new ReviewSession" in review.status.value


# ---------------------------------------------------------------------------------- errors
def test_errors_in_callbacks_land_in_the_output_area(review, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the session broke")

    monkeypatch.setattr(review.session, "click", broken)
    _on_slices(review, (20, 20, 16))
    click(review, "axial", (20, 20, 16))
    text = "".join(output["text"] for output in review.errors.outputs)
    assert review.status.value == "error: RuntimeError: the session broke"
    assert "Traceback" in text and "the session broke" in text and "on_press" in text
    review.save_path.value = "mask.nrrd"
    review.accept_button.click()  # a user error: one line, no traceback
    expected = "mask.nrrd: the corrected mask is saved as NIfTI; give a name ending in .nii or .nii.gz\n"
    assert review.errors.outputs[-1]["text"] == expected
    assert not any(b.disabled for b in review.buttons)
