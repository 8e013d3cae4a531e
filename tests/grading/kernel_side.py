"""Code that runs INSIDE a student's kernel, after all of the student's cells.

The grader never imports this module. It sends its source text in the one cell
it appends to the submission (see ``extraction.injected_cell``), where it is
executed in a fresh dict and ``run`` is called with the student's namespace.

``run`` executes the criteria module from the source text it is given (never
an importable copy the student could have patched), calls ``extract(n, ns)``
for every exercise in its ``EXERCISES``, and writes the plain values, pickled and base64-encoded,
to a JSON file after each exercise (so a later crash or hang keeps the earlier
results). It catches everything, KeyboardInterrupt included: the grader's
interrupt at the timeout then costs only the exercise being extracted.
"""

import base64
import json
import os
import pickle
import sys
import traceback
import types

MAX_MESSAGE_CHARS = 2000
MAX_TRACEBACK_CHARS = 4000
MAX_PICKLE_BYTES = 50_000_000


def _short(text, limit):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 15] + " ... [truncated]"


def run(student_ns, checks_source, checks_filename, out_path, module_name):
    """Extract the plain values of every exercise and write them to ``out_path``.

    Args:
        student_ns: the student's globals().
        checks_source: text of the criteria module.
        checks_filename: its path (for tracebacks only).
        out_path: absolute path of the JSON file to write.
        module_name: ``__name__`` for the executed criteria.
    """
    results = {"load_error": None, "exercises": {}}

    def save():
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        partial = out_path + ".part"
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(results, f)
        os.replace(partial, out_path)

    # A new module object under a new name: whatever the student did to
    # tests.exercise_checks (or to its functions) doesn't reach this copy.
    # It must be in sys.modules while it runs (dataclasses look it up there).
    module = types.ModuleType(f"{module_name}_{os.getpid()}_{id(results)}")
    module.__file__ = checks_filename
    sys.modules[module.__name__] = module
    try:
        exec(compile(checks_source, checks_filename, "exec"), module.__dict__)
        not_attempted = module.NotAttempted
        extract = module.extract
        numbers = sorted(module.EXERCISES)
    except BaseException:
        results["load_error"] = _short(traceback.format_exc(), MAX_TRACEBACK_CHARS)
        save()
        return
    save()
    for number in numbers:
        try:
            values = extract(number, student_ns)
            blob = pickle.dumps(values, protocol=4)
            if len(blob) > MAX_PICKLE_BYTES:
                raise ValueError(f"the extracted values take {len(blob)} bytes (limit {MAX_PICKLE_BYTES})")
            entry = {"kind": "values", "pickle": base64.b64encode(blob).decode("ascii")}
        except not_attempted as exc:
            entry = {"kind": "not attempted", "message": _short(exc, MAX_MESSAGE_CHARS)}
        except BaseException as exc:  # an interrupt must cost only this exercise
            entry = {
                "kind": "error",
                "message": _short(f"{type(exc).__name__}: {exc}", MAX_MESSAGE_CHARS),
                "traceback": _short(traceback.format_exc(), MAX_TRACEBACK_CHARS),
            }
        results["exercises"][str(number)] = entry
        save()
