"""What several exercises share (tests/grading/README.md §3): data sets and probes, readers that turn the kernel's
objects into plain data, models rebuilt with torch from their weights, and the checks several exercises use.

scikit-learn and ``helper_functions`` are imported inside the functions that rebuild data sets.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_SEED = 42  # the template's SEED; used when a namespace has no integer SEED
MAX_ROWS = 100_000  # a probe or a student's array longer than this is cut (bounded results)
MIN_ANSWER_CHARS = 40
MOONS_MIN_TEST_ACC = 0.96  # exercises 4 and 5
ACTIVATION_LAYERS = ("ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "GELU", "SiLU")  # exercises 8 and 9

MOONS_SPLIT = ("X_train_moons", "X_test_moons", "y_train_moons", "y_test_moons")
SPIRALS_SPLIT = ("X_train_spirals", "X_test_spirals", "y_train_spirals", "y_test_spirals")

# A fixed grid over the moons' range, for "is this function affine?" (no labels needed).
GRID_2D = np.stack(np.meshgrid(np.linspace(-2.0, 3.0, 25), np.linspace(-1.5, 2.0, 25)), axis=-1).reshape(-1, 2)
GRID_2D = GRID_2D.astype(np.float32)  # (625, 2)


class NotAttempted(Exception):
    """The exercise's names are still the template's placeholders."""


class Fail(Exception):
    """A criterion is not met; the message is the hint shown to the student."""


@dataclass(frozen=True)
class Exercise:
    """One exercise, from its file's names (``__init__.py`` holds the registry)."""

    number: int
    title: str
    points: int
    own: tuple[str, ...]  # names its answer cells define
    borrowed: tuple[str, ...]  # names it reads from earlier exercises
    todo: str  # what the template asks for while it is not attempted
    read: Callable  # (namespace, probe inputs) -> plain values, in the kernel
    judge: Callable  # (values, probes) -> message; raises Fail

    @property
    def needs(self) -> tuple[str, ...]:
        return self.own + self.borrowed


def listed(names) -> str:
    """'a, b and c'."""
    *rest, last = names
    return f"{', '.join(rest)} and {last}" if rest else last


# ---- Data sets and probes ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSet:
    """A data-set call: ``module.function(**kwargs)``, with ``random_state=SEED`` when seeded."""

    module: str
    function: str
    kwargs: dict
    seeded: bool = True

    def call(self, seed: int | None = None, **overrides) -> tuple[np.ndarray, np.ndarray]:
        kwargs = {**self.kwargs, **overrides, **({"random_state": seed} if self.seeded else {})}
        X, y = getattr(importlib.import_module(self.module), self.function)(**kwargs)
        return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)

    @property
    def text(self) -> str:
        args = [f"{k}={v!r}" for k, v in self.kwargs.items()] + (["random_state=SEED"] if self.seeded else [])
        return f"{self.function}({', '.join(args)})"


DATASETS = {
    "moons": DataSet("sklearn.datasets", "make_moons", {"n_samples": 1000, "noise": 0.03}),
    "spirals": DataSet("helper_functions", "make_spirals", {"n_samples": 1200, "n_classes": 4, "noise": 0.2}),
    "parity": DataSet("helper_functions", "make_parity", {"n_samples": 1000, "n_bits": 3, "noise": 0.3}),
    "iris": DataSet("sklearn.datasets", "load_iris", {"return_X_y": True}, seeded=False),
    "digits": DataSet("sklearn.datasets", "load_digits", {"return_X_y": True}, seeded=False),
}


