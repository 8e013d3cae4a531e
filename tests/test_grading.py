"""The instructor grader (``python -m tests.grading``), end to end.

* The machinery, with a tiny stand-in for the criteria in ``tests/exercises/`` (three exercises on plain values,
  with fresh probe inputs) and tiny notebooks, so kernels start fast: one table of attacks and accidents
  (``FAKE_CASES``) graded by ONE command with exact points; that no process outlives a batch and nothing is written
  outside the output paths; kernels as users of their own (as root); the cap on one message; an attack on the
  criteria files in a throwaway git checkout; ``--roster``, ``--only``, ``--shard`` + ``merge``, SIGTERM/SIGKILL.
* The real criteria: the full solutions (23/23, and the cost over plain execution), attacks on the criteria
  (one command), and (``slow``) submissions built from the template and its solutions, with exact points.
"""

from __future__ import annotations

import asyncio
import copy
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import numpy as np
import pytest
import zmq

from tests import lesson
from tests.grading import users
from tests.grading.cli import main as cli_main
from tests.grading.criteria import Criteria
from tests.grading.evaluator import read_values
from tests.grading.grader import Options, cell_exercises, grade_all, load_notebook
from tests.grading.in_kernel import write_values
from tests.grading.kernel import grading_env
from tests.lesson import ROOT

TEMPLATE = ROOT / "02_neural_networks_exercises.ipynb"
SOLUTIONS_DIR = ROOT / "solutions"
SOLUTIONS = SOLUTIONS_DIR / "02_neural_networks_exercises_solutions.ipynb"
ISOLATED = "each submission's kernel runs as its own unprivileged user"


# --- Helpers ---
def new_notebook(cells: list[str | tuple[str, list[str]]]) -> nbformat.NotebookNode:
    """Cells as source strings; '## ...' makes a markdown cell; (source, tags) tags a cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cell in cells:
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        new = nbformat.v4.new_markdown_cell(source) if source.startswith("## ") else nbformat.v4.new_code_cell(source)
        if tags:
            new.metadata["tags"] = tags
        nb.cells.append(new)
    return nb


def cli_env(tmpdir: Path, home: Path | None = None) -> dict[str, str]:
    """The grader's environment in the tests: one thread, temporary files in ``tmpdir``, maybe a HOME of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MPLBACKEND")}
    env.update(OMP_NUM_THREADS="1", TMPDIR=str(tmpdir))
    if home is not None:  # to see that nothing is written into ~/.ipython
        env["HOME"] = str(home)
        env.setdefault("MPLCONFIGDIR", str(Path.home() / ".config" / "matplotlib"))
    return env


