"""Write the grades: JSON records, the CSV, one Markdown feedback file per student, the summaries."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import statistics
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from .grader import INVALID, STATUSES, CellReport, Options, SubmissionGrade, display_name, natural_key
from .kernel import BoundedText
from .outcome import ICONS, NOT_ATTEMPTED, PASSED, short

TRACEBACK_HEAD_CHARS, TRACEBACK_TAIL_CHARS = 600, 2400
OUTPUT_TAIL_CHARS = 1500
DETAILS_CHARS = 2000
NOTE_CHARS = 300
RECORDS_DIR = ".records"
MISSING = "missing"
STATUS_ORDER = (*STATUSES, MISSING)


# --- Records: one JSON file per graded submission, the source of the CSV and summaries ---
def record_of(grade: SubmissionGrade, feedback_file: str) -> dict:
    """What the CSV, the summaries and ``merge`` need of one grade (plain JSON)."""
    exercises = [{"number": e.number, "title": e.title, "points": e.points, "max": e.max_points, "status": e.status,
                  "message": e.message, "answer": e.answer} for e in grade.exercises]
    return {"submission": grade.name, "feedback": feedback_file, "status": grade.status, "total": grade.total,
            "max": grade.max_points, "note": grade.note, "seconds": round(grade.seconds, 2), "timings": grade.timings,
            "exercises": exercises}


def write_record(feedback_dir: Path, record: dict) -> None:
    path = feedback_dir / RECORDS_DIR / (quote(record["submission"], safe=" ()[]-_.,+=@") + ".json")
    atomic_write(path, json.dumps(record, ensure_ascii=False, indent=1))


def read_records(feedback_dir: Path) -> dict[str, dict]:
    """Every record in ``feedback_dir``, by submission name."""
    records = {}
    for path in (feedback_dir / RECORDS_DIR).glob("*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            records[record["submission"]] = record
        except (OSError, ValueError, KeyError, TypeError):
            print(f"warning: ignored unreadable record {path}", file=sys.stderr)
    return records


def atomic_write(path: Path, text: str) -> None:
    """Write ``path`` whole, synced, or not at all (a killed grader leaves no half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- Roster and CSV ---
_COLUMNS = {"file": ("file", "submission", "filename", "notebook"), "student_id": ("student_id", "id", "student id"),
            "name": ("name", "student_name", "student name")}


def read_roster(path: Path) -> list[dict[str, str]]:
    """``[{"file", "student_id", "name"}]`` from a CSV with a header row; ``ValueError`` without a file column."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    present = {key.strip().lower(): key for key in (rows[0] if rows else {}) if key}
    column = {field: next((present[o] for o in options if o in present), None) for field, options in _COLUMNS.items()}
    if rows and column["file"] is None:
        raise ValueError(f"{path}: no file column (one of {', '.join(_COLUMNS['file'])}) in the header")
    return [{field: (row.get(key) or "").strip() if key else "" for field, key in column.items()}
            for row in rows if (row.get(column["file"]) or "").strip()]


def match_roster(roster: list[dict[str, str]], submissions: list[str]) -> tuple[dict[str, dict], list[dict], list[str]]:
    """Roster rows matched to submission names (exactly, else ignoring case, else by stem): (student by submission,
    roster rows without a file, submissions in no roster row)."""
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


def csv_safe(value) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ (a formula) is escaped with '."""
    text = str(value)
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def csv_row(record: dict, numbers: list[int], student: dict | None = None, roster: bool = False) -> list[str]:
    points = {e["number"]: e["points"] for e in record["exercises"]}
    ids = [csv_safe((student or {}).get(key, "")) for key in ("student_id", "name")] if roster else []
    note = short(str(record.get("note", "")).replace("\n", " "), NOTE_CHARS)
    return [csv_safe(record["submission"]), *ids, *(str(points.get(n, 0)) for n in numbers), str(record["total"]),
            str(record["max"]), record["status"], csv_safe(note)]


def write_csv(path: Path, graded: list[tuple[dict, dict | None]], missing: list[tuple[dict, dict]],
              extra_rows: dict[str, list[str]] | None, roster: bool) -> None:
    """The whole CSV: the ``graded`` (record, roster row) pairs, then ``extra_rows`` (kept from an earlier run),
    then the ``missing`` roster students."""
    numbers = sorted({e["number"] for record, _ in graded for e in record["exercises"]})
    ids = ["student_id", "name"] if roster else []
    rows = [["submission", *ids, *(f"ex{n}" for n in numbers), "total", "max", "status", "note"]]
    rows += [csv_row(record, numbers, student, roster) for record, student in graded]
    listed = {csv_safe(record["submission"]) for record, _ in graded + missing}  # as the CSV holds them
    rows += [row for name, row in sorted((extra_rows or {}).items(), key=lambda item: natural_key(item[0]))
             if name not in listed and row[-2:-1] != [MISSING]]
    rows += [csv_row(record, numbers, student, True) for record, student in missing]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    atomic_write(path, text.getvalue())


def read_csv_rows(path: Path) -> dict[str, list[str]]:
    """The rows of an existing CSV by submission (to keep rows that have no record)."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return {row[0]: row for row in list(csv.reader(f))[1:] if row}
    except OSError:
        return {}


# --- Feedback ---
def feedback_names(paths: list[Path]) -> dict[Path, str]:
    """The feedback file of each submission: ``<stem>.md``, or ``<file name>.md`` where stems collide (ignoring
    case: ``dup.ipynb`` and ``dup.IPYNB``). Computed on the whole folder, so every shard names them alike."""
    stems = Counter(display_name(p.stem).lower() for p in paths)
    return {p: display_name(p.stem if stems[display_name(p.stem).lower()] == 1 else p.name) + ".md" for p in paths}


def feedback_markdown(grade: SubmissionGrade, options: Options) -> str:
    """The feedback for one student, as Markdown."""
    lines = [f"# Feedback on `{grade.name}`", "", f"**Score: {grade.total} / {grade.max_points}** · status: "
             f"**{grade.status}**", "", *(f"> {short(note, NOTE_CHARS)}  " for note in grade.notes)]
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
    for ex in grade.exercises:
        lines += [f"## Exercise {ex.number}: {ex.title} ({_icon(ex.status)} {ex.status}, {ex.points} / "
                  f"{ex.max_points})", "", ex.message or "", ""]
        if ex.details:
            lines += ["Details:", "", *_fenced(_clip_middle(ex.details, 200, DETAILS_CHARS)), ""]
        if ex.answer:
            lines += ["Your written answer:", "", *_quoted(ex.answer), ""]
        lines += _cell_problems(cells_by_exercise.pop(ex.number, []))
    if problems := _cell_problems([cell for cells in cells_by_exercise.values() for cell in cells]):
        lines += ["## Other cells (outside the exercises)", "", *problems]
    if grade.status == INVALID:  # nothing was run
        how = ("the file could not be read as a notebook, so none of it was run and every exercise got 0 points. "
               "Submit the .ipynb file that Jupyter saves.")
    else:
        how = (f"your notebook was run again from the top in a fresh Python kernel; stored outputs were ignored. Each "
               f"cell could run for {options.cell_timeout:g} s and the whole notebook for {options.notebook_timeout:g}"
               " s; a cell that ran longer was interrupted and the next cells still ran. Then your variables were "
               "checked, outside your notebook, with the same criteria as the notebook's check cells.")
    return "\n".join([*lines, "---", "", f"How this was graded: {how}", ""])


def _quoted(text: str) -> list[str]:
    return ["> " + line if line.strip() else ">" for line in short(text, 5000).splitlines()] or [">"]


def _icon(status: str) -> str:
    return ICONS.get(status, "❌")


def _cell_problems(cells: list[CellReport]) -> list[str]:
    lines: list[str] = []
    for cell in cells:
        name, run = f"Code cell {cell.code_number}", cell.run
        if run.state == "error":
            lines += [f"**{name} raised `{_inline(run.ename)}`**", ""]
        elif run.state == "dead":
            lines += [f"**{name} crashed the kernel**; the notebook was run again without it.", ""]
        elif run.state in ("timeout", "hung"):
            hung = "; it ignored the interrupt, so the notebook was run again without it" if run.state == "hung" else ""
            lines += [f"**{name} was interrupted after {cell.timeout_used:.0f} s** (time limit){hung}", ""]
        elif run.state == "not run":
            lines += [f"{name} was not run: the notebook time limit was reached.", ""]
        if run.state in ("error", "timeout", "hung", "dead"):
            body = run.traceback or (f"{run.ename}: {run.evalue}" if run.state == "error" else "")
            if body:
                lines += [*_fenced(_clip_middle(body, TRACEBACK_HEAD_CHARS, TRACEBACK_TAIL_CHARS)), ""]
            # Carriage returns applied as a terminal would (progress bars redraw one line).
            output = "\n".join(line.rsplit("\r", 1)[-1] for line in run.output.render().split("\n"))
            if output.strip():
                lines += [f"Its output (the last {OUTPUT_TAIL_CHARS:,} characters at most):", "",
                          *_fenced(output[-OUTPUT_TAIL_CHARS:]), ""]
        if run.output.truncated:
            lines += [f"{name} printed {run.output.total:,} characters; the grader kept only the first and last few "
                      "KB.", ""]
    return lines


def _fenced(text: str) -> list[str]:
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return [f"{fence}text", text.rstrip("\n"), fence]


def _inline(text: str) -> str:
    return text.replace("`", "'")[:100]


def _clip_middle(text: str, head: int, tail: int) -> str:
    kept = BoundedText(head, tail)
    kept.add(text)
    return kept.render()


# --- Summaries: terminal, summary.md + histogram, answers.md ---
def _stats(records: list[dict]) -> dict:
    graded = [r for r in records if r["status"] != MISSING]
    totals, counts = [r["total"] for r in graded], Counter(r["status"] for r in records)
    points = (f"mean {statistics.mean(totals):.1f}, median {statistics.median(totals):g}, min {min(totals)}, "
              f"max {max(totals)}") if totals else ""
    return {"n": len(records), "counts": counts, "totals": totals, "max": next((r["max"] for r in graded), 0),
            "points": points, "counted": ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if counts[s])}


def item_analysis(records: list[dict]) -> list[dict]:
    """Per exercise: how many passed, how many attempted it, and the most common hint of those who failed; of all
    submissions but ``missing`` ones ("not graded: ..." is neither an attempt nor a hint)."""
    graded = [r for r in records if r["status"] != MISSING]
    rows = {}
    for e in (e for record in graded for e in record["exercises"]):
        row = rows.setdefault(e["number"], {"number": e["number"], "title": e["title"], "max": e["max"], "passed": 0,
                                            "attempted": 0, "hints": Counter()})
        row["passed"] += e["status"] == PASSED
        not_graded = str(e["message"]).startswith("not graded")
        row["attempted"] += e["status"] != NOT_ATTEMPTED and not not_graded
        if e["status"] not in (PASSED, NOT_ATTEMPTED) and e["message"] and not not_graded:
            row["hints"][e["message"]] += 1
    for row in rows.values():
        row["hint"], row["hint_count"] = row["hints"].most_common(1)[0] if row["hints"] else ("", 0)
    return [rows[number] for number in sorted(rows)]


def summary_text(records: list[dict], seconds: float | None = None, jobs: int | None = None,
                 unmatched: list[str] | None = None) -> str:
    """A plain-text summary of a batch: one line per submission, counts, points, passes per exercise."""
    if not records:
        return "No submissions found."
    width = max(len(r["submission"]) for r in records)
    lines = [f"{'submission':<{width}}  {'points':>7}  status            note"]
    for r in records:
        score = f"{r['total']}/{r['max']}"
        lines.append(f"{r['submission']:<{width}}  {score:>7}  {r['status']:<16}  {short(r['note'], 100)}".rstrip())
    stats = _stats(records)
    timing = f" in {seconds:.1f} s (-j {jobs})" if seconds is not None else ""
    lines += ["", f"{stats['n']} submissions{timing}: {stats['counted']}"]
    if stats["totals"]:
        lines.append(f"points: {stats['points']} (out of {stats['max']})")
        passed = "  ".join(f"ex{row['number']} {row['passed']}" for row in item_analysis(records))
        lines.append(f"passed per exercise: {passed}")
    if unmatched:
        lines.append("in no roster row: " + ", ".join(unmatched))
    return "\n".join(lines)


def write_summary(records: list[dict], folder: Path, unmatched: list[str] | None = None,
                  skipped: list[str] | None = None) -> None:
    """``summary.md`` (counts, points, item analysis) and ``summary.png`` (histogram of totals) in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    stats = _stats(records)
    top = int(stats["max"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(stats["totals"], bins=[x - 0.5 for x in range(top + 2)], color="#4C72B0", edgecolor="white")
    ax.set(xlabel=f"total points (out of {top})", ylabel="submissions", xlim=(-0.5, top + 0.5),
           title=f"Totals of {len(stats['totals'])} graded submissions")
    fig.tight_layout()
    fig.savefig(folder / "summary.png", dpi=100)
    plt.close(fig)
    lines = ["# Class summary", "", f"{stats['n']} submissions: {stats['counted']}.", ""]
    lines += ["| status | submissions |", "|---|---:|"]
    lines += [f"| {s} | {stats['counts'][s]} |" for s in STATUS_ORDER if stats["counts"][s]] + [""]
    if stats["totals"]:
        lines += [f"Points (out of {stats['max']}): {stats['points']}.", "", "![Histogram of totals](summary.png)"]
        lines += ["", "## Per exercise", "", "| # | Exercise | points | passed | attempted | most common hint "
                  "(failed) |", "|---:|---|---:|---:|---:|---|"]
        n = len(stats["totals"]) or 1
        for row in item_analysis(records):
            hint = f"{row['hint_count']}x: {short(row['hint'], 160)}" if row["hint"] else ""
            hint, title = hint.replace("|", "\\|").replace("\n", " "), row["title"].replace("|", "\\|")
            lines.append(f"| {row['number']} | {title} | {row['max']} | {row['passed']} ({row['passed'] / n:.0%}) "
                         f"| {row['attempted']} ({row['attempted'] / n:.0%}) | {hint} |")
        lines.append("")
    if unmatched:
        lines += ["## Files in no roster row", "", *(f"- `{_inline(name)}`" for name in unmatched), ""]
    if skipped:
        lines += ["## Not graded", "", *(f"- {item}" for item in skipped), ""]
    atomic_write(folder / "summary.md", "\n".join(lines))


def write_answers(records: list[dict], path: Path) -> None:
    """``answers.md``: every student's written answer, grouped by exercise."""
    by_exercise: dict[int, list[tuple[str, str]]] = {}
    titles = {}
    for record in sorted(records, key=lambda r: natural_key(r["submission"])):
        for e in record["exercises"]:
            titles[e["number"]] = e["title"]
            if e.get("answer"):
                by_exercise.setdefault(e["number"], []).append((record["submission"], e["answer"]))
    lines = ["# Written answers", "", *(["No written answers were found.", ""] if not by_exercise else [])]
    for number in sorted(by_exercise):
        lines += [f"## Exercise {number}: {titles[number]}", ""]
        for name, answer in by_exercise[number]:
            lines += [f"**{_inline(name)}**", "", *_quoted(answer), ""]
    atomic_write(path, "\n".join(lines))
