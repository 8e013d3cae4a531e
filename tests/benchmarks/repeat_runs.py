"""Run the full default test suite K times and report every test that failed in any run.

    python -m tests.benchmarks.repeat_runs --runs 10 [--offline] [-- PYTEST ARGS]

Each run is a plain ``pytest`` (the README's test command) in a fresh process, with ``--junitxml`` so that every
test's outcome can be read back; ``--offline`` runs it as CI does, in a network namespace with only the loopback
device (``unshare -rn``). Writes ``tests/benchmarks/results/repeat_runs.md`` (``--out``): the runs, and the tests
that failed with how many runs they failed in. Exit status 1 when any run failed.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

from tests.benchmarks.common import RESULTS, ROOT, command, table, write

OFFLINE = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def outcomes(junit: pathlib.Path) -> dict[str, str]:
    """Test id -> 'passed' / 'failed' / 'error' / 'skipped' from a JUnit XML report ({} when there is none)."""
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase") if junit.exists() else []:
        tags = {child.tag for child in case}
        kinds = [k for tag, k in [("failure", "failed"), ("error", "error"), ("skipped", "skipped")] if tag in tags]
        result[f"{case.get('classname', '')}::{case.get('name', '')}"] = (kinds or ["passed"])[0]
    return result


def run_pytest(cwd: pathlib.Path, junit: pathlib.Path, args=(), prefix=(), unset=("PYTEST_ADDOPTS",)):
    """``pytest ARGS`` in a fresh process in ``cwd`` (after ``prefix``, without the variables ``unset``), with
    ``--junitxml=junit``: (the finished process, outcome per test id, wall seconds)."""
    env = {k: v for k, v in os.environ.items() if k not in unset}
    start = time.perf_counter()
    proc = subprocess.run([*prefix, sys.executable, "-m", "pytest", f"--junitxml={junit}", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=3600)
    return proc, outcomes(junit), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", "--runs", type=int, default=10, help="how many times to run pytest (default 10)")
    parser.add_argument("--offline", action="store_true", help="run under `unshare -rn` with loopback, as CI does")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "repeat_runs.md", help="Markdown file to write")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.offline and not (shutil.which("unshare") and subprocess.run([*OFFLINE, "true"]).returncode == 0):
        parser.error("--offline: unprivileged network namespaces (unshare -rn) are unavailable here")

    rows, failures = [], collections.Counter()
    with tempfile.TemporaryDirectory(prefix="repeat_runs_") as tmp:
        for run in range(1, args.runs + 1):
            proc, results, wall = run_pytest(ROOT, pathlib.Path(tmp) / f"run_{run}.xml", ["-q", *args.pytest_args],
                                             OFFLINE if args.offline else [])
            counts = collections.Counter(results.values())
            failures.update(test_id for test_id, outcome in results.items() if outcome in ("failed", "error"))
            if proc.returncode != 0 and not (counts["failed"] or counts["error"]):
                failures[f"(pytest exit status {proc.returncode}, no test failed)"] += 1
            kinds = ("passed", "failed", "error", "skipped")
            rows.append((run, proc.returncode, round(wall), *(counts[kind] for kind in kinds)))
            print(f"run {run}/{args.runs}: exit {proc.returncode}, {wall:.1f} s, {counts['passed']} passed, "
                  f"{counts['failed']} failed, {counts['error']} errors, {counts['skipped']} skipped", flush=True)
            if proc.returncode != 0:
                print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n", flush=True)

    green = sum(row[1] == 0 for row in rows)
    walls = sorted(row[2] for row in rows)
    lines = [
        "# Repeat runs of the default test suite", "", f"Command: `{command('repeat_runs', argv)}`", "",
        f"- Date: {dt.date.today().isoformat()}; machine: {os.cpu_count()} cores; "
        f"{'offline (unshare -rn, loopback only)' if args.offline else 'network not blocked'}",
        f"- **{green} of {len(rows)} runs green**; wall time per run: median {walls[len(walls) // 2]} s, "
        f"min {walls[0]} s, max {walls[-1]} s", "",
        *table(["Run:", "Exit status:", "Wall (s):", "Passed:", "Failed:", "Errors:", "Skipped:"], rows),
        "", "## Tests that failed in any run", "",
    ]
    if failures:
        lines += table(["Test", "Runs failed:"], [(f"`{test}`", f"{n} of {len(rows)}") for test, n in
                                                   failures.most_common()])
    else:
        lines.append("None.")
    write(args.out, "\n".join(lines) + "\n")
    return 0 if green == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
