"""Instructor grader for the exercise notebooks.

Run ``python -m tests.grading SUBMISSIONS_DIR --csv grades.csv --feedback feedback/``
from the repository root (see the README's "For instructors" section).

Modules: ``checks`` loads the criteria (``tests/exercise_checks.py``) from its
source; ``kernel`` drives one Jupyter kernel with timeouts; ``kernel_side`` is the
code the grader runs inside a kernel after the student's cells;
``extraction`` builds that cell and reads its results back safely; ``grader``
grades submissions; ``report`` writes the CSV, the feedback and the summary;
``cli`` is the command line.
"""