@functools.cache
def reference_data(name: str, seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The exercise's data set, re-created here: (X float64 (N, D), y int64 (N,)), read-only."""
    X, y = DATASETS[name].call(seed if DATASETS[name].seeded else None)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


PROBE_SAMPLES = 1000
DEFAULT_PROBE_SEED = 20260101  # what check cells use; the grader draws a secret one per submission


def make_probes(seed: int) -> dict:
    """Fresh inputs for judging models, with their labels (the caller keeps the labels).

    name -> {"X": (N, D) float64, "y": (N,) int64[, "index": (N,) int64]}. Generated data sets: ``PROBE_SAMPLES``
    new points of the exercise's own call, seeded from ``seed``. Iris and digits (no new samples exist): the
    whole data set, raw features, in an order drawn from ``seed``, ``index`` the reference row of each probe row.
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
    """What goes into the kernel: name -> X only (float32), never the labels."""
    return {name: np.asarray(p["X"], dtype=np.float32) for name, p in probes.items()}


@functools.cache
def default_probes() -> dict:
    return make_probes(DEFAULT_PROBE_SEED)


# ---- Read (in the kernel): objects -> plain data -------------------------------------------------------------------
def to_numpy(value) -> np.ndarray:
    """Tensor (any device), array or nested list -> NumPy array (a copy)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    return np.array(value)


def type_name(value) -> str:
    """'torch.Tensor', 'numpy.ndarray', 'list', ... for messages."""
    if isinstance(value, torch.Tensor):
        return "torch.Tensor"
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__


def array_info(value) -> dict:
    """Plain description of an array-like: its values, type name and dtype."""
    return {"array": to_numpy(value), "type": type_name(value), "dtype": str(getattr(value, "dtype", ""))}


def split_info(ns: dict, names: tuple) -> dict:
    """A split's arrays, and the notebook's integer ``SEED`` (None without one) for :func:`check_split`."""
    seed = ns.get("SEED")
    seed = int(seed) if isinstance(seed, int | np.integer) and not isinstance(seed, bool) else None
    return {**{name: array_info(ns[name]) for name in names}, "seed": seed}


def plain(value, depth: int = 0):
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
        return value.copy() if value.dtype != object else [plain(v, depth + 1) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in list(value.items())[:1000]}
    if isinstance(value, list | tuple | range):
        return [plain(v, depth + 1) for v in list(value)[:MAX_ROWS]]
    return repr(value)[:200]


def probe(probes, name: str) -> np.ndarray:
    if not isinstance(probes, dict) or name not in probes:
        raise ValueError(f"the grader sent no probe inputs for {name!r}")
    return np.asarray(probes[name], dtype=np.float64)


def scaler_stats(scaler) -> tuple:
    """A fitted StandardScaler's (mean_, scale_) as plain values (None when it has none)."""
    return plain(getattr(scaler, "mean_", None)), plain(getattr(scaler, "scale_", None))


def standardised(X, scaler) -> np.ndarray | None:
    """``X`` standardised with ``scaler=(mean, scale)``; None when the statistics don't fit ``X``."""
    X = np.asarray(X, dtype=np.float64)
    try:
        mean = np.asarray(scaler[0], dtype=np.float64).reshape(-1)
        scale = np.asarray(scaler[1], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    if mean.shape != (X.shape[1],) or scale.shape != mean.shape or not np.all(scale != 0):
        return None
    return (X - mean) / scale


def _outputs(model, X):
    """``model(X)`` in eval mode without gradients, train/eval flags restored: float64 array or a type name."""
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float32
    flags = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        with torch.inference_mode():
            out = model(torch.as_tensor(np.asarray(X)[:MAX_ROWS], dtype=dtype, device=device))
    finally:
        for module, training in flags:
            module.training = training
    if not isinstance(out, torch.Tensor):
        return type_name(out)
    return out.detach().float().cpu().numpy().astype(np.float64)


MAX_CHAIN_WEIGHT_BYTES = 6_000_000  # larger models are judged on their outputs only (results files stay small)
_CHAIN_FUNCTIONS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}  # torch.relu, F.relu, x.relu(), ...
# The layers the grader rebuilds: type -> {record key: module attribute}.
_RECORDED = {"Linear": {"weight": "weight", "bias": "bias"}, "Dropout": {"p": "p"}, "AlphaDropout": {"p": "p"},
             "LeakyReLU": {"negative_slope": "negative_slope"}, "ELU": {"alpha": "alpha"},
             "GELU": {"approximate": "approximate"}, "Softmax": {}, "LogSoftmax": {}, "Flatten": {},
             "BatchNorm1d": {"mean": "running_mean", "var": "running_var", "weight": "weight", "bias": "bias",
                             "eps": "eps"}, **dict.fromkeys(("ReLU", "Sigmoid", "Tanh", "Identity", "SiLU"), {})}


def _setting(value):
    if value is None or isinstance(value, str):
        return value
    return value.detach().cpu().numpy().copy() if isinstance(value, torch.Tensor) else float(value)


def _layer_record(module):
    """A standard layer as plain data (type, settings, weights); None when the grader doesn't rebuild it.

    Exact types only: a subclass may have its own forward().
    """
    kind = type(module).__name__
    if (module._forward_hooks or module._forward_pre_hooks or kind not in _RECORDED
            or getattr(torch.nn, kind) is not type(module)):
        return None
    if kind == "Flatten":  # on (N, D) inputs
        return {"type": "Identity"} if module.start_dim in (1, -1) else None
    if (kind in ("Softmax", "LogSoftmax") and module.dim not in (None, 1, -1)) or (
            kind == "BatchNorm1d" and module.running_mean is None):
        return None
    return {"type": kind, **{key: _setting(getattr(module, attr)) for key, attr in _RECORDED[kind].items()}}


def _sequential_leaves(model):
    for module in model:
        if type(module) is torch.nn.Sequential and not (module._forward_hooks or module._forward_pre_hooks):
            yield from _sequential_leaves(module)
        else:
            yield module


def _traced_layers(model):
    """The layers and relu/sigmoid/tanh calls ``model.forward`` applies one after the other, or why not."""
    import torch.fx as fx

    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            graph = fx.symbolic_trace(model).graph
    except Exception as error:
        return f"torch.fx could not trace its forward() ({type(error).__name__})"
    layers, previous = [], None
    for node in graph.nodes:
        if node.op == "placeholder":
            if previous is not None:
                return "its forward() takes more than one input"
            previous = node
            continue
        if node.op == "output":
            return layers if node.args == (previous,) else "its forward() returns something other than its last layer"
        tensor_args = [a for a in (*node.args, *node.kwargs.values()) if isinstance(a, fx.Node)]
        if tensor_args != [previous] or node.args[:1] != (previous,):
            return "its forward() combines results (not one layer after the other)"
        if node.op == "call_module":
            layers.append(model.get_submodule(node.target))
        elif node.op in ("call_function", "call_method"):
            name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
            if name not in _CHAIN_FUNCTIONS or (node.op == "call_function" and getattr(
                    node.target, "__module__", "") not in ("torch", "torch.nn.functional")):
                return f"its forward() calls {name or node.target!r}"
            if set(node.kwargs) - {"inplace"} or len(node.args) > 1:
                return f"its forward() calls {name} with extra arguments"
            layers.append(_CHAIN_FUNCTIONS[name])
        else:
            return f"its forward() uses {node.op}"
        previous = node
    return layers


def layer_chain(model):
    """The layers ``model`` applies one after the other, as records; or a reason why it isn't such a chain.

    An ``nn.Sequential`` (also nested) of standard layers is a chain; another module is one when ``torch.fx``
    traces its forward() to standard layers and relu/sigmoid/tanh calls, each applied to the previous result.
    """
    if type(model) is torch.nn.Sequential and not (model._forward_hooks or model._forward_pre_hooks):
        layers = list(_sequential_leaves(model))
    else:
        layers = _traced_layers(model)
        if isinstance(layers, str):
            return layers
    records = []
    for layer in layers:
        record = {"type": layer} if isinstance(layer, str) else _layer_record(layer)
        if record is None:
            return f"it uses {type(layer).__name__}, a layer the grader doesn't rebuild"
        records.append(record)
    size = sum(v.nbytes for record in records for v in record.values() if isinstance(v, np.ndarray))
    if size > MAX_CHAIN_WEIGHT_BYTES:
        return f"its weights take {size / 1e6:.0f} MB, more than the {MAX_CHAIN_WEIGHT_BYTES / 1e6:.0f} MB sent"
    return records


def model_info(model, inputs: dict) -> dict:
    """A model's structure and its outputs on each array of ``inputs`` (name -> (N, D) array)."""
    if not isinstance(model, torch.nn.Module):
        return {"is_module": False, "type": type_name(model)}
    params = list(model.parameters())
    leaves = [m for m in model.modules() if not list(m.children())]
    info = {
        "is_module": True,
        "leaves": [type(m).__name__ for m in leaves],
        "linear_shapes": [[int(m.in_features), int(m.out_features)] for m in leaves if isinstance(m, torch.nn.Linear)],
        "n_params": int(sum(p.numel() for p in params)),
        "param_ids": sorted(id(p) for p in params),
        "outputs": {},
    }
    chain = layer_chain(model)
    info["layers" if isinstance(chain, list) else "not_rebuilt"] = chain
    for key, X in inputs.items():
        if X is None:
            continue
        try:
            out = _outputs(model, X)
        except Exception as error:  # said in terms of the student's data, not of the check's own batch
            features, first = np.shape(X)[1], (info["linear_shapes"] or [[None]])[0][0]
            hint = (f": its first nn.Linear takes {first} input(s); make it nn.Linear({features}, ...)"
                    if first is not None and first != features else "")
            raise ValueError(f"the model fails on a batch of points with {features} features each, like this "
                             f"exercise's data ({type(error).__name__}: {str(error)[:200]}){hint}") from None
        if isinstance(out, str):
            info["outputs_type"], info["outputs"] = out, {}
            break
        info["outputs"][key] = out
    return info


def each(value, read: Callable, *args, limit: int = 10) -> dict:
    """A dict (one entry per run of a comparison) -> key -> ``read(entry, *args)``; anything else -> its type name."""
    if not isinstance(value, dict):
        return {"not_a_dict": type_name(value)}
    return {str(key): read(entry, *args) for key, entry in list(value.items())[:limit]}


def axes_info(ax) -> dict:
    """A few facts about a matplotlib Axes (or an array of them): lines, collections, labels."""
    axes = list(np.ravel(ax)) if isinstance(ax, np.ndarray | list | tuple) else [ax]
    if not axes or not all(hasattr(a, "get_lines") and hasattr(a, "collections") for a in axes):
        return {"is_axes": False, "type": type_name(ax)}
    return {
        "is_axes": True,
        "n_lines": sum(len(a.get_lines()) for a in axes),
        "n_collections": sum(len(a.collections) for a in axes),
        "has_legend": any(a.get_legend() is not None for a in axes),
        "xlabel": " ".join(a.get_xlabel() for a in axes).strip(),
        "ylabel": " ".join(a.get_ylabel() for a in axes).strip(),
    }


# ---- Judge (in the grader's evaluation process): models rebuilt with torch -----------------------------------------
NOTES: list[str] = []  # notes of the judgement in progress (see __init__.judge)
REBUILD_RTOL = REBUILD_ATOL = 1e-3  # float32 in the kernel (CPU or CUDA) against float64 here
_REBUILT = {  # type -> the layer, in eval mode, from its record (settings coerced: they come from the kernel)
    **{kind: (lambda r, kind=kind: getattr(torch.nn, kind)())
       for kind in ("ReLU", "Sigmoid", "Tanh", "SiLU", "Identity")},
    "Dropout": lambda r: torch.nn.Identity(), "AlphaDropout": lambda r: torch.nn.Identity(),
    "LeakyReLU": lambda r: torch.nn.LeakyReLU(float(r["negative_slope"])),
    "ELU": lambda r: torch.nn.ELU(float(r["alpha"])),
    "GELU": lambda r: torch.nn.GELU(approximate="tanh" if r.get("approximate") == "tanh" else "none"),
    "Softmax": lambda r: torch.nn.Softmax(dim=1), "LogSoftmax": lambda r: torch.nn.LogSoftmax(dim=1),
}


def _tensor(value) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


def torch_model(layers: list) -> torch.nn.Sequential:
    """The chain of layer records (see :func:`layer_chain`) as a float64 ``nn.Sequential`` in eval mode."""
    nn, modules = torch.nn, []
    for record in layers:
        kind = record.get("type") if isinstance(record, dict) else None
        if kind in _REBUILT:
            layer = _REBUILT[kind](record)
        elif kind == "Linear":
            weight = _tensor(record["weight"])
            bias = None if record.get("bias") is None else _tensor(record["bias"]).reshape(-1)
            if weight.ndim != 2 or (bias is not None and bias.shape != weight.shape[:1]):
                raise Fail(f"a Linear layer sent with weight shape {tuple(weight.shape)} isn't one")
            layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
            layer.weight = nn.Parameter(weight, requires_grad=False)
            if bias is not None:
                layer.bias = nn.Parameter(bias, requires_grad=False)
        elif kind == "BatchNorm1d":
            mean, var = _tensor(record["mean"]).reshape(-1), _tensor(record["var"]).reshape(-1)
            affine = record.get("weight") is not None
            layer = nn.BatchNorm1d(len(mean), eps=float(record["eps"]), affine=affine, dtype=torch.float64)
            layer.running_mean, layer.running_var = mean, var
            if affine:
                layer.weight = nn.Parameter(_tensor(record["weight"]).reshape(-1), requires_grad=False)
                layer.bias = nn.Parameter(_tensor(record["bias"]).reshape(-1), requires_grad=False)
        else:
            raise Fail(f"the grader can't rebuild a layer of type {kind!r}")
        modules.append(layer)
    return nn.Sequential(*modules).eval()


def chain_outputs(layers: list, X: np.ndarray) -> np.ndarray:
    """Outputs (N, C) float64 of the rebuilt chain on X (N, D): the student's forward() plays no part."""
    X = np.asarray(X, dtype=np.float64)
    first = next((r for r in layers if isinstance(r, dict) and r.get("type") == "Linear"), None)
    if first is not None and np.asarray(first["weight"]).dtype == np.float32:
        X = X.astype(np.float32).astype(np.float64)  # the kernel feeds float32 inputs to a float32 model
    try:
        with torch.no_grad():
            out = torch_model(layers)(torch.as_tensor(X)).numpy()
    except RuntimeError as error:
        raise Fail(f"the layers sent can't be applied to inputs of shape {X.shape} ({str(error)[:120]})") from None
    return out if out.ndim == 2 else out.reshape(len(out), -1)


def rebuild(info, name: str, inputs: dict) -> None:
    """Replace a model's outputs by those its layers compute here on ``inputs`` (key -> (N, D) array: inputs the kernel
    ran it on under that key, whose outputs must agree, or new ones). A model that isn't a chain of standard layers
    keeps the outputs its own forward() computed, and the outcome says so."""
    if not isinstance(info, dict) or not info.get("is_module"):
        return
    layers = info.get("layers")
    if not isinstance(layers, list):
        why = info.get("not_rebuilt") or "it isn't a chain of standard layers"
        NOTES.append(f"{name} was judged on the outputs of its own forward(), not rebuilt from its weights "
                     f"({str(why)[:120]})")
        return
    theirs = info.get("outputs") if isinstance(info.get("outputs"), dict) else {}
    rebuilt = {}
    for key, X in inputs.items():
        if X is None:
            continue
        out = chain_outputs(layers, X)
        if key in theirs:
            sent = np.asarray(theirs[key], dtype=np.float64)
            sent = sent[:, None] if sent.ndim == 1 else sent
            if sent.shape != out.shape or not np.allclose(sent, out, rtol=REBUILD_RTOL, atol=REBUILD_ATOL,
                                                          equal_nan=True):
                raise Fail(f"{name}'s outputs in your kernel differ from what its layers compute from their weights "
                           "(rebuilt by the grader): don't change how the model computes after building it")
        elif theirs == {} and info.get("outputs_type"):
            continue  # its forward() didn't return a tensor: model_outputs explains that
        rebuilt[key] = out
    if rebuilt:
        info["outputs"] = {**theirs, **rebuilt}
        info["rebuilt"] = True


def probe_X(probes: dict, data: str, scaler=None):
    """The probe inputs of ``data`` as the kernel received them (float32), standardised with ``scaler``: None
    when the scaler doesn't fit (the kernel side then sent no outputs either)."""
    X = np.asarray(probes[data]["X"], dtype=np.float32).astype(np.float64)
    return X if scaler is None else standardised(X, scaler)


def model_outputs(info: dict, name: str, n_rows: int, key: str) -> np.ndarray:
    """Validated (n_rows, k) outputs of a model on the inputs called ``key`` in its reading."""
    if not isinstance(info, dict) or not info.get("is_module"):
        kind = info.get("type") if isinstance(info, dict) else "?"
        raise Fail(f"{name} should be a torch.nn.Module; yours is a {kind}")
    outputs = info.get("outputs")
    if not isinstance(outputs, dict) or key not in outputs:
        raise Fail(f"{name}(X) should return a tensor of logits; yours returns a {info.get('outputs_type')}")
    raw = outputs[key]
    outputs = np.asarray(raw, dtype=np.float64)
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.ndim != 2 or outputs.shape[0] != n_rows:
        raise Fail(f"{name} should return one row of logits per input, shape ({n_rows}, C); yours gives "
                   f"{np.shape(raw)}")
    if not np.all(np.isfinite(outputs)):
        raise Fail(f"{name} outputs NaN or inf: lower the learning rate and retrain")
    return outputs


def is_affine(outputs: np.ndarray, X: np.ndarray) -> bool:
    """True when ``outputs`` is (numerically) an affine function of the inputs ``X``: a linear model."""
    design = np.column_stack([X.astype(np.float64), np.ones(len(X))])
    spread = np.linalg.norm(outputs - outputs.mean(axis=0))
    residual = outputs - design @ np.linalg.lstsq(design, outputs, rcond=None)[0]
    return bool(spread == 0 or np.linalg.norm(residual) < 1e-4 * spread)


def labels_from_outputs(outputs: np.ndarray, info: dict) -> np.ndarray:
    """Class labels from (N, 1) or (N, C) outputs; a final Sigmoid/Softmax means probabilities."""
    ends_in_probs = bool(info.get("leaves")) and info["leaves"][-1] in ("Sigmoid", "Softmax")
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > (0.5 if ends_in_probs else 0.0)).astype(np.int64)
    return outputs.argmax(axis=1).astype(np.int64)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else 0.0


