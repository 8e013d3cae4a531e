"""The notebook harness itself: pytest + nbval with the settings of pyproject.toml and conftest.py.

Inner pytest runs on small probe notebooks, in a throwaway copy of the repository
(tests/tools/repo_copy.py), make a broken setting (a lost flag, an inherited MPLBACKEND, a tag nbval
does not read, a student's notebook collected as a lesson test) fail here with a clear message.
"""

import os
import pathlib
import re
import subprocess
import sys
import tomllib

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns

from tests import lesson
from tests.lesson import ROOT
from tests.tools.repo_copy import copy_repo, git_status


def write_notebook(path: pathlib.Path, cells: list, outputs: dict[int, list] | None = None) -> None:
    """Write a notebook of code cells; a cell is its source, or (source, [tags])."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {}))
    for index, cell_outputs in (outputs or {}).items():
        nb.cells[index].outputs = cell_outputs
        nb.cells[index].execution_count = index + 1
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """One copy of the repository shared by the probes that only add files in their own folders."""
    return copy_repo(tmp_path_factory.mktemp("harness") / "lesson")


@pytest.fixture
def probe_dir(repo, request):
    path = repo / "probes" / request.node.name.replace("[", "_").replace("]", "")
    path.mkdir(parents=True)
    return path


def run_pytest(cwd: pathlib.Path, *args, env_extra: dict | None = None, timeout: int = 300):
    """An inner ``pytest -n0`` in ``cwd`` with a plain environment (no thread or path settings)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONPATH", "MPLBACKEND", lesson.WORKING_COPY_ENV)}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n0", "-q", "-p", "no:randomly", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_kernel_environment_one_item_per_cell_and_a_failing_assert_fails_the_run(repo, probe_dir):
    write_notebook(probe_dir / "sub" / "probe.ipynb", [
        "import os, matplotlib\n"
        "assert 'inline' in matplotlib.get_backend(), matplotlib.get_backend()\n"
        "assert os.environ['OMP_NUM_THREADS'] == '1'",
        "import helper_functions, tests.exercise_checks\n"
        f"assert helper_functions.__file__ == {str(repo / 'helper_functions.py')!r}",
        "import matplotlib.pyplot as plt\nplt.plot([0, 1]); plt.title('probe'); plt.show()",
    ])
    write_notebook(probe_dir / "learns.ipynb", ["x = 1", "assert x == 1", "print('ok')"])
    write_notebook(probe_dir / "stops_learning.ipynb", ["test_acc = 0.5", "assert test_acc >= 0.99, test_acc"])
    result = run_pytest(repo, probe_dir, env_extra={"MPLBACKEND": "Agg"})
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 failed, 7 passed" in result.stdout, result.stdout[-3000:]
    assert "stops_learning.ipynb::Cell 1" in result.stdout


def test_nbval_reads_the_cell_tags_the_notebooks_use(repo, probe_dir):
    """The notebooks mark cells with tags, not comments; each tag must do what it says."""
    cuda_run = "tensor([1.], device='cuda:0') on cuda:0 in 3.2 s\n"
    stored = [nbformat.v4.new_output("stream", name="stdout", text=cuda_run)]
    checked = ("import torch\nprint(torch.ones(1), 'on', 'cpu', 'in', '0.7 s')", ["nbval-check-output"])
    varying = ("import random\nprint(random.random())", ["nbval-ignore-output"])
    skipped = ("raise RuntimeError('a skipped cell must not run')", ["nbval-skip"])
    raising = ("raise ValueError('shown on purpose')", ["raises-exception"])
    write_notebook(probe_dir / "tags.ipynb", [checked, varying, skipped, raising],
                   outputs={0: stored, 1: [nbformat.v4.new_output("stream", name="stdout", text="0.5\n")]})
    # nbval-check-output really compares: a different value fails (after sanitizing); untagged, lax mode
    # does not compare.
    wrong = [nbformat.v4.new_output("stream", name="stdout", text="tensor([2.]) on cpu in 0.7 s\n")]
    write_notebook(probe_dir / "tagged.ipynb", [checked], outputs={0: wrong})
    write_notebook(probe_dir / "untagged.ipynb", [checked[0]], outputs={0: wrong})
    result = run_pytest(repo, probe_dir, "-rs")
    assert result.returncode == 1, "a cell tagged nbval-check-output with a different output must fail"
    assert "1 failed, 4 passed, 1 skipped" in result.stdout, result.stdout[-3000:]
    assert "/tagged.ipynb::Cell 0" in result.stdout, result.stdout[-3000:]


def collected_files(result: subprocess.CompletedProcess) -> set[str]:
    return {line.split("::", 1)[0] for line in result.stdout.splitlines() if "::" in line}


