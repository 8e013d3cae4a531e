"""Tests of the exercise notebooks and their criteria (tests/exercise_checks.py).

* The template and the solutions are mirrors: same cells, tags, headings and check cells.
* ``evaluate`` per exercise on hand-built plain values: a right answer passes, typical mistakes fail with
  their specific hint.
* ``check`` never raises, whatever the namespace holds.
* extract -> pickle (NumPy and builtins only) -> evaluate works end to end.

No notebook is executed here (the harness executes both notebooks); models are tiny and built in-process.
"""

import ast
import io
import math
import pickle
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # off-screen: these tests draw a few Axes

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

import tests.exercise_checks as ec

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "02_neural_networks_exercises.ipynb"
SOLUTIONS = ROOT / "solutions" / "02_neural_networks_exercises_solutions.ipynb"
NUMBERS = range(1, 14)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------
# (a) the two notebooks are mirrors
# --------------------------------------------------------------------------
def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _exercise(cell) -> int | None:
    return next((int(t[2:]) for t in _tags(cell) if re.fullmatch(r"ex\d+", t)), None)


def _headings(cell) -> list[str]:
    return [line for line in cell.source.splitlines() if line.startswith("#")] if cell.cell_type == "markdown" else []


@pytest.fixture(scope="module")
def notebooks():
    return nbformat.read(TEMPLATE, as_version=4), nbformat.read(SOLUTIONS, as_version=4)


def test_same_cells_types_and_tags(notebooks):
    template, solution = notebooks
    assert len(template.cells) == len(solution.cells)
    for i, (a, b) in enumerate(zip(template.cells, solution.cells, strict=True)):
        assert a.cell_type == b.cell_type, f"cell {i}"
        assert _tags(a) == _tags(b), f"cell {i}"


def test_same_markdown(notebooks):
    """Same headings everywhere; the task texts (every markdown cell but the introduction) identical."""
    template, solution = notebooks
    assert [_headings(c) for c in template.cells] == [_headings(c) for c in solution.cells]
    for i, (a, b) in enumerate(zip(template.cells[1:], solution.cells[1:], strict=True), start=1):
        if a.cell_type == "markdown":
            assert a.source == b.source, f"cell {i}"


def test_exercise_structure(notebooks):
    """Heading, answer cell(s), answer-text (9, 11, 12, 13), exactly one identical check cell, in order 1..13."""
    for nb in notebooks:
        order = []
        for i, cell in enumerate(nb.cells):
            heading = re.match(r"## Exercise (\d+): (.+)", cell.source) if cell.cell_type == "markdown" else None
            if heading:
                n = int(heading.group(1))
                assert heading.group(2).strip() == ec.EXERCISES[n].title
                order.append(("heading", n))
            elif _exercise(cell) is not None:
                role = next(t for t in _tags(cell) if t in ("answer", "answer-text", "check"))
                order.append((role, _exercise(cell)))
                if role == "check":
                    assert cell.source.strip() == f"check({_exercise(cell)}, globals())", f"cell {i}"
        for n in NUMBERS:
            roles = [role for role, m in order if m == n]
            first = order.index(("heading", n))
            assert order[first: first + len(roles)] == [(r, n) for r in roles], f"exercise {n} is not contiguous"
            expected_text = 1 if n in (9, 11, 12, 13) else 0
            assert roles[0] == "heading" and roles[-1] == "check" and roles.count("check") == 1
            assert roles.count("answer-text") == expected_text and roles.count("answer") >= 1
        assert [n for role, n in order if role == "heading"] == list(NUMBERS)


def test_template_answer_cells_are_placeholders(notebooks):
    """TODO banners, `None` placeholders for exactly the names each exercise defines."""
    template, _ = notebooks
    assigned: dict[int, set[str]] = {n: set() for n in NUMBERS}
    for cell in template.cells:
        if {"answer", "answer-text"} & set(_tags(cell)):
            assert cell.source.startswith("# TODO") and cell.source.rstrip().endswith("# END OF YOUR CODE")
            for line in cell.source.splitlines():
                if not line.startswith("#"):
                    *names, value = [part.strip() for part in line.split("=")]
                    assert value == "None", line
                    assigned[_exercise(cell)].update(names)
    for n in NUMBERS:
        assert assigned[n] == set(ec._OWN[n]), n


def test_needs_cover_what_the_solutions_borrow(notebooks):
    """Every name an exercise's solution reads from another exercise's answer cells is in its `needs`,
    so an exception in exercise k only costs the exercises that list k's names."""
    _, solution = notebooks
    stored: dict[int, set[str]] = {n: set() for n in NUMBERS}
    loaded: dict[int, set[str]] = {n: set() for n in NUMBERS}
    for cell in solution.cells:
        if cell.cell_type == "code" and {"answer", "answer-text"} & set(_tags(cell)):
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Name):
                    (loaded if isinstance(node.ctx, ast.Load) else stored)[_exercise(cell)].add(node.id)
                elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                    stored[_exercise(cell)].add(node.name)
                elif isinstance(node, ast.arg):
                    stored[_exercise(cell)].add(node.arg)
    for n in NUMBERS:
        borrowed = {name for name in loaded[n] - stored[n] if any(name in stored[m] for m in NUMBERS if m != n)}
        assert borrowed <= set(ec.EXERCISES[n].needs), (n, borrowed - set(ec.EXERCISES[n].needs))


