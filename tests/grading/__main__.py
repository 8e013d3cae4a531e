"""``python -m tests.grading SUBMISSIONS --csv grades.csv --feedback feedback/`` (see cli.py)."""

import sys

# Nothing but the output paths is written: no __pycache__ next to the modules
# that evaluate() imports from the repository.
sys.dont_write_bytecode = True

from .cli import main

raise SystemExit(main())
