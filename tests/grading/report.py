"""Write the grades: the CSV, one Markdown feedback file per student, the terminal summary."""

from __future__ import annotations

import csv
import json
import os
import re
import statistics
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from .grader import STATUSES, CellReport, Options, SubmissionGrade, display_name, natural_key
from .outcome import ICONS, NOT_ATTEMPTED, PASSED

TRACEBACK_HEAD_CHARS = 600
TRACEBACK_TAIL_CHARS = 2400
OUTPUT_TAIL_CHARS = 1500
DETAILS_CHARS = 2000
NOTE_CHARS = 300


# --------------------------------------------------------------------------
# Records: one JSON file per graded submission, the source of the CSV and summaries
# --------------------------------------------------------------------------
RECORDS_DIR = ".records"
MISSING = "missing"


def record_of(grade: SubmissionGrade, feedback_file: str) -> dict:
    """What the CSV, the summaries and ``merge`` need of one grade (plain JSON)."""
    exercises = [{"number": e.number, "title": e.title, "points": e.points, "max": e.max_points, "status": e.status,
                  "message": e.message, "answer": e.answer} for e in grade.exercises]
    return {"submission": grade.name, "feedback": feedback_file, "status": grade.status, "total": grade.total,
            "max": grade.max_points, "note": grade.note, "seconds": round(grade.seconds, 2), "timings": grade.timings,
            "exercises": exercises}


def record_path(feedback_dir: Path, submission: str) -> Path:
    return feedback_dir / RECORDS_DIR / (quote(submission, safe=" ()[]-_.,+=@") + ".json")


def write_record(feedback_dir: Path, record: dict) -> Path:
    path = record_path(feedback_dir, record["submission"])
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, json.dumps(record, ensure_ascii=False, indent=1))
    return path


