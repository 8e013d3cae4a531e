"""Write the measured figures of the README and the guides from the committed benchmark results.

    python -m tests.benchmarks.write_readme            # rewrite the generated blocks of every file in DOCUMENTS
    python -m tests.benchmarks.write_readme --check    # exit 1 (and show the diff) if one of them is stale

Every generated block sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in one of ``DOCUMENTS``; it
is replaced by what ``BLOCKS[NAME](results, current_block_text)`` makes of ``tests/benchmarks/results/``, nothing
outside the markers is touched. tests/test_readme_figures.py fails when a document and the results disagree; the
website's results page calls the same writers. Stdlib only: the site loads this file by its path.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import pathlib
import re
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCUMENTS = [README, ROOT / "docs" / "instructors.md", ROOT / "docs" / "contributing.md"]
RESULTS = ROOT / "tests" / "benchmarks" / "results"
MARKER = re.compile(r"<!-- (?P<name>[a-z0-9-]+):start -->\n(?P<body>.*?)<!-- (?P=name):end -->", flags=re.S)


# ---- reading the results files
def parse_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in ``text`` as a list of rows (header -> cell text)."""
    tables, lines, i = [], text.splitlines(), 0
    while i < len(lines) - 1:
        if lines[i].startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            header, rows, i = split_row(lines[i]), [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(header, split_row(lines[i]), strict=False)))
                i += 1
            tables.append(rows)
        else:
            i += 1
    return tables


def split_row(line: str) -> list[str]:
    """Cells of one Markdown table row (``\\|`` inside a cell stays)."""
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _find(pattern: str, text: str, group: int = 1) -> str:
    return re.search(pattern, text).group(group)


class NotebookTimes:
    """notebook_times.md: its command, date, machine, repeats, and ``rows``: notebook path (or "reference") -> row."""

    def __init__(self, text: str):
        self.command, self.date = _find(r"Command: `([^`]+)`", text), _find(r"- Date: (\S+)", text)
        self.machine, self.repeats = _find(r"- Machine: (.+)", text).strip(), int(_find(r"executed (\d+) time", text))
        self.rows = {"reference" if row["Notebook"].startswith("imports only") else row["Notebook"].strip("`"): row
                     for row in parse_tables(text)[0]}

    def seconds(self, notebook: str) -> str:
        return self.rows[notebook]["Median wall (s)"]  # "reference": the imports-only notebook


class SeedSweep:
    """seed_sweep.md: its seeds, date, machine, workers, duration, ``rows`` (the claims, with their notebook),
    ``run_times`` (notebook -> median seconds per seed) and ``extras`` (the measurements for information)."""

    def __init__(self, text: str):
        seeds = re.search(r"- Seeds: (.+?) \((\d+) per notebook\); date (\S+);", text)
        machine = re.search(r"- Machine: (.+?); (\d+) kernels at a time", text)
        self.seeds, self.n_seeds, self.date = seeds.group(1), int(seeds.group(2)), seeds.group(3)
        self.machine, self.workers = machine.group(1), int(machine.group(2))
        self.duration = float(_find(r"- Duration: ([\d.]+) s", text))
        self.rows, self.run_times, self.extras = [], {}, []
        for part in re.split(r"^## ", text, flags=re.M)[1:]:
            title, tables = part.splitlines()[0].strip(), parse_tables(part)
            if title.startswith("`"):
                notebook = title.strip("`")
                match = re.search(r"run time per seed: median ([\d.]+) s", part)
                if match:
                    self.run_times[notebook] = float(match.group(1))
                self.rows += [dict(row, notebook=notebook, Claim=row["Claim"].strip("`"), Bound=row["Bound"].strip("`"))
                              for row in (tables[0] if tables else [])]
            elif tables:
                self.extras = tables[0]


def holds(row: dict[str, str]) -> bool:
    return "✅" in row["Seeds holding"]


