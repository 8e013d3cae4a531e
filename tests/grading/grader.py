"""Grade submissions: re-execute each one in a fresh kernel, extract, evaluate.

For one submission (``grade_submission``):

1. Read the file; anything that isn't a readable notebook is graded
   ``invalid notebook`` with 0 points, without starting a kernel.
2. Copy it, stored outputs stripped, into a fresh temporary folder, the
   kernel's working folder; the folder is deleted afterwards.
3. Run its code cells in order in a fresh kernel. Errors don't stop the run. A
   cell still running after ``cell_timeout`` is interrupted and the run goes on
   with the next cell; once ``notebook_timeout`` is spent the remaining cells
   are skipped. If the kernel dies (or ignores the interrupt), a new kernel
   re-runs the notebook without that cell, at most ``max_restarts`` times.
4. Append one cell that extracts every exercise's plain values
   (``extraction.injected_cell``), read them back, and call the criteria's
   ``evaluate`` in this process.

``grade_all`` runs ``jobs`` submissions at once, each with its own kernel.
"""

from __future__ import annotations

import asyncio
import json
import re
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

from .checks import DEFAULT_CHECKS_PATH, REPO_ROOT, Checks, ChecksError
from .extraction import Extracted, Payload, injected_cell, read_payload
from .kernel import INTERRUPT_GRACE, CellRun, Kernel, KernelStartError, kernel_env