def test_solution_cells_have_no_todo(notebooks):
    _, solution = notebooks
    for cell in solution.cells:
        assert cell.cell_type == "markdown" or "# TODO" not in cell.source


# --------------------------------------------------------------------------
# Helpers that build plain values as `extract` would
# --------------------------------------------------------------------------
def info(array, kind="torch.Tensor", dtype=None):
    array = np.asarray(array)
    if dtype is None:
        dtype = {"float32": "torch.float32", "float64": "torch.float64", "int64": "torch.int64"}.get(str(array.dtype))
    return {"array": array, "type": kind, "dtype": dtype}


def model_info(outputs, leaves=("Linear", "ReLU", "Linear"), param_ids=(1, 2, 3, 4)):
    return {"is_module": True, "outputs": np.asarray(outputs, dtype=np.float64), "outputs_type": "torch.Tensor",
            "leaves": list(leaves), "n_params": 10, "param_ids": list(param_ids)}


def logits_for(y, n_classes=1, flip=0):
    """Perfect logits for labels y, with the first `flip` predictions wrong."""
    y = np.asarray(y).astype(int).copy()
    y[:flip] = (y[:flip] + 1) % max(n_classes, 2)
    if n_classes == 1:
        return (4.0 * (2 * y - 1))[:, None]
    return 4.0 * np.eye(n_classes)[y]


def axes_info(lines=3, collections=0, legend=True):
    return {"is_axes": True, "n_axes": 1, "n_lines": lines, "n_collections": collections, "has_legend": legend,
            "xlabel": "epoch", "ylabel": "loss", "title": "t"}


def split(data, n_test, seed=0):
    X, y = ec._reference_data(data)
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = order[:n_test], order[n_test:]
    return X[train].astype(np.float32), X[test].astype(np.float32), y[train], y[test]


def split_values(data, names, n_test):
    X_train, X_test, y_train, y_test = split(data, n_test)
    return dict(zip(names, (info(X_train), info(X_test), info(y_train.astype(np.float32)), info(y_test)),
                    strict=True))


def assert_fails(number, values, *fragments):
    result = ec.evaluate(number, values)
    assert result.status == ec.FAILED and result.points == 0, result
    for fragment in fragments:
        assert fragment in result.message, (fragment, result.message)
    return result


def assert_passes(number, values):
    result = ec.evaluate(number, values)
    assert result.status == ec.PASSED, result.message
    assert result.points == ec.EXERCISES[number].points
    return result


def test_points_table():
    assert [ec.EXERCISES[n].points for n in NUMBERS] == [1, 1, 1] + [2] * 10
    assert sum(e.points for e in ec.EXERCISES.values()) == 23
    assert list(ec.EXERCISES) == list(NUMBERS)
    for n, exercise in ec.EXERCISES.items():
        assert exercise.number == n and exercise.title and exercise.needs


# --------------------------------------------------------------------------
# (b) evaluate, exercise by exercise
# --------------------------------------------------------------------------
MOONS = ec._MOONS_SPLIT


def test_ex1_split():
    good = split_values("moons", MOONS, 200)
    assert "800 training" in assert_passes(1, good).message

    short = {**good, "X_train_moons": info(good["X_train_moons"]["array"][:700])}
    assert_fails(1, short, "X_train_moons should have shape (800, 2)", "(700, 2)")

    full = {**good, "X_train_moons": info(ec._reference_data("moons")[0].astype(np.float32))}
    assert_fails(1, full, "should have shape (800, 2)", "(1000, 2)")

    assert_fails(1, {**good, "X_test_moons": info(good["X_test_moons"]["array"], kind="numpy.ndarray")},
                 "should be a torch tensor")
    assert_fails(1, {**good, "X_train_moons": info(good["X_train_moons"]["array"].astype(np.float64))},
                 "float32")

    noisy = good["X_test_moons"]["array"] + np.float32(0.01)
    assert_fails(1, {**good, "X_test_moons": info(noisy)}, "is not a point of make_moons")

    shuffled = np.random.default_rng(1).permutation(good["y_test_moons"]["array"])
    assert_fails(1, {**good, "y_test_moons": info(shuffled)}, "labels must stay paired")

    X_train = good["X_train_moons"]["array"].copy()
    X_train[0] = good["X_test_moons"]["array"][0]  # one test point leaks into the training split
    y_train = good["y_train_moons"]["array"].copy()
    y_train[0] = good["y_test_moons"]["array"][0]
    assert_fails(1, {**good, "X_train_moons": info(X_train), "y_train_moons": info(y_train)}, "appear twice")


