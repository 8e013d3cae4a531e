"""The one way the tests' tools run a notebook (nbclient), and the command that re-executes notebooks in place.

    python -m tests.tools.run_notebook 01_neural_networks_theory.ipynb [...]

The command runs each notebook in a fresh kernel in its own folder (the environment of ``tests/kernel_env.py``)
and writes it back in ``normalise``'s committed form, so that opening and saving it in JupyterLab changes nothing;
a cell that raises stops it and leaves the file unchanged. (The grader keeps its own cell loop in
``tests/grading/kernel.py``: it must survive kernels that ignore interrupts and cells that print gigabytes.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.util import ensure_async

from tests.kernel_env import kernel_env
from tests.tools.jupyterlab_save import as_browser_json

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


async def execute(nb: nbformat.NotebookNode, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600,
                  allow_errors: bool = False, cells: Iterable[int] | None = None, then: Iterable[str] = ()) -> float:
    """Run ``nb``'s cells (or those at the indexes ``cells``, in that order) in a fresh kernel in ``cwd``, outputs
    into ``nb``, then ``then``: code run as cells appended to ``nb`` (e.g. a measurement). ``env`` defaults to this
    process's with the kernel rules. Returns the seconds from the kernel's start to the end of the last of ``cells``;
    raises nbclient's errors (a cell that raises unless ``allow_errors``, a cell timeout, a dead kernel)."""
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    async with client.async_setup_kernel(cwd=str(cwd), env=kernel_env() if env is None else env):
        info = await client.async_wait_for_reply(await ensure_async(client.kc.kernel_info()))  # as execute() does
        if info is not None and "language_info" in info["content"]:
            nb.metadata["language_info"] = info["content"]["language_info"]
        for index in range(len(nb.cells)) if cells is None else cells:
            await client.async_execute_cell(nb.cells[index], index, execution_count=client.code_cells_executed + 1)
        seconds = time.perf_counter() - start
        client.set_widgets_metadata()
        for source in then:
            nb.cells.append(nbformat.v4.new_code_cell(source))
            await client.async_execute_cell(nb.cells[-1], len(nb.cells) - 1)
    return seconds


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[tuple[Path, Path]]:
    """A temporary ``(kernel folder, TMPDIR)``, deleted afterwards. The kernel's folder is two levels down, so that
    a notebook's ``sys.path.insert(0, "..")`` finds an empty folder, never a stray ``helper_functions.py``."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        (root / "run" / "cwd").mkdir(parents=True)
        (root / "tmp").mkdir()
        yield root / "run" / "cwd", root / "tmp"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Committed form: JupyterLab's kernelspec, no execution timestamps, numbers as the browser writes them
    (the widget state of the playground's controls holds floats such as 0.0, which JupyterLab saves as 0)."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.update(as_browser_json(dict(nb)))
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    for path in parser.parse_args(argv).notebooks:
        nb = nbformat.read(path, as_version=4)
        seconds = asyncio.run(execute(nb, path.resolve().parent))
        nbformat.write(normalise(nb), path)
        print(f"{path}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
