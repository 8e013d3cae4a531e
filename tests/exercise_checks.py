"""Criteria of the 13 exercises in ``02_neural_networks_exercises.ipynb``, in one place.

The notebook's check cells and the instructor's grader both use this module, so
the two can never disagree. It has three layers:

* :func:`extract` runs inside the student's kernel. It reads the names an
  exercise needs from the notebook's namespace and turns them into **plain
  data** (bool/int/float/str, lists/dicts of those and NumPy arrays): models
  become their outputs on fixed inputs, matplotlib Axes become a few counts.
  It raises :class:`NotAttempted` while the exercise's own names are still the
  template's ``None``.
* :func:`evaluate` runs in any process (the grader's). It holds **every
  criterion** (shapes, thresholds, tolerances), recomputes accuracies from
  labels and re-creates the reference data sets itself.
* :func:`check` is what a check cell calls: ``check(4, globals())``. It is
  ``extract`` + ``evaluate`` + one printed line, and it never raises.

Self-contained on purpose: the grader execs this file's source in a fresh dict
inside the student's kernel, so only stdlib, NumPy and torch are imported at
module level; scikit-learn and ``helper_functions`` are imported inside the
functions that need them.

Written answers (exercises 9, 11, 12, 13) are strings ``answer_N`` in a code
cell, so that ``extract`` can see them. They are checked only for being
present and not the placeholder; their content is for a human to read.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

NOT_ATTEMPTED, PASSED, FAILED = "not attempted", "passed", "failed"

SEED = 42  # the seed the exercises ask for in every data call


class NotAttempted(Exception):
    """Raised by :func:`extract` when an exercise's names are still missing or placeholders."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its number, short title, points and the notebook names it reads."""

    number: int
    title: str
    points: int
    needs: tuple[str, ...]


@dataclass
class Result:
    """Outcome of one exercise: status, a one-line message and the points earned."""

    number: int
    status: str
    message: str
    points: int

    def line(self) -> str:
        """The line a check cell prints, with its ✅ / ❌ / ⏳ marker."""
        if self.status == PASSED:
            return f"✅ Exercise {self.number} passed: {self.message}"
        if self.status == NOT_ATTEMPTED:
            return f"⏳ Exercise {self.number} not attempted yet: {self.message}"
        return f"❌ Exercise {self.number}: {self.message}"

    def _ipython_display_(self):
        """``check`` already printed the line; show nothing more in the notebook."""


# --------------------------------------------------------------------------
# The exercises: titles, points and names. `_OWN` are the names an exercise's
# own answer cells define (all still None -> not attempted); `_BORROWED` are
# names it reads from earlier exercises.
# --------------------------------------------------------------------------
_TITLES = {
    1: "Moons data: tensors and an 80/20 split",
    2: "A non-linear model for the moons",
    3: "Loss function and optimizer for binary classification",
    4: "Training and testing loop (>= 96% test accuracy)",
    5: "Predictions and the decision boundary",
    6: "A numerically stable tanh from exp",
    7: "Spirals: a multi-class model (>= 95% test accuracy)",
    8: "A feed-forward network for XOR (>= 99% test accuracy)",
    9: "Sigmoid vs ReLU vs tanh",
    10: "Iris and digits with standardised features",
    11: "Optimizers on digits: SGD, momentum, RMSprop, Adam",
    12: "Regularization against over-fitting",
    13: "k-fold cross-validation of hyperparameters",
}

_MOONS_SPLIT = ("X_train_moons", "X_test_moons", "y_train_moons", "y_test_moons")
_SPIRALS_SPLIT = ("X_train_spirals", "X_test_spirals", "y_train_spirals", "y_test_spirals")
_XOR_SPLIT = ("X_train_xor", "X_test_xor", "y_train_xor", "y_test_xor")
_IRIS = ("X_train_iris", "X_test_iris", "y_train_iris", "y_test_iris", "scaler_iris", "model_iris")
_DIGITS = ("X_train_digits", "X_test_digits", "y_train_digits", "y_test_digits", "scaler_digits", "model_digits")

_OWN: dict[int, tuple[str, ...]] = {
    1: _MOONS_SPLIT,
    2: ("model_moons",),
    3: ("loss_fn_moons", "optimizer_moons"),
    4: ("history_moons",),
    5: ("y_pred_moons", "ax_moons"),
    6: ("stable_tanh",),
    7: _SPIRALS_SPLIT + ("model_spirals", "ax_spirals"),
    8: _XOR_SPLIT + ("model_xor",),
    9: ("results_activations", "histories_activations", "ax_activations", "answer_9"),
    10: _IRIS + _DIGITS,
    11: ("results_optimizers", "histories_optimizers", "ax_optimizers", "answer_11"),
    12: ("results_regularization", "histories_regularization", "best_regularizer", "answer_12"),
    13: ("cv_results", "best_config", "model_cv", "answer_13"),
}
_BORROWED: dict[int, tuple[str, ...]] = {
    1: (),
    2: (),
    3: ("model_moons",),
    4: ("model_moons", "loss_fn_moons", "optimizer_moons") + _MOONS_SPLIT,
    5: ("model_moons", "X_test_moons", "y_test_moons"),
    6: (),
    7: (),
    8: (),
    9: _XOR_SPLIT,
    10: (),
    11: ("X_train_digits", "y_train_digits"),
    12: ("X_train_digits", "y_train_digits"),
    13: ("X_train_digits", "y_train_digits", "X_test_digits", "y_test_digits"),
}
_POINTS = {n: (1 if n <= 3 else 2) for n in range(1, 14)}  # 23 in total

EXERCISES: dict[int, Exercise] = {
    n: Exercise(n, _TITLES[n], _POINTS[n], _OWN[n] + tuple(b for b in _BORROWED[n] if b not in _OWN[n]))
    for n in range(1, 14)
}

# Where each borrowed name is made, for "do exercise k first" messages.
_MADE_IN = {name: n for n, names in _OWN.items() for name in names}

# What the template asks for, shown while an exercise is not attempted.
_TODO_HINTS = {
    1: "make the moons data, turn it into tensors and fill X_train_moons, X_test_moons, y_train_moons, y_test_moons",
    2: "build model_moons (2 inputs -> hidden layers with a non-linear activation -> 1 logit)",
    3: "set loss_fn_moons and optimizer_moons",
    4: "train model_moons and keep the per-epoch losses in history_moons",
    5: "set y_pred_moons (labels for X_test_moons) and ax_moons (the decision-boundary Axes)",
    6: "define stable_tanh(x) using torch.exp",
    7: "make the spirals split, train model_spirals and draw ax_spirals",
    8: "make the XOR split and train model_xor",
    9: "fill results_activations, histories_activations, ax_activations and answer_9",
    10: "fill the Iris and digits splits, scalers and models",
    11: "fill results_optimizers, histories_optimizers, ax_optimizers and answer_11",
    12: "fill results_regularization, histories_regularization, best_regularizer and answer_12",
    13: "fill cv_results, best_config, model_cv and answer_13",
}