def probe_accuracy(model: dict, name: str, probes: dict, data: str, mask=None) -> float:
    """Accuracy of a model's outputs on the probes of ``data`` (optionally only the rows in ``mask``)."""
    y = np.asarray(probes[data]["y"])
    labels = labels_from_outputs(model_outputs(model, name, len(y), "probe"), model)
    if mask is not None:
        y, labels = y[mask], labels[mask]
    return accuracy(y, labels)


def nearest_rows(X: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest reference row for each row of X and the max-abs distance to it."""
    sq = (X**2).sum(1)[:, None] + (ref**2).sum(1)[None, :] - 2.0 * X @ ref.T  # (n, N)
    nearest = sq.argmin(axis=1)
    return nearest, np.abs(X - ref[nearest]).max(axis=1) if len(X) else np.zeros(0)


def test_mask(probes: dict, data: str, X_test: np.ndarray, scaler) -> np.ndarray:
    """Probe rows (Iris, digits) that are rows of the student's test split (undoing their scaler)."""
    ref_X, _ = reference_data(data)
    nearest, _ = nearest_rows(X_test.astype(np.float64) * scaler[1] + scaler[0], ref_X)
    group, _ = nearest_rows(ref_X, ref_X)  # identical rows count as one
    return np.isin(group[np.asarray(probes[data]["index"])], group[nearest])


def as_labels(info: dict, name: str, n_rows: int) -> np.ndarray:
    """Validate a label array (int, or float holding whole numbers) of length n_rows."""
    y = np.asarray(info["array"])
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n_rows,):
        raise Fail(f"{name} should have shape ({n_rows},); yours has {tuple(np.shape(info['array']))}")
    if y.dtype.kind not in "iufb" or (y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y)))):
        raise Fail(f"{name} should hold class labels (whole numbers); yours has dtype {info.get('dtype')}")
    return y.astype(np.int64)


