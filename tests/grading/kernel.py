"""One fresh Jupyter kernel per submission, driven one cell at a time.

nbclient starts the kernel (the kernel's working folder, an in-memory IPython
history, the client channels); the cell loop is the grader's own because it
needs three things ``NotebookClient.execute_cell`` doesn't give: a kernel that
ignores the interrupt (``except: pass`` in a loop) must not stall the batch
(after the timeout the kernel is interrupted, then given ``grace`` seconds, then
declared hung); output is kept only up to a few KB per cell, so a cell that
prints gigabytes can't exhaust the grader's memory; and a dead kernel is
reported, not raised.
"""

from __future__ import annotations

import os
import queue
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from . import procs

CURRENT_ENV_KERNEL = "grader-current-env"
INTERRUPT_GRACE = 10.0  # seconds a kernel gets to stop after the interrupt
OUTPUT_HEAD_CHARS = 2048
OUTPUT_TAIL_CHARS = 2048
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class KernelStartError(Exception):
    """The kernel did not start (a problem of the machine, not of the submission)."""


class _CurrentEnvKernelSpecs(KernelSpecManager):
    """Kernel specs plus one that runs ipykernel with this very Python (like nbval's --current-env)."""

    def get_kernel_spec(self, kernel_name):
        if kernel_name == CURRENT_ENV_KERNEL:
            from ipykernel.kernelspec import RESOURCES, get_kernel_dict

            spec = get_kernel_dict()
            # An in-memory history: nbclient adds this only for the kernels it knows by name,
            # so without it every graded cell would be appended to ~/.ipython's history.sqlite.
            spec["argv"] = [*spec["argv"], "--HistoryManager.hist_file=:memory:"]
            return self.kernel_spec_class(resource_dir=RESOURCES, **spec)
        return super().get_kernel_spec(kernel_name)


def grading_env(repo_root: Path, scratch: Path, token: str) -> dict[str, str]:
    """Environment of a grading kernel: the lesson's kernel rules plus the grader's own.

    ``tests/kernel_env.py`` gives the lesson's rules (one thread, no MPLBACKEND,
    the repository root first on PYTHONPATH). On top: temporary files (e.g.
    torch's compile caches) go to ``scratch/tmp``, and IPython's folder is
    ``scratch/ipython``, both deleted with the submission, so that nothing is
    written into ``~/.ipython``; no ``__pycache__`` next to the imported modules;
    ``GRADER_KERNEL`` marks the kernel's processes (see ``procs.py``).
    """
    from tests.kernel_env import kernel_env

    base = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS" and k != "MKL_NUM_THREADS"}
    env = kernel_env(base, root=Path(repo_root))
    for name in ("tmp", "ipython"):
        (scratch / name).mkdir(exist_ok=True)
    env["TMPDIR"] = env["TEMP"] = env["TMP"] = str(scratch / "tmp")
    env["IPYTHONDIR"] = str(scratch / "ipython")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env[procs.TOKEN_VAR] = token
    return env


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


class BoundedText:
    """The first and last few KB of a stream of text, and its total length."""

    def __init__(self, head: int = OUTPUT_HEAD_CHARS, tail: int = OUTPUT_TAIL_CHARS):
        self.head_limit, self.tail_limit = head, tail
        self.head, self.tail, self.total = "", "", 0

    def add(self, text: str) -> None:
        self.total += len(text)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += text[:room]
            text = text[room:]
        if text:
            self.tail = (self.tail + text[-self.tail_limit :])[-self.tail_limit :]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def render(self) -> str:
        """The kept text, with a marker where characters were dropped."""
        if not self.truncated:
            return self.head + self.tail
        skipped = self.total - len(self.head) - len(self.tail)
        return f"{self.head}\n... [{skipped:,} characters truncated] ...\n{self.tail}"


@dataclass
class CellRun:
    """How one cell ran.

    state: "ok", "error" (it raised), "timeout" (interrupted at the time limit),
    "hung" (still busy ``grace`` seconds after the interrupt) or "dead" (the
    kernel process died).
    """

    state: str
    seconds: float
    ename: str = ""
    evalue: str = ""
    traceback: str = ""
    output: BoundedText = field(default_factory=BoundedText)
    asked_exit: bool = False  # the cell called exit()/quit() (ignored while grading)


