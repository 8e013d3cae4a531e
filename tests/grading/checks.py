"""Load the exercise criteria (``tests/exercise_checks.py``) from its source text.

The grader reads the file once, before any submission runs, and uses that one
text twice: it is executed in the grader's process (``evaluate`` and the points
table ``EXERCISES``) and it is sent, verbatim, into every student kernel (where
only ``extract`` runs). So a submission can't change the criteria it is graded
with: not by redefining ``check`` in its namespace, not by monkeypatching
``tests.exercise_checks`` in ``sys.modules``, not by editing the file on disk
while the batch runs.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKS_PATH = REPO_ROOT / "tests" / "exercise_checks.py"

# Module name given to the executed source (in sys.modules, because dataclasses
# need it there). No file has this name: importing it can't load another copy.
ISOLATED_MODULE_NAME = "grader_exercise_checks"


@dataclass(frozen=True)
class ExerciseInfo:
    """One row of the points table, as read from ``EXERCISES``."""

    number: int
    title: str
    points: int


@dataclass(frozen=True)
class Checks:
    """The criteria module, loaded once per batch.

    Attributes:
        path: the file the source was read from.
        source: its text, as sent into the kernels.
        module: the source executed in the grader's process.
        exercises: the points table, ordered by exercise number.
    """

    path: Path
    source: str
    module: types.ModuleType
    exercises: tuple[ExerciseInfo, ...]

    @property
    def numbers(self) -> list[int]:
        return [exercise.number for exercise in self.exercises]

    @property
    def max_points(self) -> int:
        return sum(exercise.points for exercise in self.exercises)

    def evaluate(self, number: int, values: dict):
        """Call the module's ``evaluate(number, values)`` (returns its ``Result``)."""
        return self.module.evaluate(number, values)


def load_checks(path: Path | str = DEFAULT_CHECKS_PATH) -> Checks:
    """Read and execute the criteria module from ``path``.

    Args:
        path: a Python file with the API of ``tests/exercise_checks.py``
            (``EXERCISES``, ``NotAttempted``, ``extract``, ``evaluate``).

    Returns:
        The loaded ``Checks``.

    Raises:
        OSError, SyntaxError or any error the module raises on import;
        ValueError when the API is incomplete.
    """
    path = Path(path).resolve()
    source = path.read_text(encoding="utf-8")
    module = types.ModuleType(ISOLATED_MODULE_NAME)
    module.__file__ = str(path)
    # dataclasses (with string annotations) look their module up in sys.modules.
    sys.modules[ISOLATED_MODULE_NAME] = module
    exec(compile(source, str(path), "exec"), module.__dict__)
    missing = [name for name in ("EXERCISES", "NotAttempted", "extract", "evaluate") if not hasattr(module, name)]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}")
    exercises = tuple(
        ExerciseInfo(number=int(number), title=str(getattr(ex, "title", "")), points=int(ex.points))
        for number, ex in sorted(module.EXERCISES.items())
    )
    return Checks(path=path, source=source, module=module, exercises=exercises)