# Thresholds (the only place they live).
MOONS_MIN_TEST_ACC = 0.96
SPIRALS_MIN_TEST_ACC = 0.95
XOR_MIN_TEST_ACC = 0.99
IRIS_MIN_TEST_ACC = 0.93
DIGITS_MIN_TEST_ACC = 0.95
CV_MIN_TEST_ACC = 0.90
TANH_TOLERANCE = 1e-6
MIN_ANSWER_CHARS = 40
ACTIVATIONS = ("sigmoid", "relu", "tanh")
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
REGULARIZERS = ("none", "l1", "l2", "dropout")
CV_KEYS = ("hidden_layers", "hidden_units", "lr", "batch_size")

# Fixed inputs on which models are evaluated inside the kernel.
_GRID_2D = np.stack(
    np.meshgrid(np.linspace(-2.0, 3.0, 25), np.linspace(-1.5, 2.0, 25)), axis=-1
).reshape(-1, 2).astype(np.float32)  # (625, 2), covers the moons
_TANH_INPUTS = {
    "arange": None,  # torch.arange(-100, 100): int64, exactly as the exercise states
    "linspace32": np.linspace(-100.0, 100.0, 4001, dtype=np.float32),
    "small64": np.concatenate([np.linspace(-5.0, 5.0, 1001), [-1e-8, 0.0, 1e-8, 1e-30, -1e-30]]),
}


# --------------------------------------------------------------------------
# extract: inside the student's kernel
# --------------------------------------------------------------------------
def _is_placeholder(value) -> bool:
    """True for the template's placeholders: None, Ellipsis or a string holding 'TODO'."""
    if value is None or value is Ellipsis:
        return True
    return isinstance(value, str) and "TODO" in value


def _to_numpy(value) -> np.ndarray:
    """Tensor (any device), array or nested list -> NumPy array (a copy)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    return np.array(value)


def _type_name(value) -> str:
    """'torch.Tensor', 'numpy.ndarray', 'list', ... for messages."""
    if isinstance(value, torch.Tensor):
        return "torch.Tensor"
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ not in ("builtins",) else cls.__qualname__


def _array_info(value) -> dict:
    """Plain description of an array-like: its values, type name and dtype."""
    return {"array": _to_numpy(value), "type": _type_name(value), "dtype": str(getattr(value, "dtype", ""))}


def _plain(value, depth: int = 0):
    """Nested containers of tensors/arrays/numbers -> builtins and NumPy arrays only."""
    if depth > 6:
        return repr(value)[:200]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().numpy().copy()
        return array.item() if array.ndim == 0 else array
    if isinstance(value, np.ndarray):
        return value.copy() if value.dtype != object else [_plain(v, depth + 1) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in list(value.items())[:1000]}
    if isinstance(value, list | tuple | range):
        return [_plain(v, depth + 1) for v in list(value)[:100_000]]
    return repr(value)[:200]


def _model_info(model, X) -> dict:
    """Outputs of ``model`` on ``X`` (no gradients, train/eval flags restored) as plain data."""
    if not isinstance(model, torch.nn.Module):
        return {"is_module": False, "type": _type_name(model)}
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float32
    flags = [(module, module.training) for module in model.modules()]
    leaves = [type(m).__name__ for m in model.modules() if not list(m.children())]
    try:
        model.eval()
        with torch.inference_mode():
            inputs = torch.as_tensor(np.asarray(X), dtype=dtype, device=device)
            outputs = model(inputs)
    finally:
        for module, training in flags:
            module.training = training
    if not isinstance(outputs, torch.Tensor):
        return {"is_module": True, "outputs_type": _type_name(outputs), "leaves": leaves}
    return {
        "is_module": True,
        "outputs": outputs.detach().float().cpu().numpy().astype(np.float64),
        "outputs_type": "torch.Tensor",
        "leaves": leaves,
        "n_params": int(sum(p.numel() for p in params)),
        "param_ids": sorted(id(p) for p in params),
    }


def _axes_info(ax) -> dict:
    """A few facts about a matplotlib Axes (or an array of them): lines, collections, labels."""
    axes = list(np.ravel(ax)) if isinstance(ax, np.ndarray | list | tuple) else [ax]
    if not axes or not all(hasattr(a, "get_lines") and hasattr(a, "collections") for a in axes):
        return {"is_axes": False, "type": _type_name(ax)}
    return {
        "is_axes": True,
        "n_axes": len(axes),
        "n_lines": sum(len(a.get_lines()) for a in axes),
        "n_collections": sum(len(a.collections) for a in axes),
        "has_legend": any(a.get_legend() is not None for a in axes),
        "xlabel": " ".join(a.get_xlabel() for a in axes).strip(),
        "ylabel": " ".join(a.get_ylabel() for a in axes).strip(),
        "title": " ".join(a.get_title() for a in axes).strip(),
    }


def _split_values(ns: dict, names: tuple[str, ...]) -> dict:
    """The four split arrays of a data set, described for `evaluate`."""
    return {name: _array_info(ns[name]) for name in names}


def _extract_tanh(f) -> dict:
    """Call the student's tanh on fixed inputs, watching for calls to a built-in tanh."""
    if not callable(f):
        return {"callable": False, "type": _type_name(f)}
    calls: list[str] = []
    targets = [(torch, "tanh"), (torch.Tensor, "tanh"), (torch.nn.functional, "tanh"), (np, "tanh"), (math, "tanh")]
    saved = [(obj, name, obj.__dict__[name] if name in vars(obj) else getattr(obj, name)) for obj, name in targets]

    def spy(original, label):
        def wrapper(*args, **kwargs):
            calls.append(label)
            return original(*args, **kwargs)

        return wrapper

    outputs, errors = {}, {}
    try:
        for obj, name, original in saved:
            setattr(obj, name, spy(original, f"{getattr(obj, '__name__', obj)}.{name}"))
        for key, array in _TANH_INPUTS.items():
            x = torch.arange(-100, 100) if array is None else torch.from_numpy(array.copy())
            try:
                out = f(x)
                outputs[key] = _to_numpy(out).astype(np.float64) if out is not None else None
            except Exception as error:  # the student's function failed on this input
                errors[key] = f"{type(error).__name__}: {error}"[:300]
    finally:
        for obj, name, original in saved:
            setattr(obj, name, original)
    return {"callable": True, "outputs": outputs, "errors": errors, "builtin_calls": sorted(set(calls))}


def _extract_cv_model(ns: dict) -> dict:
    return _model_info(ns["model_cv"], _to_numpy(ns["X_test_digits"]))


