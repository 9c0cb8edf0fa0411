"""notebooks/train_quickstart.ipynb runs headless from top to bottom with a tiny budget: segmenter, agents,
evaluation, prediction, scripted reviews and fine-tuning, each leaving its files."""

from __future__ import annotations

import json
from pathlib import Path

from medrl.feedback.store import FeedbackStore
from medrl.inference.refiner import Refiner
from medrl.models.checkpoint import read_checkpoint
from tests.notebooks.conftest import notebook_environment
from tests.notebooks.kernel import run_notebook, text_of

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "train_quickstart.ipynb"


def test_quickstart_notebook_trains_evaluates_predicts_and_finetunes(tiny_demo, tmp_path):
    work = tmp_path / "work"
    env = {**notebook_environment(tiny_demo, tmp_path / "unused"), "MEDRL_QUICKSTART_WORK": str(work),
           "MEDRL_QUICKSTART_STEPS": "3,3"}
    executed = run_notebook(NOTEBOOK, tmp_path, env)
    printed = "\n".join(text_of(cell) for cell in executed.cells if cell.cell_type == "code")
    assert "segmenter: 3 steps" in printed and "agents: 3 steps" in printed
    assert Refiner.from_checkpoint(work / "agents.ckpt").policy is not None
    for folder in ("evaluation", "evaluation_finetuned"):
        summary = json.loads((work / folder / "summary.json").read_text(encoding="utf-8"))
        assert summary and (work / folder / "dice_vs_clicks.png").is_file()
    assert len(FeedbackStore(work / "feedback").reviews()) == 2
    assert read_checkpoint(work / "agents_finetuned.ckpt")["global_step"] == 2
    images = [output for cell in executed.cells if cell.cell_type == "code" for output in cell.outputs
              if "image/png" in output.get("data", {})]
    assert len(images) >= 3  # training curve, evaluation plot, prediction
