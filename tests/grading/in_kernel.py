"""What the grader runs INSIDE a student's kernel, loaded by path from the scratch folder (README, part 2).

Standard library and NumPy only. ``run_one`` writes one exercise's values as plain data (``write_values``),
which only ``evaluator.read_values`` reads; it catches everything, KeyboardInterrupt included, so that the
grader's interrupt at the time limit costs only that exercise.
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
    """Plain values -> (JSON-able structure, {key: array}); raises ``TooLarge`` past ``MAX_NODES`` or
    ``MAX_ARRAY_BYTES``."""
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
    """``base + '.json'`` (and ``base + '.npz'`` when there are arrays; read only once this cell has ended)."""
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
        with open(base + ".npz", "wb") as f:
            np.savez(f, **arrays)
    _write(base, text)


def _write(base, entry):
    with open(base + ".json", "w", encoding="utf-8") as f:
        f.write(entry if isinstance(entry, str) else json.dumps(entry))


def load_criteria(folder, name):
    """The criteria package in ``folder`` (its ``__init__.py``), loaded as a new module called ``name``."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its relative imports and dataclasses look it up there
    spec.loader.exec_module(module)
    return module


def run_one(student_ns, criteria_folder, base, number, probes_path=None):
    """Write exercise ``number``'s values from ``student_ns`` (the student's globals()) to ``base`` (.json,
    .npz), read with the criteria in ``criteria_folder`` on the inputs in ``probes_path``."""
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
    try:
        write_values(base, module.extract(number, student_ns, probes))
    except module.NotAttempted as exc:
        _write(base, {"kind": "not attempted", "message": short(exc, MAX_MESSAGE_CHARS)})
    except BaseException as exc:  # an interrupt must cost only this exercise
        _write(base, {"kind": "error", "message": short(f"{type(exc).__name__}: {exc}", MAX_MESSAGE_CHARS),
                      "traceback": short(traceback.format_exc(), MAX_TRACEBACK_CHARS)})
    finally:
        for key in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
            sys.modules.pop(key, None)


def prepare(shell, max_chunk):
    """Run before the student's first cell: ``exit()``/``quit()`` only leave an ``ask_exit`` payload (the
    grader notes it), and printed text reaches the grader in messages of at most ``max_chunk`` characters: each
    stream's ``_flush_buffers`` (what ipykernel's ``OutStream._flush`` sends, one message per item) cuts it into
    pieces. (Patching ``write`` does not last: IPython 9 wraps it during each cell and puts it back.)"""

    def ask_exit():
        shell.payload_manager.write_payload({"source": "ask_exit", "keepkernel": True, "ignored_by_grader": True})

    shell.ask_exit = ask_exit
    for stream in (sys.stdout, sys.stderr):
        buffers = getattr(stream, "_flush_buffers", None)  # None: a stream that isn't ipykernel's

        def chunked(_buffers=buffers):
            for parent, data in _buffers():
                for start in range(0, len(data), max_chunk):
                    yield parent, data[start : start + max_chunk]

        if buffers is not None:
            stream._flush_buffers = chunked
