"""The seed sweep (``python -m tests.benchmarks.seed_sweep``): how it instruments notebooks, and that it catches a
broken claim, on a tiny probe notebook (seconds). The real sweep over the lesson's notebooks is slow, with its
report in a temporary folder: ``pytest -m slow -k seed_sweep`` (seeds 0-19; ``SEED_SWEEP_SEEDS=0-1`` for fewer).
"""

import contextlib
import json
import os
import pathlib
import re
import types

import nbformat
import pytest

from tests.benchmarks import seed_sweep as sweep


def probe_notebook(path: pathlib.Path, lr: float = 0.5) -> pathlib.Path:
    """A notebook with a parameters cell, a 'training' cell and claims of every kind, no torch (fast)."""
    code, markdown = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    nb = nbformat.v4.new_notebook(cells=[
        markdown("# Probe\n\n## 1. Training"),
        code("SEED = 42", metadata={"tags": ["parameters"]}),
        code(f"import random\nrandom.seed(SEED)\nlr = {lr}\nw = 0.0\nfor _ in range(20):\n"
             "    w += lr * (1 - w) + random.uniform(-0.01, 0.01)  # a noisy step towards 1\nprint(w)"),
        markdown("## 2. Claims"),
        code("test_acc = min(w, 1.0)\nassert test_acc >= 0.9 and SEED >= 0\n"
             "for name in ['a', 'b']:\n    assert len(name) < 2, name\n"
             "assert all(v < 2 for v in [w, 1])\nassert isinstance(w, float)"),
        code("import os\nopen('written_by_the_probe.txt', 'w').write(os.getcwd())"),
        code("import tempfile\nassert os.environ['OMP_NUM_THREADS'] == '1'\n"  # the kernel rules, a private temp
             "assert 'agg' not in os.environ.get('MPLBACKEND', '').lower()  # inline figures\n"
             "assert tempfile.gettempdir().endswith('/tmp') and 'seed_sweep_' in tempfile.gettempdir()"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("text, seeds", [
    ("0-19", list(range(20))), ("5", [0, 1, 2, 3, 4]), ("3,7,10-12", [3, 7, 10, 11, 12]), ("7-7", [7]),
    ("1, 0-2", [0, 1, 2]), ("0", None), ("5-3", None), ("a", None), ("1-", None), ("", None)])
def test_parse_seeds(text, seeds):
    with pytest.raises(ValueError) if seeds is None else contextlib.nullcontext():
        assert sweep.parse_seeds(text) == seeds


SOLUTIONS = "solutions/02_neural_networks_exercises_solutions.ipynb"


@pytest.mark.parametrize("only, expected", [
    ("theory", ["01_neural_networks_theory.ipynb"]), ("exercises", ["02_neural_networks_exercises.ipynb"]),
    ("solutions", [SOLUTIONS]), (SOLUTIONS, [SOLUTIONS]), ("nonexistent", None),
    ("02_neural_networks", ["02_neural_networks_classification.ipynb", "02_neural_networks_exercises.ipynb",
                            SOLUTIONS])])
def test_only_selects_notebooks_by_name(only, expected):
    with pytest.raises(SystemExit, match="no such notebook") if expected is None else contextlib.nullcontext():
        assert [name for _, name in sweep.resolve_notebooks([only])] == expected


def test_only_the_parameters_cell_and_cells_with_claims_change(tmp_path):
    nb = nbformat.read(probe_notebook(tmp_path / "p.ipynb"), as_version=4)
    training = nb.cells[2].source
    sweep.set_seed(nb, 7)
    sweep.instrument(nb, "p")
    assert nb.cells[1].source == "SEED = 7" and nb.cells[2].source == training
    nb.cells[1].metadata["tags"] = []
    with pytest.raises(ValueError, match="parameters"):
        sweep.set_seed(nb, 7)


def record(claim, part, value, bound, ok, label=None):
    return {"claim": claim, "part": part, "label": label, "value": value, "bound": bound, "ok": ok}


@pytest.mark.parametrize(
    "source, namespace, claim, records, raised",
    [
        pytest.param(  # a comparison: value, bound and verdict; the assert still raises, with its message
            "test_acc = 0.97\nassert test_acc >= 0.99, test_acc", {},
            ("assert test_acc >= 0.99, test_acc", ["test_acc >= 0.99"], False),
            [record("c1:2", 0, 0.97, 0.99, False)], (0.97,), id="comparison"),
        pytest.param(  # each part of an `and` chain; parts after a failing one are not evaluated, as in Python
            "tiny, saturated = 1e-8, 0.2\nassert tiny < 1e-6 and saturated > 0.5 and undefined_name > 0", {},
            ("assert tiny < 1e-6 and saturated > 0.5 and undefined_name > 0",
             ["tiny < 1e-06", "saturated > 0.5", "undefined_name > 0"], False),
            [record("c1:2", 0, 1e-8, 1e-6, True), record("c1:2", 1, 0.2, 0.5, False),
             {"claim": "c1:2", "part": 2, "label": None, "skipped": True}], (), id="and-chain"),
        pytest.param(  # all(...): the element closest to failing
            "results = {'a': 0.5, 'b': 0.58, 'c': 0.2}\nassert all(acc < 0.6 for _, acc in results.items())", {},
            ("assert all(acc < 0.6 for _, acc in results.items())", ["all((acc < 0.6 for _, acc in results.items()))"],
             False),
            [record("c1:2", 0, 0.58, 0.6, True)], None, id="all"),
        pytest.param(  # in a loop: one claim per message (or loop variable)
            "gaps = {'none': 1.0, 'L1': 0.5, 'L2': 2.0}\nfor name in ['L1', 'L2']:\n"
            "    assert gaps[name] < gaps['none'], name\n", {},
            ("assert gaps[name] < gaps['none'], name", ["gaps[name] < gaps['none']"], True),
            [record("c1:3", 0, 0.5, 1.0, True, "L1"), record("c1:3", 0, 2.0, 1.0, False, "L2")], ("L2",), id="loop"),
        pytest.param(  # other asserts: pass/fail; tensors become numbers
            "import torch\nx = torch.tensor([0.25, 0.5])\nassert torch.allclose(x, x)\nassert x.max() <= 0.5", {},
            ("assert torch.allclose(x, x)", ["torch.allclose(x, x)"], False),
            [record("c1:3", 0, None, None, True), record("c1:4", 0, 0.5, 0.5, True)], None, id="other-and-tensors"),
        pytest.param(  # exercise checks: status and points, expected "passed" without committed output
            "r = check(4, globals())",
            {"check": lambda n, ns: types.SimpleNamespace(status="passed", points=2, message="well done")},
            ("check(4, globals())", ["check(4, globals())"], False),
            [{"claim": "c1:1", "part": 0, "label": None, "status": "passed", "value": 2, "message": "well done"}],
            None, id="exercise-check"),
    ],
)
def test_instrumented_cells_record_what_they_compare(tmp_path, source, namespace, claim, records, raised):
    """Instrument one cell and run it here with the kernel-side recorder."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    claims, warnings = sweep.instrument(nb, "nb")
    assert not warnings
    assert (claims[0].source, [p.source for p in claims[0].parts], claims[0].in_loop) == claim
    assert all(c.expected_status == "passed" for c in claims if c.parts[0].kind == "check")
    path = tmp_path / "records.jsonl"
    namespace = dict(namespace)
    exec(sweep.RECORDER.replace("__SWEEP_RECORDS__", repr(str(path))), namespace)
    with pytest.raises(AssertionError) if raised is not None else contextlib.nullcontext() as error:
        exec(nb.cells[0].source, namespace)
    assert [json.loads(line) for line in path.read_text().splitlines()] == records
    assert raised is None or error.value.args == raised


def test_the_sweep_runs_notebooks_and_trains_nothing_itself():
    """No model definition or training loop of its own, and no recipe copied from a notebook."""
    text = pathlib.Path(sweep.__file__).read_text(encoding="utf-8")
    for forbidden in ["nn.Linear", "nn.Sequential", "optimizer.step", ".backward(", "torch.optim", "make_moons",
                      "make_circles", "train_test_split", "fit("]:
        assert forbidden not in text, forbidden


def test_a_broken_claim_fails_the_sweep_and_is_named(tmp_path, capsys):
    intact = probe_notebook(tmp_path / "intact.ipynb")
    broken = probe_notebook(tmp_path / "broken.ipynb", lr=0.0)  # the learning rate set to 0: nothing learns
    crashing = probe_notebook(tmp_path / "crashing.ipynb")
    nb = nbformat.read(crashing, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("raise ValueError('a plotting cell broke')"))
    nb.cells.insert(4, nbformat.v4.new_code_cell("import os\nif SEED == 1:\n    os._exit(1)  # the kernel dies"))
    nbformat.write(nb, crashing)
    before = {p.name for p in tmp_path.iterdir()}
    out = tmp_path / "report.md"
    status = sweep.main(["--only", str(intact), "--only", str(broken), "--only", str(crashing), "--seeds", "2",
                         "--workers", "2", "--out", str(out)])
    printed = capsys.readouterr().out
    report = out.read_text(encoding="utf-8")

    assert status == 1
    assert "broken.ipynb cell 3, line 2: test_acc >= 0.9 (part 1 of 2) fails for seeds 0 (" in printed
    assert "intact.ipynb" not in printed.split("failing claim(s):")[1]  # the intact notebook holds
    intact_table = report.split("## `intact.ipynb`")[1].split("## ")[0]
    broken_table = report.split("## `broken.ipynb`")[1].split("## ")[0]
    assert "❌" not in intact_table and intact_table.count("2/2 ✅") == 10
    row = next(line for line in broken_table.splitlines() if "`test_acc >= 0.9 (part 1 of 2)`" in line)
    assert re.search(r"\| 1\. Training|\| 2\. Claims", row) and "`>= 0.9`" in row and "0/2 ❌" in row
    assert "0 (0.0" in row or "0 (0)" in row or re.search(r"0 \(-?\d", row)
    # a cell that raises where the committed notebook does not is listed; a dead kernel leaves claims unreached
    crashing_part = report.split("## `crashing.ipynb`")[1].split("\n## ")[0]
    assert "- seed 0, cell 2: `ValueError: a plotting cell broke`" in crashing_part
    assert "crashing.ipynb seed 1: DeadKernelError" in printed
    row = next(line for line in crashing_part.splitlines() if "`test_acc >= 0.9 (part 1 of 2)`" in line)
    assert "1/2 ❌" in row and "1 (not reached (DeadKernelError))" in row
    # the notebooks ran in a scratch folder: nothing was written next to them
    assert {p.name for p in tmp_path.iterdir()} == before | {"report.md"}


@pytest.mark.slow
@pytest.mark.parametrize("notebook", sweep.NOTEBOOKS)
def test_seed_sweep_every_claim_holds(notebook, tmp_path, capsys):
    seeds = os.environ.get("SEED_SWEEP_SEEDS", sweep.DEFAULT_SEEDS)
    status = sweep.main(["--only", notebook, "--seeds", seeds, "--out", str(tmp_path / "seed_sweep.md")])
    printed = capsys.readouterr().out
    assert status == 0, printed.split("failing claim(s):")[-1][-6000:]
