"""The measured figures of the README and the guides are the committed results: every generated block equals what
tests/benchmarks/write_readme.py makes of tests/benchmarks/results/*.md (fix with
`python tests/benchmarks/write_readme.py`)."""

import difflib
import shutil

import pytest

from tests.tools import load_script

writer = load_script(__import__("pathlib").Path(__file__).parent / "benchmarks" / "write_readme.py", "write_readme")
TEXTS = {path: path.read_text(encoding="utf-8") for path in writer.DOCUMENTS}


def holder(name: str):
    """(path, text) of the one document that holds block ``name``."""
    return next((path, text) for path, text in TEXTS.items() if name in writer.block_names(text))


@pytest.mark.parametrize("path", writer.DOCUMENTS, ids=lambda p: p.name)
def test_figures_equal_the_committed_results(path):
    text, expected = TEXTS[path], writer.render(TEXTS[path])
    if expected != text:
        diff = "".join(difflib.unified_diff(text.splitlines(True), expected.splitlines(True), path.name, "results"))
        pytest.fail(f"{path.name} disagrees with the results; run python tests/benchmarks/write_readme.py\n{diff}")


def test_the_playground_block_shows_each_networks_committed_times():
    playground_times = load_script(writer.RESULTS.parent / "playground_times.py", "playground_times")
    results = (writer.RESULTS / "playground_times.md").read_text(encoding="utf-8")
    block = writer.playground_times(writer.Results(), "")
    for label in playground_times.NETWORKS:
        row = next(line for line in results.splitlines() if line.startswith(f"| {label} |"))
        cpu_epoch, cpu_frame, epochs = [cell.strip() for cell in row.strip("|").split("|")][1:4]
        assert f"| {label} | {cpu_epoch} | {cpu_frame} | {epochs} |" in block
    assert "python tests/benchmarks/playground_times.py" in block


def test_every_measured_figure_has_one_block():
    names = [name for text in TEXTS.values() for name in writer.block_names(text)]
    for name in ["notebook-table", "run-times", "seed-table", "seed-sweep-duration", "repeat-runs", "playground-times"]:
        assert names.count(name) == 1, name
    assert all(name in writer.BLOCKS for name in names)
    assert "notebook-table" in writer.block_names(TEXTS[writer.README]), "the students' table is in the README"


@pytest.mark.parametrize(
    "results_file, old, new, changed_block",
    [
        ("notebook_times.md", "| imports only (reference) | ", "| imports only (reference) | 9", "run-times"),
        ("notebook_times.md", "| `01_neural_networks_theory.ipynb` | ", "| `01_neural_networks_theory.ipynb` | 4",
         "notebook-table"),
        ("repeat_runs.md", "runs green**", "runs green**", None),  # no change -> the documents still agree
        ("seed_sweep.md", "- Duration: ", "- Duration: 1", "seed-sweep-duration"),
    ],
)
def test_a_changed_result_changes_its_block_only(tmp_path, results_file, old, new, changed_block):
    results = tmp_path / "results"
    shutil.copytree(writer.RESULTS, results)
    path = results / results_file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    if changed_block is None:
        assert all(writer.render(t, writer.Results(results)) == t for t in TEXTS.values())
        return
    _, document = holder(changed_block)
    rendered = writer.render(document, writer.Results(results))
    before = writer.MARKER.search(document, document.index(f"<!-- {changed_block}:start -->"))
    after = writer.MARKER.search(rendered, rendered.index(f"<!-- {changed_block}:start -->"))
    assert before.group("body") != after.group("body")
    assert writer.MARKER.sub("", rendered) == writer.MARKER.sub("", document)  # the text outside the markers stays


def test_check_mode_reports_a_stale_document_and_an_unknown_block_is_an_error(tmp_path, capsys):
    """--check fails on a stale block and the plain run rewrites it; a block nobody writes is an error."""
    path, text = holder("run-times")
    stale = tmp_path / path.name
    stale.write_text(text.replace("<!-- run-times:start -->\n", "<!-- run-times:start -->\nstale\n", 1), "utf-8")
    assert writer.main(["--check", "--file", str(stale)]) == 1
    assert "run python tests/benchmarks/write_readme.py" in capsys.readouterr().out
    assert writer.main(["--file", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == text
    with pytest.raises(LookupError, match="no writer"):
        writer.render("<!-- nobody-writes-this:start -->\n<!-- nobody-writes-this:end -->\n")
