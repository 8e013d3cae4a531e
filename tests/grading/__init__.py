"""Instructor grader for the exercise notebooks.

Run ``python -m tests.grading SUBMISSIONS_DIR --csv grades.csv --feedback feedback/``
from the repository root (see the README's "For instructors" section).

Modules: ``checks`` reads and verifies the criteria and talks to ``evaluator``, the
process that loads them before any kernel runs and evaluates each exercise in a
fork with time and memory limits; ``kernel`` drives one Jupyter kernel with
timeouts; ``procs`` kills every process a kernel started; ``kernel_side`` is
the code the grader runs inside a kernel; ``extraction`` builds those cells;
``grader`` grades submissions; ``report`` writes the records, the CSV, the
feedback, the summaries; ``cli`` is the command line (and ``merge``).
"""
