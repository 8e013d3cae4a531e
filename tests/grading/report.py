"""Write the grades: the CSV, one Markdown feedback file per student, the terminal summary."""

from __future__ import annotations

import csv
import re
import statistics
from collections import Counter
from pathlib import Path

from .grader import NOT_ATTEMPTED, PASSED, STATUSES, CellReport, Options, SubmissionGrade

TRACEBACK_HEAD_CHARS = 600
TRACEBACK_TAIL_CHARS = 2400
OUTPUT_TAIL_CHARS = 1500
DETAILS_CHARS = 2000
NOTE_CHARS = 300
ICONS = {PASSED: "✅", NOT_ATTEMPTED: "⏳"}


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------
def csv_header(numbers: list[int]) -> list[str]:
    return ["submission", *(f"ex{n}" for n in numbers), "total", "max", "status", "note"]


def write_csv(grades: list[SubmissionGrade], numbers: list[int], path: Path) -> None:
    """One row per submission: points per exercise, total, max, status and a short note."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(csv_header(numbers))
        for grade in grades:
            points = {exercise.number: exercise.points for exercise in grade.exercises}
            writer.writerow(
                [
                    grade.name,
                    *(points.get(n, 0) for n in numbers),
                    grade.total,
                    grade.max_points,
                    grade.status,
                    _clip(grade.note.replace("\n", " "), NOTE_CHARS),
                ]
            )


# --------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------
def feedback_path(feedback_dir: Path, grade: SubmissionGrade) -> Path:
    return feedback_dir / f"{grade.path.stem}.md"


def write_feedback(grades: list[SubmissionGrade], feedback_dir: Path, options: Options) -> list[Path]:
    """Write ``<submission name>.md`` per submission into ``feedback_dir``; return the paths."""
    feedback_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for grade in grades:
        path = feedback_path(feedback_dir, grade)
        path.write_text(feedback_markdown(grade, options), encoding="utf-8")
        paths.append(path)
    return paths


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
        lines += _cell_problems(cells_by_exercise.get(ex.number, []), options)

    other = [cell for number, cells in cells_by_exercise.items() if number not in known for cell in cells]
    problems = _cell_problems(other, options)
    if problems or grade.extraction_error:
        lines += ["## Other cells (outside the exercises)", ""] + problems
        if grade.extraction_error:
            lines += ["The grader could not read your results:", ""]
            lines += [*_fenced(_clip_middle(grade.extraction_error, 200, DETAILS_CHARS)), ""]

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
# Terminal summary
# --------------------------------------------------------------------------
def summary(grades: list[SubmissionGrade], numbers: list[int], seconds: float, jobs: int) -> str:
    """A plain-text summary of a batch: one line per submission, counts, pass rates."""
    if not grades:
        return "No submissions found."
    width = max(len(grade.name) for grade in grades)
    max_points = grades[0].max_points
    lines = [f"{'submission':<{width}}  {'points':>7}  status            note"]
    for grade in grades:
        score = f"{grade.total}/{grade.max_points}"
        lines.append(f"{grade.name:<{width}}  {score:>7}  {grade.status:<16}  {_clip(grade.note, 100)}".rstrip())
    counts = Counter(grade.status for grade in grades)
    totals = [grade.total for grade in grades]
    lines += [
        "",
        f"{len(grades)} submissions in {seconds:.1f} s (-j {jobs}): "
        + ", ".join(f"{counts[status]} {status}" for status in STATUSES if counts[status]),
        f"points: mean {statistics.mean(totals):.1f}, median {statistics.median(totals):g}, "
        f"min {min(totals)}, max {max(totals)} (out of {max_points})",
        "passed per exercise: "
        + "  ".join(
            f"ex{n} {sum(1 for g in grades for e in g.exercises if e.number == n and e.status == PASSED)}"
            for n in numbers
        ),
    ]
    return "\n".join(lines)
