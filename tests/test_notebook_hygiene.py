"""Every lesson notebook is stored executed, cleanly, top to bottom, as JupyterLab saves it.

nbval in lax mode cannot notice a notebook committed with cleared outputs, run out of order or saved
with a traceback. These checks read the stored files (no kernel), except the round trip, which opens
and saves each notebook through a real Jupyter server as JupyterLab does and compares the bytes. They
read git's version when your working copy differs, and say so (tests/lesson.py).
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import warnings

import pytest

from tests import lesson
from tests.tools.run_notebook import KERNELSPEC

MACHINE_PATH = re.compile(r"(/(root|home|tmp|work|Users|var/folders)/|[A-Za-z]:\\\\Users\\\\)")
# A comment nbval would read as test markup (use the cell tags instead), or a lint suppression.
NBVAL_COMMENT = re.compile(r"^\s*#\s*(NBVAL_|PYTEST_VALIDATE_)", re.MULTILINE)
RUFF_NOQA = re.compile(r"#\s*ruff\s*:\s*noqa", re.IGNORECASE)
PARAMETERS_SOURCE = "SEED = 42"


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def check_notebook(nb: dict) -> list[str]:
    """Return a list of hygiene problems of one notebook dict (empty when clean)."""
    problems = []
    spec = nb.get("metadata", {}).get("kernelspec", {})
    if spec != KERNELSPEC:
        problems.append(f"kernelspec is {spec}, expected {KERNELSPEC} (what JupyterLab writes on save)")
    if (nb.get("nbformat"), nb.get("nbformat_minor")) != (4, 5):
        problems.append(f"nbformat {nb.get('nbformat')}.{nb.get('nbformat_minor')}, expected 4.5 (cell ids)")
    code_cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    counts = [c.get("execution_count") for c in code_cells]
    if counts != list(range(1, len(code_cells) + 1)):
        problems.append(
            f"execution counts are {counts}, expected 1..{len(code_cells)}: "
            "restart the kernel, run all cells top to bottom and save"
        )
    parameters = [i for i, c in enumerate(nb.get("cells", [])) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(parameters) != 1:
        problems.append(f"{len(parameters)} cells tagged 'parameters' (cells {parameters}), expected exactly one")
    for index in parameters:
        cell = nb["cells"][index]
        if cell.get("cell_type") != "code" or _source(cell).strip() != PARAMETERS_SOURCE:
            problems.append(
                f"cell {index} is tagged 'parameters' but holds {_source(cell)!r}: "
                f"it must be a code cell holding exactly {PARAMETERS_SOURCE!r} (explain SEED in the markdown above)"
            )
    timed = [i for i, c in enumerate(nb.get("cells", [])) if "execution" in c.get("metadata", {})]
    if timed:
        problems.append(f"cells {timed} store execution timestamps (tests/tools/run_notebook.py leaves them out)")
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "code":
            source = _source(cell)
            if NBVAL_COMMENT.search(source):
                problems.append(f"cell {index} marks nbval with a comment; use a cell tag (e.g. nbval-ignore-output)")
            if RUFF_NOQA.search(source):
                problems.append(f"cell {index} has a '# ruff: noqa' comment; ask for a per-file ignore in "
                                "pyproject.toml")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index} stores an error output ({output.get('ename')})")
            if output.get("name") == "stderr" and "Traceback" in "".join(output.get("text", "")):
                problems.append(f"cell {index} stores a traceback on stderr")
            match = MACHINE_PATH.search(json.dumps(output))
            if match:
                problems.append(f"cell {index} output shows a machine path ({match.group(0)!r})")
    return problems


def test_the_lesson_is_exactly_the_notebooks_git_tracks():
    """tests/lesson.py is the one list of notebooks; a notebook added to git but not there would go untested."""
    out = lesson.git("ls-files", "*.ipynb")
    if out is None or out.returncode != 0:
        pytest.skip("not a git checkout")
    tracked = sorted(line for line in out.stdout.decode().splitlines() if line)
    assert tracked == sorted(lesson.NOTEBOOKS), (
        f"git tracks {tracked}, tests/lesson.py lists {sorted(lesson.NOTEBOOKS)}: "
        "add a new lesson notebook to NOTEBOOKS in tests/lesson.py, or `git rm --cached` a stray one"
    )


@pytest.mark.parametrize("name", lesson.NOTEBOOKS)
def test_notebook_is_clean_and_executed_in_order(name):
    """The judged version passes check_notebook; the message says which version failed and how to fix it."""
    if not (lesson.ROOT / name).is_file():
        pytest.fail(f"{name} is missing from the lesson folder, so pytest cannot run it: "
                    f"`git checkout -- {name}` restores it")
    nb = json.loads(lesson.notebook_text(name))
    fix = f"re-execute it with `python -m tests.tools.run_notebook {name}`"
    where = "the working copy"
    if lesson.source(name) == "git":
        where = "git's version (your working copy differs)"
        fix = f"git's version is what fails: fix it and {fix}, then `git add` it"
    problems = check_notebook(nb)
    assert not problems, f"{name} ({where}): {fix}\n  " + "\n  ".join(problems)


# One sitting: the core path (every cell before the "Going further" heading) of each lesson notebook.
CORE_MAX_WORDS, CORE_MAX_CODE_LINES, CELL_MAX_CODE_LINES = 4500, 550, 30


def _code_lines(cell: dict) -> int:
    return sum(1 for line in _source(cell).splitlines() if line.strip())


def _parts(name: str) -> tuple[list, list]:
    """The notebook's cells before and from its "Going further" heading."""
    cells = json.loads(lesson.notebook_text(name))["cells"]
    start = [i for i, cell in enumerate(cells) if cell["cell_type"] == "markdown"
             and re.match(r"#+\s*Going further", _source(cell).lstrip())]
    assert start, f'{name} has no markdown heading starting with "Going further" (the optional part)'
    return cells[:start[0]], cells[start[0]:]


