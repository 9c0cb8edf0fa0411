"""notebooks/review_and_correct.ipynb runs headless from top to bottom on a tiny demo checkpoint: a
scripted correction, a refinement, an accepted review in the store, the corrected mask on the scan's grid."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from medrl.feedback.store import FeedbackStore
from tests.notebooks.conftest import notebook_environment
from tests.notebooks.kernel import run_notebook, text_of

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "review_and_correct.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_review_notebook_runs_headless_and_records_the_review(tiny_demo, tmp_path):
    work = tmp_path / "work"
    executed = run_notebook(NOTEBOOK, tmp_path, notebook_environment(tiny_demo, work))
    printed = "\n".join(text_of(cell) for cell in executed.cells if cell.cell_type == "code")
    assert "training a tiny one" not in printed  # the fixture's checkpoint was used

    reviews = FeedbackStore(work / "feedback").reviews()
    assert len(reviews) == 1
    record = reviews[0]
    kinds = [action["kind"] for action in record.clicks_ras]
    assert kinds == ["click", "stroke"] and len(record.clicks_ras[1]["path"]) == 3
    assert record.reviewer == "demo_clinician" and record.after_path and record.checkpoint.endswith("medrl_demo.ckpt")

    dataset = json.loads((tiny_demo / "data" / "dataset.json").read_text(encoding="utf-8"))
    scan = nib.load(tiny_demo / "data" / dataset["test"][0]["image"])
    saved_paths = sorted(work.glob("case_*_reviewed_*.nii.gz"))
    assert len(saved_paths) == 1
    saved = nib.load(saved_paths[0])
    assert saved.shape == scan.shape and np.allclose(saved.affine, scan.affine, atol=1e-4)
    assert np.array_equal(np.asarray(saved.dataobj), np.asarray(nib.load(record.accepted_path).dataobj))
    corrections = np.asarray(nib.load(record.corrections_path).dataobj)
    assert (corrections == 2).sum() > 0  # the paint stroke's voxels at least

    assert "Dice with the truth after refinement" in printed and "demo_clinician" in printed
    widgets = [cell for cell in executed.cells if cell.cell_type == "code"
               and any(WIDGET_VIEW in output.get("data", {}) for output in cell.outputs)]
    assert len(widgets) == 2  # the demo review and "your turn"
