"""Command line: ``python -m tests.grading SUBMISSIONS [--out grading-output/]``, and ``... merge SHARD_DIR...``
(combines the feedback folders of ``--shard I/N`` runs). Everything goes into the output folder."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
from pathlib import Path
from time import monotonic

from tqdm import tqdm

from tests.lesson import ROOT

from . import report
from .criteria import DEFAULT_CRITERIA, Criteria, CriteriaError
from .grader import Options, SubmissionGrade, display_name, find_submissions, grade_all, natural_key

DEFAULT_OUT = Path("grading-output")


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError("--shard takes I/N, e.g. 2/8") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError("--shard I/N needs 1 <= I <= N")
    return i, n


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Adds the output options, parses; ``--csv`` and ``--feedback`` default to OUT/grades.csv and OUT/feedback."""
    add = parser.add_argument
    add("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
        help="folder for everything the grader writes (default: grading-output): grades.csv, feedback/, "
        "summary.md, summary.png, answers.md")
    add("--csv", type=Path, metavar="PATH", help="the grade table (default: OUT/grades.csv)")
    add("--feedback", type=Path, metavar="DIR",
        help="folder for the per-student Markdown and the records (default: OUT/feedback)")
    add("--roster", type=Path, metavar="CSV", help="CSV with columns file, student_id, name: adds them to the "
        "grades; roster students without a file get status 'missing'")
    args = parser.parse_args(argv)
    args.csv = args.csv or args.out / "grades.csv"
    args.feedback = args.feedback or args.out / "feedback"
    return args


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.grading",
        description="Grade every exercise notebook (*.ipynb) in a folder: re-run each one in a fresh kernel, "
        "check its results with the criteria in tests/exercises/, write a CSV, one feedback file per student, a "
        "class summary and the written answers. `python -m tests.grading merge DIR...` combines --shard runs.",
    )
    add = parser.add_argument
    add("submissions", type=Path, help="folder of submitted notebooks (not recursive), or one notebook")
    add("-j", "--jobs", type=int, default=1, metavar="N",
        help="submissions graded at once, one kernel each (default 1)")
    add("--cell-timeout", type=float, default=120.0, metavar="S",
        help="seconds per cell before it is interrupted (default 120)")
    add("--notebook-timeout", type=float, default=600.0, metavar="S",
        help="seconds for all cells of one submission (default 600)")
    add("--extract-timeout", type=float, default=None, metavar="S",
        help="seconds to read one exercise's values in the kernel (default: max(cell timeout, 30))")
    add("--evaluate-timeout", type=float, default=60.0, metavar="S",
        help="seconds the grader may spend evaluating one exercise's values (default 60)")
    add("--evaluate-memory", type=float, default=4.0, metavar="GB",
        help="memory the grader may use evaluating one exercise's values (default 4 GB)")
    add("--only", nargs="+", metavar="NAME", help="re-grade only these files of the folder; the other rows, "
        "feedback files and records from the earlier run stay as they are")
    add("--shard", type=_shard, metavar="I/N",
        help="grade the I-th of N deterministic parts of the folder (combine with `merge`)")
    add("--allow-modified", action="store_true",
        help="grade even if the criteria (tests/exercises/) or helper_functions.py differ from git")
    add("--kernel-user", choices=("auto", "off"), default="auto",
        help="auto (default): when the grader runs as root, each submission's kernel runs as its own unprivileged "
        "user, if a test shows that works here (else as the grader's user, with a warning); off: always as the "
        "grader's user")
    add("--criteria", type=Path, default=DEFAULT_CRITERIA, help=argparse.SUPPRESS)
    add("--repo-root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    add("--no-progress", action="store_true", help="no progress bar")
    args = _parse(parser, argv)
    if args.jobs < 1 or args.cell_timeout <= 0 or args.notebook_timeout <= 0:
        parser.error("-j, --cell-timeout and --notebook-timeout must be positive")
    if args.only and args.shard:
        parser.error("--only and --shard can't be combined")
    return args


def parse_merge_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.grading merge",
        description="Combine the feedback folders of --shard runs into one CSV, feedback folder and summary.",
    )
    parser.add_argument("shards", type=Path, nargs="+", metavar="SHARD_FEEDBACK_DIR")
    return _parse(parser, argv)


def finish(args: argparse.Namespace, keep_rows: dict | None = None, skipped: list[str] | None = None,
           shard: bool = False) -> tuple[list[dict], list[str]]:
    """The CSV, summary.md/png and answers.md, from the records in ``args.feedback``. A shard lists no roster
    student as missing (they may be in another shard): ``merge`` does."""
    records = report.read_records(args.feedback)
    roster = report.read_roster(args.roster) if args.roster else None
    ordered = [records[name] for name in sorted(records, key=natural_key)]
    students, missing, unmatched = report.match_roster(roster, list(records)) if roster else ({}, [], [])
    if shard:
        missing, unmatched = [], []
    max_points = next((r["max"] for r in ordered), 0)
    missing = [({"submission": student["file"], "status": report.MISSING, "total": 0, "max": max_points,
                 "note": "no submission", "exercises": []}, student) for student in missing]
    graded = [(record, students.get(record["submission"])) for record in ordered]
    report.write_csv(args.csv, graded, missing, keep_rows, roster is not None)
    ordered += [record for record, _ in missing]
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_summary(ordered, args.out, unmatched, skipped)
    report.write_answers(list(records.values()), args.out / "answers.md")
    return ordered, unmatched


