"""Every process a kernel starts ends with its submission (README, part 2).

The grader is a *child subreaper* (Linux ``prctl``): a kernel's double-forked orphans are re-parented to it.
``kill_tree`` kills the kernel's descendants and our orphans that carry its token (``GRADER_KERNEL``), none, or
an unreadable environment, reaps them, and repeats until none is left. With a kernel user (``users.py``) every
descendant running as that uid is the kernel's too, and an unreadable orphan of another uid is another kernel's.
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
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _read(pid: int, name: str) -> bytes | None:
    try:
        return (_PROC / str(pid) / name).read_bytes()
    except OSError:
        return None


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name: state, ppid, ...; [] when gone."""
    text = (_read(pid, "stat") or b"").decode(errors="replace")
    return text[text.rfind(")") + 2 :].split()


def _ppid(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if len(fields) > 1 else None


def _token(pid: int) -> str | None:
    """The process's GRADER_KERNEL value; '' when it has none; None when unreadable."""
    data = _read(pid, "environ")
    prefix = TOKEN_VAR.encode() + b"="
    items = [item[len(prefix) :] for item in (data or b"").split(b"\0") if item.startswith(prefix)]
    return None if data is None else items[0].decode(errors="replace") if items else ""


def _uids(pid: int) -> set[int]:
    """The real, effective, saved and filesystem uids of a process (empty when it is gone)."""
    lines = (_read(pid, "status") or b"").decode(errors="replace").splitlines()
    return next(({int(v) for v in line.split()[1:]} for line in lines if line.startswith("Uid:")), set())


def descendants(root: int) -> set[int]:
    """Live descendants of ``root`` (by parent links), not ``root`` itself."""
    children: dict[int, list[int]] = {}
    for pid in (int(p.name) for p in _PROC.iterdir() if p.name.isdigit()) if _PROC.is_dir() else ():
        children.setdefault(_ppid(pid), []).append(pid)
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def belonging_to(token: str, kernel_pid: int | None, uid: int | None = None) -> set[int]:
    """Processes of one kernel: its descendants, orphans re-parented to us with its token (or none), and, with
    ``uid`` (the kernel's own user), every descendant of ours running as that uid."""
    me, my_uid = os.getpid(), os.getuid()
    found = descendants(kernel_pid) if kernel_pid else set()
    for pid in descendants(me):
        if pid in PROTECTED or pid == kernel_pid or _stat(pid)[:1] == ["Z"]:
            continue
        owners = _uids(pid) if uid is not None else set()
        if uid is not None and uid in owners:
            found |= {pid} | descendants(pid)
        elif _ppid(pid) == me:
            value = _token(pid)
            if value is None and uid is not None and owners and owners != {my_uid}:
                continue  # another kernel's user: that kernel's cleanup finds it
            if value in (token, None, ""):
                found |= {pid} | descendants(pid)
        elif _token(pid) == token:
            found.add(pid)
    return found - PROTECTED - {me}


def kill_tree(token: str, kernel_pid: int | None, uid: int | None = None) -> None:
    """SIGKILL every process of the kernel with ``token`` (see ``belonging_to``), up to 20 rounds; reap ours."""
    killed: set[int] = set()
    for _ in range(20):
        pids = belonging_to(token, kernel_pid, uid)
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


def reap(pids) -> None:
    """Collect the exit status of those of ``pids`` that are our (adopted) children."""
    for pid in list(pids):
        try:
            os.waitpid(pid, os.WNOHANG)
        except OSError:  # not our child (any more)
            pass