def check_split(values: dict, names: tuple[str, ...], data: str, n_test: int | None, *, scaler=None,
                tol: float = 1e-4) -> tuple[np.ndarray, ...]:
    """Verify a train/test split of a reference data set; return (X_train, X_test, y_train, y_test) as given.

    The data set is rebuilt with the student's ``SEED`` (``values["seed"]``, see :func:`split_info`); with
    ``scaler=(mean, scale)`` the features are un-standardised before they are compared with it.
    """
    seed = values.get("seed")
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else DEFAULT_SEED
    ref_X, ref_y = reference_data(data, seed)
    n_total, n_features = ref_X.shape
    arrays = {}
    for name in names:
        info = values.get(name)
        if not isinstance(info, dict) or "array" not in info:
            raise Fail(f"{name} is missing")
        if info.get("type") != "torch.Tensor":
            raise Fail(f"{name} should be a torch tensor; yours is a {info.get('type')} (use torch.from_numpy or "
                       "torch.tensor)")
        arrays[name] = np.asarray(info["array"])
    X_train_name, X_test_name, y_train_name, y_test_name = names
    X_train, X_test = arrays[X_train_name], arrays[X_test_name]
    for name, X in ((X_train_name, X_train), (X_test_name, X_test)):
        if X.ndim != 2 or X.shape[1] != n_features:
            raise Fail(f"{name} should have shape (N, {n_features}); yours has {X.shape}")
        if values[name].get("dtype") != "torch.float32":
            raise Fail(f"{name} should be float32 (nn.Linear's weights are float32); yours is "
                       f"{values[name].get('dtype')}: use .float() or dtype=torch.float32")
    if n_test is not None and (len(X_train), len(X_test)) != (n_total - n_test, n_test):
        raise Fail(f"{X_train_name} should have shape ({n_total - n_test}, {n_features}) and {X_test_name} "
                   f"({n_test}, {n_features}); yours have {X_train.shape} and {X_test.shape}")
    if len(X_train) + len(X_test) != n_total:
        raise Fail(f"train and test together should hold all {n_total} samples of {DATASETS[data].text}; yours "
                   f"hold {len(X_train)} + {len(X_test)}")
    if not 0.1 * n_total <= len(X_test) <= 0.5 * n_total:
        raise Fail(f"the test split holds {len(X_test)} of {n_total} samples: use test_size=0.2")
    y_train = as_labels(values[y_train_name], y_train_name, len(X_train))
    y_test = as_labels(values[y_test_name], y_test_name, len(X_test))

    X_all = np.concatenate([X_train, X_test]).astype(np.float64)
    if scaler is not None:
        X_all = X_all * scaler[1] + scaler[0]
    y_all = np.concatenate([y_train, y_test])
    nearest, distance = nearest_rows(X_all, ref_X)
    if not np.all(distance < tol):
        bad = int(np.argmax(distance >= tol))
        where = f"{X_train_name}[{bad}]" if bad < len(X_train) else f"{X_test_name}[{bad - len(X_train)}]"
        hint = "(after undoing the scaler) " if scaler is not None else ""
        seed_text = f"SEED = {seed}" if DATASETS[data].seeded else "no seed"
        raise Fail(f"{where} {hint}is not a point of {DATASETS[data].text}: use exactly that call ({seed_text}) "
                   "and don't change the features")
    # Each reference sample used exactly once (rows that coincide are interchangeable).
    group, _ = nearest_rows(ref_X, ref_X)  # identical rows map to the same (first nearest) index
    if not np.array_equal(np.sort(group[nearest]), np.sort(group)):
        raise Fail(f"some samples appear twice (or in both {X_train_name} and {X_test_name}) and others not at all: "
                   "split once with train_test_split")
    label_ok = ref_y[nearest] == y_all
    if not np.all(label_ok):
        duplicates = {g: set(ref_y[group == g]) for g in np.unique(group[nearest][~label_ok])}
        label_ok[~label_ok] = [y_all[i] in duplicates[group[nearest[i]]] for i in np.flatnonzero(~label_ok)]
    if not np.all(label_ok):
        bad = int(np.argmax(~label_ok))
        name = y_train_name if bad < len(X_train) else y_test_name
        raise Fail(f"{name} doesn't match the features: labels must stay paired with their points (split X and y "
                   "in the same train_test_split call)")
    return X_train, X_test, y_train, y_test


