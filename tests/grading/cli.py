"""Command line: ``python -m tests.grading SUBMISSIONS --csv grades.csv --feedback feedback/``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from time import monotonic

from tqdm import tqdm

from .checks import DEFAULT_CHECKS_PATH, ChecksError, load_checks
from .grader import Options, SubmissionGrade, find_submissions, grade_all
from .report import summary, write_csv, write_feedback


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.grading",
        description="Grade every exercise notebook (*.ipynb) in a folder: re-run each one in a fresh kernel, "
        "check its results with tests/exercise_checks.py, write a CSV and one feedback file per student.",
    )
    parser.add_argument("submissions", type=Path, help="folder of submitted notebooks (not recursive), or one notebook")
    parser.add_argument(
        "--csv", type=Path, default=Path("grades.csv"), metavar="PATH", help="CSV to write (default: grades.csv)"
    )
    parser.add_argument(
        "--feedback",
        type=Path,
        metavar="DIR",
        default=Path("feedback"),
        help="folder for the per-student Markdown (default: feedback)",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=1, metavar="N", help="submissions graded at once, one kernel each (default 1)"
    )
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds per cell before it is interrupted (default 120)",
    )
    parser.add_argument(
        "--notebook-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="seconds for all cells of one submission (default 600)",
    )
    parser.add_argument("--checks", type=Path, default=DEFAULT_CHECKS_PATH, help=argparse.SUPPRESS)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.cell_timeout <= 0 or args.notebook_timeout <= 0:
        parser.error("-j, --cell-timeout and --notebook-timeout must be positive")
    return args


def grade_to_files(
    submissions: Path,
    csv_path: Path,
    feedback_dir: Path,
    options: Options,
    progress: bool = True,
) -> list[SubmissionGrade]:
    """Grade ``submissions`` (a folder or one notebook) and write the CSV and the feedback files."""
    checks = load_checks(options.checks_path, wait=False)  # executes in the background
    paths, hidden = find_submissions(submissions)
    for path in hidden:
        print(f"skipped hidden file {path.name}", file=sys.stderr)
    start = monotonic()
    with tqdm(total=len(paths), desc="grading", unit="nb", file=sys.stderr, disable=not progress) as bar:

        def done(grade: SubmissionGrade) -> None:
            bar.update(1)
            bar.set_postfix_str(f"{grade.name}: {grade.total}/{grade.max_points} {grade.status}", refresh=True)

        grades = asyncio.run(grade_all(paths, checks, options, on_result=done))
    write_csv(grades, checks.numbers, csv_path)
    write_feedback(grades, feedback_dir, options)
    print(summary(grades, checks.numbers, monotonic() - start, options.jobs))
    print(f"wrote {csv_path} and {len(grades)} feedback files in {feedback_dir}")
    return grades


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.submissions.exists():
        print(f"error: {args.submissions} does not exist", file=sys.stderr)
        return 1
    options = Options(
        cell_timeout=args.cell_timeout,
        notebook_timeout=args.notebook_timeout,
        jobs=args.jobs,
        checks_path=args.checks,
    )
    # SIGTERM (e.g. a job scheduler's time limit) stops like Ctrl-C: the kernels are shut down.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        grade_to_files(args.submissions, args.csv, args.feedback, options, progress=not args.no_progress)
    except ChecksError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: no CSV written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
