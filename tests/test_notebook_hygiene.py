"""Every committed notebook is stored executed, cleanly, top to bottom.

nbval in lax mode only compares outputs of marked cells, and it cannot notice a
notebook committed with cleared outputs, run out of order, or saved with a
traceback in it. These checks read the stored files (no kernel is started).
"""

import json
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MACHINE_PATH = re.compile(r"(/(root|home|tmp|work|Users|var/folders)/|[A-Za-z]:\\\\Users\\\\)")


def committed_notebooks() -> list[pathlib.Path]:
    """Notebooks git tracks (or, outside a git checkout, every notebook below ROOT)."""
    try:
        out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True)
        paths = [ROOT / line for line in out.stdout.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        paths = list(ROOT.rglob("*.ipynb"))
    return sorted(p for p in paths if not any(part.startswith(".") for part in p.relative_to(ROOT).parts))


NOTEBOOKS = committed_notebooks()


def check_notebook(nb: dict) -> list[str]:
    """Return a list of hygiene problems of one notebook dict (empty when clean)."""
    problems = []
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"kernelspec name is {kernel!r}, expected 'python3'")
    code_cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    counts = [c.get("execution_count") for c in code_cells]
    if counts != list(range(1, len(code_cells) + 1)):
        problems.append(
            f"execution counts are {counts}, expected 1..{len(code_cells)}: "
            "restart the kernel, run all cells top to bottom and save"
        )
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index} stores an error output ({output.get('ename')})")
            if output.get("name") == "stderr" and "Traceback" in "".join(output.get("text", "")):
                problems.append(f"cell {index} stores a traceback on stderr")
            match = MACHINE_PATH.search(json.dumps(output))
            if match:
                problems.append(f"cell {index} output shows a machine path ({match.group(0)!r})")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
def test_notebook_is_clean_and_executed_in_order(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb.get("nbformat") == 4
    problems = check_notebook(nb)
    assert not problems, f"{path.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


# The checker itself must catch each kind of problem.
def _nb(cells, kernel="python3"):
    return {"nbformat": 4, "metadata": {"kernelspec": {"name": kernel}}, "cells": cells}


def _code(count, outputs=()):
    return {"cell_type": "code", "execution_count": count, "outputs": list(outputs), "source": ""}


def test_checker_accepts_a_clean_notebook():
    assert check_notebook(_nb([_code(1), {"cell_type": "markdown", "source": "# hi"}, _code(2)])) == []


@pytest.mark.parametrize(
    "nb, fragment",
    [
        (_nb([_code(None), _code(None)]), "execution counts"),  # cleared outputs
        (_nb([_code(2), _code(1)]), "execution counts"),  # out of order
        (_nb([_code(1), _code(3)]), "execution counts"),  # a cell skipped / re-run
        (_nb([_code(1)], kernel="conda-env-foo"), "kernelspec"),
        (_nb([_code(1, [{"output_type": "error", "ename": "ValueError"}])]), "error output"),
        (_nb([_code(1, [{"output_type": "stream", "name": "stdout", "text": "saved to /home/ana/x.png"}])]),
         "machine path"),
        (_nb([_code(1, [{"output_type": "stream", "name": "stderr", "text": "Traceback (most recent call"}])]),
         "traceback"),
    ],
)
def test_checker_rejects(nb, fragment):
    problems = check_notebook(nb)
    assert any(fragment in p for p in problems), problems