def test_ex2_nonlinear_model():
    grid = ec._GRID_2D.astype(np.float64)
    assert_passes(2, {"model": model_info(np.tanh(grid @ [[1.5], [-2.0]]) + 0.1)})
    assert_fails(2, {"model": model_info(grid @ [[1.0], [2.0]] + 3.0)}, "straight-line")
    assert_fails(2, {"model": model_info(np.zeros((len(grid), 3)))}, "1 logit")
    assert_fails(2, {"model": {"is_module": False, "type": "function"}}, "torch.nn.Module")
    assert_fails(2, {"model": model_info(np.full((len(grid), 1), np.nan))}, "NaN")


def test_ex3_loss_and_optimizer():
    model = model_info(np.zeros((5, 1)), param_ids=(7, 8))
    good = {"model": model, "loss_type": "BCEWithLogitsLoss", "loss_on_probe": 0.5, "optimizer_type": "Adam",
            "is_optimizer": True, "optimizer_param_ids": [7, 8], "lr": 0.01}
    assert "BCEWithLogitsLoss with Adam" in assert_passes(3, good).message
    assert_fails(3, {**good, "loss_type": "MSELoss"}, "regression loss")
    assert_fails(3, {**good, "loss_type": "BCELoss"}, "expects probabilities")
    assert_passes(3, {**good, "loss_type": "BCELoss", "model": {**model, "leaves": ["Linear", "Sigmoid"]}})
    assert_fails(3, {**good, "loss_type": "CrossEntropyLoss"}, "needs 2 output units")
    assert_fails(3, {**good, "optimizer_param_ids": [7]}, "doesn't hold exactly model_moons's parameters")
    assert_fails(3, {**good, "is_optimizer": False, "optimizer_type": "NoneType"}, "torch.optim optimizer")
    assert_fails(3, {**good, "lr": 0.0}, "learning rate")
    # A hand-written loss is recognised by its value on the probe logits.
    probe = float(np.mean(np.logaddexp(0, -np.array([2.0, -1.0, 0.5]) * np.array([1, -1, -1]))))
    assert_passes(3, {**good, "loss_type": "function", "loss_on_probe": probe})
    assert_fails(3, {**good, "loss_type": "function", "loss_on_probe": 0.1}, "BCEWithLogitsLoss")


def test_ex4_training():
    values = split_values("moons", MOONS, 200)
    y_test = values["y_test_moons"]["array"]
    good = {**values, "model": model_info(logits_for(y_test)), "history": {"train_loss": [0.7, 0.3, 0.01]}}
    assert "test accuracy 1.000" in assert_passes(4, good).message
    assert_passes(4, {**good, "history": [0.7, 0.1]})  # a plain list of losses is fine too
    assert_fails(4, {**good, "model": model_info(logits_for(y_test, flip=20))}, "test accuracy 0.900 < 0.96",
                 "train longer")
    assert_fails(4, {**good, "history": {"train_loss": [0.5, 0.6]}}, "did not go down", "zero_grad")
    assert_fails(4, {**good, "history": {"loss": [0.5, 0.1]}}, "'train_loss'")
    # Probabilities from a final Sigmoid are thresholded at 0.5, not at 0.
    probs = 1 / (1 + np.exp(-logits_for(y_test)))
    assert_passes(4, {**good, "model": model_info(probs, leaves=("Linear", "ReLU", "Linear", "Sigmoid"))})


def test_ex5_predictions():
    y_test = split("moons", 200)[3]
    good = {"y_pred": info(y_test.astype(np.float32)), "y_test": info(y_test),
            "model": model_info(logits_for(y_test)), "ax": axes_info(lines=0, collections=3)}
    assert_passes(5, good)
    assert_fails(5, {**good, "y_pred": info(logits_for(y_test)[:, 0])}, "logits or probabilities", "torch.round")
    assert_fails(5, {**good, "y_pred": info(y_test[:150])}, "should have shape (200,)")
    assert_fails(5, {**good, "model": model_info(logits_for(y_test, flip=40))}, "agrees with model_moons")
    assert_fails(5, {**good, "ax": {"is_axes": False, "type": "NoneType"}}, "ax_moons should be the matplotlib Axes")
    assert_fails(5, {**good, "ax": axes_info(collections=0)}, "plot_decision_boundary")


def _tanh_values(f, calls=()):
    outputs = {"arange": f(np.arange(-100, 100, dtype=np.float64))}
    outputs.update({k: f(np.asarray(a, dtype=np.float64)) for k, a in ec._TANH_INPUTS.items() if a is not None})
    return {"callable": True, "outputs": outputs, "errors": {}, "builtin_calls": list(calls)}