def rows_of(v: dict, X_key: str, y_key: str, X_name: str, y_name: str, *, share: tuple | None = None,
            why: str = "index it with the row numbers you chose") -> tuple:
    """A subset of the digits training split (X_train_digits rows, labels paired): (X, y, row indices).

    ``share=(low, high)``: a validation set held out from the training split (20%), which must hold that share of
    its rows (an empty one too) and is told so when it is the test split ``v["X_test"]`` instead."""
    X_train = np.asarray(v["X_train"]["array"], dtype=np.float64)
    X_test = np.asarray(v["X_test"]["array"], dtype=np.float64) if share else None
    y_train = np.asarray(v["y_train"]["array"]).reshape(-1)
    X = np.asarray(v[X_key]["array"], dtype=np.float64)
    if (v[X_key].get("type") != "torch.Tensor" or X.ndim != 2 or X.shape[1:] != X_train.shape[1:]
            or not (len(X) or share)):
        raise Fail(f"{X_name} should be a (N, {X_train.shape[1]}) tensor of rows of X_train_digits; yours is a "
                   f"{v[X_key].get('type')} of shape {X.shape}")
    y = as_labels(v[y_key], y_name, len(X))
    rows, distance = nearest_rows(X, X_train)
    if share:
        _, test_distance = nearest_rows(X, X_test) if len(X_test) else (None, np.full(len(X), np.inf))
        if len(X) and np.all(test_distance < 1e-6) and not np.all(distance < 1e-6):
            raise Fail(f"{X_name} is the test split: hold out 20% of X_train_digits as the validation set and keep "
                       "X_test_digits untouched")
    if not np.all(distance < 1e-6):
        raise Fail(f"{X_name} should consist of rows of X_train_digits ({why})")
    if share and not share[0] * len(X_train) <= len(X) <= share[1] * len(X_train):
        raise Fail(f"{X_name} holds {len(X)} of the {len(X_train)} training rows: hold out 20% (test_size=0.2)")
    if len(y_train) == len(X_train) and not np.all(y_train[rows] == y):
        raise Fail(f"{y_name} doesn't match {X_name}: index features and labels with the same indices")
    return X, y, rows


