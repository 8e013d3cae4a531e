"""The 13 exercises of ``02_neural_networks_exercises.ipynb`` (one file each; see tests/grading/README.md §3).

:func:`extract` runs an exercise's ``read`` in the kernel, :func:`evaluate` its ``judge``; :func:`check` is the
notebook's check cell (``check(4, globals())``). Imports inside this package are relative, so the grader can load a
fresh copy of it under another name in a student's kernel (``tests/grading/in_kernel.py``).
"""

from tests.grading.outcome import FAILED, NOT_ATTEMPTED, PASSED, Outcome

from . import (
    common,
    ex01_moons_split,
    ex02_moons_model,
    ex03_loss_optimizer,
    ex04_training_loop,
    ex05_predictions,
    ex06_backprop,
    ex07_spirals,
    ex08_parity,
    ex09_activations,
    ex10_iris_digits,
    ex11_optimizers,
    ex12_regularization,
    ex13_cross_validation,
)
from .common import DATASETS, NotAttempted, default_probes, make_probes, probe_inputs, reference_data

# The exercise files, in order. Plain import statements, not importlib: in a student's kernel the grader's copy of
# this package must not call anything the student's cells could have replaced.
_FILES = (ex01_moons_split, ex02_moons_model, ex03_loss_optimizer, ex04_training_loop, ex05_predictions, ex06_backprop,
          ex07_spirals, ex08_parity, ex09_activations, ex10_iris_digits, ex11_optimizers, ex12_regularization,
          ex13_cross_validation)
EXERCISES = {file.NUMBER: common.Exercise(file.NUMBER, file.TITLE, file.POINTS, file.OWN, file.BORROWED, file.TODO,
                                          file.read, file.judge) for file in _FILES}
MADE_IN = {name: n for n, exercise in EXERCISES.items() for name in exercise.own}


def is_placeholder(value) -> bool:
    """True for the template's placeholders: None, Ellipsis or a string holding 'TODO'."""
    return value is None or value is Ellipsis or (isinstance(value, str) and "TODO" in value)


def extract(number: int, namespace: dict, probes: dict | None = None) -> dict:
    """Read exercise ``number``'s names from ``namespace`` (the notebook's ``globals()``): plain data only.

    ``probes``: data-set name -> ``(N, D)`` fresh inputs to run models on (default: the check cells' fixed
    probes). Returns builtins and NumPy arrays; ``{"missing": [...]}`` when some but not all of the exercise's
    own names are still placeholders. Raises NotAttempted when all are, or a borrowed one is.
    """
    if not isinstance(number, int) or number not in EXERCISES:
        raise ValueError(f"there is no exercise {number!r}; exercises are numbered 1..{len(EXERCISES)}")
    if not isinstance(namespace, dict):
        raise NotAttempted("check() needs the notebook's globals(): call check(N, globals())")
    exercise = EXERCISES[number]
    missing = [name for name in exercise.own if is_placeholder(namespace.get(name))]
    if len(missing) == len(exercise.own):
        raise NotAttempted(exercise.todo)
    borrowed = [name for name in exercise.borrowed if is_placeholder(namespace.get(name))]
    if borrowed:
        raise NotAttempted(f"this exercise needs {borrowed[0]} from exercise {MADE_IN.get(borrowed[0], '?')} first")
    if missing:
        return {"missing": missing}
    return exercise.read(namespace, probe_inputs(default_probes()) if probes is None else probes)


def evaluate(number: int, values: dict, probes: dict | None = None) -> Outcome:
    """Judge exercise ``number`` from the plain ``values`` that :func:`extract` returned: full points or 0.

    Pure and deterministic; malformed values give a FAILED outcome, never an exception. ``probes``: the
    :func:`make_probes` dict whose inputs went into ``extract`` (default: the check cells' fixed probes).
    """
    if not isinstance(number, int) or number not in EXERCISES:
        return Outcome(number, FAILED, f"there is no exercise {number!r}; exercises are numbered 1..13")
    exercise = EXERCISES[number]

    def outcome(status, message):
        points = exercise.points if status == PASSED else 0
        return Outcome(number, status, message, points, exercise.title, exercise.points)

    if not isinstance(values, dict):
        return outcome(FAILED, "nothing to evaluate (the extracted values are not a dict)")
    if values.get("missing"):
        return outcome(FAILED, f"still to fill in: {', '.join(map(str, values['missing']))} (they are None)")
    common.NOTES.clear()
    try:
        message = exercise.judge(values, default_probes() if probes is None else probes)
        if common.NOTES:
            message += "; note: " + "; ".join(dict.fromkeys(common.NOTES))
    except common.Fail as failure:
        return outcome(FAILED, str(failure))
    except Exception as error:  # malformed values: a failure to explain, never a crash
        return outcome(FAILED, f"could not evaluate your values ({type(error).__name__}: {error})"[:400])
    return outcome(PASSED, message)


def check(number: int, namespace: dict) -> Outcome:
    """Check exercise ``number`` in a notebook: ``check(4, globals())``.

    Prints one line (✅ passed / ❌ failed with a hint / ⏳ not attempted) and returns the :class:`Outcome`.
    Never raises: an exception in the student's objects becomes a FAILED outcome naming it.
    """
    try:
        values = extract(number, namespace)
    except NotAttempted as reason:
        outcome = Outcome(number, NOT_ATTEMPTED, str(reason))
    except Exception as error:
        outcome = Outcome(number, FAILED, f"your objects raised {type(error).__name__}: {error}"[:400])
    else:
        outcome = evaluate(number, values)
    try:
        print(outcome.line())
    except Exception:  # a broken stdout must not stop the notebook either
        pass
    return outcome


def preload() -> None:
    """Load everything :func:`evaluate` uses (data sets, probes, torch's layers) before the grader forks."""
    for name in DATASETS:
        reference_data(name)
    make_probes(0)
    common.warm_up()


__all__ = ["EXERCISES", "DATASETS", "FAILED", "NOT_ATTEMPTED", "PASSED", "NotAttempted", "Outcome", "check",
           "evaluate", "extract", "make_probes", "preload", "probe_inputs", "reference_data"]
