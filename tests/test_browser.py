"""Every lesson notebook as a student runs it: JupyterLab in Debian's Chromium, driven by Playwright.

One JupyterLab (the pinned version, its default settings: its own empty settings folder) serves a
throwaway copy of the repository (tests/tools/repo_copy.py) on a free loopback port. For each lesson
notebook, in the system Chromium (Playwright's ``executable_path``: no browser is downloaded):

1. open it and save it at once (File > Save): ``git status`` of the copy stays empty, so the real front
   end's round trip changes nothing;
2. *Kernel > Restart Kernel and Run All Cells*, wait until no cell is queued and the kernel is idle, save,
   and fail on any error output, naming the cell, with a screenshot of it in the test's temporary folder;
   ``git status`` then shows only that notebook, with the same cells and metadata (only outputs differ);
3. where the notebook shows the playground: screenshots at 1,000 px (file browser open) and 1,400 px,
   every part of it inside the output area, then Play moves the epoch counter.

Skipped, with the reason, without Chromium (``apt-get install chromium``) or Playwright.
Marker ``browser``: deselect with ``-m "not browser"``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from tests import lesson
from tests.kernel_env import kernel_env
from tests.tools.repo_copy import copy_repo, git_status

pytestmark = pytest.mark.browser
HOST = "127.0.0.1"  # JupyterLab and the browser talk over loopback only
RUN_TIMEOUT_MS = 600_000  # a whole notebook, on a busy machine
PLAYGROUND = ".lesson-playground"  # the class helper_functions.playground puts on its widget


def _chromium() -> str | None:
    """Path of the system Chromium, or None."""
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(repository copy, base URL, token, Playwright browser) for one JupyterLab and one Chromium."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    base_dir = tmp_path_factory.mktemp("browser")
    repo = copy_repo(base_dir / "lesson")
    env = kernel_env(root=repo)
    env.pop(lesson.WORKING_COPY_ENV, None)
    # Fresh user folders: JupyterLab's defaults, nothing from this machine's own settings.
    for var, folder in [("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                        ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_CONFIG_DIR", "config"),
                        ("IPYTHONDIR", "ipython")]:
        env[var] = str(base_dir / folder)
    port, token = _free_port(), secrets.token_hex(16)
    log_path = base_dir / "jupyterlab.log"
    log = open(log_path, "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.ip={HOST}", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={repo}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; log:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        with sync_api.sync_playwright() as playwright:
            # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                yield repo, base, token, browser
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _save(page, path) -> None:
    """File > Save Notebook, then wait until the file on disk was written."""
    before = path.stat().st_mtime_ns
    _menu(page, "File", "Save Notebook")
    deadline = time.monotonic() + 60
    while path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            page.screenshot(path=str(path.parent / "save-failed.png"))
            pytest.fail(f"saving {path.name} did not write the file (screenshot: {path.parent / 'save-failed.png'})")
        page.wait_for_timeout(200)
    page.wait_for_timeout(300)  # the write has finished


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _run_all(page) -> float:
    """Kernel > Restart Kernel and Run All Cells; wait until nothing is queued or running -> seconds."""
    start = time.monotonic()
    _menu(page, "Kernel", "Restart Kernel and Run All Cells")
    page.locator(".jp-Dialog .jp-mod-accept").click()  # "Restart"
    queued = page.locator(".jp-Notebook .jp-InputPrompt", has_text="[*]")
    queued.first.wait_for(timeout=60_000)
    page.wait_for_function(
        """() => !Array.from(document.querySelectorAll('.jp-Notebook .jp-InputPrompt'))
                    .some(p => p.textContent.includes('[*]'))
              && document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']") !== null""",
        timeout=RUN_TIMEOUT_MS, polling=500)
    return time.monotonic() - start


def _without_python_version(nb: dict) -> dict:
    """The notebook without ``language_info.version`` (the Python it last ran on, which CI may not have)."""
    nb = json.loads(json.dumps(nb))
    nb["metadata"].get("language_info", {}).pop("version", None)
    return nb


def _lesson_part(nb: dict) -> dict:
    """What a run may not change: the cells' types, sources and metadata, and the notebook's metadata."""
    nb = _without_python_version(nb)
    return {"metadata": nb["metadata"],
            "cells": [(c["cell_type"], c.get("id"), c["source"], c["metadata"]) for c in nb["cells"]]}


def _diff(repo) -> str:
    return subprocess.run(["git", "diff", "--stat", "-p"], cwd=repo, capture_output=True, text=True).stdout[:3000]


def _errors(nb) -> list[tuple[int, str]]:
    """(cell index, "ename: evalue" and the failing line) of every error output."""
    errors = []
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                trace = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in o.get("traceback", [])]
                where = [line.strip() for text in trace for line in text.splitlines() if line.startswith("---->")]
                errors.append((i, f"{o.get('ename')}: {o.get('evalue')} at {where[-1:] or trace[-1:]}"))
    return errors


