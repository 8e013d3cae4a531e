"""``python -m tests.grading SUBMISSIONS [--out grading-output/]`` (see cli.py)."""

import sys

sys.dont_write_bytecode = True  # nothing but the outputs is written: no __pycache__ next to the criteria's imports

from .cli import main

raise SystemExit(main())
