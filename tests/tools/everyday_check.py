"""A student's and an instructor's day, then `pytest`: everyday use must not break the lesson, as one check.

    python -m tests.tools.everyday_check [--keep DIR]

In a fresh clone of the current commit (in a temporary folder; this repository is not touched):

1. baseline: `pytest` on the untouched clone (its outcome per test, its time);
2. a student fills in the exercises with the solutions' answers, runs the notebook and saves it,
   re-runs one cell of notebook 01 and saves it, and opens and saves every lesson notebook as
   JupyterLab does (tests/tools/jupyterlab_save.py);
3. an instructor adds `submissions/`: a corrupt file, an endless loop and two students' copies;
4. `pytest` again, in the same clone.

It prints both runs' summaries, times and lesson (nbval) tests, any test whose outcome differs and the
clone's `git status`; it fails unless the outcomes and the lesson tests are the same and git shows exactly
the student's two notebooks. It runs the whole suite twice, so it is not part of `pytest`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import nbformat

from tests import lesson
from tests.kernel_env import kernel_env
from tests.tools import run_notebook
from tests.tools.jupyterlab_save import JupyterServer, open_and_save
from tests.tools.repo_copy import git_status
from tests.tools.run_notebook import normalise

ROOT = lesson.ROOT


def clone(dest: pathlib.Path) -> pathlib.Path:
    branch = lesson.git("rev-parse", "--abbrev-ref", "HEAD", cwd=ROOT, check=True).stdout.decode().strip()
    lesson.git("clone", "--quiet", "--branch", branch, str(ROOT), str(dest), cwd=ROOT.parent, check=True)
    return dest


def run_pytest(repo: pathlib.Path, label: str) -> dict:
    """Plain `pytest` in ``repo``; outcome per test id, summary line, seconds."""
    report = repo.parent / f"{label}.xml"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MPLBACKEND", "OMP_NUM_THREADS")}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", f"--junitxml={report}"],
                            cwd=repo, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    outcomes, cell_seconds = {}, {}
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[test_id] = kinds[0] if kinds else "passed"
        if is_lesson_cell(test_id):
            cell_seconds[test_id] = float(case.get("time") or 0)
    summary = [line for line in result.stdout.splitlines() if line.startswith("=") and " in " in line]
    slowest = max(cell_seconds.items(), key=lambda item: item[1], default=("none", 0.0))
    return {"outcomes": outcomes, "slowest_cell": slowest, "summary": summary[-1] if summary else result.stdout[-500:],
            "seconds": seconds, "stdout": result.stdout, "returncode": result.returncode}


def is_lesson_cell(test_id: str) -> bool:
    """An nbval item (one notebook cell), e.g. ``01_neural_networks_theory.ipynb::Cell 3``."""
    return ".ipynb::Cell " in test_id


def lesson_tests(outcomes: dict) -> int:
    return sum(1 for test_id in outcomes if is_lesson_cell(test_id))


def execute(nb: nbformat.NotebookNode, folder: pathlib.Path, cells: list[int] | None = None) -> None:
    """Run all cells (or the given cell indexes, in that order) in one fresh kernel, as a student would."""
    root = folder if (folder / "helper_functions.py").exists() else lesson.ROOT
    asyncio.run(run_notebook.execute(nb, folder, kernel_env(dict(os.environ), root=root), allow_errors=True,
                                     cells=cells))


def student_day(repo: pathlib.Path) -> None:
    # Fill in the exercises with the solutions' answers, run the notebook, save it.
    template = nbformat.read(repo / lesson.EXERCISES, as_version=4)
    solutions = nbformat.read(repo / lesson.SOLUTIONS, as_version=4)
    for mine, theirs in zip(template.cells, solutions.cells, strict=True):
        tags = set(mine.metadata.get("tags", []))
        if tags & {"answer", "answer-text"}:
            mine.source = theirs.source
    execute(template, repo)
    nbformat.write(template, repo / lesson.EXERCISES)
    # Re-run one cell of notebook 01 (its first code cell, twice: its count becomes 2) and save.
    theory = nbformat.read(repo / lesson.THEORY, as_version=4)
    first = next(i for i, cell in enumerate(theory.cells) if cell.cell_type == "code")
    execute(theory, repo, cells=[first, first])
    nbformat.write(theory, repo / lesson.THEORY)
    # Open and save every lesson notebook as JupyterLab does (makes .ipynb_checkpoints/ too).
    with JupyterServer(repo) as server:
        for name in lesson.NOTEBOOKS:
            open_and_save(server, name)


def instructor_day(repo: pathlib.Path) -> None:
    folder = repo / "submissions"
    folder.mkdir()
    (folder / "corrupt.ipynb").write_text('{"cells": [ this is not JSON', encoding="utf-8")
    loop = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("while True:\n    pass")])
    nbformat.write(loop, folder / "endless loop.ipynb")
    shutil.copy(repo / lesson.EXERCISES, folder / "alice.ipynb")
    shown = lesson.git("show", f"HEAD:{lesson.EXERCISES}", cwd=repo, check=True)
    blank = nbformat.reads(shown.stdout.decode(), as_version=4)
    nbformat.write(normalise(blank), folder / "bob - lesson 02.ipynb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=pathlib.Path, help="work in this folder (must not exist) and keep it")
    args = parser.parse_args(argv)
    base = args.keep or pathlib.Path(tempfile.mkdtemp(prefix="everyday-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        repo = clone(base / "lesson")
        head = lesson.git("rev-parse", "HEAD", cwd=repo, check=True).stdout.decode().strip()
        print(f"clone of {head[:10]} in {repo}", flush=True)
        before = run_pytest(repo, "baseline")
        print(f"baseline: {before['summary']} ({before['seconds']:.0f} s, {lesson_tests(before['outcomes'])} "
              f"lesson tests; slowest lesson cell {before['slowest_cell'][1]:.1f} s: {before['slowest_cell'][0]})",
              flush=True)
        student_day(repo)
        instructor_day(repo)
        after = run_pytest(repo, "after")
        print(f"after a student's and an instructor's day: {after['summary']} ({after['seconds']:.0f} s, "
              f"{lesson_tests(after['outcomes'])} lesson tests)")
        status = git_status(repo)
        print("git status --porcelain:\n" + (status or "(empty)\n"), end="")
        changed = sorted(t for t in before["outcomes"].keys() | after["outcomes"].keys()
                         if before["outcomes"].get(t) != after["outcomes"].get(t))
        for test_id in changed:
            print(f"  differs: {test_id}: {before['outcomes'].get(test_id)} -> {after['outcomes'].get(test_id)}")
        expected = {f" M {lesson.THEORY}", f" M {lesson.EXERCISES}"}
        ok = (not changed and lesson_tests(before["outcomes"]) == lesson_tests(after["outcomes"])
              and set(status.splitlines()) == expected)
        print("lesson note in the report: " + next((line for line in after["stdout"].splitlines()
                                                    if "differs from git" in line), "(none)"))
        print("OK" if ok else "NOT OK")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