def _no_news(page) -> None:
    """Answer JupyterLab's "news?" notification, as a student would, so that it covers nothing."""
    no = page.get_by_role("button", name="No", exact=True)
    if no.count():
        no.first.click()


def _outside(page, area) -> list[str]:
    """Parts of the playground whose box is not inside ``area``'s box (clipped or scrolled away)."""
    return page.evaluate(
        """([selector, area]) => {
            const box = area.getBoundingClientRect(), bad = [];
            for (const el of document.querySelectorAll(selector + ' *')) {
                const r = el.getBoundingClientRect();
                if (r.width === 0 || r.height === 0) continue;
                if (r.left < box.left - 1 || r.right > box.right + 1)
                    bad.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.slice(0, 30)}" `
                             + `x ${Math.round(r.left)}-${Math.round(r.right)} outside ${Math.round(box.left)}`
                             + `-${Math.round(box.right)}`);
            }
            if (area.scrollWidth > area.clientWidth + 1) bad.push(`the output area scrolls sideways`);
            return bad;
        }""", [PLAYGROUND, area.element_handle()])


def _epoch(counter) -> int:
    match = re.search(r"epoch (\d+)", counter.inner_text())
    return int(match.group(1)) if match else -1


def _check_playground(page, folder) -> str:
    """Screenshots at two widths, every part inside the output area, then Play moves the counter."""
    widget = page.locator(PLAYGROUND).first
    area = page.locator(".jp-OutputArea-output", has=widget).first
    widget.wait_for(timeout=60_000)
    if not page.locator("#filebrowser").is_visible():  # the student's laptop: file browser open
        page.locator(".jp-SideBar [data-id='filebrowser']").click()
    _no_news(page)
    notes = []
    for width in (1000, 1400):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(800)  # the layout settles
        widget.scroll_into_view_if_needed()
        page.screenshot(path=str(folder / f"playground-{width}px.png"))
        bad = _outside(page, area)
        assert not bad, f"at {width} px the playground does not fit its output area: {bad[:5]}"
        notes.append(f"{width} px: fits ({round(area.bounding_box()['width'])} px output area)")
    counter = widget.locator(".widget-html-content", has_text="epoch").first
    start = _epoch(counter)
    widget.get_by_role("button", name="Play").click()
    deadline = time.monotonic() + 90
    while _epoch(counter) < start + 20 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    widget.get_by_role("button", name="Pause").click()
    reached = _epoch(counter)
    page.screenshot(path=str(folder / "playground-played.png"))
    assert reached >= start + 20, f"Play moved the epoch counter from {start} only to {reached}"
    return "; ".join(notes) + f"; Play: epoch {start} -> {reached}"


@pytest.mark.parametrize("name", lesson.NOTEBOOKS)
def test_run_all_in_jupyterlab(lab, name, tmp_path):
    repo, base, token, browser = lab
    path = repo / name
    committed = json.loads(path.read_text(encoding="utf-8"))
    other_python = committed["metadata"].get("language_info", {}).get("version") != platform.python_version()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/lab/tree/{name}?token={token}", timeout=120_000)
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=180_000)
        _save(page, path)
        saved = json.loads(path.read_text(encoding="utf-8"))
        assert git_status(repo) == "" or (
            other_python and _without_python_version(saved) == _without_python_version(committed)), (
            f"opening {name} in JupyterLab and saving it changed it:\n{_diff(repo)}")

        seconds = _run_all(page)
        _save(page, path)
        nb = nbformat.read(path, as_version=4)
        errors = _errors(nb)
        if errors:
            index, error = errors[0]
            _no_news(page)
            cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
            shown = cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").last
            (shown if shown.count() else cell).scroll_into_view_if_needed()
            (shown if shown.count() else cell).screenshot(path=str(tmp_path / "first-failing-cell.png"))
            source = nb.cells[index].source.splitlines()[:1]
            pytest.fail(f"Run All in JupyterLab: {name}, cell {index} ({source}): {error}; "
                        f"{len(errors)} error output(s); screenshot: {tmp_path / 'first-failing-cell.png'}")
        status = git_status(repo).splitlines()
        assert status in ([], [f" M {name}"]), f"running and saving {name} changed other files: {status}"
        assert _lesson_part(json.loads(path.read_text())) == _lesson_part(committed), (
            f"running and saving {name} in JupyterLab changed its cells or metadata, not only its outputs")
        report = f"{name}: Run All {seconds:.0f} s"
        if any("playground(" in cell.source for cell in nb.cells if cell.cell_type == "code"):
            report += "; " + _check_playground(page, tmp_path)
        print(report)
    finally:
        page.close()
        subprocess.run(["git", "checkout", "-q", "--", name], cwd=repo, check=True)
        with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=30) as reply:
            sessions = json.loads(reply.read())
        for session in sessions:  # shut the kernel down: one runs at a time
            urllib.request.urlopen(urllib.request.Request(
                f"{base}/api/sessions/{session['id']}?token={token}", method="DELETE"), timeout=30).close()
