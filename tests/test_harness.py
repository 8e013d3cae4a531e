"""The notebook harness itself: pytest + nbval with the settings in pyproject.toml
and conftest.py. Each test runs an inner pytest on small probe notebooks, so a
broken setting (a lost flag, an inherited MPLBACKEND, a missing sanitize rule)
fails here with a clear message instead of silently weakening the suite.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import uuid

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def write_notebook(path: pathlib.Path, cells: list[str], outputs: dict[int, list] | None = None) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    for index, cell_outputs in (outputs or {}).items():
        nb.cells[index].outputs = cell_outputs
        nb.cells[index].execution_count = index + 1
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture
def probe_dir():
    # Inside the repo (so the root conftest.py applies, as for the real
    # notebooks) but in a dot-folder that the outer run never collects.
    path = ROOT / f".harness_probe_{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_pytest(*paths: pathlib.Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "PYTHONPATH", "MPLBACKEND")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n0", "-q", "-p", "no:randomly", *map(str, paths)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_kernel_environment_is_fixed_by_conftest(probe_dir):
    """An inherited MPLBACKEND=Agg would strip every figure from the notebooks;
    OMP_NUM_THREADS must be 1 in the kernels; a notebook in a subfolder (like
    solutions/) imports the shared module."""
    write_notebook(probe_dir / "sub" / "probe.ipynb", [
        "import os, matplotlib\n"
        "assert 'inline' in matplotlib.get_backend(), matplotlib.get_backend()\n"
        "assert os.environ['OMP_NUM_THREADS'] == '1'",
        "import helper_functions, tests.test_harness",
        "import matplotlib.pyplot as plt\nplt.plot([0, 1]); plt.title('probe'); plt.show()",
    ])
    result = run_pytest(probe_dir / "sub" / "probe.ipynb", env_extra={"MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 passed" in result.stdout


def test_one_item_per_cell_and_failing_assert_fails_the_run(probe_dir):
    write_notebook(probe_dir / "learns.ipynb", ["x = 1", "assert x == 1", "print('ok')"])
    write_notebook(probe_dir / "stops_learning.ipynb", ["test_acc = 0.5", "assert test_acc >= 0.99, test_acc"])
    result = run_pytest(probe_dir)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 failed, 4 passed" in result.stdout
    assert "stops_learning.ipynb::Cell 1" in result.stdout


def test_lax_mode_compares_marked_cells_after_sanitizing(probe_dir):
    cuda_run = "tensor([1.], device='cuda:0') on cuda:0 in 3.2 s\n"
    stored = [nbformat.v4.new_output("stream", name="stdout", text=cuda_run)]
    write_notebook(
        probe_dir / "marked.ipynb",
        ["# NBVAL_CHECK_OUTPUT\nimport torch, time\nprint(torch.ones(1), 'on', 'cpu', 'in', '0.7 s')"],
        outputs={0: stored},
    )
    result = run_pytest(probe_dir / "marked.ipynb")
    assert result.returncode == 0, result.stdout[-3000:]

    wrong = [nbformat.v4.new_output("stream", name="stdout", text="tensor([2.]) on cpu in 0.7 s\n")]
    source = "# NBVAL_CHECK_OUTPUT\nimport torch\nprint(torch.ones(1), 'on cpu in 0.7 s')"
    write_notebook(probe_dir / "marked.ipynb", [source], outputs={0: wrong})
    result = run_pytest(probe_dir / "marked.ipynb")
    assert result.returncode == 1, "a marked cell with a different output must fail"


def test_pyproject_keeps_the_flags_the_suite_relies_on():
    text = (ROOT / "pyproject.toml").read_text()
    for flag in ["--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with=tests/nbval_sanitize.cfg",
                 '"--dist", "loadfile"', '"-m", "not slow"']:
        assert flag in text, f"pyproject.toml lost {flag}"


def test_every_sanitize_rule_is_parsed_by_nbval():
    """nbval silently skips a rule whose `replace:` line has no text after it."""
    from nbval.plugin import get_sanitize_patterns

    text = (ROOT / "tests" / "nbval_sanitize.cfg").read_text()
    sections = [line for line in text.splitlines() if line.startswith("[")]
    patterns = get_sanitize_patterns(text)
    assert len(patterns) == len(sections), patterns
