"""Nothing in the lesson uses the network:

* a static scan of every notebook code cell and ``.py`` file for ways of reaching it: ``!pip``/``%pip`` installs,
  HTTP and socket libraries, shell downloaders, ``download=True``, scikit-learn's ``fetch_*``, torchvision / Hugging
  Face datasets, and ``http(s)://`` URLs in code (in markdown, comments and docstrings they are reading material);
* where ``unshare -rn`` works (as in ``.ci/run``), this Python cannot connect outwards in a network namespace while
  loopback still works: CI's offline run is offline, and Jupyter kernels can still talk to pytest.
"""

from __future__ import annotations

import ast
import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from tests import lesson
from tests.lesson import ROOT
from tests.tools.repo_copy import tracked_files

# Modules whose only use here would be reaching the network.
NETWORK_MODULES = {
    "urllib", "urllib3", "requests", "httpx", "aiohttp", "http", "ftplib", "smtplib", "socket", "webbrowser",
    "datasets", "huggingface_hub", "kaggle", "gdown", "wget", "pooch", "torchtext", "torchaudio",
}
# Submodules of those that only handle strings (``urllib.parse.quote`` for a Markdown link).
STRING_ONLY_MODULES = {"urllib.parse"}
# Calls that download: by function name (``fetch_*`` is every scikit-learn downloader).
DOWNLOAD_CALLS = {
    "urlopen", "urlretrieve", "load_dataset", "hf_hub_download", "snapshot_download", "from_pretrained",
    "load_state_dict_from_url", "download_url", "download_and_extract_archive",
}
# Calls that run a shell command (``!cmd`` and ``%pip`` in a notebook become get_ipython() calls).
SHELL_CALLS = {
    "system", "popen", "run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput",
    "run_line_magic", "run_cell_magic",
}
SHELL_NETWORK = re.compile(r"\b(pip3?|conda|mamba|apt|apt-get|uv)\b.*\binstall\b|\b(wget|curl)\b|\bgit\s+clone\b")
URL = re.compile(r"\b(https?|ftp)://", re.IGNORECASE)
# Calls that only show a URL to the reader.
SHOW_CALLS = {"print", "Markdown", "display"}


