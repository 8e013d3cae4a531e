"""Wall time and peak memory of every notebook, as a ratio to an imports-only notebook.

One command (from the repository root)::

    python -m tests.benchmarks.notebook_times --repeats 3

Every notebook in the repository root and in ``solutions/`` is executed with
nbclient ``--repeats`` times, together with a reference notebook, built in
memory, whose one cell imports torch, numpy, scikit-learn and
matplotlib.pyplot. The runs are interleaved round-robin (reference, notebook 1,
notebook 2, ..., reference, notebook 1, ...) so that noise from other work on
the machine hits every notebook alike, and the ratio of medians is what the
README reports: it carries over between machines far better than seconds.

How each notebook is run, the same way for the reference:

* a fresh ``python3`` kernel of this Python, in the environment every lesson
  kernel gets (``tests/kernel_env.py``: repository root on ``PYTHONPATH``,
  ``MPLBACKEND`` unset so figures are inline as in Jupyter, one torch thread;
  ``--threads`` to change that), with its working folder and ``TMPDIR`` in a
  scratch folder that is deleted afterwards;
* wall time = from asking for the kernel to the end of the notebook's last
  cell, so it includes the kernel start-up but not its shut-down;
* one untimed run of the reference comes first (it warms the disk cache);
* peak memory = ``VmHWM`` (peak resident set size) of the kernel process,
  printed from ``/proc/self/status`` by one extra cell run after the clock
  stops (Linux only; shown as "n/a" elsewhere).

The notebooks are read from disk and executed in memory in a scratch folder,
so nothing is written into the repository. Results are printed and written as Markdown
to ``tests/benchmarks/results/notebook_times.md`` (``--out``). The exit status
is 1 when a notebook fails to execute or misses its time or memory budget.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import pathlib
import platform
import re
import statistics
import sys

from tests.kernel_env import apply_kernel_env
from tests.lesson import NOTEBOOKS, ROOT
from tests.tools.run_notebook import execute, scratch

DEFAULT_OUT = ROOT / "tests" / "benchmarks" / "results" / "notebook_times.md"
REFERENCE = "imports only (reference)"
REFERENCE_SOURCE = "import torch, numpy, sklearn, matplotlib.pyplot"

# The budgets the lesson promises: (max ratio of median wall time to the
# reference's, max peak RSS in MiB), by path relative to the repository root.
BUDGETS = {
    "01_neural_networks_theory.ipynb": (4.0, 600),
    "02_neural_networks_classification.ipynb": (4.0, 600),
    "02_neural_networks_exercises.ipynb": (2.0, 800),
    "solutions/02_neural_networks_exercises_solutions.ipynb": (8.0, 800),
}

PEAK_CELL = (
    "import re as _re\n"
    "print('VmHWM', _re.search(r'VmHWM:\\s*(\\d+)\\s*kB', open('/proc/self/status').read()).group(1))"
)


def find_notebooks() -> list[pathlib.Path]:
    """The lesson's notebooks (tests/lesson.py)."""
    return [ROOT / name for name in NOTEBOOKS]