def run_cli(*args: str | Path, tmpdir: Path, home: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m tests.grading ARGS`` (without a progress bar) from the repository root."""
    command = [sys.executable, "-m", "tests.grading", *map(str, args)]
    command += [] if args[0] == "merge" else ["--no-progress"]
    return subprocess.run(command, cwd=ROOT, env=cli_env(tmpdir, home), capture_output=True, text=True, timeout=600)


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


def read_table(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def shown(name: str) -> str:
    """A file name as the grader shows it (bytes that aren't UTF-8 as \\xNN)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def points(row: dict[str, str], numbers=(1, 2, 3)) -> dict[int, int]:
    return {n: int(row[f"ex{n}"]) for n in numbers}


def folders(base: Path, *names: str) -> list[Path]:
    """``base / name`` for each name, created."""
    for name in names:
        (base / name).mkdir(parents=True, exist_ok=True)
    return [base / name for name in names]


def listing(root: Path, skip: tuple[str, ...] = (), content: bool = True) -> dict[str, str]:
    """Every path below ``root`` with the hash of its content ('' for folders, or when not ``content``)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not (Path(folder) == root and d in skip)]
        for name in dirs:
            out[os.path.relpath(os.path.join(folder, name), root)] = ""
        for name in files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):  # a FIFO, a symlink to /dev/zero: never read
                out[os.path.relpath(path, root)] = f"mode {info.st_mode:o}"
                continue
            out[os.path.relpath(path, root)] = hashlib.sha1(Path(path).read_bytes()).hexdigest() if content else ""
    return out


def digests(paths) -> dict[Path, str]:
    return {path: hashlib.sha1(path.read_bytes()).hexdigest() for path in paths}


def open_base(fallback: Path) -> tuple[Path, bool]:
    """A fresh folder other users can pass through (0755, under the system's temporary folder), and True;
    or ``fallback`` and False when the way there is closed to them (then kernels can't have users of their own).
    The first kind must be removed by the caller."""
    parent = Path(tempfile.gettempdir())
    if os.geteuid() != 0 or users.blocking_folder(parent):
        return fallback, False
    base = Path(tempfile.mkdtemp(prefix="grader-test-", dir=parent))
    base.chmod(0o755)
    return base, True


def kernel_users(scratch: Path) -> users.Isolation:
    """What the grader's probe finds for kernels with scratch folders in ``scratch`` (real probe, same code)."""
    return asyncio.run(
        users.probe("auto", ROOT, scratch, lambda folder, user: grading_env(ROOT, folder, "probe", user))
    )


# --- Part 1: the machinery, with a stand-in for the criteria ---
FAKE_CHECKS = '''
"""Stand-in criteria: the API of tests/exercises/ the grader uses (fresh probes included), three exercises."""
from __future__ import annotations

import itertools
from collections import namedtuple

import numpy as np

PASSED, FAILED = "passed", "failed"
Exercise = namedtuple("Exercise", "number title points")
Result = namedtuple("Result", "number status message points")
EXERCISES = {1: Exercise(1, "The answer", 1), 2: Exercise(2, "A sorted list", 2), 3: Exercise(3, "Squares", 2)}


class NotAttempted(Exception):
    pass


def make_probes(seed):
    X = np.random.default_rng(seed).integers(-1000, 1000, size=20)
    return {"x": {"X": X, "y": X ** 2}}


def probe_inputs(probes):
    return {name: p["X"] for name, p in probes.items()}


DEFAULT_PROBES = {"x": {"X": np.arange(5), "y": np.arange(5) ** 2}}


def _get(ns, name):
    if ns.get(name) is None:
        raise NotAttempted(f"set {name}")
    return ns[name]


def extract(number, ns, probes=None):
    if number == 1:
        return {"a": np.asarray(_get(ns, "a"))}
    if number == 2:
        return {"b": list(_get(ns, "b")), "answer": ns.get("answer_2")}
    x = (probes or probe_inputs(DEFAULT_PROBES))["x"]
    return {"y": np.asarray(_get(ns, "f")(x))}


def evaluate(number, values, probes=None):
    if number == 1:
        ok, hint = values["a"].shape == () and int(values["a"]) == 42, "a should be 42"
    elif number == 2:  # all orderings of b: a list of 3 costs 6, one of 40 (the "bomb") never ends
        ok = any(list(p) == [1, 2, 3] for p in itertools.permutations(values["b"])) and values["b"] == [1, 2, 3]
        hint = "b should be [1, 2, 3]"
    else:
        ok, hint = np.array_equal(values["y"], (probes or DEFAULT_PROBES)["x"]["y"]), "f(x) should return x**2"
    return Result(number, PASSED if ok else FAILED, "right" if ok else hint, EXERCISES[number].points if ok else 0)

'''


def fake_checks(folder: Path) -> Path:
    (folder / "fake_checks.py").write_text(FAKE_CHECKS, encoding="utf-8")
    return folder / "fake_checks.py"


GOOD = ["a = 42", "b = [1, 2, 3]", "def f(x):\n    return x ** 2"]

# Cheating: shadow the builtins the grader's cell might use, redefine the
# criteria in the namespace, and paste passing outputs. Only b is right.
CHEAT = """\
exec = compile = globals = print = None
NotAttempted = Exception
def extract(number, ns):
    return {"a": 42, "b": [1, 2, 3], "y": [0, 1, 4, 9, 16]}
def evaluate(number, values):
    return "passed"
check = lambda number, ns: "passed"
EXERCISES = {1: None}
a = 41
b = [1, 2, 3]
"""

# The scratch copy is the kernel's working folder, holds only the notebook,
# stripped of stored outputs; the environment is the documented one (one
# thread, no bytecode, the inline backend, an in-memory history, IPython's
# folder in the scratch folder). a and b are right only if all of that holds.
# The cell also writes files (which must land in the scratch folder and vanish with it).
PROBE = """\
import glob, json, os, sys
import matplotlib
here = sorted(os.listdir("."))
copy = json.load(open(glob.glob("*.ipynb")[0]))
stripped = all(not c.get("outputs") and c.get("execution_count") is None
               for c in copy["cells"] if c["cell_type"] == "code")
a = 42 if here == ["probe.ipynb"] and stripped else 0
env_ok = (os.environ["OMP_NUM_THREADS"] == "1" and os.environ.get("PYTHONDONTWRITEBYTECODE") == "1"
          and sys.path.count(REPO) and "inline" in matplotlib.get_backend()
          and get_ipython().history_manager.hist_file == ":memory:"
          and not os.environ["IPYTHONDIR"].startswith(os.path.expanduser("~")))
b = [1, 2, 3] if env_ok else []
open("written_here.txt", "w").write("x")
open("../written_above.txt", "w").write("x")
"""

# A process that leaves the kernel's session waits 5 s (until after its submission ended), then kills every
# other kernel of this batch (found by a TMPDIR under the batch's scratch folder, so
# nothing outside the test is ever targeted) and stays; a second one also clears its
# environment (double fork, `env={}`).
MARKER = "grader-test-orphan-7f3a"
ESCAPE = f"""\
import os, subprocess, sys
code = '''
import os, signal, sys, time
time.sleep(5)
root = os.path.dirname(os.path.dirname(os.environ.get("TMPDIR", "/nonexistent/x/y")))
for pid in os.listdir("/proc"):
    try:
        env = open(f"/proc/{{pid}}/environ", "rb").read()
        cmd = open(f"/proc/{{pid}}/cmdline", "rb").read()
    except OSError:
        continue
    if b"ipykernel" in cmd and ("TMPDIR=" + root).encode() in env:
        os.kill(int(pid), signal.SIGKILL)
time.sleep(600)
'''
subprocess.Popen([sys.executable, "-c", code, "{MARKER}"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.Popen(["sh", "-c", "(exec -a {MARKER} sleep 600 &)"], start_new_session=True, env={{}},
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
a = 42
"""

# A delayed death, 1.5 s after the cell that starts the timer.
TIMER = "import os, threading\nthreading.Timer(1.5, os._exit, [1]).start()"
SLEEP = "import time\ntime.sleep(1)"


def cheater() -> nbformat.NotebookNode:
    nb = new_notebook([GOOD[2], CHEAT, ("check(1, globals())", ["ex1", "check"])])
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="passed right\n")]
    nb.cells[2].execution_count = 3
    return nb


G, INVALID = "graded", "invalid notebook"
NONE = (0, 0, 0)
# One row per submission of the fake batch: file name, content (cells, a notebook, bytes, or a function that makes
# the file), points of exercises 1-3, status, a phrase of its CSV note, phrases of its feedback file.
FAKE_CASES = [
    ("good.ipynb", ["## Exercise 1", GOOD[0], "## Exercise 2", GOOD[1], "answer_2 = 'sorted, as asked'",
                    "## Exercise 3", GOOD[2]], (1, 2, 2), G, "", ["Your written answer:\n\n> sorted, as asked"]),
    ("blank.ipynb", ["a = b = f = None"], NONE, G, "", ["⏳ not attempted", "set b"]),
    ("empty.ipynb", [], NONE, G, "", []),
    ("wrong.ipynb", ["a = 41", "b = [3, 2, 1]", GOOD[2]], (0, 0, 2), G, "",
     ["**Score: 2 / 5** · status: **graded**", "| 1 | The answer | ❌ failed | 0 / 1 |", "a should be 42"]),
    ("error in ex2.ipynb", [GOOD[0], "b = [1, 2, 3]\nb = sorted(b, key=undefined_name)", GOOD[2]], (1, 2, 2), G, "",
     ["**Code cell 2 raised `NameError`**", "undefined_name"]),
    ("exception before.ipynb", [GOOD[0], "raise ValueError('oops')\nb = [1, 2, 3]", GOOD[2]], (1, 0, 2), G, "", []),
    ("extract fails.ipynb", [*GOOD[:2], "def f(x):\n    raise RuntimeError('f is broken')"], (1, 2, 0), G, "",
     ["your code failed when the grader read this exercise: RuntimeError: f is broken"]),
    ("loop.ipynb", [GOOD[0], "import time\nwhile True:\n    time.sleep(0.05)\nb = [1, 2, 3]", GOOD[2]], (1, 0, 2),
     "timeout", "code cell 2 interrupted after 3 s", ["was interrupted after 3 s", "KeyboardInterrupt"]),
    ("crash.ipynb", [GOOD[0], "import os\nos._exit(1)\nb = [1, 2, 3]", GOOD[1], GOOD[2]], (1, 2, 2), "crashed",
     "kernel died in code cell 2", ["crashed the kernel"]),
    ("huge.ipynb", [GOOD[0], "print('x' * 3_000_000)\nprint('the end')", *GOOD[1:]], (1, 2, 2), G, "",
     ["Code cell 2 printed 3,000,009 characters"]),
    ("cheater.ipynb", cheater(), (0, 2, 2), G, "", []),
    ("probe.ipynb", [f"REPO = {str(ROOT)!r}", PROBE, GOOD[2]], (1, 2, 2), G, "", []),
    # exit() finishes its cell and the kernel lives on; a timer that kills the kernel later costs only its cell.
    ("exit.ipynb", [GOOD[0], "exit()\nb = [1, 2, 3]", GOOD[2]], (1, 2, 2), G, "code cell 2 called exit()", []),
    ("timer.ipynb", [GOOD[0], TIMER, SLEEP, SLEEP, GOOD[1], SLEEP, GOOD[2]], (1, 2, 2), "crashed",
     "died a while after code cell 2 ran", []),
    # Each exercise's extraction has its own limit (a hang, a huge value).
    ("slow forward.ipynb", [GOOD[0], GOOD[1], "def f(x):\n    while True:\n        pass"], (1, 2, 0), G,
     "exercise 3: reading its values took longer than 3 s", []),
    ("hangs in ex1.ipynb", ["import time\nclass A:\n    def __array__(self, *args, **kwargs):\n        time.sleep(1000)"
                            "\na = A()", GOOD[1], GOOD[2]], (0, 2, 2), G, "exercise 1: reading its values", []),
    ("too large.ipynb", [GOOD[0], "b = [1.5] * 6_000_000", GOOD[2]], (1, 0, 2), G, "",
     ["not graded: your values for this exercise hold more than 200,000 items"]),
    # Values whose evaluation explodes (every ordering of 40 numbers), and values that explode when the kernel
    # writes them (2**40 shared references): each costs only its own exercise.
    ("bomb.ipynb", [GOOD[0], "b = list(range(40))", GOOD[2]], (1, 0, 2), G, "exercise 2: evaluating your values", []),
    ("shared.ipynb", [GOOD[0], "b = [1]\nfor _ in range(40):\n    b = [b, b]", GOOD[2]], (1, 0, 2), G, "",
     ["not graded: your values for this exercise hold more than 200,000 items"]),
    # A lookup table of the inputs the check cell uses earns nothing on fresh inputs.
    ("lookup table.ipynb", [GOOD[0], GOOD[1], "TABLE = {tuple(range(5)): [0, 1, 4, 9, 16]}\ndef f(x):\n"
                            "    return TABLE[tuple(int(v) for v in x)]"], (1, 2, 0), G, "", []),
    # Escaping processes; every other submission is a potential victim.
    ("escape.ipynb", [ESCAPE], (1, 0, 0), G, "", []),
    # Names and files that aren't notebooks: their row and feedback file are what counts, no kernel needed.
    (os.fsdecode(b"caf\xe9.ipynb"), b"x", NONE, INVALID, "", []),
    ("=HYPERLINK(1).ipynb", b"x", NONE, INVALID, "", []),
    ("dup.ipynb", GOOD, (1, 2, 2), G, "", []),
    ("dup.IPYNB", b"x", NONE, INVALID, "", []),
    ("not json.ipynb", b"{ this is not JSON", NONE, INVALID, "not valid JSON",
     ["invalid notebook", "not valid JSON", "none of it was run"]),
    ("json list.ipynb", b"[1, 2, 3]", NONE, INVALID, "not a notebook", []),
    ("binary.ipynb", bytes(range(256)) * 4, NONE, INVALID, "not UTF-8", []),
    ("deep.ipynb", b"[" * 100_000 + b"]" * 100_000, NONE, INVALID, "nested too deeply", []),
    ("fifo.ipynb", os.mkfifo, NONE, INVALID, "not a regular file", []),
    ("zero.ipynb", lambda path: path.symlink_to("/dev/zero"), NONE, INVALID, "not a regular file", []),
]


def write_submission(path: Path, content) -> None:
    if isinstance(content, list):
        content = new_notebook(content)
    if isinstance(content, nbformat.NotebookNode):
        nbformat.write(content, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        content(path)


def fake_submissions(folder: Path) -> None:
    """The table's submissions, and files that are not graded: hidden, checkpoints, nested, a folder *.ipynb."""
    for name, content, *_ in FAKE_CASES:
        write_submission(folder / name, content)
    for path in (folder / ".hidden.ipynb", folder / ".ipynb_checkpoints" / "good-checkpoint.ipynb",
                 folder / "sub" / "nested.ipynb"):
        path.parent.mkdir(exist_ok=True)
        nbformat.write(new_notebook(GOOD), path)
    (folder / "folder.ipynb").mkdir()
    (folder / "notes.txt").write_text("not a notebook", encoding="utf-8")


def processes_with(marker: str, where: str = "cmdline") -> dict[int, str]:
    """{pid: command line} of live processes whose ``/proc/PID/<where>`` holds ``marker``."""
    found = {}
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if marker.encode() in Path(f"/proc/{pid}/{where}").read_bytes() and state != "Z":
                found[pid] = cmd.replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
    return found


def history_mentions(marker: str) -> bool:
    """Whether the real ~/.ipython history holds ``marker`` (opened read-only and immutable: nothing written)."""
    import sqlite3

    path = Path.home() / ".ipython" / "profile_default" / "history.sqlite"
    if not path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as db:
            query = "SELECT count(*) FROM history WHERE source LIKE ?"
            return bool(db.execute(query, (f"%{marker}%",)).fetchone()[0])
    except sqlite3.Error:
        return False


@pytest.fixture(scope="module")
def fake_batch(tmp_path_factory):
    """One CLI run (-j 2, 3 s limits) over the table's submissions, with its own HOME.

    Its folders are where other users can reach them when that is possible, so that as root
    the batch runs with a user of its own per kernel (and otherwise as the grader's user).
    """
    base, opened = open_base(tmp_path_factory.mktemp("fake"))
    try:
        subs, scratch, out, home = folders(base, "submissions", "scratch", "out", "home")
        fake_submissions(subs)
        (home / ".ipython" / "profile_default").mkdir(parents=True)
        (home / ".ipython" / "profile_default" / "sentinel").write_text("x", encoding="utf-8")
        before, home_before = listing(subs), listing(home / ".ipython")
        start = time.monotonic()
        result = run_cli(subs, "--out", out, "-j", "2", "--cell-timeout", "3", "--extract-timeout", "3",
                         "--evaluate-timeout", "5", "--evaluate-memory", "1", "--criteria", fake_checks(base),
                         tmpdir=scratch, home=home)
        print(f"fake batch: {len(FAKE_CASES)} submissions in {time.monotonic() - start:.1f} s")
        time.sleep(0.5)
        yield {"isolation": kernel_users(scratch), "result": result, "scratch": scratch, "out": out,
               "rows": read_csv(out / "grades.csv"), "before": before, "after": listing(subs),
               "home_before": home_before, "home_after": listing(home / ".ipython"),
               "left": list(processes_with(MARKER).values())}
    finally:
        if opened:
            shutil.rmtree(base, ignore_errors=True)


def test_fake_batch_exact_points_statuses_and_notes(fake_batch):
    """Every attack and accident costs only its own exercises: the exact points, status and note of each row."""
    result, rows = fake_batch["result"], fake_batch["rows"]
    assert result.returncode == 0, result.stderr
    expected = {("'" + shown(name) if name.startswith("=") else shown(name)): case for name, _, *case in FAKE_CASES}
    assert set(rows) == set(expected), "one row per submission, nothing else graded"
    wrong = {}
    for name, (ex, status, note, _) in expected.items():
        row = rows[name]
        if (tuple(points(row).values()), row["status"]) != (ex, status) or note not in row["note"]:
            wrong[name] = {"got": row, "expected": (ex, status, note)}
        assert int(row["total"]) == sum(points(row).values()) and row["max"] == "5"
    assert not wrong, json.dumps(wrong, indent=1)
    bomb = rows["bomb.ipynb"]["note"]
    assert re.search(r"exercise 2: evaluating your values (took longer than 5 s|needed more than)", bomb), bomb
    stdout, stderr = result.stdout, result.stderr
    assert f"{len(FAKE_CASES)} submissions" in stdout and "(-j 2)" in stdout
    assert "skipped hidden file .hidden.ipynb" in stderr and "folder.ipynb is a folder" in stderr
    assert "Task exception was never retrieved" not in stderr
    # It ran with a user per kernel exactly when the probe says that works here, and says which.
    isolation = fake_batch["isolation"]
    if isolation.enabled:
        assert f"grader: {ISOLATED}" in stderr and f"isolation: {ISOLATED}" in stdout, stderr[-2000:]
    else:
        assert "grader: WARNING: kernels run as the grader's user" in stderr and isolation.reason in stderr
        assert "isolation: WARNING: kernels run as the grader's user" in stdout


def test_fake_batch_csv_feedback_summary_and_answers(fake_batch):
    """The CSV is safe UTF-8, the feedback files are named apart and short, the summaries count every row."""
    out, feedback = fake_batch["out"], fake_batch["out"] / "feedback"
    (out / "grades.csv").read_bytes().decode("utf-8")  # valid UTF-8 although one file name is not
    cells = [cell for row in read_table(out / "grades.csv") for cell in row]
    assert cells[:8] == ["submission", "ex1", "ex2", "ex3", "total", "max", "status", "note"]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], "formula injection"
    names = sorted(p.name for p in feedback.iterdir() if p.is_file())
    expected = [Path(shown(name)).stem + ".md" for name, *_ in FAKE_CASES if not name.startswith("dup.")]
    assert names == sorted([*expected, "dup.ipynb.md", "dup.IPYNB.md"])
    for name, *_, phrases in FAKE_CASES:
        if phrases:
            text = (feedback / (Path(name).stem + ".md")).read_text(encoding="utf-8")
            assert [p for p in phrases if p not in text] == [], name
    assert "fresh Python kernel" not in (feedback / "not json.md").read_text(encoding="utf-8")
    huge = (feedback / "huge.md").read_text(encoding="utf-8")
    assert "characters truncated" not in huge and len(huge.encode()) < 10_000, "huge output is cut in the feedback"
    assert max(len(p.read_bytes()) for p in feedback.iterdir() if p.is_file()) < 20_000
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert f"{len(FAKE_CASES)} submissions:" in summary and "| invalid notebook | 9 |" in summary
    assert "| 1 | The answer | 1 |" in summary and "a should be 42" in summary
    assert "`folder.ipynb` is a folder" in summary
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    answers = (out / "answers.md").read_text(encoding="utf-8")
    assert "## Exercise 2: A sorted list" in answers and "**good.ipynb**\n\n> sorted, as asked" in answers


def test_fake_batch_leaves_nothing_behind(fake_batch):
    """No process of the batch is left, ~/.ipython is untouched, only the output paths are written."""
    assert fake_batch["left"] == [], "processes of the batch outlived it"
    assert fake_batch["home_after"] == fake_batch["home_before"], "the grader wrote into ~/.ipython"
    assert not history_mentions(MARKER), "graded cells reached the real ~/.ipython history"
    assert fake_batch["after"] == fake_batch["before"], "the submissions folder must not change"
    assert list(fake_batch["scratch"].iterdir()) == [], "temporary folders must be removed"
    expected = ["answers.md", "feedback", "grades.csv", "summary.md", "summary.png"]
    assert sorted(p.name for p in fake_batch["out"].iterdir()) == expected


def test_hung_cell_notebook_time_limit_and_kernel_that_does_not_start(tmp_path):
    """A cell that ignores the interrupt, and a notebook that runs out of time, still get graded; a broken kernel
    environment gets one retry, then status crashed with a note (no exception)."""
    checks = fake_checks(tmp_path)
    stubborn = "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n"
    stubborn += "        pass\n"
    nbformat.write(new_notebook([GOOD[0], stubborn, GOOD[1], GOOD[2]]), tmp_path / "stubborn.ipynb")
    slow = "import time\ntime.sleep(3)"
    nbformat.write(new_notebook([GOOD[0], slow, slow, GOOD[1], GOOD[2]]), tmp_path / "slow.ipynb")
    (broken,) = folders(tmp_path, "broken_root")
    (broken / "ipykernel_launcher.py").write_text("raise SystemExit('no kernel today')\n", encoding="utf-8")
    nbformat.write(new_notebook(GOOD), tmp_path / "a.ipynb")

    async def grade(name: str, **options):
        return (await grade_all([tmp_path / name], Criteria(checks), Options(scratch_root=tmp_path, **options)))[0]

    async def all_three():
        return (await grade("stubborn.ipynb", cell_timeout=2, notebook_timeout=30, interrupt_grace=1),
                await grade("slow.ipynb", cell_timeout=30, notebook_timeout=5),
                await grade("a.ipynb", repo_root=broken))  # first on PYTHONPATH

    stubborn_grade, slow_grade, broken_grade = asyncio.run(all_three())
    assert (stubborn_grade.status, [e.points for e in stubborn_grade.exercises]) == ("timeout", [1, 2, 2])
    assert "ignored the interrupt" in stubborn_grade.note
    assert [c.run.state for c in stubborn_grade.cells] == ["ok", "hung", "ok", "ok"]
    assert (slow_grade.status, [e.points for e in slow_grade.exercises]) == ("timeout", [1, 0, 0])
    assert "notebook time limit" in slow_grade.note
    assert [c.run.state for c in slow_grade.cells][-2:] == ["not run", "not run"]
    assert (broken_grade.status, broken_grade.total) == ("crashed", 0)
    assert "the kernel did not start" in broken_grade.note
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ipynb", "broken_root", "fake_checks.py", "slow.ipynb",
                                                          "stubborn.ipynb"]


# --- Kernels with users of their own (as root), and the cap on one message ---
# Submission A, graded at the same time as B (-j 2): it waits until B's kernel runs (an
# ipykernel whose connection file lies in this test's scratch folder: nothing outside the
# test is ever targeted), then tries to kill it, to read B's scratch folder and to write
# into the output folder, the CSV, the repository and the virtual environment. Every
# write is an open for writing that writes nothing, or a new file the test looks for, so
# a failed defence changes no file it didn't make. a = 42 only if every kill failed,
# b = [1, 2, 3] only if every other attempt failed; answer_2 is the log (answers.md).
NEIGHBOUR_ATTACK = """\
import os, signal, sys, time, site
scratch = os.path.dirname(os.path.dirname(os.environ["TMPDIR"]))
mine = os.path.dirname(os.environ["TMPDIR"])
log, victims = [], []
end = time.monotonic() + 60
while not victims and time.monotonic() < end:
    for pid in os.listdir("/proc"):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\\0")
        except OSError:
            continue
        files = [c for c in cmd if c.startswith(scratch + "/") and c.endswith(".json")]
        if "ipykernel_launcher" in " ".join(cmd) and files and not files[0].startswith(mine + "/"):
            victims.append((int(pid), os.path.dirname(files[0]), files[0]))
    time.sleep(0.2)
kills_failed = bool(victims)
for pid, folder, connection in victims:
    try:
        os.kill(pid, signal.SIGKILL)
        log.append(f"KILLED {pid}")
        kills_failed = False
    except PermissionError:
        log.append(f"kill {pid}: refused")
def attempt(what, action):
    try:
        action()
        log.append(f"DID {what}")
        return False
    except PermissionError:
        log.append(f"{what}: refused")
        return True
def append_nothing(path):
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
def create(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
results = []
for pid, folder, connection in victims:
    results += [attempt("list the other's folder", lambda: os.listdir(folder)),
                attempt("read the other's connection file", lambda: open(connection).read()),
                attempt("list the other's notebook folder", lambda: os.listdir(os.path.join(folder, "submission")))]
site_packages = site.getsitepackages()[0]
results += [
    attempt("open the CSV for writing", lambda: append_nothing(OUT + "/grades.csv")),
    attempt("create a file in the output folder", lambda: create(OUT + "/attack.txt")),
    attempt("create a feedback file", lambda: create(OUT + "/feedback/attack.md")),
    attempt("open helper_functions.py for writing", lambda: append_nothing(REPO + "/helper_functions.py")),
    attempt("create a file in the repository", lambda: create(REPO + "/grader-attack.txt")),
    attempt("open numpy/__init__.py for writing", lambda: append_nothing(site_packages + "/numpy/__init__.py")),
    attempt("create a file in site-packages", lambda: create(site_packages + "/grader-attack.txt")),
    attempt("create a file in the scratch folder", lambda: create(scratch + "/attack.txt")),
]
a = 42 if kills_failed else 0
b = [1, 2, 3] if victims and all(results) else []
answer_2 = "; ".join(log) or "no victim found"
def f(x):
    return x ** 2
"""
# B: right answers, and a sleep so that its kernel is still running while A attacks.
VICTIM = [GOOD[0], "import time\ntime.sleep(12)", GOOD[1], GOOD[2]]


@pytest.fixture
def open_tmp(tmp_path):
    """A folder other users can reach (see ``open_base``), where kernels can have users of their own; skips
    otherwise. Yields it with its ``subs``, ``scratch``, ``out`` folders and the stand-in criteria."""
    base, opened = open_base(tmp_path)
    if not opened:
        pytest.skip(
            f"no folder other users can reach: {users.blocking_folder(Path(tempfile.gettempdir())) or 'not root'}"
        )
    subs, scratch, out = folders(base, "subs", "scratch", "out")
    isolation = kernel_users(scratch)
    if not isolation.enabled:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"kernels can't have users of their own here: {isolation.reason}")
    yield base, subs, scratch, out, fake_checks(base)
    shutil.rmtree(base, ignore_errors=True)


