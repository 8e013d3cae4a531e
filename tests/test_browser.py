"""Every lesson notebook as a student runs it: JupyterLab in Debian's Chromium, driven by Playwright.

One JupyterLab (pinned, default settings) serves a throwaway copy of the repository (tests/tools/repo_copy.py) on a
loopback port. For each lesson notebook, in the system Chromium (Playwright's ``executable_path``: nothing downloaded):
1. open and save it (File > Save Notebook): ``git status`` of the copy stays empty;
2. *Kernel > Restart Kernel and Run All Cells*, wait until the kernel is idle with no cell queued, save, and fail on
   any error output, naming the cell, with a screenshot in the test's temporary folder; then ``git status`` shows
   only that notebook, with the same cells and metadata;
3. where it shows the playground: screenshots at 1,000 px (file browser open) and 1,400 px, every part inside the
   output area, then Play moves the epoch counter.
Skipped, with the reason, without Chromium or Playwright. Deselect with ``-m "not browser"``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import time

import nbformat
import pytest

from tests import lesson
from tests.kernel_env import kernel_env
from tests.tools.jupyterlab_save import JupyterServer
from tests.tools.repo_copy import copy_repo, git_status

pytestmark = pytest.mark.browser
HOST = "127.0.0.1"  # JupyterLab (tests/tools/jupyterlab_save.py) and the browser talk over loopback only
PLAYGROUND = ".lesson-playground"  # the class helper_functions.playground puts on its widget


@contextlib.contextmanager
def system_chromium():
    """The system Chromium (``$CHROMIUM`` first) driven by Playwright, for this and the site's test; skips without."""
    chromium = next(filter(None, map(shutil.which, [os.environ.get("CHROMIUM", "chromium"), "chromium"])), None)
    if chromium is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(repository copy, JupyterServer serving it, Chromium driven by Playwright)."""
    repo = copy_repo(tmp_path_factory.mktemp("browser") / "lesson")
    env = {k: v for k, v in kernel_env(root=repo).items() if k in ("PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    with system_chromium() as browser, JupyterServer(repo, startup_timeout=180, env=env) as server:
        yield repo, server, browser


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _save(page, path) -> dict:
    """File > Save Notebook; wait until the file is written -> the saved notebook. JupyterLab disables
    saving a notebook that has not changed since it was opened: then the file stays as it is."""
    before = path.stat().st_mtime_ns
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^File$")).click()
    item = page.locator(".lm-Menu-item", has=page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Save Notebook$")))
    if "lm-mod-disabled" in (item.get_attribute("class") or ""):
        page.keyboard.press("Escape")
        return json.loads(path.read_text(encoding="utf-8"))
    item.click()
    deadline = time.monotonic() + 60
    while path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            page.screenshot(path=str(path.parent.parent / "not-saved.png"))
            pytest.fail(f"File > Save Notebook did not write {path.name} ({path.parent.parent / 'not-saved.png'})")
        page.wait_for_timeout(200)
    page.wait_for_timeout(300)  # the write has finished
    return json.loads(path.read_text(encoding="utf-8"))


PROMPTS = """() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
    return {queued: prompts.some(p => p.includes('*')), ran: prompts.filter(p => /\\d/.test(p)).length,
            cells: prompts.length,
            idle: !!document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']")};
}"""  # the prompts of every code cell, on screen or not: [ ] not run, [*] queued or running, [3] ran


def _run_all(page) -> tuple[float, dict]:
    """Clear the outputs (so that a cell that never runs shows it), Kernel > Restart Kernel and Run All Cells,
    and wait until no cell is queued or running and the kernel is idle -> (seconds, the prompts' state)."""
    _menu(page, "Edit", "Clear Outputs of All Cells")
    start, settled = time.monotonic(), 0
    _menu(page, "Kernel", "Restart Kernel and Run All Cells")
    page.locator(".jp-Dialog .jp-mod-accept").click()  # "Restart"
    while settled < 3:  # three looks in a row, half a second apart
        state = page.evaluate(PROMPTS)
        settled = settled + 1 if state["ran"] and state["idle"] and not state["queued"] else 0
        assert time.monotonic() - start < 600, f"Run All did not finish in 600 s: {state}"
        page.wait_for_timeout(500)
    return time.monotonic() - start, state


def _lesson_part(nb: dict) -> dict:
    """What running a notebook may not change: cell types, ids, sources and metadata; the notebook's metadata
    (``language_info.version`` aside: it is the Python that ran it last)."""
    nb = json.loads(json.dumps(nb))
    nb["metadata"].get("language_info", {}).pop("version", None)
    return {"metadata": nb["metadata"], "cells": [[c[k] for k in ("cell_type", "id", "source", "metadata")]
                                                  for c in nb["cells"]]}


def _errors(nb) -> list[tuple[int, str]]:
    """(cell index, "ename: evalue at the failing line") of every error output."""
    errors = []
    for i, cell in enumerate(nb.cells):
        for out in [o for o in cell.get("outputs", []) if o.output_type == "error"]:
            trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(out.traceback)).splitlines()
            where = [line.strip() for line in trace if line.startswith("---->")][-1:]
            errors.append((i, f"{out.ename}: {out.evalue} at {where}"))
    return errors


