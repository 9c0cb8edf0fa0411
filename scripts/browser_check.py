"""Check the review widget in a real browser: JupyterLab in headless Chromium.

    python scripts/browser_check.py review_widget.png [--checkpoint medrl_demo/medrl_demo.ckpt] [--ui notebook]

What it does, in a fresh temporary folder (nothing in the checkout changes):

1. without ``--checkpoint``, trains a tiny demo checkpoint (about 25 s on 2 CPU cores; its data too);
2. starts ``jupyter lab`` (``--ui notebook``: Jupyter Notebook 7) on a free localhost port with a
   random token, with a copy of ``notebooks/review_and_correct.ipynb``;
3. opens it in Debian's Chromium (``/usr/bin/chromium``, headless, a fresh profile) driven by
   Playwright, and runs all cells from the Run menu;
4. waits for the review widgets to render, then left-clicks the centre of the axial view of the last
   one ("your turn", in its default mode: positive click);
5. checks that the click registered, on the page (the widget's summary line goes from ``actions: 0``
   to ``actions: 1 (1 click)``) and in the kernel (the session holds one positive click);
6. presses the widget's "paint" button and drags across the axial view: the page must show
   ``actions: 2 (1 click, 1 stroke)`` and the kernel's session a stroke of several points;
7. presses "Refine" (the status line reports the agents' run, the summary ``0 not yet refined``) and
   saves a screenshot of the page with the widget at the given path;
8. presses "Accept & save": the review is recorded and the corrected mask written.

Exit status: 0 the check passed, 1 it failed (the reason on stderr, the page then in
``<screenshot>.failed.png``), 2 it could not run (no Chromium,
no Playwright, JupyterLab did not start). Needs ``pip install playwright jupyterlab ipympl ipywidgets``
and ``apt-get install chromium``; Playwright's own browser download is not used.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "review_and_correct.ipynb"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
LAB_SETTINGS = {  # quiet, deterministic JupyterLab: no news or update checks, every cell kept in the page
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
WIDGET_VARIABLE = "your_review"  # the notebook's last widget ("your turn")
UIS = {"lab": ("lab", "LabApp", "lab/tree/"), "notebook": ("notebook", "JupyterNotebookApp", "notebooks/")}  # command, app, URL


class CheckFailed(Exception):
    """The widget did not behave as expected (exit status 1)."""


class CannotRun(Exception):
    """The check cannot run on this machine (exit status 2)."""


# ------------------------------------------------------------------------------- set-up
def find_chromium(given: str | None) -> str:
    """Path of the Chromium executable to drive."""
    path = given or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        raise CannotRun(f"{path}: no Chromium here; install Debian's package: apt-get install -y chromium")
    return path


def tiny_checkpoint(folder: Path) -> Path:
    """Train a tiny demo checkpoint (and write its data) in ``folder``."""
    from medrl.demo import DemoSettings, _quiet_lightning, train

    _quiet_lightning()
    print("training a tiny demo checkpoint (about 25 s) ...", flush=True)
    return train(folder, DemoSettings(segmenter_steps=3, refiner_steps=3, warm_start_steps=2, cases=(4, 1, 2),
                                      channels=(4, 8, 16), max_minutes=2.0))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_lab_settings(folder: Path) -> Path:
    for name, values in LAB_SETTINGS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


def start_lab(workspace: Path, port: int, token: str, env: dict, ui: str = "lab") -> subprocess.Popen:
    """``jupyter lab`` (or ``jupyter notebook``) serving ``workspace`` on 127.0.0.1:``port``; its log goes
    to ``workspace/lab.log``."""
    name, app, _ = UIS[ui]
    command = [sys.executable, "-m", "jupyter", name, "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workspace}",
               f"--{app}.user_settings_dir={write_lab_settings(workspace / 'lab-settings')}",
               f"--{app}.workspaces_dir={workspace / 'lab-workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI often run as root; the server listens on localhost only
    log = open(workspace / "lab.log", "w")
    return subprocess.Popen(command, cwd=workspace, env=env, stdout=log, stderr=subprocess.STDOUT)


def api(port: int, token: str, path: str, method: str = "GET"):
    """JSON answer of the Jupyter server's REST API."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/{path}", method=method,
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read()
    return json.loads(body) if body else None