def _name(func: ast.expr) -> str:
    """``f`` for ``f(...)`` and ``obj.f(...)``; '' otherwise."""
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _strings(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def problems_in(label: str, source: str, notebook: bool = True) -> list[str]:
    """Ways of reaching the network in one notebook cell (``notebook``) or one .py file. URLs: any string in a notebook
    code cell, except in ``print``/``Markdown``; in a .py file, a string passed to a call (never a docstring)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return [f"{label}: does not parse ({error.msg}), cannot be checked"]
    found = []
    docstrings, shown, passed = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in NETWORK_MODULES and module not in STRING_ONLY_MODULES:
                    found.append(f"{label}: imports {module} (network library)")
                if module == "torchvision.datasets" or module.startswith("torchvision.datasets."):
                    found.append(f"{label}: imports {module} (downloads data sets)")
            if isinstance(node, ast.ImportFrom) and node.module == "torchvision":
                if any(a.name == "datasets" for a in node.names):
                    found.append(f"{label}: imports torchvision.datasets (downloads data sets)")
        elif isinstance(node, ast.Attribute) and node.attr == "hub" and _name(node.value) == "torch":
            found.append(f"{label}: uses torch.hub (downloads models)")
        elif isinstance(node, ast.Attribute) and node.attr == "datasets" and _name(node.value) == "torchvision":
            found.append(f"{label}: uses torchvision.datasets (downloads data sets)")
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            args = [*node.args, *(k.value for k in node.keywords)]
            if name in DOWNLOAD_CALLS or name.startswith("fetch_"):
                found.append(f"{label}: calls {name}() (downloads)")
            for keyword in node.keywords:
                if keyword.arg == "download" and isinstance(keyword.value, ast.Constant) and keyword.value.value:
                    found.append(f"{label}: {name}(download=True)")
            if name in SHELL_CALLS:
                command = " ".join(c.value for a in args for c in _strings(a))
                offline_pip = re.search(r"\bpip3?\b.*\binstall\b", command) and "--no-index" in command
                if SHELL_NETWORK.search(command) and not offline_pip:
                    found.append(f"{label}: runs {command.strip()[:80]!r} (network from a shell command)")
            for arg in args:
                (shown if name in SHOW_CALLS else passed).update(id(c) for c in _strings(arg))
    for constant in _strings(tree):
        if id(constant) in docstrings or id(constant) in shown or not URL.search(constant.value):
            continue
        if notebook or id(constant) in passed:
            found.append(f"{label}: URL in code: {constant.value[:80]!r}")
    return found


# Tools that drive a local Jupyter server over 127.0.0.1 (and nothing else), with the reason.
LOOPBACK_ONLY = {
    "tests/tools/jupyterlab_save.py": "opens notebooks through a Jupyter server on 127.0.0.1, as JupyterLab does",
    "tests/test_browser.py": "starts JupyterLab on 127.0.0.1 and points the system Chromium at it",
    "tests/test_site.py": "serves the built site on 127.0.0.1 and points the system Chromium at it",
}


def notebook_code(path: pathlib.Path) -> list[tuple[str, str]]:
    """(label, Python source) of each code cell, IPython syntax (``!``, ``%``) turned into calls; a lesson notebook
    in the version the tests judge (tests/lesson.py)."""
    transformer = TransformerManager()
    name = lesson.relative(path)
    nb = json.loads(lesson.notebook_text(name) if name else path.read_text(encoding="utf-8"))
    return [(f"cell {index}", transformer.transform_cell("".join(cell.get("source", ""))))
            for index, cell in enumerate(nb.get("cells", [])) if cell.get("cell_type") == "code"]


# The lesson's .py and .ipynb files: what git tracks (or stages), not untracked students' files beside them
# (submissions/, copies, a corrupt download); outside a git checkout, every file below ROOT outside dot-folders.
FILES = [
    ROOT / name for name in tracked_files()
    if name.endswith((".py", ".ipynb")) and not any(part.startswith(".") for part in name.split("/"))
    and name != "tests/test_offline.py" and ((ROOT / name).is_file() or lesson.relative(ROOT / name))
]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_source_reaches_no_network(path):
    name = path.relative_to(ROOT).as_posix()
    if name in LOOPBACK_ONLY:
        # Allowed network use, if every address in it is the loopback host.
        source = path.read_text(encoding="utf-8")
        hosts = re.findall(r"\b(?:https?|wss?|ftp)://([^/:\"']*)", source)
        assert 'HOST = "127.0.0.1"' in source and hosts and set(hosts) == {"{HOST}"}, (name, hosts)
        return
    if path.suffix == ".ipynb":
        units = [(f"{name} {label}", code, True) for label, code in notebook_code(path)]
    else:
        units = [(name, path.read_text(encoding="utf-8"), False)]
    problems = [p for label, code, notebook in units for p in problems_in(label, code, notebook)]
    assert not problems, "\n".join(problems)


# (source, scanned as a notebook cell (True) or a .py file (False), must be caught)
SCANNER_CASES = [
    *[(source, True, True) for source in [
        "!pip install torch",
        "%pip install -q torchmetrics",
        "!wget https://example.org/data.csv",
        "import requests",
        "from urllib.request import urlretrieve",
        "X = datasets.MNIST('data', download=True)",
        "from sklearn.datasets import fetch_openml\nmnist = fetch_openml('mnist_784')",
        "import torchvision.datasets",
        "from torchvision import datasets",
        "model = torch.hub.load('pytorch/vision', 'resnet18')",
        "df = pd.read_csv('https://example.org/iris.csv')",
        "URL = 'http://example.org/weights.pt'",
        "import socket",
        "import subprocess\nsubprocess.run(['pip', 'install', 'x'])",
    ]],
    *[(source, True, False) for source in [
        "# Data: https://scikit-learn.org/stable/datasets.html\nfrom sklearn.datasets import load_iris",
        "print('Further reading: https://pytorch.org/docs')",
        "X, y = make_circles(1000, noise=0.03, random_state=42)",
        "from sklearn.datasets import load_digits\nX, y = load_digits(return_X_y=True)",
        "!ls images",
    ]],
    *[(source, False, False) for source in [
        '"""Docs: https://pytorch.org/docs."""\nimport torch',
        "def f():\n    'See https://example.org'\n    return 1",
        "assert 'pip install -r requirements.txt' in text\nassert 'https://x.org' in README",
        "import subprocess\nsubprocess.run(['pytest', '-q'])",
        "import subprocess\nsubprocess.run(['python', '-m', 'pip', 'install', '--no-index', '-e', '.'])",
        "from urllib.parse import quote\nlink = quote('alice 1.ipynb')",
    ]],
    *[(source, False, True) for source in [
        "import pandas as pd\ndf = pd.read_csv('https://example.org/iris.csv')",
        "import os\nos.system('curl -O http://example.org/x')",
        "from urllib.request import urlopen",
        "import urllib.request",
        "import urllib",
        "import subprocess\nsubprocess.run(['python', '-m', 'pip', 'install', '-e', '.'])",
    ]],
]


@pytest.mark.parametrize("source, notebook, caught", SCANNER_CASES)
def test_scanner_catches_network_use_and_allows_reading_material(source, notebook, caught):
    """Each way of reaching the network is caught, in a notebook cell or a .py file; URLs to read are not."""
    code = TransformerManager().transform_cell(source) if notebook else source
    assert bool(problems_in("probe", code, notebook)) == caught, source


def _unshare_works() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    try:
        result = subprocess.run(["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


PROBE = """
import socket, sys
# Loopback must work: Jupyter kernels talk to pytest over 127.0.0.1.
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
socket.create_connection(server.getsockname(), timeout=2).close()
# Anything else must fail at once (no route, no DNS).
for target in [("1.1.1.1", 443), ("8.8.8.8", 53), ("pypi.org", 443)]:
    try:
        socket.create_connection(target, timeout=2).close()
    except OSError:
        continue
    sys.exit(f"connected to {target}")
print("offline")
"""


@pytest.mark.skipif(not _unshare_works(), reason="unprivileged network namespaces (unshare -rn) are unavailable here")
def test_python_cannot_reach_the_network_under_unshare():
    result = subprocess.run(
        ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable, "-c", PROBE],
        capture_output=True, text=True, timeout=20,
    )
    assert result.returncode == 0 and result.stdout.strip() == "offline", result.stdout + result.stderr
