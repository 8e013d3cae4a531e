"""Write the measured figures of the README and the guides from the committed benchmark results.

One command (from the repository root)::

    python -m tests.benchmarks.write_readme            # rewrite the generated blocks of every file in DOCUMENTS
    python -m tests.benchmarks.write_readme --check    # exit 1 (and show the diff) if one of them is stale

Every generated block sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in one of ``DOCUMENTS``
(README.md for students, the guides in docs/); the text between the markers is replaced by what the writer
registered for NAME returns, computed from the Markdown files in ``tests/benchmarks/results/`` (written by the
benchmark scripts next to this file). Nothing outside the markers is touched. A default-run test
(tests/test_readme_figures.py) fails when a document and the results disagree. The website's results page
(docs/results.md) calls the same writers when it is built.

Adding a block: decorate a function ``f(results: Results, current: str) -> str`` with ``@block("NAME")`` and put the two
markers into a document. A block can also live with the benchmark that measures it: list it in
``EXTERNAL_BLOCKS`` as NAME -> (module path, function name); the function is called with the results folder
(a ``pathlib.Path``) and returns the block's Markdown. It is only needed when a document has NAME's markers.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import pathlib
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The files whose generated blocks this script writes (a block may live in any of them).
DOCUMENTS = [README, ROOT / "docs" / "instructors.md", ROOT / "docs" / "contributing.md"]
RESULTS = ROOT / "tests" / "benchmarks" / "results"
MARKER = re.compile(r"<!-- (?P<name>[a-z0-9-]+):start -->\n(?P<body>.*?)<!-- (?P=name):end -->", flags=re.S)

# Blocks whose writer lives with another benchmark: NAME -> (file relative to the root, function name).
EXTERNAL_BLOCKS = {
    "playground-times": ("tests/benchmarks/playground_times.py", "readme_block"),
    "doctor-benchmark": ("tests/benchmarks/doctor_benchmark.py", "readme_block"),
}

BLOCKS: dict[str, Callable[[Results, str], str]] = {}


def block(name: str):
    """Register ``function(results, current_block_text) -> Markdown`` as the writer of README block ``name``."""

    def register(function):
        BLOCKS[name] = function
        return function

    return register


# --------------------------------------------------------------------------
# Reading the results files
# --------------------------------------------------------------------------
def parse_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in ``text`` as a list of rows (header -> cell text)."""
    tables, lines = [], text.splitlines()
    i = 0
    while i < len(lines) - 1:
        if lines[i].startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            header = split_row(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = split_row(lines[i])
                rows.append(dict(zip(header, cells, strict=False)))
                i += 1
            tables.append(rows)
        else:
            i += 1
    return tables


def split_row(line: str) -> list[str]:
    """Cells of one Markdown table row (``\\|`` inside a cell stays)."""
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


@dataclass
class NotebookTimes:
    """tests/benchmarks/results/notebook_times.md."""

    command: str
    date: str
    machine: str
    repeats: int
    rows: dict[str, dict[str, str]]  # notebook path (or "reference") -> row

    @classmethod
    def parse(cls, text: str) -> NotebookTimes:
        command = re.search(r"Command: `([^`]+)`", text).group(1)
        date = re.search(r"- Date: (\S+)", text).group(1)
        machine = re.search(r"- Machine: (.+)", text).group(1).strip()
        repeats = int(re.search(r"executed (\d+) time", text).group(1))
        rows = {}
        for row in parse_tables(text)[0]:
            name = row["Notebook"].strip("`")
            rows["reference" if name.startswith("imports only") else name] = row
        return cls(command, date, machine, repeats, rows)

    def ratio(self, notebook: str) -> str:
        return self.rows[notebook]["Ratio to reference"].replace("x", "×")

    def seconds(self, notebook: str) -> str:
        return self.rows[notebook]["Median wall (s)"]  # "reference": the imports-only notebook


@dataclass
class SweepRow:
    notebook: str
    section: str
    cell: str
    claim: str
    low: str
    median: str
    high: str
    bound: str
    holding: str
    failing: str

    @property
    def holds(self) -> bool:
        return "✅" in self.holding


@dataclass
class SeedSweep:
    """tests/benchmarks/results/seed_sweep.md."""

    command: str
    seeds: str
    n_seeds: int
    date: str
    machine: str
    workers: int
    duration: float
    rows: list[SweepRow]
    run_times: dict[str, float]  # notebook -> median seconds per seed
    extras: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> SeedSweep:
        command = re.search(r"Command: `([^`]+)`", text).group(1)
        seeds_line = re.search(r"- Seeds: (.+?) \((\d+) per notebook\); date (\S+);", text)
        machine = re.search(r"- Machine: (.+?); (\d+) kernels at a time", text)
        duration = float(re.search(r"- Duration: ([\d.]+) s", text).group(1))
        rows, run_times, extras = [], {}, []
        for part in re.split(r"^## ", text, flags=re.M)[1:]:
            title = part.splitlines()[0].strip()
            tables = parse_tables(part)
            if title.startswith("`"):
                notebook = title.strip("`")
                match = re.search(r"run time per seed: median ([\d.]+) s", part)
                if match:
                    run_times[notebook] = float(match.group(1))
                for row in tables[0] if tables else []:
                    rows.append(SweepRow(notebook, row["Section"], row["Cell"], row["Claim"].strip("`"), row["Min"],
                                         row["Median"], row["Max"], row["Bound"].strip("`"), row["Seeds holding"],
                                         row["Failing seeds (value)"]))
            elif tables:
                extras = tables[0]
        return cls(command, seeds_line.group(1), int(seeds_line.group(2)), seeds_line.group(3), machine.group(1),
                   int(machine.group(2)), duration, rows, run_times, extras)


@dataclass
class RepeatRuns:
    """tests/benchmarks/results/repeat_runs.md."""

    green: int
    runs: int
    median: int
    offline: bool
    date: str

    @classmethod
    def parse(cls, text: str) -> RepeatRuns:
        match = re.search(r"\*\*(\d+) of (\d+) runs green\*\*; wall time per run: median (\d+) s", text)
        date = re.search(r"- Date: ([0-9-]+)", text).group(1)
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)), "offline (unshare" in text, date)


