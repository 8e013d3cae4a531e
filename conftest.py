"""Session set-up shared by the unit tests and the notebook runs.

nbval starts one Jupyter kernel per notebook and the kernel inherits this
process's environment, so the environment is fixed here, before any kernel
starts, to make the notebook runs independent of the caller's shell.
"""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent

# Two kernels (pytest -n 2) with two torch threads each on two cores run about
# 3x slower than with one thread each. An explicit setting by the user wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])

# An inherited MPLBACKEND=Agg would reach the kernels and silently remove every
# figure from the notebook outputs; the kernels must use the inline backend.
os.environ.pop("MPLBACKEND", None)

# Kernels of notebooks in solutions/ (and graded copies elsewhere) import
# helper_functions and tests.* from the repository root.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p
)
