"""The cells the grader adds to a submission, and the values that come back.

``prepare_cell`` runs (silently, not in the history) before the student's
first cell; ``extraction_cell`` is appended after the last one, once per
exercise. Both use only the ``import`` statement and attribute access, so a
student who shadowed a builtin (``exec = ...``, ``globals = ...``) doesn't
break them, and they run the code of ``kernel_side.py`` in a fresh dict. Each
exercise's values come back through its own JSON file, which only the
evaluation process reads (``evaluator.py``: regular files only, size-capped,
restricted unpickling), never the grader's event loop.
"""

from __future__ import annotations

from pathlib import Path

from .checks import ISOLATED_MODULE_NAME, Checks
from .evaluator import restricted_loads  # noqa: F401  (re-exported: the tests use it)

KERNEL_SIDE_SOURCE = (Path(__file__).resolve().parent / "kernel_side.py").read_text(encoding="utf-8")
MAX_OUTPUT_CHUNK = 1 << 20  # characters per output message


def _call(function: str, args: str) -> str:
    return (
        "import builtins as __grader_builtins\n"
        "__grader_ns = {'__name__': '__grader_extraction__', '__builtins__': __grader_builtins}\n"
        f"__grader_builtins.exec(__grader_builtins.compile({KERNEL_SIDE_SOURCE!r}, '<grader>', 'exec'), __grader_ns)\n"
        f"__grader_ns[{function!r}]({args})\n"
        "del __grader_ns, __grader_builtins\n"
    )


def prepare_cell() -> str:
    """Source of the cell run before the student's: ``exit()`` is harmless, huge writes are chunked."""
    return _call("prepare", f"__grader_builtins.get_ipython(), {MAX_OUTPUT_CHUNK}")


def extraction_cell(checks: Checks, number: int, out_path: Path, probes_path: Path | None = None) -> str:
    """Source of the cell that extracts exercise ``number``'s values in the kernel.

    Args:
        checks: the criteria (their kernel-side source goes into the cell).
        number: the exercise.
        out_path: absolute path of the JSON file the cell writes.
        probes_path: ``.npz`` of fresh probe inputs the cell reads (and deletes), or None.
    """
    args = ", ".join(
        repr(arg)
        for arg in (
            checks.kernel_source,
            str(checks.kernel_path),
            str(out_path),
            ISOLATED_MODULE_NAME,
            number,
            str(probes_path) if probes_path else None,
        )
    )
    return _call("run_one", f"__grader_builtins.globals(), {args}")