def test_ex6_stable_tanh():
    assert_passes(6, _tanh_values(np.tanh))
    with np.errstate(over="ignore", invalid="ignore"):
        x32 = np.float32  # in float32, as torch computes it: exp(89) overflows to inf and inf / inf is NaN
        naive = _tanh_values(lambda x: (np.exp(x.astype(x32)) - np.exp(-x.astype(x32)))
                             / (np.exp(x.astype(x32)) + np.exp(-x.astype(x32))))
    assert_fails(6, naive, "NaN/inf", "exp(-2|x|)")
    assert_fails(6, _tanh_values(np.tanh, calls=["torch.tanh"]), "calls torch.tanh")
    assert_fails(6, _tanh_values(lambda x: np.tanh(x) + 1e-4), "differs from torch.tanh")
    assert_fails(6, {**_tanh_values(np.tanh), "errors": {"arange": "RuntimeError: boom"}},
                 "torch.arange(-100, 100)) raised RuntimeError")
    assert_fails(6, {"callable": False, "type": "int"}, "should be a function")
    assert_fails(6, _tanh_values(lambda x: np.tanh(x)[:3]), "keep the input's shape")


def test_ex7_spirals():
    values = split_values("spirals", ec._SPIRALS_SPLIT, 200)
    y_test = values["y_test_spirals"]["array"]
    good = {**values, "model": model_info(logits_for(y_test, 3)), "ax": axes_info(lines=0, collections=4)}
    assert_passes(7, good)
    assert_fails(7, {**good, "model": model_info(logits_for(y_test, 1))}, "3 classes need 3 output units")
    assert_fails(7, {**good, "model": model_info(logits_for(y_test, 3, flip=12))}, "test accuracy 0.940 < 0.95")
    assert_fails(7, {**good, "ax": None}, "ax_spirals")


def test_ex8_xor():
    values = split_values("xor", ec._XOR_SPLIT, 200)
    y_test = values["y_test_xor"]["array"]
    assert_passes(8, {**values, "model": model_info(logits_for(y_test))})
    assert_fails(8, {**values, "model": model_info(logits_for(y_test, flip=3))}, "test accuracy 0.985 < 0.99")


def _activation_values():
    histories, results = {}, {}
    for name, start in (("sigmoid", 50), ("relu", 10), ("tanh", 20)):
        acc = np.clip(np.linspace(0.5, 1.5, 100) - 0.01 * (start - 10), 0, 1)
        histories[name] = {"train_loss": list(np.linspace(0.7, 0.01, 100)), "test_acc": list(acc)}
        reached = np.flatnonzero(acc >= 0.9)
        results[name] = {"test_acc": float(acc[-1]), "epochs_to_90": int(reached[0]) + 1}
    return {"results": results, "histories": histories, "ax": axes_info(lines=3),
            "answer": "Sigmoid was slowest (needed the most epochs to 90%); ReLU was fastest."}


def test_ex9_activations():
    good = _activation_values()
    assert "not graded automatically" in assert_passes(9, good).message
    capitalised = {**good, "results": {k.capitalize(): v for k, v in good["results"].items()}}
    assert_passes(9, capitalised)  # key spelling is forgiven
    no_tanh = {**good, "results": {k: v for k, v in good["results"].items() if k != "tanh"}}
    assert_fails(9, no_tanh, "missing ['tanh']")
    off_by_one = {**good, "results": {**good["results"], "relu": {**good["results"]["relu"],
                                                                  "epochs_to_90": good["results"]["relu"][
                                                                      "epochs_to_90"] - 1}}}
    assert_fails(9, off_by_one, "first reaches 0.9 at epoch", "count epochs from 1")
    shorter = {**good["histories"]["tanh"], "train_loss": good["histories"]["tanh"]["train_loss"][:50],
               "test_acc": good["histories"]["tanh"]["test_acc"][:50]}
    results = {**good["results"], "tanh": {"test_acc": shorter["test_acc"][-1],
                                          "epochs_to_90": ec._epochs_to(np.array(shorter["test_acc"]), 0.9)}}
    assert_fails(9, {**good, "histories": {**good["histories"], "tanh": shorter}, "results": results},
                 "same number of epochs")
    assert_fails(9, {**good, "ax": axes_info(lines=2)}, "at least 3")
    assert_fails(9, {**good, "ax": axes_info(legend=False)}, "legend")
    assert_fails(9, {**good, "answer": None}, "answer_9 is still empty")
    assert_fails(9, {**good, "answer": "TODO"}, "answer_9 is still empty")
    wrong_final = {**good, "results": {**good["results"], "sigmoid": {"test_acc": 0.5, "epochs_to_90": 41}}}
    assert_fails(9, wrong_final, "final test accuracy")


def _tabular_values(data, n_classes, fit_on="train", flip=0, seed=0):
    loader = load_iris if data == "iris" else load_digits
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(X_train if fit_on == "train" else X)
    X_test_scaled = (StandardScaler().fit(X_test) if fit_on == "test-separately" else scaler).transform(X_test)
    names = ec._IRIS if data == "iris" else ec._DIGITS
    return {
        names[0]: info(scaler.transform(X_train).astype(np.float32)),
        names[1]: info(X_test_scaled.astype(np.float32)),
        names[2]: info(y_train), names[3]: info(y_test),
        "scaler": {"type": "sklearn.preprocessing._data.StandardScaler", "mean": scaler.mean_, "scale": scaler.scale_},
        "model": model_info(logits_for(y_test, n_classes, flip=flip)),
    }


