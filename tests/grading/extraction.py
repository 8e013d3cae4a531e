"""The cells the grader adds to a submission.

``prepare_cell`` runs (silently, not in the history) before the student's
first cell; ``extraction_cell`` is appended after the last one, once per
exercise. Both load the grader's copy of ``in_kernel.py`` from the
submission's scratch folder by path, under a new name, using only the
``import`` statement and attribute access, so a student who shadowed a builtin
(``exec = ...``, ``globals = ...``) or patched an imported module doesn't
change them. Each exercise's values come back through its own files, which
only the evaluation process reads (``evaluator.read_values``).
"""

from __future__ import annotations

from pathlib import Path

MAX_OUTPUT_CHUNK = 1 << 20  # characters per output message


def _call(reader: Path, function: str, args: str) -> str:
    path = str(reader / "in_kernel.py")
    return (
        "import builtins as __grader_builtins, importlib.util as __grader_util\n"
        f"__grader_spec = __grader_util.spec_from_file_location('_grader_in_kernel', {path!r})\n"
        "__grader_module = __grader_util.module_from_spec(__grader_spec)\n"
        "__grader_spec.loader.exec_module(__grader_module)\n"
        f"__grader_module.{function}({args})\n"
        "del __grader_builtins, __grader_util, __grader_spec, __grader_module\n"
    )


def prepare_cell(reader: Path) -> str:
    """Source of the cell run before the student's: ``exit()`` is harmless, huge writes are chunked."""
    return _call(reader, "prepare", f"__grader_builtins.get_ipython(), {MAX_OUTPUT_CHUNK}")


def extraction_cell(reader: Path, number: int, base: Path, probes_path: Path | None = None) -> str:
    """Source of the cell that reads exercise ``number``'s values in the kernel.

    Args:
        reader: the folder holding the grader's copies of ``in_kernel.py`` and ``criteria/``.
        number: the exercise.
        base: absolute path of the results files the cell writes (``.json``, ``.npz``), without extension.
        probes_path: ``.npz`` of fresh probe inputs the cell reads (and deletes), or None.
    """
    args = ", ".join(repr(a) for a in (str(reader / "criteria"), str(base), number,
                                        str(probes_path) if probes_path else None))
    return _call(reader, "run_one", f"__grader_builtins.globals(), {args}")
