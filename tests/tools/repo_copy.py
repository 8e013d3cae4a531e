"""A throwaway copy of the repository, for tests that must not write into the real one.

The copy holds every file git tracks as it is in the working tree (a developer's uncommitted change to a test is
what the copy runs), except the lesson notebooks, which are git's version (``tests/lesson.py``). With ``commit``
it is a git repository of its own with everything committed, so its ``git status --porcelain`` is empty until
something writes into it. Outside a git checkout, every file below the root except dot-folders is copied.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess

from tests import lesson
from tests.lesson import ROOT


def tracked_files() -> list[str]:
    """Files git tracks (every file outside dot-folders when the repository is not a git checkout)."""
    try:
        return [name for name in lesson.git("ls-files", "-z", check=True).stdout.decode().split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        return sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
                      if p.is_file() and not any(part.startswith(".") for part in p.relative_to(ROOT).parts))


def copy_repo(dest: pathlib.Path, *, commit: bool = True) -> pathlib.Path:
    """Copy the repository to ``dest`` (created; must not exist) and, if ``commit``, commit it there."""
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True)
    for name in tracked_files():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        if name in lesson.NOTEBOOKS:
            (dest / name).write_text(lesson.notebook_text(name), encoding="utf-8")
        elif (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest / name)
    if commit:
        for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "copy of the lesson")):
            lesson.git(*args, cwd=dest, check=True)
    return dest


def git_status(repo: pathlib.Path) -> str:
    """``git status --porcelain --untracked-files=all`` of ``repo``."""
    return lesson.git("status", "--porcelain", "--untracked-files=all", cwd=repo, check=True).stdout.decode()