def test_concurrent_submissions_cannot_touch_each_other(open_tmp):
    """As root, A can't kill B's kernel, read B's folder, or write the output, the repository or the venv."""
    base, subs, scratch, out, checks = open_tmp
    (out / "feedback").mkdir()
    (out / "grades.csv").write_text("submission,ex1\nold run,1\n", encoding="utf-8")  # an earlier run's CSV
    site_packages = Path(sysconfig.get_paths()["purelib"])
    guarded = digests([ROOT / "helper_functions.py", site_packages / "numpy" / "__init__.py"])
    made = [out / "attack.txt", out / "feedback" / "attack.md", ROOT / "grader-attack.txt",
            site_packages / "grader-attack.txt", scratch / "attack.txt"]
    paths = f"OUT = {str(out)!r}\nREPO = {str(ROOT)!r}"
    nbformat.write(new_notebook([paths, NEIGHBOUR_ATTACK]), subs / "a_attacker.ipynb")
    nbformat.write(new_notebook(VICTIM), subs / "b_victim.ipynb")
    try:
        result = run_cli(subs, "--out", out, "-j", "2", "--cell-timeout", "90", "--criteria", checks, tmpdir=scratch)
        left = [path for path in made if path.exists()]
    finally:
        for path in made:
            path.unlink(missing_ok=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"grader: {ISOLATED}" in result.stderr
    rows = read_csv(out / "grades.csv")
    log = (out / "answers.md").read_text(encoding="utf-8")
    assert (rows["b_victim.ipynb"]["total"], rows["b_victim.ipynb"]["status"]) == ("5", "graded"), log
    assert points(rows["b_victim.ipynb"]) == {1: 1, 2: 2, 3: 2}
    assert points(rows["a_attacker.ipynb"]) == {1: 1, 2: 2, 3: 2}, log
    assert "kill" in log and "refused" in log and "DID" not in log and "KILLED" not in log, log
    assert left == [], f"the attack created {left}"
    assert digests(guarded) == guarded
    assert list(scratch.iterdir()) == [], "temporary folders must be removed"
    assert "old run" not in (out / "grades.csv").read_text(encoding="utf-8")  # rewritten by the grader itself


def test_kernel_user_cannot_read_what_only_root_may(open_tmp):
    """The kernel really runs as another uid, with no groups, its HOME and getpass working, umask 077,
    and can't read the grader's files; with --kernel-user off it runs as root."""
    base, subs, scratch, out, checks = open_tmp
    who = (
        "import getpass, os, pathlib\n"
        "home = pathlib.Path.home()\n"
        "pathlib.Path('made.txt').write_text('x')\n"
        "ok = (os.getuid() >= 10000 and os.getgid() == os.getuid() and os.getgroups() == []\n"
        "      and getpass.getuser() == f'grader-{os.getuid()}' and home.name == 'home'\n"
        "      and home.stat().st_uid == os.getuid()\n"
        "      and oct(os.stat('made.txt').st_mode & 0o777) == '0o600')\n"
        "try:\n"
        "    open('../kernel.log').read()  # the grader's log of this very kernel, mode 0600\n"
        "    ok = False\n"
        "except PermissionError:\n"
        "    pass\n"
        "a = 42 if ok else 0"
    )
    nbformat.write(new_notebook([who, *GOOD[1:]]), subs / "who.ipynb")
    result = run_cli(subs, "--out", out, "--criteria", checks, tmpdir=scratch)
    assert result.returncode == 0, result.stderr[-3000:]
    assert points(read_csv(out / "grades.csv")["who.ipynb"]) == {1: 1, 2: 2, 3: 2}
    off = run_cli(subs, "--out", base / "off", "--criteria", checks, "--kernel-user", "off", tmpdir=scratch)
    assert off.returncode == 0, off.stderr[-3000:]
    assert "kernels run as the grader's user" in off.stderr and "--kernel-user off" in off.stderr
    assert "WARNING" not in off.stderr  # asked for
    assert points(read_csv(base / "off" / "grades.csv")["who.ipynb"]) == {1: 0, 2: 2, 3: 2}  # root: getuid() == 0


# A cell that writes one 300 MB message to its kernel's iopub socket itself (not through
# print, which the grader's prepare cell cuts into 1 Mi-character messages), then raises.
HUGE_MESSAGE = """\
k = get_ipython().kernel
k.session.send(k.iopub_socket, "stream", {"name": "stdout", "text": "x" * 300_000_000}, parent=k.get_parent())
raise ValueError("after the huge message")"""
HONEST_BIG = [
    "import sys\nfor _ in range(200):\n    sys.stdout.write('y' * 500_000)\nprint('the end')",
    "import matplotlib.pyplot as plt, numpy as np\nplt.figure(figsize=(20, 20), dpi=100)\n"
    "plt.imshow(np.random.default_rng(0).random((2000, 2000, 3)))\nplt.show()",
]
# The grader's own peak memory: VmHWM of its address space. (getrusage's ru_maxrss won't do: Linux
# keeps in it the peak of the process before exec, i.e. of the forked copy of pytest that started it,
# which was 140 MB in a fresh pytest and over 700 MB in a worker that had run the rest of the suite.)
RSS_WRAPPER = """\
import atexit, runpy, sys
out = sys.argv.pop(1)


def peak_kib():
    with open("/proc/self/status") as status:
        return next(line.split()[1] for line in status if line.startswith("VmHWM:"))


atexit.register(lambda: open(out, "w").write(peak_kib()))
sys.argv[0] = "tests.grading"
runpy.run_module("tests.grading", run_name="__main__", alter_sys=True)
"""


def test_a_huge_message_on_the_sockets_is_refused(tmp_path):
    """One 300 MB message sent on the kernel's socket: the grader stays small, every other cell counts."""
    subs, scratch, out = folders(tmp_path, "subs", "scratch", "out")
    nbformat.write(new_notebook([GOOD[0], HUGE_MESSAGE, "print('still here')", *GOOD[1:]]), subs / "huge.ipynb")
    nbformat.write(new_notebook([GOOD[0], *HONEST_BIG, *GOOD[1:]]), subs / "honest.ipynb")
    rss = tmp_path / "maxrss.txt"
    command = [sys.executable, "-c", RSS_WRAPPER, str(rss), str(subs), "--out", str(out), "-j", "2",
               "--cell-timeout", "60", "--criteria", str(fake_checks(tmp_path)), "--no-progress"]
    result = subprocess.run(command, cwd=ROOT, env=cli_env(scratch), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    peak_mb = int(rss.read_text()) / 1024  # VmHWM is in KiB: the grader process alone
    print(f"grader's peak memory: {peak_mb:.0f} MB (the message: 300 MB)")
    assert peak_mb < 300, f"the grader held {peak_mb:.0f} MB: it received the huge message"
    rows = read_csv(out / "grades.csv")
    huge = rows["huge.ipynb"]
    assert points(huge) == {1: 1, 2: 2, 3: 2} and huge["status"] == "graded", huge
    assert "code cell 2 sent the grader a message larger than its 32 MB limit" in huge["note"], huge
    assert "code cell 3" not in huge["note"], f"the connection must be back for the next cells: {huge['note']}"
    feedback = (out / "feedback" / "huge.md").read_text(encoding="utf-8")
    assert "ValueError" in feedback and "after the huge message" in feedback, feedback[-3000:]  # from the reply
    # Honest output: 100 MB printed in one cell and a 2000 x 2000 figure of noise pass without a note.
    honest = rows["honest.ipynb"]
    assert points(honest) == {1: 1, 2: 2, 3: 2} and honest["status"] == "graded" and honest["note"] == "", honest
    honest_feedback = (out / "feedback" / "honest.md").read_text(encoding="utf-8")
    assert "Code cell 2 printed 100,000,008 characters" in honest_feedback, honest_feedback[-3000:]


def test_cli_errors(tmp_path, capsys):
    assert cli_main([str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "broken_checks.py").write_text("raise RuntimeError('broken criteria')\n", encoding="utf-8")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.ipynb").write_text("not a notebook", encoding="utf-8")
    args = ["--criteria", tmp_path / "broken_checks.py", "--out", tmp_path, "--csv", tmp_path / "g.csv"]
    assert cli_main([str(tmp_path / "subs"), *map(str, args), "--no-progress"]) == 1
    assert "broken criteria" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken_checks.py", "subs"], "no CSV, no feedback"


def test_everything_goes_into_one_output_folder():
    """By default every output lands in grading-output/, which git ignores: the students' grades and written
    answers can't be published by a `git add .` (the fake batch checks the folder holds nothing else)."""
    from tests.grading.cli import parse_args, parse_merge_args

    args = parse_args(["submissions"])
    out = Path("grading-output")
    assert (args.out, args.csv, args.feedback) == (out, out / "grades.csv", out / "feedback")
    assert (parse_merge_args(["shard"]).csv, parse_merge_args(["shard"]).feedback) == (args.csv, args.feedback)
    if lesson.is_git_checkout():
        for name in ("grades.csv", "feedback/a.md", "feedback/.records/a.json", "summary.md", "summary.png",
                     "answers.md"):
            assert lesson.git("check-ignore", "-q", f"grading-output/{name}").returncode == 0, name


# --- Code from a submission never runs inside the grader ---
# The attack: append to <repo>/helper_functions.py a payload that replaces the
# criteria's evaluate once they import it; and the same directly on the criteria file, which also
# breaks extract there (kernels read values with the copy verified at the start of the batch).
ATTACK = """\
import os
repo = os.environ["PYTHONPATH"].split(os.pathsep)[0]
payload = '''
import sys
for m in list(sys.modules.values()):
    if hasattr(m, "EXERCISES") and hasattr(m, "Result"):
        m.evaluate = lambda n, v, probes=None, m=m: m.Result(n, "passed", "pwned", m.EXERCISES[n].points)
'''
with open(os.path.join(repo, "helper_functions.py"), "a") as f:
    f.write(payload)
with open(os.path.join(repo, "tests", "exercise_checks.py"), "a") as f:
    f.write("\\nevaluate = lambda n, v, probes=None: Result(n, 'passed', 'pwned', EXERCISES[n].points)\\n")
    f.write("\\nextract = None  # breaks reading the values of every kernel that would load this file\\n")
"""


def make_repo(base: Path) -> Path:
    """A throwaway git checkout with the stand-in criteria and a helper_functions.py."""
    repo = base / "repo"
    (repo / "tests").mkdir(parents=True)
    # The stand-in, importing helper_functions lazily in evaluate (and in preload), as the real criteria do.
    lazy = FAKE_CHECKS + (
        "\n_evaluate = evaluate\n\n\ndef evaluate(number, values, probes=None):\n"
        "    import helper_functions  # noqa: F401\n\n    return _evaluate(number, values, probes)\n"
        "\n\ndef preload():\n    import helper_functions  # noqa: F401\n"
    )
    (repo / "tests" / "exercise_checks.py").write_text(lazy, encoding="utf-8")
    (repo / "helper_functions.py").write_text("SEED = 42\n", encoding="utf-8")
    for args in (("init", "-q"), ("add", "."), ("commit", "-qm", "criteria")):
        lesson.git(*args, cwd=repo, check=True)
    return repo


def test_submission_code_never_runs_in_the_grader(tmp_path):
    """The attacker gets the 1 point their code earns, the student after them 5; a modified copy is refused."""
    repo = make_repo(tmp_path)
    subs, scratch = folders(tmp_path, "subs", "scratch")
    nbformat.write(new_notebook([ATTACK, GOOD[0]]), subs / "1 attacker.ipynb")
    nbformat.write(new_notebook(GOOD), subs / "2 victim.ipynb")
    common = ["--criteria", repo / "tests" / "exercise_checks.py", "--repo-root", repo]
    result = run_cli(subs, "--out", tmp_path / "first", *common, tmpdir=scratch)
    assert result.returncode == 0, result.stderr
    rows = read_csv(tmp_path / "first" / "grades.csv")
    assert (rows["1 attacker.ipynb"]["total"], rows["1 attacker.ipynb"]["status"]) == ("1", "graded")
    assert (rows["2 victim.ipynb"]["total"], rows["2 victim.ipynb"]["status"]) == ("5", "graded")
    assert "pwned" in (repo / "helper_functions.py").read_text(encoding="utf-8"), "the attack did run"
    assert "changed on disk during the batch" in result.stderr
    # Now the checkout differs from git: the grader refuses to grade with it.
    again = run_cli(subs, "--out", tmp_path / "again", *common, tmpdir=scratch)
    assert again.returncode == 1 and "refusing to grade" in again.stderr
    assert "helper_functions.py" in again.stderr and "tests/exercise_checks.py" in again.stderr
    assert not (tmp_path / "again" / "grades.csv").exists()


# --- Course features with the real command: --roster, --only, --shard + merge, interrupted batches ---
def test_roster_only_shards_and_merge(tmp_path):
    subs, scratch = folders(tmp_path, "subs", "scratch")
    nbformat.write(new_notebook(GOOD), subs / "ada.ipynb")
    nbformat.write(new_notebook([GOOD[0]]), subs / "bob.ipynb")
    nbformat.write(new_notebook(["a = 1"]), subs / "stray.ipynb")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "file,student_id,name\nada.ipynb,s1,Ada Lovelace\nBOB.ipynb,s2,Bob\ncyd.ipynb,s3,=Cyd\n", encoding="utf-8"
    )
    full = tmp_path / "full"
    common = ["--criteria", fake_checks(tmp_path), "--roster", roster]
    paths = ["--out", full, "--csv", full / "grades.csv", "--feedback", full / "fb"]  # the explicit options
    result = run_cli(subs, *paths, *common, tmpdir=scratch)
    assert result.returncode == 0, result.stderr
    table = read_table(full / "grades.csv")
    assert table[0] == ["submission", "student_id", "name", "ex1", "ex2", "ex3", "total", "max", "status", "note"]
    assert table[1:] == [
        ["ada.ipynb", "s1", "Ada Lovelace", "1", "2", "2", "5", "5", "graded", ""],
        ["bob.ipynb", "s2", "Bob", "1", "0", "0", "1", "5", "graded", ""],
        ["stray.ipynb", "", "", "0", "0", "0", "0", "5", "graded", ""],
        ["cyd.ipynb", "s3", "'=Cyd", "0", "0", "0", "0", "5", "missing", "no submission"],
    ]
    assert "in no roster row: stray.ipynb" in result.stdout
    summary = (full / "summary.md").read_text(encoding="utf-8")
    assert "4 submissions: 3 graded, 1 missing." in summary and "- `stray.ipynb`" in summary
    assert "| 2 | A sorted list | 2 | 1 (33%) | 1 (33%) |  |" in summary
    assert "| 1 | The answer | 1 | 2 (67%) | 3 (100%) | 1x: a should be 42 |" in summary

    # --only: bob fixes his notebook; only his row and feedback change.
    ada_feedback = (full / "fb" / "ada.md").read_bytes()
    nbformat.write(new_notebook(GOOD), subs / "bob.ipynb")
    regrade = run_cli(subs, *paths, "--only", "bob.ipynb", *common, tmpdir=scratch)
    assert regrade.returncode == 0, regrade.stderr
    bob = ["bob.ipynb", "s2", "Bob", "1", "2", "2", "5", "5", "graded", ""]
    assert read_table(full / "grades.csv") == [*table[:2], bob, *table[3:]]
    assert "**Score: 5 / 5**" in (full / "fb" / "bob.md").read_text(encoding="utf-8")
    assert (full / "fb" / "ada.md").read_bytes() == ada_feedback

    # --shard 1/2 and 2/2, then merge: the same CSV and summary as one run over the folder.
    for i in (1, 2):
        shard = run_cli(subs, "--out", tmp_path / f"s{i}", "--shard", f"{i}/2", *common, tmpdir=scratch)
        assert shard.returncode == 0, shard.stderr
    graded = [set(read_csv(tmp_path / f"s{i}" / "grades.csv")) - {"cyd.ipynb"} for i in (1, 2)]
    assert graded == [{"ada.ipynb", "stray.ipynb"}, {"bob.ipynb"}]
    merged = run_cli("merge", tmp_path / "s1" / "feedback", tmp_path / "s2" / "feedback", "--out", tmp_path / "m",
                     "--roster", roster, tmpdir=scratch)
    assert merged.returncode == 0, merged.stderr
    assert (tmp_path / "m" / "grades.csv").read_bytes() == (full / "grades.csv").read_bytes()
    assert sorted(p.name for p in (tmp_path / "m" / "feedback").glob("*.md")) == ["ada.md", "bob.md", "stray.md"]
    assert (tmp_path / "m" / "summary.md").read_bytes() == (full / "summary.md").read_bytes()
    assert list(scratch.iterdir()) == []


def test_only_keeps_each_earlier_row_once(tmp_path):
    """--only rewrites the CSV from the records and keeps the earlier rows that have none: a row whose name the
    CSV escapes (a formula) is the same submission, not a row without a record."""
    from tests.grading import report

    record = {"submission": "=x.ipynb", "status": "graded", "total": 1, "max": 1, "note": "",
              "exercises": [{"number": 1, "points": 1}]}
    report.write_csv(tmp_path / "g.csv", [(record, None)], [], None, False)
    report.write_csv(tmp_path / "g.csv", [(record, None)], [], report.read_csv_rows(tmp_path / "g.csv"), False)
    assert read_table(tmp_path / "g.csv")[1:] == [["'=x.ipynb", "1", "1", "1", "graded", ""]]


def test_interrupted_batches_keep_their_rows(tmp_path):
    """SIGTERM: finished rows stay, kernels stop, no traceback. SIGKILL: rows stay; the next run cleans up."""
    checks = fake_checks(tmp_path)
    subs, scratch = folders(tmp_path, "subs", "scratch")
    nbformat.write(new_notebook(GOOD), subs / "1 quick.ipynb")
    nbformat.write(new_notebook([f"import time\ntime.sleep(60)  # {MARKER}-slow", *GOOD]), subs / "2 slow.ipynb")

    def start_after_first_row(out: Path) -> subprocess.Popen:
        command = [sys.executable, "-m", "tests.grading", str(subs), "--out", str(out), "--criteria", str(checks),
                   "--no-progress"]
        process = subprocess.Popen(command, cwd=ROOT, env=cli_env(scratch), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        for _ in range(1200):
            path = out / "grades.csv"
            if path.exists() and len(path.read_text(encoding="utf-8").splitlines()) >= 2:
                time.sleep(1)  # the slow notebook is running
                return process
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        raise AssertionError("no row appeared")

    process = start_after_first_row(tmp_path / "term")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Task exception was never retrieved" not in stderr
    assert list(read_csv(tmp_path / "term" / "grades.csv")) == ["1 quick.ipynb"]
    assert [p for p in processes_with(f"TMPDIR={scratch}", "environ") if p != os.getpid()] == []
    assert list(scratch.iterdir()) == []

    process = start_after_first_row(tmp_path / "kill")
    process.kill()
    process.communicate(timeout=60)
    assert list(read_csv(tmp_path / "kill" / "grades.csv")) == ["1 quick.ipynb"]
    left = [p for p in scratch.iterdir() if p.name.startswith("grading-")]
    assert len(left) == 1, "SIGKILL leaves the scratch folder of the running submission"
    for pid in processes_with(f"TMPDIR={left[0]}", "environ"):  # the orphaned kernel (nothing can catch SIGKILL)
        os.kill(pid, signal.SIGKILL)
    (subs / "2 slow.ipynb").unlink()
    again = run_cli(subs, "--out", tmp_path / "again", "--criteria", checks, tmpdir=scratch)
    assert again.returncode == 0, again.stderr
    assert list(scratch.iterdir()) == [], f"the next run removes what a killed grader left: {list(scratch.iterdir())}"


# --- Reading notebooks and values ---
LOOSE = {"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
    {"cell_type": "code", "source": ["a = 1\n", "b = 2"], "outputs": [], "execution_count": None, "metadata": {}}]}


@pytest.mark.parametrize(
    "content, reason",
    [
        # Minimal v4 without cell ids or metadata, source as a list of lines: Jupyter opens these.
        (json.dumps(LOOSE).encode(), ""),
        (b"", "not valid JSON"),
        (b"{ not json", "not valid JSON"),
        (b"[1, 2]", "not a notebook"),
        (b'{"cells": []}', "not a notebook"),
        (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not UTF-8"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "oops"}', "not a readable notebook"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}',
         "not a readable notebook"),
    ],
)
def test_load_notebook(tmp_path, content, reason):
    """What isn't a notebook is refused with the reason; loose notebooks that Jupyter opens are read."""
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    nb, why = load_notebook(path)
    if reason:
        assert nb is None and reason in why
    else:
        assert why == "" and nb.cells[0].source == "a = 1\nb = 2"


def test_cell_exercises_tags_then_headings():
    nb = new_notebook(["import x", "## Exercise 1: data", "a = 1", ("b = 2", ["ex2", "answer"]), "c = 3",
                       "## Exercise 2: more", "d = 4", "## Summary", "e = 5"])
    assert cell_exercises(nb) == [None, 1, 1, 2, 1, 2, 2, None, None]


def test_values_come_back_as_plain_data_only(tmp_path):
    """The kernel's values travel as JSON + .npz: arrays of numbers come back; pickles, objects, links don't."""
    base = str(tmp_path / "v")
    values = {
        "x": np.arange(6, dtype=np.float32).reshape(2, 3),
        "n": np.int64(3),
        "f": 0.5,
        "t": (1, None),
        "nested": [{"k": "text", "y": np.array([True, False])}],
        "other": Path("/"),
    }
    write_values(base, values)
    kind, back, _ = read_values(base)
    assert kind == "values" and np.array_equal(back["x"], values["x"]) and back["x"].dtype == np.float32
    assert back["n"] == 3 and back["t"] == [1, None] and back["other"] == repr(Path("/"))
    assert back["nested"][0]["y"].dtype == bool

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    np.savez(base + ".npz", a0=np.array([Evil()], dtype=object))  # a pickle inside the .npz
    with pytest.raises(ValueError):
        read_values(base)
    np.savez(base + ".npz", a0=np.array(["text"]))  # not numbers
    with pytest.raises(ValueError, match="doesn't match"):
        read_values(base)
    Path(base + ".json").write_text(json.dumps({"kind": "values", "values": {"__array__": "a1"}, "arrays": ["a1"]}))
    with pytest.raises(ValueError):
        read_values(base)
    Path(base + ".json").write_text(json.dumps({"kind": "pickle", "pickle": "gASV"}))
    with pytest.raises(ValueError, match="not one the grader writes"):
        read_values(base)
    Path(base + ".json").unlink()
    os.mkfifo(base + ".json")
    with pytest.raises(OSError, match="not a regular file"):
        read_values(base)


# --- Part 2: the real criteria on submissions built from the template and solutions ---
CHEAP = (1, 2, 3, 6)  # exercises whose solutions run in about a second
ZERO = dict.fromkeys(range(1, 14), 0)


def exercise_of(cell) -> int | None:
    for tag in cell.get("metadata", {}).get("tags", []):
        if tag.startswith("ex") and tag[2:].isdigit():
            return int(tag[2:])
    return None


def role_of(cell) -> str:
    tags = cell.get("metadata", {}).get("tags", [])
    return next((role for role in ("answer", "answer-text", "check") if role in tags), "")


def build_submission(
    fill: tuple[int, ...], edit: dict[int, tuple[str, str]] | None = None, drop_checks: bool = False
) -> nbformat.NotebookNode:
    """The template with the solution's answer cells of exercises ``fill`` copied in (same index); ``edit`` maps an
    exercise to (prefix, suffix) put around its answer code cells; ``drop_checks`` deletes every check cell."""
    # The published notebooks (git's version when a student filled in the template in place: tests/lesson.py).
    template = lesson.read_notebook(lesson.relative(TEMPLATE))
    solution = lesson.read_notebook(lesson.relative(SOLUTIONS))
    assert len(template.cells) == len(solution.cells), "template and solutions must be mirrors"
    nb = copy.deepcopy(template)
    answers: dict[int, list[int]] = {}
    for i, (cell, solved) in enumerate(zip(template.cells, solution.cells, strict=True)):
        number = exercise_of(cell)
        assert number == exercise_of(solved) and role_of(cell) == role_of(solved), f"cell {i} differs in its tags"
        if number in fill and role_of(cell) in ("answer", "answer-text"):
            nb.cells[i] = copy.deepcopy(solved)
            if solved.cell_type == "code":
                nb.cells[i].outputs, nb.cells[i].execution_count = [], None
        if role_of(cell) == "answer" and cell.cell_type == "code":
            answers.setdefault(number, []).append(i)
    for number, (prefix, suffix) in (edit or {}).items():
        first, last = answers[number][0], answers[number][-1]
        nb.cells[first].source = prefix + nb.cells[first].source
        nb.cells[last].source = nb.cells[last].source + suffix
    if drop_checks:
        nb.cells = [cell for cell in nb.cells if role_of(cell) != "check"]
    return nb


@pytest.fixture(scope="module")
def real_checks():
    """The real criteria's points table {number: points} (read by the evaluation process, as the grader does)."""
    checks = Criteria(allow_modified=True)

    async def load():
        await checks.start()
        await checks.close()

    asyncio.run(load())
    return {e.number: e.points for e in checks.exercises}


def timed(command: list, **kwargs) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    result = subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=600, **kwargs)
    return result, time.monotonic() - start


def test_solutions_get_full_marks_at_most_5s_over_plain_execution(tmp_path, real_checks):
    """The real command on solutions/ (the only time the full solutions are graded), timed.

    At the same time, a plain nbclient run of the same notebook (``jupyter execute``, outputs discarded) is
    timed. Running the two side by side (one core each on a 2-core machine) exposes both to the same load from
    whatever else runs on the machine, which sequential runs would not.
    """
    scratch, plain_tmp = folders(tmp_path, "scratch", "plain_tmp")
    grader = [sys.executable, "-m", "tests.grading", SOLUTIONS_DIR, "--out", tmp_path, "--no-progress",
              "--allow-modified"]
    jupyter = [Path(sys.executable).parent / "jupyter-execute", "--timeout=600", "--kernel_name=python3",
               SOLUTIONS.name]
    plain_env = {**cli_env(plain_tmp), "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    with ThreadPoolExecutor(2) as pool:
        graded_run = pool.submit(timed, grader, cwd=ROOT, env=cli_env(scratch))
        plain_run = pool.submit(timed, jupyter, cwd=SOLUTIONS_DIR, env=plain_env)
        (result, graded), (plain, plain_seconds) = graded_run.result(), plain_run.result()
    assert result.returncode == 0, result.stderr
    row = read_csv(tmp_path / "grades.csv")[SOLUTIONS.name]
    assert row["status"] == "graded", row
    assert points(row, real_checks) == real_checks, row
    assert int(row["total"]) == int(row["max"]) == sum(real_checks.values()) == 23
    feedback = (tmp_path / "feedback" / f"{SOLUTIONS.stem}.md").read_text(encoding="utf-8")
    assert feedback.count("✅ passed") == 2 * 13 and "❌" not in feedback
    assert list(scratch.iterdir()) == []
    assert plain.returncode == 0, plain.stderr[-2000:]
    # The grader first loads the criteria in its evaluation process, before any cell runs (code from a
    # submission never runs in the grader); it prints how long that took. Everything else must cost at
    # most 5 s over plain execution.
    load = float(re.search(r"a started kernel waited ([\d.]+) s", result.stdout).group(1))
    print(f"grader on solutions/: {graded:.1f} s (a kernel waited {load:.1f} s for the criteria); plain run: "
          f"{plain_seconds:.1f} s")
    assert graded - load <= plain_seconds + 5, (
        f"grading took {graded:.1f} s ({load:.1f} s loading the criteria), plain execution {plain_seconds:.1f} s"
    )


def graded_batch(base: Path, cases: dict, *options: str) -> dict:
    """Write ``cases`` ({name: (notebook or text, ...)}) and grade them with the real criteria in one command (-j 2)."""
    subs, scratch, out = folders(base, "submissions", "scratch", "out")
    for name, (content, *_) in cases.items():
        write_submission(subs / name, content.encode() if isinstance(content, str) else content)
    before_subs = listing(subs)
    result = run_cli(subs, "--out", out, "-j", "2", "--allow-modified", *options, tmpdir=scratch)
    feedback = {p.stem: p.read_text(encoding="utf-8") for p in (out / "feedback").glob("*.md")}
    rows = read_csv(out / "grades.csv") if (out / "grades.csv").exists() else {}
    return {"result": result, "rows": rows, "feedback": feedback, "out": out, "scratch": scratch,
            "subs_changed": listing(subs) != before_subs}


@pytest.mark.slow  # the real criteria on 10 submissions, ~3 min; the attacks are in the default run
def test_matrix_exact_points_statuses_feedback_and_outputs(tmp_path, real_checks):
    """The bad-input matrix ({name: (submission, expected points, status)}), graded in one CLI run: exact points and
    status of each row, its feedback, and nothing written but the output paths."""
    cheap = {**ZERO, **{1: 1, 2: 1, 3: 1, 6: 2}}
    # Cheating: the criteria monkeypatched and redefined, passing outputs pasted into every
    # check cell. Only exercise 1 is really done, so 1 point.
    cheater = build_submission((1,))
    cheat = (
        "import sys, tests.exercises as ec, tests.exercises.common as common, tests.exercise_checks as shim\n"
        "passed = ec.Outcome(0, ec.PASSED, 'pasted', 2)\n"
        "ec.evaluate = lambda number, values, probes=None: passed\n"
        "ec.extract = common.model_info = lambda *args: {}\n"
        "ec.check = shim.check = check = lambda number, namespace: print(f'✅ Exercise {number} passed')\n"
        "sys.modules['tests.exercises.ex01_moons_split'] = None\n"
        "evaluate, extract = ec.evaluate, ec.extract\n"
    )
    cheater.cells.insert(1, nbformat.v4.new_code_cell(cheat))
    for cell in cheater.cells:
        if role_of(cell) == "check":
            number = exercise_of(cell)
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"✅ Exercise {number} passed\n")]
    loop = "import time\nwhile True:  # an endless loop (sleeping, to leave the CPU to the other worker)\n"
    loop += "    time.sleep(0.01)\n"
    wrong_split, bug = "\nX_train_moons = X_train_moons[:700]  # a wrong split", "raise RuntimeError('student bug')\n"
    cases = {
        "blank template.ipynb": (lesson.read_notebook(lesson.relative(TEMPLATE)), ZERO, "graded"),
        # A renamed copy of the cheap submission is the baseline: graded normally.
        "Jane Doe - lesson 02 (final) v2.ipynb": (build_submission(CHEAP), cheap, "graded"),
        "wrong answers.ipynb": (build_submission(CHEAP, edit={1: ("", wrong_split)}), {**cheap, 1: 0}, "graded"),
        "exception in exercise 2.ipynb": (build_submission(CHEAP, edit={2: (bug, "")}), {**cheap, 2: 0, 3: 0}, G),
        "endless loop in exercise 6.ipynb": (build_submission(CHEAP, edit={6: (loop, "")}), {**cheap, 6: 0}, "timeout"),
        "no check cells.ipynb": (build_submission(CHEAP, drop_checks=True), cheap, "graded"),
        "huge output.ipynb": (build_submission(CHEAP, edit={1: ("print('y' * 5_000_000)\n", "")}), cheap, "graded"),
        "cheater.ipynb": (cheater, {**ZERO, 1: 1}, "graded"),
        "not json.ipynb": ("this is not a notebook", ZERO, "invalid notebook"),
        "not a notebook.ipynb": (json.dumps({"cells": "nope"}), ZERO, "invalid notebook"),
    }
    protected = [TEMPLATE, SOLUTIONS, *(ROOT / "tests" / "exercises").glob("*.py"), ROOT / "helper_functions.py"]
    before_protected, before_repo = digests(protected), listing(ROOT, skip=(".git", ".venv"), content=False)
    # 30 s per cell: the template's import cell alone takes over 10 s on a loaded 2-core machine.
    matrix = graded_batch(tmp_path, cases, "--cell-timeout", "30")
    new = set(listing(ROOT, skip=(".git", ".venv"), content=False)) - set(before_repo)
    assert matrix["result"].returncode == 0, matrix["result"].stderr[-3000:]
    rows = matrix["rows"]
    assert set(rows) == set(cases)
    wrong = {}
    for name, (_, expected, status) in cases.items():
        got = points(rows[name], real_checks)
        if (got, rows[name]["status"]) != (expected, status):
            wrong[name] = {"expected": (expected, status), "got": (got, rows[name]["status"]), **rows[name]}
        assert int(rows[name]["total"]) == sum(got.values()) and int(rows[name]["max"]) == 23
    assert not wrong, json.dumps(wrong, indent=1)
    text = matrix["feedback"]
    assert sorted(text) == sorted(Path(n).stem for n in cases)
    assert "RuntimeError" in text["exception in exercise 2"] and "student bug" in text["exception in exercise 2"]
    assert "interrupted after 30 s" in text["endless loop in exercise 6"]
    assert re.search(r"printed 5,0\d\d,\d\d\d characters", text["huge output"])
    assert max(len(t.encode()) for t in text.values()) < 40_000
    assert "not graded: not valid JSON" in text["not json"]
    assert not matrix["subs_changed"], "the submissions folder must not change"
    assert list(matrix["scratch"].iterdir()) == [], "temporary folders must be removed"
    assert digests(protected) == before_protected, "the notebooks, the criteria or helper_functions.py changed"
    # Other tests (pytest -n auto) and sessions may add files to the checkout meanwhile: only
    # untracked newcomers count, and not hidden top-level folders (probes of other tests, tool
    # caches) or __pycache__ (the probe submission checks that kernels don't write bytecode).
    new -= set(lesson.git("ls-files", check=True).stdout.decode().splitlines())
    new = {p for p in new if not (p.startswith(".") or "__pycache__" in Path(p).parts)}
    assert not new, f"the grader wrote into the repository: {sorted(new)}"


