"""Run the full default test suite K times and report every test that failed in any run.

One command (from the repository root)::

    python -m tests.benchmarks.repeat_runs --runs 10

Each run is a plain ``pytest`` (the README's test command, with the settings of
``pyproject.toml`` and ``conftest.py``) in a fresh process, plus
``--junitxml`` into a temporary folder so that every test's outcome can be
read back. ``--offline`` runs each one as CI does, in a network namespace
with only the loopback device (``unshare -rn``), where the machine allows.
Arguments after ``--`` go to pytest unchanged.

The table of runs (wall time, passed/failed/errors/skipped) and the tests
that failed, with how many runs they failed in, are printed and written to
``tests/benchmarks/results/repeat_runs.md`` (``--out``). The exit status is 1
when any run failed.
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

from tests.lesson import ROOT

DEFAULT_OUT = ROOT / "tests" / "benchmarks" / "results" / "repeat_runs.md"
OFFLINE = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def offline_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*OFFLINE, "true"], capture_output=True)
    return probe.returncode == 0


def outcomes(junit: pathlib.Path) -> dict[str, str]:
    """Test id -> 'passed' / 'failed' / 'error' / 'skipped' from a JUnit XML report."""
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        kinds = {child.tag for child in case}
        if "failure" in kinds:
            result[test_id] = "failed"
        elif "error" in kinds:
            result[test_id] = "error"
        elif "skipped" in kinds:
            result[test_id] = "skipped"
        else:
            result[test_id] = "passed"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", "--runs", type=int, default=10, help="how many times to run pytest (default 10)")
    parser.add_argument("--offline", action="store_true", help="run under `unshare -rn` with loopback, as CI does")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="Markdown file to write")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)

    prefix = []
    if args.offline:
        if not offline_available():
            parser.error("--offline: unprivileged network namespaces (unshare -rn) are unavailable here")
        prefix = OFFLINE
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}

    rows, failures = [], collections.Counter()
    with tempfile.TemporaryDirectory(prefix="repeat_runs_") as tmp:
        for run in range(1, args.runs + 1):
            junit = pathlib.Path(tmp) / f"run_{run}.xml"
            command = [*prefix, sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}", *args.pytest_args]
            start = time.perf_counter()
            proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            results = outcomes(junit) if junit.exists() else {}
            counts = collections.Counter(results.values())
            for test_id, outcome in results.items():
                if outcome in ("failed", "error"):
                    failures[test_id] += 1
            if proc.returncode != 0 and not (counts["failed"] or counts["error"]):
                failures[f"(pytest exit status {proc.returncode}, no test failed)"] += 1
            rows.append((run, wall, proc.returncode, counts))
            print(
                f"run {run}/{args.runs}: exit {proc.returncode}, {wall:.1f} s, {counts['passed']} passed, "
                f"{counts['failed']} failed, {counts['error']} errors, {counts['skipped']} skipped",
                flush=True,
            )
            if proc.returncode != 0:
                print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n", flush=True)

    green = sum(rc == 0 for _, _, rc, _ in rows)
    walls = sorted(wall for _, wall, _, _ in rows)
    command = "python -m tests.benchmarks.repeat_runs --runs " + str(args.runs)
    command += " --offline" if args.offline else ""
    command += (" -- " + " ".join(args.pytest_args)) if args.pytest_args else ""
    lines = [
        "# Repeat runs of the default test suite",
        "",
        f"Command: `{command}`",
        "",
        f"- Date: {dt.date.today().isoformat()}; machine: {os.cpu_count()} cores; "
        f"{'offline (unshare -rn, loopback only)' if args.offline else 'network not blocked'}",
        f"- **{green} of {len(rows)} runs green**; wall time per run: median {walls[len(walls) // 2]:.0f} s, "
        f"min {walls[0]:.0f} s, max {walls[-1]:.0f} s",
        "",
        "| Run | Exit status | Wall (s) | Passed | Failed | Errors | Skipped |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run, wall, rc, counts in rows:
        lines.append(
            f"| {run} | {rc} | {wall:.0f} | {counts['passed']} | {counts['failed']} | "
            f"{counts['error']} | {counts['skipped']} |"
        )
    lines += ["", "## Tests that failed in any run", ""]
    if failures:
        lines += ["| Test | Runs failed |", "|---|---:|"]
        lines += [f"| `{test_id}` | {count} of {len(rows)} |" for test_id, count in failures.most_common()]
    else:
        lines.append("None.")
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"Written to {args.out}")
    return 0 if green == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
