"""The lesson's own Sphinx glue: notebook pages read in place, links fixed for the site, generated pages.

* ``read_notebook_link`` is myst-nb's reader for ``docs/*.nblink`` (JSON ``{"path": ..., "solutions": bool}``): it
  reads the committed, executed notebook from the repository (nothing is executed), points its Markdown links at
  the site's pages and files, marks the solutions page, and replaces the playground widget by the picture saved in
  the notebook's widget state with a note to run it in Jupyter: a static page has no kernel, so live-looking
  buttons would be dead.
* On ``source-read``, every page's repository links are rewritten the same way, and placeholders are filled in
  from the repository: ``<!-- site:readme -->`` (README.md), ``<!-- site:notebooks -->`` (the notebooks in order,
  with their run times), ``<!-- site:results NAME -->`` (a block of tests/benchmarks/write_readme.py, from the
  results files) and ``<!-- site:file PATH -->`` (a committed Markdown file, e.g. a benchmark's results, or a note
  that it does not exist yet).
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import posixpath
import re
import sys

import nbformat

DOCS = pathlib.Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")
PLACEHOLDER = re.compile(r"<!-- site:(?P<kind>[a-z]+)(?: (?P<arg>[^ ]+))? -->")


def pages() -> dict[str, str]:
    """Repository path of each notebook -> the page (source file in docs/) that shows it."""
    out = {}
    for link in sorted(DOCS.glob("*.nblink")):
        out[json.loads(link.read_text(encoding="utf-8"))["path"]] = link.name
    return out


def site_link(target: str, base: str) -> str | None:
    """A link written in the repository file at folder ``base`` -> the link on the site (from docs/), or None
    when the target is a folder or does not exist (the text is then kept without a link)."""
    if re.match(r"[a-z][a-z0-9+.-]*:", target, flags=re.I) or target.startswith("#"):
        return target
    path, _, anchor = target.partition("#")
    repo_path = posixpath.normpath(posixpath.join(base, path)) if base else posixpath.normpath(path)
    anchor = f"#{anchor}" if anchor else ""
    page_of = pages()
    if repo_path in page_of:
        return page_of[repo_path] + anchor
    if repo_path == "solutions":
        return "solutions.nblink"
    if repo_path == "README.md":
        return "students.md" + anchor
    if repo_path.startswith("docs/") and repo_path.endswith(".md"):
        return repo_path[len("docs/"):] + anchor
    if (ROOT / repo_path).is_file() and not repo_path.startswith(".."):
        return "../" + repo_path
    return None


def rewrite_links(markdown: str, base: str) -> str:
    """Every Markdown link and image of ``markdown`` (written in repository folder ``base``) pointed at the site.
    Fenced code is left alone."""
    parts = re.split(r"(^```.*?^```)", markdown, flags=re.M | re.S)

    def replace(match):
        bang, text, target = match.groups()
        new = site_link(target, base)
        if new is None:
            return text
        return f"{bang}[{text}]({new})"

    return "".join(part if part.startswith("```") else LINK.sub(replace, part) for part in parts)


# --------------------------------------------------------------------------
# Notebook pages
# --------------------------------------------------------------------------
def _widget_picture(state: dict, model_id: str, seen=None) -> tuple[str, str] | None:
    """(format, base64 data) of the first Image widget inside widget ``model_id`` in the saved state."""
    seen = seen or set()
    if model_id in seen or model_id not in state:
        return None
    seen.add(model_id)
    model = state[model_id]
    if model.get("model_name") == "ImageModel":
        for buffer in model.get("buffers", []):
            if buffer.get("path") == ["value"] and buffer.get("encoding", "base64") == "base64":
                return model["state"].get("format", "png"), buffer["data"]
    for child in model.get("state", {}).get("children", []):
        found = _widget_picture(state, str(child).removeprefix("IPY_MODEL_"), seen)
        if found:
            return found
    return None


WIDGET_NOTE = (
    "**A picture, not the live widget.** This is how the widget looked when the notebook was saved. Its buttons "
    "and sliders need a running Python kernel, which a web page does not have: run this notebook in JupyterLab, "
    "VS Code or Colab to use it."
)


def static_widgets(nb) -> None:
    """Replace each widget output by its saved picture (if any) and a note; drop the saved widget state."""
    state = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(output)
                continue
            outputs.append(nbformat.v4.new_output("display_data", data={"text/markdown": WIDGET_NOTE}))
            picture = _widget_picture(state, view.get("model_id", ""))
            if picture:
                fmt, data = picture
                mime = "image/jpeg" if fmt in ("jpeg", "jpg") else f"image/{fmt}"
                outputs.append(nbformat.v4.new_output("display_data", data={mime: data}))
        if "outputs" in cell:
            cell.outputs = outputs


SOLUTIONS_NOTE = (
    ":::{warning}\n**These are the solutions.** Try each exercise in the exercises notebook first and run its "
    "check cell: the hints are written for that. Instructors: hand the lesson out without this page's notebook "
    "(see the [instructor's guide](instructors.md)).\n:::"
)


def read_notebook_link(text: str):
    """myst-nb reader for a ``.nblink`` file: the notebook it names, as committed, ready for a static page."""
    link = json.loads(text)
    if not (ROOT / link["path"]).exists():  # e.g. the students' copy, handed out without solutions/
        title = "Solutions" if link.get("solutions") else link["path"]
        return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
            f"# {title}\n\nNot included in this copy of the lesson (`{link['path']}` is not here).")])
    nb = nbformat.read(ROOT / link["path"], as_version=4)
    base = posixpath.dirname(link["path"])
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, base)
    static_widgets(nb)
    if link.get("solutions"):
        first = next(c for c in nb.cells if c.cell_type == "markdown")
        first.source = re.sub(r"\A# (.*)", r"# Solutions: \1", first.source, count=1)
        title, _, rest = first.source.partition("\n")
        first.source = f"{title}\n\n{SOLUTIONS_NOTE}\n{rest}"
    return nb


# --------------------------------------------------------------------------
# Generated parts of pages
# --------------------------------------------------------------------------
def _writer():
    """tests/benchmarks/write_readme.py, which turns the results files into Markdown blocks."""
    if "_site_write_readme" not in sys.modules:
        spec = importlib.util.spec_from_file_location("_site_write_readme", ROOT / "tests/benchmarks/write_readme.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules["_site_write_readme"]


TIME_PHRASE = re.compile(r"(?:about |around |roughly )?\d+½?(?:\s*(?:[–-]|to)\s*\d+½?)?\s*(?:minutes|min|hours?)\b",
                         re.I)


def study_time(nb) -> str:
    """The study time a notebook states in its first Markdown cells (a line mentioning time), or a dash."""
    for cell in [c for c in nb.cells if c.cell_type == "markdown"][:3]:
        for line in cell.source.splitlines():
            if re.search(r"\btime\b|\btakes?\b|⏱", line, flags=re.I):  # e.g. "**Study time:** about 2–2½ hours"
                match = TIME_PHRASE.search(line)
                if match:
                    return match.group(0)
    return "–"


def notebooks_table() -> str:
    """The notebooks in order: page, study time (as the notebook states it, if one does), run time (benchmark)."""
    writer = _writer()
    try:
        times = writer.Results().times
    except (OSError, AttributeError):
        times = None
    rows = []
    for path, page in pages().items():
        if not (ROOT / path).exists():
            continue
        nb = nbformat.read(ROOT / path, as_version=4)
        title = next((re.sub(r"^#\s*", "", c.source.splitlines()[0]) for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("# ")), path)
        if json.loads((DOCS / page).read_text(encoding="utf-8")).get("solutions"):
            title = f"Solutions: {title}"
        seconds = times.rows.get(path, {}).get("Median wall (s)") if times else None
        rows.append((title, page, study_time(nb), f"about {round(float(seconds))} s" if seconds else "–"))
    stated = any(row[2] != "–" for row in rows)  # a study-time column only once a notebook states one
    lines = ["| # | Notebook |" + (" Study time |" if stated else "") + " Run time, top to bottom* |",
             "|---|---|" + ("---|" if stated else "") + "---|"]
    for number, (title, page, study, run) in enumerate(rows, start=1):
        lines.append(f"| {number} | [{title}]({page}) |" + (f" {study} |" if stated else "") + f" {run} |")
    if times:
        lines += ["", f"\\* Median of {times.repeats} runs in a fresh kernel on a 2-core CPU, like a laptop's "
                  f"({times.machine}, {times.date}); about {round(float(times.rows['reference']['Median wall (s)']))}"
                  " s of it is starting Python and importing torch."]
    return "\n".join(lines)


def fill(kind: str, arg: str | None) -> str:
    if kind == "readme":
        text = (ROOT / "README.md").read_text(encoding="utf-8")
        text = re.sub(r"\A# .*", "# Students' guide", text, count=1)  # the site's title is the lesson's already
        return rewrite_links(text, "")
    if kind == "notebooks":
        return notebooks_table()
    if kind == "results":
        writer = _writer()
        body = f"<!-- {arg}:start -->\n<!-- {arg}:end -->"
        return writer.MARKER.search(writer.render(body)).group("body")
    if kind == "file":
        path = ROOT / arg
        if not path.exists():
            return f"*Not measured yet: `{arg}` does not exist in this copy of the lesson.*"
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\A# .*\n", "", text)  # the page gives the title
        return rewrite_links(re.sub(r"^(#+) ", r"#\1 ", text, flags=re.M), posixpath.dirname(arg))
    raise ValueError(f"unknown placeholder <!-- site:{kind} -->")


def on_source_read(app, docname, source):
    text = source[0]
    if app.env.doc2path(docname).suffix == ".nblink":
        return
    if "<!-- site:readme -->" in text:  # the students' guide is the README itself
        text = "<!-- site:readme -->"
    text = rewrite_links(text, "docs")
    source[0] = PLACEHOLDER.sub(lambda m: fill(m.group("kind"), m.group("arg")), text)


def keep_outputs_in_the_build(app):
    """myst-nb writes each notebook and its output images into ``<outdir>/../jupyter_execute``, which for
    ``sphinx-build docs _site`` is the repository's top level: put them with the doctrees instead."""
    config = getattr(app.env, "mystnb_config", None)
    if config is not None:
        folder = pathlib.Path(app.doctreedir) / "jupyter_execute"
        app.env.mystnb_config = config.copy(output_folder=str(folder), execution_cache_path=str(folder / "cache"))


def setup(app):
    app.connect("source-read", on_source_read)
    app.connect("builder-inited", keep_outputs_in_the_build, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