def test_ex10_iris_and_digits():
    good = {"iris": _tabular_values("iris", 3), "digits": _tabular_values("digits", 10)}
    message = assert_passes(10, good).message
    assert "iris test accuracy 1.000" in message and "digits test accuracy 1.000" in message
    assert_fails(10, {**good, "iris": _tabular_values("iris", 3, fit_on="all")},
                 "fit the scaler on the training split only")
    assert_fails(10, {**good, "digits": _tabular_values("digits", 10, fit_on="test-separately")},
                 "X_test_digits has column means of exactly 0")
    assert_fails(10, {**good, "iris": _tabular_values("iris", 3, flip=3)}, "iris test accuracy 0.900 < 0.93")
    assert_fails(10, {**good, "digits": _tabular_values("digits", 10, flip=20)}, "digits test accuracy")
    no_scaler = {**good, "iris": {**good["iris"], "scaler": {"type": "NoneType", "mean": None, "scale": None}}}
    assert_fails(10, no_scaler, "fitted sklearn StandardScaler")
    wrong_width = {**good, "iris": {**good["iris"], "model": model_info(np.zeros((30, 10)))}}
    assert_fails(10, wrong_width, "iris has 3 classes")


def _optimizer_values():
    curves = {name: list(np.linspace(0.5, top, 15)) for name, top in
              (("SGD", 0.93), ("Momentum", 0.97), ("RMSprop", 0.96), ("Adam", 0.97))}
    results = {name: {"train_time": 0.2, "val_acc": curve[-1]} for name, curve in curves.items()}
    return {"results": results, "histories": curves, "ax": axes_info(lines=4),
            "answer": "Momentum and Adam got to 95% in the fewest epochs; SGD was slowest; times were similar."}


def test_ex11_optimizers():
    good = _optimizer_values()
    assert_passes(11, good)
    aliased = {**good, "results": {("SGD + momentum" if k == "Momentum" else k): v for k, v in good["results"].items()}}
    assert_passes(11, aliased)
    assert_fails(11, {**good, "results": {k: v for k, v in good["results"].items() if k != "RMSprop"}},
                 "missing ['rmsprop']")
    assert_fails(11, {**good, "results": {**good["results"], "Adam": {"train_time": 0, "val_acc": 0.97}}},
                 "training time in seconds")
    assert_fails(11, {**good, "results": {**good["results"], "Adam": {"train_time": 0.2, "val_acc": 0.5}}},
                 "should be the last value of its validation curve")
    assert_fails(11, {**good, "results": {**good["results"], "Adam": {"train_time": 0.2, "val_acc": 97.0}}},
                 "between 0 and 1")
    assert_fails(11, {**good, "ax": axes_info(lines=3)}, "at least 4")
    assert_fails(11, {**good, "answer": "   "}, "answer_11 is still empty")


def _regularization_values():
    finals = {"none": (1.0, 0.84), "L1": (1.0, 0.89), "L2": (1.0, 0.9), "dropout": (0.99, 0.88)}
    histories = {k: {"train_acc": [0.5, tr], "val_acc": [0.4, va]} for k, (tr, va) in finals.items()}
    results = {k: {"train_acc": tr, "val_acc": va, "gap": tr - va} for k, (tr, va) in finals.items()}
    return {"results": results, "histories": histories, "best": "L2",
            "answer": "Without regularization the gap is large; L2 closed it most, dropout least."}


def test_ex12_regularization():
    good = _regularization_values()
    assert "L2 closes" in assert_passes(12, good).message
    assert_fails(12, {**good, "best": "dropout"}, "best_regularizer is 'dropout'", "'L2' closes the gap more")
    assert_fails(12, {**good, "best": "none"}, "should be one of")
    bad_gap = {**good, "results": {**good["results"], "L1": {**good["results"]["L1"], "gap": 0.5}}}
    assert_fails(12, bad_gap, "should be train_acc - val_acc")
    calm = {k: {"train_acc": [0.5, 0.9], "val_acc": [0.4, 0.89]} for k in good["histories"]}
    calm_results = {k: {"train_acc": 0.9, "val_acc": 0.89, "gap": 0.9 - 0.89} for k in good["results"]}
    assert_fails(12, {**good, "histories": calm, "results": calm_results}, "over-fit first")
    assert_fails(12, {**good, "histories": {**good["histories"], "L1": {"train_acc": [1.0]}}},
                 "'train_acc' and 'val_acc'")
    assert_fails(12, {**good, "answer": None}, "answer_12 is still empty")


