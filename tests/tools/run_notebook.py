"""Re-execute lesson notebooks in place, the way they are committed.

    python -m tests.tools.run_notebook 01_neural_networks_theory.ipynb [...]

Each notebook runs top to bottom in a fresh kernel started in its own folder,
with the kernel environment of ``tests/kernel_env.py``; the result is written
back with nbformat (what Jupyter's own save does) with the notebook metadata
that JupyterLab writes (kernelspec "Python 3 (ipykernel)"), without
per-cell execution timestamps and with the widget state's numbers written as the
browser writes them, so that opening and saving it in JupyterLab changes nothing.
Stops at the first cell that raises and leaves the file unchanged then.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.kernel_env import kernel_env
from tests.tools.jupyterlab_save import as_browser_json

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Committed form: JupyterLab's kernelspec, no execution timestamps, numbers as the browser writes them
    (the widget state of the playground's controls holds floats such as 0.0, which JupyterLab saves as 0)."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.update(as_browser_json(dict(nb)))
    return nb


def run(path: Path, timeout: int = 600) -> float:
    """Execute ``path`` in place; return the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(kernel_env(saved))
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    seconds = time.perf_counter() - start
    nbformat.write(normalise(nb), path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        seconds = run(path.resolve(), args.timeout)
        print(f"{path}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
