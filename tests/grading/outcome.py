"""The one outcome of an exercise, used by the check cells, the grader and its report.

Standard library only: the grader imports it without loading the criteria.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
STATUSES = (PASSED, FAILED, NOT_ATTEMPTED)
ICONS = {PASSED: "✅", FAILED: "❌", NOT_ATTEMPTED: "⏳"}


@dataclass
class Outcome:
    """One exercise judged: status, a one-line message (the hint when it failed) and the points earned.

    The grader fills in ``title``, ``max_points``, ``details`` (a traceback) and
    ``answer`` (the student's written answer, when the exercise has one).
    """

    number: int
    status: str
    message: str
    points: int = 0
    title: str = ""
    max_points: int = 0
    details: str = ""
    answer: str | None = None

    def line(self) -> str:
        """The line a check cell prints: a symbol and a word (the word reads without an emoji font)."""
        return f"{ICONS.get(self.status, '❌')} {self.status}: Exercise {self.number}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)

    def _ipython_display_(self):
        """``check`` already printed the line; show nothing more in the notebook."""


def short(text, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 16] + " ... [truncated]"
