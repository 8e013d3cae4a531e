"""What the benchmark scripts share: the machine's description, the command line and the Markdown they write."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import platform
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "benchmarks" / "results"


def cpu() -> str:
    """The core count and the CPU's model name, e.g. ``2 cores, AMD EPYC 7B13``."""
    try:
        names = re.findall(r"^model name\s*:\s*(.+)$", pathlib.Path("/proc/cpuinfo").read_text(), flags=re.M)
    except OSError:
        names = []
    return f"{os.cpu_count()} cores, {names[0].strip() if names else platform.processor() or platform.machine()}"


def device() -> str:
    """The device the notebooks pick (``helper_functions.get_device``): ``cpu`` or ``cuda (<GPU name>)``."""
    import torch

    from helper_functions import get_device

    kind = get_device().type
    return f"cuda ({torch.cuda.get_device_name(0)})" if kind == "cuda" else kind


def load() -> str:
    """The 1-minute load average, e.g. ``1.3`` (``unknown`` where the system has none)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def command(module: str, argv: list[str] | None) -> str:
    """The command line that ran ``tests.benchmarks.<module>`` with ``argv`` (default: this process's)."""
    return " ".join([f"python -m tests.benchmarks.{module}", *(sys.argv[1:] if argv is None else argv)])


def header(title: str, command_line: str, versions: str) -> list[str]:
    """A results file's first lines: title, command, date, machine, and Python's and torch's versions + ``versions``."""
    import torch

    return [f"# {title}", "", f"Command: `{command_line}`", "", f"- Date: {dt.date.today().isoformat()}",
            f"- Machine: {cpu()}", f"- Python {platform.python_version()}, torch {torch.__version__}, {versions}"]


def table(columns: list[str], rows) -> list[str]:
    """A Markdown table's lines; a column whose name ends in ``:`` is right-aligned (the colon is not shown)."""
    lines = ["| " + " | ".join(name.rstrip(":") for name in columns) + " |",
             "|" + "".join("---:|" if name.endswith(":") else "---|" for name in columns)]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]


def write(path: pathlib.Path, text: str) -> None:
    """Print a report and write it to ``path``."""
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"Written to {path}")
