"""The grader's evaluation process (README, parts 1 and 2): loads the criteria and all they import, then forks
per ``evaluate`` request (time limit, ``RLIMIT_AS``, imports refused). Requests are JSON lines on stdin, replies
carry the same ``id``: ``probes`` writes ``make_probes(seed)``'s inputs, never the labels, as ``.npz``;
``evaluate`` judges the values at ``path``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import resource
import select
import signal
import stat
import sys
import tempfile
import time
import traceback

from tests.grading.in_kernel import MAX_ARRAY_BYTES, MAX_JSON_BYTES, load_criteria
from tests.grading.outcome import FAILED, NOT_ATTEMPTED, PASSED, STATUSES, short

MAX_DETAILS_CHARS = 4000
MAX_ANSWER_CHARS = 20_000
MAX_CACHED_PROBES = 32
MODULE_NAME = "grader_criteria"
_KINDS = ((stat.S_ISFIFO, "named pipe"), (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"), (stat.S_ISSOCK, "socket"),
          (stat.S_ISDIR, "folder"))


def read_regular_file(path: str, limit: int, follow_symlinks: bool = False) -> bytes:
    """At most ``limit`` bytes of a regular file, never blocking; raises ``OSError`` for a FIFO, a device, a
    link (unless ``follow_symlinks``), an unreadable or a larger file."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "special file")
            raise OSError(f"not a regular file (a {kind})")
        if info.st_size > limit:
            raise OSError(f"too large: {info.st_size:,} bytes (limit {limit:,})")
        chunks, total = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise OSError(f"too large: over {limit:,} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_values(base: str):
    """What the kernel wrote for one exercise (``in_kernel.write_values``): ``(kind, values or message, traceback)``,
    plain data only: each ``{"__array__": key}`` of the JSON becomes that numeric array of the ``.npz``. Raises
    ``OSError`` (a file missing, not regular or too large) or ``ValueError`` (not what ``write_values`` writes)."""
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


def load(folder: str, repo_root: str):
    """The criteria package in ``folder``, after its ``preload()`` (what its functions import lazily)."""
    import numpy as np

    if repo_root not in sys.path:
        sys.path.insert(1, repo_root)
    module = load_criteria(folder, MODULE_NAME)
    if callable(getattr(module, "preload", None)):
        module.preload()
    buffer = io.BytesIO()  # reading an .npz loads zipfile's codecs: now, not in a fork
    np.savez(buffer, a0=np.zeros(1))
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as data:
        data["a0"]
    return module


@functools.lru_cache(maxsize=MAX_CACHED_PROBES)
def _probes(module, seed: int):
    """``make_probes(seed)``, made in the server at the ``probes`` request (the forks inherit it)."""
    return module.make_probes(seed)


def _handle_probes(module, request) -> dict:
    import numpy as np

    probes = _probes(module, int(request["seed"]))
    arrays = {str(name): np.asarray(x) for name, x in module.probe_inputs(probes).items()}  # inputs, never labels
    with open(request["path"], "wb") as f:
        np.savez(f, **arrays)
    return {"ok": True}


def _handle_evaluate(module, request) -> dict:
    reply = {"status": FAILED, "points": 0, "message": "", "details": "", "answer": None}
    try:
        kind, values, tb = read_values(request["path"])
    except FileNotFoundError:
        return {**reply, "message": "not graded: the grader could not read this exercise (no results came back)"}
    except OSError as exc:
        return {**reply, "message": f"not graded: your values for this exercise could not be read ({exc})"}
    except Exception as exc:  # a forged or corrupt results file: this exercise earns nothing
        return {**reply, "message": f"not graded: the extracted values could not be read safely ({short(exc, 200)})"}
    if kind == "not attempted":
        return {**reply, "status": NOT_ATTEMPTED, "message": values or "not attempted"}
    if kind == "too large":
        return {**reply, "message": f"not graded: {values}", "note": values}
    if kind != "values":
        return {**reply, "message": f"your code failed when the grader read this exercise: {values}", "details": tb}
    if isinstance(values, dict) and isinstance(values.get("answer"), str):
        reply["answer"] = short(values["answer"], MAX_ANSWER_CHARS)
    probes = _probes(module, int(request["seed"]))
    try:
        result = module.evaluate(int(request["number"]), values, probes=probes)
        status = str(getattr(result, "status", FAILED))
        reply.update(status=status if status in STATUSES else FAILED, message=str(getattr(result, "message", "")),
                     points=int(getattr(result, "points", 0)) if status == PASSED else 0)
    except Exception as exc:
        reply.update(message=f"could not be evaluated: {type(exc).__name__}: {short(exc, 200)}",
                     details=traceback.format_exc(limit=-5))
    return reply


def _child(module, request, out) -> None:
    """In the fork: limits, no imports, handle the request, write the reply to file ``out``, exit."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        memory = int(request.get("memory", 0))
        if memory > 0:
            with open("/proc/self/statm") as f:
                limit = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE") + memory
            resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
        sys.meta_path.insert(0, _NoNewImports)
        reply = _handle_evaluate(module, request)
        reply["details"] = short(reply["details"], MAX_DETAILS_CHARS)
        data = json.dumps(reply).encode()
    except MemoryError:
        data = json.dumps({"error": "memory"}).encode()
    except BaseException as exc:
        data = json.dumps({"error": f"{type(exc).__name__}: {short(exc, 300)}"}).encode()
    out.write(data)
    out.flush()
    os._exit(0)


def _fork(module, request) -> tuple[int, dict]:
    """A fork evaluating ``request``; the server reads the reply file once the pipe closes (the fork ended)."""
    out, (ended, write_fd) = tempfile.TemporaryFile(), os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ended)
        _child(module, request, out)
    os.close(write_fd)
    return ended, {"id": request["id"], "pid": pid, "out": out,
                   "deadline": time.monotonic() + float(request.get("timeout", 60))}


def _collect(child: dict, status: int | None) -> dict:
    """The reply of a fork that ended (``status``) or was killed at its deadline (None)."""
    with child["out"] as out:
        out.seek(0)
        try:
            reply = json.loads(out.read() or b"{}")
        except ValueError:
            reply = {}
    if status is None:
        reply = {"error": "timeout"}
    elif not reply:
        reply = {"error": "memory" if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) else "no reply"}
    return {**reply, "id": child["id"]}


def serve() -> None:
    """Read the set-up line, load the criteria, then serve requests until stdin closes."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.dont_write_bytecode = True
    out, stdin = sys.stdout.buffer, sys.stdin.buffer

    def send(obj) -> None:
        out.write(json.dumps(obj).encode() + b"\n")
        out.flush()

    try:
        setup = json.loads(stdin.readline())
        module = load(setup["criteria"], setup["repo_root"])
        table = [[int(n), str(getattr(ex, "title", "")), int(ex.points)] for n, ex in sorted(module.EXERCISES.items())]
        send({"ready": True, "exercises": table})
    except BaseException as exc:
        send({"ready": False, "error": short(f"{type(exc).__name__}: {exc}", 2000)})
        return
    with contextlib.suppress(Exception):
        import torch

        torch.set_num_threads(1)
    children: dict[int, dict] = {}  # the read end of a fork's pipe -> {id, pid, out, deadline}
    buffer, stdin_fd, open_stdin = b"", stdin.fileno(), True
    os.set_blocking(stdin_fd, False)
    while open_stdin or children:
        readable, _, _ = select.select([*children, *([stdin_fd] if open_stdin else [])], [], [], 0.2)
        if stdin_fd in readable:
            try:
                data = os.read(stdin_fd, 1 << 16)
            except BlockingIOError:
                data = None
            open_stdin = data != b""
            buffer += data or b""
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                if request.get("op") == "probes":  # trusted criteria code: here, cached for the forks
                    try:
                        send({**_handle_probes(module, request), "id": request["id"]})
                    except Exception as exc:
                        send({"ok": False, "error": f"{type(exc).__name__}: {short(exc, 300)}", "id": request["id"]})
                else:
                    fd, child = _fork(module, request)
                    children[fd] = child
        for fd, child in list(children.items()):
            if fd in readable or time.monotonic() > child["deadline"]:
                if fd not in readable:
                    os.kill(child["pid"], signal.SIGKILL)
                status = os.waitpid(child["pid"], 0)[1]
                del children[fd]
                os.close(fd)
                send(_collect(child, status if fd in readable else None))


if __name__ == "__main__":
    serve()
