"""The grader's evaluation process: criteria loaded once, before any kernel starts.

``python -m tests.grading.evaluator`` is started by the grader before the first
student kernel. It receives the criteria's source text (the text the grader
verified) on stdin, executes it, and loads everything ``evaluate`` needs:
scikit-learn, ``helper_functions`` and the reference data sets (the criteria's
``preload()`` if it has one, else ``_reference_data`` for each data set). From
then on no module is imported from disk in it: a submission that edits a file
on disk after that can't reach the evaluation.

Then it serves requests, one JSON line each, for as long as the batch runs.
Each request is handled in a *fork* of this loaded process, with its own time
limit (SIGKILL when over) and memory limit (``RLIMIT_AS``), and any new import
refused; the fork reads the extracted values from the file the kernel wrote
(a regular file, at most ``MAX_VALUES_BYTES``), unpickles them with the
restricted unpickler and calls ``evaluate``. So a slow, huge or malformed
answer costs only its own exercise, and the grader's event loop never runs
criteria code or unpickles student data.

Requests (one JSON object per line on stdin; replies on stdout, same ``id``):

* ``{"op": "probes", "id", "seed", "path", ...limits}``: write the criteria's
  fresh probe inputs ``make_probes(seed)`` (X only, ``.npz``) to ``path``;
  the labels never leave this process (the evaluation fork re-creates them from
  the seed, which only the grader knows).
* ``{"op": "evaluate", "id", "number", "path", "seed", ...limits}``:
  ``{"id", "status", "message", "points", "details", "answer"}``.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import pickle
import resource
import select
import signal
import stat
import sys
import traceback
import types

MAX_VALUES_BYTES = 64_000_000
MAX_MESSAGE_CHARS = 600
MAX_DETAILS_CHARS = 4000
MAX_ANSWER_CHARS = 20_000
MODULE_NAME = "grader_exercise_checks"
PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"

# --------------------------------------------------------------------------
# Restricted unpickling: plain data and numpy arrays only
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


def read_regular_file(path: str, limit: int, follow_symlinks: bool = False) -> bytes:
    """At most ``limit`` bytes of a regular file, never blocking (a FIFO, a device is refused).

    Raises:
        OSError: not a regular file, unreadable, or larger than ``limit``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"not a regular file (a {_kind(info.st_mode)})")
        if info.st_size > limit:
            raise OSError(f"too large: {info.st_size:,} bytes (limit {limit:,})")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise OSError(f"too large: over {limit:,} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "folder" if stat.S_ISDIR(mode) else "special file"


# --------------------------------------------------------------------------
# The server (runs in its own process)
# --------------------------------------------------------------------------
def _short(text, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 16] + " ... [truncated]"


class _NoNewImports:
    """A meta-path finder that refuses every module not yet loaded (installed in the forks)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        raise ImportError(f"the grader's evaluation may not import {name!r} after kernels started")


def _load(source: str, filename: str, repo_root: str) -> types.ModuleType:
    if repo_root not in sys.path:
        sys.path.insert(0, repo_root)
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = filename
    sys.modules[MODULE_NAME] = module  # dataclasses look their module up there
    exec(compile(source, filename, "exec"), module.__dict__)
    missing = [name for name in ("EXERCISES", "evaluate") if not hasattr(module, name)]
    if missing:
        raise ValueError(f"it lacks {', '.join(missing)}")
    # Everything evaluate() will use, loaded now (from then on no imports): every module the
    # criteria import anywhere, also inside functions (lazy imports), then their own preloads.
    for name in imported_modules(source):
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # e.g. an optional import; the forks then refuse it, visibly
    if callable(getattr(module, "preload", None)):
        module.preload()
    for function, names in (("reference_data", "DATASETS"), ("_reference_data", "_DATA_CALLS")):
        if callable(getattr(module, function, None)):
            for name in getattr(module, names, {}):
                getattr(module, function)(name)
    if callable(getattr(module, "make_probes", None)):
        module.make_probes(0)
    import numpy  # noqa: F401

    return module


def kernel_side(module, filename: str) -> tuple[str, str]:
    """The source that runs in the kernel and its path: the criteria's ``KERNEL_SOURCE`` if it has one."""
    source = getattr(module, "KERNEL_SOURCE", None)
    if isinstance(source, str) and source:
        return source, str(getattr(module, "KERNEL_PATH", filename))
    return "", filename


def imported_modules(source: str) -> list[str]:
    """Every module an ``import`` or ``from ... import`` statement in ``source`` names (any depth)."""
    import ast

    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]  # submodules, if they are
    return list(dict.fromkeys(name for name in names if name != "__future__"))