def _cv_values():
    rows = []
    for i, (layers, units, lr, batch) in enumerate([(1, 32, 0.01, 256), (1, 128, 0.01, 64), (2, 32, 0.001, 64),
                                                    (2, 128, 0.001, 256)]):
        accs = [0.9 + 0.01 * i, 0.91 + 0.01 * i, 0.92 + 0.01 * i]
        rows.append({"hidden_layers": layers, "hidden_units": units, "lr": lr, "batch_size": batch,
                     "fold_accs": accs, "mean": float(np.mean(accs)), "std": float(np.std(accs))})
    y_test = split("digits", 360)[3]
    best = {k: rows[-1][k] for k in ec.CV_KEYS}
    return {"cv_results": rows, "best_config": best, "model": model_info(logits_for(y_test, 10)),
            "y_test": info(y_test), "answer": "The learning rate mattered most; the test accuracy matched the CV."}


def test_ex13_cross_validation():
    good = _cv_values()
    assert "4 configurations x 3 folds" in assert_passes(13, good).message
    rows = good["cv_results"]
    assert_fails(13, {**good, "best_config": {k: rows[0][k] for k in ec.CV_KEYS}}, "highest mean CV accuracy")
    assert_fails(13, {**good, "cv_results": [{**rows[0], "mean": 0.5}] + rows[1:]}, "is not the mean")
    assert_fails(13, {**good, "cv_results": [{**rows[0], "std": 0.5}] + rows[1:]}, "standard deviation")
    two_folds = [{**r, "fold_accs": r["fold_accs"][:2], "mean": float(np.mean(r["fold_accs"][:2])),
                  "std": float(np.std(r["fold_accs"][:2]))} for r in rows]
    assert_fails(13, {**good, "cv_results": two_folds}, "k >= 3 folds")
    same_batch = [{**r, "batch_size": 64} for r in rows]
    assert_fails(13, {**good, "cv_results": same_batch, "best_config": {**good["best_config"], "batch_size": 64}},
                 "same batch_size")
    assert_fails(13, {**good, "cv_results": rows[:1]}, "at least 2")
    assert_fails(13, {**good, "model": model_info(np.zeros((360, 9)))}, "10 logits")
    y_test = good["y_test"]["array"]
    assert_fails(13, {**good, "model": model_info(logits_for(y_test, 10, flip=60))}, "model_cv's test accuracy")
    assert_fails(13, {**good, "answer": None}, "answer_13 is still empty")


def test_missing_and_malformed_values():
    result = ec.evaluate(7, {"missing": ["model_spirals", "ax_spirals"]})
    assert result.status == ec.FAILED and "model_spirals, ax_spirals" in result.message
    for garbage in (None, [], {"results": 3}, {"model": "x"}):
        for n in NUMBERS:
            result = ec.evaluate(n, garbage)
            assert result.status == ec.FAILED and result.points == 0
    assert ec.evaluate(14, {}).status == ec.FAILED
    assert ec.evaluate([1], {}).status == ec.FAILED


# --------------------------------------------------------------------------
# (c) check never raises
# --------------------------------------------------------------------------
class Explosive:
    """Every attribute access, call, iteration and conversion raises."""

    def __getattr__(self, name):
        raise RuntimeError(f"boom: {name}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError("boom: call")

    def __iter__(self):
        raise RuntimeError("boom: iter")

    def __array__(self, *args, **kwargs):
        raise RuntimeError("boom: array")

    def __len__(self):
        raise RuntimeError("boom: len")


class BrokenModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def forward(self, x):
        raise ValueError("forward is broken")


GARBAGE = [0, -1.5, "text", "TODO", b"bytes", [1, 2], {"a": 1}, (), Explosive(), BrokenModel(), torch.zeros(3),
           torch.zeros(0, 2), np.array(["a"]), lambda *a: None, nn.Linear(3, 3), float("nan"), print, Ellipsis]


@pytest.mark.parametrize("garbage", GARBAGE, ids=lambda g: type(g).__name__)
def test_check_never_raises(garbage, capsys):
    for n in NUMBERS:
        namespace = dict.fromkeys(ec.EXERCISES[n].needs, garbage)
        result = ec.check(n, namespace)
        assert result.status in (ec.FAILED, ec.NOT_ATTEMPTED) and result.points == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("✅", "❌", "⏳"))]
    assert len(printed) == 13 and all(line[:1] in "❌⏳" for line in printed)


def test_borrowed_names_must_come_first(capsys):
    result = ec.check(4, {"history_moons": [1.0, 0.5]})
    assert result.status == ec.NOT_ATTEMPTED and "from exercise 2 first" in result.message


def test_check_on_template_namespace_and_odd_calls(capsys):
    for n in NUMBERS:
        result = ec.check(n, dict.fromkeys(ec.EXERCISES[n].needs))
        assert result.status == ec.NOT_ATTEMPTED
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith(f"⏳ Exercise {n} not attempted yet: ") for n, line in zip(NUMBERS, lines, strict=True))
    for number, namespace in ((1, None), (99, {}), ("1", {}), (None, {}), (1, [1, 2]), (1, {"X_train_moons": 3})):
        assert ec.check(number, namespace).status in (ec.FAILED, ec.NOT_ATTEMPTED)
    assert "do exercise" not in ec.check(3, {"loss_fn_moons": nn.BCEWithLogitsLoss()}).message
    assert "needs model_moons from exercise 2" in ec.check(3, {"loss_fn_moons": nn.BCEWithLogitsLoss()}).message