def _reference_for_extract(n: int, ns: dict) -> dict:
    """Per-exercise extraction of plain values (names already known to be present)."""
    if n == 1:
        return _split_values(ns, _MOONS_SPLIT)
    if n == 2:
        return {"model": _model_info(ns["model_moons"], _GRID_2D)}
    if n == 3:
        model, loss_fn, optimizer = ns["model_moons"], ns["loss_fn_moons"], ns["optimizer_moons"]
        values = {"model": _model_info(model, _GRID_2D[:5]), "loss_type": type(loss_fn).__name__}
        try:  # the loss on fixed logits, to recognise hand-written losses
            value = loss_fn(torch.tensor([[2.0], [-1.0], [0.5]]), torch.tensor([[1.0], [0.0], [0.0]]))
            values["loss_on_probe"] = float(value)
        except Exception:
            values["loss_on_probe"] = None
        values["optimizer_type"] = type(optimizer).__name__
        values["is_optimizer"] = isinstance(optimizer, torch.optim.Optimizer)
        if values["is_optimizer"]:
            values["optimizer_param_ids"] = sorted(id(p) for g in optimizer.param_groups for p in g["params"])
            values["lr"] = float(optimizer.param_groups[0].get("lr", float("nan")))
        return values
    if n == 4:
        values = _split_values(ns, _MOONS_SPLIT)
        values["model"] = _model_info(ns["model_moons"], _to_numpy(ns["X_test_moons"]))
        values["history"] = _plain(ns["history_moons"])
        return values
    if n == 5:
        return {
            "y_pred": _array_info(ns["y_pred_moons"]),
            "y_test": _array_info(ns["y_test_moons"]),
            "model": _model_info(ns["model_moons"], _to_numpy(ns["X_test_moons"])),
            "ax": _axes_info(ns["ax_moons"]),
        }
    if n == 6:
        return _extract_tanh(ns["stable_tanh"])
    if n == 7:
        values = _split_values(ns, _SPIRALS_SPLIT)
        values["model"] = _model_info(ns["model_spirals"], _to_numpy(ns["X_test_spirals"]))
        values["ax"] = _axes_info(ns["ax_spirals"])
        return values
    if n == 8:
        values = _split_values(ns, _XOR_SPLIT)
        values["model"] = _model_info(ns["model_xor"], _to_numpy(ns["X_test_xor"]))
        return values
    if n == 9:
        return {
            "results": _plain(ns["results_activations"]),
            "histories": _plain(ns["histories_activations"]),
            "ax": _axes_info(ns["ax_activations"]),
            "answer": _plain(ns["answer_9"]),
        }
    if n == 10:
        values = {}
        for name, names in (("iris", _IRIS), ("digits", _DIGITS)):
            part = _split_values(ns, names[:4])
            scaler = ns[names[4]]
            part["scaler"] = {
                "type": _type_name(scaler),
                "mean": _plain(getattr(scaler, "mean_", None)),
                "scale": _plain(getattr(scaler, "scale_", None)),
            }
            part["model"] = _model_info(ns[names[5]], _to_numpy(ns[names[1]]))
            values[name] = part
        return values
    if n == 11:
        return {
            "results": _plain(ns["results_optimizers"]),
            "histories": _plain(ns["histories_optimizers"]),
            "ax": _axes_info(ns["ax_optimizers"]),
            "answer": _plain(ns["answer_11"]),
        }
    if n == 12:
        return {
            "results": _plain(ns["results_regularization"]),
            "histories": _plain(ns["histories_regularization"]),
            "best": _plain(ns["best_regularizer"]),
            "answer": _plain(ns["answer_12"]),
        }
    if n == 13:
        return {
            "cv_results": _plain(ns["cv_results"]),
            "best_config": _plain(ns["best_config"]),
            "model": _extract_cv_model(ns),
            "y_test": _array_info(ns["y_test_digits"]),
            "answer": _plain(ns["answer_13"]),
        }
    raise ValueError(f"there is no exercise {n}")


def extract(number: int, namespace: dict) -> dict:
    """Read exercise ``number``'s names from ``namespace`` and return plain data only.

    Runs inside the student's kernel. Models are turned into their outputs on
    fixed or the student's inputs (no gradients, train/eval flags restored).

    Args:
        number: exercise number, 1..13.
        namespace: the notebook's ``globals()``.

    Returns:
        Dict of builtins and NumPy arrays; ``{"missing": [...]}`` when some but
        not all of the exercise's own names are still placeholders.

    Raises:
        NotAttempted: all of the exercise's own names are still placeholders, or
            a name it borrows from an earlier exercise is.
    """
    if not isinstance(number, int) or number not in EXERCISES:
        raise ValueError(f"there is no exercise {number!r}; exercises are numbered 1..13")
    if not isinstance(namespace, dict):
        raise NotAttempted("check() needs the notebook's globals(): call check(N, globals())")
    own = _OWN[number]
    missing = [name for name in own if _is_placeholder(namespace.get(name))]
    if len(missing) == len(own):
        raise NotAttempted(_TODO_HINTS[number])
    borrowed_missing = [name for name in _BORROWED[number] if _is_placeholder(namespace.get(name))]
    if borrowed_missing:
        first = borrowed_missing[0]
        raise NotAttempted(f"this exercise needs {first} from exercise {_MADE_IN.get(first, '?')} first")
    if missing:
        return {"missing": missing}
    return _reference_for_extract(number, namespace)


# --------------------------------------------------------------------------
# evaluate: in any process, plain values only
# --------------------------------------------------------------------------
class _Fail(Exception):
    """A criterion is not met; the message is the hint shown to the student."""


@functools.cache
def _reference_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The exercise's data set, re-created here: (X float64 (N, D), y int64 (N,))."""
    if name == "moons":
        from sklearn.datasets import make_moons

        X, y = make_moons(n_samples=1000, noise=0.03, random_state=SEED)
    elif name == "spirals":
        from helper_functions import make_spirals

        X, y = make_spirals(n_samples=1000, n_classes=3, noise=0.2, random_state=SEED)
    elif name == "xor":
        from helper_functions import make_xor

        X, y = make_xor(n_samples=1000, noise=0.1, random_state=SEED)
    elif name == "iris":
        from sklearn.datasets import load_iris

        X, y = load_iris(return_X_y=True)
    elif name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
    else:
        raise ValueError(name)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


_DATA_CALLS = {
    "moons": "make_moons(n_samples=1000, noise=0.03, random_state=SEED)",
    "spirals": "make_spirals(n_samples=1000, n_classes=3, random_state=SEED)",
    "xor": "make_xor(n_samples=1000, noise=0.1, random_state=SEED)",
    "iris": "load_iris(return_X_y=True)",
    "digits": "load_digits(return_X_y=True)",
}


