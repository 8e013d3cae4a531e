"""Session set-up shared by the unit tests and the notebook runs.

* The kernel environment: nbval's kernels inherit this process's, so it is fixed here, before any
  kernel starts, with the rules the grader and the benchmarks use (``tests/kernel_env.py``).
* Which notebooks nbval runs: the lesson's four (``tests/lesson.NOTEBOOKS``). Student copies,
  ``submissions/``, checkpoints and scratch notebooks are collected only when named on the command
  line (``pytest submissions/alice.ipynb``).
* Which version: git's, when a student's working copy differs (the report says so);
  ``--lesson-working-copy`` runs the working copies.
* After the run: if the repository was clean before and is not after, the run fails, naming what
  was written (tests must leave the tree as they found it).
"""

from __future__ import annotations

import os
import pathlib
import types

import nbformat
import nbval.plugin
import pytest
from nbval.plugin import IPyNbFile

from tests import lesson
from tests.kernel_env import apply_kernel_env

apply_kernel_env(os.environ)


def pytest_addoption(parser):
    parser.addoption(
        "--lesson-working-copy",
        action="store_true",
        help="run and check the lesson notebooks as they are on disk, not git's version (tests/lesson.py)",
    )


def pytest_configure(config):
    # pyproject's --nbval-sanitize-with is relative to the root: make it work from any folder.
    sanitize = getattr(config.option, "nbval_sanitize_with", None)
    if sanitize and not os.path.isabs(sanitize) and not os.path.exists(sanitize):
        config.option.nbval_sanitize_with = str(config.rootpath / sanitize)
    if config.getoption("--lesson-working-copy"):
        os.environ[lesson.WORKING_COPY_ENV] = "1"
    if not hasattr(config, "workerinput"):  # the controller, not an xdist worker
        config._lesson_git_status = _git_status()


def _named_explicitly(file_path: pathlib.Path, config) -> bool:
    """True when ``file_path`` or a folder below the root that holds it was named on the command line
    (not the testpaths pytest falls back to)."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False
    base, file_path = pathlib.Path(config.invocation_params.dir), file_path.resolve()
    given = [(base / arg.split("::", 1)[0]).resolve() for arg in config.args]
    return any(path == file_path or (path != lesson.ROOT and path in file_path.parents) for path in given)


class LessonNotebook(IPyNbFile):
    """nbval's collector for a lesson notebook, reading git's version instead of the working copy."""

    def collect(self):
        nb = nbformat.reads(lesson.notebook_text(lesson.relative(self.path)), as_version=4)
        # nbval 0.11 reads the file with nbformat.read inside collect(): hand it git's version instead.
        real = nbval.plugin.nbformat
        nbval.plugin.nbformat = types.SimpleNamespace(read=lambda *args, **kwargs: nb)
        try:
            return list(super().collect())
        finally:
            nbval.plugin.nbformat = real


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    collected = yield
    others = [node for node in collected if not isinstance(node, IPyNbFile)]
    if file_path.suffix != ".ipynb" or len(others) == len(collected):  # not a notebook nbval collected
        return collected
    name = lesson.relative(file_path)
    if name is not None and lesson.source(name) == "git":
        return [*others, LessonNotebook.from_parent(parent, path=file_path)]
    if name is not None or _named_explicitly(file_path, parent.config):
        return collected
    return others


def pytest_report_header(config):
    text = lesson.note()
    return [text] if text else []


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    text = lesson.note()
    if text:
        terminalreporter.write_sep("-", "lesson notebooks")
        terminalreporter.write_line(text)
    changed, advice = getattr(config, "_lesson_changed", ([], ""))
    if changed:
        terminalreporter.write_sep("!", "the test run changed the repository")
        terminalreporter.write_line("\n".join(changed))
        terminalreporter.write_line(advice)


def _git_status() -> dict[str, bytes] | None:
    """``git status --porcelain`` entries -> file contents (None unless ROOT is a git checkout's top)."""
    result = lesson.git("status", "--porcelain", "-z", "--untracked-files=all") if lesson.is_git_checkout() else None
    if result is None or result.returncode != 0:
        return None
    status = {}
    for entry in result.stdout.decode("utf-8", "replace").split("\0"):
        if len(entry) > 3:
            file = lesson.ROOT / entry[3:]
            try:
                status[entry] = file.read_bytes() if file.is_file() else b""
            except OSError:
                status[entry] = b""
    return status


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    before = getattr(config, "_lesson_git_status", None)  # set on the controller only, not on xdist workers
    if before is None:
        return
    after = _git_status() or {}
    changed = sorted(entry for entry, content in after.items() if before.get(entry) != content)
    if changed and before:
        config._lesson_changed = changed, (
            "Your working copy was not clean before this run, so this is only a warning: if you did not "
            "save these files yourself during the run, a test or a notebook wrote into the repository.")
    elif changed:
        config._lesson_changed = changed, (
            "The repository was clean before this run, so a test or a notebook wrote into it: tests must "
            "write to a temporary folder. (If you saved a file yourself during the run, run pytest again.)")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
