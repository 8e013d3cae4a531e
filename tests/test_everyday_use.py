"""What students and instructors do every day must not break the lesson.

Here: a copy of a lesson notebook saved in another folder still runs, because `pip install -r
requirements.txt` installs the lesson itself, editable (`-e .`), so `helper_functions` and the
exercise checks import from anywhere (tested in a throwaway environment, from a copy of the repository).

Elsewhere: running and saving each notebook in JupyterLab leaves the lesson as it was
(tests/test_browser.py); a `pytest` run that writes into a clean repository fails (conftest.py); a
whole working day, then `pytest`, is tests/tools/everyday_check.py, run by hand.
"""

from __future__ import annotations

import json
import os
import pathlib
import site
import subprocess
import sys
from unittest import mock

import nbformat
import pytest

from tests import lesson
from tests.tools.repo_copy import copy_repo

KERNEL_NAME = "lesson-copy-test"


def plain_env(**extra: str) -> dict[str, str]:
    """This environment without anything that points Python at the repository."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MPLBACKEND", "JUPYTER_PATH", lesson.WORKING_COPY_ENV)}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


@pytest.fixture(scope="module")
def installed_copy(tmp_path_factory):
    """(copy, python, jupyter_path): a copy of the repository installed editable, as `-e .` in requirements.txt
    does, into a fresh virtual environment that borrows this one's packages through a .pth file (nothing is
    downloaded; no build isolation, which would fetch setuptools)."""
    base = tmp_path_factory.mktemp("anywhere")
    repo = copy_repo(base / "lesson", commit=False)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    borrowed = [p for p in site.getsitepackages() if pathlib.Path(p).is_dir()]
    (pathlib.Path(purelib) / "borrowed_packages.pth").write_text("\n".join(borrowed) + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "-e", str(repo)],
        cwd=base, env=plain_env(PIP_NO_INPUT="1"), capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    # A kernel spec for that environment's Python, as `python -m ipykernel install` would write it.
    spec_dir = base / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lesson copy", "language": "python",
    }))
    return repo, python, base / "jupyter"


def test_copies_saved_in_another_folder_run_their_first_cells(installed_copy, tmp_path):
    """Copies of the notebooks in a folder outside the repository run their first cells (one kernel)."""
    from nbclient import NotebookClient

    repo, python, jupyter_path = installed_copy
    exercises = lesson.read_notebook(lesson.EXERCISES)
    cells = []
    for name in (lesson.EXERCISES, lesson.THEORY, lesson.CLASSIFICATION, lesson.SOLUTIONS):
        nb = exercises if name == lesson.EXERCISES else lesson.read_notebook(name)
        # its code cells up to the first that runs a check, else up to the first that imports helper_functions
        code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
        checks = [n for n, index in enumerate(code) if "check" in nb.cells[index].metadata.get("tags", [])]
        imports = [n for n, index in enumerate(code) if "helper_functions" in nb.cells[index].source]
        cells += [nb.cells[i] for i in code[: (checks or imports or [0])[0] + 1]]
    probe = nbformat.v4.new_code_cell(
        "import helper_functions, tests.exercise_checks\n"
        "print(helper_functions.__file__)\nprint(tests.exercise_checks.__file__)"
    )
    exercises.cells = [*cells, probe]
    for n, cell in enumerate(exercises.cells):
        cell.id = f"cell-{n}"  # the copied cells come from several notebooks: ids must stay unique
    elsewhere = tmp_path / "my work"
    elsewhere.mkdir()
    nbformat.write(exercises, elsewhere / "my copy of the exercises.ipynb")

    with mock.patch.dict(os.environ, plain_env(JUPYTER_PATH=str(jupyter_path)), clear=True):
        NotebookClient(exercises, kernel_name=KERNEL_NAME, timeout=300, allow_errors=True,
                       resources={"metadata": {"path": str(elsewhere)}}).execute()
    errors = [f"cell {i}: {o.ename}: {o.evalue}" for i, cell in enumerate(exercises.cells)
              for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"a copy of the lesson's notebooks in {elsewhere} fails: {errors}"
    printed = "".join(o.get("text", "") for o in probe.outputs if o.output_type == "stream").split()
    assert printed == [str(repo / "helper_functions.py"), str(repo / "tests" / "exercise_checks.py")], printed
