"""A student's and an instructor's day, then `pytest`: everyday use must not break the lesson, as one check.

    python -m tests.tools.everyday_check [--keep DIR]

In a fresh clone of the current commit: `pytest`; a student fills in the exercises with the solutions' answers,
runs and saves that notebook, re-runs one cell of notebook 01 and saves it, opens and saves every notebook as
JupyterLab does; an instructor adds `submissions/` (a corrupt file, an endless loop, two students' copies); `pytest`
again. It fails unless both runs agree test by test (and on the number of lesson tests) and git shows exactly the
student's two notebooks. Not part of `pytest`.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import shutil
import sys
import tempfile

import nbformat

from tests import lesson
from tests.benchmarks.repeat_runs import run_pytest
from tests.kernel_env import kernel_env
from tests.tools.jupyterlab_save import JupyterServer, open_and_save
from tests.tools.repo_copy import git_status
from tests.tools.run_notebook import execute, normalise


def pytest_in(repo: pathlib.Path, label: str) -> tuple[dict[str, str], str]:
    """Plain `pytest` in ``repo``; prints its summary; returns (outcome per test id, its output)."""
    result, tests, seconds = run_pytest(repo, repo.parent / f"{label.split()[0]}.xml",
                                        unset=("PYTEST_ADDOPTS", "PYTHONPATH", "MPLBACKEND", "OMP_NUM_THREADS"))
    summary = [line for line in result.stdout.splitlines() if line.startswith("=") and " in " in line]
    print(f"{label}: {summary[-1] if summary else result.stdout[-500:]} ({seconds:.0f} s, {lesson_tests(tests)} "
          "lesson tests)", flush=True)
    return tests, result.stdout


def lesson_tests(tests: dict) -> int:
    """nbval items (one notebook cell each), e.g. ``01_neural_networks_theory.ipynb::Cell 3``."""
    return sum(".ipynb::Cell " in test_id for test_id in tests)


def student_day(repo: pathlib.Path) -> None:
    env = kernel_env(root=repo)  # each run: one fresh kernel, errors allowed, as in JupyterLab
    # Fill in the exercises with the solutions' answers, run the notebook, save it.
    template = nbformat.read(repo / lesson.EXERCISES, as_version=4)
    solutions = nbformat.read(repo / lesson.SOLUTIONS, as_version=4)
    for mine, theirs in zip(template.cells, solutions.cells, strict=True):
        if set(mine.metadata.get("tags", [])) & {"answer", "answer-text"}:
            mine.source = theirs.source
    asyncio.run(execute(template, repo, env, allow_errors=True))
    nbformat.write(template, repo / lesson.EXERCISES)
    # Re-run one cell of notebook 01 (its first code cell, twice: its count becomes 2) and save.
    theory = nbformat.read(repo / lesson.THEORY, as_version=4)
    first = next(i for i, cell in enumerate(theory.cells) if cell.cell_type == "code")
    asyncio.run(execute(theory, repo, env, allow_errors=True, cells=[first, first]))
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
        repo = base / "lesson"
        lesson.git("clone", "--quiet", str(lesson.ROOT), str(repo), cwd=base, check=True)  # at HEAD, as checked out
        head = lesson.git("rev-parse", "HEAD", cwd=repo, check=True).stdout.decode().strip()
        print(f"clone of {head[:10]} in {repo}", flush=True)
        before, _ = pytest_in(repo, "baseline")
        student_day(repo)
        instructor_day(repo)
        after, printed = pytest_in(repo, "after a student's and an instructor's day")
        status = git_status(repo)
        print("git status --porcelain:\n" + (status or "(empty)\n"), end="")
        changed = sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))
        for test_id in changed:
            print(f"  differs: {test_id}: {before.get(test_id)} -> {after.get(test_id)}")
        ok = (not changed and lesson_tests(before) == lesson_tests(after) > 0  # no report: no lesson tests
              and set(status.splitlines()) == {f" M {lesson.THEORY}", f" M {lesson.EXERCISES}"})
        print("lesson note in the report: " + next((line for line in printed.splitlines()
                                                    if "differs from git" in line), "(none)"))
        print("OK" if ok else "NOT OK")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