def _nearest_rows(X: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest reference row for each row of X and the max-abs distance to it."""
    sq = (X**2).sum(1)[:, None] + (ref**2).sum(1)[None, :] - 2.0 * X @ ref.T  # (n, N)
    nearest = sq.argmin(axis=1)
    return nearest, np.abs(X - ref[nearest]).max(axis=1) if len(X) else np.zeros(0)


def _as_labels(info: dict, name: str, n_rows: int) -> np.ndarray:
    """Validate a label array (int, or float holding whole numbers) of length n_rows."""
    y = np.asarray(info["array"])
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n_rows,):
        raise _Fail(f"{name} should have shape ({n_rows},); yours has {tuple(np.shape(info['array']))}")
    if y.dtype.kind not in "iufb" or (y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y)))):
        raise _Fail(f"{name} should hold class labels (whole numbers); yours has dtype {info.get('dtype')}")
    return y.astype(np.int64)


def _check_split(values: dict, names: tuple[str, ...], data: str, n_test: int | None, *, scaler=None,
                 tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Verify a train/test split of a reference data set; return (X_train, X_test, y_train, y_test) as given.

    With ``scaler=(mean, scale)`` the features are un-standardised before they
    are compared with the reference data.
    """
    ref_X, ref_y = _reference_data(data)
    n_total, n_features = ref_X.shape
    arrays = {}
    for name in names:
        info = values.get(name)
        if not isinstance(info, dict) or "array" not in info:
            raise _Fail(f"{name} is missing")
        if info.get("type") != "torch.Tensor":
            raise _Fail(f"{name} should be a torch tensor; yours is a {info.get('type')} (use torch.from_numpy or "
                        "torch.tensor)")
        arrays[name] = np.asarray(info["array"])
    X_train_name, X_test_name, y_train_name, y_test_name = names
    X_train, X_test = arrays[X_train_name], arrays[X_test_name]
    for name, X in ((X_train_name, X_train), (X_test_name, X_test)):
        if X.ndim != 2 or X.shape[1] != n_features:
            raise _Fail(f"{name} should have shape (N, {n_features}); yours has {X.shape}")
        if values[name].get("dtype") != "torch.float32":
            raise _Fail(f"{name} should be float32 (nn.Linear's weights are float32); yours is "
                        f"{values[name].get('dtype')}: use .float() or dtype=torch.float32")
    if n_test is not None and (len(X_train), len(X_test)) != (n_total - n_test, n_test):
        raise _Fail(f"{X_train_name} should have shape ({n_total - n_test}, {n_features}) and {X_test_name} "
                    f"({n_test}, {n_features}); yours have {X_train.shape} and {X_test.shape}")
    if len(X_train) + len(X_test) != n_total:
        raise _Fail(f"train and test together should hold all {n_total} samples of {_DATA_CALLS[data]}; yours "
                    f"hold {len(X_train)} + {len(X_test)}")
    if not 0.1 * n_total <= len(X_test) <= 0.5 * n_total:
        raise _Fail(f"the test split holds {len(X_test)} of {n_total} samples: use test_size=0.2")
    y_train = _as_labels(values[y_train_name], y_train_name, len(X_train))
    y_test = _as_labels(values[y_test_name], y_test_name, len(X_test))

    X_all = np.concatenate([X_train, X_test]).astype(np.float64)
    if scaler is not None:
        X_all = X_all * scaler[1] + scaler[0]
    y_all = np.concatenate([y_train, y_test])
    nearest, distance = _nearest_rows(X_all, ref_X)
    if not np.all(distance < tol):
        bad = int(np.argmax(distance >= tol))
        where = f"{X_train_name}[{bad}]" if bad < len(X_train) else f"{X_test_name}[{bad - len(X_train)}]"
        hint = ("(after undoing the scaler) " if scaler is not None else "")
        raise _Fail(f"{where} {hint}is not a point of {_DATA_CALLS[data]}: use exactly that call with SEED = 42 "
                    "and don't change the features")
    # Each reference sample used exactly once (rows that coincide are interchangeable).
    ref_nearest, _ = _nearest_rows(ref_X, ref_X)
    group = ref_nearest  # identical rows map to the same (first nearest) index
    if not np.array_equal(np.sort(group[nearest]), np.sort(group)):
        raise _Fail(f"some samples appear twice (or in both {X_train_name} and {X_test_name}) and others not at all: "
                    "split once with train_test_split")
    label_ok = ref_y[nearest] == y_all
    if not np.all(label_ok):
        duplicates = {g: set(ref_y[group == g]) for g in np.unique(group[nearest][~label_ok])}
        label_ok[~label_ok] = [y_all[i] in duplicates[group[nearest[i]]] for i in np.flatnonzero(~label_ok)]
    if not np.all(label_ok):
        bad = int(np.argmax(~label_ok))
        name = y_train_name if bad < len(X_train) else y_test_name
        raise _Fail(f"{name} doesn't match the features: labels must stay paired with their points (split X and y "
                    "in the same train_test_split call)")
    return X_train, X_test, y_train, y_test


def _model_outputs(info: dict, name: str, n_rows: int) -> np.ndarray:
    """Validated (n_rows, k) model outputs."""
    if not isinstance(info, dict) or not info.get("is_module"):
        kind = info.get("type") if isinstance(info, dict) else "?"
        raise _Fail(f"{name} should be a torch.nn.Module; yours is a {kind}")
    if "outputs" not in info:
        raise _Fail(f"{name}(X) should return a tensor of logits; yours returns a {info.get('outputs_type')}")
    outputs = np.asarray(info["outputs"], dtype=np.float64)
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.ndim != 2 or outputs.shape[0] != n_rows:
        raise _Fail(f"{name} should return one row of logits per input, shape ({n_rows}, C); yours gives "
                    f"{np.shape(info['outputs'])}")
    if not np.all(np.isfinite(outputs)):
        raise _Fail(f"{name} outputs NaN or inf: lower the learning rate and retrain")
    return outputs


def _labels_from_outputs(outputs: np.ndarray, info: dict) -> np.ndarray:
    """Class labels from (N, 1) or (N, C) outputs; a final Sigmoid/Softmax means probabilities."""
    ends_in_probs = bool(info.get("leaves")) and info["leaves"][-1] in ("Sigmoid", "Softmax")
    if outputs.shape[1] == 1:
        threshold = 0.5 if ends_in_probs else 0.0
        return (outputs[:, 0] > threshold).astype(np.int64)
    return outputs.argmax(axis=1).astype(np.int64)


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else 0.0


def _check_axes(info, name: str, *, min_lines: int = 0, min_collections: int = 0, legend: bool = False) -> None:
    if not isinstance(info, dict) or not info.get("is_axes"):
        kind = info.get("type") if isinstance(info, dict) else "?"
        raise _Fail(f"{name} should be the matplotlib Axes your plot was drawn on; yours is a {kind}")
    if info["n_collections"] < min_collections:
        raise _Fail(f"{name} has nothing filled in: draw it with plot_decision_boundary(model, X, y) and keep the "
                    "Axes it returns")
    if info["n_lines"] < min_lines:
        raise _Fail(f"{name} shows {info['n_lines']} curves; it should show at least {min_lines} (one per variant)")
    if legend and not info["has_legend"]:
        raise _Fail(f"{name} has no legend: call ax.legend() so readers can tell the curves apart")
    if min_lines and not (info["xlabel"] and info["ylabel"]):
        raise _Fail(f"{name} needs axis labels: ax.set_xlabel('epoch') and ax.set_ylabel(...)")


def _check_answer(answer, n: int) -> None:
    if not isinstance(answer, str) or "TODO" in answer or len(answer.strip()) < MIN_ANSWER_CHARS:
        raise _Fail(f"your results look right, but answer_{n} is still empty: write a few sentences that cite the "
                    "numbers your cells printed")


def _norm_key(key) -> str:
    """'SGD + Momentum' -> 'sgdmomentum'; used to accept reasonable spellings of the required keys."""
    return "".join(ch for ch in str(key).lower() if ch.isalnum())


def _keyed(mapping, required: tuple[str, ...], name: str, aliases: dict[str, str] | None = None) -> dict:
    """Map a dict with loosely spelled keys onto the required keys (fail with a hint otherwise)."""
    if not isinstance(mapping, dict):
        raise _Fail(f"{name} should be a dict with keys {list(required)}; yours is a {type(mapping).__name__}")
    aliases = aliases or {}
    out = {}
    for key, value in mapping.items():
        k = _norm_key(key)
        out[aliases.get(k, k)] = value
    absent = [k for k in required if k not in out]
    if absent:
        raise _Fail(f"{name} should have the keys {list(required)}; missing {absent} (yours: {list(mapping)})")
    return {k: out[k] for k in required}


def _curve(value, name: str) -> np.ndarray:
    """A per-epoch curve: a list/array of finite floats, at least 2 long."""
    try:
        curve = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise _Fail(f"{name} should be a list of per-epoch numbers") from None
    if curve.size < 2 or not np.all(np.isfinite(curve)):
        raise _Fail(f"{name} should be a list of at least 2 finite per-epoch numbers; yours has {curve.size}")
    return curve


def _fraction(value, name: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise _Fail(f"{name} should be a number between 0 and 1; yours is {value!r}"[:200]) from None
    if not 0.0 <= x <= 1.0:
        raise _Fail(f"{name} should be an accuracy between 0 and 1; yours is {x:.4g} (divide by the number of samples)")
    return x


# ---- the 13 evaluators -----------------------------------------------------
def _eval_1(v: dict) -> str:
    _check_split(v, _MOONS_SPLIT, "moons", n_test=200)
    return "800 training and 200 test points of the moons, float32 tensors, labels paired correctly"


def _eval_2(v: dict) -> str:
    outputs = _model_outputs(v["model"], "model_moons", len(_GRID_2D))
    if outputs.shape[1] not in (1, 2):
        raise _Fail(f"model_moons should output 1 logit per point (binary classification); yours outputs "
                    f"{outputs.shape[1]}")
    design = np.column_stack([_GRID_2D.astype(np.float64), np.ones(len(_GRID_2D))])
    centred = outputs - outputs.mean(axis=0)
    spread = np.linalg.norm(centred)
    residual = outputs - design @ np.linalg.lstsq(design, outputs, rcond=None)[0]
    if spread == 0 or np.linalg.norm(residual) < 1e-4 * spread:
        raise _Fail("model_moons computes a straight-line (affine) function of its input: stacked nn.Linear layers "
                    "stay linear; put a non-linear activation such as nn.ReLU() between them")
    layers = v["model"].get("leaves", [])
    return f"a non-linear model with {v['model'].get('n_params', '?')} parameters ({', '.join(layers[:8])})"


_BINARY_LOSSES = {"BCEWithLogitsLoss": 1, "CrossEntropyLoss": 2, "BCELoss": 1}


def _eval_3(v: dict) -> str:
    outputs = _model_outputs(v["model"], "model_moons", 5)
    width = outputs.shape[1]
    loss = v.get("loss_type")
    if loss in ("MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss"):
        raise _Fail(f"{loss} is a regression loss; for binary classification with one logit use "
                    "nn.BCEWithLogitsLoss()")
    if loss == "BCELoss":
        leaves = v["model"].get("leaves") or [""]
        if leaves[-1] != "Sigmoid":
            raise _Fail("nn.BCELoss expects probabilities but model_moons outputs logits: use nn.BCEWithLogitsLoss(), "
                        "which applies the sigmoid itself, stably")
    elif loss in _BINARY_LOSSES:
        if _BINARY_LOSSES[loss] != width:
            want = "1 output unit" if loss != "CrossEntropyLoss" else "2 output units"
            raise _Fail(f"{loss} needs {want}, but model_moons outputs {width}: use nn.BCEWithLogitsLoss() with "
                        "1 output unit")
    else:
        probe = v.get("loss_on_probe")
        expected = float(np.mean(np.logaddexp(0, -np.array([2.0, -1.0, 0.5]) * np.array([1, -1, -1]))))
        if probe is None or not math.isclose(probe, expected, rel_tol=1e-4):
            raise _Fail(f"loss_fn_moons is a {loss}; for binary classification use nn.BCEWithLogitsLoss()")
    if not v.get("is_optimizer"):
        raise _Fail(f"optimizer_moons should be a torch.optim optimizer (e.g. torch.optim.Adam); yours is a "
                    f"{v.get('optimizer_type')}")
    if v.get("optimizer_param_ids") != v["model"].get("param_ids"):
        raise _Fail("optimizer_moons doesn't hold exactly model_moons's parameters: create it with "
                    "torch.optim.Adam(model_moons.parameters(), lr=...) after building the model")
    lr = v.get("lr", float("nan"))
    if not 0 < lr <= 10:
        raise _Fail(f"learning rate {lr} is not a sensible step size: try lr=0.01 for Adam or 0.1 for SGD")
    return f"{loss} with {v.get('optimizer_type')} (lr={lr:g}) over all of model_moons's parameters"


def _check_history(history, name: str) -> np.ndarray:
    if isinstance(history, dict):
        if "train_loss" not in history:
            raise _Fail(f"{name} should be the history dict from fit() (with 'train_loss') or a list of losses")
        history = history["train_loss"]
    losses = _curve(history, f"{name}['train_loss']" if isinstance(history, dict) else name)
    if not losses[-1] < losses[0]:
        raise _Fail(f"the training loss in {name} did not go down ({losses[0]:.4f} -> {losses[-1]:.4f}): call "
                    "optimizer.zero_grad(), loss.backward() and optimizer.step() every epoch")
    return losses


def _eval_4(v: dict) -> str:
    _, X_test, _, y_test = _check_split(v, _MOONS_SPLIT, "moons", n_test=200)
    losses = _check_history(v["history"], "history_moons")
    outputs = _model_outputs(v["model"], "model_moons", len(X_test))
    acc = _accuracy(y_test, _labels_from_outputs(outputs, v["model"]))
    if acc < MOONS_MIN_TEST_ACC:
        raise _Fail(f"test accuracy {acc:.3f} < {MOONS_MIN_TEST_ACC}: train longer, raise the learning rate or add "
                    "hidden units/a hidden layer")
    return f"test accuracy {acc:.3f} (>= {MOONS_MIN_TEST_ACC}) after {len(losses)} epochs"


def _eval_5(v: dict) -> str:
    y_test_info = v["y_test"]
    n = len(np.asarray(y_test_info["array"]).reshape(-1))
    y_test = _as_labels(y_test_info, "y_test_moons", n)
    y_pred_raw = np.asarray(v["y_pred"]["array"])
    if y_pred_raw.ndim == 2 and y_pred_raw.shape[1] == 1:
        y_pred_raw = y_pred_raw[:, 0]
    if y_pred_raw.shape != (n,):
        raise _Fail(f"y_pred_moons should have shape ({n},), one label per test point; yours has {y_pred_raw.shape}"
                    " (squeeze the logits before rounding)")
    if y_pred_raw.dtype.kind == "f" and not np.all(np.isin(y_pred_raw, (0.0, 1.0))):
        raise _Fail("y_pred_moons holds logits or probabilities, not labels: use "
                    "torch.round(torch.sigmoid(y_logits)) (labels are 0 or 1)")
    y_pred = y_pred_raw.astype(np.int64)
    if not np.all(np.isin(y_pred, (0, 1))):
        raise _Fail("y_pred_moons should contain only the labels 0 and 1")
    outputs = _model_outputs(v["model"], "model_moons", n)
    agree = _accuracy(_labels_from_outputs(outputs, v["model"]), y_pred)
    if agree < 0.99:
        raise _Fail(f"y_pred_moons agrees with model_moons's predictions on X_test_moons for only {agree:.0%} of "
                    "the points: predict on X_test_moons with the trained model, in eval mode")
    acc = _accuracy(y_test, y_pred)
    if acc < MOONS_MIN_TEST_ACC:
        raise _Fail(f"y_pred_moons is only {acc:.3f} accurate (< {MOONS_MIN_TEST_ACC}): train model_moons first "
                    "(exercise 4)")
    _check_axes(v["ax"], "ax_moons", min_collections=2)
    return f"labels match the model ({acc:.3f} test accuracy) and ax_moons shows the decision boundary"


def _eval_6(v: dict) -> str:
    if not v.get("callable"):
        raise _Fail(f"stable_tanh should be a function; yours is a {v.get('type')}")
    if v["builtin_calls"]:
        raise _Fail(f"stable_tanh calls {', '.join(v['builtin_calls'])}: build it from torch.exp instead")
    inputs = {"arange": np.arange(-100, 100, dtype=np.float64)}
    inputs.update({k: np.asarray(a, dtype=np.float64) for k, a in _TANH_INPUTS.items() if a is not None})
    labels = {"arange": "torch.arange(-100, 100)", "linspace32": "torch.linspace(-100, 100, 4001)",
              "small64": "float64 inputs in [-5, 5] and near 0"}
    for key, x in inputs.items():
        if key in v["errors"]:
            raise _Fail(f"stable_tanh({labels[key]}) raised {v['errors'][key]}")
        out = v["outputs"].get(key)
        if out is None:
            raise _Fail("stable_tanh returns None: return the tensor you computed")
        out = np.asarray(out, dtype=np.float64)
        if out.shape != x.shape:
            raise _Fail(f"stable_tanh({labels[key]}) should keep the input's shape {x.shape}; yours gives {out.shape}")
        bad = ~np.isfinite(out)
        if bad.any():
            where = x[bad]
            raise _Fail(f"stable_tanh gives NaN/inf at x = {where[np.argmin(np.abs(where))]:g} ({bad.sum()} inputs "
                        f"of {labels[key]}): exp(x) overflows for large |x|; rewrite with exp(-2|x|), which is <= 1")
        error = np.abs(out - np.tanh(x))
        if error.max() > TANH_TOLERANCE:
            i = int(error.argmax())
            raise _Fail(f"stable_tanh differs from torch.tanh by {error[i]:.2g} at x = {x[i]:g} (tolerance "
                        f"{TANH_TOLERANCE:g}): check the formula and the sign for negative x")
    return f"finite everywhere on torch.arange(-100, 100) and within {TANH_TOLERANCE:g} of torch.tanh"


def _eval_7(v: dict) -> str:
    _, X_test, _, y_test = _check_split(v, _SPIRALS_SPLIT, "spirals", n_test=200)
    outputs = _model_outputs(v["model"], "model_spirals", len(X_test))
    if outputs.shape[1] != 3:
        raise _Fail(f"model_spirals outputs {outputs.shape[1]} logit(s) per point; 3 classes need 3 output units "
                    "(with nn.CrossEntropyLoss)")
    acc = _accuracy(y_test, _labels_from_outputs(outputs, v["model"]))
    if acc < SPIRALS_MIN_TEST_ACC:
        raise _Fail(f"test accuracy {acc:.3f} < {SPIRALS_MIN_TEST_ACC}: use more hidden units or another hidden "
                    "layer, and train longer")
    _check_axes(v["ax"], "ax_spirals", min_collections=2)
    return f"test accuracy {acc:.3f} (>= {SPIRALS_MIN_TEST_ACC}) and a decision boundary in ax_spirals"


def _eval_8(v: dict) -> str:
    _, X_test, _, y_test = _check_split(v, _XOR_SPLIT, "xor", n_test=200)
    outputs = _model_outputs(v["model"], "model_xor", len(X_test))
    if outputs.shape[1] not in (1, 2):
        raise _Fail(f"model_xor should output 1 logit per point (binary); yours outputs {outputs.shape[1]}")
    acc = _accuracy(y_test, _labels_from_outputs(outputs, v["model"]))
    if acc < XOR_MIN_TEST_ACC:
        raise _Fail(f"test accuracy {acc:.3f} < {XOR_MIN_TEST_ACC}: XOR needs a hidden layer with a non-linear "
                    "activation; train longer or raise the learning rate")
    return f"test accuracy {acc:.3f} (>= {XOR_MIN_TEST_ACC})"


def _epochs_to(curve: np.ndarray, level: float):
    reached = np.flatnonzero(curve >= level)
    return int(reached[0]) + 1 if reached.size else None


def _eval_9(v: dict) -> str:
    results = _keyed(v["results"], ACTIVATIONS, "results_activations")
    histories = _keyed(v["histories"], ACTIVATIONS, "histories_activations")
    lengths = set()
    for name in ACTIVATIONS:
        entry, history = results[name], histories[name]
        if not isinstance(entry, dict) or not {"test_acc", "epochs_to_90"} <= set(entry):
            raise _Fail(f"results_activations['{name}'] should be a dict with 'test_acc' and 'epochs_to_90'")
        if not isinstance(history, dict) or not {"train_loss", "test_acc"} <= set(history):
            raise _Fail(f"histories_activations['{name}'] should be the history dict from fit() (with 'train_loss' "
                        "and 'test_acc')")
        loss = _curve(history["train_loss"], f"histories_activations['{name}']['train_loss']")
        test_acc = _curve(history["test_acc"], f"histories_activations['{name}']['test_acc']")
        if len(loss) != len(test_acc):
            raise _Fail(f"histories_activations['{name}'] has curves of different lengths")
        lengths.add(len(loss))
        final = _fraction(entry["test_acc"], f"results_activations['{name}']['test_acc']")
        if abs(final - test_acc[-1]) > 1e-6:
            raise _Fail(f"results_activations['{name}']['test_acc'] is {final:.4f} but the last epoch of its history "
                        f"says {test_acc[-1]:.4f}: report the final test accuracy")
        expected = _epochs_to(test_acc, 0.9)
        got = entry["epochs_to_90"]
        if (got is None) != (expected is None) or (got is not None and int(got) != expected):
            raise _Fail(f"results_activations['{name}']['epochs_to_90'] is {got} but its test accuracy first reaches "
                        f"0.9 at epoch {expected} (count epochs from 1; None if never)")
    if len(lengths) != 1:
        raise _Fail("train every activation for the same number of epochs (same network, data and seed), so the "
                    "comparison is fair")
    if max(float(results[a]["test_acc"]) for a in ACTIVATIONS) < 0.9:
        raise _Fail("no activation reached 90% test accuracy: train longer or use a larger learning rate")
    _check_axes(v["ax"], "ax_activations", min_lines=3, legend=True)
    _check_answer(v["answer"], 9)
    return ("table, curves and plot are consistent (your written comparison is not graded automatically: compare "
            "it with the solution)")


_OPTIMIZER_ALIASES = {"sgdmomentum": "momentum", "sgdwithmomentum": "momentum", "sgdm": "momentum"}


def _eval_11(v: dict) -> str:
    results = _keyed(v["results"], OPTIMIZERS, "results_optimizers", _OPTIMIZER_ALIASES)
    histories = _keyed(v["histories"], OPTIMIZERS, "histories_optimizers", _OPTIMIZER_ALIASES)
    for name in OPTIMIZERS:
        entry = results[name]
        if not isinstance(entry, dict) or not {"train_time", "val_acc"} <= set(entry):
            raise _Fail(f"results_optimizers['{name}'] should be a dict with 'train_time' (seconds) and 'val_acc'")
        try:
            seconds = float(entry["train_time"])
        except (TypeError, ValueError):
            seconds = -1.0
        if not 0 < seconds < 600:
            raise _Fail(f"results_optimizers['{name}']['train_time'] should be the training time in seconds "
                        "(time.perf_counter() before and after)")
        val_acc = _fraction(entry["val_acc"], f"results_optimizers['{name}']['val_acc']")
        curve = _curve(histories[name], f"histories_optimizers['{name}']")
        if curve.max() > 1:
            raise _Fail(f"histories_optimizers['{name}'] should hold validation accuracies in [0, 1]")
        if abs(curve[-1] - val_acc) > 1e-6:
            raise _Fail(f"results_optimizers['{name}']['val_acc'] ({val_acc:.4f}) should be the last value of its "
                        f"validation curve ({curve[-1]:.4f})")
    if len({len(np.ravel(histories[k])) for k in OPTIMIZERS}) != 1:
        raise _Fail("train every optimizer for the same number of epochs so the curves are comparable")
    best = max(float(results[k]["val_acc"]) for k in OPTIMIZERS)
    if best < 0.9:
        raise _Fail(f"the best validation accuracy is {best:.3f}; at least one optimizer should reach 0.9 on digits: "
                    "check the learning rates")
    _check_axes(v["ax"], "ax_optimizers", min_lines=4, legend=True)
    _check_answer(v["answer"], 11)
    return ("timings, accuracies and curves are consistent (your written comparison is not graded automatically: "
            "compare it with the solution)")


def _eval_12(v: dict) -> str:
    results = _keyed(v["results"], REGULARIZERS, "results_regularization")
    histories = _keyed(v["histories"], REGULARIZERS, "histories_regularization")
    gaps = {}
    for name in REGULARIZERS:
        entry, history = results[name], histories[name]
        if not isinstance(entry, dict) or not {"train_acc", "val_acc", "gap"} <= set(entry):
            raise _Fail(f"results_regularization['{name}'] should be a dict with 'train_acc', 'val_acc' and 'gap'")
        train = _fraction(entry["train_acc"], f"results_regularization['{name}']['train_acc']")
        val = _fraction(entry["val_acc"], f"results_regularization['{name}']['val_acc']")
        try:
            gap = float(entry["gap"])
        except (TypeError, ValueError):
            gap = float("nan")
        if not abs(gap - (train - val)) <= 1e-6:
            raise _Fail(f"results_regularization['{name}']['gap'] should be train_acc - val_acc = {train - val:.4f}; "
                        f"yours is {entry['gap']}")
        if not isinstance(history, dict) or not {"train_acc", "val_acc"} <= set(history):
            raise _Fail(f"histories_regularization['{name}'] should be a dict of per-epoch 'train_acc' and 'val_acc'")
        train_curve = _curve(history["train_acc"], f"histories_regularization['{name}']['train_acc']")
        val_curve = _curve(history["val_acc"], f"histories_regularization['{name}']['val_acc']")
        if len(train_curve) != len(val_curve):
            raise _Fail(f"histories_regularization['{name}'] has train and val curves of different lengths")
        if abs(train_curve[-1] - train) > 1e-6 or abs(val_curve[-1] - val) > 1e-6:
            raise _Fail(f"results_regularization['{name}'] should hold the last epoch's accuracies of its history")
        gaps[name] = gap
    if results["none"]["train_acc"] < 0.95 or gaps["none"] < 0.03:
        raise _Fail(f"without regularization the gap is only {gaps['none']:.3f} (train "
                    f"{float(results['none']['train_acc']):.3f}): make the setup over-fit first (wider network, "
                    "fewer training samples, more epochs)")
    spelled = {"l1": "L1", "l2": "L2", "dropout": "dropout"}
    best = _norm_key(v["best"]) if isinstance(v["best"], str) else None
    closest = min(spelled, key=lambda k: gaps[k])
    if best not in spelled:
        raise _Fail(f"best_regularizer should be one of 'L1', 'L2', 'dropout'; yours is {v['best']!r}"[:200])
    if gaps[best] > gaps[closest] + 1e-12:
        raise _Fail(f"best_regularizer is '{spelled[best]}' (gap {gaps[best]:.3f}), but '{spelled[closest]}' closes "
                    f"the gap more ({gaps[closest]:.3f})")
    _check_answer(v["answer"], 12)
    return (f"{spelled[best]} closes the train-validation gap most ({gaps['none']:.3f} -> {gaps[best]:.3f}) (your "
            "written answer is not graded automatically: compare it with the solution)")


def _eval_13(v: dict) -> str:
    rows = v["cv_results"]
    if not isinstance(rows, list) or len(rows) < 2:
        raise _Fail("cv_results should be a list with one dict per configuration (at least 2)")
    folds = set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not set(CV_KEYS + ("fold_accs", "mean", "std")) <= set(row):
            raise _Fail(f"cv_results[{i}] should be a dict with {list(CV_KEYS)} and 'fold_accs', 'mean', 'std'")
        accs = _curve(row["fold_accs"], f"cv_results[{i}]['fold_accs']")
        if accs.min() < 0 or accs.max() > 1:
            raise _Fail(f"cv_results[{i}]['fold_accs'] should be accuracies in [0, 1]")
        folds.add(len(accs))
        try:
            mean, std = float(row["mean"]), float(row["std"])
        except (TypeError, ValueError):
            raise _Fail(f"cv_results[{i}]['mean'] and ['std'] should be numbers") from None
        if abs(mean - accs.mean()) > 1e-4:
            raise _Fail(f"cv_results[{i}]['mean'] ({mean:.4f}) is not the mean of its fold accuracies "
                        f"({accs.mean():.4f})")
        if min(abs(std - accs.std(ddof=0)), abs(std - accs.std(ddof=1))) > 1e-4:
            raise _Fail(f"cv_results[{i}]['std'] ({std:.4f}) is not the standard deviation of its fold accuracies")
    if len(folds) != 1 or min(folds) < 3:
        raise _Fail(f"use the same k >= 3 folds for every configuration; yours have {sorted(folds)} folds")
    for key in CV_KEYS:
        if len({repr(row[key]) for row in rows}) < 2:
            raise _Fail(f"every configuration has the same {key}: the grid should try at least 2 values of each "
                        f"of {list(CV_KEYS)}")
    best_mean = max(float(row["mean"]) for row in rows)
    config = v["best_config"]
    if not isinstance(config, dict) or not set(CV_KEYS) <= set(config):
        raise _Fail(f"best_config should be a dict with the keys {list(CV_KEYS)}")
    matching = [row for row in rows if all(repr(row[k]) == repr(config[k]) for k in CV_KEYS)]
    if not matching or float(matching[0]["mean"]) < best_mean - 1e-12:
        raise _Fail(f"best_config should be the configuration with the highest mean CV accuracy ({best_mean:.4f})")
    y_test = np.asarray(v["y_test"]["array"]).reshape(-1)
    outputs = _model_outputs(v["model"], "model_cv", len(y_test))
    if outputs.shape[1] != 10:
        raise _Fail(f"model_cv should output 10 logits (digits 0-9); yours outputs {outputs.shape[1]}")
    acc = _accuracy(y_test.astype(np.int64), _labels_from_outputs(outputs, v["model"]))
    if acc < CV_MIN_TEST_ACC:
        raise _Fail(f"model_cv's test accuracy is {acc:.3f} < {CV_MIN_TEST_ACC}: retrain the best configuration on all "
                    "of X_train_digits (longer) before testing it")
    _check_answer(v["answer"], 13)
    return (f"{len(rows)} configurations x {min(folds)} folds, best retrained: test accuracy {acc:.3f} (your written "
            "analysis is not graded automatically: compare it with the solution)")


def _eval_10(v: dict) -> str:
    messages = []
    for data, names, minimum in (("iris", _IRIS, IRIS_MIN_TEST_ACC), ("digits", _DIGITS, DIGITS_MIN_TEST_ACC)):
        part = v[data]
        scaler = part["scaler"]
        scaler_name = names[4]
        if scaler.get("mean") is None or scaler.get("scale") is None:
            raise _Fail(f"{scaler_name} should be a fitted sklearn StandardScaler; yours is a {scaler.get('type')}")
        mean = np.asarray(scaler["mean"], dtype=np.float64).reshape(-1)
        scale = np.asarray(scaler["scale"], dtype=np.float64).reshape(-1)
        ref_X, _ = _reference_data(data)
        if mean.shape != (ref_X.shape[1],) or scale.shape != mean.shape:
            raise _Fail(f"{scaler_name} was fitted on {mean.shape[0]} features; {data} has {ref_X.shape[1]}")
        test_info = part.get(names[1])
        if isinstance(test_info, dict) and np.ndim(test_info.get("array")) == 2 and len(test_info["array"]) > 1:
            if np.abs(np.asarray(test_info["array"], dtype=np.float64).mean(axis=0)).max() < 1e-5:
                raise _Fail(f"{names[1]} has column means of exactly 0: it was scaled with statistics of the test "
                            f"split; transform it with {scaler_name}, fitted on the training split")
        X_train, X_test, _, y_test = _check_split(part, names[:4], data, n_test=None, scaler=(mean, scale), tol=1e-3)
        train_mean = X_train.astype(np.float64).mean(axis=0)
        if np.abs(train_mean).max() > 1e-3:
            raise _Fail(f"{names[0]} is not standardised by {scaler_name} (its column means are not 0): fit the "
                        "scaler on the training split only, then transform both splits with it")
        outputs = _model_outputs(part["model"], names[5], len(X_test))
        n_classes = int(_reference_data(data)[1].max()) + 1
        if outputs.shape[1] != n_classes:
            raise _Fail(f"{names[5]} outputs {outputs.shape[1]} logits; {data} has {n_classes} classes")
        acc = _accuracy(y_test, _labels_from_outputs(outputs, part["model"]))
        if acc < minimum:
            raise _Fail(f"{data} test accuracy {acc:.3f} < {minimum}: train longer or add hidden units")
        messages.append(f"{data} test accuracy {acc:.3f} (>= {minimum})")
    return ", ".join(messages) + ", scalers fitted on the training splits"


_EVALUATORS = {1: _eval_1, 2: _eval_2, 3: _eval_3, 4: _eval_4, 5: _eval_5, 6: _eval_6, 7: _eval_7, 8: _eval_8,
               9: _eval_9, 10: _eval_10, 11: _eval_11, 12: _eval_12, 13: _eval_13}


def evaluate(number: int, values: dict) -> Result:
    """Judge exercise ``number`` from the plain ``values`` that :func:`extract` returned.

    Pure and deterministic; all criteria live here. Malformed values give a
    FAILED result, never an exception.

    Args:
        number: exercise number, 1..13.
        values: dict from :func:`extract` (builtins and NumPy arrays only).

    Returns:
        A :class:`Result` with full points when passed, else 0.
    """
    if not isinstance(number, int) or number not in EXERCISES:
        return Result(number, FAILED, f"there is no exercise {number!r}; exercises are numbered 1..13", 0)
    if not isinstance(values, dict):
        return Result(number, FAILED, "nothing to evaluate (the extracted values are not a dict)", 0)
    if values.get("missing"):
        names = ", ".join(values["missing"])
        return Result(number, FAILED, f"still to fill in: {names} (they are None)", 0)
    try:
        message = _EVALUATORS[number](values)
    except _Fail as failure:
        return Result(number, FAILED, str(failure), 0)
    except Exception as error:  # malformed values: a failure to explain, never a crash
        return Result(number, FAILED, f"could not evaluate your values ({type(error).__name__}: {error})"[:400], 0)
    return Result(number, PASSED, message, EXERCISES[number].points)


def check(number: int, namespace: dict) -> Result:
    """Check exercise ``number`` in a notebook: ``check(4, globals())``.

    Prints one line (✅ passed / ❌ hint / ⏳ not attempted) and returns the
    :class:`Result`. Never raises: an exception in the student's objects
    becomes a FAILED result naming it.
    """
    try:
        values = extract(number, namespace)
    except NotAttempted as reason:
        result = Result(number, NOT_ATTEMPTED, str(reason), 0)
    except Exception as error:
        result = Result(number, FAILED, f"your objects raised {type(error).__name__}: {error}"[:400], 0)
    else:
        result = evaluate(number, values)
    try:
        print(result.line())
    except Exception:  # a broken stdout must not stop the notebook either
        pass
    return result


__all__ = ["NOT_ATTEMPTED", "PASSED", "FAILED", "NotAttempted", "Exercise", "Result", "EXERCISES", "extract",
           "evaluate", "check"]
