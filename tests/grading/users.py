"""Each submission's kernel as its own unprivileged user (when the grader runs as root; README, part 2).

With ``--kernel-user auto`` (the default) and a root grader, every submission gets a fresh uid (= gid) from a
high range that no account or process uses, without groups or ``/etc/passwd`` entry; its kernel and every
process it starts run as that uid. One submission's scratch folder::

    grading-XXXX/          root, 0711: other users may pass through, not list
        owner.pid          root, 0644
        kernel.log         root, 0600 (the kernel writes to the inherited descriptor)
        kernel-*.json      the connection file (the kernel's key): the uid, 0600
        probes-*.npz       the fresh inputs, one file per run of the notebook: the uid, 0600
        submission/ home/ tmp/ ipython/ results/   the uid, 0700

So a kernel can't list or open another's folder, signal another's processes, or write to the output, the
repository or the environment. ``probe`` first runs a small program as such a uid in a folder laid out like that;
if it fails, or the grader is not root, kernels run as the grader's user and the grader says so.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import secrets
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

UID_LOW, UID_HIGH = 2_000_000_000, 2_100_000_000  # where the map allows; else the top of the map
PRIVATE_DIRS = ("submission", "home", "tmp", "ipython", "results")
PROBE_TIMEOUT = 120.0
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")

PROBE_CODE = """\
import importlib.util, os, sys
import ipykernel.kernelapp  # noqa: F401  (zmq, IPython, ipykernel: what a kernel starts with)
for name in ("numpy", "torch", "matplotlib", "sklearn"):
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.origin:
        open(spec.origin, "rb").close()
root = sys.argv[1]
open(os.path.join(root, "helper_functions.py"), "rb").close()
open(os.path.join(os.environ["TMPDIR"], "probe"), "w").close()
print("ok", os.getuid())
"""


@dataclass(frozen=True)
class KernelUser:
    """The unprivileged account one submission's kernels run as (no passwd entry)."""

    uid: int
    gid: int

    @property
    def name(self) -> str:
        return f"grader-{self.uid}"

    def popen_kwargs(self) -> dict:
        """What ``subprocess.Popen`` (and so jupyter_client's launcher) needs to start a process as this user."""
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "umask": 0o077}


def _id_ranges(path: str) -> list[tuple[int, int]]:
    """The ids mapped in this user namespace (``/proc/self/uid_map``): [(first, last)]."""
    try:
        rows = [line.split() for line in Path(path).read_text().split("\n")]
    except OSError:
        return [(0, 2**32 - 2)]
    return [(int(row[0]), int(row[0]) + int(row[2]) - 1) for row in rows if len(row) == 3]


def _window() -> tuple[int, int] | None:
    """The range fresh ids are drawn from: mapped as both uid and gid, above every normal account."""

    def mapped(lo, hi, ranges):
        return [(max(lo, a), min(hi, b)) for a, b in ranges if max(lo, a) <= min(hi, b)]

    gids = _id_ranges("/proc/self/gid_map")
    both = [(a, b) for ua, ub in _id_ranges("/proc/self/uid_map") for a, b in mapped(ua, ub, gids)]
    high = [r for a, b in both for r in mapped(UID_LOW, UID_HIGH, [(a, b)])]
    if high:
        return max(high, key=lambda r: r[1] - r[0])
    # A small map (e.g. 65,536 ids in a rootless container): its top thousands, below 65534 ("nobody").
    best = max(both, key=lambda r: r[1], default=None)
    if best is None or best[1] < 10_000:
        return None
    hi = min(best[1], 65_000) if best[1] >= 65_534 and best[0] < 65_000 else best[1]
    lo = max(best[0], hi - 5_000, 10_000)
    return (lo, hi) if lo < hi else None


def new_user() -> KernelUser | None:
    """A fresh uid (= gid) no account and no running process uses; None if the user namespace has none."""
    window = _window()
    if window is None:
        return None
    used = set()
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            lines = Path(status).read_text().splitlines()
        except OSError:
            continue
        used.update(int(v) for line in lines if line.startswith(("Uid:", "Gid:")) for v in line.split()[1:])
    for _ in range(100):
        uid = window[0] + secrets.randbelow(window[1] - window[0] + 1)
        try:
            if uid not in used:
                pwd.getpwuid(uid)
        except KeyError:
            return KernelUser(uid, uid)
    return None


