"""Every process a kernel starts ends with its submission.

A kernel can start processes that leave its process group and session
(``start_new_session=True``, a double fork), which killing the kernel's group
does not reach. The grader therefore makes itself a *child subreaper*
(``prctl(PR_SET_CHILD_SUBREAPER)``, Linux): an orphaned descendant of a kernel
is re-parented to the grader instead of to init, so it stays findable. Each
kernel gets a token in its environment (``GRADER_KERNEL``); when a submission
ends, ``kill_tree`` kills the kernel's descendants (by parent links) and every
orphan re-parented to the grader that carries that token or whose environment
can't be read or lacks a token (a process that cleared its environment), then
reaps them, and repeats until none is left. When the kernel runs as a user of
its own (``users.py``), every descendant of the grader that has that uid
(real, effective, saved or filesystem) is the kernel's too, whatever its
environment says; and an orphan whose environment can't be read but that runs
as another uid than the grader's belongs to another kernel, so it is left to
that kernel's ``kill_tree``.

On other systems (no ``/proc``, no prctl) only the kernel's descendants that
are still linked to it are found.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path

TOKEN_VAR = "GRADER_KERNEL"
PR_SET_CHILD_SUBREAPER = 36
_PROC = Path("/proc")
PROTECTED: set[int] = set()  # our own helpers (the evaluator), never killed as orphans


def become_subreaper() -> bool:
    """Make this process the subreaper of its descendants; True if it worked (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _ppid(pid: int) -> int | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def _state(pid: int) -> str:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return ""
    return text[text.rfind(")") + 2 :].split()[0]


def _token(pid: int) -> str | None:
    """The process's GRADER_KERNEL value; '' when it has none; None when unreadable."""
    try:
        data = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = TOKEN_VAR.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return ""


def _pids() -> list[int]:
    try:
        return [int(p.name) for p in _PROC.iterdir() if p.name.isdigit()]
    except OSError:
        return []


def descendants(root: int) -> set[int]:
    """Live descendants of ``root`` (by parent links), not ``root`` itself."""
    children: dict[int, list[int]] = {}
    for pid in _pids():
        parent = _ppid(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def uids_of(pid: int) -> set[int]:
    """The real, effective, saved and filesystem uids of a process (empty when it is gone)."""
    try:
        text = (_PROC / str(pid) / "status").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("Uid:"):
            return {int(v) for v in line.split()[1:]}
    return set()


def belonging_to(token: str, kernel_pid: int | None, keep: set[int] = frozenset(), uid: int | None = None) -> set[int]:
    """Processes of one kernel: its descendants, orphans re-parented to us with its token (or none), and,
    with ``uid`` (the kernel's own user), every descendant of ours running as that uid."""
    me, my_uid = os.getpid(), os.getuid()
    keep = set(keep) | PROTECTED
    found = descendants(kernel_pid) if kernel_pid else set()
    for pid in descendants(me):
        if pid in keep or pid == kernel_pid or _state(pid) == "Z":
            continue
        owners = uids_of(pid) if uid is not None else set()
        if uid is not None and uid in owners:
            found |= {pid} | descendants(pid)
        elif _ppid(pid) == me:
            value = _token(pid)
            if value is None and uid is not None and owners and owners != {my_uid}:
                continue  # another kernel's user: that kernel's cleanup finds it
            if value == token or value is None or value == "":
                found |= {pid} | descendants(pid)
        elif _token(pid) == token:
            found.add(pid)
    return {pid for pid in found if pid not in keep and pid != me}


def kill_tree(
    token: str, kernel_pid: int | None, keep: set[int] = frozenset(), rounds: int = 20, uid: int | None = None
) -> int:
    """SIGKILL every process of the kernel with ``token`` (see ``belonging_to``); reap ours. Returns how many."""
    killed: set[int] = set()
    for _ in range(rounds):
        pids = belonging_to(token, kernel_pid, keep, uid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        time.sleep(0.05)
        reap(killed)
    reap(killed)
    return len(killed)


def reap(pids) -> None:
    """Collect the exit status of those of ``pids`` that are our (adopted) children."""
    for pid in list(pids):
        try:
            os.waitpid(pid, os.WNOHANG)
        except OSError:  # not our child (any more)
            pass
