"""Run the lesson's real notebooks with other seeds and report every claim they assert.

    python -m tests.benchmarks.seed_sweep [--seeds 0-19] [--workers N] [--only NAME ...] [--out FILE]

For each notebook and seed, a copy with its ``parameters`` cell replaced by ``SEED = <seed>`` and nothing else
changed runs in a fresh kernel in a scratch folder, errors allowed so that every claim is tried. In the copy every
``assert`` records what it compared (a comparison: value, bound, verdict; each part of an ``and`` chain, later parts
"not evaluated" after a failing one; ``all(a < b for ...)``: the element closest to failing; anything else:
pass/fail) and still raises; every exercise ``check(n, globals())`` records its status and points, expected to be
what the committed notebook printed; an assert in a loop or function is one claim per message or loop variable.
``EXTRAS`` and ``VARIANTS`` add measurements for information. Exit status 1 when a claim fails for any seed or a
cell raises where the committed notebook does not. Only the full default run writes
``tests/benchmarks/results/seed_sweep.md``. The sweep trains nothing itself.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import collections
import datetime as dt
import json
import os
import pathlib
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass, field

import nbformat

from tests import lesson
from tests.benchmarks.common import RESULTS, command, device, table, write
from tests.kernel_env import kernel_env
from tests.lesson import ROOT
from tests.tools.run_notebook import execute, scratch

DEFAULT_OUT = RESULTS / "seed_sweep.md"
DEFAULT_SEEDS = "0-19"
NOTEBOOKS = list(lesson.NOTEBOOKS)

# Evaluated in the kernel after the notebook's last cell, for information: values that a check tests inside
# `check` (its bound stays in tests/exercises/; its status and points are claims of the main table).
EXTRAS = {
    lesson.SOLUTIONS: [
        ("ex. 11: best final validation accuracy (criterion of check(11))",
         'max(float(row["val_acc"]) for row in results_optimizers.values())'),
        ("ex. 12: training accuracy without regularization (criterion of check(12))",
         'float(results_regularization["none"]["train_acc"])'),
        ("ex. 12: train-validation gap without regularization (criterion of check(12))",
         'float(results_regularization["none"]["gap"])'),
    ],
}


# A second run of ``notebook`` with ``name = SEED`` instead of ``name = <number>``, up to the first cell from there
# on that asserts something; that cell's claims are reported for information.
Variant = collections.namedtuple("Variant", "title notebook name")
VARIANTS = [Variant("Iris (ex. 10) with the split following the seed too", lesson.SOLUTIONS, "IRIS_SPLIT_SEED")]

COMPARE_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
STATUS_MARKERS = {"✅": "passed", "⏳": "not attempted", "❌": "failed"}

# Runs inside each kernel (first cell of the copy). Stdlib only; names start with _sweep so that no notebook
# name is shadowed.
RECORDER = r'''
import json as _sweep_json
import operator as _sweep_operator


class _SweepRecorder:
    OPS = {"<": _sweep_operator.lt, "<=": _sweep_operator.le, ">": _sweep_operator.gt, ">=": _sweep_operator.ge,
           "==": _sweep_operator.eq, "!=": _sweep_operator.ne}

    def __init__(self, path):
        self.path = path

    @staticmethod
    def plain(value):
        if isinstance(value, (bool, int, float, str)) or value is None:
            return value
        try:
            return float(value)  # 0-d tensors, NumPy scalars
        except Exception:
            return repr(value)[:80]

    def write(self, **record):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(_sweep_json.dumps(record) + "\n")

    def label(self, make):
        try:
            return str(make())[:60]
        except Exception as error:
            return f"(label raised {type(error).__name__})"

    def compare(self, claim, part, label, left, right, verdict):
        ok = bool(verdict)
        self.write(claim=claim, part=part, label=label, value=self.plain(left), bound=self.plain(right), ok=ok)
        return ok

    def compare_all(self, claim, part, label, op, pairs):
        pairs = list(pairs)
        ok = all(self.OPS[op](left, right) for left, right in pairs)
        try:
            numeric = [(float(left), float(right)) for left, right in pairs]
        except Exception:
            numeric = []
        if op in ("<", "<="):
            closest = max(numeric, key=lambda lr: lr[0] - lr[1], default=None)
        elif op in (">", ">="):
            closest = min(numeric, key=lambda lr: lr[0] - lr[1], default=None)
        else:
            closest = ([lr for lr in numeric if not self.OPS[op](*lr)] or numeric or [None])[0]
        return self.compare(claim, part, label, *(closest or (None, None)), ok)

    def skip(self, claim, part, label):
        self.write(claim=claim, part=part, label=label, skipped=True)

    def exercise(self, claim, result):
        self.write(claim=claim, part=0, label=None, status=str(getattr(result, "status", "?")),
                   value=self.plain(getattr(result, "points", None)), message=str(getattr(result, "message", ""))[:200])
        return result

    def extra(self, name, make):
        try:
            self.write(extra=name, value=self.plain(make()))
        except Exception as error:
            self.write(extra=name, value=None, error=f"{type(error).__name__}: {error}"[:200])


_sweep_rec = _SweepRecorder(__SWEEP_RECORDS__)
'''


# ---- claims and instrumentation
@dataclass
class Part:
    """One recorded part of an assert: its source, and how its verdict is recorded."""

    source: str
    kind: str  # "compare", "all", "verdict" or "check"
    op: str | None = None
    bound_source: str | None = None


@dataclass
class Claim:
    """One assert (or exercise check) of a notebook, found before the notebook runs."""

    key: str  # "c<code cell>:<line>"
    notebook: str
    section: str
    code_cell: int
    line: int
    source: str
    parts: list[Part] = field(default_factory=list)
    in_loop: bool = False
    expected_status: str | None = None  # exercise checks: the status the committed notebook shows


def _is_constant(node: ast.AST) -> bool:
    """A literal number, e.g. ``0.99`` or ``-1``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _simple_compare(node: ast.AST) -> tuple[ast.AST, str, ast.AST] | None:
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE_OPS:
        return node.left, COMPARE_OPS[type(node.ops[0])], node.comparators[0]
    return None


