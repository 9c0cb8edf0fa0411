"""Data flows one way (docs/design.md): each package room imports only from the rooms upstream of it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import medrl

PACKAGE = Path(medrl.__file__).parent

# room -> rooms it must never import
FORBIDDEN = {
    "data": ("medrl.env", "medrl.agents", "medrl.training", "medrl.inference", "medrl.evaluation", "medrl.review", "medrl.feedback"),
    "env": ("medrl.agents", "medrl.training", "medrl.inference", "medrl.evaluation", "medrl.review"),
    "agents": ("medrl.models", "medrl.training", "medrl.inference", "medrl.evaluation", "medrl.review"),
    # networks and the checkpoint format: below training, inference and evaluation, which all read them
    "models": ("medrl.agents", "medrl.training", "medrl.inference", "medrl.evaluation", "medrl.review", "pytorch_lightning"),
    "training": ("medrl.inference", "medrl.evaluation", "medrl.review"),
    # (medrl.inference.batch runs `medrl predict` over many scans and GPUs with Lightning's Trainer.predict; the
    # Refiner itself loads without Lightning, test below)
    "inference": ("medrl.training", "medrl.evaluation", "medrl.review"),
    "evaluation": ("medrl.training", "medrl.review", "pytorch_lightning"),
    # the store sits beside data: the review widget writes it, training reads it back
    "feedback": ("medrl.env", "medrl.agents", "medrl.training", "medrl.inference", "medrl.evaluation", "medrl.review"),
}


def test_the_refiner_loads_without_lightning():
    """Inference is the package a clinic runs: it must not pull in the training stack."""
    code = "import sys, medrl.inference.refiner, medrl.evaluation.run; assert 'pytorch_lightning' not in sys.modules, 'Lightning imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("room", list(FORBIDDEN))
def test_room_imports_nothing_downstream(room):
    files = sorted((PACKAGE / room).glob("*.py"))
    assert len(files) > 1
    offending = {(path.name, module) for path in files for module in imported_modules(path) if module.startswith(FORBIDDEN[room])}
    assert offending == set()
