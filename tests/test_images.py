"""The diagram script draws every lesson diagram into any folder, and the committed images match what it draws."""

import re
import subprocess
import sys

from tests import lesson
from tests.lesson import ROOT

SCRIPT = ROOT / "images" / "make_figures.py"
FIGURES = ["network_structure.png", "forward_pass.png", "training_cycle.png", "backprop_graph.png"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_make_figures_writes_every_figure_as_a_valid_png_and_the_gif_notebook_02_shows(tmp_path):
    """images/circles_training.gif is byte for byte the animation stored in notebook 02 (it once drifted)."""
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--gif", "--stored"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in FIGURES:
        path = tmp_path / name
        assert path.is_file(), f"{name} was not written"
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC, f"{name} is not a PNG"
        assert 10_000 < len(data) < 150_000, f"{name} has an unexpected size: {len(data)} bytes"
    stored = (tmp_path / "circles_training.gif").read_bytes()
    assert stored == (ROOT / "images" / "circles_training.gif").read_bytes(), (
        "images/circles_training.gif differs from notebook 02's stored GIF: run python images/make_figures.py --gif")


def test_committed_figures_exist_are_small_and_are_the_ones_the_theory_notebook_shows():
    for name in FIGURES:
        path = ROOT / "images" / name
        assert path.is_file(), f"images/{name} is missing: run python images/make_figures.py"
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC
        assert len(data) < 150_000
    shown = set(re.findall(r"images/([a-z_]+\.png)", lesson.notebook_text(lesson.THEORY)))
    assert shown, "the theory notebook shows no diagram from images/"
    assert shown <= set(FIGURES), f"shown but not drawn by images/make_figures.py: {sorted(shown - set(FIGURES))}"