def _no_news(page) -> None:
    """Answer JupyterLab's "news?" notification, as a student would, so that it covers nothing."""
    if page.get_by_role("button", name="No", exact=True).count():
        page.get_by_role("button", name="No", exact=True).first.click()


def _outside(page, area) -> list[str]:
    """Parts of the playground whose box is not inside ``area``'s box (clipped, or scrolled out of sight)."""
    return page.evaluate(
        """([selector, area]) => {
            const box = area.getBoundingClientRect(), bad = [];
            for (const el of document.querySelectorAll(selector + ' *')) {
                const r = el.getBoundingClientRect();
                if (r.width > 0 && r.height > 0 && (r.left < box.left - 1 || r.right > box.right + 1))
                    bad.push(`${el.className} "${el.textContent.slice(0, 20)}": x ${r.left}-${r.right}`);
            }
            if (area.scrollWidth > area.clientWidth + 1) bad.push('the output area scrolls sideways');
            return bad;
        }""", [PLAYGROUND, area.element_handle()])


def _check_playground(page, folder) -> str:
    """Screenshots at two widths, every part inside the output area, then Play moves the counter."""
    widget = page.locator(PLAYGROUND).first
    area = page.locator(".jp-OutputArea-output", has=widget).first
    widget.wait_for(timeout=60_000)
    if not page.locator("#filebrowser").is_visible():  # a student's laptop: the file browser open
        page.locator(".jp-SideBar [data-id='filebrowser']").click()
    _no_news(page)
    report = []
    for width in (1000, 1400):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(800)  # the layout settles
        widget.scroll_into_view_if_needed()
        page.screenshot(path=str(folder / f"playground-{width}px.png"))
        bad = _outside(page, area)
        assert not bad, f"at {width} px the playground does not fit its output area: {bad[:5]} ({folder})"
        report.append(f"{width} px: fits its {area.bounding_box()['width']:.0f} px output area")
    counter = widget.locator(".widget-html-content", has_text="epoch").first

    def epoch():
        return int(re.search(r"epoch (\d+)", counter.inner_text()).group(1))

    start, deadline = epoch(), time.monotonic() + 90
    widget.get_by_role("button", name="Play").click()
    while epoch() < start + 20 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    widget.get_by_role("button", name="Pause").click()
    page.screenshot(path=str(folder / "playground-played.png"))
    assert epoch() >= start + 20, f"Play moved the epoch counter from {start} only to {epoch()}"
    return "; ".join(report) + f"; Play: epoch {start} -> {epoch()}"


@pytest.mark.parametrize("name", lesson.NOTEBOOKS)
def test_run_all_in_jupyterlab(lab, name, tmp_path):
    repo, server, browser = lab
    path, committed = repo / name, json.loads((repo / name).read_text(encoding="utf-8"))
    other_python = committed["metadata"].get("language_info", {}).get("version") != platform.python_version()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        workspace = re.sub(r"\W", "-", name)  # one per notebook: only that notebook open
        page.goto(f"http://{HOST}:{server.port}/lab/workspaces/{workspace}/tree/{name}?reset&token={server.token}",
                  timeout=120_000)
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=180_000)
        saved = _save(page, path)
        assert git_status(repo) == "" or (other_python and _lesson_part(saved) == _lesson_part(committed)
                                          and saved["cells"] == committed["cells"]), (
            f"opening {name} in JupyterLab and saving it changes it (re-execute it with `python -m "
            f"tests.tools.run_notebook {name}` and commit it):\n{lesson.git('diff', cwd=repo).stdout.decode()[:2000]}")

        seconds, prompts = _run_all(page)
        saved = _save(page, path)
        errors = _errors(nbformat.from_dict(saved))
        if errors:
            index, error = errors[0]
            _no_news(page)
            cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
            shown = cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            shown = shown.last if shown.count() else cell  # the traceback
            shown.scroll_into_view_if_needed()
            shown.screenshot(path=str(tmp_path / "first-failing-cell.png"))
            pytest.fail(f"Run All in JupyterLab: {name}, cell {index} ({saved['cells'][index]['source'][:1]}): "
                        f"{error}; {len(errors)} error output(s); screenshot: {tmp_path / 'first-failing-cell.png'}")
        assert prompts["ran"] == prompts["cells"], f"Run All ran {prompts['ran']} of {prompts['cells']} code cells"
        assert git_status(repo) in ("", f" M {name}\n"), f"running and saving {name} changes other files"
        assert _lesson_part(saved) == _lesson_part(committed), f"running and saving {name} changes its cells"
        report = f"{name}: Run All {seconds:.0f} s"
        if any("playground(" in "".join(c["source"]) for c in saved["cells"] if c["cell_type"] == "code"):
            report += "; " + _check_playground(page, tmp_path)
        print(report)
    finally:
        page.close()
        lesson.git("checkout", "-q", "--", name, cwd=repo, check=True)
        for session in server.request("GET", "/api/sessions"):  # one kernel at a time
            server.request("DELETE", f"/api/sessions/{session['id']}")