def test_only_the_lesson_notebooks_are_collected(repo):
    """Student copies, submissions, checkpoints and scratch notebooks are not lesson tests."""
    student = lesson.notebook_text(lesson.EXERCISES)
    stray = {
        "submissions/alice.ipynb": student,
        "submissions/corrupt.ipynb": "{ this is not JSON",
        "submissions/test_sneaky.py": "def test_x():\n    assert False\n",
        "my work/02_neural_networks_exercises (copy).ipynb": student,
        "scratch.ipynb": student,
        "solutions/.ipynb_checkpoints/02_neural_networks_exercises_solutions-checkpoint.ipynb": student,
    }
    for name, text in stray.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    try:
        # "." as pytest's testpaths does; tests/ left out only to keep this quick.
        result = run_pytest(repo, "--collect-only", "--ignore=tests", "--ignore=probes")
        assert result.returncode == 0, result.stdout[-3000:]
        assert collected_files(result) == set(lesson.NOTEBOOKS), result.stdout[-3000:]

        # Named on the command line, a student's notebook is collected (and a corrupt one is reported).
        result = run_pytest(repo, "--collect-only", "submissions/alice.ipynb")
        assert collected_files(result) == {"submissions/alice.ipynb"}, result.stdout[-3000:]
    finally:
        for name in stray:
            (repo / name).unlink()


def test_a_changed_lesson_notebook_runs_gits_version_and_a_run_that_writes_fails(tmp_path):
    """A student's saved edits don't fail the lesson's tests (git's version runs); a run that writes fails."""
    repo = copy_repo(tmp_path / "lesson")
    # Stand-in for the theory notebook: two cheap cells, committed.
    write_notebook(repo / lesson.THEORY, ["x = 1", "assert x == 1"])
    lesson.git("commit", "-qam", "stand-in", cwd=repo, check=True)
    write_notebook(repo / lesson.THEORY, ["x = 2", "assert x == 1, 'edited by a student'", "print('more')"])
    edited = (repo / lesson.THEORY).read_bytes()

    result = run_pytest(repo, lesson.THEORY)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed" in result.stdout
    assert f"your working copy of {lesson.THEORY} differs from git" in result.stdout
    assert "pytest --lesson-working-copy" in result.stdout
    assert (repo / lesson.THEORY).read_bytes() == edited

    result = run_pytest(repo, lesson.THEORY, "--lesson-working-copy")
    assert result.returncode == 1 and "1 failed, 2 passed" in result.stdout, result.stdout[-3000:]
    assert "judging your working copies" in result.stdout

    # Staged with `git add`, the change is what git holds, and is what runs.
    lesson.git("add", lesson.THEORY, cwd=repo, check=True)
    result = run_pytest(repo, lesson.THEORY)
    assert result.returncode == 1 and "1 failed, 2 passed" in result.stdout, result.stdout[-3000:]

    # Everything committed, a run that writes into the clean repository fails, naming the file and saying why.
    write_notebook(repo / "probes" / "writes.ipynb", ["open('written_by_a_test.txt', 'w').write('x')"])
    lesson.git("add", "-A", cwd=repo, check=True)
    lesson.git("commit", "-qm", "probe", cwd=repo, check=True)
    result = run_pytest(repo / "probes", "writes.ipynb")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 passed" in result.stdout
    assert "the test run changed the repository" in result.stdout
    assert "probes/written_by_a_test.txt" in result.stdout
    assert "tests must write to a temporary folder" in result.stdout


# The slowest cell of any lesson notebook in a full `pytest` run (its junit times), on the 2-core
# machine with a load average of about 11 from other sessions (2026-12-01): the first cell of notebook 02
# (kernel start and imports) took 17.5 s. Quiet, the whole notebook takes under 10 s (README, "Run time").
SLOWEST_CELL_SECONDS = 17.5


def test_configuration_keeps_the_flags_a_sane_cell_timeout_and_sanitize_rules_nbval_parses():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    addopts = pyproject["tool"]["pytest"]["ini_options"]["addopts"]
    options = " ".join(addopts)
    for flag in ["--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with=tests/nbval_sanitize.cfg",
                 "--dist loadfile", "-m not slow", "--nbval-cell-timeout="]:
        assert flag in options, f"pyproject.toml lost {flag}"
    timeout = int(next(o for o in addopts if o.startswith("--nbval-cell-timeout=")).split("=", 1)[1])
    assert 20 * SLOWEST_CELL_SECONDS <= timeout <= 900, timeout
    # nbval silently skips a sanitize rule whose `replace:` line has no text after it.
    text = (ROOT / "tests" / "nbval_sanitize.cfg").read_text()
    sections = [line for line in text.splitlines() if line.startswith("[")]
    patterns = get_sanitize_patterns(text)
    assert len(patterns) == len(sections), patterns


def test_probes_leave_the_copy_as_committed(repo):
    """The probes above write only their own folder; nothing else in the copy changed."""
    changed = [line for line in git_status(repo).splitlines() if not re.match(r"\?\? probes/", line)]
    assert changed == []