def _all_of_compare(node: ast.AST):
    """``all(L op R for ...)`` -> (generator node, L, op, R), else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "all"
            and len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.GeneratorExp)):
        compare = _simple_compare(node.args[0].elt)
        if compare:
            return (node.args[0], *compare)
    return None


def _loop_label(loops: list[ast.AST]) -> str | None:
    """Source of the innermost loop's first target name (the label of a claim in a loop)."""
    for loop in reversed(loops):
        if isinstance(loop, (ast.For, ast.AsyncFor)):
            for node in ast.walk(loop.target):
                if isinstance(node, ast.Name):
                    return node.id
    return None


class _Instrument(ast.NodeTransformer):
    """Rewrite one cell's asserts and check() calls so that they record what they compare."""

    def __init__(self, claims_for_cell):
        self.new_claim = claims_for_cell
        self.loops: list[ast.AST] = []
        self.functions = 0

    def _visit_loop(self, node):
        self.loops.append(node)
        self.generic_visit(node)
        self.loops.pop()
        return node

    visit_For = visit_AsyncFor = visit_While = _visit_loop

    def visit_FunctionDef(self, node):
        saved, self.loops = self.loops, []
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1
        self.loops = saved
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "check":
            claim = self.new_claim(node, "check")
            claim.parts = [Part(ast.unparse(node), "check")]
            wrapped = ast.parse(f"_sweep_rec.exercise({claim.key!r}, None)", mode="eval").body
            wrapped.args[1] = node
            return ast.copy_location(wrapped, node)
        return node

    def visit_Assert(self, node):
        claim = self.new_claim(node, "assert")
        claim.in_loop = bool(self.loops) or self.functions > 0
        is_and = isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And)
        tests = node.test.values if is_and else [node.test]
        label_source = None
        if self.loops:
            label_source = ast.unparse(node.msg) if node.msg is not None else _loop_label(self.loops)
        key = repr(claim.key)
        lines = [f"_sweep_label = _sweep_rec.label(lambda: ({label_source}))" if label_source else
                 "_sweep_label = None", "_sweep_ok = True"]
        for index, test in enumerate(tests):
            compare, every = _simple_compare(test), _all_of_compare(test)
            if compare:
                left, op, right = compare
                claim.parts.append(Part(ast.unparse(test), "compare", op, ast.unparse(right)))
                body = [f"_sweep_l = ({ast.unparse(left)})", f"_sweep_r = ({ast.unparse(right)})",
                        f"_sweep_ok = _sweep_rec.compare({key}, {index}, _sweep_label, _sweep_l, _sweep_r, "
                        f"_sweep_l {op} _sweep_r)"]
            elif every:
                generator, left, op, right = every
                claim.parts.append(Part(ast.unparse(test), "all", op, ast.unparse(right)))
                pairs = ast.ListComp(elt=ast.Tuple(elts=[left, right], ctx=ast.Load()), generators=generator.generators)
                body = [f"_sweep_ok = _sweep_rec.compare_all({key}, {index}, _sweep_label, {op!r}, "
                        f"{ast.unparse(pairs)})"]
            else:
                claim.parts.append(Part(ast.unparse(test), "verdict"))
                body = [f"_sweep_ok = _sweep_rec.compare({key}, {index}, _sweep_label, None, None, "
                        f"({ast.unparse(test)}))"]
            if index == 0:
                lines += body
            else:
                lines += ["if _sweep_ok:", *("    " + b for b in body), "else:",
                          f"    _sweep_rec.skip({key}, {index}, _sweep_label)"]
        lines.append("assert _sweep_ok" + (f", ({ast.unparse(node.msg)})" if node.msg is not None else ""))
        statements = ast.parse("\n".join(lines)).body
        for statement in statements:
            ast.copy_location(statement, node)
            ast.fix_missing_locations(statement)
        return statements