def wait_for_lab(lab: subprocess.Popen, port: int, token: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if lab.poll() is not None:
            raise CannotRun(f"jupyter lab exited with status {lab.returncode}; see its log")
        try:
            api(port, token, "status")
            return
        except OSError:
            time.sleep(0.5)
    raise CannotRun(f"jupyter lab did not answer on port {port} within {seconds:.0f} s")


def stop_lab(lab: subprocess.Popen, port: int, token: str) -> None:
    """Shut the server (and its kernels) down, politely first."""
    try:
        api(port, token, "shutdown", method="POST")
        lab.wait(timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        lab.terminate()
        try:
            lab.wait(timeout=10)
        except subprocess.TimeoutExpired:
            lab.kill()


# ------------------------------------------------------------------------------- kernel
def kernel_client(workspace: Path, port: int, token: str):
    """A second client of the notebook's kernel (through its connection file), to look inside it."""
    from jupyter_client import BlockingKernelClient

    sessions = api(port, token, "sessions")
    if len(sessions) != 1:
        raise CheckFailed(f"expected one notebook kernel, found {len(sessions)}")
    connection = workspace / "runtime" / f"kernel-{sessions[0]['kernel']['id']}.json"
    client = BlockingKernelClient(connection_file=str(connection))
    client.load_connection_file()
    client.start_channels()
    return client


def kernel_value(client, expression: str):
    """The JSON value of ``expression`` evaluated in the kernel."""
    printed: list[str] = []
    reply = client.execute_interactive(f"import json as _json; print(_json.dumps({expression}))", timeout=60,
                                       output_hook=lambda message: _collect(message, printed), store_history=False)
    if reply["content"]["status"] != "ok":
        raise CheckFailed(f"the kernel could not evaluate {expression}: {reply['content'].get('evalue')}")
    return json.loads("".join(printed))


def _collect(message, printed: list) -> None:
    if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
        printed.append(message["content"]["text"])


# --------------------------------------------------------------------------------- page
def wait_for_one_idle_kernel(port: int, token: str, seconds: float = 120) -> None:
    """Wait until the server runs exactly one kernel, idle for 3 s in a row. (On first load JupyterLab
    may start a second kernel and shut the first down; cells sent during that switch can be lost.)"""
    deadline, calm = time.monotonic() + seconds, 0
    while time.monotonic() < deadline and calm < 3:
        kernels = api(port, token, "kernels")
        calm = calm + 1 if len(kernels) == 1 and kernels[0]["execution_state"] == "idle" else 0
        time.sleep(1.0)
    if calm < 3:
        raise CheckFailed(f"the notebook's kernel did not settle within {seconds:.0f} s")


def run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()


def run_all_cells(page, port: int, token: str, seconds: float) -> None:
    """Run every cell from JupyterLab's Run menu and wait until the last cell has run. If the kernel
    sits idle with cells still unrun for 20 s (a lost request), Run All is pressed once more."""
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    wait_for_one_idle_kernel(port, token)
    time.sleep(2.0)  # the page connects to the settled kernel
    run_all(page)
    deadline, stalled, retried = time.monotonic() + seconds, 0.0, False
    while time.monotonic() < deadline:
        prompts = [p.strip() for p in page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()]
        if prompts and all(p not in ("[ ]:", "[*]:", "") for p in prompts):
            return
        idle = "[*]:" not in prompts and api(port, token, "kernels")[0]["execution_state"] == "idle"
        stalled = stalled + 1.0 if idle else 0.0
        if stalled >= 20 and not retried:
            print("browser check: the kernel sits idle with cells unrun; pressing Run All again", file=sys.stderr)
            run_all(page)
            stalled, retried = 0.0, True
        time.sleep(1.0)
    raise CheckFailed(f"the notebook did not finish running within {seconds:.0f} s; prompts: {prompts}")


def check_no_errors(page) -> None:
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", has_text="Traceback")
    if errors.count():
        raise CheckFailed("a cell raised: " + errors.first.inner_text()[-800:])


def last_widget(page):
    """The last review widget's canvas element, scrolled into view, once it has rendered."""
    canvases = page.locator(".jupyter-matplotlib-canvas-div")
    page.wait_for_function("document.querySelectorAll('.jupyter-matplotlib-canvas-div').length >= 2", timeout=60_000)
    canvas = canvases.last
    canvas.scroll_into_view_if_needed()
    time.sleep(2.0)  # the first frame of the figure arrives from the kernel
    return canvas


def summary_text(page) -> str:
    """The last widget's summary line (``actions: ...``) as shown on the page."""
    texts = page.locator(".widget-label", has_text="actions:").all_inner_texts()
    return texts[-1] if texts else ""


def page_point(canvas, box, fx: float, fy: float) -> tuple[float, float]:
    """Page pixel at fractions (``fx``, ``fy``) across a view's ``box`` (from :meth:`ReviewWidget.view_box`)."""
    left, top, width, height = box
    bounds = canvas.bounding_box()
    return bounds["x"] + (left + fx * width) * bounds["width"], bounds["y"] + (top + fy * height) * bounds["height"]


def click_at(page, xy) -> None:
    page.mouse.move(*xy)
    page.mouse.down()
    page.mouse.up()


def drag(page, start, end, steps: int = 12) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def wait_for_summary(page, prefix: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (text := summary_text(page)).startswith(prefix):
            return text
        time.sleep(0.5)
    raise CheckFailed(f"the summary line did not change to {prefix!r}; it reads {summary_text(page)!r}")


# --------------------------------------------------------------------------------- main
def check(screenshot: Path, chromium: str, checkpoint: Path | None, data: Path | None, workspace: Path, ui: str = "lab") -> dict:
    from playwright.sync_api import sync_playwright

    if checkpoint is not None and not checkpoint.is_file():
        raise CannotRun(f"{checkpoint}: no such checkpoint")
    checkpoint = checkpoint or tiny_checkpoint(workspace / "demo")
    shutil.copy(NOTEBOOK, workspace / NOTEBOOK.name)
    data = (data or checkpoint.parent / "data").resolve()
    env = {**os.environ, "MEDRL_CHECKPOINT": str(checkpoint.resolve()), "MEDRL_DEMO_DATA": str(data),
           "MEDRL_REVIEW_WORK": str(workspace / "review_work"), "JUPYTER_RUNTIME_DIR": str(workspace / "runtime"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    port, token = free_port(), secrets.token_hex(16)
    lab = start_lab(workspace, port, token, env, ui)
    try:
        wait_for_lab(lab, port, token)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(workspace / "chromium-profile"), executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1500, "height": 1500})
            page = browser.new_page()
            try:
                return _interact(page, f"http://127.0.0.1:{port}/{UIS[ui][2]}{NOTEBOOK.name}?token={token}", screenshot,
                                 workspace, port, token)
            except CheckFailed:
                page.screenshot(path=str(screenshot.with_suffix(".failed.png")))  # what the page showed
                raise
            finally:
                browser.close()
    finally:
        stop_lab(lab, port, token)


def _interact(page, url: str, screenshot: Path, workspace: Path, port: int, token: str) -> dict:
    page.goto(url)
    run_all_cells(page, port, token, seconds=float(os.environ.get("MEDRL_BROWSER_CHECK_SECONDS", 600)))
    check_no_errors(page)
    canvas = last_widget(page)
    report = {"summary_before": wait_for_summary(page, "actions: 0")}
    client = kernel_client(workspace, port, token)
    try:
        report.update(_click_then_paint(page, canvas, client))
        report.update(_refine(page, client))
        time.sleep(1.5)  # the redrawn frame with the refined mask
        _show_last_widget(page)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot))
        report.update(_accept(page, client))
    finally:
        client.stop_channels()
    return {**report, "screenshot": str(screenshot)}


def press(page, label: str) -> None:
    """Click the last widget's button called ``label``."""
    page.locator("button.jupyter-button", has_text=label).last.click()


def _refine(page, client) -> dict:
    """Press Refine: the agents run (status line), and the session counts every action as refined."""
    press(page, "Refine")
    status = wait_for_text(page, "refined in")
    summary = wait_for_summary(page, "actions: 2 (1 click, 1 stroke) · 0 not yet refined")
    if kernel_value(client, f"{WIDGET_VARIABLE}.session.refined_upto") != 2:
        raise CheckFailed("after Refine the kernel's session has not refined both actions")
    return {"status_after_refine": status, "summary_after_refine": summary}


def _accept(page, client) -> dict:
    """Press Accept & save: the review is recorded and the mask written where "save to" says."""
    press(page, "Accept & save")
    status = wait_for_text(page, "accepted: review")
    saved = kernel_value(client, f"str({WIDGET_VARIABLE}.session.saved_to)")
    if not Path(saved).is_file() or kernel_value(client, f"{WIDGET_VARIABLE}.session.record is not None") is not True:
        raise CheckFailed(f"after Accept & save there is no record or no mask at {saved}")
    return {"status_after_accept": status, "saved_mask": saved}


def wait_for_text(page, prefix: str, seconds: float = 120) -> str:
    """The text of the last widget label starting with ``prefix``, once there is one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        texts = [t for t in page.locator(".widget-label").all_text_contents() if t.startswith(prefix)]
        if texts:
            return texts[-1]
        time.sleep(0.5)
    raise CheckFailed(f"no line starting {prefix!r} appeared within {seconds:.0f} s")


def _click_then_paint(page, canvas, client) -> dict:
    """One positive click at the axial view's centre, then (paint mode) one drag below it; each is
    checked on the page and in the kernel."""
    actions = f"[a.as_dict() | {{'kind': a.kind}} for a in {WIDGET_VARIABLE}.session.actions]"
    if kernel_value(client, f"{WIDGET_VARIABLE}.mode.value") != "positive":
        raise CheckFailed("the widget is not in positive-click mode")
    box = kernel_value(client, f"{WIDGET_VARIABLE}.view_box('axial')")
    click_at(page, page_point(canvas, box, 0.5, 0.5))
    after_click = wait_for_summary(page, "actions: 1 (1 click)")
    clicked = kernel_value(client, actions)
    if len(clicked) != 1 or clicked[0]["kind"] != "click" or not clicked[0]["foreground"]:
        raise CheckFailed(f"after the click the kernel's session holds {clicked}, not one positive click")

    page.locator(".widget-toggle-button", has_text="paint").last.click()
    wait_for_kernel(client, f"{WIDGET_VARIABLE}.mode.value", "paint")
    drag(page, page_point(canvas, box, 0.25, 0.75), page_point(canvas, box, 0.75, 0.75))
    after_drag = wait_for_summary(page, "actions: 2 (1 click, 1 stroke)")
    painted = kernel_value(client, actions)
    if len(painted) != 2 or painted[1]["kind"] != "stroke" or len(painted[1]["path"]) < 3:
        raise CheckFailed(f"after the drag the kernel's session holds {painted}, not a click and a stroke")
    return {"summary_after_click": after_click, "summary_after_drag": after_drag, "click": clicked[0],
            "stroke_points": len(painted[1]["path"]), "stroke_radius_mm": painted[1]["radius_mm"]}


def wait_for_kernel(client, expression: str, value, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if kernel_value(client, expression) == value:
            return
        time.sleep(0.5)
    raise CheckFailed(f"{expression} did not become {value!r} in the kernel")


def _show_last_widget(page) -> None:
    """Scroll so the last cell and its widget fill the view (no sideways scroll)."""
    page.locator(".jp-CodeCell").last.scroll_into_view_if_needed()
    page.locator(".jp-CodeCell .jp-InputArea").last.evaluate("element => element.scrollIntoView({block: 'start'})")
    page.evaluate("document.querySelectorAll('.jp-OutputArea-output').forEach(element => { element.scrollLeft = 0; })")
    time.sleep(0.5)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Check the review widget in JupyterLab in headless Chromium.")
    parser.add_argument("screenshot", type=Path, help="where to write the screenshot (PNG)")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint for the notebook (default: train a tiny one)")
    parser.add_argument("--data", type=Path, help="demo data folder (default: data/ beside the checkpoint)")
    parser.add_argument("--chromium", help="Chromium executable (default: chromium on PATH, /usr/bin/chromium)")
    parser.add_argument("--ui", choices=sorted(UIS), default="lab", help="JupyterLab (default) or Jupyter Notebook 7")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (JupyterLab's log) and print it")
    args = parser.parse_args(argv)
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("browser check: cannot run: Playwright is not installed (pip install playwright)", file=sys.stderr)
        return 2
    workspace = Path(tempfile.mkdtemp(prefix="medrl-browser-check-"))
    try:
        result = check(args.screenshot.resolve(), find_chromium(args.chromium), args.checkpoint, args.data, workspace,
                       args.ui)
    except CannotRun as problem:
        print(f"browser check: cannot run: {problem}", file=sys.stderr)
        return 2
    except CheckFailed as problem:
        print(f"browser check: FAILED: {problem}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"browser check: temporary folder kept: {workspace}", file=sys.stderr)
        else:
            shutil.rmtree(workspace, ignore_errors=True)
    print(json.dumps(result, indent=1))
    print("browser check: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
