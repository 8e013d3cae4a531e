"""Tools for the lesson's tests and maintainers, and a loader for scripts that are imported by their path."""

import importlib.util
import sys
from pathlib import Path


def load_script(path: Path, name: str):
    """Import the script at ``path`` as module ``name``, registered in ``sys.modules`` (dataclasses need that)
    unless a module of that name is already there."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module
