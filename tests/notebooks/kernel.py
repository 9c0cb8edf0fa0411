"""Run a notebook headless with nbclient, in a kernel of this very Python (the test's venv)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat

KERNEL_NAME = "medrl-test-python"


def _kernel_manager(folder: Path):
    """A kernel manager whose only kernel runs ``sys.executable -m ipykernel_launcher``."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "medrl test kernel", "language": "python"}))
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder / "kernels")]))


def run_notebook(path: Path, cwd: Path, env: dict, cell_timeout: float = 180) -> nbformat.NotebookNode:
    """Execute every cell of the notebook at ``path`` in ``cwd`` with ``env`` added to this process'
    environment; return the executed notebook (the file itself is not changed).

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised (the message shows the cell and the traceback).
    """
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, km=_kernel_manager(cwd / ".kernel"), timeout=cell_timeout,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env={**os.environ, **env})
    return notebook


def text_of(cell) -> str:
    """Everything a code cell printed (stdout and stderr streams), as one string."""
    return "".join(output.get("text", "") for output in cell.get("outputs", []) if output.get("output_type") == "stream")