def _counts(cells: list) -> tuple[int, int, int]:
    """Words of markdown, non-blank code lines and code cells with output (experiments)."""
    return (sum(len(_source(cell).split()) for cell in cells if cell["cell_type"] == "markdown"),
            sum(_code_lines(cell) for cell in cells if cell["cell_type"] == "code"),
            sum(1 for cell in cells if cell["cell_type"] == "code" and cell.get("outputs")))


@pytest.mark.parametrize("name", [lesson.THEORY, lesson.CLASSIFICATION])
def test_core_path_fits_one_sitting_and_no_code_cell_is_a_wall(name):
    """Words and code before "Going further" stay within one sitting's budget; no code cell over 30 lines."""
    cells = json.loads(lesson.notebook_text(name))["cells"]
    words, lines, _ = _counts(_parts(name)[0])
    assert words <= CORE_MAX_WORDS, f"{name}: {words} words of markdown before Going further (at most {CORE_MAX_WORDS})"
    assert lines <= CORE_MAX_CODE_LINES, (
        f"{name}: {lines} non-blank code lines before Going further (at most {CORE_MAX_CODE_LINES})")
    walls = {i: _code_lines(cell) for i, cell in enumerate(cells)
             if cell["cell_type"] == "code" and _code_lines(cell) > CELL_MAX_CODE_LINES}
    assert not walls, f"{name}: code cells over {CELL_MAX_CODE_LINES} non-blank lines (cell index: lines): {walls}"


