"""The lesson's notebooks, in one place, and the version of each that the tests judge.

``pytest`` judges the *published* lesson: the notebooks in ``NOTEBOOKS`` as git holds them (the
index: committed, or staged with ``git add``). When a student's working copy differs (filled in,
re-run, autosaved), the tests judge git's version, leave the working copy alone and say so in the
report. ``pytest --lesson-working-copy`` (or ``LESSON_WORKING_COPY=1``) judges the working copies
instead. Outside a git checkout (a downloaded zip) the working copy is all there is.

Everything that takes "the lesson's notebooks" uses this module: conftest.py, the hygiene, offline
and mirror tests, the benchmarks and the seed sweep.
"""

from __future__ import annotations

import functools
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent

THEORY = "01_neural_networks_theory.ipynb"
CLASSIFICATION = "02_neural_networks_classification.ipynb"
EXERCISES = "02_neural_networks_exercises.ipynb"
SOLUTIONS = "solutions/02_neural_networks_exercises_solutions.ipynb"

#: The lesson's notebooks, in reading order, as paths relative to ROOT (POSIX form).
NOTEBOOKS: tuple[str, ...] = (THEORY, CLASSIFICATION, EXERCISES, SOLUTIONS)

#: Environment variable that makes every tool judge the working copies (set by
#: ``pytest --lesson-working-copy``).
WORKING_COPY_ENV = "LESSON_WORKING_COPY"


def relative(file: str | os.PathLike, root: pathlib.Path = ROOT) -> str | None:
    """The lesson name (e.g. ``solutions/...ipynb``) of ``file``, or None if it is not a lesson notebook."""
    try:
        name = pathlib.Path(file).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    return name if name in NOTEBOOKS else None


def use_working_copy() -> bool:
    """True when the working copies are to be judged (``LESSON_WORKING_COPY=1``)."""
    return os.environ.get(WORKING_COPY_ENV, "") not in ("", "0")


GIT_IDENTITY = ("-c", "user.name=lesson tests", "-c", "user.email=tests@localhost", "-c", "commit.gpgsign=false")


def git(*args: str, cwd: pathlib.Path = ROOT, check: bool = False) -> subprocess.CompletedProcess | None:
    """The one way the tests and tools call git: ``git ARGS`` in ``cwd``, output as bytes, with a fixed identity
    (commits in throwaway copies work anywhere) and no inherited ``GIT_*`` variables. None when git is missing or
    hangs; with ``check``, raises instead, and also when git fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        return subprocess.run(["git", *GIT_IDENTITY, *args], cwd=cwd, env=env, capture_output=True, timeout=60,
                              check=check)
    except (OSError, subprocess.TimeoutExpired):
        if check:
            raise
        return None


@functools.cache
def is_git_checkout(root: pathlib.Path = ROOT) -> bool:
    """True when ``root`` is the top of a git checkout (not a folder inside some other repository)."""
    result = git("rev-parse", "--show-toplevel", cwd=root)
    ok = result is not None and result.returncode == 0
    return ok and pathlib.Path(result.stdout.decode().strip()).resolve() == root.resolve()


def git_bytes(name: str, root: pathlib.Path = ROOT) -> bytes | None:
    """Git's version of ``name`` (the index: committed, or staged), or None outside git / when untracked."""
    result = git("show", f":{name}", cwd=root) if is_git_checkout(root) else None
    return result.stdout if result is not None and result.returncode == 0 else None


def working_copy_differs(name: str, root: pathlib.Path = ROOT) -> bool:
    """True when the file on disk differs from (or is missing compared with) git's version."""
    stored, file = git_bytes(name, root), root / name
    return stored is not None and (not file.is_file() or file.read_bytes() != stored)


def source(name: str, root: pathlib.Path = ROOT) -> str:
    """Which version of ``name`` is judged: ``"git"`` or ``"working copy"``."""
    return "working copy" if use_working_copy() or not working_copy_differs(name, root) else "git"


def notebook_text(name: str, root: pathlib.Path = ROOT) -> str:
    """The text of the version of lesson notebook ``name`` that the tests judge (see the module docstring)."""
    if source(name, root) == "git":
        return git_bytes(name, root).decode("utf-8")
    return (root / name).read_text(encoding="utf-8")


def read_notebook(name: str, root: pathlib.Path = ROOT, as_version: int = 4):
    """The judged version of lesson notebook ``name`` as an ``nbformat.NotebookNode``."""
    import nbformat

    return nbformat.reads(notebook_text(name, root), as_version=as_version)


def note(root: pathlib.Path = ROOT) -> str | None:
    """One paragraph for the test report when some working copies differ from git (None otherwise)."""
    listed = ", ".join(name for name in NOTEBOOKS if working_copy_differs(name, root))
    if not listed:
        return None
    if use_working_copy():
        return (
            f"lesson: judging your working copies as asked ({WORKING_COPY_ENV}=1 / --lesson-working-copy); "
            f"these differ from git: {listed}"
        )
    return (
        f"lesson: your working copy of {listed} differs from git; the tests use git's version "
        "(committed, or staged with `git add`) and leave your files as they are. "
        "To test your copies instead: pytest --lesson-working-copy"
    )
