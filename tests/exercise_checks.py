"""What the exercise notebook's check cells import: ``from tests.exercise_checks import check``.

The exercises themselves live in ``tests/exercises/`` (one file each); this name stays so that
the notebooks' check cells, ``check(n, globals())``, need no edit.
"""

from tests.exercises import check

__all__ = ["check"]
