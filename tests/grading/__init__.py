"""Instructor grader for the exercise notebooks: ``python -m tests.grading SUBMISSIONS_DIR``.

See ``README.md`` in this folder ("How grading works") for the modules and the data flow.
"""
