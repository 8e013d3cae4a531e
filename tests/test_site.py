"""The lesson's website: `sphinx-build -W docs _site` builds it from the committed notebooks (never executing them),
the pages load no script, style, font or image from outside the site, and every page works in Debian's Chromium
with every request outside 127.0.0.1 blocked: no failed request, no console error, images loaded, maths rendered,
search finds the notebooks. Screenshots at desktop and phone width land in the test's temporary folder."""

from __future__ import annotations

import functools
import html.parser
import http.server
import pathlib
import re
import subprocess
import sys
import threading

import nbformat
import pytest

from tests.lesson import ROOT
from tests.test_browser import system_chromium
from tests.tools import load_script

lesson_site = load_script(ROOT / "docs" / "_ext" / "lesson_site.py", "lesson_site")

HOST = "127.0.0.1"  # the site is served on loopback only; every other host is blocked
OUTSIDE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.I)  # a scheme or a protocol-relative URL
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site") / "_site"
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "docs", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"sphinx-build -W docs _site failed:\n{result.stdout}\n{result.stderr}"
    return out


def pages(site: pathlib.Path) -> list[pathlib.Path]:
    return sorted(site.glob("*.html"))


class Assets(html.parser.HTMLParser):
    """Every URL a page loads by itself (scripts, styles, icons, images, media, inline CSS), not its links."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "source", "iframe", "video", "audio", "embed", "track"):
            self.urls += [attrs[a] for a in ("src", "poster") if attrs.get(a)]
            self.urls += [u.split()[0] for u in (attrs.get("srcset") or "").split(",") if u.strip()]
        if tag == "link" and set((attrs.get("rel") or "").split()) - {"next", "prev", "index", "search", "canonical"}:
            self.urls.append(attrs.get("href") or "")
        if tag == "object" and attrs.get("data"):
            self.urls.append(attrs["data"])
        self.css.append(attrs.get("style") or "")
        self._in_style = tag == "style"

    def handle_data(self, data):
        if self._in_style:
            self.css.append(data)

    def handle_endtag(self, tag):
        self._in_style = False


def test_the_build_has_its_pages_solutions_results_and_the_playground_as_a_picture(site):
    """A linked page per notebook, a marked solutions page, results from the files, the playground as a picture."""
    index = (site / "index.html").read_text(encoding="utf-8")
    for path, page in lesson_site.pages().items():
        html_page = site / pathlib.Path(page).with_suffix(".html").name
        assert html_page.exists(), f"no page for {path}"
        assert f'href="{html_page.name}"' in index, f"the landing page does not link {html_page.name}"
    assert {"students.html", "instructors.html", "contributing.html", "results.html"} <= {p.name for p in pages(site)}
    assert "pip install -r requirements.txt" in re.sub(r"<[^>]+>", "", index), "the setup commands"
    theory = (site / "01_neural_networks_theory.html").read_text(encoding="utf-8")
    assert "copybutton.js" in theory and "_static/mathjax/tex-chtml.js" in theory, "copy buttons, local MathJax"
    text = (site / "solutions.html").read_text(encoding="utf-8")
    assert "<title>Solutions:" in text and "These are the solutions" in text
    assert "These are the solutions" not in (site / "02_neural_networks_exercises.html").read_text(encoding="utf-8")
    text = (site / "results.html").read_text(encoding="utf-8")
    times = lesson_site._writer().Results().times
    assert f"{times.rows['reference']['Median wall (s)']} s" in text and times.date in text
    doctor = ROOT / "tests" / "benchmarks" / "results" / "doctor.md"
    assert ("doctor.md</span></code> does not exist" in text) != doctor.exists()
    texts = {p.name: p.read_text(encoding="utf-8") for p in pages(site)}
    assert not [n for n, t in texts.items() if "application/vnd.jupyter.widget" in t], "widget views need a kernel"
    with_widgets = [n for n, t in texts.items() if "A picture, not the live widget" in t]
    assert with_widgets == ["02_neural_networks_classification.html"]
    after_note = texts[with_widgets[0]].split("A picture, not the live widget", 1)[1]
    assert re.search(r'<img[^>]+src="_images/[^"]+\.(?:jpe?g|png)"', after_note[:3000]), "no picture after the note"


def test_no_page_or_style_loads_anything_from_outside_the_site(site):
    outside = []
    for page in pages(site):
        parser = Assets()
        parser.feed(page.read_text(encoding="utf-8"))
        css_urls = [u for text in parser.css for u in CSS_URL.findall(text)]
        outside += [f"{page.name}: {u}" for u in parser.urls + css_urls if OUTSIDE.match(u) and
                    not u.startswith("data:")]
    for sheet in site.rglob("*.css"):
        outside += [f"{sheet.relative_to(site)}: {u}" for u in CSS_URL.findall(sheet.read_text(errors="replace"))
                    if OUTSIDE.match(u) and not u.startswith("data:")]
    assert not outside, "the site loads these from outside itself:\n  " + "\n  ".join(outside)


def test_links_to_the_repository_become_site_links():
    assert lesson_site.site_link("02_neural_networks_exercises.ipynb", "") == "02_neural_networks_exercises.nblink"
    assert lesson_site.site_link("../images/forward_pass.png", "docs") == "../images/forward_pass.png"
    assert lesson_site.site_link("docs/instructors.md#grading", "") == "instructors.md#grading"
    assert lesson_site.site_link("solutions/", "") == "solutions.nblink"
    assert lesson_site.site_link("no/such/file.py", "") is None
    intro = nbformat.v4.new_markdown_cell("# T\n\nx_1: hours studied\n\n**Time:** about 90 minutes")
    nb = nbformat.v4.new_notebook(cells=[intro])
    assert lesson_site.study_time(nb) == "about 90 minutes"
    fenced = "[a](mailto:a@b.c) [b](no.md)\n```\n[b](no.md)\n```\n"
    assert lesson_site.rewrite_links(fenced, "") == "[a](mailto:a@b.c) b\n```\n[b](no.md)\n```\n"


# Text of a page's article without code, rendered maths and scripts: raw TeX left here was not rendered.
ARTICLE_TEXT = """() => { const a = document.querySelector('article') || document.body; const c = a.cloneNode(true);
  c.querySelectorAll('pre, code, script, mjx-container, .highlight').forEach(e => e.remove()); return c.innerText; }"""


@pytest.mark.browser
def test_every_page_in_chromium_offline(site, tmp_path):
    """Every page works offline in Chromium, at desktop and phone width, and search finds the notebooks."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://{HOST}:{server.server_address[1]}/"
    problems, blocked = [], []
    try:
        with system_chromium() as browser:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                          else (blocked.append(route.request.url), route.abort()))
            page = context.new_page()
            page.on("requestfailed", lambda r: problems.append(f"failed request {r.url} ({r.failure})"))
            page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            for html_page in pages(site):
                name = html_page.name
                page.set_viewport_size({"width": 1280, "height": 800})
                page.goto(base + name, wait_until="load")
                page.evaluate("() => document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
                page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=20_000)
                broken = page.evaluate("() => [...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
                problems += [f"{name}: image not loaded {src}" for src in broken]
                maths = page.locator(".math").count()
                if maths:
                    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                    page.evaluate("() => MathJax.startup.promise")
                    if page.locator("mjx-container").count() < maths:
                        problems.append(f"{name}: {maths} formulas, {page.locator('mjx-container').count()} rendered")
                raw = re.findall(r"(?<![\w$])\$[^$\n]+\$|\\\(.+?\\\)", page.evaluate(ARTICLE_TEXT))
                problems += [f"{name}: raw maths in the text: {r[:60]}" for r in raw]
                page.screenshot(path=tmp_path / f"desktop-{name}.png")
                page.set_viewport_size({"width": 390, "height": 844})
                width = page.evaluate("() => document.documentElement.scrollWidth")
                if width > 392:
                    problems.append(f"{name}: {width} px wide at phone width 390 px (the page scrolls sideways)")
                page.screenshot(path=tmp_path / f"phone-{name}.png")
            page.set_viewport_size({"width": 1280, "height": 800})
            page.goto(base + "search.html?q=backpropagation", wait_until="load")
            page.wait_for_selector("#search-results li a", timeout=20_000)
            found = {a.split("#")[0].split("?")[0] for a in page.eval_on_selector_all(
                "#search-results li a", "links => links.map(a => a.getAttribute('href'))")}
            page.screenshot(path=tmp_path / "desktop-search.png")
    finally:
        server.shutdown()
    assert not problems, "\n".join(problems)
    assert not blocked, f"pages asked for outside URLs: {blocked}"
    assert {"01_neural_networks_theory.html", "02_neural_networks_classification.html"} <= found, found


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
