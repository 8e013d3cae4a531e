"""The playground in a real browser: JupyterLab + Debian's Chromium, driven by Playwright.

Starts JupyterLab on a free loopback port with a token, in a temporary folder
holding a one-cell notebook that shows the playground (a copy of the
repository's ``helper_functions.py`` is importable via ``PYTHONPATH``), opens
it in the system Chromium (Playwright's ``executable_path``: Playwright never
downloads a browser here), runs the cell, clicks ▶ Play, waits, and checks
that the epoch counter advanced and the figure's image changed. A screenshot
is saved in the test's temporary folder. JupyterLab is shut down afterwards.

Skipped, with the reason, where there is no Chromium (``apt-get install
chromium chromium-driver``) or no Playwright (``pip install playwright``).
Marker ``browser``: deselect with ``-m "not browser"``.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.kernel_env import kernel_env

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.browser

CELL = 'from helper_functions import playground\n\nui = playground(dataset="xor", hidden_layers=(4,))\nui'


def _chromium() -> str | None:
    """Path of the system Chromium, or None."""
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


HOST = "127.0.0.1"  # JupyterLab and the browser talk over loopback only


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _write_notebook(folder: pathlib.Path) -> str:
    """A one-cell notebook that shows the playground -> its file name."""
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "playground", "metadata": {},
                   "outputs": [], "source": CELL}],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (folder / "playground_check.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return "playground_check.ipynb"


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server in ``tmp_path/notebooks`` -> (base URL, token); shut down afterwards."""
    notebooks, lib, settings = tmp_path / "notebooks", tmp_path / "lib", tmp_path / "lab-settings"
    for folder in (notebooks, lib, settings / "@jupyterlab" / "apputils-extension"):
        folder.mkdir(parents=True)
    shutil.copy(ROOT / "helper_functions.py", lib / "helper_functions.py")
    # No "news" question popping up over the notebook.
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}', encoding="utf-8")
    env = kernel_env()
    env.update(PYTHONPATH=str(lib), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp_path / "jupyterlab.log", "w")  # closed in the finaliser below
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.ip={HOST}", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--allow-root", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={notebooks}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start; log:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token, notebooks
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _epoch(counter) -> int:
    """The number in the widget's "epoch N" counter."""
    match = re.search(r"epoch (\d+)", counter.inner_text())
    return int(match.group(1)) if match else -1


def _dismiss_dialogs(page) -> list[str]:
    """Close any modal JupyterLab dialog that would block the clicks (Escape = its Cancel); return their texts."""
    texts = []
    dialogs = page.locator(".jp-Dialog")
    for _ in range(5):
        if dialogs.count() == 0:
            break
        texts.append(dialogs.first.inner_text()[:300])
        page.keyboard.press("Escape")
        page.wait_for_timeout(500)
    return texts


def _run_first_cell(page, sync_api) -> None:
    """Run the notebook's first cell from the toolbar; try again if its prompt doesn't show it running."""
    prompt = page.locator(".jp-Cell .jp-InputPrompt").first
    dismissed = []
    for _ in range(3):
        dismissed += _dismiss_dialogs(page)
        page.locator(".jp-Cell .jp-InputArea-editor").first.click(timeout=60_000)
        page.locator("[data-command='notebook:run-cell-and-select-next']").first.click()
        try:
            prompt.filter(has_text=re.compile(r"\[(\*|\d+)\]")).wait_for(timeout=20_000)
            return
        except sync_api.TimeoutError:
            continue
    pytest.fail(f"the cell did not start running; its prompt reads {prompt.inner_text()!r}; "
                f"dialogs closed: {dismissed}")


@pytest.fixture
def chromium():
    """(path of the system Chromium, playwright.sync_api); skips the test, saying why, without them."""
    path = _chromium()
    if path is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    return path, sync_api


def test_playground_plays_in_jupyterlab(chromium, jupyterlab, tmp_path):
    chromium, sync_api = chromium
    base, token, notebooks = jupyterlab
    name = _write_notebook(notebooks)
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1100})
            page.goto(f"{base}/lab/tree/{name}?token={token}", timeout=120_000)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)
            _run_first_cell(page, sync_api)
            image = page.locator("img.widget-image").first
            image.wait_for(timeout=300_000)  # the kernel imports torch, sklearn, matplotlib: slow on a busy machine
            counter = page.locator(".widget-html-content", has_text="epoch").first
            counter.wait_for(timeout=30_000)
            assert _epoch(counter) == 0
            before = image.screenshot()
            page.get_by_role("button", name="▶ Play").click()
            deadline = time.monotonic() + 90
            while _epoch(counter) < 20 and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            page.get_by_role("button", name="⏸ Pause").click()
            page.wait_for_timeout(500)  # the last frame arrives
            epochs = _epoch(counter)
            after = image.screenshot()
            page.get_by_role("button", name="▶ Play").scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "playground.png"))
        finally:
            browser.close()
    assert epochs >= 20, f"the epoch counter reached only {epochs} (screenshot: {tmp_path / 'playground.png'})"
    assert after != before, "the figure's image did not change while playing"