# A lookup table of the re-created spirals data set in place of a trained model: it answers every row of
# X_spirals, hence X_test_spirals, exactly, but nothing else. Judged on the student's own test split it would score
# full marks; on the fresh inputs the grader draws it earns nothing.
LOOKUP_SPIRALS = """
class LookupSpirals(nn.Module):
    def __init__(self, X, y):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 4))  # looks right, never trained
        self.table = {tuple(row): int(label) for row, label in zip(X.tolist(), y.tolist())}

    def forward(self, x):
        logits = torch.zeros(len(x), 4, device=x.device)
        for i, row in enumerate(x.tolist()):
            if tuple(row) in self.table:
                logits[i, self.table[tuple(row)]] = 10.0
        return logits


model_spirals = LookupSpirals(X_spirals, y_spirals).to(device)
"""

# A model whose forward() is not what its layers compute (the criteria's half of the lookup attack): untrained
# nn.Sequential layers answering with a nearest-neighbour lookup of a dense re-created moons sample.
# Fresh inputs alone don't catch it (the lookup generalises); the evaluation process rebuilds the
# layers from their weights and finds that they don't give the outputs the kernel reported. The same
# lookup in a class of its own (not a chain of standard layers) is judged on its own outputs, and the
# feedback says so: the README lists that as not protected.
KNN_MOONS = """
from sklearn.datasets import make_moons as _make_moons

_X_ref, _y_ref = _make_moons(n_samples=20000, noise=0.03, random_state=1)
_X_ref, _y_ref = torch.tensor(_X_ref, dtype=torch.float32), torch.tensor(_y_ref)


def _knn_logits(x):
    labels = _y_ref[torch.cdist(x.float().cpu(), _X_ref).argmin(dim=1)]
    return (8.0 * (2.0 * labels - 1)).float().reshape(-1, 1).to(x.device)


history_moons = [0.7, 0.3, 0.05]  # typed in
"""
LYING_SEQUENTIAL = KNN_MOONS + "model_moons.forward = _knn_logits  # the layers stay untrained\n"
OWN_CLASS = (
    KNN_MOONS
    + """

class KnnMoons(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))  # never used

    def forward(self, x):
        return _knn_logits(x)


model_moons = KnnMoons().to(device)
"""
)