def test_partially_filled_exercise_names_what_is_left(capsys):
    result = ec.check(5, {"model_moons": nn.Linear(2, 1), "X_test_moons": torch.zeros(2, 2),
                          "y_test_moons": torch.zeros(2), "y_pred_moons": torch.zeros(2), "ax_moons": None})
    assert result.status == ec.FAILED and "ax_moons" in result.message


# --------------------------------------------------------------------------
# (d) extract -> pickle (NumPy + builtins only) -> evaluate, with small in-process objects
# --------------------------------------------------------------------------
class NearestNeighbour(nn.Module):
    """Returns the logits of the nearest stored point's label: a non-linear, perfect-on-its-data classifier."""

    def __init__(self, X, y, n_outputs):
        super().__init__()
        self.register_buffer("X", torch.tensor(np.asarray(X), dtype=torch.float32))
        self.register_buffer("y", torch.tensor(np.asarray(y)).long())
        self.scale = nn.Parameter(torch.ones(()))
        self.n_outputs = n_outputs

    def forward(self, x):
        labels = self.y[torch.cdist(x.float(), self.X).argmin(dim=1)]
        if self.n_outputs == 1:
            return (self.scale * 8.0 * (2.0 * labels - 1)).unsqueeze(1)
        return self.scale * 8.0 * nn.functional.one_hot(labels, self.n_outputs).float()


def _tensor_split(data, n_test, y_float=False):
    X_train, X_test, y_train, y_test = split(data, n_test)
    to = (lambda a: torch.from_numpy(a).float()) if y_float else torch.from_numpy
    return torch.from_numpy(X_train), torch.from_numpy(X_test), to(y_train), to(y_test)


def _stable_tanh(x):
    x = x.float() if not torch.is_floating_point(x) else x
    e = torch.exp(-2 * x.abs())
    return torch.sign(x) * (1 - e) / (1 + e)


def _curves_axes(n_lines, ylabel, ys):
    """An Axes with n labelled curves over epochs, as an exercise's comparison figure would have."""
    _, ax = plt.subplots()
    for _ in range(n_lines):
        ax.plot([1, 2], ys, label="x")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


@pytest.fixture(scope="module")
def solved_namespace():
    """A namespace that passes every exercise, built in about a second (no real training)."""
    ns = {}
    ns.update(zip(MOONS, _tensor_split("moons", 200, y_float=True), strict=True))
    X_all, y_all = ec._reference_data("moons")
    ns["model_moons"] = NearestNeighbour(X_all, y_all, 1)
    ns["loss_fn_moons"] = nn.BCEWithLogitsLoss()
    ns["optimizer_moons"] = torch.optim.Adam(ns["model_moons"].parameters(), lr=0.01)
    ns["history_moons"] = {"train_loss": [0.7, 0.2, 0.05]}
    ns["y_pred_moons"] = torch.round(torch.sigmoid(ns["model_moons"](ns["X_test_moons"]).squeeze(1)))
    ns["ax_moons"] = ax = plt.subplots()[1]
    ax.contourf(np.zeros((2, 2)))
    ax.scatter([0], [0])
    ns["stable_tanh"] = _stable_tanh
    ns.update(zip(ec._SPIRALS_SPLIT, _tensor_split("spirals", 200), strict=True))
    ns["model_spirals"] = NearestNeighbour(*ec._reference_data("spirals"), 3)
    ns["ax_spirals"] = ax
    ns.update(zip(ec._XOR_SPLIT, _tensor_split("xor", 200), strict=True))
    ns["model_xor"] = NearestNeighbour(*ec._reference_data("xor"), 1)
    activations = _activation_values()
    ns["results_activations"], ns["histories_activations"] = activations["results"], activations["histories"]
    ns["histories_activations"] = {k: {key: torch.tensor(v) for key, v in h.items()}  # tensors are converted
                                   for k, h in ns["histories_activations"].items()}
    ax3 = _curves_axes(3, "loss", [1, 0])
    ns["ax_activations"], ns["answer_9"] = ax3, activations["answer"]
    for data, names, n_classes in (("iris", ec._IRIS, 3), ("digits", ec._DIGITS, 10)):
        X, y = (load_iris if data == "iris" else load_digits)(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
        scaler = StandardScaler().fit(X_train)
        Xs_train = torch.from_numpy(scaler.transform(X_train)).float()
        Xs_test = torch.from_numpy(scaler.transform(X_test)).float()
        ns.update(zip(names, (Xs_train, Xs_test, torch.from_numpy(y_train), torch.from_numpy(y_test), scaler,
                              NearestNeighbour(torch.cat([Xs_train, Xs_test]), np.concatenate([y_train, y_test]),
                                               n_classes)), strict=True))
    optimizers = _optimizer_values()
    ax4 = _curves_axes(4, "val acc", [0.5, 0.9])
    ns.update(results_optimizers=optimizers["results"], histories_optimizers=optimizers["histories"],
              ax_optimizers=ax4, answer_11=optimizers["answer"])
    regularization = _regularization_values()
    ns.update(results_regularization=regularization["results"], histories_regularization=regularization["histories"],
              best_regularizer="L2", answer_12=regularization["answer"])
    cv = _cv_values()
    ns.update(cv_results=cv["cv_results"], best_config=cv["best_config"], model_cv=ns["model_digits"],
              answer_13=cv["answer"])
    return ns


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global outside NumPy's array machinery and a few builtins (as the grader does)."""

    def find_class(self, module, name):
        if module.split(".")[0] == "numpy" or (module == "builtins" and name in {"complex", "set", "frozenset",
                                                                                 "slice", "range"}):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed")


def _plain_only(value) -> bool:
    if value is None or isinstance(value, bool | int | float | str | np.ndarray | np.generic):
        return not isinstance(value, np.ndarray) or value.dtype != object
    if isinstance(value, list | tuple):
        return all(_plain_only(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_only(v) for k, v in value.items())
    return False


@pytest.mark.parametrize("number", NUMBERS)
def test_extract_pickle_evaluate(number, solved_namespace, capsys):
    model = solved_namespace["model_moons"]
    model.train()
    values = ec.extract(number, solved_namespace)
    assert model.training, "extract must restore the model's train/eval mode"
    assert _plain_only(values), values
    restored = NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(values, protocol=4))).load()
    result = ec.evaluate(number, restored)
    assert result.status == ec.PASSED, result.message
    assert ec.check(number, solved_namespace) == result
    assert capsys.readouterr().out.startswith(f"✅ Exercise {number} passed: ")


