"""A throwaway copy of the repository, for tests that must not write into the real one.

    copy_repo(tmp_path / "lesson") -> Path

The copy holds every file git tracks as it is in the working tree (a developer's uncommitted change
to conftest.py or a test is what the copy runs), except the lesson notebooks, which are git's version
(``tests/lesson.py``). It is a git repository of its own with everything committed, so its
``git status --porcelain`` is empty until something writes into it. Outside a git checkout, every
file below the root except dot-folders is copied.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess

from tests import lesson

ROOT = lesson.ROOT


def tracked_files(root: pathlib.Path = ROOT) -> list[str]:
    """Files git tracks below ``root`` (every file outside dot-folders when ``root`` is not a checkout)."""
    try:
        listing = lesson.git("ls-files", "-z", cwd=root, check=True).stdout.decode()
        return [name for name in listing.split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        return sorted(
            p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )


def copy_repo(dest: pathlib.Path, root: pathlib.Path = ROOT, *, commit: bool = True) -> pathlib.Path:
    """Copy the repository to ``dest`` (created; must not exist) and, if ``commit``, commit it there."""
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True)
    for name in tracked_files(root):
        source = root / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if name in lesson.NOTEBOOKS:
            target.write_text(lesson.notebook_text(name, root), encoding="utf-8")
        elif source.is_file():
            shutil.copy2(source, target)
    if commit:
        for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "copy of the lesson")):
            lesson.git(*args, cwd=dest, check=True)
    return dest


def git_status(repo: pathlib.Path) -> str:
    """``git status --porcelain --untracked-files=all`` of ``repo``."""
    return lesson.git("status", "--porcelain", "--untracked-files=all", cwd=repo, check=True).stdout.decode()
