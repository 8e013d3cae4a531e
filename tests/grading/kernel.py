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
import zmq
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from zmq.utils.monitor import parse_monitor_message

from . import procs, users

CURRENT_ENV_KERNEL = "grader-current-env"
INTERRUPT_GRACE = 10.0  # seconds a kernel gets to stop after the interrupt
OUTPUT_HEAD_CHARS = 2048
OUTPUT_TAIL_CHARS = 2048
# The largest message part (frame) the grader's sockets accept from a kernel: a kernel that
# sends a bigger one is disconnected by zmq before the frame is read (zmq reconnects at once).
# Honest output stays far below it: the grader's prepare cell sends printed text in messages
# of at most 1 Mi characters, and a figure is a few MB.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
# Messages a socket of the grader queues before it is read (zmq's default is 1,000): with a busy
# grader, a kernel that sends many parts just under the limit would otherwise fill the grader's
# memory. A SUB socket (output) drops what doesn't fit; the grader keeps only a few KB of a cell's
# output anyway, and a cell whose idle status is dropped ends by its reply (REPLY_QUIET).
MAX_QUEUED_MESSAGES = 4
REPLY_QUIET = 5.0  # seconds without this cell's output after its reply: the rest of its output was lost
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


def grading_env(repo_root: Path, scratch: Path, token: str, user: users.KernelUser | None = None) -> dict[str, str]:
    """Environment of a grading kernel: the lesson's kernel rules plus the grader's own.

    ``tests/kernel_env.py`` gives the lesson's rules (one thread, no MPLBACKEND,
    the repository root first on PYTHONPATH). On top: temporary files (e.g.
    torch's compile caches) go to ``scratch/tmp``, and IPython's folder is
    ``scratch/ipython``, both deleted with the submission, so that nothing is
    written into ``~/.ipython``; no ``__pycache__`` next to the imported modules;
    ``GRADER_KERNEL`` marks the kernel's processes (see ``procs.py``). With a
    kernel ``user`` (see ``users.py``): ``HOME`` is ``scratch/home`` (matplotlib's
    folder in it, seeded with the grader's font list), ``USER``/``LOGNAME`` are
    the user's name, and the grader's ``XDG_*``/``JUPYTER_*`` folders are not passed on.
    """
    from tests.kernel_env import kernel_env

    base = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS" and k != "MKL_NUM_THREADS"}
    if user is not None:
        base = {k: v for k, v in base.items() if not k.startswith(("XDG_", "JUPYTER_")) and k != "MPLCONFIGDIR"}
    env = kernel_env(base, root=Path(repo_root))
    for name in ("tmp", "ipython"):
        (scratch / name).mkdir(exist_ok=True)
    env["TMPDIR"] = env["TEMP"] = env["TMP"] = str(scratch / "tmp")
    env["IPYTHONDIR"] = str(scratch / "ipython")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env[procs.TOKEN_VAR] = token
    if user is not None:
        home = scratch / "home"
        env["HOME"] = str(home)
        env["USER"] = env["LOGNAME"] = user.name
        env["MPLCONFIGDIR"] = str(home / ".matplotlib")
        users.seed_matplotlib_cache(home / ".matplotlib", user)
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
    lost_output: bool = False  # its idle status never came: it ended by its reply, output after a gap lost
    disconnected: bool = False  # zmq dropped the iopub connection during the cell (a message part over the limit)


class _KernelManager(AsyncKernelManager):
    """A kernel manager that hands the connection file (the kernel's key) to the kernel's own user."""

    grader_user: users.KernelUser | None = None

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        users.give(Path(self.connection_file), self.grader_user)

    def client(self, **kwargs):
        """The client nbclient drives; every socket made from its context refuses a part over MAX_MESSAGE_BYTES."""
        kc = super().client(**kwargs)
        kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # before start_channels creates the sockets
        kc.context.setsockopt(zmq.RCVHWM, MAX_QUEUED_MESSAGES)
        return kc


