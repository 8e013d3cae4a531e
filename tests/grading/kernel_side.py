"""Code that runs INSIDE a student's kernel, after all of the student's cells.

The grader never imports this module. It sends its source text in the cells it
appends to the submission (see ``extraction.extraction_cell``), one cell per
exercise, each executed in a fresh dict with its own time limit, and calls
``run_one`` with the student's namespace.

``run_one`` executes the criteria's kernel-side source from the text it is
given (never an importable copy the student could have patched), calls
``extract(n, ns)`` (or ``extract(n, ns, probes=...)`` when the grader sent
fresh probe inputs) for its one exercise and writes the plain values, pickled
and base64-encoded, to that exercise's own JSON file. It catches everything,
KeyboardInterrupt included: the grader's interrupt at the time limit costs only
this exercise.
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
MAX_PICKLE_BYTES = 40_000_000


def _short(text, limit):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 15] + " ... [truncated]"


def _write(out_path, entry):
    partial = out_path + ".part"
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(entry, f)
    os.replace(partial, out_path)


def run_one(student_ns, source, filename, out_path, module_name, number, probes_path=None):
    """Extract exercise ``number``'s plain values and write them to ``out_path``.

    Args:
        student_ns: the student's globals().
        source: text of the criteria's kernel-side module (``extract``, ``NotAttempted``).
        filename: its path (for tracebacks only).
        out_path: absolute path of the JSON file to write.
        module_name: base of ``__name__`` for the executed criteria.
        number: the exercise.
        probes_path: ``.npz`` of fresh inputs per data set, or None.
    """
    # A new module object under a new name: whatever the student did to
    # tests.exercise_checks (or to its functions) doesn't reach this copy.
    module = types.ModuleType(f"{module_name}_{os.getpid()}_{number}_{id(student_ns)}")
    module.__file__ = filename
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
        not_attempted = module.NotAttempted
        extract = module.extract
        probes = None
        if probes_path:
            import numpy

            with numpy.load(probes_path, allow_pickle=False) as data:
                probes = {name: data[name] for name in data.files}
    except BaseException:
        _write(
            out_path,
            {
                "kind": "error",
                "message": "the criteria failed to load in your kernel",
                "traceback": _short(traceback.format_exc(), MAX_TRACEBACK_CHARS),
            },
        )
        return
    finally:
        if probes_path:
            try:
                os.remove(probes_path)  # read once; not left for the student's code to find
            except OSError:
                pass
    try:
        values = extract(number, student_ns) if probes is None else extract(number, student_ns, probes=probes)
        blob = pickle.dumps(values, protocol=4)
        if len(blob) > MAX_PICKLE_BYTES:
            entry = {
                "kind": "too large",
                "message": f"your values for this exercise take {len(blob):,} bytes "
                f"(the grader's limit is {MAX_PICKLE_BYTES:,})",
            }
        else:
            entry = {"kind": "values", "pickle": base64.b64encode(blob).decode("ascii")}
    except not_attempted as exc:
        entry = {"kind": "not attempted", "message": _short(exc, MAX_MESSAGE_CHARS)}
    except BaseException as exc:  # an interrupt must cost only this exercise
        entry = {
            "kind": "error",
            "message": _short(f"{type(exc).__name__}: {exc}", MAX_MESSAGE_CHARS),
            "traceback": _short(traceback.format_exc(), MAX_TRACEBACK_CHARS),
        }
    _write(out_path, entry)
    sys.modules.pop(module.__name__, None)


def prepare(shell, max_chunk):
    """Run before the student's first cell: ``exit()``/``quit()`` don't end the kernel; output in chunks.

    ``exit()`` in ipykernel lets its cell finish and kills the kernel a moment
    later; while grading it only leaves a mark (an ``ask_exit`` payload the
    grader reports) and the notebook goes on. Text written to ``sys.stdout`` or
    ``sys.stderr`` reaches the grader in messages of at most ``max_chunk``
    characters: ipykernel sends what was written within 0.2 s as one message
    (``OutStream._flush`` sends each item of ``_flush_buffers()``), so each
    stream's ``_flush_buffers`` is replaced by one that cuts the text into
    pieces. (Patching ``write`` does not last: IPython 9 wraps ``stream.write``
    during each cell and puts back what it found.)
    """

    def ask_exit():
        shell.payload_manager.write_payload({"source": "ask_exit", "keepkernel": True, "ignored_by_grader": True})

    shell.ask_exit = ask_exit
    for stream in (sys.stdout, sys.stderr):
        buffers = getattr(stream, "_flush_buffers", None)
        if buffers is None or getattr(buffers, "grader_chunked", False):
            continue

        def chunked(_buffers=buffers):
            for parent, data in _buffers():
                for start in range(0, len(data), max_chunk):
                    yield parent, data[start : start + max_chunk]

        chunked.grader_chunked = True
        try:
            stream._flush_buffers = chunked
        except Exception:
            pass
