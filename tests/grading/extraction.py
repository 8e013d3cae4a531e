"""Bring the extracted values out of a student's kernel, safely.

``injected_cell`` builds the one cell the grader appends after the student's
cells. It uses only the ``import`` statement and attribute access, so a student
who shadowed a builtin (``exec = ...``, ``globals = ...``) doesn't break it, and
it runs the code of ``kernel_side.py`` in a fresh dict. The values come back
through a JSON file in the scratch folder; ``read_payload`` parses it and
``restricted_loads`` unpickles each exercise's values allowing numpy arrays,
dtypes and scalars and a few builtins only, so a forged payload can't run
code in the grader.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

from .checks import ISOLATED_MODULE_NAME, Checks

KERNEL_SIDE_SOURCE = (Path(__file__).resolve().parent / "kernel_side.py").read_text(encoding="utf-8")
MAX_PAYLOAD_BYTES = 500_000_000


def injected_cell(checks: Checks, out_path: Path) -> str:
    """Source of the cell that extracts every exercise's values in the kernel.

    Args:
        checks: the criteria (their source text goes into the cell).
        out_path: absolute path of the JSON file the cell writes.
    """
    args = ", ".join(repr(arg) for arg in (checks.source, str(checks.path), str(out_path), ISOLATED_MODULE_NAME))
    return (
        "import builtins as __grader_builtins\n"
        "__grader_ns = {'__name__': '__grader_extraction__', '__builtins__': __grader_builtins}\n"
        f"__grader_builtins.exec(__grader_builtins.compile({KERNEL_SIDE_SOURCE!r}, '<grader>', 'exec'), __grader_ns)\n"
        f"__grader_ns['run'](__grader_builtins.globals(), {args})\n"
        "del __grader_ns, __grader_builtins\n"
    )


# --------------------------------------------------------------------------
# Restricted unpickling
# --------------------------------------------------------------------------
_ALLOWED_GLOBALS = {
    ("builtins", "complex"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "range"),
    ("builtins", "bytearray"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in extracted values")


def restricted_loads(data: bytes):
    """Unpickle plain data: builtins containers/scalars and numpy arrays, dtypes and scalars.

    Raises:
        pickle.UnpicklingError: on any other global (a class or function).
    """
    return _RestrictedUnpickler(io.BytesIO(data)).load()


# --------------------------------------------------------------------------
# Payload
# --------------------------------------------------------------------------
@dataclass
class Extracted:
    """What came out of the kernel for one exercise.

    kind: "values" (then ``values`` holds the unpickled dict), "not attempted",
    "error" (extract raised; ``message``/``traceback`` say what) or "missing"
    (the extraction never reached this exercise).
    """

    kind: str
    values: object = None
    message: str = ""
    traceback: str = ""


@dataclass
class Payload:
    """The parsed extraction file."""

    load_error: str | None = None
    exercises: dict[int, Extracted] = field(default_factory=dict)


def read_payload(path: Path) -> Payload | None:
    """Parse the JSON file written by ``kernel_side.run``; None when absent or unreadable."""
    try:
        if path.stat().st_size > MAX_PAYLOAD_BYTES:
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("exercises"), dict):
        return None
    payload = Payload(load_error=str(raw["load_error"]) if raw.get("load_error") else None)
    for key, entry in raw["exercises"].items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(entry, dict)):
            continue
        payload.exercises[int(key)] = _parse_entry(entry)
    return payload


def _parse_entry(entry: dict) -> Extracted:
    kind = entry.get("kind")
    message = str(entry.get("message", ""))
    if kind == "values":
        try:
            values = restricted_loads(base64.b64decode(str(entry.get("pickle", "")), validate=True))
        except Exception as exc:  # a forged or corrupt payload: this exercise earns nothing
            return Extracted("error", message=f"the extracted values could not be read safely ({exc})")
        return Extracted("values", values=values)
    if kind == "not attempted":
        return Extracted("not attempted", message=message)
    return Extracted("error", message=message, traceback=str(entry.get("traceback", "")))
