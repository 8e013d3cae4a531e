"""Criteria of the 13 exercises in ``02_neural_networks_exercises.ipynb``, one record per exercise.

The notebook's check cells and the instructor's grader both use this module, so
the two can never disagree. Two halves:

* **Kernel side**, ``tests/exercise_extraction.py`` (self-contained: stdlib,
  NumPy, torch): ``extract(number, namespace, probes)`` reads the names an
  exercise needs from the notebook's namespace and returns **plain data**;
  models become their outputs on the ``probes`` (fresh inputs chosen by the
  caller) and, when they are a chain of standard layers, those layers with
  their weights. Such a model is rebuilt here (:func:`_chain_forward`) and
  judged on the outputs computed here; a model whose kernel outputs disagree
  with its own weights fails. Its source is executed here from the file's text (never imported), so
  a patched ``sys.modules`` entry doesn't reach it.
* **Grader side**, this module: :data:`EXERCISES` (number -> :class:`Exercise`:
  names, points, a title built from its thresholds, to-do hint and the
  evaluator registered beside it), :func:`make_probes` (fresh inputs and their
  labels; the caller sends only :func:`probe_inputs` into the kernel and keeps
  the labels), :func:`evaluate` (every criterion; reference data rebuilt here
  with the student's own ``SEED``) and :func:`check` for the notebook's check
  cells: ``check(4, globals())``.

Structured answers (``fastest_activation``, ``fastest_optimizer``,
``best_regularizer``, ``most_important_hyperparameter``) are checked against
the student's own table. The final accuracies in the tables of exercises 9, 11
and 12 are checked against the trained models the student keeps with them
(``models_activations`` ...), and exercise 4's history against the model's loss;
the rest of a curve, and exercise 13's fold accuracies, only for consistency.
Free-text answers ``answer_N`` (exercises 9, 11, 12, 13) are checked only for
being there; their content is for a human to read.

The grader execs this file's source in a fresh dict (with ``__file__`` set) in
its own process and, today, in the student's kernel; only stdlib, NumPy and
torch are imported at module level; scikit-learn and ``helper_functions`` are
imported inside the functions that rebuild data sets.
"""

import functools
import importlib
import math
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NOT_ATTEMPTED, PASSED, FAILED = "not attempted", "passed", "failed"

DEFAULT_SEED = 42  # the template's SEED; used when a namespace has no integer SEED


# --------------------------------------------------------------------------
# The kernel side, executed from its source text
# --------------------------------------------------------------------------
KERNEL_PATH = Path(__file__).resolve().with_name("exercise_extraction.py")
KERNEL_SOURCE = KERNEL_PATH.read_text(encoding="utf-8")


def _load_kernel_side() -> types.ModuleType:
    module = types.ModuleType("exercise_extraction_copy")
    module.__file__ = str(KERNEL_PATH)
    exec(compile(KERNEL_SOURCE, str(KERNEL_PATH), "exec"), module.__dict__)
    return module


kernel = _load_kernel_side()
NotAttempted = kernel.NotAttempted
GRID_2D = kernel.GRID_2D
MOONS_SPLIT, SPIRALS_SPLIT, XOR_SPLIT = kernel.MOONS_SPLIT, kernel.SPIRALS_SPLIT, kernel.XOR_SPLIT
IRIS, DIGITS = kernel.IRIS, kernel.DIGITS


# --------------------------------------------------------------------------
# Thresholds (the only place they live; titles and hints are built from them)
# --------------------------------------------------------------------------
MOONS_MIN_TEST_ACC = 0.96
SPIRALS_MIN_TEST_ACC = 0.95
XOR_MIN_TEST_ACC = 0.99
IRIS_MIN_TEST_ACC = 0.93
DIGITS_MIN_TEST_ACC = 0.95
ACTIVATION_LEVEL = 0.9  # exercise 9 counts epochs until the test accuracy first reaches this
OPTIMIZER_LEVEL = 0.93  # exercise 11 counts epochs until the validation accuracy first reaches this
OPTIMIZER_MIN_VAL_ACC = 0.93
OVERFIT_MIN_GAP = 0.05  # exercise 12: the unregularised model must over-fit by at least this much
OVERFIT_MIN_TRAIN_ACC = 0.95
HISTORY_LOSS_FACTOR, HISTORY_LOSS_SLACK = 3.0, 0.02  # exercise 4: the model's loss <= 3 x the history's last + 0.02
REGULARIZATION_N_VAL = 300  # the validation samples the task asks for (for the standard error)
CV_MIN_TEST_ACC = 0.95
LOG_SOFTMAX_RTOL, LOG_SOFTMAX_ATOL = 1e-5, 1e-5
MIN_ANSWER_CHARS = 40
ACTIVATIONS = ("sigmoid", "relu", "tanh")
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
REGULARIZERS = ("none", "l1", "l2", "dropout")
CV_KEYS = ("hidden_layers", "hidden_units", "lr", "batch_size")


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Exercise:
    """One exercise: number, title, points, its names, to-do hint and evaluator."""

    number: int
    title: str
    points: int
    own: tuple[str, ...]
    borrowed: tuple[str, ...]
    todo: str
    evaluator: Callable

    @property
    def needs(self) -> tuple[str, ...]:
        """Every name the exercise reads: its own, then those of earlier exercises."""
        return self.own + self.borrowed


EXERCISES: dict[int, Exercise] = {}


def _exercise(number: int, title: str, points: int):
    """Register ``evaluator(values, probes) -> message`` as exercise ``number`` (names from the kernel side)."""

    def register(evaluator):
        spec = kernel.SPECS[number]
        EXERCISES[number] = Exercise(number, title, points, spec["own"], spec["borrowed"], spec["todo"], evaluator)
        return evaluator

    return register


def _pct(x: float) -> str:
    return f"{x:.0%}"


@dataclass
class Result:
    """Outcome of one exercise: status, a one-line message and the points earned."""

    number: int
    status: str
    message: str
    points: int

    def line(self) -> str:
        """The line a check cell prints: a symbol and a word (the word reads without an emoji font)."""
        if self.status == PASSED:
            return f"✅ passed: Exercise {self.number}: {self.message}"
        if self.status == NOT_ATTEMPTED:
            return f"⏳ not attempted: Exercise {self.number}: {self.message}"
        return f"❌ failed: Exercise {self.number}: {self.message}"

    def _ipython_display_(self):
        """``check`` already printed the line; show nothing more in the notebook."""


class _Fail(Exception):
    """A criterion is not met; the message is the hint shown to the student."""


# --------------------------------------------------------------------------
# Data sets: each call written once, as data (its text for hints is built from it)
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSet:
    """A data-set call: ``module.function(**kwargs, random_state=SEED)`` (seeded) or without a seed."""

    module: str
    function: str
    kwargs: tuple[tuple[str, object], ...]
    seeded: bool

    def call(self, seed: int | None = None, **overrides) -> tuple[np.ndarray, np.ndarray]:
        kwargs = {**dict(self.kwargs), **overrides}
        if self.seeded:
            kwargs["random_state"] = seed
        X, y = getattr(importlib.import_module(self.module), self.function)(**kwargs)
        return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)

    @property
    def text(self) -> str:
        args = [f"{k}={v!r}" for k, v in self.kwargs] + (["random_state=SEED"] if self.seeded else [])
        return f"{self.function}({', '.join(args)})"