def _table(module) -> list:
    return [
        [int(number), str(getattr(ex, "title", "")), int(ex.points)] for number, ex in sorted(module.EXERCISES.items())
    ]


_PROBES: dict = {}  # seed -> make_probes(seed), made in the server (inherited by the forks)
MAX_CACHED_PROBES = 32


def _probes(module, seed):
    if seed is None or not callable(getattr(module, "make_probes", None)):
        return None
    seed = int(seed)
    if seed not in _PROBES:
        while len(_PROBES) >= MAX_CACHED_PROBES:
            _PROBES.pop(next(iter(_PROBES)))
        _PROBES[seed] = module.make_probes(seed)
    return _PROBES[seed]


def probe_inputs(module, probes) -> dict:
    """The part of the probes that goes into the kernel: inputs X only, never the labels."""
    import numpy as np

    if callable(getattr(module, "probe_inputs", None)):
        inputs = module.probe_inputs(probes)
    else:
        inputs = {name: value["X"] if isinstance(value, dict) else value[0] for name, value in probes.items()}
    return {str(name): np.asarray(x) for name, x in inputs.items()}


def _handle_probes(module, request) -> dict:
    import numpy as np

    probes = _probes(module, request.get("seed"))
    if probes is None:
        return {"ok": False}
    arrays = probe_inputs(module, probes)
    tmp = request["path"] + ".part"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, request["path"])
    return {"ok": True, "names": sorted(arrays)}


def _parse_entry(raw: bytes):
    entry = json.loads(raw.decode("utf-8"))
    if not isinstance(entry, dict):
        raise ValueError("the results file is not a JSON object")
    kind = entry.get("kind")
    if kind == "values":
        blob = base64.b64decode(str(entry.get("pickle", "")), validate=True)
        return "values", restricted_loads(blob), ""
    return str(kind), str(entry.get("message", "")), str(entry.get("traceback", ""))


def _handle_evaluate(module, request) -> dict:
    number = int(request["number"])
    reply = {"status": FAILED, "points": 0, "message": "", "details": "", "answer": None}
    try:
        raw = read_regular_file(request["path"], int(request.get("max_bytes", MAX_VALUES_BYTES)))
    except FileNotFoundError:
        reply["message"] = "not graded: the grader could not read this exercise (no results came back)"
        return reply
    except OSError as exc:
        reply["message"] = f"not graded: your values for this exercise could not be read ({exc})"
        return reply
    try:
        kind, values, tb = _parse_entry(raw)
    except Exception as exc:  # a forged or corrupt results file: this exercise earns nothing
        reply["message"] = f"not graded: the extracted values could not be read safely ({_short(exc, 200)})"
        return reply
    if kind == "not attempted":
        reply.update(status=NOT_ATTEMPTED, message=values or "not attempted")
        return reply
    if kind == "too large":
        reply.update(message=f"not graded: {values}", note=values)
        return reply
    if kind != "values":
        reply.update(message=f"your code failed when the grader read this exercise: {values}", details=tb)
        return reply
    if isinstance(values, dict) and isinstance(values.get("answer"), str):
        reply["answer"] = _short(values["answer"], MAX_ANSWER_CHARS)
    probes = _probes(module, request.get("seed"))
    try:
        result = module.evaluate(number, values) if probes is None else module.evaluate(number, values, probes=probes)
        status = str(getattr(result, "status", FAILED))
        points = int(getattr(result, "points", 0))
        reply.update(
            status=status if status in (PASSED, FAILED, NOT_ATTEMPTED) else FAILED,
            message=str(getattr(result, "message", "")),
            points=points,
        )
    except Exception as exc:
        reply.update(
            message=f"could not be evaluated: {type(exc).__name__}: {_short(exc, 200)}",
            details=traceback.format_exc(limit=-5),
        )
    return reply