class Kernel:
    """A fresh kernel in folder ``cwd`` with environment ``env``; use as ``async with``."""

    def __init__(self, cwd: Path, env: dict[str, str], log_path: Path | None = None, startup_timeout: float = 60.0):
        self.km = AsyncKernelManager(kernel_name=CURRENT_ENV_KERNEL, kernel_spec_manager=_CurrentEnvKernelSpecs())
        self._client = NotebookClient(
            nbformat.v4.new_notebook(),
            km=self.km,
            kernel_name=CURRENT_ENV_KERNEL,
            resources={"metadata": {"path": str(cwd)}},
            startup_timeout=int(startup_timeout),
        )
        # The connection file (with the kernel's key) in the submission's scratch folder, not
        # in $TMPDIR: a grader killed with SIGKILL leaves it where the next run cleans up.
        self.km.connection_file = str(Path(cwd).parent / f"kernel-{os.getpid()}-{id(self)}.json")
        self._env = env
        self.token = env.get(procs.TOKEN_VAR, "")
        self.pid: int | None = None
        self._log_path = log_path
        self._log = None
        self.kc = None

    async def __aenter__(self) -> Kernel:
        # The kernel's own stdout/stderr (not the cells' output, which travels over
        # zmq) go to a log file: startup warnings stay off the grader's terminal
        # and the last lines before a crash can be shown in the feedback.
        self._log = open(self._log_path or os.devnull, "ab")  # noqa: SIM115 - closed in shutdown()
        try:
            await self._client.async_start_new_kernel(env=self._env, stdout=self._log, stderr=self._log)
            self.pid = getattr(self.km.provisioner, "pid", None)
            self.kc = await self._client.async_start_new_kernel_client()
        except BaseException as exc:
            await self.shutdown()
            if isinstance(exc, Exception):
                raise KernelStartError(f"{type(exc).__name__}: {exc}") from exc
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Kill the kernel (no graceful shutdown: nothing of it is needed any more)."""
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.token:  # every process the kernel started, wherever it went (see procs.py)
            procs.kill_tree(self.token, self.pid)
        try:
            if self.km.has_kernel:
                await self.km.shutdown_kernel(now=True)
        except Exception as exc:  # already gone; never let cleanup hide the grade
            print(f"grader: kernel shutdown: {exc!r}", file=sys.stderr)
        if self.token:
            procs.kill_tree(self.token, None)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 1500) -> str:
        """The end of the kernel process's own stderr/stdout (minus its startup warnings)."""
        if self._log_path is None:
            return ""
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if "without encryption" not in line]
        return "\n".join(lines)[-chars:].strip()

    async def run(self, code: str, timeout: float, grace: float = INTERRUPT_GRACE, history: bool = True) -> CellRun:
        """Execute ``code``; interrupt it after ``timeout`` seconds, give up ``grace`` seconds later."""
        kc, km = self.kc, self.km
        msg_id = kc.execute(code, store_history=history, allow_stdin=False, stop_on_error=False)
        start = monotonic()
        deadline = start + max(timeout, 0.0)
        interrupted = False
        run = CellRun(state="ok", seconds=0.0)
        while True:
            now = monotonic()
            if now >= deadline:
                if interrupted:
                    run.state, run.seconds = "hung", now - start
                    return run
                interrupted = True
                await km.interrupt_kernel()
                deadline = now + grace
                continue
            try:
                msg = await kc.iopub_channel.get_msg(timeout=min(1.0, deadline - now))
            except queue.Empty:
                if not await km.is_alive():
                    run.state, run.seconds = "dead", monotonic() - start
                    return run
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                break
            if kind == "stream":
                run.output.add(str(content.get("text", "")))
            elif kind == "error":
                run.ename = str(content.get("ename", ""))
                run.evalue = str(content.get("evalue", ""))
                run.traceback = strip_ansi("\n".join(map(str, content.get("traceback", []))))
        run.seconds = monotonic() - start
        run.state = "timeout" if interrupted else ("error" if run.ename else "ok")
        reply = await self._drain_reply(msg_id)
        payloads = reply.get("payload", []) if isinstance(reply, dict) else []
        run.asked_exit = any(isinstance(p, dict) and p.get("source") == "ask_exit" for p in payloads)
        return run

    async def _drain_reply(self, msg_id: str) -> dict:
        """Consume the execute_reply (sent before the idle status) so replies don't pile up; its content."""
        while True:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=2.0)
            except queue.Empty:
                return {}
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg.get("content", {})