def _to_python(source: str) -> str:
    """Cell source as plain Python (IPython magics turned into calls), for parsing."""
    try:
        ast.parse(source)
        return source
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)


def set_seed(nb, seed: int) -> None:
    """Replace the code cell tagged ``parameters`` (tests/test_notebook_hygiene.py: ``SEED = 42``, every lesson
    notebook has exactly one) by ``SEED = seed``, in place."""
    cell = next((c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        raise ValueError("no code cell tagged 'parameters' sets SEED")
    cell.source = f"SEED = {seed}"


def instrument(nb, notebook: str) -> tuple[list[Claim], list[str]]:
    """Rewrite every code cell of ``nb`` in place; return its claims and warnings (cells left as they were)."""
    claims: list[Claim] = []
    warnings: list[str] = []
    section, code_number = "", 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            section = next((line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")),
                           section)
            continue
        if cell.cell_type != "code":
            continue
        code_number += 1
        source = cell.source
        if "assert" not in source and "check(" not in source:
            continue
        try:
            python = _to_python(source)
            tree = ast.parse(python)
        except SyntaxError as error:
            warnings.append(f"{notebook} cell {code_number}: not instrumented ({error.msg})")
            continue
        lines = python.splitlines()
        printed = "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")
        expected = next((status for marker, status in STATUS_MARKERS.items() if marker in printed), None)

        def new_claim(node, kind, _number=code_number, _section=section, _lines=lines, _expected=expected):
            text = ast.unparse(node) if kind == "check" else "\n".join(_lines[node.lineno - 1:node.end_lineno]).strip()
            claim = Claim(f"c{_number}:{node.lineno}", notebook, _section, _number, node.lineno, text)
            if kind == "check":
                claim.expected_status = _expected if _expected in ("passed", "not attempted") else "passed"
            claims.append(claim)
            return claim

        tree = _Instrument(new_claim).visit(tree)
        ast.fix_missing_locations(tree)
        cell.source = ast.unparse(tree)
    return claims, warnings


# ---- running
@dataclass
class Run:
    """The outcome of one notebook copy with one seed."""

    notebook: str
    seed: int
    variant: str | None = None
    records: list[dict] = field(default_factory=list)
    cell_errors: dict[int, str] = field(default_factory=dict)  # code cell number -> "Name: message"
    failure: str | None = None  # the run itself failed (kernel died, timeout)
    wall: float = 0.0


def code_cells(cells, start: int = 1):
    """(number, cell) for the code cells, numbered from ``start``."""
    return enumerate((cell for cell in cells if cell.cell_type == "code"), start=start)


def prepare(path: pathlib.Path, notebook: str, seed: int, records_path: pathlib.Path, variant: Variant | None = None):
    """The instrumented copy of a notebook for one seed: (notebook node, claims, warnings, expected errors)."""
    nb = nbformat.read(path, as_version=4)
    expected_errors = {number for number, cell in code_cells(nb.cells) if "raises-exception" in cell.metadata.get(
        "tags", []) or any(o.get("output_type") == "error" for o in cell.outputs)}
    set_seed(nb, seed)
    stop_after = None
    if variant is not None:
        pattern = re.compile(rf"^{re.escape(variant.name)}\s*=\s*-?\d+\s*(#.*)?$", flags=re.M)
        found = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and pattern.search(c.source)]
        if not found:
            raise ValueError(f"{notebook}: no cell assigns {variant.name} = <number>")
        nb.cells[found[0]].source = pattern.sub(f"{variant.name} = SEED", nb.cells[found[0]].source, count=1)
        stop_after = next((i for i in range(found[0], len(nb.cells))
                           if nb.cells[i].cell_type == "code" and "assert" in nb.cells[i].source), None)
        if stop_after is None:
            raise ValueError(f"{notebook}: no assert after {variant.name}")
    claims, warnings = instrument(nb, notebook)  # reads the committed outputs of check cells
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if stop_after is not None:
        kept_numbers = sum(1 for c in nb.cells[:stop_after + 1] if c.cell_type == "code")
        nb.cells = nb.cells[:stop_after + 1]
        claims = [c for c in claims if c.code_cell == kept_numbers]
    recorder = RECORDER.replace("__SWEEP_RECORDS__", repr(str(records_path)))
    nb.cells.insert(0, nbformat.v4.new_code_cell(recorder))
    if variant is None:
        for name, expression in EXTRAS.get(notebook, []):
            nb.cells.append(nbformat.v4.new_code_cell(f"_sweep_rec.extra({name!r}, lambda: ({expression}))"))
    return nb, claims, warnings, expected_errors


async def run_copy(path: pathlib.Path, notebook: str, seed: int, env: dict, variant: Variant | None = None) -> Run:
    """Execute one instrumented copy in a fresh kernel in a scratch folder; collect its records."""
    run = Run(notebook, seed, variant.title if variant else None)
    with scratch("seed_sweep_") as (cwd, tmp):
        records_path = cwd.parent / "records.jsonl"
        nb, _, _, _ = prepare(path, notebook, seed, records_path, variant)
        start = time.perf_counter()
        try:
            await execute(nb, cwd, dict(env, TMPDIR=str(tmp)), allow_errors=True)
        except Exception as error:  # kernel died, cell timeout: what was recorded so far still counts
            run.failure = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
        run.wall = time.perf_counter() - start
        for number, cell in code_cells(nb.cells, start=0):  # the recorder cell is code cell 0
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    run.cell_errors[number] = f"{output.get('ename')}: {output.get('evalue', '')}"[:300]
        if records_path.exists():
            run.records = [json.loads(line) for line in records_path.read_text(encoding="utf-8").splitlines() if line]
    return run


async def run_all(jobs, workers: int, env: dict) -> list[Run]:
    semaphore = asyncio.Semaphore(workers)
    done = 0

    async def one(path, notebook, seed, variant):
        nonlocal done
        async with semaphore:
            run = await run_copy(path, notebook, seed, env, variant)
        done += 1
        failed = sum(1 for r in run.records if r.get("ok") is False or r.get("status") == "failed")
        name = notebook + (f" [{variant.name} = SEED]" if variant else "")
        print(f"[{done}/{len(jobs)}] {name}, seed {seed}: {run.wall:.1f} s, {len(run.records)} records, "
              f"{failed} failing" + (f", {run.failure}" if run.failure else ""), flush=True)
        return run

    return await asyncio.gather(*(one(*job) for job in jobs))


# ---- report
def parse_seeds(text: str) -> list[int]:
    """``"0-19"`` -> 0..19, ``"3,7,10-12"`` -> [3, 7, 10, 11, 12], ``"5"`` (a count) -> 0..4."""
    if re.fullmatch(r"\s*\d+\s*", text):
        if int(text) < 1:
            raise ValueError("a seed count must be at least 1")
        return list(range(int(text)))
    seeds = set()
    for piece in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", piece)
        if not match:
            raise ValueError(f"not a seed, range or count: {piece.strip()!r}")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if high < low:
            raise ValueError(f"empty seed range {piece.strip()!r}")
        seeds.update(range(low, high + 1))
    return sorted(seeds)


def fmt(value) -> str:
    """A recorded value for the table."""
    if value is None:
        return "–"
    if not isinstance(value, float):
        return str(value)
    return f"{value:.3f}" if value == 0 or 1e-2 <= abs(value) < 1e4 else f"{value:.1e}"


def numeric(values: dict) -> list[float]:
    return [float(v) for v in values.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]


def stats(numbers: list[float]) -> list[str]:
    """Min, median and max for the tables (dashes without numbers)."""
    return [fmt(min(numbers)), fmt(statistics.median(numbers)), fmt(max(numbers))] if numbers else ["–"] * 3


@dataclass
class Row:
    """One line of the report: a claim part (per label when the assert repeats)."""

    claim: Claim
    part_index: int
    label: str | None
    values: dict[int, object] = field(default_factory=dict)
    bounds: dict[int, object] = field(default_factory=dict)
    failing: dict[int, str] = field(default_factory=dict)  # seed -> why

    @property
    def part(self) -> Part:
        return self.claim.parts[self.part_index]

    def name(self) -> str:
        source = self.part.source if len(self.claim.parts) > 1 else self.claim.source
        if len(self.claim.parts) > 1:
            source += f" (part {self.part_index + 1} of {len(self.claim.parts)})"
        if self.label is not None:
            source += f" [{self.label}]"
        return source

    def bound_text(self) -> str:
        part = self.part
        if part.kind == "check":
            return f"{self.claim.expected_status} (as committed)"
        if part.kind == "verdict":
            return "true"
        text = f"{'all ' if part.kind == 'all' else ''}{part.op} {part.bound_source}"
        bounds = sorted({float(b) for b in self.bounds.values() if isinstance(b, (int, float))})
        if bounds and not _is_constant(ast.parse(part.bound_source, mode="eval").body):
            text += f" ({fmt(bounds[0])})" if len(bounds) == 1 else f" ({fmt(bounds[0])}–{fmt(bounds[-1])})"
        return text


def build_rows(claims: list[Claim], runs: list[Run]) -> list[Row]:
    """Rows per claim part (and label), with values and failing seeds from every run."""
    rows: dict[tuple, Row] = {}

    def row_for(claim, part, label):
        return rows.setdefault((claim.key, part, label), Row(claim, part, label))

    claims_by_key = {c.key: c for c in claims}
    for claim in claims:  # every claim gets a row even if no seed reached it
        if not claim.in_loop:
            for index in range(len(claim.parts)):
                row_for(claim, index, None)
    for run in sorted(runs, key=lambda r: r.seed):
        seed, seen = run.seed, collections.Counter()
        for record in run.records:
            claim = claims_by_key.get(record.get("claim"))
            if claim is None:
                continue
            part, label = record.get("part", 0), record.get("label")
            if claim.in_loop and label is None:  # repeated without a label: number the occurrences
                seen[claim.key, part] += 1
                label = f"#{seen[claim.key, part]}"
            row = row_for(claim, part, label)
            if record.get("skipped"):
                row.failing[seed] = "not evaluated: an earlier part failed"
                continue
            row.values[seed] = record.get("value")
            row.bounds[seed] = record.get("bound")
            if claim.parts[part].kind == "check":
                if record.get("status") != claim.expected_status:
                    row.failing[seed] = f"{record.get('status')}: {record.get('message', '')}"[:160]
            elif not record.get("ok"):
                row.failing[seed] = fmt(record.get("value"))
        for row in rows.values():  # the parts that no record of this run reached
            if row.claim.notebook == run.notebook and seed not in row.values and seed not in row.failing:
                cause = run.cell_errors.get(row.claim.code_cell) or run.failure
                row.failing[seed] = f"not reached ({cause.split(':')[0]})" if cause else "not reached"
    for row in rows.values():
        row.failing = dict(sorted(row.failing.items()))
    return sorted(rows.values(), key=lambda row: (row.claim.code_cell, row.claim.line, row.part_index))


def claims_table(rows: list[Row], seeds: list[int]) -> list[str]:
    lines = []
    for row in rows:
        numbers = numeric(row.values)
        distinct = ", ".join(sorted({fmt(v) for v in row.values.values()} - {"–"})) or "–"
        name = row.name().replace("|", "\\|").replace("\n", " ")
        lines.append([row.claim.section.replace("|", "/"), f"{row.claim.code_cell}:{row.claim.line}", f"`{name}`",
                      *(stats(numbers) if numbers else [distinct] * 3), f"`{row.bound_text().replace('|', '/')}`",
                      f"{len(seeds) - len(row.failing)}/{len(seeds)} {'✅' if not row.failing else '❌'}",
                      "; ".join(f"{seed} ({why})" for seed, why in row.failing.items()) or "–"])
    return table(["Section", "Cell", "Claim", "Min:", "Median:", "Max:", "Bound", "Seeds holding:",
                  "Failing seeds (value)"], lines)


def git_lines(*args: str) -> list[str]:
    """The output lines of ``git ARGS`` in the repository ([] outside git or when git fails)."""
    out = lesson.git(*args)
    return out.stdout.decode().splitlines() if out is not None and out.returncode == 0 else []


def report(results, seeds, command_line, workers, wall, measured) -> tuple[str, list[str]]:
    """Markdown report and the list of failures (claim names) for the exit status; ``measured``: (notebook,
    measurement, seed -> value) for information."""
    import torch

    total_claims = sum(len(rows) for _, rows, _, _ in results)
    holding = sum(1 for _, rows, _, _ in results for row in rows if not row.failing)
    head = git_lines("rev-parse", "--short", "HEAD")
    commit = head[0] if head else "unknown"
    commit += " (notebooks modified)" if head and git_lines("status", "--porcelain", "--", *NOTEBOOKS) else ""
    lines = [
        "# Seed sweep", "", f"Command: `{command_line}`", "",
        f"- Seeds: {seed_text(seeds)} ({len(seeds)} per notebook); date {dt.date.today().isoformat()}; "
        f"notebooks at commit {commit}",
        f"- Machine: {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, device "
        f"{device()}; {workers} kernels at a time, one torch thread each",
        f"- Duration: {wall:.0f} s",
        f"- **{holding} of {total_claims} claims hold for every seed**",
        "",
        "Each notebook ran once per seed with its `parameters` cell replaced by `SEED = <seed>` and nothing else "
        "changed, in a fresh kernel in a scratch folder, with every `assert` recording what it compared. "
        "Min / median / max are over the seeds of the value left of the comparison; \"cell\" is the code cell's "
        "number (its execution count in the committed notebook) and the line within it.",
    ]
    failures: list[str] = []
    for notebook, rows, run_list, unexpected in results:
        walls = [run.wall for run in run_list]
        lines += ["", f"## `{notebook}`", "",
                  f"{len(rows)} claims; run time per seed: median {statistics.median(walls):.1f} s "
                  f"(min {min(walls):.1f}, max {max(walls):.1f})." if walls else f"{len(rows)} claims.", ""]
        lines += claims_table(rows, seeds)
        failures += [f"{notebook} cell {row.claim.code_cell}, line {row.claim.line}: {row.name()} fails for seeds "
                     + ", ".join(f"{s} ({w})" for s, w in row.failing.items()) for row in rows if row.failing]
        if unexpected:
            lines += ["", "Cells that raised (the committed notebook does not):", ""]
            for (seed, cell), error in sorted(unexpected.items()):
                lines.append(f"- seed {seed}, cell {cell}: `{error}`")
                failures.append(f"{notebook} cell {cell} raised for seed {seed}: {error}")
        for run in run_list:
            if run.failure:
                failures.append(f"{notebook} seed {run.seed}: {run.failure}")
    if measured:
        lines += ["", "## Measured for information, not claimed by any notebook", "", *table(
            ["Notebook", "Measurement", "Min:", "Median:", "Max:", "Seeds with a value:"],
            [(f"`{notebook}`", name, *stats(numeric(values)), f"{len(numeric(values))}/{len(seeds)}")
             for notebook, name, values in measured])]
    return "\n".join(lines) + "\n", failures


def seed_text(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return ", ".join(map(str, seeds))


def resolve_notebooks(only: list[str] | None) -> list[tuple[pathlib.Path, str]]:
    """(path, display name) of the notebooks to sweep."""
    known = [(ROOT / name, name) for name in NOTEBOOKS]
    if not only:
        return known
    chosen = []
    for text in only:
        path = pathlib.Path(text)
        # "exercises" is the template only, "solutions" the solutions: a name's last word first, then any part.
        matches = [(p, n) for p, n in known if n == text or pathlib.Path(n).stem.endswith(text)
                   or (path.exists() and path.resolve() == p)]
        matches = matches or [(p, n) for p, n in known if text in pathlib.Path(n).name]
        if not matches and path.suffix == ".ipynb" and path.exists():
            matches = [(path.resolve(), path.name)]
        if not matches:
            raise SystemExit(f"--only {text}: no such notebook (one of {', '.join(NOTEBOOKS)}, or a path)")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default=DEFAULT_SEEDS, help="e.g. 0-19 (default), 3,7,10-12, or a count: 5")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="kernels at the same time (default: the number of cores)")
    parser.add_argument("--only", action="append", metavar="NOTEBOOK",
                        help="only this notebook (path or part of its name, e.g. theory); repeatable")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="Markdown file to write (default: tests/benchmarks/results/seed_sweep.md for the full "
                             "default run, nothing otherwise)")
    args = parser.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as error:
        parser.error(str(error))
    notebooks = resolve_notebooks(args.only)
    out = args.out or (DEFAULT_OUT if not args.only and seeds == parse_seeds(DEFAULT_SEEDS) else None)
    # One torch thread per kernel (the kernel rules of tests/kernel_env.py), whatever the caller's environment.
    env = kernel_env({k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})

    plans = []  # the claims are found before anything runs; prepare() only names the records file
    for path, name in notebooks:
        _, claims, warnings, expected_errors = prepare(path, name, seeds[0], pathlib.Path("records.jsonl"))
        for warning in warnings:
            print("warning:", warning)
        plans.append((path, name, claims, expected_errors))
    variants = [(v, path) for v in VARIANTS for path, name in notebooks if name == v.notebook]
    jobs = [(path, name, seed, None) for path, name, _, _ in plans for seed in seeds]
    jobs += [(path, variant.notebook, seed, variant) for variant, path in variants for seed in seeds]
    print(f"{len(jobs)} notebook runs ({len(plans)} notebooks x {len(seeds)} seeds"
          + (f" + {len(variants)} variant(s)" if variants else "") + f"), {args.workers} at a time", flush=True)
    tree_before = set(git_lines("status", "--porcelain", "--untracked-files=all"))
    start = time.perf_counter()
    runs = asyncio.run(run_all(jobs, max(1, args.workers), env))
    wall = time.perf_counter() - start
    # The notebooks ran in scratch folders; one that writes into the repository anyway is a failure.
    written = sorted(set(git_lines("status", "--porcelain", "--untracked-files=all")) - tree_before)

    measured = []
    for variant, path in variants:
        _, claims, _, _ = prepare(path, variant.notebook, seeds[0], pathlib.Path("r"), variant)
        measured += [(variant.notebook, f"{variant.title}: `{row.name()}` ({len(row.failing)} of {len(seeds)} seeds "
                      f"miss `{row.bound_text()}`)", row.values)
                     for row in build_rows(claims, [r for r in runs if r.variant == variant.title])]
    results = []
    for _path, name, claims, expected_errors in plans:
        run_list = [r for r in runs if r.notebook == name and r.variant is None]
        claim_cells = {c.code_cell for c in claims}
        # An AssertionError in a cell with claims is reported as that claim's failure; anything else is listed.
        unexpected = {(run.seed, cell): error for run in run_list for cell, error in run.cell_errors.items()
                      if cell not in expected_errors
                      and not (cell in claim_cells and error.startswith("AssertionError"))}
        results.append((name, build_rows(claims, run_list), run_list, unexpected))
        measured += [(name, extra, {run.seed: rec.get("value") for run in run_list for rec in run.records
                                    if rec.get("extra") == extra}) for extra, _ in EXTRAS.get(name, [])]

    text, failures = report(results, seeds, command("seed_sweep", argv), args.workers, wall, measured)
    if out is None:
        print(text)
    else:
        write(out, text)
    failures += [f"the sweep changed the working tree: {line}" for line in written]
    if failures:
        print(f"\n{len(failures)} failing claim(s):", *failures, sep="\n- ")
        return 1
    print("Every claim holds for every seed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