# ---- plots, answers, tables -------------------------------------------------
def check_axes(info, name: str, *, min_lines: int = 0, min_collections: int = 0, legend: bool = False) -> None:
    if not isinstance(info, dict) or not info.get("is_axes"):
        kind = info.get("type") if isinstance(info, dict) else "?"
        raise Fail(f"{name} should be the matplotlib Axes your plot was drawn on; yours is a {kind}")
    if info["n_collections"] < min_collections:
        raise Fail(f"{name} has nothing filled in: draw it with plot_decision_boundary(model, X, y) and keep the "
                   "Axes it returns")
    if info["n_lines"] < min_lines:
        raise Fail(f"{name} shows {info['n_lines']} curves; it should show at least {min_lines} (one per variant)")
    if legend and not info["has_legend"]:
        raise Fail(f"{name} has no legend: call ax.legend() so readers can tell the curves apart")
    if min_lines and not (info["xlabel"] and info["ylabel"]):
        raise Fail(f"{name} needs axis labels: ax.set_xlabel('epoch') and ax.set_ylabel(...)")


def check_answer(answer, n: int) -> str:
    """Fail while ``answer_n`` is empty; else the note that ends the pass message."""
    if not isinstance(answer, str) or "TODO" in answer or len(answer.strip()) < MIN_ANSWER_CHARS:
        raise Fail(f"your results look right, but answer_{n} is still empty: write a few sentences that cite the "
                   "numbers your cells printed")
    return f"(answer_{n} is checked only for being there: your instructor reads it)"