def display_name(path: pathlib.Path) -> str:
    """Path relative to the repository root (absolute when outside it)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def kernel_environment(threads: int) -> None:
    """Fix the environment that every kernel inherits: the kernel rules of tests/kernel_env.py, ``threads``
    torch threads."""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    apply_kernel_env(os.environ)


def reference_notebook():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(REFERENCE_SOURCE)]
    return nb


async def run_once(nb, timeout: int) -> tuple[float, float | None]:
    """Execute an in-memory notebook in a fresh kernel in a scratch folder (deleted afterwards).

    Returns:
        (wall seconds from kernel start to the last cell done, peak RSS in MiB or None).
    """
    import nbformat

    nb = nbformat.from_dict(nb)  # a private copy: the caller's notebook is not touched
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    measure = [PEAK_CELL] if pathlib.Path("/proc/self/status").exists() else []
    with scratch("notebook_times_") as (cwd, tmp):
        wall = await execute(nb, cwd, dict(os.environ, TMPDIR=str(tmp)), timeout, then=measure)
    text = "".join(out.get("text", "") for out in nb.cells[-1].outputs) if measure else ""
    match = re.search(r"VmHWM (\d+)", text)
    return wall, int(match.group(1)) / 1024 if match else None


def machine_description(threads: int) -> list[str]:
    import torch

    from helper_functions import get_device

    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = get_device().type
    if device == "cuda":
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    return [
        f"- Date: {dt.date.today().isoformat()}",
        f"- Machine: {os.cpu_count()} cores, {cpu}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, device the notebooks use: {device}",
        f"- Threads per kernel: OMP_NUM_THREADS={threads}; notebooks run one at a time",
    ]


def budget_cell(rel: str, ratio: float | None, peak: float | None) -> tuple[str, bool]:
    """Markdown for the budget column and whether the notebook is within budget."""
    if rel not in BUDGETS:
        return "–", True
    max_ratio, max_mib = BUDGETS[rel]
    ok = ratio is not None and ratio <= max_ratio and (peak is None or peak <= max_mib)
    return f"≤ {max_ratio:g}x, ≤ {max_mib} MiB {'✅' if ok else '❌'}", ok


def report(names, walls, peaks, errors, repeats, threads, command) -> tuple[str, bool]:
    ref_median = statistics.median(walls[REFERENCE]) if walls[REFERENCE] else None
    lines = [
        "# Notebook run time and memory",
        "",
        f"Command: `{command}`",
        "",
        *machine_description(threads),
        f"- Each notebook executed {repeats} time(s), interleaved round-robin with the imports-only reference; "
        "wall time includes kernel start-up; peak RSS is the kernel process's VmHWM.",
        "",
        "| Notebook | Median wall (s) | Min–max (s) | Ratio to reference | Peak RSS (MiB) | Budget |",
        "|---|---:|---:|---:|---:|---|",
    ]
    all_ok = True
    total = 0.0
    for name in names:
        times, peak = walls[name], max(peaks[name]) if peaks[name] else None
        label = "imports only (reference)" if name == REFERENCE else f"`{name}`"
        if name in errors or not times:
            lines.append(f"| {label} | failed | | | | ❌ {errors.get(name, 'no run')} |")
            all_ok = False
            continue
        median = statistics.median(times)
        ratio = median / ref_median if ref_median else None
        if name != REFERENCE:
            total += median
        budget, ok = budget_cell(name, ratio, peak) if name != REFERENCE else ("", True)
        all_ok &= ok
        lines.append(
            f"| {label} | {median:.1f} | {min(times):.1f}–{max(times):.1f} | "
            f"{'1.0x' if name == REFERENCE else (f'{ratio:.1f}x' if ratio else 'n/a')} | "
            f"{f'{peak:.0f}' if peak is not None else 'n/a'} | {budget} |"
        )
    notebooks = [n for n in names if n != REFERENCE]
    if ref_median:
        lines += [
            "",
            f"Total for the {len(notebooks)} notebooks (sum of medians): {total:.1f} s, "
            f"{total / ref_median:.1f}x the reference ({ref_median:.1f} s).",
        ]
    return "\n".join(lines) + "\n", all_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per notebook (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="OMP/MKL threads per kernel (default 1)")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="Markdown file to write")
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path, help="only these notebooks (default: all)")
    args = parser.parse_args(argv)

    import nbformat

    kernel_environment(args.threads)
    paths = [p.resolve() for p in args.notebooks] or find_notebooks()
    items = [(REFERENCE, reference_notebook())]
    items += [(display_name(p), nbformat.read(p, as_version=4)) for p in paths]
    names = [name for name, _ in items]
    walls = {name: [] for name in names}
    peaks = {name: [] for name in names}
    errors: dict[str, str] = {}

    # One untimed run of the reference first, so that the first timed run does
    # not pay alone for cold disk caches (importing torch from a cold cache).
    asyncio.run(run_once(items[0][1], args.timeout))
    for repeat in range(1, args.repeats + 1):
        for name, nb in items:
            if name in errors:
                continue
            try:
                wall, peak = asyncio.run(run_once(nb, args.timeout))
            except Exception as exc:  # a failing notebook is reported, the others still run
                errors[name] = type(exc).__name__
                print(f"[{repeat}/{args.repeats}] {name}: FAILED ({type(exc).__name__})\n{exc}"[:3000], flush=True)
                continue
            walls[name].append(wall)
            if peak is not None:
                peaks[name].append(peak)
            print(f"[{repeat}/{args.repeats}] {name}: {wall:.2f} s, peak {peak or float('nan'):.0f} MiB", flush=True)

    command = " ".join(["python -m tests.benchmarks.notebook_times", *(sys.argv[1:] if argv is None else argv)])
    text, ok = report(names, walls, peaks, errors, args.repeats, args.threads, command)
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"Written to {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
