"""The diagram script draws all three lesson figures into any folder."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "images" / "make_figures.py"
FIGURES = ["network_structure.png", "forward_pass.png", "training_cycle.png"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_make_figures_writes_three_valid_pngs(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for name in FIGURES:
        path = tmp_path / name
        assert path.is_file(), f"{name} was not written"
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC, f"{name} is not a PNG"
        assert 10_000 < len(data) < 150_000, f"{name} has an unexpected size: {len(data)} bytes"


def test_committed_figures_exist_and_are_small():
    for name in FIGURES:
        path = ROOT / "images" / name
        assert path.is_file(), f"images/{name} is missing: run python images/make_figures.py"
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC
        assert len(data) < 150_000