def norm_key(key) -> str:
    """'SGD + Momentum' -> 'sgdmomentum'; used to accept reasonable spellings of the required keys."""
    return "".join(ch for ch in str(key).lower() if ch.isalnum())


def keyed(mapping, required: tuple[str, ...], name: str, aliases: dict[str, str] | None = None) -> dict:
    """Map a dict with loosely spelled keys onto the required keys (fail with a hint otherwise)."""
    if not isinstance(mapping, dict):
        raise Fail(f"{name} should be a dict with keys {list(required)}; yours is a {type(mapping).__name__}")
    aliases = aliases or {}
    out = {aliases.get(norm_key(key), norm_key(key)): value for key, value in mapping.items()}
    absent = [k for k in required if k not in out]
    if absent:
        raise Fail(f"{name} should have the keys {list(required)}; missing {absent} (yours: {list(mapping)})")
    return {k: out[k] for k in required}


def curve(value, name: str) -> np.ndarray:
    """A per-epoch curve: a list/array of finite floats, at least 2 long."""
    try:
        values = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise Fail(f"{name} should be a list of per-epoch numbers") from None
    if values.size < 2 or not np.all(np.isfinite(values)):
        raise Fail(f"{name} should be a list of at least 2 finite per-epoch numbers; yours has {values.size}")
    return values


