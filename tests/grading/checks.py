"""Load the exercise criteria (``tests/exercise_checks.py``) from its source text.

The grader reads the file once, before any submission runs, and uses that one
text twice: it is executed in the grader's process (``evaluate`` and the points
table ``EXERCISES``) and it is sent, verbatim, into every student kernel (where
only ``extract`` runs). So a submission can't change the criteria it is graded
with: not by redefining ``check`` in its namespace, not by monkeypatching
``tests.exercise_checks`` in ``sys.modules``, not by editing the file on disk
while the batch runs.

Executing the module imports torch, and ``evaluate`` imports scikit-learn and
``helper_functions``: several seconds on a busy machine. ``Checks`` does that in
a background thread while the first kernels start and run, so it doesn't add to
the time a submission takes to grade.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKS_PATH = REPO_ROOT / "tests" / "exercise_checks.py"

# Module name given to the executed source (in sys.modules, because dataclasses
# need it there). No file has this name: importing it can't load another copy.
ISOLATED_MODULE_NAME = "grader_exercise_checks"

# evaluate() re-creates the reference data sets with these; importing them in
# the background keeps them out of the first submission's grading time.
WARM_IMPORTS = ("sklearn.datasets", "helper_functions")


class ChecksError(Exception):
    """The criteria module could not be loaded (nothing can be graded)."""


@dataclass(frozen=True)
class ExerciseInfo:
    """One row of the points table, as read from ``EXERCISES``."""

    number: int
    title: str
    points: int


class Checks:
    """The criteria module, read once per batch and executed in a background thread.

    Attributes:
        path: the file the source was read from.
        source: its text, as sent into the kernels.
    """

    def __init__(self, path: Path | str = DEFAULT_CHECKS_PATH, repo_root: Path = REPO_ROOT):
        self.path = Path(path).resolve()
        try:
            self.source = self.path.read_text(encoding="utf-8")
            compile(self.source, str(self.path), "exec")
        except (OSError, SyntaxError, ValueError) as exc:
            raise ChecksError(f"cannot read the criteria {self.path}: {exc}") from exc
        self._repo_root = repo_root
        self._loaded: Future = Future()
        threading.Thread(target=self._load, name="load-checks", daemon=True).start()

    def _load(self) -> None:
        try:
            module = types.ModuleType(ISOLATED_MODULE_NAME)
            module.__file__ = str(self.path)
            sys.modules[ISOLATED_MODULE_NAME] = module  # dataclasses look their module up there
            exec(compile(self.source, str(self.path), "exec"), module.__dict__)
            api = ("EXERCISES", "NotAttempted", "extract", "evaluate")
            missing = [name for name in api if not hasattr(module, name)]
            if missing:
                raise ValueError(f"it lacks {', '.join(missing)}")
            exercises = tuple(
                ExerciseInfo(number=int(number), title=str(getattr(ex, "title", "")), points=int(ex.points))
                for number, ex in sorted(module.EXERCISES.items())
            )
        except BaseException as exc:
            self._loaded.set_exception(ChecksError(f"cannot load the criteria {self.path}: {exc!r}"))
            return
        if str(self._repo_root) not in sys.path:  # evaluate() imports helper_functions
            sys.path.append(str(self._repo_root))
        for name in WARM_IMPORTS:
            try:
                importlib.import_module(name)
            except Exception:  # only a warm-up; evaluate() reports real problems
                pass
        self._loaded.set_result((module, exercises))

    def wait(self) -> Checks:
        """Block until the module is loaded; raise ``ChecksError`` if it failed."""
        self._loaded.result()
        return self

    @property
    def future(self) -> Future:
        return self._loaded

    @property
    def module(self) -> types.ModuleType:
        return self._loaded.result()[0]

    @property
    def exercises(self) -> tuple[ExerciseInfo, ...]:
        return self._loaded.result()[1]

    @property
    def numbers(self) -> list[int]:
        return [exercise.number for exercise in self.exercises]

    @property
    def max_points(self) -> int:
        return sum(exercise.points for exercise in self.exercises)

    def evaluate(self, number: int, values: dict):
        """Call the module's ``evaluate(number, values)`` (returns its ``Result``)."""
        return self.module.evaluate(number, values)


def load_checks(path: Path | str = DEFAULT_CHECKS_PATH, wait: bool = True) -> Checks:
    """Read the criteria module at ``path`` (API of ``tests/exercise_checks.py``).

    Args:
        path: the module's file.
        wait: block until it is executed (else it loads in the background).

    Raises:
        ChecksError: the file can't be read, compiled or executed, or lacks
            ``EXERCISES``, ``NotAttempted``, ``extract`` or ``evaluate``.
    """
    checks = Checks(path)
    return checks.wait() if wait else checks
