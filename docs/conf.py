"""Sphinx configuration of the lesson's website: `sphinx-build -W docs _site` from the repository root.

The notebook pages are the committed, executed notebooks, read in place (``*.nblink`` files name them) and never
executed here. Every script, style, font and image of the built site comes from a pinned pip package or from this
folder: no CDN (MathJax from ``sphinx-mathjax-offline``, no widget manager; see ``_ext/lesson_site.py``).
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent / "_ext"))

project = "Lesson 02: Neural Networks and Classification"
author = "the lesson's contributors"
copyright = "the lesson's contributors"

extensions = [
    "myst_nb",
    "sphinx_copybutton",
    "sphinx-mathjax-offline",
    "lesson_site",
]

root_doc = "index"
exclude_patterns = ["_build", "README.md", "**/.ipynb_checkpoints"]
# The notebooks are written for JupyterLab, which accepts a heading that skips a level; on the site that is
# cosmetic, so it must not fail the -W build. Unknown output types (none today) fall back to text.
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

# The notebooks: read as committed, with their outputs; never executed by the build.
nb_execution_mode = "off"
nb_custom_formats = {".nblink": ("lesson_site.read_notebook_link", {}, False)}
nb_ipywidgets_js = {}  # no widget manager from a CDN: the playground is shown as its saved picture
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 6  # links to any heading of a notebook, as in JupyterLab
myst_dmath_double_inline = True  # `$$...$$` inside a paragraph, as JupyterLab renders it

html_theme = "sphinx_book_theme"
html_title = "Lesson 02: Neural Networks and Classification"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_css_files = ["lesson.css"]
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
}
html_context = {"default_mode": "light"}