def make_private(folder: Path, user: KernelUser) -> None:
    """``folder`` and everything in it owned by ``user`` (mode 0700 for folders)."""
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, user.uid, user.gid)
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o700)


def make_private_all(root: Path, user: KernelUser) -> None:
    """The private folders of a scratch folder (``PRIVATE_DIRS``), handed to ``user``."""
    for name in PRIVATE_DIRS:
        (root / name).mkdir(exist_ok=True)
        make_private(root / name, user)


def give(path: Path, user: KernelUser | None) -> None:
    """One file the grader wrote (the connection file, a probes file), handed to ``user`` (mode 0600)."""
    if user is not None:
        os.chown(path, user.uid, user.gid)
        path.chmod(0o600)


def seed_matplotlib_cache(config_dir: Path, user: KernelUser) -> None:
    """Copy the grader's matplotlib font list into the kernel's config folder (saves ~1 s per kernel)."""
    config_dir.mkdir(exist_ok=True)
    try:
        import matplotlib

        for source in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
            shutil.copyfile(source, config_dir / source.name)
    except Exception:  # only a speed-up
        pass
    make_private(config_dir, user)


def remove_files_of(user: KernelUser) -> None:
    """Delete what ``user`` left directly in the shared temporary folders (its ids are fresh: all of it is its)."""
    for folder in dict.fromkeys([*SHARED_TMP, tempfile.gettempdir()]):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != user.uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass


def blocking_folder(*paths: Path) -> str:
    """The first folder on the way to ``paths`` that other users can't pass (no x bit for others), as a phrase."""
    for path in paths:
        path = Path(os.path.abspath(path))
        for folder in [*reversed(path.parents), path]:
            try:
                info = os.stat(folder)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_IXOTH:
                return f"{folder} (mode {stat.S_IMODE(info.st_mode):o}) can't be entered by other users"
    return ""


@dataclass
class Isolation:
    """Whether this batch's kernels run as users of their own, and why not."""

    enabled: bool
    reason: str = ""
    asked: bool = True  # False with --kernel-user off: no warning

    def describe(self) -> str:
        """One line for the grader's output; "WARNING: " first when isolation was asked for and is not possible."""
        if self.enabled:
            return ("each submission's kernel runs as its own unprivileged user (a fresh uid, no groups): "
                    "submissions graded at the same time can't signal each other's processes or read each other's "
                    "folders, and can't write to the output, the repository or the environment")
        try:
            me = pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            me = f"uid {os.getuid()}"
        warning = "WARNING: " if self.asked else ""
        return (f"{warning}kernels run as the grader's user ({me}), not isolated from each other or from the grader's "
                f"files: {self.reason}")


async def probe(mode: str, repo_root: Path, scratch_parent: Path, env_for) -> Isolation:
    """Can kernels run as users of their own here? ``env_for(scratch, user)`` gives the kernels' environment."""
    if mode == "off":
        return Isolation(False, "--kernel-user off", asked=False)
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return Isolation(False, "the grader is not running as root (only root can start processes as other users)")
    user = new_user()
    if user is None:
        return Isolation(False, "this user namespace maps no ids besides the grader's own (/proc/self/uid_map)")
    root = Path(tempfile.mkdtemp(prefix="grading-probe-", dir=scratch_parent))
    try:
        (root / "owner.pid").write_text(str(os.getpid()))  # so that a killed grader's probe folder is cleaned up
        root.chmod(0o711)
        make_private_all(root, user)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", PROBE_CODE, str(repo_root), cwd=str(root / "submission"),
                env=env_for(root, user), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, **user.popen_kwargs())
            try:
                out, err = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise
            if process.returncode == 0 and out.decode(errors="replace").split()[:2] == ["ok", str(user.uid)]:
                return Isolation(True)
            lines = err.decode(errors="replace").strip().splitlines()
            error = lines[-1] if lines else f"exit status {process.returncode}"
        except (OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            remove_files_of(user)
        where = blocking_folder(Path(sys.executable), Path(os.path.realpath(sys.executable)), Path(sys.prefix),
                                Path(sys.base_prefix), Path(repo_root), Path(scratch_parent))
        where = f": {where}" if where else ""
        return Isolation(False, f"a test process running as a fresh uid failed ({error}){where}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
