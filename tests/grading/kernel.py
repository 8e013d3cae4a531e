"""One fresh Jupyter kernel, driven one cell at a time: nbclient starts it, the cell loop is the grader's own
(a kernel that ignores the interrupt is hung, output is bounded, a dead kernel is reported, not raised)."""

from __future__ import annotations

import os
import queue
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic

import nbformat
import zmq
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from zmq.utils.monitor import parse_monitor_message

from . import procs, users

CURRENT_ENV_KERNEL = "grader-current-env"
INTERRUPT_GRACE = 10.0  # seconds a kernel gets to stop after the interrupt
OUTPUT_HEAD_CHARS = OUTPUT_TAIL_CHARS = 2048
# The largest message part the grader's sockets accept from a kernel: zmq drops the connection before reading a
# bigger one (and reconnects). Honest output stays far below: printed text comes in messages of at most 1 Mi
# characters (the prepare cell), a figure is a few MB.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
# Messages a grader socket queues before it is read (zmq's default: 1,000 parts, up to 32 GB here). The output
# socket drops what doesn't fit; a cell whose idle status was dropped ends by its reply (REPLY_QUIET).
MAX_QUEUED_MESSAGES = 4
REPLY_QUIET = 5.0  # seconds without this cell's output after its reply: the rest of its output was lost
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class KernelStartError(Exception):
    """The kernel did not start (a problem of the machine, not of the submission)."""


class _CurrentEnvKernelSpecs(KernelSpecManager):
    """Kernel specs plus one that runs ipykernel with this very Python (like nbval's --current-env)."""

    def get_kernel_spec(self, kernel_name):  # only CURRENT_ENV_KERNEL is ever asked for
        from ipykernel.kernelspec import RESOURCES, get_kernel_dict

        spec = get_kernel_dict()  # with an in-memory history: nothing appended to ~/.ipython's history.sqlite
        spec["argv"] = [*spec["argv"], "--HistoryManager.hist_file=:memory:"]
        return self.kernel_spec_class(resource_dir=RESOURCES, **spec)


def grading_env(repo_root: Path, scratch: Path, token: str, user: users.KernelUser | None = None) -> dict[str, str]:
    """The lesson's kernel environment (``tests/kernel_env.py``) plus: temporary files and IPython's folder in
    ``scratch``, no bytecode, the ``procs`` token; with a kernel ``user``, a ``HOME`` of its own in ``scratch``,
    its ``USER``, and none of the grader's ``XDG_*``/``JUPYTER_*`` folders."""
    from tests.kernel_env import kernel_env

    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if user is not None:
        base = {k: v for k, v in base.items() if not k.startswith(("XDG_", "JUPYTER_")) and k != "MPLCONFIGDIR"}
    env = kernel_env(base, root=Path(repo_root))
    for name in ("tmp", "ipython"):
        (scratch / name).mkdir(exist_ok=True)
    env["TMPDIR"] = env["TEMP"] = env["TMP"] = str(scratch / "tmp")
    env.update(IPYTHONDIR=str(scratch / "ipython"), PYTHONDONTWRITEBYTECODE="1", **{procs.TOKEN_VAR: token})
    if user is not None:
        home = scratch / "home"
        env.update(HOME=str(home), USER=user.name, LOGNAME=user.name, MPLCONFIGDIR=str(home / ".matplotlib"))
    return env


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
    """How one cell ran: "ok", "error", "timeout" (interrupted), "hung" (busy ``grace`` s after the interrupt)
    or "dead" (the kernel died)."""

    state: str
    ename: str = ""
    evalue: str = ""
    traceback: str = ""
    output: BoundedText = field(default_factory=BoundedText)
    asked_exit: bool = False  # the cell called exit()/quit() (ignored while grading)
    lost_output: bool = False  # its idle status never came: it ended by its reply, output after a gap lost
    disconnected: bool = False  # zmq dropped the iopub connection during the cell (a message part over the limit)

    def set_error(self, content: dict) -> None:
        self.ename, self.evalue = str(content.get("ename", "")), str(content.get("evalue", ""))
        self.traceback = _ANSI.sub("", "\n".join(map(str, content.get("traceback", []))))


class _KernelManager(AsyncKernelManager):
    """Hands the connection file (the kernel's key) to the kernel's user; its clients' sockets are capped."""

    grader_user: users.KernelUser | None = None

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        users.give(Path(self.connection_file), self.grader_user)

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # before start_channels creates the sockets
        kc.context.setsockopt(zmq.RCVHWM, MAX_QUEUED_MESSAGES)
        return kc