def read_records(feedback_dir: Path) -> dict[str, dict]:
    """Every record in ``feedback_dir``, by submission name."""
    records = {}
    folder = feedback_dir / RECORDS_DIR
    if folder.is_dir():
        for path in folder.glob("*.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                records[record["submission"]] = record
            except (OSError, ValueError, KeyError, TypeError):
                print(f"warning: ignored unreadable record {path}", file=sys.stderr)
    return records


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Roster
# --------------------------------------------------------------------------
_FILE_COLUMNS = ("file", "submission", "filename", "notebook")
_ID_COLUMNS = ("student_id", "id", "student id")
_NAME_COLUMNS = ("name", "student_name", "student name")


def read_roster(path: Path) -> list[dict[str, str]]:
    """``[{"file", "student_id", "name"}]`` from a CSV with those columns (a header row is required).

    Raises:
        ValueError: no file column in the header.
    """
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return []
    columns = {key.strip().lower(): key for key in rows[0] if key}

    def pick(options):
        return next((columns[o] for o in options if o in columns), None)

    file_col, id_col, name_col = pick(_FILE_COLUMNS), pick(_ID_COLUMNS), pick(_NAME_COLUMNS)
    if file_col is None:
        raise ValueError(f"{path}: no file column (one of {', '.join(_FILE_COLUMNS)}) in the header")
    return [
        {
            "file": (row.get(file_col) or "").strip(),
            "student_id": (row.get(id_col) or "").strip() if id_col else "",
            "name": (row.get(name_col) or "").strip() if name_col else "",
        }
        for row in rows
        if (row.get(file_col) or "").strip()
    ]


def match_roster(roster: list[dict[str, str]], submissions: list[str]) -> tuple[dict[str, dict], list[dict], list[str]]:
    """Match roster rows to submission names (exactly, else ignoring case, else by stem).

    Returns:
        (student by submission name, roster rows without a file, submissions in no roster row)
    """
    by_name, missing = {}, []
    remaining = set(submissions)
    for student in roster:
        wanted = student["file"]
        match = wanted if wanted in remaining else None
        for key in (str.lower, lambda n: Path(n).stem.lower()):
            if match is None:
                match = next((s for s in sorted(remaining) if key(s) == key(wanted)), None)
        if match is None:
            missing.append(student)
        else:
            remaining.discard(match)
            by_name[match] = student
    return by_name, missing, sorted(remaining, key=natural_key)


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ (a formula) is escaped with '."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_header(numbers: list[int], roster: bool = False) -> list[str]:
    ids = ["student_id", "name"] if roster else []
    return ["submission", *ids, *(f"ex{n}" for n in numbers), "total", "max", "status", "note"]


def csv_row(record: dict, numbers: list[int], student: dict | None = None, roster: bool = False) -> list[str]:
    points = {e["number"]: e["points"] for e in record["exercises"]}
    ids = [csv_safe((student or {}).get("student_id", "")), csv_safe((student or {}).get("name", ""))] if roster else []
    note = str(record.get("note", "")).replace("\n", " ")
    return [
        csv_safe(record["submission"]),
        *ids,
        *(str(points.get(n, 0)) for n in numbers),
        str(record["total"]),
        str(record["max"]),
        record["status"],
        csv_safe(_clip(note, NOTE_CHARS)),
    ]


class CsvStream:
    """The CSV written while grading: header first, then each row as soon as its submission is graded.

    Each row is flushed and synced, so a grader killed mid-batch (SIGKILL, out
    of memory) leaves every finished row; ``finish`` rewrites the file sorted.
    """

    def __init__(self, path: Path, numbers: list[int], roster: bool = False):
        self.path, self.numbers, self.roster = path, numbers, roster
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._write(csv_header(numbers, roster))

    def _write(self, row: list[str]) -> None:
        self._writer.writerow(row)
        self._file.flush()
        os.fsync(self._file.fileno())

    def add(self, record: dict, student: dict | None = None) -> None:
        self._write(csv_row(record, self.numbers, student, self.roster))

    def close(self) -> None:
        self._file.close()


def write_csv(records: dict[str, dict], path: Path, *, roster: list[dict] | None = None,
              extra_rows: dict[str, list[str]] | None = None, missing_rows: bool = True) -> list[str]:
    """The whole CSV, rows in natural order of the file names; roster students without a file as ``missing``.

    Returns the submissions that match no roster row (empty without a roster).
    """
    numbers = sorted({e["number"] for r in records.values() for e in r["exercises"]})
    max_points = next((r["max"] for r in records.values()), 0)
    students, missing, unmatched = match_roster(roster or [], list(records)) if roster else ({}, [], [])
    rows = [csv_header(numbers, roster is not None)]
    for name in sorted(records, key=natural_key):
        rows.append(csv_row(records[name], numbers, students.get(name), roster is not None))
    missing_files = {student["file"] for student in missing}
    for name in sorted(extra_rows or {}, key=natural_key):
        if name not in records and name not in missing_files and extra_rows[name][-2:-1] != [MISSING]:
            rows.append(extra_rows[name])
    for student in missing if missing_rows else []:
        ids = [csv_safe(student["student_id"]), csv_safe(student["name"])]
        rows.append(
            [csv_safe(student["file"]), *ids, *("0" for _ in numbers), "0", str(max_points), MISSING, "no submission"]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    os.replace(tmp, path)
    return unmatched if roster and missing_rows else []


def read_csv_rows(path: Path) -> dict[str, list[str]]:
    """The rows of an existing CSV by submission (to keep rows that have no record)."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except OSError:
        return {}
    return {row[0]: row for row in rows[1:] if row}


# --------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------
def feedback_names(paths: list[Path]) -> dict[Path, str]:
    """The feedback file name of each submission: ``<stem>.md``, or ``<file name>.md`` when stems collide.

    ``dup.ipynb`` and ``dup.IPYNB`` would share ``dup.md`` (and do on a
    case-insensitive file system): both get their full name. Computed on the whole
    folder, so every shard of it names the files alike.
    """
    stems = Counter(display_name(p.stem).lower() for p in paths)
    return {
        p: (display_name(p.stem) if stems[display_name(p.stem).lower()] == 1 else display_name(p.name)) + ".md"
        for p in paths
    }


def write_feedback_file(grade: SubmissionGrade, feedback_dir: Path, file_name: str, options: Options) -> Path:
    """Write one student's feedback (atomically); return its path."""
    feedback_dir.mkdir(parents=True, exist_ok=True)
    path = feedback_dir / file_name
    _atomic_write(path, feedback_markdown(grade, options))
    return path


def feedback_markdown(grade: SubmissionGrade, options: Options) -> str:
    """The feedback for one student, as Markdown."""
    lines = [f"# Feedback on `{grade.name}`", ""]
    lines += [f"**Score: {grade.total} / {grade.max_points}** · status: **{grade.status}**", ""]
    for note in grade.notes:
        lines.append(f"> {_clip(note, NOTE_CHARS)}  ")
    if grade.notes:
        lines.append("")
    lines += ["| # | Exercise | Result | Points |", "|---:|---|---|---:|"]
    for ex in grade.exercises:
        title = ex.title.replace("|", "\\|")
        lines.append(f"| {ex.number} | {title} | {_icon(ex.status)} {ex.status} | {ex.points} / {ex.max_points} |")
    lines.append("")

    cells_by_exercise: dict[int | None, list[CellReport]] = {}
    for cell in grade.cells:
        cells_by_exercise.setdefault(cell.exercise, []).append(cell)
    known = {ex.number for ex in grade.exercises}

    for ex in grade.exercises:
        lines += [
            f"## Exercise {ex.number}: {ex.title} ({_icon(ex.status)} {ex.status}, {ex.points} / {ex.max_points})"
        ]
        lines += ["", ex.message or "", ""]
        if ex.details:
            lines += ["Details:", "", *_fenced(_clip_middle(ex.details, 200, DETAILS_CHARS)), ""]
        if ex.answer:
            lines += ["Your written answer:", "", *_quoted(ex.answer), ""]
        lines += _cell_problems(cells_by_exercise.get(ex.number, []), options)

    other = [cell for number, cells in cells_by_exercise.items() if number not in known for cell in cells]
    problems = _cell_problems(other, options)
    if problems or grade.extraction_error:
        lines += ["## Other cells (outside the exercises)", ""] + problems
        if grade.extraction_error:
            lines += ["The grader could not read your results:", ""]
            lines += [*_fenced(_clip_middle(grade.extraction_error, 200, DETAILS_CHARS)), ""]

    if not grade.ran:
        lines += [
            "---",
            "",
            "How this was graded: the file could not be read as a notebook, so none of it was "
            "run and every exercise got 0 points. Submit the .ipynb file that Jupyter saves.",
            "",
        ]
        return "\n".join(lines)
    lines += [
        "---",
        "",
        "How this was graded: your notebook was run again from the top in a fresh Python kernel; stored outputs "
        "were ignored. Each cell could run for "
        f"{options.cell_timeout:g} s and the whole notebook for {options.notebook_timeout:g} s; a cell that ran "
        "longer was interrupted and the next cells still ran. Then your variables were checked, outside your "
        "notebook, with the same criteria as the notebook's check cells.",
        "",
    ]
    return "\n".join(lines)


def _quoted(text: str) -> list[str]:
    return ["> " + line if line.strip() else ">" for line in _clip(text, 5000).splitlines()] or [">"]


def _icon(status: str) -> str:
    return ICONS.get(status, "❌")


def _cell_problems(cells: list[CellReport], options: Options) -> list[str]:
    lines: list[str] = []
    for cell in cells:
        name = f"Code cell {cell.code_number}"
        if cell.state in ("error", "timeout", "hung", "dead"):
            if cell.state == "error":
                head = f"**{name} raised `{_inline(cell.ename)}`**"
                body = cell.traceback or f"{cell.ename}: {cell.evalue}"
            elif cell.state == "dead":
                head = f"**{name} crashed the kernel**; the notebook was run again without it."
                body = cell.traceback
            else:
                head = f"**{name} was interrupted after {cell.timeout_used:.0f} s** (time limit)"
                if cell.state == "hung":
                    head += "; it ignored the interrupt, so the notebook was run again without it"
                body = cell.traceback
            lines += [head, ""]
            if body:
                lines += [*_fenced(_clip_middle(body, TRACEBACK_HEAD_CHARS, TRACEBACK_TAIL_CHARS)), ""]
            output = _clean_output(cell.output)
            if output.strip():
                lines += [f"Its output (the last {OUTPUT_TAIL_CHARS:,} characters at most):", ""]
                lines += [*_fenced(output[-OUTPUT_TAIL_CHARS:]), ""]
        elif cell.state == "not run":
            lines += [f"{name} was not run: the notebook time limit was reached.", ""]
        if cell.output_truncated:
            lines += [
                f"{name} printed {cell.output_chars:,} characters; the grader kept only the first and last few KB.",
                "",
            ]
    return lines


def _clean_output(text: str) -> str:
    """Apply carriage returns the way a terminal would (progress bars redraw one line)."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def _fenced(text: str) -> list[str]:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", text.rstrip("\n"), fence]


def _inline(text: str) -> str:
    return text.replace("`", "'")[:100]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 16] + " ... [truncated]"


def _clip_middle(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return text
    return f"{text[:head]}\n... [{len(text) - head - tail:,} characters truncated] ...\n{text[-tail:]}"


# --------------------------------------------------------------------------
# Summaries: terminal, summary.md + histogram, answers.md
# --------------------------------------------------------------------------
STATUS_ORDER = (*STATUSES, MISSING)


def _stats(records: list[dict]) -> dict:
    graded = [r for r in records if r["status"] != MISSING]
    totals = [r["total"] for r in graded]
    return {
        "n": len(records),
        "counts": Counter(r["status"] for r in records),
        "totals": totals,
        "max": next((r["max"] for r in graded), 0),
        "mean": statistics.mean(totals) if totals else 0.0,
        "median": statistics.median(totals) if totals else 0.0,
    }


def item_analysis(records: list[dict]) -> list[dict]:
    """Per exercise: how many passed, how many attempted it, and the most common hint of those who failed.

    The shares are of all submissions but ``missing`` ones (a file that is not a notebook counts as
    not attempted).
    """
    graded = [r for r in records if r["status"] != MISSING]
    rows = {}
    for record in graded:
        for e in record["exercises"]:
            row = rows.setdefault(e["number"], {"number": e["number"], "title": e["title"], "max": e["max"],
                                                "passed": 0, "attempted": 0, "hints": Counter()})
            row["passed"] += e["status"] == PASSED
            # "not graded: ..." (not a notebook, the run stopped before it, a grader limit) is
            # neither an attempt nor a hint about the exercise.
            not_graded = str(e["message"]).startswith("not graded")
            row["attempted"] += e["status"] != NOT_ATTEMPTED and not not_graded
            if e["status"] not in (PASSED, NOT_ATTEMPTED) and e["message"] and not not_graded:
                row["hints"][e["message"]] += 1
    out = []
    for number in sorted(rows):
        row = rows.pop(number)
        hint, count = row["hints"].most_common(1)[0] if row["hints"] else ("", 0)
        out.append({**row, "n": len(graded), "hint": hint, "hint_count": count})
    return out


def summary_text(
    records: list[dict], seconds: float | None = None, jobs: int | None = None, unmatched: list[str] | None = None
) -> str:
    """A plain-text summary of a batch: one line per submission, counts, points, passes per exercise."""
    if not records:
        return "No submissions found."
    width = max(len(r["submission"]) for r in records)
    lines = [f"{'submission':<{width}}  {'points':>7}  status            note"]
    for r in records:
        score = f"{r['total']}/{r['max']}"
        lines.append(f"{r['submission']:<{width}}  {score:>7}  {r['status']:<16}  {_clip(r['note'], 100)}".rstrip())
    stats = _stats(records)
    timing = f" in {seconds:.1f} s (-j {jobs})" if seconds is not None else ""
    lines += [
        "",
        f"{stats['n']} submissions{timing}: "
        + ", ".join(f"{stats['counts'][s]} {s}" for s in STATUS_ORDER if stats["counts"][s]),
    ]
    if stats["totals"]:
        lines.append(
            f"points: mean {stats['mean']:.1f}, median {stats['median']:g}, min {min(stats['totals'])}, "
            f"max {max(stats['totals'])} (out of {stats['max']})"
        )
        lines.append(
            "passed per exercise: " + "  ".join(f"ex{row['number']} {row['passed']}" for row in item_analysis(records))
        )
    if unmatched:
        lines.append("in no roster row: " + ", ".join(unmatched))
    return "\n".join(lines)


def write_summary(
    records: list[dict], folder: Path, unmatched: list[str] | None = None, skipped: list[str] | None = None
) -> tuple[Path, Path]:
    """``summary.md`` (counts, points, item analysis) and ``summary.png`` (histogram of totals) in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    stats = _stats(records)
    png, md = folder / "summary.png", folder / "summary.md"
    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = int(stats["max"])
    ax.hist(stats["totals"], bins=[x - 0.5 for x in range(top + 2)], color="#4C72B0", edgecolor="white")
    ax.set_xlabel(f"total points (out of {top})")
    ax.set_ylabel("submissions")
    ax.set_title(f"Totals of {len(stats['totals'])} graded submissions")
    ax.set_xlim(-0.5, top + 0.5)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    lines = ["# Class summary", ""]
    lines.append(
        f"{stats['n']} submissions: "
        + ", ".join(f"{stats['counts'][s]} {s}" for s in STATUS_ORDER if stats["counts"][s])
        + "."
    )
    lines.append("")
    lines += ["| status | submissions |", "|---|---:|"]
    lines += [f"| {s} | {stats['counts'][s]} |" for s in STATUS_ORDER if stats["counts"][s]]
    lines.append("")
    if stats["totals"]:
        lines += [
            f"Points (out of {stats['max']}): mean {stats['mean']:.1f}, median {stats['median']:g}, "
            f"min {min(stats['totals'])}, max {max(stats['totals'])}.",
            "",
            "![Histogram of totals](summary.png)",
            "",
        ]
        lines += [
            "## Per exercise",
            "",
            "| # | Exercise | points | passed | attempted | most common hint (failed) |",
            "|---:|---|---:|---:|---:|---|",
        ]
        for row in item_analysis(records):
            n = row["n"] or 1
            hint = f"{row['hint_count']}x: {_clip(row['hint'], 160)}" if row["hint"] else ""
            hint = hint.replace("|", "\\|").replace("\n", " ")
            title = row["title"].replace("|", "\\|")
            lines.append(
                f"| {row['number']} | {title} | {row['max']} | {row['passed']} ({row['passed'] / n:.0%}) "
                f"| {row['attempted']} ({row['attempted'] / n:.0%}) | {hint} |"
            )
        lines.append("")
    if unmatched:
        lines += ["## Files in no roster row", "", *(f"- `{_inline(name)}`" for name in unmatched), ""]
    if skipped:
        lines += ["## Not graded", "", *(f"- {item}" for item in skipped), ""]
    _atomic_write(md, "\n".join(lines))
    return md, png


def write_answers(records: list[dict], path: Path) -> Path:
    """``answers.md``: every student's written answer, grouped by exercise."""
    by_exercise: dict[int, list[tuple[str, str]]] = {}
    titles = {}
    for record in sorted(records, key=lambda r: natural_key(r["submission"])):
        for e in record["exercises"]:
            titles[e["number"]] = e["title"]
            if e.get("answer"):
                by_exercise.setdefault(e["number"], []).append((record["submission"], e["answer"]))
    lines = ["# Written answers", ""]
    if not by_exercise:
        lines += ["No written answers were found.", ""]
    for number in sorted(by_exercise):
        lines += [f"## Exercise {number}: {titles[number]}", ""]
        for name, answer in by_exercise[number]:
            lines += [f"**{_inline(name)}**", "", *_quoted(answer), ""]
    _atomic_write(path, "\n".join(lines))
    return path