DATASETS = {
    "moons": DataSet("sklearn.datasets", "make_moons", (("n_samples", 1000), ("noise", 0.03)), True),
    "spirals": DataSet("helper_functions", "make_spirals", (("n_samples", 1000), ("n_classes", 3), ("noise", 0.2)),
                       True),
    "xor": DataSet("helper_functions", "make_xor", (("n_samples", 1000), ("noise", 0.1)), True),
    "iris": DataSet("sklearn.datasets", "load_iris", (("return_X_y", True),), False),
    "digits": DataSet("sklearn.datasets", "load_digits", (("return_X_y", True),), False),
}


@functools.cache
def reference_data(name: str, seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The exercise's data set, re-created here: (X float64 (N, D), y int64 (N,)), read-only."""
    X, y = DATASETS[name].call(seed if DATASETS[name].seeded else None)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


PROBE_SAMPLES = 1000
DEFAULT_PROBE_SEED = 20260101  # what check cells use; the grader draws its own


def make_probes(seed: int) -> dict:
    """Fresh inputs for evaluating models, with their labels (the caller keeps the labels).

    Generated data sets (moons, spirals, XOR): ``PROBE_SAMPLES`` new points from
    the exercise's own call with a seed derived from ``seed``. Iris and digits
    (no new samples exist): the whole data set, raw features, in an order drawn
    from ``seed``, with ``index`` (the reference row of each probe row).

    Returns:
        name -> {"X": (N, D) float64, "y": (N,) int64[, "index": (N,) int64]}.
    """
    rng = np.random.default_rng(seed)
    probes = {}
    for name, data in DATASETS.items():
        if data.seeded:
            X, y = data.call(int(rng.integers(2**31)), n_samples=PROBE_SAMPLES)
            probes[name] = {"X": X, "y": y}
        else:
            X, y = reference_data(name)
            order = rng.permutation(len(y))
            probes[name] = {"X": X[order], "y": y[order], "index": order}
    return probes


def probe_inputs(probes: dict) -> dict:
    """What goes into the kernel: name -> X only (float32)."""
    return {name: np.asarray(p["X"], dtype=np.float32) for name, p in probes.items()}


@functools.cache
def default_probes() -> dict:
    return make_probes(DEFAULT_PROBE_SEED)


def _seed_of(values: dict) -> int:
    seed = values.get("seed")
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else DEFAULT_SEED


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
                 tol: float = 1e-4, seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Verify a train/test split of a reference data set; return (X_train, X_test, y_train, y_test) as given.

    With ``scaler=(mean, scale)`` the features are un-standardised before they
    are compared with the reference data. The reference data are rebuilt with
    ``seed``, the student's own ``SEED``.
    """
    ref_X, ref_y = reference_data(data, seed)
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
        raise _Fail(f"train and test together should hold all {n_total} samples of {DATASETS[data].text}; yours "
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
        seed_text = f"SEED = {seed}" if DATASETS[data].seeded else "no seed"
        raise _Fail(f"{where} {hint}is not a point of {DATASETS[data].text}: use exactly that call ({seed_text}) "
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


def _model_outputs(info: dict, name: str, n_rows: int, key: str) -> np.ndarray:
    """Validated (n_rows, k) outputs of a model on the inputs called ``key`` in its extraction."""
    if not isinstance(info, dict) or not info.get("is_module"):
        kind = info.get("type") if isinstance(info, dict) else "?"
        raise _Fail(f"{name} should be a torch.nn.Module; yours is a {kind}")
    outputs = info.get("outputs")
    if not isinstance(outputs, dict) or key not in outputs:
        raise _Fail(f"{name}(X) should return a tensor of logits; yours returns a {info.get('outputs_type')}")
    raw = outputs[key]
    outputs = np.asarray(raw, dtype=np.float64)
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.ndim != 2 or outputs.shape[0] != n_rows:
        raise _Fail(f"{name} should return one row of logits per input, shape ({n_rows}, C); yours gives "
                    f"{np.shape(raw)}")
    if not np.all(np.isfinite(outputs)):
        raise _Fail(f"{name} outputs NaN or inf: lower the learning rate and retrain")
    return outputs


# ---- models rebuilt from their weights ---------------------------------------
def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # = 1 / (1 + exp(-a)), without overflow


def _chain_forward(layers: list, X: np.ndarray) -> np.ndarray:
    """Outputs (N, C) float64 of a chain of layer records (see the kernel side's ``layer_chain``) on X (N, D).

    Computed here, in NumPy, from the weights alone: the student's forward()
    plays no part. Layers in eval mode (dropout off, batch norm with its running
    statistics), as the kernel side runs a model.
    """
    a = np.asarray(X, dtype=np.float64)
    first = next((layer for layer in layers if isinstance(layer, dict) and layer.get("type") == "Linear"), None)
    if first is not None and np.asarray(first["weight"]).dtype == np.float32:
        a = a.astype(np.float32).astype(np.float64)  # the kernel feeds float32 inputs to a float32 model
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in layers:
            kind = layer.get("type") if isinstance(layer, dict) else None
            if kind == "Linear":
                W = np.asarray(layer["weight"], dtype=np.float64)
                if W.ndim != 2 or a.ndim != 2 or W.shape[1] != a.shape[1]:
                    raise _Fail(f"a Linear layer of weight shape {W.shape} can't take inputs of shape {a.shape}")
                a = a @ W.T
                if layer.get("bias") is not None:
                    a = a + np.asarray(layer["bias"], dtype=np.float64).reshape(1, -1)
            elif kind == "ReLU":
                a = np.maximum(a, 0.0)
            elif kind == "LeakyReLU":
                a = np.where(a >= 0, a, float(layer["negative_slope"]) * a)
            elif kind == "Sigmoid":
                a = _sigmoid(a)
            elif kind == "Tanh":
                a = np.tanh(a)
            elif kind == "SiLU":
                a = a * _sigmoid(a)
            elif kind == "ELU":
                a = np.where(a > 0, a, float(layer["alpha"]) * np.expm1(np.minimum(a, 0.0)))
            elif kind == "GELU":
                if layer.get("approximate") == "tanh":
                    a = 0.5 * a * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (a + 0.044715 * a**3)))
                else:
                    a = 0.5 * a * (1.0 + np.vectorize(math.erf)(a / math.sqrt(2.0)))
            elif kind in ("Identity", "Dropout", "AlphaDropout"):
                pass
            elif kind in ("Softmax", "LogSoftmax"):
                shifted = a - a.max(axis=1, keepdims=True)
                log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
                a = log_p if kind == "LogSoftmax" else np.exp(log_p)
            elif kind == "BatchNorm1d":
                a = (a - np.asarray(layer["mean"], dtype=np.float64)) / np.sqrt(
                    np.asarray(layer["var"], dtype=np.float64) + float(layer["eps"]))
                if layer.get("weight") is not None:
                    a = a * np.asarray(layer["weight"], dtype=np.float64) + np.asarray(layer["bias"], dtype=np.float64)
            else:
                raise _Fail(f"the grader can't rebuild a layer of type {kind!r}")
    return a if a.ndim == 2 else a.reshape(len(a), -1)


_NOTES: list[str] = []  # notes of the evaluation in progress (see evaluate)
REBUILD_RTOL = REBUILD_ATOL = 1e-3  # float32 in the kernel (CPU or CUDA) against float64 here


def _rebuild(info, name: str, inputs: dict) -> None:
    """Replace a model's outputs by those its layers compute here, on the grader's own copy of the inputs.

    ``inputs``: key -> (N, D) array, the inputs the kernel side evaluated the
    model on under that key (fresh probes, a fixed grid, the student's test
    split) or new ones (e.g. the training split, to check a history). Where the
    kernel also sent outputs for a key, they must agree with the rebuilt ones;
    a model that isn't a plain chain of standard layers keeps the outputs its
    own forward() computed, and the result says so.
    """
    if not isinstance(info, dict) or not info.get("is_module"):
        return
    layers = info.get("layers")
    if not isinstance(layers, list):
        why = info.get("not_rebuilt") or "it isn't a chain of standard layers"
        _NOTES.append(f"{name} was judged on the outputs of its own forward(), not rebuilt from its weights "
                      f"({str(why)[:120]})")
        return
    theirs = info.get("outputs") if isinstance(info.get("outputs"), dict) else {}
    rebuilt = {}
    for key, X in inputs.items():
        if X is None:
            continue
        out = _chain_forward(layers, X)
        if key in theirs:
            sent = np.asarray(theirs[key], dtype=np.float64)
            sent = sent[:, None] if sent.ndim == 1 else sent
            if sent.shape != out.shape or not np.allclose(sent, out, rtol=REBUILD_RTOL, atol=REBUILD_ATOL,
                                                          equal_nan=True):
                raise _Fail(f"{name}'s outputs in your kernel differ from what its layers compute from their weights "
                            "(rebuilt by the grader): don't change how the model computes after building it")
        elif theirs == {} and info.get("outputs_type"):
            continue  # its forward() didn't return a tensor: _model_outputs explains that
        rebuilt[key] = out
    if rebuilt:
        info["outputs"] = {**theirs, **rebuilt}
        info["rebuilt"] = True


def _probe_X(probes: dict, data: str, scaler=None):
    """The probe inputs of ``data`` as the kernel received them (float32), standardised with ``scaler=(mean, scale)``.

    None when the scaler doesn't fit (the kernel side then sent no outputs either).
    """
    X = np.asarray(probes[data]["X"], dtype=np.float32).astype(np.float64)
    if scaler is None:
        return X
    try:
        mean = np.asarray(scaler[0], dtype=np.float64).reshape(-1)
        scale = np.asarray(scaler[1], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    if mean.shape != (X.shape[1],) or scale.shape != mean.shape or not np.all(scale != 0):
        return None
    return (X - mean) / scale


def _is_affine(outputs: np.ndarray, X: np.ndarray) -> bool:
    """True when ``outputs`` is (numerically) an affine function of the inputs ``X``: a linear model."""
    design = np.column_stack([X.astype(np.float64), np.ones(len(X))])
    spread = np.linalg.norm(outputs - outputs.mean(axis=0))
    residual = outputs - design @ np.linalg.lstsq(design, outputs, rcond=None)[0]
    return bool(spread == 0 or np.linalg.norm(residual) < 1e-4 * spread)


def _hidden_widths(info: dict) -> list[int]:
    """Output widths of every nn.Linear but the last (the hidden layers)."""
    return [int(shape[1]) for shape in (info.get("linear_shapes") or [])[:-1]]


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


# ---- probe accuracies -------------------------------------------------------
def _probe_accuracy(model: dict, name: str, probes: dict, data: str, mask=None) -> float:
    """Accuracy of a model's outputs on the probes of ``data`` (optionally only the rows in ``mask``)."""
    y = np.asarray(probes[data]["y"])
    outputs = _model_outputs(model, name, len(y), "probe")
    labels = _labels_from_outputs(outputs, model)
    if mask is not None:
        y, labels = y[mask], labels[mask]
    return _accuracy(y, labels)


def _test_mask(probes: dict, data: str, X_test: np.ndarray, scaler) -> np.ndarray:
    """Probe rows (Iris, digits) that are rows of the student's test split (undoing their scaler)."""
    ref_X, _ = reference_data(data)
    X = X_test.astype(np.float64) * scaler[1] + scaler[0]
    nearest, _ = _nearest_rows(X, ref_X)
    group, _ = _nearest_rows(ref_X, ref_X)  # identical rows count as one
    return np.isin(group[np.asarray(probes[data]["index"])], group[nearest])


def _logit_model(info: dict, name: str, n_rows: int, key: str) -> np.ndarray:
    """A binary model's outputs, failing unless it returns one raw logit per point."""
    outputs = _model_outputs(info, name, n_rows, key)
    if outputs.shape[1] != 1:
        raise _Fail(f"{name} outputs {outputs.shape[1]} numbers per point; the task asks for one logit: end it with "
                    "nn.Linear(..., 1)")
    if (info.get("leaves") or [""])[-1] in ("Sigmoid", "Softmax"):
        raise _Fail(f"{name} ends in nn.{info['leaves'][-1]}(): return logits and use BCEWithLogitsLoss (a sigmoid "
                    "in the model and another in the loss squash twice); drop the final activation")
    return outputs


# ---- the 13 evaluators -----------------------------------------------------
@_exercise(1, "Moons data: tensors and an 80/20 split", 1)
def _eval_1(v: dict, probes: dict) -> str:
    _check_split(v, MOONS_SPLIT, "moons", n_test=200, seed=_seed_of(v))
    return "800 training and 200 test points of the moons, float32 tensors, labels paired correctly"


@_exercise(2, "A non-linear model for the moons", 1)
def _eval_2(v: dict, probes: dict) -> str:
    _rebuild(v["model"], "model_moons", {"grid": GRID_2D})
    outputs = _logit_model(v["model"], "model_moons", len(GRID_2D), "grid")
    if _is_affine(outputs, GRID_2D):
        raise _Fail("model_moons computes a straight-line (affine) function of its input: stacked nn.Linear layers "
                    "stay linear; put a non-linear activation such as nn.ReLU() between them")
    layers = v["model"].get("leaves", [])
    return f"a non-linear model with {v['model'].get('n_params', '?')} parameters ({', '.join(layers[:8])})"


@_exercise(3, "Loss function and optimizer for binary classification", 1)
def _eval_3(v: dict, probes: dict) -> str:
    model = v["model"]
    _rebuild(model, "model_moons", {"grid": GRID_2D[:5]})
    outputs = _model_outputs(model, "model_moons", 5, "grid")
    width = outputs.shape[1]
    loss = v.get("loss_type")
    ends_in_sigmoid = (model.get("leaves") or [""])[-1] == "Sigmoid"
    if loss in ("MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss"):
        raise _Fail(f"{loss} is a regression loss; for binary classification with one logit use "
                    "nn.BCEWithLogitsLoss()")
    if loss == "BCELoss":
        if ends_in_sigmoid:
            raise _Fail("return logits and use BCEWithLogitsLoss: a sigmoid in the model and another in the loss "
                        "squash twice (remove model_moons's final nn.Sigmoid() and use nn.BCEWithLogitsLoss())")
        raise _Fail("nn.BCELoss expects probabilities but model_moons outputs logits: use nn.BCEWithLogitsLoss(), "
                    "which applies the sigmoid itself, stably")
    if loss == "CrossEntropyLoss":
        raise _Fail(f"CrossEntropyLoss is for one logit per class; model_moons outputs {width} logit(s) for two "
                    "classes: use nn.BCEWithLogitsLoss() with 1 output unit")
    if loss != "BCEWithLogitsLoss":
        probe = v.get("loss_on_probe")
        expected = float(np.mean(np.logaddexp(0, -np.array([2.0, -1.0, 0.5]) * np.array([1, -1, -1]))))
        if probe is None or not math.isclose(probe, expected, rel_tol=1e-4):
            raise _Fail(f"loss_fn_moons is a {loss}; for binary classification use nn.BCEWithLogitsLoss()")
    if width != 1:
        raise _Fail(f"nn.BCEWithLogitsLoss needs 1 output unit, but model_moons outputs {width}: end it with "
                    "nn.Linear(..., 1)")
    if not v.get("is_optimizer"):
        raise _Fail(f"optimizer_moons should be a torch.optim optimizer (e.g. torch.optim.Adam); yours is a "
                    f"{v.get('optimizer_type')}")
    if v.get("optimizer_param_ids") != model.get("param_ids"):
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
    losses = _curve(history, name)
    if not losses[-1] < losses[0]:
        raise _Fail(f"the training loss in {name} did not go down ({losses[0]:.4f} -> {losses[-1]:.4f}): call "
                    "optimizer.zero_grad(), loss.backward() and optimizer.step() every epoch")
    return losses


@_exercise(4, f"Training and testing loop (>= {_pct(MOONS_MIN_TEST_ACC)} test accuracy)", 2)
def _eval_4(v: dict, probes: dict) -> str:
    X_train, _, y_train, _ = _check_split(v, MOONS_SPLIT, "moons", n_test=200, seed=_seed_of(v))
    losses = _check_history(v["history"], "history_moons")
    model = v["model"]
    _rebuild(model, "model_moons", {"probe": _probe_X(probes, "moons"), "train": X_train})
    train_logits = (model.get("outputs") or {}).get("train") if model.get("rebuilt") else None
    if train_logits is not None and train_logits.shape[1] == 1 and (model.get("leaves") or [""])[-1] != "Sigmoid":
        z = train_logits[:, 0]
        model_loss = float(np.mean(np.logaddexp(0.0, z) - y_train * z))  # BCE with logits, from the weights
        if not model_loss <= HISTORY_LOSS_FACTOR * losses[-1] + HISTORY_LOSS_SLACK:
            raise _Fail(f"history_moons ends at a loss of {losses[-1]:.4f}, but model_moons's loss on X_train_moons is "
                        f"{model_loss:.4f}: keep the losses of the training run that produced model_moons (running "
                        "the model cell again after training starts a new, untrained model)")
    acc = _probe_accuracy(v["model"], "model_moons", probes, "moons")
    if acc < MOONS_MIN_TEST_ACC:
        raise _Fail(f"accuracy {acc:.3f} < {MOONS_MIN_TEST_ACC} on fresh moons points: train longer, raise the "
                    "learning rate or add hidden units/a hidden layer")
    return f"accuracy {acc:.3f} (>= {MOONS_MIN_TEST_ACC}) on {len(probes['moons']['y'])} fresh moons points " \
           f"after {len(losses)} epochs"


@_exercise(5, "Predictions and the decision boundary", 2)
def _eval_5(v: dict, probes: dict) -> str:
    y_test_info = v["y_test"]
    n = len(np.asarray(y_test_info["array"]).reshape(-1))
    y_test = _as_labels(y_test_info, "y_test_moons", n)
    y_pred_raw = np.asarray(v["y_pred"]["array"])
    if y_pred_raw.shape != (n,):
        squeeze = " (squeeze to (200,): y_logits.squeeze(1) before the sigmoid)" if y_pred_raw.shape == (n, 1) else ""
        raise _Fail(f"y_pred_moons should have shape ({n},), one label per test point; yours has "
                    f"{y_pred_raw.shape}{squeeze}")
    if y_pred_raw.dtype.kind == "f" and not np.all(np.isin(y_pred_raw, (0.0, 1.0))):
        raise _Fail("y_pred_moons holds logits or probabilities, not labels: use "
                    "torch.round(torch.sigmoid(y_logits)) (labels are 0 or 1)")
    y_pred = y_pred_raw.astype(np.int64)
    if not np.all(np.isin(y_pred, (0, 1))):
        raise _Fail("y_pred_moons should contain only the labels 0 and 1")
    model = v["model"]
    if isinstance(v.get("X_test"), dict):
        _rebuild(model, "model_moons", {"test": np.asarray(v["X_test"]["array"], dtype=np.float64), "grid": GRID_2D})
    outputs = _model_outputs(model, "model_moons", n, "test")
    grid_outputs = _model_outputs(model, "model_moons", len(GRID_2D), "grid")
    agree = _accuracy(_labels_from_outputs(outputs, model), y_pred)
    if agree < 0.99:
        raise _Fail(f"y_pred_moons agrees with model_moons's predictions on X_test_moons for only {agree:.0%} of "
                    "the points: predict on X_test_moons with the trained model, in eval mode")
    acc = _accuracy(y_test, y_pred)
    if acc < MOONS_MIN_TEST_ACC:
        if _is_affine(grid_outputs, GRID_2D):
            raise _Fail(f"y_pred_moons is only {acc:.3f} accurate because model_moons (exercise 2) is linear: put a "
                        "non-linear activation such as nn.ReLU() between its nn.Linear layers, then retrain it "
                        "(exercise 4)")
        raise _Fail(f"y_pred_moons is only {acc:.3f} accurate (< {MOONS_MIN_TEST_ACC}): train model_moons first "
                    "(exercise 4)")
    _check_axes(v["ax"], "ax_moons", min_collections=2)
    return f"labels match the model ({acc:.3f} test accuracy) and ax_moons shows the decision boundary"


def _log_softmax_reference(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@_exercise(6, "A numerically stable log-softmax from exp and log", 2)
def _eval_6(v: dict, probes: dict) -> str:
    if not v.get("callable"):
        raise _Fail(f"stable_log_softmax should be a function; yours is a {v.get('type')}")
    if v["builtin_calls"]:
        raise _Fail(f"stable_log_softmax calls {', '.join(v['builtin_calls'])}: build it from torch.exp, torch.log, "
                    "max and sum instead")
    labels = {"extreme32": "float32 logits as large as ±1000", "wide32": "a (4, 10) float32 tensor in [-500, 500]",
              "normal64": "ordinary float64 logits"}
    for key, x in kernel.LOG_SOFTMAX_INPUTS.items():
        if key in v["errors"]:
            raise _Fail(f"stable_log_softmax on {labels[key]} raised {v['errors'][key]}")
        out = v["outputs"].get(key)
        if out is None:
            raise _Fail("stable_log_softmax returns None: return the tensor you computed")
        out = np.asarray(out, dtype=np.float64)
        if out.shape != x.shape:
            raise _Fail(f"stable_log_softmax on {labels[key]} should keep the input's shape {x.shape}; yours gives "
                        f"{out.shape} (keep the class dimension: keepdim=True in max and sum)")
        if not np.all(np.isfinite(out)):
            raise _Fail(f"stable_log_softmax gives NaN or inf on {labels[key]}: exp overflows for large logits; "
                        "subtract each row's maximum before exp (the log-sum-exp trick)")
        ref = _log_softmax_reference(x)
        if not np.allclose(out, ref, rtol=LOG_SOFTMAX_RTOL, atol=LOG_SOFTMAX_ATOL):
            with np.errstate(over="ignore"):  # a wrong answer's outputs may be large: exp(out) = inf is fine here
                rows_sum_to_one = np.allclose(np.exp(out).sum(axis=1), 1.0, atol=1e-4)
            where = "" if rows_sum_to_one else " (each row's exp should sum to 1: normalise over dim=1, the classes)"
            error = np.abs(out - ref).max()
            raise _Fail(f"stable_log_softmax differs from F.log_softmax(x, dim=1) by up to {error:.2g} on "
                        f"{labels[key]}{where}")
    return "finite on logits as large as ±1000 and equal to F.log_softmax(x, dim=1) within 1e-5"


@_exercise(7, f"Spirals: a multi-class model (>= {_pct(SPIRALS_MIN_TEST_ACC)} test accuracy)", 2)
def _eval_7(v: dict, probes: dict) -> str:
    _check_split(v, SPIRALS_SPLIT, "spirals", n_test=200, seed=_seed_of(v))
    _rebuild(v["model"], "model_spirals", {"probe": _probe_X(probes, "spirals")})
    outputs = _model_outputs(v["model"], "model_spirals", len(probes["spirals"]["y"]), "probe")
    if outputs.shape[1] != 3:
        raise _Fail(f"model_spirals outputs {outputs.shape[1]} logit(s) per point; 3 classes need 3 output units "
                    "(with nn.CrossEntropyLoss)")
    acc = _probe_accuracy(v["model"], "model_spirals", probes, "spirals")
    if acc < SPIRALS_MIN_TEST_ACC:
        raise _Fail(f"accuracy {acc:.3f} < {SPIRALS_MIN_TEST_ACC} on fresh spirals points: use more hidden units or "
                    "another hidden layer, and train longer")
    _check_axes(v["ax"], "ax_spirals", min_collections=2)
    return f"accuracy {acc:.3f} (>= {SPIRALS_MIN_TEST_ACC}) on fresh spirals points and a decision boundary in " \
           "ax_spirals"


@_exercise(8, f"A feed-forward network for XOR (>= {_pct(XOR_MIN_TEST_ACC)} test accuracy)", 2)
def _eval_8(v: dict, probes: dict) -> str:
    _check_split(v, XOR_SPLIT, "xor", n_test=200, seed=_seed_of(v))
    model = v["model"]
    _rebuild(model, "model_xor", {"probe": _probe_X(probes, "xor"), "grid": GRID_2D})
    _logit_model(model, "model_xor", len(probes["xor"]["y"]), "probe")
    acc = _probe_accuracy(model, "model_xor", probes, "xor")
    if acc < XOR_MIN_TEST_ACC:
        grid = _model_outputs(model, "model_xor", len(GRID_2D), "grid")
        widths = _hidden_widths(model)
        if _is_affine(grid, GRID_2D):
            hint = "model_xor is linear: XOR needs a non-linear activation such as nn.ReLU() after the hidden layer"
        elif widths and min(widths) < 4:
            hint = (f"a hidden layer of {min(widths)} unit(s) is too narrow to carve out the four XOR clusters: use "
                    "more hidden units (e.g. nn.Linear(2, 8))")
        else:
            hint = "train longer or raise the learning rate"
        raise _Fail(f"accuracy {acc:.3f} < {XOR_MIN_TEST_ACC} on fresh XOR points: {hint}")
    return f"accuracy {acc:.3f} (>= {XOR_MIN_TEST_ACC}) on fresh XOR points"


_ACTIVATION_LAYERS = ("ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "GELU", "SiLU")


def _layer_types(info: dict) -> list[str]:
    """The layer types a model applies: from its rebuilt chain, else its module leaves."""
    layers = info.get("layers")
    if isinstance(layers, list):
        return [str(layer.get("type")) for layer in layers if isinstance(layer, dict)]
    return [str(leaf) for leaf in info.get("leaves") or []]


def _trained_models(value, keys: tuple[str, ...], name: str, aliases: dict | None = None) -> dict:
    """The dict of trained models of a comparison: one nn.Module per key, distinct models of one architecture."""
    if isinstance(value, dict) and "not_a_dict" in value:
        raise _Fail(f"{name} should be a dict of the trained models, one per run; yours is a {value['not_a_dict']}")
    models = _keyed(value, keys, name, aliases)
    for key, info in models.items():
        if not isinstance(info, dict) or not info.get("is_module"):
            kind = info.get("type") if isinstance(info, dict) else "?"
            raise _Fail(f"{name}['{key}'] should be the trained nn.Module of that run; yours is a {kind}")
    shapes = {key: info.get("linear_shapes") for key, info in models.items()}
    if len({repr(s) for s in shapes.values()}) != 1:
        listed = ", ".join(f"{k}: {s}" for k, s in shapes.items())
        raise _Fail(f"the models in {name} have different layers ({listed}): "
                    "train the same network every time, so that only one thing changes")
    seen: dict[int, str] = {}
    for key, info in models.items():
        shared = [seen[i] for i in info.get("param_ids") or [] if i in seen]
        if shared:
            raise _Fail(f"{name}['{key}'] and {name}['{shared[0]}'] are the same model (they share parameters): build "
                        "a new model for every run")
        seen.update({i: key for i in info.get("param_ids") or []})
    return models


def _check_recorded_accuracy(info: dict, name: str, X: np.ndarray, y: np.ndarray, recorded: float,
                             recorded_name: str, data_name: str, key: str = "eval", how: str = "") -> float:
    """A reported final accuracy must be the trained model's accuracy on that data (one sample of slack).

    ``key``: the name under which the kernel side evaluated the model on X.
    """
    _rebuild(info, name, {key: X})
    outputs = _model_outputs(info, name, len(y), key)
    acc = _accuracy(y, _labels_from_outputs(outputs, info))
    if abs(acc - recorded) > 1.0 / max(len(y), 1) + 1e-9:
        raise _Fail(f"{recorded_name} is {recorded:.4f}, but {name} classifies {acc:.4f} of {data_name} correctly"
                    f"{how}: report the accuracy of the model you trained, and keep that model")
    return acc


def _rows_of_training_split(v: dict, X_key: str, y_key: str, X_name: str, y_name: str) -> tuple:
    """A subset of the digits training split (X_train_digits rows, labels paired): (X, y, row indices)."""
    X_train = np.asarray(v["X_train"]["array"], dtype=np.float64)
    y_train = np.asarray(v["y_train"]["array"]).reshape(-1)
    X = np.asarray(v[X_key]["array"], dtype=np.float64)
    if v[X_key].get("type") != "torch.Tensor" or X.ndim != 2 or X.shape[1:] != X_train.shape[1:] or not len(X):
        raise _Fail(f"{X_name} should be a (N, {X_train.shape[1]}) tensor of rows of X_train_digits; yours is a "
                    f"{v[X_key].get('type')} of shape {X.shape}")
    y = _as_labels(v[y_key], y_name, len(X))
    rows, distance = _nearest_rows(X, X_train)
    if not np.all(distance < 1e-6):
        raise _Fail(f"{X_name} should consist of rows of X_train_digits (index it with the row numbers you chose)")
    if len(y_train) == len(X_train) and not np.all(y_train[rows] == y):
        raise _Fail(f"{y_name} doesn't match {X_name}: index features and labels with the same indices")
    return X, y, rows


def _epochs_to(curve: np.ndarray, level: float):
    reached = np.flatnonzero(np.asarray(curve) >= level)
    return int(reached[0]) + 1 if reached.size else None


def _fastest(stated, epochs: dict, name: str, spelled: dict, aliases: dict | None = None) -> str:
    """Check a stated 'fastest' key against the student's own epochs-to-level table; return its spelling."""
    reached = {k: e for k, e in epochs.items() if e is not None}
    if not reached:
        raise _Fail(f"no variant reached the level in your table, so {name} can't be decided: train longer")
    key = _norm_key(stated) if isinstance(stated, str) else None
    key = (aliases or {}).get(key, key)
    if key not in spelled:
        raise _Fail(f"{name} should be one of {list(spelled.values())}; yours is {stated!r}"[:200])
    best = min(reached.values())
    if epochs.get(key) != best:
        winners = [spelled[k] for k, e in reached.items() if e == best]
        raise _Fail(f"{name} is {spelled[key]!r}, but in your own table {' and '.join(map(repr, winners))} got there "
                    f"first ({best} epochs; {spelled[key]!r}: {epochs.get(key)})")
    return spelled[key]


@_exercise(9, "Sigmoid vs ReLU vs tanh on the spirals", 2)
def _eval_9(v: dict, probes: dict) -> str:
    X_test = np.asarray(v["X_test_spirals"]["array"], dtype=np.float64)
    y_test = _as_labels(v["y_test_spirals"], "y_test_spirals", len(X_test))
    results = _keyed(v["results"], ACTIVATIONS, "results_activations")
    histories = _keyed(v["histories"], ACTIVATIONS, "histories_activations")
    models = _trained_models(v["models"], ACTIVATIONS, "models_activations")
    lengths, epochs = set(), {}
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
        expected_layer = {"sigmoid": "Sigmoid", "relu": "ReLU", "tanh": "Tanh"}[name]
        used = sorted({t for t in _layer_types(models[name]) if t in _ACTIVATION_LAYERS})
        if used != [expected_layer]:
            raise _Fail(f"models_activations['{name}'] uses {', '.join(used) or 'no activation'}; it should use "
                        f"nn.{expected_layer}() after each hidden layer, and no other activation")
        _check_recorded_accuracy(models[name], f"models_activations['{name}']", X_test, y_test, final,
                                 f"results_activations['{name}']['test_acc']", "X_test_spirals")
        expected = _epochs_to(test_acc, ACTIVATION_LEVEL)
        got = entry["epochs_to_90"]
        if (got is None) != (expected is None) or (got is not None and int(got) != expected):
            raise _Fail(f"results_activations['{name}']['epochs_to_90'] is {got} but its test accuracy first reaches "
                        f"{ACTIVATION_LEVEL} at epoch {expected} (count epochs from 1; None if never)")
        epochs[name] = expected
    if len(lengths) != 1:
        raise _Fail("train every activation for the same number of epochs (same network, data and seed), so the "
                    "comparison is fair")
    if max(float(results[a]["test_acc"]) for a in ACTIVATIONS) < ACTIVATION_LEVEL:
        raise _Fail(f"no activation reached {_pct(ACTIVATION_LEVEL)} test accuracy on the spirals: train longer or "
                    "use a larger learning rate")
    fastest = _fastest(v["fastest"], epochs, "fastest_activation", {"sigmoid": "sigmoid", "relu": "relu",
                                                                      "tanh": "tanh"})
    _check_axes(v["ax"], "ax_activations", min_lines=3, legend=True)
    _check_answer(v["answer"], 9)
    return (f"table, curves and the trained models are consistent; {fastest} reached {_pct(ACTIVATION_LEVEL)} first "
            f"({epochs[fastest]} epochs) (answer_9 is checked only for being there: your instructor reads it)")


@_exercise(10, f"Iris and digits with standardised features (>= {_pct(IRIS_MIN_TEST_ACC)} and "
               f"{_pct(DIGITS_MIN_TEST_ACC)})", 2)
def _eval_10(v: dict, probes: dict) -> str:
    messages = []
    for data, names, minimum in (("iris", IRIS, IRIS_MIN_TEST_ACC), ("digits", DIGITS, DIGITS_MIN_TEST_ACC)):
        part = v[data]
        scaler = part["scaler"]
        scaler_name = names[4]
        if scaler.get("mean") is None or scaler.get("scale") is None:
            raise _Fail(f"{scaler_name} should be a fitted sklearn StandardScaler; yours is a {scaler.get('type')}")
        mean = np.asarray(scaler["mean"], dtype=np.float64).reshape(-1)
        scale = np.asarray(scaler["scale"], dtype=np.float64).reshape(-1)
        ref_X, ref_y = reference_data(data)
        if mean.shape != (ref_X.shape[1],) or scale.shape != mean.shape:
            raise _Fail(f"{scaler_name} was fitted on {mean.shape[0]} features; {data} has {ref_X.shape[1]}")
        test_info = part.get(names[1])
        if isinstance(test_info, dict) and np.ndim(test_info.get("array")) == 2 and len(test_info["array"]) > 1:
            if np.abs(np.asarray(test_info["array"], dtype=np.float64).mean(axis=0)).max() < 1e-5:
                raise _Fail(f"{names[1]} has column means of exactly 0: it was scaled with statistics of the test "
                            f"split; transform it with {scaler_name}, fitted on the training split")
        X_train, X_test, _, _ = _check_split(part, names[:4], data, n_test=None, scaler=(mean, scale), tol=1e-3)
        if np.abs(X_train.astype(np.float64).mean(axis=0)).max() > 1e-3:
            raise _Fail(f"{names[0]} is not standardised by {scaler_name} (its column means are not 0): fit the "
                        "scaler on the training split only, then transform both splits with it")
        _rebuild(part["model"], names[5], {"probe": _probe_X(probes, data, (mean, scale))})
        outputs = _model_outputs(part["model"], names[5], len(probes[data]["y"]), "probe")
        n_classes = int(ref_y.max()) + 1
        if outputs.shape[1] != n_classes:
            raise _Fail(f"{names[5]} outputs {outputs.shape[1]} logits; {data} has {n_classes} classes")
        acc = _probe_accuracy(part["model"], names[5], probes, data, _test_mask(probes, data, X_test, (mean, scale)))
        if acc < minimum:
            raise _Fail(f"{data} test accuracy {acc:.3f} < {minimum}: train longer or add hidden units")
        messages.append(f"{data} test accuracy {acc:.3f} (>= {minimum})")
    return ", ".join(messages) + ", scalers fitted on the training splits"


_OPTIMIZER_ALIASES = {"sgdmomentum": "momentum", "sgdwithmomentum": "momentum", "sgdm": "momentum"}
_OPTIMIZER_SPELLING = {"sgd": "SGD", "momentum": "Momentum", "rmsprop": "RMSprop", "adam": "Adam"}


def _check_validation_split(v: dict) -> int:
    """X_val_optimizers/y_val_optimizers: rows of the digits training split, labels paired; returns its size."""
    X_train = np.asarray(v["X_train"]["array"], dtype=np.float64)
    X_test = np.asarray(v["X_test"]["array"], dtype=np.float64)
    y_train = np.asarray(v["y_train"]["array"]).reshape(-1)
    X_val = np.asarray(v["X_val"]["array"], dtype=np.float64)
    if v["X_val"].get("type") != "torch.Tensor" or X_val.ndim != 2 or X_val.shape[1:] != X_train.shape[1:]:
        raise _Fail(f"X_val_optimizers should be a (N, {X_train.shape[1]}) tensor of rows of X_train_digits; yours is "
                    f"a {v['X_val'].get('type')} of shape {X_val.shape}")
    y_val = _as_labels(v["y_val"], "y_val_optimizers", len(X_val))
    in_train, train_distance = _nearest_rows(X_val, X_train)
    _, test_distance = _nearest_rows(X_val, X_test) if len(X_test) else (None, np.full(len(X_val), np.inf))
    if len(X_val) and np.all(test_distance < 1e-6) and not np.all(train_distance < 1e-6):
        raise _Fail("X_val_optimizers is the test split: hold out 20% of X_train_digits as the validation set and "
                    "keep X_test_digits untouched")
    if not np.all(train_distance < 1e-6):
        raise _Fail("X_val_optimizers should consist of rows of X_train_digits (the validation set comes from the "
                    "training split)")
    if not 0.1 * len(X_train) <= len(X_val) <= 0.3 * len(X_train):
        raise _Fail(f"X_val_optimizers holds {len(X_val)} of the {len(X_train)} training rows: hold out 20% "
                    "(test_size=0.2)")
    if len(y_train) == len(X_train) and not np.all(y_train[in_train] == y_val):
        raise _Fail("y_val_optimizers doesn't match X_val_optimizers: index features and labels with the same indices")
    return len(X_val)


@_exercise(11, "Optimizers on digits: SGD, momentum, RMSprop, Adam", 2)
def _eval_11(v: dict, probes: dict) -> str:
    n_val = _check_validation_split(v)
    X_val = np.asarray(v["X_val"]["array"], dtype=np.float64)
    y_val = _as_labels(v["y_val"], "y_val_optimizers", len(X_val))
    results = _keyed(v["results"], OPTIMIZERS, "results_optimizers", _OPTIMIZER_ALIASES)
    histories = _keyed(v["histories"], OPTIMIZERS, "histories_optimizers", _OPTIMIZER_ALIASES)
    models = _trained_models(v["models"], OPTIMIZERS, "models_optimizers", _OPTIMIZER_ALIASES)
    epochs = {}
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
        _check_recorded_accuracy(models[name], f"models_optimizers['{_OPTIMIZER_SPELLING[name]}']", X_val, y_val,
                                 val_acc, f"results_optimizers['{_OPTIMIZER_SPELLING[name]}']['val_acc']",
                                 "X_val_optimizers")
        epochs[name] = _epochs_to(curve, OPTIMIZER_LEVEL)
    if len({len(np.ravel(histories[k])) for k in OPTIMIZERS}) != 1:
        raise _Fail("train every optimizer for the same number of epochs so the curves are comparable")
    best = max(float(results[k]["val_acc"]) for k in OPTIMIZERS)
    if best < OPTIMIZER_MIN_VAL_ACC:
        raise _Fail(f"the best validation accuracy is {best:.3f}; at least one optimizer should reach "
                    f"{OPTIMIZER_MIN_VAL_ACC} on digits: check the learning rates")
    fastest = _fastest(v["fastest"], epochs, "fastest_optimizer", _OPTIMIZER_SPELLING, _OPTIMIZER_ALIASES)
    _check_axes(v["ax"], "ax_optimizers", min_lines=4, legend=True)
    _check_answer(v["answer"], 11)
    return (f"validation set of {n_val} training rows; timings, accuracies, curves and the trained models are "
            f"consistent; {fastest} reached {_pct(OPTIMIZER_LEVEL)} first (answer_11 is checked only for being there: "
            "your instructor reads it)")


_REGULARIZER_SPELLING = {"l1": "L1", "l2": "L2", "dropout": "dropout"}


@_exercise(12, "Regularization against over-fitting", 2)
def _eval_12(v: dict, probes: dict) -> str:
    X_fit, y_fit, fit_rows = _rows_of_training_split(v, "X_fit", "y_fit", "X_train_regularization",
                                                     "y_train_regularization")
    X_val, y_val, val_rows = _rows_of_training_split(v, "X_val", "y_val", "X_val_regularization",
                                                     "y_val_regularization")
    if np.intersect1d(fit_rows, val_rows).size:
        raise _Fail("X_train_regularization and X_val_regularization share rows: validate on samples the model "
                    "isn't trained on")
    results = _keyed(v["results"], REGULARIZERS, "results_regularization")
    histories = _keyed(v["histories"], REGULARIZERS, "histories_regularization")
    models = _trained_models(v["models"], REGULARIZERS, "models_regularization")
    for name, info in models.items():
        dropout = [float(layer.get("p", 0.0)) for layer in info.get("layers") or [] if isinstance(layer, dict)
                   and layer.get("type") == "Dropout"]
        if name == "dropout" and isinstance(info.get("layers"), list) and not any(p > 0 for p in dropout):
            raise _Fail("models_regularization['dropout'] has no nn.Dropout(p) with p > 0 after its hidden layers")
        if name != "dropout" and any(p > 0 for p in dropout):
            raise _Fail(f"models_regularization['{_REGULARIZER_SPELLING.get(name, name)}'] uses dropout: only the "
                        "'dropout' variant should")
    vals = {}
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
        spelled = _REGULARIZER_SPELLING.get(name, name)
        for key, X, y, acc, what in (("train", X_fit, y_fit, train, "train"), ("val", X_val, y_val, val, "val")):
            _check_recorded_accuracy(models[name], f"models_regularization['{spelled}']", X, y, acc,
                                     f"results_regularization['{spelled}']['{what}_acc']",
                                     f"X_{what}_regularization", key, " in eval mode (dropout off)")
        vals[name] = val
    none = results["none"]
    gap_none = float(none["train_acc"]) - float(none["val_acc"])
    if float(none["train_acc"]) < OVERFIT_MIN_TRAIN_ACC or gap_none < OVERFIT_MIN_GAP:
        raise _Fail(f"without regularization the gap is only {gap_none:.3f} (train {float(none['train_acc']):.3f}); "
                    f"it should over-fit first (train >= {OVERFIT_MIN_TRAIN_ACC}, gap >= {OVERFIT_MIN_GAP}): wider "
                    "network, fewer training samples, more epochs")
    best = _norm_key(v["best"]) if isinstance(v["best"], str) else None
    if best not in _REGULARIZER_SPELLING:
        raise _Fail(f"best_regularizer should be one of 'L1', 'L2', 'dropout'; yours is {v['best']!r}"[:200])
    top = max(vals[k] for k in _REGULARIZER_SPELLING)
    # Validation accuracies within one standard error of the best can't be told apart with this many samples.
    se = math.sqrt(max(top * (1 - top), 1e-12) / REGULARIZATION_N_VAL)
    tied = [_REGULARIZER_SPELLING[k] for k in _REGULARIZER_SPELLING if vals[k] >= top - se - 1e-12]
    if _REGULARIZER_SPELLING[best] not in tied:
        raise _Fail(f"best_regularizer is '{_REGULARIZER_SPELLING[best]}' (validation accuracy {vals[best]:.3f}), but "
                    f"{' and '.join(map(repr, tied))} reached {top:.3f}, more than one standard error ({se:.3f}) "
                    "better")
    _check_answer(v["answer"], 12)
    return (f"the unregularised model over-fits (gap {gap_none:.3f}); {_REGULARIZER_SPELLING[best]} is within one "
            f"standard error ({se:.3f}) of the best validation accuracy ({top:.3f}) (answer_12 is checked only for "
            "being there: your instructor reads it)")


def _main_effects(rows: list) -> dict:
    """For each hyperparameter: max - min over its values of the mean CV accuracy of the rows with that value."""
    effects = {}
    for key in CV_KEYS:
        means = {}
        for row in rows:
            means.setdefault(repr(row[key]), []).append(float(row["mean"]))
        averages = [float(np.mean(m)) for m in means.values()]
        effects[key] = max(averages) - min(averages)
    return effects


def _check_half_fraction(rows: list) -> None:
    """The 8 rows are the half of the 2x2x2x2 grid the task gives: 2 values per factor, every pair balanced."""
    configs = {tuple(repr(row[k]) for k in CV_KEYS) for row in rows}
    levels = [sorted({c[i] for c in configs}) for i in range(len(CV_KEYS))]
    if len(rows) != 8 or len(configs) != 8 or any(len(values) != 2 for values in levels):
        raise _Fail("cv_results should hold the 8 configurations of the design in the task (each hyperparameter "
                    f"takes 2 values); yours has {len(rows)} rows, {len(configs)} distinct")
    for i in range(len(CV_KEYS)):
        for j in range(i + 1, len(CV_KEYS)):
            pairs = [(c[i], c[j]) for c in configs]
            if any(pairs.count(p) != 2 for p in set(pairs)) or len(set(pairs)) != 4:
                raise _Fail(f"your configurations don't balance {CV_KEYS[i]} against {CV_KEYS[j]}: use the 8 "
                            "configurations the task gives, so every factor's effect can be read off")


@_exercise(13, f"k-fold cross-validation of hyperparameters (>= {_pct(CV_MIN_TEST_ACC)} test accuracy)", 2)
def _eval_13(v: dict, probes: dict) -> str:
    rows = v["cv_results"]
    if not isinstance(rows, list) or len(rows) < 2:
        raise _Fail("cv_results should be a list with one dict per configuration")
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
    _check_half_fraction(rows)
    best_mean = max(float(row["mean"]) for row in rows)
    config = v["best_config"]
    if not isinstance(config, dict) or not set(CV_KEYS) <= set(config):
        raise _Fail(f"best_config should be a dict with the keys {list(CV_KEYS)}")
    matching = [row for row in rows if all(repr(row[k]) == repr(config[k]) for k in CV_KEYS)]
    if not matching or float(matching[0]["mean"]) < best_mean - 1e-12:
        raise _Fail(f"best_config should be the configuration with the highest mean CV accuracy ({best_mean:.4f})")
    effects = _main_effects(rows)
    stated = v["most_important"]
    if stated not in CV_KEYS:
        raise _Fail(f"most_important_hyperparameter should be one of {list(CV_KEYS)}; yours is {stated!r}"[:200])
    top = max(effects.values())
    if effects[stated] < top - 1e-9:
        leader = max(effects, key=effects.get)
        raise _Fail(f"most_important_hyperparameter is {stated!r}, but in your own table {leader!r} changes the mean "
                    f"CV accuracy most ({effects[leader]:.3f} between its two values; {stated!r}: "
                    f"{effects[stated]:.3f})")
    model = v["model"]
    widths, shapes = _hidden_widths(model), model.get("linear_shapes") or []
    layers, units = config["hidden_layers"], config["hidden_units"]
    if len(widths) != layers or any(w != units for w in widths):
        raise _Fail(f"model_cv has hidden layers {widths}, but best_config asks for {layers} hidden layer(s) of "
                    f"{units} units: build model_cv from best_config")
    if not shapes or shapes[-1][1] != 10:
        raise _Fail("model_cv should output 10 logits (digits 0-9)")
    part = v["digits"]
    mean = np.asarray(part["mean"], dtype=np.float64).reshape(-1)
    scale = np.asarray(part["scale"], dtype=np.float64).reshape(-1)
    X_test = np.asarray(part["X_test"], dtype=np.float64)
    _rebuild(model, "model_cv", {"probe": _probe_X(probes, "digits", (mean, scale))})
    acc = _probe_accuracy(model, "model_cv", probes, "digits", _test_mask(probes, "digits", X_test, (mean, scale)))
    if acc < CV_MIN_TEST_ACC:
        raise _Fail(f"model_cv's test accuracy is {acc:.3f} < {CV_MIN_TEST_ACC}: retrain the best configuration on all "
                    "of X_train_digits (with its batch size and learning rate) before testing it")
    _check_answer(v["answer"], 13)
    return (f"{len(rows)} configurations x {min(folds)} folds; {stated} matters most in your table; best retrained: "
            f"test accuracy {acc:.3f} (answer_13 is checked only for being there: your instructor reads it)")


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------
def extract(number: int, namespace: dict, probes: dict | None = None) -> dict:
    """The kernel side's ``extract`` (see tests/exercise_extraction.py); ``probes`` default to the check cells'."""
    return kernel.extract(number, namespace, probe_inputs(default_probes()) if probes is None else probes)


def evaluate(number: int, values: dict, probes: dict | None = None) -> Result:
    """Judge exercise ``number`` from the plain ``values`` that :func:`extract` returned.

    Pure and deterministic; all criteria live here. Malformed values give a
    FAILED result, never an exception.

    Args:
        number: exercise number, 1..13.
        values: dict from :func:`extract` (builtins and NumPy arrays only).
        probes: the :func:`make_probes` dict whose inputs went into ``extract``
            (default: the check cells' fixed probes).

    Returns:
        A :class:`Result` with full points when passed, else 0.
    """
    if not isinstance(number, int) or number not in EXERCISES:
        return Result(number, FAILED, f"there is no exercise {number!r}; exercises are numbered 1..13", 0)
    if not isinstance(values, dict):
        return Result(number, FAILED, "nothing to evaluate (the extracted values are not a dict)", 0)
    if values.get("missing"):
        names = ", ".join(map(str, values["missing"]))
        return Result(number, FAILED, f"still to fill in: {names} (they are None)", 0)
    _NOTES.clear()
    try:
        message = EXERCISES[number].evaluator(values, default_probes() if probes is None else probes)
        if _NOTES:
            message += "; note: " + "; ".join(dict.fromkeys(_NOTES))
    except _Fail as failure:
        return Result(number, FAILED, str(failure), 0)
    except Exception as error:  # malformed values: a failure to explain, never a crash
        return Result(number, FAILED, f"could not evaluate your values ({type(error).__name__}: {error})"[:400], 0)
    return Result(number, PASSED, message, EXERCISES[number].points)


def check(number: int, namespace: dict) -> Result:
    """Check exercise ``number`` in a notebook: ``check(4, globals())``.

    Prints one line (✅ passed / ❌ failed with a hint / ⏳ not attempted) and
    returns the :class:`Result`. Never raises: an exception in the student's
    objects becomes a FAILED result naming it.
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


__all__ = ["NOT_ATTEMPTED", "PASSED", "FAILED", "NotAttempted", "Exercise", "Result", "EXERCISES", "DATASETS",
           "extract", "evaluate", "check", "make_probes", "probe_inputs", "reference_data", "KERNEL_SOURCE",
           "KERNEL_PATH"]
