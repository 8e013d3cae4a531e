"""The exercise criteria, read and verified against git once per batch, loaded in the evaluation process before
any kernel starts (README, parts 1 and 2); the same copy goes into each scratch folder for the kernel's reader."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

from tests.kernel_env import kernel_env
from tests.lesson import ROOT, git

from . import procs

DEFAULT_CRITERIA = ROOT / "tests" / "exercises"
IN_KERNEL = Path(__file__).resolve().with_name("in_kernel.py")
EVALUATOR_START_TIMEOUT = 180.0


class CriteriaError(Exception):
    """The criteria could not be loaded or verified (nothing can be graded)."""


ExerciseInfo = namedtuple("ExerciseInfo", "number title points")  # one row of the points table (``EXERCISES``)


def _sha(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def git_modified(paths: list[Path], repo_root: Path) -> list[str]:
    """Those of ``paths`` (inside ``repo_root``'s git checkout) that differ from HEAD; [] without git."""
    inside = [p for p in paths if p.is_relative_to(repo_root)]
    if not inside or not (repo_root / ".git").exists():
        return []
    status = git("status", "--porcelain", "--", *map(str, inside), cwd=repo_root)
    if status is None or status.returncode != 0:
        return []
    return [line[3:] for line in status.stdout.decode("utf-8", "replace").splitlines() if line.strip()]


class Criteria:
    """The criteria for one batch: ``files`` (name -> text, as verified), the points table ``exercises``
    (once loaded) and the client of the evaluation process (``begin``, ``ready``, ``request``, ``close``)."""

    def __init__(self, path: Path | str = DEFAULT_CRITERIA, repo_root: Path = ROOT, allow_modified: bool = False):
        self.path = Path(path).resolve()
        self.repo_root = Path(repo_root).resolve()
        sources = sorted(self.path.glob("*.py")) if self.path.is_dir() else [self.path]
        guarded = [*sources, self.repo_root / "helper_functions.py"]
        modified = git_modified(guarded, self.repo_root)
        if modified and not allow_modified:
            raise CriteriaError(
                f"refusing to grade: {', '.join(modified)} differ(s) from git HEAD in {self.repo_root} "
                "(restore with `git checkout -- FILE`, or pass --allow-modified to grade with your edits)"
            )
        self.hashes = {p: _sha(p) for p in guarded}
        try:
            self.files = {("__init__.py" if p == self.path else p.name): p.read_text(encoding="utf-8") for p in sources}
            self.in_kernel = IN_KERNEL.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise CriteriaError(f"cannot read the criteria {self.path}: {exc}") from exc
        if "__init__.py" not in self.files:
            raise CriteriaError(f"cannot read the criteria {self.path}: no __init__.py")
        self.exercises: tuple[ExerciseInfo, ...] = ()
        self._process: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._reader = self._starting = None
        self.load_seconds = self.kernel_wait = 0.0  # kernel_wait: the longest a started kernel waited for them

    def write_reader(self, folder: Path) -> Path:
        """The grader's copies of ``in_kernel.py`` and the criteria (``criteria/``) in ``folder``; returns it."""
        (folder / "criteria").mkdir(parents=True)
        for path in (folder, folder / "criteria"):
            path.chmod(0o755)
        for name, text in [("in_kernel.py", self.in_kernel), *((f"criteria/{n}", t) for n, t in self.files.items())]:
            (folder / name).write_text(text, encoding="utf-8")
            (folder / name).chmod(0o644)
        return folder

    async def begin(self) -> None:
        """Spawn the evaluation process now and let it load the criteria; ``ready`` waits for that."""
        self._starting = asyncio.get_running_loop().create_task(self.start())
        await asyncio.sleep(0)  # let it spawn the process before anything else starts

    async def ready(self) -> None:
        """Wait until the criteria are loaded (no submission code may run before). Raises ``CriteriaError``."""
        if not self.exercises:
            await asyncio.shield(self._starting)

    async def start(self) -> None:
        """Start the evaluation process and wait until the criteria are loaded in it (else ``CriteriaError``)."""
        started = time.monotonic()
        env = kernel_env(root=self.repo_root)  # one thread, no bytecode written, no kernel token
        env.update(PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
        env.pop(procs.TOKEN_VAR, None)
        copy = Path(tempfile.mkdtemp(prefix="grading-criteria-"))
        try:
            self.write_reader(copy / "reader")
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.grading.evaluator", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, cwd=str(ROOT), env=env, limit=1 << 26,
            )
            procs.PROTECTED.add(self._process.pid)
            setup = {"criteria": str(copy / "reader" / "criteria"), "repo_root": str(self.repo_root)}
            self._process.stdin.write(json.dumps(setup).encode() + b"\n")
            await self._process.stdin.drain()
            try:
                line = await asyncio.wait_for(self._process.stdout.readline(), EVALUATOR_START_TIMEOUT)
                ready = json.loads(line or b"{}")
            except (TimeoutError, ValueError) as exc:
                ready = {"error": f"the evaluator did not start ({exc!r})"}
        finally:
            shutil.rmtree(copy, ignore_errors=True)  # loaded: the evaluator imports nothing more from it
        if not ready.get("ready"):
            await self.close()
            raise CriteriaError(f"cannot load the criteria {self.path}: {ready.get('error', 'no reply')}")
        self.exercises = tuple(ExerciseInfo(int(n), str(t), int(p)) for n, t, p in ready["exercises"])
        self._reader = asyncio.get_running_loop().create_task(self._read_replies())
        self.load_seconds = time.monotonic() - started

    async def _read_replies(self) -> None:
        while line := await self._process.stdout.readline():
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            future = self._pending.pop(reply.get("id"), None)
            if future is not None and not future.done():
                future.set_result(reply)
        for future in self._pending.values():
            if not future.done():
                future.set_result({"error": "the grader's evaluation process ended"})
        self._pending.clear()

    async def request(self, request: dict) -> dict:
        """Send one request to the evaluator (see ``evaluator.py``); its reply."""
        if self._process is None or self._process.returncode is not None or self._reader.done():
            return {"error": "the grader's evaluation process is not running"}
        request_id = next(self._ids)
        future = self._pending[request_id] = asyncio.get_running_loop().create_future()
        self._process.stdin.write(json.dumps({**request, "id": request_id}).encode() + b"\n")
        await self._process.stdin.drain()
        return await future

    async def close(self) -> None:
        """End the evaluation process."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(Exception):
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        procs.PROTECTED.discard(process.pid)
        if self._reader is not None:
            self._reader.cancel()

    def changed_since_start(self) -> list[Path]:
        """The guarded files (criteria, helper_functions.py) whose content changed since the batch began."""
        return [p for p, digest in self.hashes.items() if _sha(p) != digest]