def fraction(value, name: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise Fail(f"{name} should be a number between 0 and 1; yours is {value!r}"[:200]) from None
    if not 0.0 <= x <= 1.0:
        raise Fail(f"{name} should be an accuracy between 0 and 1; yours is {x:.4g} (divide by the number of samples)")
    return x


def epochs_to(values: np.ndarray, level: float):
    reached = np.flatnonzero(np.asarray(values) >= level)
    return int(reached[0]) + 1 if reached.size else None


def fastest(stated, epochs: dict, name: str, spelled: dict, aliases: dict | None = None) -> str:
    """Check a stated 'fastest' key against the student's own epochs-to-level table; return its spelling."""
    reached = {k: e for k, e in epochs.items() if e is not None}
    if not reached:
        raise Fail(f"no variant reached the level in your table, so {name} can't be decided: train longer")
    key = norm_key(stated) if isinstance(stated, str) else None
    key = (aliases or {}).get(key, key)
    if key not in spelled:
        raise Fail(f"{name} should be one of {list(spelled.values())}; yours is {stated!r}"[:200])
    best = min(reached.values())
    if epochs.get(key) != best:
        winners = [spelled[k] for k, e in reached.items() if e == best]
        raise Fail(f"{name} is {spelled[key]!r}, but in your own table {' and '.join(map(repr, winners))} got there "
                   f"first ({best} epochs; {spelled[key]!r}: {epochs.get(key)})")
    return spelled[key]


def layer_types(info: dict) -> list[str]:
    """The layer types a model applies: from its rebuilt chain, else its module leaves."""
    layers = info.get("layers")
    if isinstance(layers, list):
        return [str(layer.get("type")) for layer in layers if isinstance(layer, dict)]
    return [str(leaf) for leaf in info.get("leaves") or []]


def trained_models(value, keys: tuple[str, ...], name: str, aliases: dict | None = None) -> dict:
    """The dict of trained models of a comparison: one nn.Module per key, distinct models of one architecture."""
    if isinstance(value, dict) and "not_a_dict" in value:
        raise Fail(f"{name} should be a dict of the trained models, one per run; yours is a {value['not_a_dict']}")
    models = keyed(value, keys, name, aliases)
    for key, info in models.items():
        if not isinstance(info, dict) or not info.get("is_module"):
            kind = info.get("type") if isinstance(info, dict) else "?"
            raise Fail(f"{name}['{key}'] should be the trained nn.Module of that run; yours is a {kind}")
    shapes = {key: info.get("linear_shapes") for key, info in models.items()}
    if len({repr(s) for s in shapes.values()}) != 1:
        listed = ", ".join(f"{k}: {s}" for k, s in shapes.items())
        raise Fail(f"the models in {name} have different layers ({listed}): "
                   "train the same network every time, so that only one thing changes")
    seen: dict[int, str] = {}
    for key, info in models.items():
        shared = [seen[i] for i in info.get("param_ids") or [] if i in seen]
        if shared:
            raise Fail(f"{name}['{key}'] and {name}['{shared[0]}'] are the same model (they share parameters): build "
                       "a new model for every run")
        seen.update({i: key for i in info.get("param_ids") or []})
    return models


def check_recorded_accuracy(info: dict, name: str, X: np.ndarray, y: np.ndarray, recorded: float,
                            recorded_name: str, data_name: str, key: str = "eval", how: str = "") -> float:
    """A reported final accuracy must be the trained model's accuracy on that data (one sample of slack);
    ``key``: the name under which the kernel side evaluated the model on X."""
    rebuild(info, name, {key: X})
    acc = accuracy(y, labels_from_outputs(model_outputs(info, name, len(y), key), info))
    if abs(acc - recorded) > 1.0 / max(len(y), 1) + 1e-9:
        raise Fail(f"{recorded_name} is {recorded:.4f}, but {name} classifies {acc:.4f} of {data_name} correctly"
                   f"{how}: report the accuracy of the model you trained, and keep that model")
    return acc


def warm_up() -> None:
    """Run every layer type once, so that nothing torch loads lazily is loaded after the evaluator forks."""
    nn = torch.nn
    modules = [nn.Linear(2, 2), nn.BatchNorm1d(2), nn.GELU("tanh"), nn.Dropout(), nn.AlphaDropout(),
               nn.LeakyReLU(), nn.ELU(), nn.GELU(), nn.Softmax(1), nn.LogSoftmax(1), nn.Flatten(), nn.ReLU(),
               nn.Sigmoid(), nn.Tanh(), nn.SiLU(), nn.Identity()]
    chain_outputs([_layer_record(module) for module in modules], np.zeros((3, 2)))
    is_affine(np.zeros((3, 1)), np.zeros((3, 2)))
