"""The seed sweep (``python -m tests.benchmarks.seed_sweep``): how it instruments notebooks, and that it catches a
broken claim.

The default run checks the machinery on a tiny probe notebook (seconds). The real sweep over the lesson's
notebooks is slow (minutes) and runs with::

    pytest -m slow -k seed_sweep                         # seeds 0-19, every notebook
    SEED_SWEEP_SEEDS=0-1 pytest -m slow -k seed_sweep    # a quicker look

It writes its report to a temporary folder, never into the repository (the committed
tests/benchmarks/results/seed_sweep.md comes from `python -m tests.benchmarks.seed_sweep`).
"""

import json
import os
import pathlib
import re

import nbformat
import pytest

from tests.benchmarks import seed_sweep as sweep

SCRIPT = pathlib.Path(sweep.__file__)


def probe_notebook(path: pathlib.Path, lr: float = 0.5, tag: bool = True) -> pathlib.Path:
    """A notebook with a parameters cell, a 'training' cell and claims of every kind, no torch (fast)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    seed_cell = nbformat.v4.new_code_cell("SEED = 42")
    if tag:
        seed_cell.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Probe\n\n## 1. Training"),
        seed_cell,
        nbformat.v4.new_code_cell(
            f"import random\nrandom.seed(SEED)\nlr = {lr}\nw = 0.0\nfor _ in range(20):\n"
            "    w += lr * (1 - w) + random.uniform(-0.01, 0.01)  # a noisy step towards 1\nprint(w)"
        ),
        nbformat.v4.new_markdown_cell("## 2. Claims"),
        nbformat.v4.new_code_cell(
            "test_acc = min(w, 1.0)\nassert test_acc >= 0.9 and SEED >= 0\n"
            "for name in ['a', 'b']:\n    assert len(name) < 2, name\n"
            "assert all(v < 2 for v in [w, 1])\nassert isinstance(w, float)"
        ),
        nbformat.v4.new_code_cell("import os\nopen('written_by_the_probe.txt', 'w').write(os.getcwd())"),
        nbformat.v4.new_code_cell(  # the kernel rules of tests/kernel_env.py, and a private temp folder
            "import tempfile\nassert os.environ['OMP_NUM_THREADS'] == '1'\n"
            "assert 'agg' not in os.environ.get('MPLBACKEND', '').lower()  # inline figures\n"
            "assert tempfile.gettempdir().endswith('/tmp') and 'seed_sweep_' in tempfile.gettempdir()"
        ),
    ]
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------
# Pieces, no kernel
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, seeds",
    [("0-19", list(range(20))), ("5", [0, 1, 2, 3, 4]), ("3,7,10-12", [3, 7, 10, 11, 12]), ("7-7", [7]),
     ("1, 0-2", [0, 1, 2])],
)
def test_parse_seeds(text, seeds):
    assert sweep.parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["0", "5-3", "a", "1-", ""])
def test_parse_seeds_rejects(text):
    with pytest.raises(ValueError):
        sweep.parse_seeds(text)


@pytest.mark.parametrize(
    "only, expected",
    [("theory", ["01_neural_networks_theory.ipynb"]),
     ("exercises", ["02_neural_networks_exercises.ipynb"]),
     ("solutions", ["solutions/02_neural_networks_exercises_solutions.ipynb"]),
     ("02_neural_networks", ["02_neural_networks_classification.ipynb", "02_neural_networks_exercises.ipynb",
                             "solutions/02_neural_networks_exercises_solutions.ipynb"]),
     ("solutions/02_neural_networks_exercises_solutions.ipynb",
      ["solutions/02_neural_networks_exercises_solutions.ipynb"])],
)
def test_only_selects_notebooks_by_name(only, expected):
    assert [name for _, name in sweep.resolve_notebooks([only])] == expected


def test_only_rejects_unknown_names():
    with pytest.raises(SystemExit, match="no such notebook"):
        sweep.resolve_notebooks(["nonexistent"])


def test_parameters_cell_is_found_by_tag_then_by_seed_line(tmp_path):
    nb = nbformat.read(probe_notebook(tmp_path / "p.ipynb"), as_version=4)
    assert sweep.find_seed_cell(nb) == (1, "cell")
    nb.cells[1].metadata["tags"] = []
    nb.cells[1].source = "SEED = 42  # a comment"
    assert sweep.find_seed_cell(nb) == (1, "cell")
    nb.cells[1].source = "import torch\nSEED = 42  # the seed\nprint(SEED)"
    assert sweep.find_seed_cell(nb) == (1, "line")
    sweep.set_seed(nb, "7")
    assert nb.cells[1].source == "import torch\nSEED = 7\nprint(SEED)"
    nb.cells[1].source = "seed = 1"
    with pytest.raises(ValueError, match="parameters"):
        sweep.find_seed_cell(nb)


def _run_instrumented(source: str, tmp_path, namespace=None):
    """Instrument one cell, run it in this process with the kernel-side recorder, return its records."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    claims, warnings = sweep.instrument(nb, "nb")
    assert not warnings
    records = tmp_path / "records.jsonl"
    records.unlink(missing_ok=True)
    ns = dict(namespace or {})
    exec(sweep.RECORDER.replace("__SWEEP_RECORDS__", repr(str(records))), ns)
    error = None
    try:
        exec(nb.cells[0].source, ns)
    except AssertionError as raised:
        error = raised
    lines = records.read_text().splitlines() if records.exists() else []
    return [json.loads(line) for line in lines], error, claims


