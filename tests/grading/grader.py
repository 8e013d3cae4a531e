"""Grade submissions: re-execute each one in a fresh kernel, extract, evaluate.

For one submission (``grade_submission``):

1. Read the file (a regular file only, never blocking, size-capped); anything
   that isn't a readable notebook is graded ``invalid notebook`` with 0 points,
   without starting a kernel.
2. Copy it, stored outputs stripped, into a fresh scratch folder, the kernel's
   working folder; the folder is deleted afterwards (and, if the grader was
   killed, by the next run: ``clean_stale_scratch``).
3. Run its code cells in order in a fresh kernel, after the grader's silent
   ``prepare_cell`` (``exit()`` harmless, huge writes chunked). Errors don't
   stop the run. A cell still running after ``cell_timeout`` is interrupted and
   the run goes on with the next cell; once ``notebook_timeout`` is spent the
   remaining cells are skipped. If the kernel dies (or ignores the interrupt),
   a new kernel re-runs the notebook without that cell; if it then dies in
   another cell, the death was delayed and ``_find_fatal_cell`` bisects.
4. Extract each exercise in its own cell with its own time limit and results
   file (``extraction.extraction_cell``), on fresh probe inputs when the
   criteria define ``make_probes``; then evaluate each exercise in the
   evaluation process (``evaluator.py``), in a fork with its own limits.
5. When the kernel goes, so does every process it started (``procs.py``).

``grade_all`` runs ``jobs`` submissions at once, each with its own kernel,
after starting the evaluation process (no submission cell runs before the
criteria are loaded in it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic

import nbformat

from tests.lesson import ROOT

from . import procs, users
from .criteria import DEFAULT_CRITERIA, Criteria, CriteriaError, evaluator_env
from .evaluator import read_regular_file
from .extraction import extraction_cell, prepare_cell
from .kernel import INTERRUPT_GRACE, MAX_MESSAGE_BYTES, CellRun, Kernel, KernelStartError, grading_env
from .outcome import FAILED, NOT_ATTEMPTED, PASSED, Outcome, short

GRADED, TIMEOUT, CRASHED, INVALID = "graded", "timeout", "crashed", "invalid notebook"
STATUSES = (GRADED, TIMEOUT, CRASHED, INVALID)  # of a submission; an exercise's are in outcome.py
MAX_NOTEBOOK_BYTES = 100_000_000
MAX_MESSAGE_CHARS = 600


@dataclass
class Options:
    """How submissions are run.

    Attributes:
        cell_timeout: seconds one cell may run before it is interrupted.
        notebook_timeout: seconds all of a submission's cells may take together
            (kernel restarts included; the extraction cell gets its own
            ``max(cell_timeout, 30)`` on top).
        jobs: submissions graded at the same time (one kernel each).
        criteria_path: the criteria package (``tests/exercises/``) or a single-file stand-in.
        repo_root: put first on the kernels' PYTHONPATH.
        scratch_root: parent of the temporary folders (default: the system's).
        interrupt_grace: seconds a kernel gets to stop after an interrupt.
        max_restarts: new kernels after a kernel died or hung.
        extract_timeout: seconds the grader may spend reading one exercise's values
            in the kernel (default ``max(cell_timeout, 30)``).
        evaluate_timeout: seconds one exercise's evaluation may take (grader side).
        evaluate_memory: bytes one exercise's evaluation may allocate (grader side).
        allow_modified: grade even if the criteria or helper_functions.py differ from git.
        kernel_user: "auto": as root, each submission's kernel runs as its own
            unprivileged user, when a probe shows that such a user can run a kernel
            here (``users.py``); "off": kernels run as the grader's user.
        isolation: the outcome of that probe (set by ``grade_all``).
    """

    cell_timeout: float = 120.0
    notebook_timeout: float = 600.0
    jobs: int = 1
    criteria_path: Path = DEFAULT_CRITERIA
    repo_root: Path = ROOT
    scratch_root: Path | None = None
    interrupt_grace: float = INTERRUPT_GRACE
    max_restarts: int = 6
    startup_timeout: float = 60.0
    extract_timeout_s: float | None = None
    evaluate_timeout: float = 60.0
    evaluate_memory: int = 4_000_000_000
    allow_modified: bool = False
    kernel_user: str = "auto"
    isolation: users.Isolation | None = None

    @property
    def extract_timeout(self) -> float:
        return self.extract_timeout_s if self.extract_timeout_s else max(self.cell_timeout, 30.0)


@dataclass
class CellReport:
    """How one code cell of the submission ran (the last run, if the kernel was restarted)."""

    index: int  # position among all cells
    code_number: int  # 1-based position among the code cells
    exercise: int | None
    state: str  # ok, error, timeout, hung, dead, not run
    seconds: float = 0.0
    ename: str = ""
    evalue: str = ""
    traceback: str = ""
    output: str = ""
    output_chars: int = 0
    output_truncated: bool = False
    timeout_used: float = 0.0


@dataclass
class SubmissionGrade:
    """The grade of one submission."""

    path: Path
    status: str
    exercises: list[Outcome]
    notes: list[str] = field(default_factory=list)
    cells: list[CellReport] = field(default_factory=list)
    seconds: float = 0.0
    extraction_error: str = ""
    ran: bool = True  # False: not a notebook, nothing was run
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent extracting, evaluating

    @property
    def name(self) -> str:
        return display_name(self.path.name)

    @property
    def total(self) -> int:
        return sum(exercise.points for exercise in self.exercises)

    @property
    def max_points(self) -> int:
        return sum(exercise.max_points for exercise in self.exercises)

    @property
    def note(self) -> str:
        return "; ".join(self.notes)


# --------------------------------------------------------------------------
# Reading submissions
# --------------------------------------------------------------------------
def display_name(name: str) -> str:
    """A file name as printable text: bytes that aren't UTF-8 (a Windows zip unpacked on Linux) as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def find_submissions(path: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """The notebooks to grade in folder ``path`` (not recursive), the hidden ones and the folders skipped.

    ``path`` may also be a single notebook file.
    """
    path = Path(path)
    if not path.is_dir():
        return [path], [], []
    found = [p for p in path.iterdir() if p.name.lower().endswith(".ipynb")]
    folders = sorted(p for p in found if p.is_dir() and not p.name.startswith("."))
    found = [p for p in found if not p.is_dir()]
    hidden = sorted(p for p in found if p.name.startswith("."))
    graded = sorted((p for p in found if not p.name.startswith(".")), key=lambda p: natural_key(display_name(p.name)))
    return graded, hidden, folders


def natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def load_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """Read a submission; return ``(notebook, "")`` or ``(None, why it is not a notebook)``."""
    try:
        text = read_regular_file(str(path), MAX_NOTEBOOK_BYTES, follow_symlinks=True).decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "not a text file (not UTF-8)"
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})" if exc.errno else str(exc)
    try:
        raw = json.loads(text)
    except RecursionError:
        return None, "not a readable notebook (JSON nested too deeply)"
    except ValueError as exc:
        return None, f"not valid JSON ({exc})"
    if not isinstance(raw, dict) or "nbformat" not in raw:
        return None, "valid JSON but not a notebook (no 'nbformat' field)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4, capture_validation_error={})
    except (Exception, RecursionError) as exc:
        return None, f"not a readable notebook ({type(exc).__name__}: {_first_line(exc)})"
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(
        isinstance(cell, dict) and isinstance(cell.get("cell_type"), str) and isinstance(cell.get("source"), str)
        for cell in cells
    ):
        return None, "not a readable notebook (malformed 'cells')"
    for cell in cells:
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.NotebookNode()
    return nb, ""


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` without stored outputs and execution counts: its outputs are emptied first (so that the
    copy doesn't hold them twice), then a copy is returned."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell["outputs"] = []
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


_EXERCISE_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*Exercise\s+(\d+)\b", re.IGNORECASE | re.MULTILINE)
_TOP_HEADING = re.compile(r"^\s{0,3}#{1,2}\s+\S", re.MULTILINE)
_EXERCISE_TAG = re.compile(r"ex(\d+)")


def cell_exercises(nb: nbformat.NotebookNode) -> list[int | None]:
    """The exercise each cell belongs to (for the feedback only, never for points).

    A cell's ``exN`` tag decides; untagged cells belong to the last
    ``Exercise N`` heading above them (other level-1/2 headings end an exercise).
    """
    result: list[int | None] = []
    current = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = _EXERCISE_HEADING.search(cell.source)
            if match:
                current = int(match.group(1))
            elif _TOP_HEADING.search(cell.source):
                current = None
        tags = cell.get("metadata", {}).get("tags", [])
        tagged = [int(m.group(1)) for tag in tags if isinstance(tag, str) and (m := _EXERCISE_TAG.fullmatch(tag))]
        result.append(tagged[0] if tagged else current)
    return result


# --------------------------------------------------------------------------
# Grading one submission
# --------------------------------------------------------------------------
def _first_line(exc: BaseException | str) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def _where(cell: CellReport) -> str:
    place = f"code cell {cell.code_number}"
    return f"{place} (exercise {cell.exercise})" if cell.exercise is not None else place


async def grade_submission(path: Path, criteria: Criteria, options: Options) -> SubmissionGrade:
    """Grade one notebook file (never raises: a grader failure becomes status ``crashed``)."""
    start = monotonic()
    try:
        grade = await _grade(Path(path), criteria, options, start)
    except CriteriaError:
        raise
    except Exception as exc:  # the batch must go on; the row says what happened
        traceback.print_exc(file=sys.stderr)
        grade = SubmissionGrade(Path(path), CRASHED, _all_missing(criteria, "not graded: the grader failed on this "
                                "submission"), notes=[f"grader error: {type(exc).__name__}: {_first_line(exc)}"])
    grade.seconds = monotonic() - start
    return grade


def _all_missing(criteria: Criteria, message: str) -> list[Outcome]:
    return [Outcome(ex.number, FAILED if message else NOT_ATTEMPTED, message, 0, ex.title, ex.points)
            for ex in criteria.exercises]


SCRATCH_PREFIX = "grading-"


def scratch_parent(options: Options) -> Path:
    return Path(options.scratch_root or tempfile.gettempdir())


def clean_stale_scratch(parent: Path) -> list[Path]:
    """Remove scratch folders left by a grader that was killed (its pid no longer runs); return them."""
    removed = []
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(SCRATCH_PREFIX) and p.is_dir()]
    except OSError:
        return removed
    for folder in candidates:
        try:
            owner = int((folder / "owner.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # not ours (no owner file)
        if owner == os.getpid() or _alive(owner):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _grade(path: Path, criteria: Criteria, options: Options, start: float) -> SubmissionGrade:
    nb, reason = load_notebook(path)
    if nb is None:
        await criteria.ready()  # the points table
        return SubmissionGrade(path, INVALID, _all_missing(criteria, f"not graded: {reason}"), [reason], ran=False)
    nb = strip_outputs(nb)
    user = users.new_user() if options.isolation is not None and options.isolation.enabled else None
    root = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=options.scratch_root))
    try:
        (root / "owner.pid").write_text(str(os.getpid()))
        work = root / "submission"
        work.mkdir()
        (work / path.name).write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
        if user is not None:  # see users.py for the layout
            root.chmod(0o711)
            users.make_private_all(root, user)
        run = _Run(nb, criteria, options, root, start, user)
        await run.execute()
        begin = monotonic()
        await run.evaluate()
        grade = run.result(path)
        grade.timings = {"extract": round(run.extract_seconds, 2), "evaluate": round(monotonic() - begin, 2)}
        return grade
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if user is not None:
            users.remove_files_of(user)


class _Run:
    """The execution of one submission: cells, restarts, extraction, evaluation."""

    def __init__(
        self, nb, criteria: Criteria, options: Options, root: Path, start: float, user: users.KernelUser | None = None
    ):
        self.criteria, self.options, self.root, self.user = criteria, options, root, user
        self.work = root / "submission"
        self.reader = criteria.write_reader(root / "reader")  # the verified copy the kernel reads values with
        # The kernel writes its results files (and reads its probes) here: its own folder, with a kernel user.
        self.results = root / "results" if user is not None else root
        self.log = root / "kernel.log"
        exercise_of = cell_exercises(nb)
        self.code_cells = []  # (index, code number, exercise, source)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and cell.source.strip():
                self.code_cells.append((index, len(self.code_cells) + 1, exercise_of[index], cell.source))
        self.deadline = start + options.notebook_timeout
        self.records: dict[int, CellReport] = {}
        self.skip: set[int] = set()
        self.notes: list[str] = []
        self.crashed = self.timed_out = False
        self.ran_to_end = False
        self.batch = uuid.uuid4().hex[:12]
        self.seed: int | None = None  # drawn at the first extraction (the criteria are loaded by then)
        self.extracted: dict[int, str] = {}  # exercise -> results file (or a message why not)
        self.extraction_notes: dict[int, str] = {}
        self.deaths: list[int] = []  # code positions where the kernel was found dead, per attempt
        self.exercise_grades: dict[int, Outcome] = {}
        self.extract_seconds = 0.0

    def _report(self, index, code_number, exercise, run: CellRun | None, timeout_used: float = 0.0) -> CellReport:
        report = CellReport(index, code_number, exercise, state="not run" if run is None else run.state)
        if run is not None:
            report.seconds, report.timeout_used = run.seconds, timeout_used
            report.ename, report.evalue, report.traceback = run.ename, run.evalue, run.traceback
            report.output, report.output_chars = run.output.render(), run.output.total
            report.output_truncated = run.output.truncated
        return report

    def _env(self) -> dict[str, str]:
        token = f"{self.batch}-{uuid.uuid4().hex[:8]}"
        return grading_env(self.options.repo_root, self.root, token, self.user)

    async def execute(self) -> None:
        restarts = start_failures = 0
        while True:
            try:
                lost = await self._attempt()
            except KernelStartError as exc:
                start_failures += 1
                if start_failures < 2:
                    continue
                self.crashed = True
                self.notes.append(f"the kernel did not start ({_first_line(exc)})")
                return
            if not lost:
                return
            if restarts >= self.options.max_restarts or monotonic() >= self.deadline:
                self.notes.append("gave up re-running the notebook")
                return
            restarts += 1

    async def _died_after(self, positions: list[int], linger: float) -> bool:
        """Run only the code cells at ``positions`` in a new kernel, then wait ``linger`` s: did it die?"""
        async with Kernel(self.work, self._env(), self.log, self.options.startup_timeout, self.user) as kernel:
            await self.criteria.ready()
            await kernel.run(prepare_cell(self.reader), 30, 5.0, history=False)
            for position in positions:
                source = self.code_cells[position][3]
                remaining = self.deadline - monotonic()
                if remaining <= 0:
                    return False
                run = await kernel.run(source, min(self.options.cell_timeout, remaining), self.options.interrupt_grace)
                if run.state == "dead":
                    return True
                if run.state == "hung":
                    return False
            end = monotonic() + linger
            while monotonic() < end:
                await asyncio.sleep(0.25)
                if not await kernel.km.is_alive():
                    return True
        return False

    async def _find_fatal_cell(self, first: int, second: int) -> int | None:
        """The kernel died at code position ``first``, then (without it) at ``second``: a delayed death.

        Bisect on prefixes: the fatal cell is the first cell whose prefix, run and
        then left idle for a while, kills the kernel. None if it can't be found in time.
        """
        linger = min(max(self.options.cell_timeout, 5.0), 15.0)
        candidates = [p for p in range(max(first, second) + 1) if self.code_cells[p][0] not in self.skip or p == first]
        lo, hi = 0, len(candidates) - 1  # prefix candidates[..hi] is known to kill
        while lo < hi:
            if monotonic() >= self.deadline:
                return None
            mid = (lo + hi) // 2
            if await self._died_after(candidates[: mid + 1], linger):
                hi = mid
            else:
                lo = mid + 1
        return candidates[lo]

    async def _attempt(self) -> bool:
        """Run the notebook once in a new kernel, then extract; True if the kernel was lost (died or hung)."""
        options = self.options
        async with Kernel(self.work, self._env(), self.log, options.startup_timeout, self.user) as kernel:
            waited = monotonic()
            await self.criteria.ready()
            waited = monotonic() - waited
            self.deadline += waited  # waiting for the criteria is not the notebook's time
            self.criteria.kernel_wait = max(self.criteria.kernel_wait, waited)
            await kernel.run(prepare_cell(self.reader), 30, 5.0, history=False)
            for position, (index, code_number, exercise, source) in enumerate(self.code_cells):
                if index in self.skip:
                    continue
                remaining = self.deadline - monotonic()
                if remaining <= 0:
                    self._notebook_limit_reached(position)
                    break
                timeout = min(options.cell_timeout, remaining)
                run = await kernel.run(source, timeout, options.interrupt_grace)
                report = self._report(index, code_number, exercise, run, timeout)
                self.records[index] = report
                if run.asked_exit:
                    self.notes.append(f"{_where(report)} called exit() or quit(); ignored while grading")
                if run.disconnected:
                    self.notes.append(
                        f"{_where(report)} sent the grader a message larger than its {MAX_MESSAGE_BYTES >> 20} MB "
                        "limit; the grader refused it (and the output sent right after it was lost)"
                    )
                elif run.lost_output:
                    self.notes.append(f"{_where(report)}: the end of its output never reached the grader")
                if run.state in ("timeout", "hung"):
                    self.timed_out = True
                    limit = "cell" if timeout >= options.cell_timeout else "notebook"
                    self.notes.append(f"{_where(report)} interrupted after {timeout:.0f} s ({limit} time limit)")
                    if run.state == "hung":
                        self.notes.append(f"{_where(report)} ignored the interrupt; re-ran the notebook without it")
                if run.state == "dead":
                    self.crashed = True
                    log = kernel.log_tail()
                    report.traceback = "The kernel died while running this cell" + (
                        f"; its last words:\n{log}" if log else "."
                    )
                    await self._blame(position, report)
                    return True
                if run.state == "hung":
                    self.skip.add(index)
                    return True
            else:
                self.ran_to_end = True
            begin = monotonic()
            try:
                return await self._extract(kernel)
            finally:
                self.extract_seconds += monotonic() - begin

    async def _blame(self, position: int, report: CellReport) -> None:
        """Decide which cell to leave out of the next run after the kernel died at ``position``."""
        self.deaths.append(position)
        index = self.code_cells[position][0]
        if len(self.deaths) == 1 or position in self.deaths[:-1]:
            self.skip.add(index)
            self.notes.append(f"kernel died in {_where(report)}; re-ran the notebook without it")
            return
        # Died again, at another cell, without the one blamed before: a delayed death
        # (a timer, a background thread). Find the cell that really causes it.
        previous = self.deaths[-2]
        self.skip.discard(self.code_cells[previous][0])
        fatal = await self._find_fatal_cell(previous, position)
        if fatal is None:
            self.skip.add(index)
            self.notes.append(f"kernel died in {_where(report)}; re-ran the notebook without it")
            return
        self.deaths.append(fatal)  # so that a death there again confirms it
        self.skip.add(self.code_cells[fatal][0])
        culprit = self.records.get(self.code_cells[fatal][0]) or self._report(*self.code_cells[fatal][:3], None)
        self.notes = [n for n in self.notes if not n.startswith("kernel died in")]
        self.notes.append(
            f"the kernel died a while after {_where(culprit)} ran (found by re-running parts of the "
            "notebook); re-ran the notebook without it"
        )

    async def _extract(self, kernel: Kernel) -> bool:
        """Extract every exercise not yet extracted, each in its own cell and file; True if the kernel was lost."""
        options = self.options
        if self.seed is None:
            self.seed = secrets.randbits(32)  # secret, fresh per submission; the labels stay in the evaluator
        probes_master = self.root / "probes.npz"
        reply = await self.criteria.request({"op": "probes", "seed": self.seed, "path": str(probes_master),
                                             **self._limits()})
        if not reply.get("ok"):
            probes_master = None
            self.notes.append(f"the grader could not make its probe inputs ({reply.get('error', 'no reply')})")
        elif self.user is not None:
            probes_master.chmod(0o600)  # the grader's copy; each extraction gets its own below
        for ex in self.criteria.exercises:
            if ex.number in self.extracted:
                continue
            base = self.results / f"values-{ex.number}-{uuid.uuid4().hex}"
            probes_path = None
            if probes_master is not None:
                probes_path = self.results / f"probes-{uuid.uuid4().hex}.npz"
                shutil.copyfile(probes_master, probes_path)
                users.give(probes_path, self.user)
            self.extracted[ex.number] = str(base)
            cell = extraction_cell(self.reader, ex.number, base, probes_path)
            run = await kernel.run(cell, options.extract_timeout, 5.0, history=False)
            if run.state in ("timeout", "hung"):
                self.extraction_notes[ex.number] = (
                    f"reading your values took longer than {options.extract_timeout:.0f} s (the grader's limit per "
                    "exercise); look at the functions and models this exercise calls"
                )
                self.notes.append(
                    f"exercise {ex.number}: reading its values took longer than {options.extract_timeout:.0f} s"
                )
                if run.state == "hung":
                    return True  # re-run the notebook for the exercises not yet extracted
            elif run.state == "dead":
                self.extraction_notes[ex.number] = "the kernel died while the grader read this exercise's values"
                self.notes.append(f"exercise {ex.number}: the kernel died while the grader read its values")
                return True
            elif run.state == "error":
                self.extraction_notes[ex.number] = f"the grader's reading cell failed: {run.ename}: {run.evalue}"
        if probes_master is not None:
            probes_master.unlink(missing_ok=True)
        return False

    def _notebook_limit_reached(self, position: int) -> None:
        left = sum(1 for index, *_ in self.code_cells[position:] if index not in self.skip)
        self.notes.append(f"{left} code cells not run (notebook time limit of {self.options.notebook_timeout:.0f} s)")
        self.timed_out = True
        for index, code_number, exercise, _ in self.code_cells[position:]:
            if index not in self.skip:
                self.records[index] = self._report(index, code_number, exercise, None)

    async def evaluate(self) -> None:
        """Evaluate each extracted exercise in the evaluation process (its own time and memory limit)."""
        options = self.options
        for ex in self.criteria.exercises:

            def grade(status, message, points=0, details="", answer=None, ex=ex):
                return Outcome(ex.number, status, short(message, MAX_MESSAGE_CHARS), points, ex.title, ex.points,
                               details, answer)

            if ex.number not in self.extracted:
                why = "the notebook could not be run to the end" if not self.ran_to_end else "no results came back"
                self.exercise_grades[ex.number] = grade(FAILED, f"not graded: {why} (see the notes above)")
                continue
            if ex.number in self.extraction_notes:
                self.exercise_grades[ex.number] = grade(FAILED, f"not graded: {self.extraction_notes[ex.number]}")
                continue
            reply = await self.criteria.request({"op": "evaluate", "number": ex.number, "seed": self.seed,
                                                 "path": self.extracted[ex.number], **self._limits()})
            error = reply.get("error")
            if error == "timeout":
                message = (
                    f"not graded: evaluating your values took longer than {options.evaluate_timeout:.0f} s "
                    "(the grader's limit)"
                )
            elif error == "memory":
                message = (
                    f"not graded: evaluating your values needed more than "
                    f"{options.evaluate_memory / 1e9:.1f} GB (the grader's limit)"
                )
            elif error:
                message = f"not graded: the evaluation failed ({error})"
            if error:
                self.notes.append(f"exercise {ex.number}: {message[len('not graded: ') :]}")
                self.exercise_grades[ex.number] = grade(FAILED, message)
                continue
            if reply.get("note"):
                self.notes.append(f"exercise {ex.number}: {reply['note']}")
            points = max(0, min(int(reply.get("points", 0)), ex.points)) if reply.get("status") == PASSED else 0
            self.exercise_grades[ex.number] = grade(reply.get("status", FAILED), str(reply.get("message", "")), points,
                                                    str(reply.get("details", "")), reply.get("answer"))
        if self.seed is not None:
            await self.criteria.request({"op": "forget", "seed": self.seed})

    def _limits(self) -> dict:
        """Time and memory limit of one request to the evaluation process."""
        return {"timeout": self.options.evaluate_timeout, "memory": self.options.evaluate_memory}

    def result(self, path: Path) -> SubmissionGrade:
        status = CRASHED if self.crashed else TIMEOUT if self.timed_out else GRADED
        exercises = [self.exercise_grades[ex.number] for ex in self.criteria.exercises]
        cells = [self.records[index] for index, *_ in self.code_cells if index in self.records]
        notes = list(dict.fromkeys(self.notes))  # a re-run repeats the notes of the cells before the crash
        return SubmissionGrade(path=path, status=status, exercises=exercises, notes=notes, cells=cells)


# --------------------------------------------------------------------------
# Many submissions
# --------------------------------------------------------------------------
async def grade_all(
    paths: Iterable[Path],
    criteria: Criteria,
    options: Options,
    on_result: Callable[[SubmissionGrade], None] | None = None,
) -> list[SubmissionGrade]:
    """Grade ``paths`` with ``options.jobs`` kernels at a time; results in the order of ``paths``.

    Before the first kernel: this process becomes the subreaper of the kernels'
    processes (see ``procs.py``), scratch folders left by a killed grader are
    removed, and the criteria are loaded in the evaluation process. Afterwards
    the evaluation process ends and no process of a kernel is left.

    Raises:
        CriteriaError: the criteria failed to load.
    """
    procs.become_subreaper()
    clean_stale_scratch(scratch_parent(options))
    if options.isolation is None:
        options.isolation = await users.probe(
            options.kernel_user,
            options.repo_root,
            scratch_parent(options),
            lambda scratch, user: grading_env(options.repo_root, scratch, "probe", user),
        )
        level = "" if options.isolation.enabled or options.kernel_user == "off" else "WARNING: "
        print(f"grader: {level}{options.isolation.describe()}", file=sys.stderr)
    # The evaluation process is spawned first; kernels may start meanwhile, but no cell of a
    # submission runs before the criteria are loaded in it (``criteria.ready()``).
    await criteria.begin(evaluator_env(options.repo_root))
    semaphore = asyncio.Semaphore(max(1, options.jobs))

    async def one(path: Path) -> SubmissionGrade:
        async with semaphore:
            grade = await grade_submission(path, criteria, options)
        if on_result is not None:
            on_result(grade)
        return grade

    try:
        tasks = [asyncio.ensure_future(one(Path(p))) for p in paths]
        try:
            await criteria.ready()
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    finally:
        await criteria.close()
    return [task.result() for task in tasks]
