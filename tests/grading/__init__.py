"""Instructor grader for the exercise notebooks: ``python -m tests.grading SUBMISSIONS_DIR``.

See ``README.md`` in this folder ("How grading works"). Modules: ``cli`` (the
command line and ``merge``); ``grader`` (one submission: run, read, judge);
``kernel`` (one Jupyter kernel, cell by cell, with timeouts); ``procs`` and
``users`` (every process of a kernel ends with it; a user per kernel);
``criteria`` (the criteria, verified, and the evaluation process's client);
``evaluator`` (that process); ``in_kernel`` and ``extraction`` (what runs in
the kernel, and the cells that load it); ``outcome`` (one exercise's outcome);
``report`` (CSV, feedback, records, summaries).
"""