class Results:
    """The results folder, each file parsed on first use."""

    def __init__(self, folder: pathlib.Path = RESULTS):
        self.folder = pathlib.Path(folder)

    def text(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")

    @functools.cached_property
    def times(self) -> NotebookTimes:
        return NotebookTimes(self.text("notebook_times.md"))

    @functools.cached_property
    def sweep(self) -> SeedSweep:
        return SeedSweep(self.text("seed_sweep.md"))


# ---- the blocks
def _solutions_of(notebook: str, names) -> str | None:
    stem = pathlib.PurePath(notebook).stem
    return next((n for n in names if n.startswith("solutions/") and pathlib.PurePath(n).stem == f"{stem}_solutions"),
                None)


def _machine_words(machine: str) -> str:
    """"2 cores, AMD EPYC 7B13" -> "2-core AMD EPYC 7B13"."""
    match = re.match(r"(\d+) cores, (.+)", machine)
    return f"{match.group(1)}-core {match.group(2)}" if match else machine


def notebook_table(results: Results, current: str) -> str:
    """The students' table of notebooks as it stands, with its last column (run time, "about 9 s") generated, and
    a footnote that says where the seconds come from."""
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
            solutions = _solutions_of(match.group(1), times.rows)
            text = about(match.group(1)) + (f"; solutions {about(solutions)}" if solutions else "")
            head = line.rstrip().rstrip("|").rstrip()
            line = f"{head[: head.rfind('|') + 1]} {text} |"
        out.append(line)
    out += ["", f"\\* How long the computer takes to run the notebook top to bottom in a fresh kernel: the median of "
            f"{times.repeats} runs on a {_machine_words(times.machine)} CPU, like a laptop's, on {times.date} (about "
            f"{round(float(times.seconds('reference')))} s of it is starting Python and importing torch). Reading and "
            "doing the lesson takes you far longer."]
    return "\n".join(out) + "\n"


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


def is_accuracy_claim(row: dict[str, str]) -> bool:
    """A claim that a model reaches an accuracy: ``<name with acc> >= <number>``."""
    match = re.match(r"(?:assert )?(.+?) >=? ([\d.]+)\b", row["Claim"])
    return bool(match) and "acc" in match.group(1) and re.fullmatch(r">=? [\d.]+", row["Bound"]) is not None


def _seed_words(sweep: SeedSweep) -> str:
    return f"{sweep.n_seeds} seeds, {sweep.seeds}" if sweep.n_seeds > 1 else f"seed {sweep.seeds}"


def seed_table(results: Results, current: str) -> str:
    sweep = results.sweep
    commit = re.search(r"notebooks at commit (\S+)", results.text("seed_sweep.md"))
    partial = ("" if sweep.n_seeds >= 20 else
               " (The committed results are a shorter run than the full sweep of seeds 0–19, "
               "`python -m tests.benchmarks.seed_sweep`.)")
    lines = [
        f"Every claim the notebooks assert was also checked for **{_seed_words(sweep)}**, not just the committed "
        "`SEED = 42`: `tests/benchmarks/seed_sweep.py` ran each notebook once per seed with its `parameters` cell "
        "set to that seed and nothing else changed, and recorded every `assert` (and every exercise check). "
        f"**{sum(map(holds, sweep.rows))} of {len(sweep.rows)} claims held for every seed** (notebooks at commit "
        f"{f'`{commit.group(1)}`' if commit else 'unknown'}).{partial} The accuracy claims, lowest and median over "
        "the seeds:",
        "",
        f"| Notebook | Section | Claim | Threshold | Lowest of {sweep.n_seeds} | Median | Seeds holding |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in filter(is_accuracy_claim, sweep.rows):
        claim = re.sub(r"^assert ", "", row["Claim"]).split(", ")[0].split("  #")[0]
        lines.append(f"| {_short(row['notebook'])} | {row['Section']} | `{claim}` | {row['Bound'].replace('>=', '≥')}"
                     f" | {row['Min']} | {row['Median']} | {row['Seeds holding']} |")
    failing = [row for row in sweep.rows if not holds(row)]
    if failing:
        lines += ["", "Claims that failed for some seed:", ""]
        for row in failing:
            seeds = re.findall(r"(?:^|; )(\d+) \(", row["Failing seeds (value)"])
            first = re.match(r"\d+ \((.*)\)$", row["Failing seeds (value)"].split("; ")[0])
            why = first.group(1) if first else row["Failing seeds (value)"]
            why = why if len(why) <= 110 else why[:107] + "..."
            lines.append(f"- {_short(row['notebook'])}, cell {row['Cell']}: `{row['Claim']}` (bound `{row['Bound']}`) "
                         f"fails for seed{'s' if len(seeds) != 1 else ''} {', '.join(seeds)}: {why}")
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


def seed_sweep_duration(results: Results, current: str) -> str:
    """How long the committed sweep took, how loaded the machine was, and the time for seeds 0-19.

    The load is the ratio of the sweep's median run time per notebook and seed to the notebook's median in the
    run-time table (measured one at a time on a quiet machine); the estimates scale the measured duration by
    20 / seeds and, for a quiet machine, by 1 / that ratio.
    """
    sweep, times = results.sweep, results.times
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
    return text + ".\n"


def repeat_runs(results: Results, current: str) -> str:
    text = results.text("repeat_runs.md")
    green, runs, median = re.search(r"\*\*(\d+) of (\d+) runs green\*\*; wall time per run: median (\d+) s",
                                    text).groups()
    offline = "offline (unshare" in text
    return (f"On {_find(r'- Date: ([0-9-]+)', text)} the full test suite of that day passed {green} of {runs} times "
            f"in a row{' with the network switched off' if offline else ''} (median {median} s per run on that "
            "machine; `tests/benchmarks/repeat_runs.py` re-measures it)"
            + (": nothing in the lesson downloads anything" if offline else "") + ".\n")


def playground_times(results: Results, current: str) -> str:
    """tests/benchmarks/results/playground_times.md: how it was measured, then the CPU figures of its table."""
    text = results.text("playground_times.md")
    facts = dict(re.findall(r"^- (Date|Machine|Grid): (.+)$", text, flags=re.M))
    lines = [
        f"The playground's live frame (a few epochs of training, then the redraw) and one training epoch, "
        f"median CPU milliseconds (one torch thread) measured by `python tests/benchmarks/playground_times.py` "
        f"on {facts['Date']} ({facts['Machine']}); wall-clock figures, which grow when other work shares the "
        f"machine, are in `tests/benchmarks/results/playground_times.md`. Grid {facts['Grid']}.", "",
        "| Network | ms per epoch | ms per frame | epochs per frame |", "|---|---:|---:|---:|",
    ]
    lines += [f"| {r['Network']} | {r['CPU ms per epoch']} | {r['CPU ms per frame']} | {r['epochs per frame']} |"
              for r in parse_tables(text)[0]]
    return "\n".join(lines) + "\n"


def doctor_benchmark(results: Results, current: str) -> str:
    """The network doctor's benchmark, from ``doctor.json``: one paragraph and a compact table."""
    data = json.loads(results.text("doctor.json"))
    s, meta, cases = data["summary"], data["meta"], data["cases"]
    text = (f"The network doctor (`diagnose`) named {s['found']} of {s['planted']} planted bugs "
            f"({100 * s['recall']:.0f}%) and raised {s['false_alarms']} false alarms on {s['healthy']} healthy "
            f"setups ({len({r['name'] for r in cases if r['expect']})} bugs and "
            f"{len({r['name'] for r in cases if not r['expect']})} healthy setups written as students write them, "
            f"each for {len({r['seed'] for r in cases})} seeds); its slowest call took {s['slowest_seconds']:.2f} s "
            f"({meta['date']}, {meta['machine']}, under load; `python -m tests.benchmarks.doctor_benchmark` "
            "re-measures it, `tests/benchmarks/results/doctor.md` lists every case).\n\n")
    rows = ["| Code | Named / planted |", "|---|---:|"]
    rows += [f"| `{code}` | {v['found']} / {v['planted']} |" for code, v in s["per_code"].items()]
    return text + "\n".join(rows) + "\n"


BLOCKS = {"notebook-table": notebook_table, "run-times": run_times, "seed-table": seed_table,
          "seed-sweep-duration": seed_sweep_duration, "repeat-runs": repeat_runs, "playground-times": playground_times,
          "doctor-benchmark": doctor_benchmark}


# ---- writing
def wrap(markdown: str, width: int = 100) -> str:
    """Wrap the prose paragraphs of ``markdown`` at ``width``; tables, lists and blank lines stay as they are."""
    return "\n\n".join(
        paragraph if paragraph.startswith(("|", "- ", "```")) or "\n|" in paragraph
        else textwrap.fill(paragraph, width=width, break_long_words=False, break_on_hyphens=False)
        for paragraph in markdown.split("\n\n"))


def render(readme: str, results: Results | None = None) -> str:
    """``readme`` with every generated block rewritten from ``results``."""
    results = results or Results()

    def replace(match):
        name = match.group("name")
        if name not in BLOCKS:
            raise LookupError(f"README block {name}: no writer registered in {pathlib.Path(__file__).name}")
        text = wrap(BLOCKS[name](results, match.group("body")).rstrip("\n")) + "\n"
        return f"<!-- {name}:start -->\n{text}<!-- {name}:end -->"

    return MARKER.sub(replace, readme)


def block_names(readme: str) -> list[str]:
    return [match.group("name") for match in MARKER.finditer(readme)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 with a diff if a file is stale")
    parser.add_argument("--file", type=pathlib.Path, action="append", help="a document to write (default: DOCUMENTS)")
    args = parser.parse_args(argv)
    stale = []
    for path in args.file or DOCUMENTS:
        current = path.read_text(encoding="utf-8")
        new = render(current)
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