def test_simple_comparison_records_value_bound_and_verdict(tmp_path):
    records, error, claims = _run_instrumented("test_acc = 0.97\nassert test_acc >= 0.99, test_acc", tmp_path)
    assert [c.source for c in claims] == ["assert test_acc >= 0.99, test_acc"]
    assert records == [{"claim": "c1:2", "part": 0, "label": None, "value": 0.97, "bound": 0.99, "ok": False}]
    assert isinstance(error, AssertionError) and error.args == (0.97,)  # still raises, with its message


def test_and_chain_records_each_part_and_short_circuits(tmp_path):
    source = "tiny, saturated = 1e-8, 0.2\nassert tiny < 1e-6 and saturated > 0.5 and undefined_name > 0"
    records, error, claims = _run_instrumented(source, tmp_path)
    assert [p.source for p in claims[0].parts] == ["tiny < 1e-06", "saturated > 0.5", "undefined_name > 0"]
    assert records[0]["ok"] is True and records[0]["value"] == 1e-8
    assert records[1] == {"claim": "c1:2", "part": 1, "label": None, "value": 0.2, "bound": 0.5, "ok": False}
    assert records[2]["skipped"] is True  # not evaluated, exactly like Python's `and`
    assert isinstance(error, AssertionError)


def test_all_records_the_element_closest_to_failing(tmp_path):
    source = "results = {'a': 0.5, 'b': 0.58, 'c': 0.2}\nassert all(acc < 0.6 for _, acc in results.items())"
    records, error, _ = _run_instrumented(source, tmp_path)
    assert records == [{"claim": "c1:2", "part": 0, "label": None, "value": 0.58, "bound": 0.6, "ok": True}]
    assert error is None


def test_assert_in_a_loop_is_one_claim_per_message_or_loop_variable(tmp_path):
    source = ("gaps = {'none': 1.0, 'L1': 0.5, 'L2': 2.0}\nfor name in ['L1', 'L2']:\n"
              "    assert gaps[name] < gaps['none'], name\n")
    records, error, claims = _run_instrumented(source, tmp_path)
    assert claims[0].in_loop
    assert [(r["label"], r["value"], r["ok"]) for r in records] == [("L1", 0.5, True), ("L2", 2.0, False)]
    assert error.args == ("L2",)


def test_other_asserts_record_pass_fail_and_tensors_become_numbers(tmp_path):
    torch = pytest.importorskip("torch")
    records, error, _ = _run_instrumented(
        "x = torch.tensor([0.25, 0.5])\nassert torch.allclose(x, x)\nassert x.max() <= 0.5", tmp_path,
        {"torch": torch})
    assert records[0] == {"claim": "c1:2", "part": 0, "label": None, "value": None, "bound": None, "ok": True}
    assert records[1]["value"] == 0.5 and records[1]["ok"] is True
    assert error is None


def test_exercise_checks_are_recorded_with_status_and_points(tmp_path):
    class Result:
        status, points, message = "passed", 2, "well done"

    records, _, claims = _run_instrumented("r = check(4, globals())", tmp_path, {"check": lambda n, ns: Result()})
    assert claims[0].parts[0].kind == "check" and claims[0].expected_status == "passed"
    assert records == [{"claim": "c1:1", "part": 0, "label": None, "status": "passed", "value": 2,
                        "message": "well done"}]


def test_cells_without_claims_run_unchanged(tmp_path):
    nb = nbformat.read(probe_notebook(tmp_path / "p.ipynb"), as_version=4)
    before = nb.cells[2].source
    sweep.instrument(nb, "p")
    assert nb.cells[2].source == before


def test_the_sweep_runs_notebooks_and_trains_nothing_itself():
    """The sweep runs the notebooks as they are: no model definition or training loop of its own, and no recipe
    copied from a notebook."""
    text = SCRIPT.read_text(encoding="utf-8")
    for forbidden in ["nn.Linear", "nn.Sequential", "optimizer.step", ".backward(", "torch.optim", "make_moons",
                      "make_circles", "train_test_split", "fit("]:
        assert forbidden not in text, forbidden


# --------------------------------------------------------------------------
# A real run on the probe: a broken claim makes the sweep fail and name it
# --------------------------------------------------------------------------
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


# --------------------------------------------------------------------------
# The real sweep (slow)
# --------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("notebook", sweep.NOTEBOOKS)
def test_seed_sweep_every_claim_holds(notebook, tmp_path, capsys):
    seeds = os.environ.get("SEED_SWEEP_SEEDS", sweep.DEFAULT_SEEDS)
    status = sweep.main(["--only", notebook, "--seeds", seeds, "--out", str(tmp_path / "seed_sweep.md")])
    printed = capsys.readouterr().out
    assert status == 0, printed.split("failing claim(s):")[-1][-6000:]
