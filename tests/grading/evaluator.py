"""The grader's evaluation process: criteria loaded once, before any kernel starts.

``python -m tests.grading.evaluator`` is started by the grader before the first
student kernel. It loads the grader's copy of the criteria package (the files
the grader verified, ``criteria.py``) and everything ``evaluate`` needs:
scikit-learn, ``helper_functions``, the reference data sets, torch's layers
(the criteria's ``preload()``). From then on no module is imported in it: a
submission that edits a file on disk after that can't reach the evaluation.

Then it serves requests, one JSON line each, for as long as the batch runs.
Each request is handled in a *fork* of this loaded process, with its own time
limit (SIGKILL when over) and memory limit (``RLIMIT_AS``), and any new import
refused; the fork reads the values the kernel wrote (``read_values``: regular
files only, size-capped, JSON and an ``.npz`` without pickles, checked) and
calls ``evaluate``. So a slow, huge or malformed answer costs only its own
exercise, and the grader's event loop never runs criteria code or reads student data.

Requests (one JSON object per line on stdin; replies on stdout, same ``id``):

* ``{"op": "probes", "id", "seed", "path"}``: write the criteria's fresh probe
  inputs ``make_probes(seed)`` (X only, ``.npz``) to ``path``; the labels never
  leave this process (the forks inherit them, cached by seed).
* ``{"op": "evaluate", "id", "number", "path", "seed", ...limits}``:
  ``{"id", "status", "message", "points", "details", "answer"}``.
* ``{"op": "forget", "id", "seed"}``: drop the probes of a graded submission.
"""

from __future__ import annotations

import io
import json
import os
import resource
import select
import signal
import stat
import sys
import time
import traceback

from tests.grading.in_kernel import MAX_ARRAY_BYTES, MAX_JSON_BYTES, load_criteria
from tests.grading.outcome import FAILED, NOT_ATTEMPTED, PASSED, STATUSES, short

MAX_MESSAGE_CHARS = 600
MAX_DETAILS_CHARS = 4000
MAX_ANSWER_CHARS = 20_000
MODULE_NAME = "grader_criteria"


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


def read_values(base: str):
    """What the kernel wrote for one exercise (``in_kernel.write_values``): ``(kind, values or message, traceback)``.

    Only plain data comes back: JSON (dicts, lists, strings, numbers) with each
    ``{"__array__": key}`` replaced by that array of the ``.npz`` file, which
    must be numbers or booleans (no pickles, no objects).

    Raises:
        OSError: a file is missing, not a regular file or too large.
        ValueError: the files are not what ``write_values`` writes.
    """
    import numpy as np

    entry = json.loads(read_regular_file(base + ".json", MAX_JSON_BYTES + 1000).decode("utf-8"))
    if not isinstance(entry, dict) or entry.get("kind") not in ("values", "not attempted", "too large", "error"):
        raise ValueError("the results file is not one the grader writes")
    if entry["kind"] != "values":
        return entry["kind"], str(entry.get("message", "")), str(entry.get("traceback", ""))
    names = entry.get("arrays") or []
    arrays = {}
    if names:
        raw = read_regular_file(base + ".npz", MAX_ARRAY_BYTES + (1 << 20))
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    if sorted(arrays) != sorted(names) or any(a.dtype.kind not in "biuf" for a in arrays.values()):
        raise ValueError("the arrays file doesn't match the values")

    def restore(node):
        if isinstance(node, dict):
            if set(node) == {"__array__"}:
                return arrays[node["__array__"]]
            return {key: restore(value) for key, value in node.items()}
        return [restore(value) for value in node] if isinstance(node, list) else node

    return "values", restore(entry["values"]), ""