def test_kernelspec_is_the_one_the_pinned_ipykernel_installs():
    """KERNELSPEC is what `jupyter kernelspec` lists, or JupyterLab would rewrite it on opening."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    assert {"display_name": spec.display_name, "language": spec.language, "name": "python3"} == KERNELSPEC


# --- The round trip: open and save through a Jupyter server, as JupyterLab does -----------------------

@pytest.fixture(scope="module")
def saved_by_jupyterlab(tmp_path_factory):
    """{name: (bytes before, bytes after, opening made it dirty)} for every lesson notebook."""
    from tests.tools.jupyterlab_save import JupyterServer, open_and_save

    folder = tmp_path_factory.mktemp("jupyterlab")
    before = {name: lesson.notebook_text(name).encode("utf-8") for name in lesson.NOTEBOOKS}
    for name, text in before.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text)
    with JupyterServer(folder) as server:
        dirty = {name: open_and_save(server, name) for name in before}
    results = {name: (text, (folder / name).read_bytes(), dirty[name]) for name, text in before.items()}
    shutil.rmtree(folder, ignore_errors=True)
    return results


def _without_python_version(text: bytes) -> dict:
    nb = json.loads(text)
    nb.get("metadata", {}).get("language_info", {}).pop("version", None)
    return nb


@pytest.mark.parametrize("name", lesson.NOTEBOOKS)
def test_opening_and_saving_in_jupyterlab_changes_nothing(name, saved_by_jupyterlab):
    """Opened and saved as JupyterLab does, a notebook keeps its bytes (but language_info.version on another Python)."""
    before, after, dirty = saved_by_jupyterlab[name]
    stored = json.loads(before).get("metadata", {}).get("language_info", {}).get("version")
    here = platform.python_version()
    fix = f"re-execute it with `python -m tests.tools.run_notebook {name}` and commit it."
    if stored == here:
        assert not dirty and after == before, f"{name}: opening it in JupyterLab changes its metadata ({fix})"
        return
    # language_info.version is the Python the notebook last ran on: a different patch release
    # (e.g. CI's newest 3.11) is the one change nobody can commit away.
    warnings.warn(f"{name} was executed on Python {stored}, this is {here}: JupyterLab here rewrites "
                  "language_info.version on opening; everything else is compared", stacklevel=1)
    assert _without_python_version(after) == _without_python_version(before), (
        f"{name}: opening it in JupyterLab changes more than language_info.version; {fix}")


# --- The checker itself must catch each kind of problem ----------------------------------------------

def _nb(cells, spec=None, minor=5):
    return {"nbformat": 4, "nbformat_minor": minor, "metadata": {"kernelspec": dict(spec or KERNELSPEC)},
            "cells": cells}


def _code(count, outputs=(), source="", tags=(), **metadata):
    return {"cell_type": "code", "execution_count": count, "outputs": list(outputs), "source": source,
            "metadata": {"tags": list(tags), **metadata} if tags else metadata}


PARAMS = _code(1, source="SEED = 42", tags=["parameters"])


@pytest.mark.parametrize(
    "nb, fragment",
    [
        # None: no problem. A clean notebook; explaining a tag in prose is fine (only code cells are markup).
        (_nb([PARAMS, {"cell_type": "markdown", "source": "# hi", "metadata": {}}, _code(2, tags=["nbval-skip"])]),
         None),
        (_nb([PARAMS, {"cell_type": "markdown", "source": "# NBVAL_SKIP is spelled as a tag\n# ruff: noqa",
                       "metadata": {}}]), None),
        (_nb([PARAMS, _code(None), _code(None)]), "execution counts"),  # cleared outputs
        (_nb([PARAMS, _code(3), _code(2)]), "execution counts"),  # out of order
        (_nb([PARAMS, _code(2), _code(4)]), "execution counts"),  # a cell skipped / re-run
        (_nb([PARAMS], spec={"name": "conda-env-foo", "display_name": "foo", "language": "python"}), "kernelspec"),
        (_nb([PARAMS], spec={"name": "python3", "display_name": "Python 3", "language": "python"}), "kernelspec"),
        (_nb([PARAMS], minor=4), "nbformat 4.4"),
        (_nb([PARAMS, _code(2, [{"output_type": "error", "ename": "ValueError"}])]), "error output"),
        (_nb([PARAMS, _code(2, [{"output_type": "stream", "name": "stdout", "text": "saved to /home/ana/x.png"}])]),
         "machine path"),
        (_nb([PARAMS, _code(2, [{"output_type": "stream", "name": "stderr", "text": "Traceback (most recent"}])]),
         "traceback"),
        (_nb([_code(1)]), "0 cells tagged 'parameters'"),
        (_nb([PARAMS, _code(2, source="SEED = 42", tags=["parameters"])]), "2 cells tagged 'parameters'"),
        (_nb([_code(1, source="# the seed\nSEED = 42", tags=["parameters"])]), "must be a code cell holding exactly"),
        (_nb([_code(1, source="SEED = 42\nN = 10", tags=["parameters"])]), "must be a code cell holding exactly"),
        (_nb([_code(1, source="SEED = 7", tags=["parameters"])]), "must be a code cell holding exactly"),
        (_nb([PARAMS, _code(2, source="# NBVAL_IGNORE_OUTPUT\nimport torch")]), "use a cell tag"),
        (_nb([PARAMS, _code(2, source="x = 1\n  # NBVAL_CHECK_OUTPUT")]), "use a cell tag"),
        (_nb([PARAMS, _code(2, source="# ruff: noqa: F401\nimport time")]), "ruff: noqa"),
        (_nb([PARAMS, _code(2, execution={"iopub.status.busy": "2026-01-01T00:00:00Z"})]), "timestamps"),
    ],
)
def test_checker_accepts_clean_notebooks_and_names_each_problem(nb, fragment):
    problems = check_notebook(nb)
    assert any(fragment in p for p in problems) if fragment else problems == [], problems


def test_readme_study_times_quote_the_notebooks_own_counts():
    """The README's study-time estimate quotes each part's words, code lines and experiments as they are now."""
    readme = " ".join((lesson.ROOT / "README.md").read_text(encoding="utf-8").split())
    quoted = re.findall(r"([\d,]+) words, ([\d,]+) lines(?: of code)? and (\d+) experiments", readme)
    counts = [_counts(part) for name in (lesson.THEORY, lesson.CLASSIFICATION) for part in _parts(name)]
    assert [tuple(int(n.replace(",", "")) for n in q) for q in quoted] == counts, (
        "README.md's study-time paragraph quotes other counts than the notebooks have (core and Going further of "
        f"notebooks 1 and 2: words, code lines, experiments): {counts}; update the counts and the minutes")