def _child(module, request, write_fd: int) -> None:
    """In the fork: limits, no imports, handle the request, write the reply, exit."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        memory = int(request.get("memory", 0))
        if memory > 0:
            with open("/proc/self/statm") as f:
                pages = int(f.read().split()[0])
            limit = pages * os.sysconf("SC_PAGE_SIZE") + memory
            resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
        sys.meta_path.insert(0, _NoNewImports)
        op = request.get("op")
        reply = _handle_probes(module, request) if op == "probes" else _handle_evaluate(module, request)
        if "message" in reply:
            reply["message"] = _short(reply["message"], MAX_MESSAGE_CHARS)
            reply["details"] = _short(reply.get("details", ""), MAX_DETAILS_CHARS)
        data = json.dumps(reply).encode()
    except MemoryError:
        data = json.dumps({"error": "memory"}).encode()
    except BaseException as exc:
        data = json.dumps({"error": f"{type(exc).__name__}: {_short(exc, 300)}"}).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(write_fd, view) :]
    os._exit(0)


def serve() -> None:
    """Read the set-up line, load the criteria, then serve requests until stdin closes."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.dont_write_bytecode = True
    out = sys.stdout.buffer

    def send(obj) -> None:
        out.write(json.dumps(obj).encode() + b"\n")
        out.flush()

    stdin = sys.stdin.buffer
    try:
        setup = json.loads(stdin.readline())
        module = _load(setup["source"], setup["filename"], setup["repo_root"])
        kernel_source, kernel_path = kernel_side(module, setup["filename"])
        send(
            {
                "ready": True,
                "exercises": _table(module),
                "probes": callable(getattr(module, "make_probes", None)),
                "kernel_source": kernel_source,
                "kernel_path": kernel_path,
            }
        )
    except BaseException as exc:
        send({"ready": False, "error": _short(f"{type(exc).__name__}: {exc}", 2000)})
        return
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:
        pass

    children: dict[int, dict] = {}  # pid -> {id, fd, deadline, chunks}
    buffer = b""
    stdin_fd = stdin.fileno()
    os.set_blocking(stdin_fd, False)
    open_stdin = True
    import time

    while open_stdin or children:
        fds = [c["fd"] for c in children.values()] + ([stdin_fd] if open_stdin else [])
        readable, _, _ = select.select(fds, [], [], 0.2)
        if stdin_fd in readable:
            try:
                data = os.read(stdin_fd, 1 << 16)
            except BlockingIOError:
                data = None
            if data == b"":
                open_stdin = False
            elif data:
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    request = json.loads(line)
                    if request.get("op") == "probes":  # trusted criteria code: here, cached for the forks
                        try:
                            reply = _handle_probes(module, request)
                        except Exception as exc:
                            reply = {"ok": False, "error": f"{type(exc).__name__}: {_short(exc, 300)}"}
                        send({**reply, "id": request["id"]})
                        continue
                    if request.get("op") == "forget":
                        _PROBES.pop(request.get("seed"), None)
                        send({"id": request["id"]})
                        continue
                    read_fd, write_fd = os.pipe()
                    pid = os.fork()
                    if pid == 0:
                        os.close(read_fd)
                        _child(module, request, write_fd)
                    os.close(write_fd)
                    children[pid] = {
                        "id": request["id"],
                        "fd": read_fd,
                        "chunks": [],
                        "deadline": time.monotonic() + float(request.get("timeout", 60)),
                        "eof": False,
                    }
        for child in children.values():
            if child["fd"] in readable and not child["eof"]:
                chunk = os.read(child["fd"], 1 << 16)
                if chunk:
                    child["chunks"].append(chunk)
                else:
                    child["eof"] = True
        now = time.monotonic()
        for pid in list(children):
            child = children[pid]
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done and now > child["deadline"]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                child["timed_out"] = True
                done = pid
            if done and (child["eof"] or child.get("timed_out") or True):
                if not child.get("timed_out"):  # drain what is left in the pipe
                    while chunk := os.read(child["fd"], 1 << 16):
                        child["chunks"].append(chunk)
                os.close(child["fd"])
                del children[pid]
                try:
                    reply = json.loads(b"".join(child["chunks"]) or b"{}")
                except ValueError:
                    reply = {}
                if child.get("timed_out"):
                    reply = {"error": "timeout"}
                elif not reply:
                    reply = {"error": "memory" if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) else "no reply"}
                reply["id"] = child["id"]
                send(reply)


if __name__ == "__main__":
    serve()