class _NoNewImports:
    """A meta-path finder that refuses every module not yet loaded (installed in the forks)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        raise ImportError(f"the grader's evaluation may not import {name!r} after kernels started")


def imported_modules(folder: str) -> list[str]:
    """Every absolute module an ``import`` or ``from ... import`` in the ``.py`` files of ``folder`` names."""
    import ast

    names: list[str] = []
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".py"):
            continue
        with open(os.path.join(folder, file), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]  # submodules, if any
    return list(dict.fromkeys(name for name in names if name != "__future__"))


def load(folder: str, repo_root: str):
    """The criteria package in ``folder``, with everything ``evaluate`` will use loaded now.

    Every module the criteria import anywhere (also inside functions), then
    their ``preload()`` (data sets, probes, torch's layers).
    """
    import importlib

    if repo_root not in sys.path:
        sys.path.insert(1, repo_root)
    module = load_criteria(folder, MODULE_NAME)
    missing = [name for name in ("EXERCISES", "extract", "evaluate") if not hasattr(module, name)]
    if missing:
        raise ValueError(f"it lacks {', '.join(missing)}")
    for name in imported_modules(folder):
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # e.g. a name imported from a module, not a module; the forks then refuse it, visibly
    if callable(getattr(module, "preload", None)):
        module.preload()
    import numpy as np

    buffer = io.BytesIO()  # reading an .npz loads zipfile's codecs: now, not in a fork
    np.savez(buffer, a0=np.zeros(1))
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as data:
        data["a0"]
    return module


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


def _handle_probes(module, request) -> dict:
    import numpy as np

    probes = _probes(module, request.get("seed"))
    if probes is None:
        return {"ok": False}
    arrays = {str(name): np.asarray(x) for name, x in module.probe_inputs(probes).items()}  # inputs, never labels
    tmp = request["path"] + ".part"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, request["path"])
    return {"ok": True, "names": sorted(arrays)}


def _handle_evaluate(module, request) -> dict:
    number = int(request["number"])
    reply = {"status": FAILED, "points": 0, "message": "", "details": "", "answer": None}
    try:
        kind, values, tb = read_values(request["path"])
    except FileNotFoundError:
        reply["message"] = "not graded: the grader could not read this exercise (no results came back)"
        return reply
    except OSError as exc:
        reply["message"] = f"not graded: your values for this exercise could not be read ({exc})"
        return reply
    except Exception as exc:  # a forged or corrupt results file: this exercise earns nothing
        reply["message"] = f"not graded: the extracted values could not be read safely ({short(exc, 200)})"
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
        reply["answer"] = short(values["answer"], MAX_ANSWER_CHARS)
    probes = _probes(module, request.get("seed"))
    try:
        result = module.evaluate(number, values) if probes is None else module.evaluate(number, values, probes=probes)
        status = str(getattr(result, "status", FAILED))
        reply.update(status=status if status in STATUSES else FAILED, message=str(getattr(result, "message", "")),
                     points=int(getattr(result, "points", 0)) if status == PASSED else 0)
    except Exception as exc:
        reply.update(message=f"could not be evaluated: {type(exc).__name__}: {short(exc, 200)}",
                     details=traceback.format_exc(limit=-5))
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
            reply["message"] = short(reply["message"], MAX_MESSAGE_CHARS)
            reply["details"] = short(reply.get("details", ""), MAX_DETAILS_CHARS)
        data = json.dumps(reply).encode()
    except MemoryError:
        data = json.dumps({"error": "memory"}).encode()
    except BaseException as exc:
        data = json.dumps({"error": f"{type(exc).__name__}: {short(exc, 300)}"}).encode()
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
        module = load(setup["criteria"], setup["repo_root"])
        table = [[int(n), str(getattr(ex, "title", "")), int(ex.points)] for n, ex in sorted(module.EXERCISES.items())]
        send({"ready": True, "exercises": table})
    except BaseException as exc:
        send({"ready": False, "error": short(f"{type(exc).__name__}: {exc}", 2000)})
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
                            reply = {"ok": False, "error": f"{type(exc).__name__}: {short(exc, 300)}"}
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
            if done:
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
