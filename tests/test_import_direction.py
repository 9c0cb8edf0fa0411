"""Data flows one way (DESIGN.md): each package room imports only from the rooms upstream of it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import medrl

PACKAGE = Path(medrl.__file__).parent

# room -> rooms it must never import
FORBIDDEN = {
    "data": ("medrl.env", "medrl.agents", "medrl.training", "medrl.inference", "medrl.evaluation", "medrl.review", "medrl.feedback"),
    "env": ("medrl.agents", "medrl.training", "medrl.inference", "medrl.evaluation", "medrl.review"),
    "agents": ("medrl.training", "medrl.inference", "medrl.evaluation", "medrl.review"),
    "training": ("medrl.inference", "medrl.evaluation", "medrl.review"),
    "inference": ("medrl.evaluation", "medrl.review"),
    # the store sits beside data: the review widget writes it, training reads it back
    "feedback": ("medrl.env", "medrl.agents", "medrl.training", "medrl.inference", "medrl.evaluation", "medrl.review"),
}


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
