"""Grade submissions: re-execute each one in a fresh kernel, extract, evaluate (README, part 1).

Each cell runs with ``cell_timeout``, all within ``notebook_timeout``; when the kernel dies or ignores the
interrupt, the notebook is re-run in a new kernel without that cell (a delayed death is bisected).
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
from .criteria import Criteria, CriteriaError, ExerciseInfo
from .evaluator import read_regular_file
from .kernel import INTERRUPT_GRACE, MAX_MESSAGE_BYTES, CellRun, Kernel, KernelStartError, grading_env
from .outcome import FAILED, PASSED, Outcome, short

GRADED, TIMEOUT, CRASHED, INVALID = "graded", "timeout", "crashed", "invalid notebook"
STATUSES = (GRADED, TIMEOUT, CRASHED, INVALID)  # of a submission; an exercise's are in outcome.py
MAX_NOTEBOOK_BYTES = 100_000_000
MAX_MESSAGE_CHARS = 600
MAX_OUTPUT_CHUNK = 1 << 20  # characters per output message (prepare_cell)
SCRATCH_PREFIX = "grading-"


@dataclass
class Options:
    """How submissions are run (times in seconds; the CLI's options). ``isolation``: what ``grade_all`` found."""

    cell_timeout: float = 120.0
    notebook_timeout: float = 600.0
    jobs: int = 1
    repo_root: Path = ROOT
    scratch_root: Path | None = None
    interrupt_grace: float = INTERRUPT_GRACE
    max_restarts: int = 6
    startup_timeout: float = 60.0
    extract_timeout_s: float | None = None
    evaluate_timeout: float = 60.0
    evaluate_memory: int = 4_000_000_000
    kernel_user: str = "auto"
    isolation: users.Isolation | None = None


@dataclass
class CellReport:
    """One code cell and its last run (if the kernel was restarted); ``run.state`` "not run" past the time limit."""

    code_number: int  # 1-based position among the code cells
    exercise: int | None
    run: CellRun
    timeout_used: float = 0.0


@dataclass
class SubmissionGrade:
    path: Path
    status: str
    exercises: list[Outcome]
    notes: list[str] = field(default_factory=list)
    cells: list[CellReport] = field(default_factory=list)
    seconds: float = 0.0
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


# --- Reading submissions ---
def display_name(name: str) -> str:
    """A file name as printable text: bytes that aren't UTF-8 (a Windows zip unpacked on Linux) as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def find_submissions(path: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """The notebooks to grade in folder ``path`` (not recursive; or ``path`` itself), the hidden ones, the folders."""
    path = Path(path)
    if not path.is_dir():
        return [path], [], []
    found = [p for p in path.iterdir() if p.name.lower().endswith(".ipynb")]
    folders = sorted(p for p in found if p.is_dir() and not p.name.startswith("."))
    found = [p for p in found if not p.is_dir()]
    hidden = sorted(p for p in found if p.name.startswith("."))
    graded = sorted((p for p in found if not p.name.startswith(".")), key=lambda p: natural_key(display_name(p.name)))
    return graded, hidden, folders


def _first_line(exc: BaseException | str) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def load_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """``(notebook without stored outputs, "")`` or ``(None, why it is not a notebook)``."""
    try:
        text = read_regular_file(str(path), MAX_NOTEBOOK_BYTES, follow_symlinks=True).decode("utf-8-sig")
        raw = json.loads(text)
    except UnicodeDecodeError:
        return None, "not a text file (not UTF-8)"
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})" if exc.errno else str(exc)
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
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb, ""


_EXERCISE_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*Exercise\s+(\d+)\b", re.IGNORECASE | re.MULTILINE)
_TOP_HEADING = re.compile(r"^\s{0,3}#{1,2}\s+\S", re.MULTILINE)
_EXERCISE_TAG = re.compile(r"ex(\d+)")


def cell_exercises(nb: nbformat.NotebookNode) -> list[int | None]:
    """The exercise of each cell, for the feedback only: its ``exN`` tag, else the last ``Exercise N`` heading
    above it (another level-1/2 heading ends an exercise)."""
    result: list[int | None] = []
    current = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = _EXERCISE_HEADING.search(cell.source)
            current = int(match.group(1)) if match else None if _TOP_HEADING.search(cell.source) else current
        tags = cell.get("metadata", {}).get("tags", [])
        tagged = [int(m.group(1)) for tag in tags if isinstance(tag, str) and (m := _EXERCISE_TAG.fullmatch(tag))]
        result.append(tagged[0] if tagged else current)
    return result


# The cells the grader adds: they load its copy of in_kernel.py by path, under a new name, with only
# `import` and attribute access (a student's `exec = ...` or patched module changes nothing).
def _call(reader: Path, function: str, args: str) -> str:
    path = str(reader / "in_kernel.py")
    return (
        "import builtins as __grader_builtins, importlib.util as __grader_util\n"
        f"__grader_spec = __grader_util.spec_from_file_location('_grader_in_kernel', {path!r})\n"
        "__grader_module = __grader_util.module_from_spec(__grader_spec)\n"
        "__grader_spec.loader.exec_module(__grader_module)\n"
        f"__grader_module.{function}({args})\n"
        "del __grader_builtins, __grader_util, __grader_spec, __grader_module\n"
    )


def prepare_cell(reader: Path) -> str:
    """The cell run (silently) before the student's: ``exit()`` is harmless, huge writes are chunked."""
    return _call(reader, "prepare", f"__grader_builtins.get_ipython(), {MAX_OUTPUT_CHUNK}")


def extraction_cell(reader: Path, number: int, base: Path, probes_path: Path | None = None) -> str:
    """The cell that writes exercise ``number``'s values to ``base`` + .json/.npz, reading (and deleting) the
    probe inputs in ``probes_path``; ``reader`` holds the grader's ``in_kernel.py`` and ``criteria/``."""
    args = ", ".join(repr(a) for a in (str(reader / "criteria"), str(base), number,
                                        str(probes_path) if probes_path else None))
    return _call(reader, "run_one", f"__grader_builtins.globals(), {args}")


# --- Grading one submission ---
def _where(code_number: int, exercise: int | None) -> str:
    return f"code cell {code_number}" + (f" (exercise {exercise})" if exercise is not None else "")


def _all_failed(criteria: Criteria, message: str) -> list[Outcome]:
    return [Outcome(ex.number, FAILED, message, 0, ex.title, ex.points) for ex in criteria.exercises]


def clean_stale_scratch(parent: Path) -> None:
    """Remove the scratch folders of a grader that was killed (its ``owner.pid`` no longer runs)."""
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(SCRATCH_PREFIX) and p.is_dir()]
    except OSError:
        return
    for folder in candidates:
        try:
            owner = int((folder / "owner.pid").read_text().split()[0])
            if owner != os.getpid():
                os.kill(owner, 0)  # raises ProcessLookupError when the owner no longer runs
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError, IndexError):
            pass  # alive (PermissionError: another user's), or not ours (no owner file)