def grade_to_files(args: argparse.Namespace, options: Options) -> None:
    """Grade the folder (or the ``--only``/``--shard`` part of it) and write every output."""
    criteria = Criteria(args.criteria, args.repo_root, allow_modified=args.allow_modified)
    import matplotlib  # the summary's plotting, loaded before any kernel runs

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401

    roster = report.read_roster(args.roster) if args.roster else None
    every, hidden, folders = find_submissions(args.submissions)
    skipped = [f"hidden file `{display_name(p.name)}`" for p in hidden]
    skipped += [f"`{display_name(p.name)}` is a folder, not a notebook file" for p in folders]
    for item in skipped:
        print(f"skipped {item.replace('`', '')}", file=sys.stderr)
    names, keep_rows = report.feedback_names(every), None
    if args.only:
        wanted = set(args.only)
        paths = [p for p in every if display_name(p.name) in wanted or p.name in wanted]
        unknown = wanted - {display_name(p.name) for p in paths} - {p.name for p in paths}
        if unknown:
            raise CriteriaError(f"--only: no such file in {args.submissions}: {', '.join(sorted(unknown))}")
        keep_rows = report.read_csv_rows(args.csv)
    else:  # --shard I/N: every N-th file of the sorted listing, starting at the I-th
        i, n = args.shard or (1, 1)
        paths = [p for k, p in enumerate(every) if k % n == i - 1]
        shutil.rmtree(args.feedback / ".records", ignore_errors=True)
    students = report.match_roster(roster, [display_name(p.name) for p in every])[0] if roster is not None else {}
    graded: list[tuple[dict, dict | None]] = []  # (record, roster row) of this run, for the CSV
    start = monotonic()

    async def run() -> list[SubmissionGrade]:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with tqdm(total=len(paths), desc="grading", unit="nb", file=sys.stderr, disable=args.no_progress) as bar:

            def done(grade: SubmissionGrade) -> None:
                report.atomic_write(args.feedback / names[grade.path], report.feedback_markdown(grade, options))
                record = report.record_of(grade, names[grade.path])
                report.write_record(args.feedback, record)
                if not args.only:  # rewritten whole after each submission: a killed grader leaves every finished row
                    graded.append((record, students.get(grade.name)))
                    graded.sort(key=lambda pair: natural_key(pair[0]["submission"]))
                    report.write_csv(args.csv, graded, [], None, roster is not None)
                bar.update(1)
                bar.set_postfix_str(f"{grade.name}: {grade.total}/{grade.max_points} {grade.status}", refresh=True)

            return await grade_all(paths, criteria, options, on_result=done)

    asyncio.run(run())
    ordered, unmatched = finish(args, keep_rows, skipped, shard=bool(args.shard))
    print(report.summary_text(ordered, monotonic() - start, options.jobs, unmatched))
    print(f"criteria loaded in {criteria.load_seconds:.1f} s, before any submission's first cell ran "
          f"(a started kernel waited {criteria.kernel_wait:.1f} s for them)")
    if options.isolation is not None:
        print(f"isolation: {options.isolation.describe()}")
    if changed := criteria.changed_since_start():
        print(f"WARNING: {', '.join(map(str, changed))} changed on disk during the batch (the grades used the copy "
              "read at the start); a submission may have tried to tamper with the grader", file=sys.stderr)
    print(f"wrote {args.csv}, {len(paths)} feedback files in {args.feedback}, summary.md, summary.png and "
          f"answers.md in {args.out}")


def merge(argv: list[str]) -> int:
    """``merge SHARD_DIR...``: copy the shards' feedback and records into --feedback, then write every output."""
    args = parse_merge_args(argv)
    args.feedback.mkdir(parents=True, exist_ok=True)
    seen: dict[str, Path] = {}
    for shard in args.shards:
        records = report.read_records(shard)
        if not records:
            print(f"error: {shard} holds no grading records (a --feedback folder of a --shard run)", file=sys.stderr)
            return 1
        for name, record in records.items():
            if name in seen:
                print(f"error: {name} was graded in both {seen[name]} and {shard}", file=sys.stderr)
                return 1
            seen[name] = shard
            source = shard / record["feedback"]
            if source.resolve() != (args.feedback / record["feedback"]).resolve() and source.exists():
                shutil.copyfile(source, args.feedback / record["feedback"])
            report.write_record(args.feedback, record)
    ordered, unmatched = finish(args)
    print(report.summary_text(ordered, unmatched=unmatched))
    print(f"merged {len(seen)} submissions from {len(args.shards)} shards into {args.csv} and {args.feedback}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "merge":
        return merge(argv[1:])
    args = parse_args(argv)
    if not args.submissions.exists():
        print(f"error: {args.submissions} does not exist", file=sys.stderr)
        return 1
    options = Options(
        cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, jobs=args.jobs,
        repo_root=args.repo_root, extract_timeout_s=args.extract_timeout, evaluate_timeout=args.evaluate_timeout,
        evaluate_memory=int(args.evaluate_memory * 1e9), kernel_user=args.kernel_user,
    )
    try:
        grade_to_files(args, options)
    except (CriteriaError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        rows = "the rows graded so far are in " + str(args.csv) if not args.only else "nothing was updated"
        print(f"interrupted: {rows}; the kernels were stopped", file=sys.stderr)
        return 130
    return 0