def test_extract_raises_not_attempted_on_placeholders():
    for n in NUMBERS:
        with pytest.raises(ec.NotAttempted):
            ec.extract(n, dict.fromkeys(ec.EXERCISES[n].needs))
        with pytest.raises(ec.NotAttempted):
            ec.extract(n, {})


def test_extract_restores_tanh_and_sees_builtin_calls():
    original = torch.tanh
    values = ec.extract(6, {"stable_tanh": lambda x: torch.tanh(x.float())})
    assert torch.tanh is original and torch.Tensor.tanh is not None
    assert values["builtin_calls"] and "torch" in values["builtin_calls"][0]
    assert ec.evaluate(6, values).status == ec.FAILED


def test_real_small_models_pass_and_fail():
    """A genuinely trained tiny model passes exercise 4; the untrained one gets the accuracy hint."""
    X_train, X_test, y_train, y_test = _tensor_split("moons", 200, y_float=True)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    ns = dict(zip(MOONS, (X_train, X_test, y_train, y_test), strict=True), model_moons=model,
              loss_fn_moons=nn.BCEWithLogitsLoss(), optimizer_moons=optimizer, history_moons={"train_loss": [1.0, 0.5]})
    assert "test accuracy" in ec.evaluate(4, ec.extract(4, ns)).message  # untrained: fails with the hint
    assert ec.evaluate(4, ec.extract(4, ns)).status == ec.FAILED
    for _ in range(200):
        loss = nn.functional.binary_cross_entropy_with_logits(model(X_train).squeeze(1), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert ec.evaluate(4, ec.extract(4, ns)).status == ec.PASSED
    assert ec.evaluate(3, ec.extract(3, ns)).status == ec.PASSED
    ns["optimizer_moons"] = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)  # another model's parameters
    assert "doesn't hold exactly" in ec.evaluate(3, ec.extract(3, ns)).message
    # A sigmoid network at initialisation is already non-linear; a stack of Linear layers is not.
    torch.manual_seed(0)
    assert ec.evaluate(2, ec.extract(2, {"model_moons": nn.Sequential(
        nn.Linear(2, 8), nn.Sigmoid(), nn.Linear(8, 1))})).status == ec.PASSED
    linear = nn.Sequential(nn.Linear(2, 8), nn.Linear(8, 8), nn.Linear(8, 1))
    assert "straight-line" in ec.evaluate(2, ec.extract(2, {"model_moons": linear})).message


def test_module_runs_when_execd_from_source():
    """The grader execs the source in a fresh namespace inside the student's kernel."""
    namespace = {"__name__": "exercise_checks_copy"}
    source = (ROOT / "tests" / "exercise_checks.py").read_text(encoding="utf-8")
    exec(compile(source, "exercise_checks.py", "exec"), namespace)
    values = namespace["extract"](6, {"stable_tanh": _stable_tanh})
    assert namespace["evaluate"](6, values).status == ec.PASSED
    assert math.isclose(ec.TANH_TOLERANCE, namespace["TANH_TOLERANCE"])