async def grade_submission(path: Path, criteria: Criteria, options: Options) -> SubmissionGrade:
    """Grade one notebook file; never raises but ``CriteriaError`` (a grader failure becomes ``crashed``)."""
    start, path = monotonic(), Path(path)
    nb, reason = load_notebook(path)
    if nb is None:
        await criteria.ready()  # the points table
        return SubmissionGrade(path, INVALID, _all_failed(criteria, f"not graded: {reason}"), [reason],
                               seconds=monotonic() - start)
    user = root = None
    try:
        user = users.new_user() if options.isolation is not None and options.isolation.enabled else None
        root = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=options.scratch_root))
        (root / "owner.pid").write_text(str(os.getpid()))
        (root / "submission").mkdir()
        (root / "submission" / path.name).write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
        if user is not None:  # see users.py for the layout
            root.chmod(0o711)
            users.make_private_all(root, user)
            # Once, before any of its code runs: later, HOME holds what the kernel put there (links included).
            users.seed_matplotlib_cache(root / "home" / ".matplotlib", user)
        run = _Run(nb, criteria, options, root, start, user)
        await run.execute()
        begin = monotonic()
        grade = run.result(path, await run.evaluate())
        grade.timings = {"extract": round(run.extract_seconds, 2), "evaluate": round(monotonic() - begin, 2)}
    except CriteriaError:
        raise
    except Exception as exc:  # the batch must go on; the row says what happened
        traceback.print_exc(file=sys.stderr)
        grade = SubmissionGrade(path, CRASHED, _all_failed(criteria, "not graded: the grader failed on this "
                                "submission"), notes=[f"grader error: {type(exc).__name__}: {_first_line(exc)}"])
    finally:
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
        if user is not None:
            users.remove_files_of(user)
    grade.seconds = monotonic() - start
    return grade