# Exercise 9's table typed in, after the solution's cells: untrained models of the right
# shape kept beside it. The reported final accuracies are not what those models score on X_test_spirals.
TYPED_TABLE_9 = """
models_activations, results_activations, histories_activations = {}, {}, {}
for name, layer in (("sigmoid", nn.Sigmoid), ("relu", nn.ReLU), ("tanh", nn.Tanh)):
    torch.manual_seed(SEED)
    models_activations[name] = nn.Sequential(nn.Linear(2, 32), layer(), nn.Linear(32, 32), layer(),
                                             nn.Linear(32, 4)).to(device)
    curve = [min(0.5 + 0.01 * epoch, 0.97) for epoch in range(200)]
    histories_activations[name] = {"train_loss": [1.0 - 0.004 * epoch for epoch in range(200)], "test_acc": curve}
    results_activations[name] = {"test_acc": curve[-1], "epochs_to_90": 41}
fastest_activation = "relu"
fig, ax_activations = plt.subplots()
for name in histories_activations:
    ax_activations.plot(histories_activations[name]["train_loss"], label=name)
ax_activations.set_xlabel("epoch")
ax_activations.set_ylabel("loss")
ax_activations.legend()
"""


@pytest.fixture(scope="module")
def criteria_attacks(tmp_path_factory):
    """Attacks on the criteria themselves, graded with the real criteria in one command:
    {name: (submission, expected points of some exercises, a phrase of its feedback)}."""
    cases = {
        "lookup.ipynb": (build_submission(CHEAP + (7,), edit={7: ("", LOOKUP_SPIRALS)}),
                         {**ZERO, 1: 1, 2: 1, 3: 1, 6: 2, 7: 0}, ""),
        # Exercises 2 and 3 judge the same model.
        "lying.ipynb": (build_submission((1, 2, 3), edit={4: ("", LYING_SEQUENTIAL)}), {1: 1, 2: 0, 3: 0, 4: 0},
                        "differ from what its layers compute"),
        # Exercise 3 checks the optimizer against the model's parameters: the own class fails there.
        "own class.ipynb": (build_submission((1, 2, 3), edit={4: ("", OWN_CLASS)}), {1: 1, 2: 1, 4: 2},
                            "judged on the outputs of its own forward()"),
        "typed table.ipynb": (build_submission((7, 9), edit={9: ("", TYPED_TABLE_9)}), {7: 2, 9: 0},
                              "results_activations['sigmoid']['test_acc'] is 0.9700"),
    }
    return {**graded_batch(tmp_path_factory.mktemp("criteria_attacks"), cases), "cases": cases}