class Kernel:
    """A fresh kernel in folder ``cwd`` with environment ``env``; use as ``async with``.

    With ``user`` (see ``users.py``) the kernel process is started as that user,
    with no supplementary groups and umask 077.
    """

    def __init__(
        self,
        cwd: Path,
        env: dict[str, str],
        log_path: Path | None = None,
        startup_timeout: float = 60.0,
        user: users.KernelUser | None = None,
    ):
        self.km = _KernelManager(kernel_name=CURRENT_ENV_KERNEL, kernel_spec_manager=_CurrentEnvKernelSpecs())
        self.km.grader_user = user
        # The manager's own sockets (the control channel) refuse a part over MAX_MESSAGE_BYTES too.
        self.km.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.user = user
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
        self._monitor = None
        self.disconnects = self._reconnected = 0

    async def __aenter__(self) -> Kernel:
        # The kernel's own stdout/stderr (not the cells' output, which travels over
        # zmq) go to a log file: startup warnings stay off the grader's terminal
        # and the last lines before a crash can be shown in the feedback.
        if self._log_path is None:
            self._log = open(os.devnull, "ab")  # noqa: SIM115 - closed in shutdown()
        else:  # the grader's file (0600): the kernel writes to the descriptor it inherits
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
        """Kill the kernel (no graceful shutdown: nothing of it is needed any more)."""
        if self._monitor is not None:
            self._monitor.close(linger=0)
            self._monitor = None
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        uid = self.user.uid if self.user is not None else None
        if self.token:  # every process the kernel started, wherever it went (see procs.py)
            procs.kill_tree(self.token, self.pid, uid=uid)
        try:
            if self.km.has_kernel:
                await self.km.shutdown_kernel(now=True)
        except Exception as exc:  # already gone; never let cleanup hide the grade
            print(f"grader: kernel shutdown: {exc!r}", file=sys.stderr)
        if self.token:
            procs.kill_tree(self.token, None, uid=uid)
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
        """Execute ``code``; interrupt it after ``timeout`` seconds, give up ``grace`` seconds later.

        The cell ends with its ``idle`` status on iopub. Should that never come
        (the kernel sent a message part over ``MAX_MESSAGE_BYTES``: zmq dropped
        the connection, and the messages queued behind it, before reconnecting),
        the cell ends ``REPLY_QUIET`` seconds after its ``execute_reply`` (on the
        shell channel) once none of its output arrives any more; ``lost_output``
        says so, and ``disconnected`` whether zmq dropped the connection.
        """
        kc, km = self.kc, self.km
        await self._keep_iopub()
        disconnects = self.disconnects
        msg_id = kc.execute(code, store_history=history, allow_stdin=False, stop_on_error=False)
        start = monotonic()
        deadline = start + max(timeout, 0.0)
        interrupted = False
        run = CellRun(state="ok", seconds=0.0)
        reply: dict | None = None
        last_heard = start
        while True:
            now = monotonic()
            if now >= deadline and reply is None:
                reply = await self._poll_reply(msg_id)
            if now >= deadline and reply is None:
                if interrupted:
                    run.state, run.seconds = "hung", now - start
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
                    run.state, run.seconds = "dead", monotonic() - start
                    return run
                await self._keep_iopub()
                if reply is None and (reply := await self._poll_reply(msg_id)) is not None:
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
                run.ename = str(content.get("ename", ""))
                run.evalue = str(content.get("evalue", ""))
                run.traceback = strip_ansi("\n".join(map(str, content.get("traceback", []))))
        run.seconds = monotonic() - start
        if reply is None:
            reply = await self._drain_reply(msg_id)
        if run.lost_output and not run.ename and isinstance(reply, dict) and reply.get("status") == "error":
            run.ename = str(reply.get("ename", ""))
            run.evalue = str(reply.get("evalue", ""))
            run.traceback = strip_ansi("\n".join(map(str, reply.get("traceback", []))))
        await self._keep_iopub()
        run.disconnected = self.disconnects > disconnects
        run.state = "timeout" if interrupted else ("error" if run.ename else "ok")
        payloads = reply.get("payload", []) if isinstance(reply, dict) else []
        run.asked_exit = any(isinstance(p, dict) and p.get("source") == "ask_exit" for p in payloads)
        return run

    async def _keep_iopub(self) -> None:
        """Reconnect the iopub channel if zmq dropped it (zmq itself doesn't after a part over the limit).

        The new socket subscribes; the kernel greets every new subscriber with
        an ``iopub_welcome`` message, which is awaited (up to 5 s) so that the
        next cell's output isn't sent before the subscription arrived.
        """
        if await self._disconnects() <= self._reconnected:
            return
        self._reconnected = self.disconnects
        kc = self.kc
        if self._monitor is not None:
            self._monitor.close(linger=0)
            self._monitor = None
        if kc._iopub_channel is not None:
            kc._iopub_channel.close()
            kc._iopub_channel = None
        channel = kc.iopub_channel  # a new socket, connected and subscribed
        self._monitor = channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        end = monotonic() + 5.0
        while monotonic() < end:
            try:
                msg = await channel.get_msg(timeout=0.5)
            except queue.Empty:
                continue
            if msg.get("msg_type") == "iopub_welcome":
                return

    async def _disconnects(self) -> int:
        """How often zmq has dropped the iopub connection so far (a message part over the limit)."""
        while self._monitor is not None and await self._monitor.poll(0):
            try:
                event = parse_monitor_message(await self._monitor.recv_multipart())
            except (zmq.ZMQError, ValueError, KeyError):
                break
            if event.get("event") == zmq.EVENT_DISCONNECTED:
                self.disconnects += 1
        return self.disconnects

    async def _poll_reply(self, msg_id: str) -> dict | None:
        """The execute_reply to ``msg_id`` if it has arrived (its content), else None; other replies are dropped."""
        while True:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=0)
            except queue.Empty:
                return None
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg.get("content", {})

    async def _drain_reply(self, msg_id: str) -> dict:
        """Consume the execute_reply (sent before the idle status) so replies don't pile up; its content."""
        while True:
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=2.0)
            except queue.Empty:
                return {}
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg.get("content", {})
