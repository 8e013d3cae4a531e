"""What the grader runs INSIDE a student's kernel, after all of the student's cells.

The grader never imports this module. Each submission's scratch folder gets a
copy of it and of the criteria package, the copies the grader verified at the
start of the batch (``criteria.py``); the grader's cells load those copies by
path, under new names (``extraction.extraction_cell``), so that nothing the
student did to ``sys.modules``, to ``tests.exercise_checks`` or to the files
in the repository changes what reads their values. Standard library and NumPy
only: it works whatever the kernel's import path holds (hence its own ``short``).

``run_one`` reads one exercise (the criteria's ``extract``) and writes plain
data: a JSON file, in which each NumPy array is replaced by ``{"__array__": k}``,
and an ``.npz`` file (no pickles) with the arrays. Only the grader's evaluation
process reads them (``evaluator.read_values``). It catches everything,
KeyboardInterrupt included: the grader's interrupt at the time limit costs only
this exercise.
"""

import importlib.util
import json
import os
import sys
import traceback

MAX_MESSAGE_CHARS = 2000
MAX_TRACEBACK_CHARS = 4000
MAX_JSON_BYTES = 10_000_000  # the structure; numbers in bulk belong in arrays
MAX_ARRAY_BYTES = 40_000_000
MAX_NODES = 200_000  # containers and scalars walked before giving up (shared references count each time)


class TooLarge(Exception):
    pass


def short(text, limit):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 16] + " ... [truncated]"


def to_wire(values):
    """Plain values -> (JSON-able structure, {key: array}); arrays are replaced by ``{"__array__": key}``.

    Raises:
        TooLarge: more than ``MAX_NODES`` items or ``MAX_ARRAY_BYTES`` of arrays.
    """
    import numpy as np

    arrays, count = {}, [0]

    def walk(value):
        count[0] += 1
        if count[0] > MAX_NODES:
            raise TooLarge(f"your values for this exercise hold more than {MAX_NODES:,} items")
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            key = f"a{len(arrays)}"
            arrays[key] = value
            if sum(a.nbytes for a in arrays.values()) > MAX_ARRAY_BYTES:
                raise TooLarge(f"your arrays for this exercise take more than {MAX_ARRAY_BYTES:,} bytes "
                               "(the grader's limit)")
            return {"__array__": key}
        if isinstance(value, dict):
            return {str(k): walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return short(repr(value), 200)

    return walk(values), arrays


def write_values(base, values):
    """``base + '.json'`` (and ``base + '.npz'`` when there are arrays), each written atomically."""
    import numpy as np

    try:
        structure, arrays = to_wire(values)
        text = json.dumps({"kind": "values", "values": structure, "arrays": sorted(arrays)})
        if len(text) > MAX_JSON_BYTES:
            raise TooLarge(f"your values for this exercise take {len(text):,} bytes (the grader's limit is "
                           f"{MAX_JSON_BYTES:,})")
    except TooLarge as exc:
        _write(base, {"kind": "too large", "message": str(exc)})
        return
    if arrays:
        with open(base + ".npz.part", "wb") as f:
            np.savez(f, **arrays)
        os.replace(base + ".npz.part", base + ".npz")
    _write(base, text)


def _write(base, entry):
    with open(base + ".json.part", "w", encoding="utf-8") as f:
        f.write(entry if isinstance(entry, str) else json.dumps(entry))
    os.replace(base + ".json.part", base + ".json")


def load_criteria(folder, name):
    """The criteria package in ``folder`` (its ``__init__.py``), loaded as a new module called ``name``."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its relative imports and dataclasses look it up there
    spec.loader.exec_module(module)
    return module


def run_one(student_ns, criteria_folder, base, number, probes_path=None):
    """Extract exercise ``number``'s plain values from ``student_ns`` and write them (see ``write_values``).

    Args:
        student_ns: the student's globals().
        criteria_folder: the grader's copy of the criteria package.
        base: path of the results files, without extension.
        number: the exercise.
        probes_path: ``.npz`` of fresh inputs per data set (read, then deleted), or None.
    """
    name = f"_grader_criteria_{os.getpid()}_{number}_{id(student_ns)}"
    try:
        module = load_criteria(criteria_folder, name)
        probes = None
        if probes_path:
            import numpy

            with numpy.load(probes_path, allow_pickle=False) as data:
                probes = {key: data[key] for key in data.files}
    except BaseException:
        _write(base, {"kind": "error", "message": "the criteria failed to load in your kernel",
                      "traceback": short(traceback.format_exc(), MAX_TRACEBACK_CHARS)})
        return
    finally:
        if probes_path:
            try:
                os.remove(probes_path)  # read once; not left for the student's code to find
            except OSError:
                pass
    try:
        values = module.extract(number, student_ns) if probes is None else module.extract(number, student_ns, probes)
        write_values(base, values)
    except module.NotAttempted as exc:
        _write(base, {"kind": "not attempted", "message": short(exc, MAX_MESSAGE_CHARS)})
    except BaseException as exc:  # an interrupt must cost only this exercise
        _write(base, {"kind": "error", "message": short(f"{type(exc).__name__}: {exc}", MAX_MESSAGE_CHARS),
                      "traceback": short(traceback.format_exc(), MAX_TRACEBACK_CHARS)})
    finally:
        for key in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
            sys.modules.pop(key, None)


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