GRADED, TIMEOUT, CRASHED, INVALID = "graded", "timeout", "crashed", "invalid notebook"
STATUSES = (GRADED, TIMEOUT, CRASHED, INVALID)
PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
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
        checks_path: the criteria module (``tests/exercise_checks.py``).
        repo_root: put first on the kernels' PYTHONPATH.
        scratch_root: parent of the temporary folders (default: the system's).
        interrupt_grace: seconds a kernel gets to stop after an interrupt.
        max_restarts: new kernels after a kernel died or hung.
    """

    cell_timeout: float = 120.0
    notebook_timeout: float = 600.0
    jobs: int = 1
    checks_path: Path = DEFAULT_CHECKS_PATH
    repo_root: Path = REPO_ROOT
    scratch_root: Path | None = None
    interrupt_grace: float = INTERRUPT_GRACE
    max_restarts: int = 2
    startup_timeout: float = 60.0

    @property
    def extract_timeout(self) -> float:
        return max(self.cell_timeout, 30.0)


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
class ExerciseGrade:
    """The grade of one exercise."""

    number: int
    title: str
    points: int
    max_points: int
    status: str  # passed, failed, not attempted
    message: str
    details: str = ""  # a traceback from the extraction or the evaluation, if any


@dataclass
class SubmissionGrade:
    """The grade of one submission."""

    path: Path
    status: str
    exercises: list[ExerciseGrade]
    notes: list[str] = field(default_factory=list)
    cells: list[CellReport] = field(default_factory=list)
    seconds: float = 0.0
    extraction_error: str = ""

    @property
    def name(self) -> str:
        return self.path.name

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
def find_submissions(path: Path) -> tuple[list[Path], list[Path]]:
    """The notebooks to grade in folder ``path`` (not recursive), and the hidden ones skipped.

    ``path`` may also be a single notebook file.
    """
    path = Path(path)
    if path.is_file():
        return [path], []
    found = [p for p in path.iterdir() if p.name.lower().endswith(".ipynb") and not p.is_dir()]
    hidden = sorted(p for p in found if p.name.startswith("."))
    graded = sorted((p for p in found if not p.name.startswith(".")), key=lambda p: _natural_key(p.name))
    return graded, hidden


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def load_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """Read a submission; return ``(notebook, "")`` or ``(None, why it is not a notebook)``."""
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            return None, f"file is {size / 1e6:.0f} MB (limit {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB)"
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "not a text file (not UTF-8)"
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    try:
        raw = json.loads(text)
    except ValueError as exc:
        return None, f"not valid JSON ({exc})"
    if not isinstance(raw, dict) or "nbformat" not in raw:
        return None, "valid JSON but not a notebook (no 'nbformat' field)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4, capture_validation_error={})
    except Exception as exc:
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
    """A copy of ``nb`` without stored outputs and execution counts."""
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


def _short(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 16] + " ... [truncated]"


def _where(cell: CellReport) -> str:
    place = f"code cell {cell.code_number}"
    return f"{place} (exercise {cell.exercise})" if cell.exercise is not None else place


async def grade_submission(path: Path, checks: Checks, options: Options) -> SubmissionGrade:
    """Grade one notebook file (never raises: a grader failure becomes status ``crashed``)."""
    start = monotonic()
    try:
        grade = await _grade(Path(path), checks, options, start)
    except Exception as exc:  # the batch must go on; the row says what happened
        traceback.print_exc(file=sys.stderr)
        grade = SubmissionGrade(
            path=Path(path),
            status=CRASHED,
            exercises=_all_missing(checks, "not graded: the grader failed on this submission"),
            notes=[f"grader error: {type(exc).__name__}: {_first_line(exc)}"],
        )
    grade.seconds = monotonic() - start
    return grade


def _all_missing(checks: Checks, message: str) -> list[ExerciseGrade]:
    return [
        ExerciseGrade(ex.number, ex.title, 0, ex.points, FAILED if message else NOT_ATTEMPTED, message)
        for ex in checks.exercises
    ]


async def _grade(path: Path, checks: Checks, options: Options, start: float) -> SubmissionGrade:
    nb, reason = load_notebook(path)
    if nb is None:
        await asyncio.wrap_future(checks.future)  # the points table
        return SubmissionGrade(
            path=path, status=INVALID, exercises=_all_missing(checks, f"not graded: {reason}"), notes=[reason]
        )
    nb = strip_outputs(nb)
    root = Path(tempfile.mkdtemp(prefix="grading-", dir=options.scratch_root))
    try:
        work = root / "submission"
        work.mkdir()
        (work / path.name).write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
        out_path = root / f"extracted-{uuid.uuid4().hex}.json"
        run = _Run(nb, checks, options, work, root / "kernel.log", out_path, start)
        await run.execute()
        payload = read_payload(out_path) if run.extracted else None
        await asyncio.wrap_future(checks.future)  # loaded in the background while the kernel ran
        return run.result(path, payload)
    finally:
        shutil.rmtree(root, ignore_errors=True)


class _Run:
    """The execution of one submission: cells, restarts, extraction."""

    def __init__(self, nb, checks: Checks, options: Options, work: Path, log: Path, out_path: Path, start: float):
        self.checks, self.options, self.work, self.log, self.out_path = checks, options, work, log, out_path
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
        self.extracted = False
        self.extraction_state = ""
        self.extraction_error = ""

    def _report(self, index, code_number, exercise, run: CellRun | None, timeout_used: float = 0.0) -> CellReport:
        report = CellReport(index, code_number, exercise, state="not run" if run is None else run.state)
        if run is not None:
            report.seconds, report.timeout_used = run.seconds, timeout_used
            report.ename, report.evalue, report.traceback = run.ename, run.evalue, run.traceback
            report.output, report.output_chars = run.output.render(), run.output.total
            report.output_truncated = run.output.truncated
        return report

    async def execute(self) -> None:
        tmpdir = self.work.parent / "tmp"
        tmpdir.mkdir(exist_ok=True)
        env = kernel_env(self.options.repo_root, tmpdir)
        restarts = start_failures = 0
        while True:
            try:
                lost = await self._attempt(env)
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
                self.notes.append("gave up re-running the notebook; nothing could be extracted")
                return
            restarts += 1

    async def _attempt(self, env) -> bool:
        """Run the notebook once in a new kernel; True if the kernel was lost (died or hung)."""
        options = self.options
        async with Kernel(self.work, env, self.log, options.startup_timeout) as kernel:
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
                    self.notes.append(f"kernel died in {_where(report)}; re-ran the notebook without it")
                if run.state in ("dead", "hung"):
                    self.skip.add(index)
                    return True
            self.extracted = True
            run = await kernel.run(injected_cell(self.checks, self.out_path), options.extract_timeout, 5.0)
            self.extraction_state = run.state
            if run.state in ("timeout", "hung"):
                self.timed_out = True
                self.notes.append(f"reading the results took longer than {options.extract_timeout:.0f} s")
            elif run.state == "dead":
                self.crashed = True
                self.notes.append("the kernel died while the grader read the results")
            elif run.state == "error":
                self.extraction_error = run.traceback
        return False

    def _notebook_limit_reached(self, position: int) -> None:
        left = sum(1 for index, *_ in self.code_cells[position:] if index not in self.skip)
        self.notes.append(f"{left} code cells not run (notebook time limit of {self.options.notebook_timeout:.0f} s)")
        self.timed_out = True
        for index, code_number, exercise, _ in self.code_cells[position:]:
            if index not in self.skip:
                self.records[index] = self._report(index, code_number, exercise, None)

    def result(self, path: Path, payload: Payload | None) -> SubmissionGrade:
        status = CRASHED if self.crashed else TIMEOUT if self.timed_out else GRADED
        if payload is None:
            why = "the notebook did not run to the end" if not self.extracted else "no results came back"
            exercises = _all_missing(self.checks, f"not graded: {why} (see the notes above)")
            if self.extracted:
                status = CRASHED if status == GRADED else status
                self.notes.append(
                    "the results file was not written"
                    + (f": {_first_line(self.extraction_error.splitlines()[-1])}" if self.extraction_error else "")
                )
        elif payload.load_error:
            status = CRASHED
            self.notes.append("the criteria failed to load in the kernel")
            exercises = _all_missing(self.checks, "not graded: the criteria failed to load in your kernel")
            self.extraction_error = payload.load_error
        else:
            exercises = [self._evaluate(ex, payload.exercises.get(ex.number)) for ex in self.checks.exercises]
        cells = [self.records[index] for index, *_ in self.code_cells if index in self.records]
        notes = list(dict.fromkeys(self.notes))  # a re-run repeats the notes of the cells before the crash
        return SubmissionGrade(
            path=path,
            status=status,
            exercises=exercises,
            notes=notes,
            cells=cells,
            extraction_error=self.extraction_error,
        )

    def _evaluate(self, ex, entry: Extracted | None) -> ExerciseGrade:
        def grade(status, message, points=0, details=""):
            return ExerciseGrade(ex.number, ex.title, points, ex.points, status, _short(message), details)

        if entry is None:
            return grade(FAILED, "not graded: the grader could not read this exercise (the run stopped before it)")
        if entry.kind == "not attempted":
            return grade(NOT_ATTEMPTED, entry.message or "not attempted")
        if entry.kind == "error":
            return grade(
                FAILED, f"your code failed when the grader read this exercise: {entry.message}", details=entry.traceback
            )
        try:
            result = self.checks.evaluate(ex.number, entry.values)
            status = str(getattr(result, "status", FAILED))
            message = str(getattr(result, "message", ""))
            points = int(getattr(result, "points", 0))
        except Exception as exc:
            self.notes.append(f"exercise {ex.number} could not be evaluated ({type(exc).__name__})")
            return grade(
                FAILED,
                f"could not be evaluated: {type(exc).__name__}: {_first_line(exc)}",
                details=traceback.format_exc(limit=-5),
            )
        if status not in (PASSED, FAILED, NOT_ATTEMPTED):
            status = FAILED
        return grade(status, message, points=max(0, min(points, ex.points)))


# --------------------------------------------------------------------------
# Many submissions
# --------------------------------------------------------------------------
async def grade_all(
    paths: Iterable[Path],
    checks: Checks,
    options: Options,
    on_result: Callable[[SubmissionGrade], None] | None = None,
) -> list[SubmissionGrade]:
    """Grade ``paths`` with ``options.jobs`` kernels at a time; results in the order of ``paths``.

    Raises:
        ChecksError: the criteria failed to load (the other work is cancelled).
    """
    semaphore = asyncio.Semaphore(max(1, options.jobs))

    async def one(path: Path) -> SubmissionGrade:
        async with semaphore:
            grade = await grade_submission(path, checks, options)
        if on_result is not None:
            on_result(grade)
        return grade

    async def criteria_loaded() -> None:
        await asyncio.wrap_future(checks.future)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(criteria_loaded())  # fails the batch if the criteria don't load
            tasks = [group.create_task(one(Path(p))) for p in paths]
    except* ChecksError as errors:
        raise errors.exceptions[0] from None
    return [task.result() for task in tasks]