@pytest.mark.parametrize("name", ["lookup.ipynb", "lying.ipynb", "own class.ipynb", "typed table.ipynb"])
def test_attacks_on_the_criteria_earn_nothing(criteria_attacks, name):
    """A lookup table of the data set, layers that lie about their outputs, a typed-in table: exact points."""
    assert criteria_attacks["result"].returncode == 0, criteria_attacks["result"].stderr[-3000:]
    _, expected, phrase = criteria_attacks["cases"][name]
    row = criteria_attacks["rows"][name]
    assert (points(row, expected), row["status"]) == (expected, "graded"), row
    feedback = criteria_attacks["feedback"][Path(name).stem]
    assert phrase in feedback, feedback[-2000:]


PUBLISHER = """\
import sys, time, zmq
socket = zmq.Context().socket(zmq.PUB)
print(socket.bind_to_random_port("tcp://127.0.0.1"), flush=True)
time.sleep(1.5)  # the subscriber connects
for _ in range(int(sys.argv[1])):
    socket.send(b"x" * int(sys.argv[2]))
time.sleep(float(sys.argv[3]))
"""


def test_the_grader_queues_only_a_few_messages_from_a_kernel():
    """20 parts of 30 MB (each under the 32 MB limit) sent to a grader that is busy: it holds only a few."""
    from tests.grading import kernel

    def rss_mb() -> float:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024

    size, count = 30_000_000, 20
    sender = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(count), str(size), "8"], stdout=subprocess.PIPE, text=True
    )
    port = int(sender.stdout.readline())

    async def receive() -> tuple[float, int]:
        manager = kernel._KernelManager()
        client = manager.client()  # the grader's client sockets are made from its context
        socket = client.context.socket(zmq.SUB)
        socket.setsockopt(zmq.SUBSCRIBE, b"")
        socket.connect(f"tcp://127.0.0.1:{port}")
        before = rss_mb()
        await asyncio.sleep(5.0)  # busy elsewhere: nothing is read, the sender has sent everything
        held = rss_mb() - before
        received = 0
        while await socket.poll(1000):
            await socket.recv()
            received += 1
        socket.close(0)
        return held, received

    try:
        held, received = asyncio.run(receive())
    finally:
        sender.kill()
        sender.wait()
    print(f"held {held:.0f} MB of {count} x {size / 1e6:.0f} MB while not reading")
    assert received == count, "nothing is lost: the rest waits in the kernel's own queue"
    assert size / 1e6 <= held <= (kernel.MAX_QUEUED_MESSAGES + 2) * size / 2**20, f"held {held:.0f} MB"

