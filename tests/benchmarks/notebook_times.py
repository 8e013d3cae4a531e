"""Wall time and peak memory of every notebook, as a ratio to an imports-only notebook.

    python -m tests.benchmarks.notebook_times --repeats 3 [--threads 1] [NOTEBOOK ...]

The notebooks and a reference notebook that only imports torch, numpy, scikit-learn and matplotlib run
interleaved round-robin, so that other work on the machine hits them alike (after one untimed run of the
reference, which warms the disk cache); each run in a fresh kernel in a scratch folder. Wall time runs from asking
for the kernel to the end of the last cell; peak memory is the kernel's ``VmHWM`` (Linux only), read after the
clock stops. Writes ``tests/benchmarks/results/notebook_times.md``; exit status 1 when a notebook fails or misses
its budget.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import re
import statistics
import sys

import nbformat

from tests.benchmarks.common import RESULTS, command, device, header, table, write
from tests.kernel_env import apply_kernel_env
from tests.lesson import NOTEBOOKS, ROOT
from tests.tools.run_notebook import execute, scratch

REFERENCE = "imports only (reference)"
REFERENCE_SOURCE = "import torch, numpy, sklearn, matplotlib.pyplot"
# The budgets the lesson promises: (max ratio of median wall time to the reference's, max peak RSS in MiB).
BUDGETS = {
    "01_neural_networks_theory.ipynb": (3.5, 600),
    "02_neural_networks_classification.ipynb": (3.5, 600),
    "02_neural_networks_exercises.ipynb": (2.0, 800),
    "solutions/02_neural_networks_exercises_solutions.ipynb": (8.0, 800),
}
PEAK_CELL = ("import re as _re\n"
             "print('VmHWM', _re.search(r'VmHWM:\\s*(\\d+)\\s*kB', open('/proc/self/status').read()).group(1))")


async def run_once(nb) -> tuple[float, float | None]:
    """Run a copy of ``nb`` in a fresh kernel in a scratch folder: (wall seconds, peak RSS in MiB or None)."""
    nb = nbformat.from_dict(nb)  # a copy: execute() appends the measurement cell
    measure = [PEAK_CELL] if pathlib.Path("/proc/self/status").exists() else []
    with scratch("notebook_times_") as (cwd, tmp):
        wall = await execute(nb, cwd, dict(os.environ, TMPDIR=str(tmp)), then=measure)
    match = re.search(r"VmHWM (\d+)", "".join(out.get("text", "") for out in nb.cells[-1].outputs) if measure else "")
    return wall, int(match.group(1)) / 1024 if match else None


def report(names, walls, peaks, errors, repeats, threads, command_line) -> tuple[str, bool]:
    """The Markdown report, and whether every notebook ran within its budget."""
    ref_median = statistics.median(walls[REFERENCE]) if walls[REFERENCE] else None
    rows, all_ok, total = [], True, 0.0
    for name in names:
        times, peak = walls[name], max(peaks[name]) if peaks[name] else None
        label = REFERENCE if name == REFERENCE else f"`{name}`"
        if name in errors or not times:
            rows.append([label, "failed", "", "", "", f"❌ {errors.get(name, 'no run')}"])
            all_ok = False
            continue
        median = statistics.median(times)
        ratio = median / ref_median if ref_median else None
        budget, ok = "" if name == REFERENCE else "–", True
        total += median if name != REFERENCE else 0.0
        if name in BUDGETS:
            max_ratio, max_mib = BUDGETS[name]
            ok = ratio is not None and ratio <= max_ratio and (peak is None or peak <= max_mib)
            budget = f"≤ {max_ratio:g}x, ≤ {max_mib} MiB {'✅' if ok else '❌'}"
        all_ok &= ok
        rows.append([label, f"{median:.1f}", f"{min(times):.1f}–{max(times):.1f}",
                     "1.0x" if name == REFERENCE else (f"{ratio:.1f}x" if ratio else "n/a"),
                     f"{peak:.0f}" if peak is not None else "n/a", budget])
    lines = [
        *header("Notebook run time and memory", command_line, f"device the notebooks use: {device()}"),
        f"- Threads per kernel: OMP_NUM_THREADS={threads}; notebooks run one at a time",
        f"- Each notebook executed {repeats} time(s), interleaved round-robin with the imports-only reference; "
        "wall time includes kernel start-up; peak RSS is the kernel process's VmHWM.", "",
        *table(["Notebook", "Median wall (s):", "Min–max (s):", "Ratio to reference:", "Peak RSS (MiB):", "Budget"],
               rows),
    ]
    if ref_median:
        lines += ["", f"Total for the {len(names) - 1} notebooks (sum of medians): {total:.1f} s, "
                  f"{total / ref_median:.1f}x the reference ({ref_median:.1f} s)."]
    return "\n".join(lines) + "\n", all_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per notebook (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="OMP/MKL threads per kernel (default 1)")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "notebook_times.md", help="Markdown file")
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path, help="only these notebooks (default: all)")
    args = parser.parse_args(argv)

    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    apply_kernel_env(os.environ)
    reference = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(REFERENCE_SOURCE)])
    paths = [p.resolve() for p in args.notebooks] or [ROOT / name for name in NOTEBOOKS]
    items = [(REFERENCE, reference)]
    items += [(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p), nbformat.read(p, as_version=4))
              for p in paths]
    walls, peaks, errors = {name: [] for name, _ in items}, {name: [] for name, _ in items}, {}
    asyncio.run(run_once(reference))  # untimed: warms the disk cache for the first timed run
    for repeat in range(1, args.repeats + 1):
        for name, nb in items:
            if name in errors:
                continue
            try:
                wall, peak = asyncio.run(run_once(nb))
            except Exception as exc:  # a failing notebook is reported, the others still run
                errors[name] = type(exc).__name__
                print(f"[{repeat}/{args.repeats}] {name}: FAILED ({type(exc).__name__})\n{exc}"[:3000], flush=True)
                continue
            walls[name].append(wall)
            peaks[name] += [peak] if peak is not None else []
            print(f"[{repeat}/{args.repeats}] {name}: {wall:.2f} s, peak {peak or float('nan'):.0f} MiB", flush=True)

    text, ok = report([name for name, _ in items], walls, peaks, errors, args.repeats, args.threads,
                      command("notebook_times", argv))
    write(args.out, text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