class _Run:
    """The execution of one submission: cells, restarts, extraction, evaluation."""

    def __init__(self, nb, criteria: Criteria, options: Options, root: Path, start: float, user=None):
        self.criteria, self.options, self.root, self.user = criteria, options, root, user
        self.work = root / "submission"
        self.reader = criteria.write_reader(root / "reader")  # the verified copy the kernel reads values with
        self.results = root / "results" if user is not None else root  # the kernel's own folder with a user
        exercise_of = cell_exercises(nb)
        code = [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.source.strip()]
        # (index among all cells, 1-based number among the code cells, exercise, source)
        self.code_cells = [(index, n, exercise_of[index], cell.source) for n, (index, cell) in enumerate(code, 1)]
        self.deadline = start + options.notebook_timeout
        self.records: dict[int, CellReport] = {}
        self.skip: set[int] = set()
        self.notes: list[str] = []
        self.crashed = self.timed_out = self.ran_to_end = False
        self.seed: int | None = None  # drawn at the first extraction (the criteria are loaded by then)
        self.extracted: dict[int, str] = {}  # exercise -> results file
        self.extraction_notes: dict[int, str] = {}
        self.deaths: list[int] = []  # code positions where the kernel was found dead, per attempt
        self.extract_seconds = 0.0

    def _kernel(self) -> Kernel:
        env = grading_env(self.options.repo_root, self.root, uuid.uuid4().hex, self.user)
        return Kernel(self.work, env, self.root / "kernel.log", self.options.startup_timeout, self.user)

    async def _start(self, kernel: Kernel) -> None:
        """No cell runs before the criteria are loaded; waiting for them is not the notebook's time."""
        waited = monotonic()
        await self.criteria.ready()
        waited = monotonic() - waited
        self.deadline += waited
        self.criteria.kernel_wait = max(self.criteria.kernel_wait, waited)
        await kernel.run(prepare_cell(self.reader), 30, 5.0, history=False)

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
        async with self._kernel() as kernel:
            await self._start(kernel)
            for position in positions:
                remaining = self.deadline - monotonic()
                if remaining <= 0:
                    return False
                run = await kernel.run(self.code_cells[position][3], min(self.options.cell_timeout, remaining),
                                       self.options.interrupt_grace)
                if run.state in ("dead", "hung"):
                    return run.state == "dead"
            end = monotonic() + linger
            while monotonic() < end:
                await asyncio.sleep(0.25)
                if not await kernel.km.is_alive():
                    return True
        return False

    async def _find_fatal_cell(self, first: int, second: int) -> int | None:
        """The kernel died at code position ``first``, then (without it) at ``second``: bisect on prefixes for
        the first cell whose prefix, run and left idle a while, kills the kernel; None if not found in time."""
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
        async with self._kernel() as kernel:
            await self._start(kernel)
            for position, (index, code_number, exercise, source) in enumerate(self.code_cells):
                if index in self.skip:
                    continue
                remaining = self.deadline - monotonic()
                if remaining <= 0:  # the notebook time limit: the cells left are not run
                    left = [cell for cell in self.code_cells[position:] if cell[0] not in self.skip]
                    self.notes.append(f"{len(left)} code cells not run (notebook time limit of "
                                      f"{options.notebook_timeout:.0f} s)")
                    self.timed_out = True
                    self.records.update({cell[0]: CellReport(*cell[1:3], CellRun("not run")) for cell in left})
                    break
                timeout = min(options.cell_timeout, remaining)
                run = await kernel.run(source, timeout, options.interrupt_grace)
                self.records[index] = CellReport(code_number, exercise, run, timeout)
                where = _where(code_number, exercise)
                if run.asked_exit:
                    self.notes.append(f"{where} called exit() or quit(); ignored while grading")
                if run.disconnected:
                    self.notes.append(f"{where} sent the grader a message larger than its {MAX_MESSAGE_BYTES >> 20} "
                                      "MB limit; the grader refused it (and the output sent right after it was lost)")
                elif run.lost_output:
                    self.notes.append(f"{where}: the end of its output never reached the grader")
                if run.state in ("timeout", "hung"):
                    self.timed_out = True
                    limit = "cell" if timeout >= options.cell_timeout else "notebook"
                    self.notes.append(f"{where} interrupted after {timeout:.0f} s ({limit} time limit)")
                if run.state == "hung":
                    self.notes.append(f"{where} ignored the interrupt; re-ran the notebook without it")
                    self.skip.add(index)
                    return True
                if run.state == "dead":
                    self.crashed = True
                    log = kernel.log_tail()
                    run.traceback = "The kernel died while running this cell" + (
                        f"; its last words:\n{log}" if log else ".")
                    await self._blame(position, where)
                    return True
            else:
                self.ran_to_end = True
            begin = monotonic()
            try:
                return await self._extract(kernel)
            finally:
                self.extract_seconds += monotonic() - begin

    async def _blame(self, position: int, where: str) -> None:
        """Decide which cell to leave out of the next run after the kernel died at ``position`` (``where``)."""
        self.deaths.append(position)
        index = self.code_cells[position][0]
        fatal = None
        if len(self.deaths) > 1 and position not in self.deaths[:-1]:
            # Died again, at another cell, without the one blamed before: a delayed death (a timer, a thread).
            previous = self.deaths[-2]
            self.skip.discard(self.code_cells[previous][0])
            fatal = await self._find_fatal_cell(previous, position)
        if fatal is None:
            self.skip.add(index)
            self.notes.append(f"kernel died in {where}; re-ran the notebook without it")
            return
        self.deaths.append(fatal)  # so that a death there again confirms it
        self.skip.add(self.code_cells[fatal][0])
        self.notes = [n for n in self.notes if not n.startswith("kernel died in")]
        culprit = _where(*self.code_cells[fatal][1:3])
        self.notes.append(f"the kernel died a while after {culprit} ran (found by re-running parts of the notebook); "
                          "re-ran the notebook without it")

    async def _extract(self, kernel: Kernel) -> bool:
        """Extract every exercise not yet extracted, each in its own cell and file; True if the kernel was lost."""
        limit = self.options.extract_timeout_s or max(self.options.cell_timeout, 30.0)
        if self.seed is None:
            self.seed = secrets.randbits(32)  # secret, fresh per submission; the labels stay in the evaluator
        probes = self.root / f"probes-{uuid.uuid4().hex}.npz"  # in a folder the kernel's user can't write to
        reply = await self.criteria.request({"op": "probes", "seed": self.seed, "path": str(probes)})
        if reply.get("ok"):
            users.give(probes, self.user)
        else:
            probes = None
            self.notes.append(f"the grader could not make its probe inputs ({reply.get('error', 'no reply')})")
        for ex in self.criteria.exercises:
            if ex.number in self.extracted:
                continue
            base = self.results / f"values-{ex.number}-{uuid.uuid4().hex}"
            self.extracted[ex.number] = str(base)
            run = await kernel.run(extraction_cell(self.reader, ex.number, base, probes), limit, 5.0, history=False)
            if run.state in ("timeout", "hung"):
                self.extraction_notes[ex.number] = (f"reading your values took longer than {limit:.0f} s (the grader's "
                                                    "limit per exercise); look at the functions and models this "
                                                    "exercise calls")
                self.notes.append(f"exercise {ex.number}: reading its values took longer than {limit:.0f} s")
                if run.state == "hung":
                    return True  # re-run the notebook for the exercises not yet extracted
            elif run.state == "dead":
                self.extraction_notes[ex.number] = "the kernel died while the grader read this exercise's values"
                self.notes.append(f"exercise {ex.number}: the kernel died while the grader read its values")
                return True
            elif run.state == "error":
                self.extraction_notes[ex.number] = f"the grader's reading cell failed: {run.ename}: {run.evalue}"
        return False

    async def evaluate(self) -> list[Outcome]:
        """Each exercise's outcome, evaluated in the evaluation process (its own time and memory limit)."""
        return [await self._evaluate(ex) for ex in self.criteria.exercises]

    async def _evaluate(self, ex: ExerciseInfo) -> Outcome:
        def grade(status, message, points=0, details="", answer=None):
            return Outcome(ex.number, status, short(message, MAX_MESSAGE_CHARS), points, ex.title, ex.points,
                           details, answer)

        if ex.number not in self.extracted or ex.number in self.extraction_notes:
            why = "the notebook could not be run to the end" if not self.ran_to_end else "no results came back"
            return grade(FAILED, "not graded: " + self.extraction_notes.get(ex.number, f"{why} (see the notes above)"))
        reply = await self.criteria.request({"op": "evaluate", "number": ex.number, "seed": self.seed, "path":
                                             self.extracted[ex.number], "timeout": self.options.evaluate_timeout,
                                             "memory": self.options.evaluate_memory})
        if error := reply.get("error"):
            over = {"timeout": f"took longer than {self.options.evaluate_timeout:.0f} s",
                    "memory": f"needed more than {self.options.evaluate_memory / 1e9:.1f} GB"}.get(error)
            why = f"evaluating your values {over} (the grader's limit)" if over else f"the evaluation failed ({error})"
            self.notes.append(f"exercise {ex.number}: {why}")
            return grade(FAILED, f"not graded: {why}")
        if reply.get("note"):
            self.notes.append(f"exercise {ex.number}: {reply['note']}")
        points = max(0, min(int(reply.get("points", 0)), ex.points)) if reply.get("status") == PASSED else 0
        return grade(reply.get("status", FAILED), str(reply.get("message", "")), points, str(reply.get("details", "")),
                     reply.get("answer"))

    def result(self, path: Path, exercises: list[Outcome]) -> SubmissionGrade:
        status = CRASHED if self.crashed else TIMEOUT if self.timed_out else GRADED
        cells = [self.records[index] for index, *_ in self.code_cells if index in self.records]
        notes = list(dict.fromkeys(self.notes))  # a re-run repeats the notes of the cells before the crash
        return SubmissionGrade(path=path, status=status, exercises=exercises, notes=notes, cells=cells)


# --- Many submissions ---
async def grade_all(
    paths: Iterable[Path], criteria: Criteria, options: Options,
    on_result: Callable[[SubmissionGrade], None] | None = None,
) -> list[SubmissionGrade]:
    """Grade ``paths`` with ``options.jobs`` kernels at a time; results in the order of ``paths``. First: become
    the kernels' subreaper, clean up, probe for kernel users, load the criteria (else ``CriteriaError``)."""
    procs.become_subreaper()
    scratch_parent = Path(options.scratch_root or tempfile.gettempdir())
    clean_stale_scratch(scratch_parent)
    if options.isolation is None:
        options.isolation = await users.probe(
            options.kernel_user, options.repo_root, scratch_parent,
            lambda scratch, user: grading_env(options.repo_root, scratch, "probe", user))
        print(f"grader: {options.isolation.describe()}", file=sys.stderr)
    await criteria.begin()
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
