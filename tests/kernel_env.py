"""The environment every lesson kernel runs in, in one place.

pytest (conftest.py), the grader and the benchmarks all start Jupyter kernels with these rules, so
that a notebook behaves the same under every tool:

* one torch/BLAS thread per kernel (two kernels with two threads each on two cores run about 3x
  slower); an ``OMP_NUM_THREADS`` set by the user wins;
* no inherited ``MPLBACKEND`` (``Agg`` would silently remove every figure from the outputs);
* the repository root on ``PYTHONPATH``, so that notebooks in ``solutions/`` and copies elsewhere
  import ``helper_functions`` and ``tests.*``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, MutableMapping

from tests.lesson import ROOT


def kernel_env(base: Mapping[str, str] | None = None, *, root: pathlib.Path = ROOT) -> dict[str, str]:
    """A new dict: ``base`` (default ``os.environ``, unchanged) with the kernel rules, ``root`` first on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    apply_kernel_env(env, root=root)
    return env


def apply_kernel_env(env: MutableMapping[str, str], *, root: pathlib.Path = ROOT) -> None:
    """Apply the kernel rules to ``env`` in place (e.g. ``os.environ``)."""
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", env["OMP_NUM_THREADS"])
    env.pop("MPLBACKEND", None)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(root)]
    env["PYTHONPATH"] = os.pathsep.join([str(root), *parts])
