"""The README and the guides: the commands they give are the ones CI runs, their links exist, their menu names are
JupyterLab 4's, and the facts they state match the lesson."""

from __future__ import annotations

import pathlib
import re
import sys
import tomllib

import pytest

from tests import lesson
from tests.lesson import ROOT

DOCUMENTS = {name: (ROOT / name).read_text(encoding="utf-8")
             for name in ["README.md", "docs/instructors.md", "docs/contributing.md"]}
README, CONTRIBUTING = DOCUMENTS["README.md"], DOCUMENTS["docs/contributing.md"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def section(title: str, text: str = README) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def commands(text: str) -> list[str]:
    """The commands of the bash blocks in ``text``, comments stripped."""
    lines = [line for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S) for line in block.splitlines()]
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def test_readme_is_short_opens_the_guides_needs_only_jupyter_lab_first_and_states_the_notebooks_python():
    """A five-minute README linking both guides, a first hour in Lab alone, the notebooks' Python stated."""
    assert len(README) <= 15_000, f"README.md has {len(README)} characters; students read it in five minutes"
    assert "(docs/instructors.md)" in README and "(docs/contributing.md)" in README
    first_hour = section("Your first hour")
    assert "`jupyter lab`" in first_hour and "check(N, globals())" in first_hour
    assert commands(first_hour) == [], "a student's first hour needs no terminal command but `jupyter lab`"
    assert "*File → Shut Down*" in first_hour and "Ctrl+C twice" in first_hour
    versions = {lesson.read_notebook(n).metadata.get("language_info", {}).get("version") for n in lesson.NOTEBOOKS}
    stated = re.search(r"record the\s+Python they ran on \(([\d.]+)\)", README)
    assert stated, "the README says which Python the notebooks were executed with"
    assert versions == {stated.group(1)}, versions


def test_ci_runs_the_guides_test_command_and_the_readmes_site_command_and_the_guide_states_the_cell_timeout():
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands(section("The test suite", CONTRIBUTING)) == ["pytest"] and "TEST_CMD=(pytest)" in ci
    site = commands(section("The lesson as a website"))
    assert site == ["sphinx-build -W docs _site"] and site[0] in CONTRIBUTING
    assert f"SITE_CMD=({site[0]})" in ci
    assert "pip install --quiet -r requirements.txt" in ci
    addopts = PYPROJECT["tool"]["pytest"]["ini_options"]["addopts"]
    timeout = next(o for o in addopts if o.startswith("--nbval-cell-timeout=")).split("=", 1)[1]
    assert f"A cell still running after {timeout} s fails" in " ".join(CONTRIBUTING.split())


def test_setup_installs_requirements_pinned_exactly_and_the_lesson_with_what_the_notebooks_import():
    """Setup's commands, exact pins (torch as the README installs it) and the lesson installed with -e ."""
    setup = section("Setup")
    assert commands(setup) == ["python3 -m venv .venv && source .venv/bin/activate", "pip install -r requirements.txt"]
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in setup
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    packages = [line for line in lines if line and not line.startswith("#")]
    assert "torch==2.13.0" in packages
    assert packages.count("-e .") == 1, "requirements.txt installs the lesson itself, editable: `-e .`"
    others = [line for line in packages if line != "-e ."]
    assert all("==" in line for line in others), "every requirement is pinned exactly"
    assert not any(line.startswith("-") for line in others), "no index-url or other pip options"
    config = PYPROJECT["tool"]["setuptools"]
    assert config["py-modules"] == ["helper_functions"]
    packages = set(config["packages"])
    found = {p.parent.relative_to(ROOT).as_posix().replace("/", ".") for p in (ROOT / "tests").rglob("__init__.py")}
    assert packages == found, f"pyproject.toml packages {sorted(packages)} != the packages in tests/ {sorted(found)}"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_local_and_section_links_exist(name):
    """Every relative link names an existing file, and every #anchor a heading of the same document."""
    folder = (ROOT / name).parent
    local = [t for t in re.findall(r"\]\(([^)#\s]+)\)", DOCUMENTS[name]) if not re.match(r"[a-z]+://", t)]
    missing = [t for t in local if not (folder / t).exists()]
    assert not missing, f"{name} links to missing files: {missing}"
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", DOCUMENTS[name], flags=re.M)}
    missing = [a for a in re.findall(r"\]\(#([^)]+)\)", DOCUMENTS[name]) if a not in anchors]
    assert not missing, f"{name} links to missing sections: {missing}"


# JupyterLab 4's menu items as its own bundle spells them ("%1" is the document type, "Notebook").
MENU_ITEMS = {
    "File": ["Save Notebook", "Save Notebook As…", "Shut Down"],
    "Run": ["Run All Cells", "Run Selected Cell"],
    "Kernel": ["Restart Kernel and Run All Cells…", "Restart Kernel…", "Interrupt Kernel"],
}
MENU_PATH = re.compile(r"\b(File|Edit|View|Run|Kernel|Cell|Tabs|Settings|Help) ?(?:→|->|&gt;|>) ?([A-Z][^*`\"\\)\n]*)")


def test_menu_names_are_jupyterlab_4s():
    """Every menu path in the guides and the notebooks' markdown is one of JupyterLab 4's items."""
    texts = dict(DOCUMENTS)
    for name in lesson.NOTEBOOKS:
        texts[name] = "\n".join(c.source for c in lesson.read_notebook(name).cells if c.cell_type == "markdown")
    allowed = {f"{menu} → {item}" for menu, items in MENU_ITEMS.items() for item in items}
    wrong = {f"{name}: {path!r}" for name, text in texts.items() for menu, item in MENU_PATH.findall(text)
             if (path := f"{menu} → {item.strip() if item.strip().endswith('…') else item.strip().rstrip('.,;:')}")
             not in allowed}
    assert not wrong, ("menu names that JupyterLab 4 does not have (write e.g. 'Kernel → Restart Kernel and Run "
                       "All Cells…'):\n  " + "\n  ".join(sorted(wrong)))


def test_the_menu_items_exist_in_the_installed_jupyterlab():
    static = pathlib.Path(sys.prefix) / "share" / "jupyter" / "lab" / "static"
    bundles = list(static.glob("*.js"))
    if not bundles:
        pytest.skip("JupyterLab's bundle is not installed here")
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in bundles)
    missing = [item for items in MENU_ITEMS.values() for item in items
               if f'"{item.replace("Notebook", "%1")}"' not in text]
    assert not missing, missing
