"""The review widget in a real browser (slow): scripts/browser_check.py runs the review notebook in
JupyterLab (and Jupyter Notebook 7 where installed) in headless Chromium, clicks the axial view, paints
one drag, presses Refine and Accept & save, and checks each on the page and in the kernel. Skips
cleanly where Chromium, Playwright or JupyterLab are not installed."""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.notebooks.conftest import tiny_demo  # noqa: F401 - the shared session fixture

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "browser_check.py"
MISSING = [what for what, absent in [
    ("Playwright (pip install playwright, or medrl[browser])", importlib.util.find_spec("playwright") is None),
    ("JupyterLab (pip install jupyterlab)", importlib.util.find_spec("jupyterlab") is None),
    ("Chromium (apt-get install -y chromium)", not (shutil.which("chromium") or Path("/usr/bin/chromium").is_file())),
] if absent]


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)}")
@pytest.mark.parametrize("ui", ["lab", pytest.param("notebook", marks=pytest.mark.skipif(
    importlib.util.find_spec("notebook") is None, reason="needs Jupyter Notebook 7 (pip install notebook)"))])
def test_a_click_and_a_drag_in_the_browser_reach_the_review_session(tiny_demo, tmp_path, ui):  # noqa: F811
    screenshot = tmp_path / "review_widget.png"
    result = subprocess.run([sys.executable, str(SCRIPT), str(screenshot), "--checkpoint", str(tiny_demo / "medrl_demo.ckpt"),
                             "--ui", ui], capture_output=True, encoding="utf-8", errors="replace", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert report["summary_before"].startswith("actions: 0")
    assert report["summary_after_click"].startswith("actions: 1 (1 click)")
    assert report["click"]["kind"] == "click" and report["click"]["foreground"] is True
    assert report["summary_after_drag"].startswith("actions: 2 (1 click, 1 stroke)")
    assert report["stroke_points"] >= 3 and report["stroke_radius_mm"] == 5.0
    assert report["status_after_refine"].startswith("refined in") and "0 not yet refined" in report["summary_after_refine"]
    assert report["status_after_accept"].startswith("accepted: review") and Path(report["saved_mask"]).name.endswith(".nii.gz")
    assert png_size(screenshot) == (1500, 1500)
