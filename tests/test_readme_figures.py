"""The README's measured figures are the committed results: every generated block equals what
tests/benchmarks/write_readme.py makes of tests/benchmarks/results/*.md (fix with
`python tests/benchmarks/write_readme.py`)."""

import difflib
import pathlib
import shutil

import pytest

from tests.tools import load_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "benchmarks" / "write_readme.py"
README = (ROOT / "README.md").read_text(encoding="utf-8")


writer = load_script(SCRIPT, "write_readme")


def test_readme_figures_equal_the_committed_results():
    expected = writer.render(README)
    if expected != README:
        diff = "".join(difflib.unified_diff(README.splitlines(True), expected.splitlines(True), "README.md",
                                            "from tests/benchmarks/results"))
        pytest.fail(f"README.md disagrees with the results; run python tests/benchmarks/write_readme.py\n{diff}")


def test_every_measured_figure_has_its_block():
    names = writer.block_names(README)
    for name in ["notebook-table", "run-times", "seed-table", "seed-sweep-duration", "repeat-runs"]:
        assert names.count(name) == 1, name
    assert all(name in writer.BLOCKS or name in writer.EXTERNAL_BLOCKS for name in names)


@pytest.mark.parametrize(
    "results_file, old, new, changed_block",
    [
        ("notebook_times.md", "| imports only (reference) | ", "| imports only (reference) | 9", "run-times"),
        ("repeat_runs.md", "runs green**", "runs green**", None),  # no change -> README still agrees
        ("seed_sweep.md", "- Duration: ", "- Duration: 1", "seed-sweep-duration"),
    ],
)
def test_a_changed_result_changes_the_readme(tmp_path, results_file, old, new, changed_block):
    results = tmp_path / "results"
    shutil.copytree(writer.RESULTS, results)
    path = results / results_file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    rendered = writer.render(README, writer.Results(results))
    if changed_block is None:
        assert rendered == writer.render(README)
        return
    assert rendered != writer.render(README)
    before = writer.MARKER.search(README, README.index(f"<!-- {changed_block}:start -->"))
    after = writer.MARKER.search(rendered, rendered.index(f"<!-- {changed_block}:start -->"))
    assert before.group("body") != after.group("body")
    # only that block moved: the text outside the markers is untouched
    assert writer.MARKER.sub("", rendered) == writer.MARKER.sub("", README)


def test_check_mode_reports_a_stale_readme(tmp_path, capsys):
    stale = tmp_path / "README.md"
    stale.write_text(README.replace("<!-- run-times:start -->\n", "<!-- run-times:start -->\nstale\n", 1),
                     encoding="utf-8")
    assert writer.main(["--check", "--readme", str(stale)]) == 1
    assert "run python tests/benchmarks/write_readme.py" in capsys.readouterr().out
    assert writer.main(["--readme", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == writer.render(README)


def test_blocks_from_other_benchmarks_come_from_their_own_function(tmp_path, monkeypatch):
    module = tmp_path / "other_times.py"
    module.write_text("def readme_block(results):\n    return f'from {results.name}'\n", encoding="utf-8")
    monkeypatch.setitem(writer.EXTERNAL_BLOCKS, "other-times", (str(module), "readme_block"))
    text = "intro\n<!-- other-times:start -->\nold\n<!-- other-times:end -->\nend\n"
    assert writer.render(text) == "intro\n<!-- other-times:start -->\nfrom results\n<!-- other-times:end -->\nend\n"


def test_unknown_block_is_an_error():
    with pytest.raises(LookupError, match="no writer"):
        writer.render("<!-- nobody-writes-this:start -->\n<!-- nobody-writes-this:end -->\n")