class Results:
    """The results folder, each file parsed on first use."""

    def __init__(self, folder: pathlib.Path = RESULTS):
        self.folder = folder
        self._cache = {}

    def text(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")

    def _parsed(self, name, kind):
        if name not in self._cache:
            self._cache[name] = kind.parse(self.text(name))
        return self._cache[name]

    @property
    def times(self) -> NotebookTimes:
        return self._parsed("notebook_times.md", NotebookTimes)

    @property
    def sweep(self) -> SeedSweep:
        return self._parsed("seed_sweep.md", SeedSweep)

    @property
    def repeats(self) -> RepeatRuns:
        return self._parsed("repeat_runs.md", RepeatRuns)


# --------------------------------------------------------------------------
# The blocks
# --------------------------------------------------------------------------
def _solutions_of(notebook: str, names) -> str | None:
    stem = pathlib.PurePath(notebook).stem
    return next((n for n in names if n.startswith("solutions/") and pathlib.PurePath(n).stem == f"{stem}_solutions"),
                None)


@block("notebook-table")
def notebook_table(results: Results, current: str) -> str:
    """The students' table of notebooks: the rest of the table is kept, its last column (run time) is generated, in
    seconds ("about 9 s"; ratios are for contributors), and a footnote says where the seconds come from."""
    times = results.times
    lines = [line for line in current.rstrip("\n").splitlines() if line.startswith("|")]
    header = split_row(lines[0]) if lines else []
    if not header or not header[-1].startswith("Run time"):
        raise ValueError(f"block notebook-table: its last column should be 'Run time...', not {header[-1:]}")

    def about(notebook):
        return f"about {round(float(times.seconds(notebook)))} s"

    out = []
    for line in lines:
        match = re.search(r"\[`([^`]+\.ipynb)`\]", line)
        if match and match.group(1) in times.rows:
            notebook = match.group(1)
            text = about(notebook)
            solutions = _solutions_of(notebook, times.rows)
            if solutions:
                text += f"; solutions {about(solutions)}"
            head = line.rstrip().rstrip("|").rstrip()
            line = f"{head[: head.rfind('|') + 1]} {text} |"
        out.append(line)
    out += ["", f"\\* How long the computer takes to run the notebook top to bottom in a fresh kernel: the median of "
            f"{times.repeats} runs on a {_machine_words(times.machine)} CPU, like a laptop's, on {times.date} (about "
            f"{round(float(times.seconds('reference')))} s of it is starting Python and importing torch). Reading and "
            "doing the lesson takes you far longer."]
    return "\n".join(out) + "\n"


def _machine_words(machine: str) -> str:
    """"2 cores, AMD EPYC 7B13" -> "2-core AMD EPYC 7B13"."""
    match = re.match(r"(\d+) cores, (.+)", machine)
    return f"{match.group(1)}-core {match.group(2)}" if match else machine


@block("run-times")
def run_times(results: Results, current: str) -> str:
    times = results.times
    reference = times.rows["reference"]
    lines = [
        f"Measured on a {_machine_words(times.machine)}, CPU only, one torch thread per notebook, on {times.date}, "
        f"with `{times.command}`. Times are the median of {times.repeats} runs of each notebook top to bottom in "
        "a fresh kernel, **including the kernel start**, and are given as a ratio to a notebook that only imports "
        f"torch, NumPy, scikit-learn and matplotlib ({reference['Median wall (s)']} s on that machine): the ratio "
        "carries over to other machines far better than the seconds do. Peak memory is the kernel process's peak "
        "resident set size.",
        "",
        "| Notebook | Run time (× imports only) | Seconds on that machine | Peak memory | Budget |",
        "|---|---:|---:|---:|---|",
    ]
    for name, row in times.rows.items():
        if name == "reference":
            continue
        label = f"`{name}`" + (" (unsolved)" if _solutions_of(name, times.rows) else "")
        budget = row["Budget"].replace("✅", "").replace("❌", "(missed)").strip()
        lines.append(f"| {label} | {row['Ratio to reference']} | {row['Median wall (s)']} s | "
                     f"{row['Peak RSS (MiB)']} MiB | {budget} |")
    lines.append(f"| imports only (reference) | 1.0x | {reference['Median wall (s)']} s | "
                 f"{reference['Peak RSS (MiB)']} MiB | |")
    return "\n".join(lines) + "\n"


def _short(notebook: str) -> str:
    """"01_neural_networks_theory.ipynb" -> "01 theory"; solutions -> "solutions"."""
    if notebook.startswith("solutions/"):
        return "solutions"
    stem = pathlib.PurePath(notebook).stem
    match = re.match(r"(\d+)_neural_networks_(.+)", stem)
    return f"{match.group(1)} {match.group(2).replace('_', ' ')}" if match else stem


def is_accuracy_claim(row: SweepRow) -> bool:
    """A claim that a model reaches an accuracy: ``<name with acc> >= <number>``."""
    match = re.match(r"(?:assert )?(.+?) >=? ([\d.]+)\b", row.claim)
    return bool(match) and "acc" in match.group(1) and re.fullmatch(r">=? [\d.]+", row.bound) is not None


def _seed_words(sweep: SeedSweep) -> str:
    return f"{sweep.n_seeds} seeds, {sweep.seeds}" if sweep.n_seeds > 1 else f"seed {sweep.seeds}"


@block("seed-table")
def seed_table(results: Results, current: str) -> str:
    sweep = results.sweep
    holding = sum(row.holds for row in sweep.rows)
    accuracy = [row for row in sweep.rows if is_accuracy_claim(row)]
    partial = ("" if sweep.n_seeds >= 20 else
               " (The committed results are a shorter run than the full sweep of seeds 0–19, "
               "`python tests/benchmarks/seed_sweep.py`.)")
    lines = [
        f"Every claim the notebooks assert was also checked for **{_seed_words(sweep)}**, not just the committed "
        "`SEED = 42`: `tests/benchmarks/seed_sweep.py` ran each notebook once per seed with its `parameters` cell "
        "set to that seed and nothing else changed, and recorded every `assert` (and every exercise check). "
        f"**{holding} of {len(sweep.rows)} claims held for every seed** (notebooks at commit "
        f"{_commit(results)}).{partial} The accuracy claims, lowest and median over the seeds:",
        "",
        f"| Notebook | Section | Claim | Threshold | Lowest of {sweep.n_seeds} | Median | Seeds holding |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in accuracy:
        claim = re.sub(r"^assert ", "", row.claim).split(", ")[0].split("  #")[0]
        threshold = row.bound.replace(">=", "≥")
        lines.append(f"| {_short(row.notebook)} | {row.section} | `{claim}` | {threshold} | {row.low} | "
                     f"{row.median} | {row.holding} |")
    failing = [row for row in sweep.rows if not row.holds]
    if failing:
        lines += ["", "Claims that failed for some seed:", ""]
        for row in failing:
            seeds = re.findall(r"(?:^|; )(\d+) \(", row.failing)
            first = re.match(r"\d+ \((.*)\)$", row.failing.split("; ")[0])
            why = first.group(1) if first else row.failing
            why = why if len(why) <= 110 else why[:107] + "..."
            lines.append(f"- {_short(row.notebook)}, cell {row.cell}: `{row.claim}` (bound `{row.bound}`) fails for "
                         f"seed{'s' if len(seeds) != 1 else ''} {', '.join(seeds)}: {why}")
    for extra in sweep.extras:
        if "split following the seed" in extra.get("Measurement", ""):
            lines += ["", f"Iris (exercise 10) has 150 flowers, so its test set has 30, and one mistake costs 0.033. "
                      "The solution keeps the Iris split fixed (`IRIS_SPLIT_SEED`) and the seed varies the model; "
                      f"with the split following the seed too, the same notebook scores {extra['Min']} to "
                      f"{extra['Max']} (median {extra['Median']}) over the seeds. The student's bar for Iris is "
                      "lower than the solution's."]
    lines += ["", f"All {len(sweep.rows)} claims, with the seeds that fail and their values, and the extra "
              "measurements: `tests/benchmarks/results/seed_sweep.md`."]
    return "\n".join(lines) + "\n"


def _commit(results: Results) -> str:
    match = re.search(r"notebooks at commit (\S+)", results.text("seed_sweep.md"))
    return f"`{match.group(1)}`" if match else "unknown"


def sweep_duration_text(sweep: SeedSweep, times: NotebookTimes) -> str:
    """How long the committed sweep took, how loaded the machine was, and the time for seeds 0-19.

    The load is the ratio of the sweep's median run time per notebook and seed to the notebook's median in the
    run-time table (measured one at a time on a quiet machine); the estimates scale the measured duration by
    20 / seeds and, for a quiet machine, by 1 / that ratio.
    """
    common = [n for n in sweep.run_times if n in times.rows]
    slowdown = (sum(sweep.run_times[n] for n in common) / sum(float(times.seconds(n)) for n in common)
                if common else None)
    text = (f"The committed run ({_seed_words(sweep)}, {sweep.workers} kernels at a time on {sweep.machine}, "
            f"{sweep.date}) took {sweep.duration:.0f} s ({sweep.duration / 60:.1f} min)")
    if slowdown is not None:
        text += (f"; each notebook ran {slowdown:.1f}× as long as in the run-time table"
                 + (" (other work on the machine)" if slowdown > 1.5 else ""))
    full = sweep.duration * 20 / sweep.n_seeds
    if sweep.n_seeds != 20:
        text += f". Seeds 0–19 cost 20 / {sweep.n_seeds} of that: about {full / 60:.0f} min on that machine"
    if slowdown is not None and slowdown > 1.5:
        text += f", about {full / slowdown / 60:.0f} min on a quiet one"
    return text + "."


@block("seed-sweep-duration")
def seed_sweep_duration(results: Results, current: str) -> str:
    return sweep_duration_text(results.sweep, results.times) + "\n"


@block("repeat-runs")
def repeat_runs(results: Results, current: str) -> str:
    runs = results.repeats
    where = " with the network switched off" if runs.offline else ""
    text = (f"On {runs.date} the full test suite of that day passed {runs.green} of {runs.runs} times in a row{where} "
            f"(median {runs.median} s per run on that machine; `tests/benchmarks/repeat_runs.py` re-measures it)")
    if runs.offline:
        text += ": nothing in the lesson downloads anything"
    return text + ".\n"


def _external(name: str, results: Results, current: str) -> str:
    path, function = EXTERNAL_BLOCKS[name]
    spec = importlib.util.spec_from_file_location(f"_readme_block_{name.replace('-', '_')}", ROOT / path)
    if spec is None or not (ROOT / path).exists():
        raise LookupError(f"README block {name}: {path} does not exist")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, function):
        raise LookupError(f"README block {name}: {path} has no {function}(results_folder)")
    text = getattr(module, function)(results.folder)
    return text if text.endswith("\n") else text + "\n"


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
def wrap(markdown: str, width: int = 100) -> str:
    """Wrap the prose paragraphs of ``markdown`` at ``width``; tables, lists and blank lines stay as they are."""
    out = []
    for paragraph in markdown.split("\n\n"):
        if paragraph.startswith(("|", "- ", "```")) or "\n|" in paragraph:
            out.append(paragraph)
        else:
            out.append(textwrap.fill(paragraph, width=width, break_long_words=False, break_on_hyphens=False))
    return "\n\n".join(out)


def render(readme: str, results: Results | None = None) -> str:
    """README text with every generated block rewritten from ``results``."""
    results = results or Results()

    def replace(match):
        name, body = match.group("name"), match.group("body")
        if name in BLOCKS:
            text = BLOCKS[name](results, body)
        elif name in EXTERNAL_BLOCKS:
            text = _external(name, results, body)
        else:
            raise LookupError(f"README block {name}: no writer registered in {pathlib.Path(__file__).name}")
        text = wrap(text.rstrip("\n")) + "\n"
        return f"<!-- {name}:start -->\n{text}<!-- {name}:end -->"

    return MARKER.sub(replace, readme)


def block_names(readme: str) -> list[str]:
    return [match.group("name") for match in MARKER.finditer(readme)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 with a diff if a file is stale")
    parser.add_argument("--file", type=pathlib.Path, action="append", help="a document to write (default: DOCUMENTS)")
    parser.add_argument("--results", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    stale = []
    for path in args.file or DOCUMENTS:
        current = path.read_text(encoding="utf-8")
        new = render(current, Results(args.results))
        names = ", ".join(block_names(current)) or "no blocks"
        if new == current:
            print(f"{path.name} agrees with the results ({names}).")
        elif args.check:
            stale.append(path)
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), new.splitlines(True), path.name,
                                                       f"{path.name} (from the results)"))
        else:
            path.write_text(new, encoding="utf-8")
            print(f"Rewrote {path} ({names}).")
    if stale:
        print(f"\n{', '.join(p.name for p in stale)} disagree with tests/benchmarks/results/: "
              "run python tests/benchmarks/write_readme.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
