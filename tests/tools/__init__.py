"""Tools for the lesson's tests and maintainers (run_notebook, everyday_check, ...) and one shared loader."""

import importlib.util
import sys
from pathlib import Path


def load_script(path: Path, name: str):
    """Import the script at ``path`` (a benchmark, not a package module) as module ``name``; registered in
    ``sys.modules`` (dataclasses in it need that) unless a module of that name is already there."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module
