"""Session set-up shared by the unit tests and the notebook runs.

nbval starts one Jupyter kernel per notebook and the kernel inherits this
process's environment, so the environment is fixed here, before any kernel
starts, with the same rules the grader and the benchmarks use
(``tests/kernel_env.py``).
"""

import os

from tests.kernel_env import apply_kernel_env

apply_kernel_env(os.environ)