class Kernel:
    """A fresh kernel in folder ``cwd`` with environment ``env``, as ``user`` if given (no groups, umask 077);
    use as ``async with``. The kernel's own stdout/stderr go to ``log_path`` (0600)."""

    def __init__(self, cwd: Path, env: dict[str, str], log_path: Path, startup_timeout: float,
                 user: users.KernelUser | None = None):
        self.km = _KernelManager(kernel_name=CURRENT_ENV_KERNEL, kernel_spec_manager=_CurrentEnvKernelSpecs())
        self.km.grader_user = self.user = user
        self.km.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # the manager's own (control) sockets
        self._client = NotebookClient(nbformat.v4.new_notebook(), km=self.km, kernel_name=CURRENT_ENV_KERNEL,
                                      resources={"metadata": {"path": str(cwd)}}, startup_timeout=int(startup_timeout))
        # The connection file in the scratch folder, not in $TMPDIR: after a SIGKILL the next run cleans it up.
        self.km.connection_file = str(Path(cwd).parent / f"kernel-{os.getpid()}-{id(self)}.json")
        self._env, self.token, self._log_path = env, env[procs.TOKEN_VAR], log_path  # grading_env's token
        self.pid = self._log = self.kc = self._monitor = None
        self.disconnects = self._reconnected = 0

    async def __aenter__(self) -> Kernel:
        # The grader's file: the kernel writes to the descriptor it inherits.
        self._log = os.fdopen(os.open(self._log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
        launch = self.user.popen_kwargs() if self.user is not None else {}
        try:
            await self._client.async_start_new_kernel(env=self._env, stdout=self._log, stderr=self._log, **launch)
            self.pid = getattr(self.km.provisioner, "pid", None)
            self.kc = await self._client.async_start_new_kernel_client()
            self._monitor = self.kc.iopub_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        except BaseException as exc:
            await self.shutdown()
            if isinstance(exc, Exception):
                raise KernelStartError(f"{type(exc).__name__}: {exc}") from exc
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Kill the kernel and every process it started (``procs.kill_tree``)."""
        if self._monitor is not None:
            self._monitor.close(linger=0)
            self._monitor = None
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        uid = self.user.uid if self.user is not None else None
        procs.kill_tree(self.token, self.pid, uid=uid)
        try:
            if self.km.has_kernel:
                await self.km.shutdown_kernel(now=True)
        except Exception as exc:  # already gone; never let cleanup hide the grade
            print(f"grader: kernel shutdown: {exc!r}", file=sys.stderr)
        procs.kill_tree(self.token, None, uid=uid)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self) -> str:
        """The last 1,500 characters of the kernel process's own stderr/stdout (minus its startup warnings)."""
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(line for line in text.splitlines() if "without encryption" not in line)[-1500:].strip()

    async def run(self, code: str, timeout: float, grace: float = INTERRUPT_GRACE, history: bool = True) -> CellRun:
        """Execute ``code``; interrupt it after ``timeout`` seconds, give up ``grace`` seconds later. It ends with its
        ``idle`` status or, should zmq have dropped that (a part over ``MAX_MESSAGE_BYTES``), ``REPLY_QUIET`` s after
        its ``execute_reply`` once none of its output arrives any more (``lost_output``, ``disconnected``)."""
        kc, km = self.kc, self.km
        await self._keep_iopub()
        disconnects = self.disconnects
        msg_id = kc.execute(code, store_history=history, allow_stdin=False, stop_on_error=False)
        start = last_heard = monotonic()
        deadline = start + max(timeout, 0.0)
        interrupted = False
        run = CellRun("ok")
        reply: dict | None = None
        while True:
            now = monotonic()
            if now >= deadline and reply is None:
                reply = await self._reply(msg_id, 0)
            if now >= deadline and reply is None:
                if interrupted:
                    run.state = "hung"
                    return run
                interrupted = True
                await km.interrupt_kernel()
                deadline = now + grace
                continue
            if reply is not None and now - last_heard >= REPLY_QUIET:
                run.lost_output = True
                break
            try:
                msg = await kc.iopub_channel.get_msg(timeout=max(0.05, min(1.0, deadline - now)))
            except queue.Empty:
                if not await km.is_alive():
                    run.state = "dead"
                    return run
                await self._keep_iopub()
                if reply is None and (reply := await self._reply(msg_id, 0)) is not None:
                    last_heard = max(last_heard, monotonic())
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            last_heard = monotonic()
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                break
            if kind == "stream":
                run.output.add(str(content.get("text", "")))
            elif kind == "error":
                run.set_error(content)
        if reply is None:
            reply = await self._reply(msg_id, 2.0) or {}  # consumed, so that replies don't pile up
        if run.lost_output and not run.ename and isinstance(reply, dict) and reply.get("status") == "error":
            run.set_error(reply)
        await self._keep_iopub()
        run.disconnected = self.disconnects > disconnects
        run.state = "timeout" if interrupted else ("error" if run.ename else "ok")
        payloads = reply.get("payload", []) if isinstance(reply, dict) else []
        run.asked_exit = any(isinstance(p, dict) and p.get("source") == "ask_exit" for p in payloads)
        return run

    async def _keep_iopub(self) -> None:
        """Reconnect the iopub channel if zmq dropped it, and wait (up to 5 s) for the kernel's ``iopub_welcome``
        to the new subscriber, so that the next cell's output isn't sent before the subscription arrived."""
        while self._monitor is not None and await self._monitor.poll(0):
            try:
                event = parse_monitor_message(await self._monitor.recv_multipart())
            except (zmq.ZMQError, ValueError, KeyError):
                break
            self.disconnects += event.get("event") == zmq.EVENT_DISCONNECTED
        if self.disconnects <= self._reconnected:
            return
        self._reconnected = self.disconnects
        self._monitor.close(linger=0)
        if self.kc._iopub_channel is not None:
            self.kc._iopub_channel.close()
            self.kc._iopub_channel = None
        channel = self.kc.iopub_channel  # a new socket, connected and subscribed
        self._monitor = channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        end = monotonic() + 5.0
        while monotonic() < end:
            try:
                if (await channel.get_msg(timeout=0.5)).get("msg_type") == "iopub_welcome":
                    return
            except queue.Empty:
                continue

    async def _reply(self, msg_id: str, timeout: float) -> dict | None:
        """The content of the execute_reply to ``msg_id`` if it arrives within ``timeout``; other replies are
        dropped."""
        while True:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=timeout)
            except queue.Empty:
                return None
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg.get("content", {})
