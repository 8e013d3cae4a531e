"""Kernel side of the exercise criteria: read a student's namespace, return plain values.

This module runs **inside the student's kernel** (the check cells and the
grader both run it there). It is self-contained on purpose: it imports only the
standard library, NumPy and torch, and none of ``tests.*`` or
``helper_functions``, so the grader can send its source text into a kernel and
execute it in a fresh dict.

One record per exercise, :data:`SPECS`: the names its own answer cells define
(``own``), the names it reads from earlier exercises (``borrowed``), what the
template asks for while it is not attempted (``todo``) and the function that
turns those names into plain values (registered beside it with
:func:`_spec`). The criteria themselves (thresholds, hints, points) live in
``tests/exercise_checks.py``, which runs in the grader's process.

Interface (what the grader relies on):

``extract(number, namespace, probes) -> dict`` of plain data (bool, int,
float, str, None, lists/dicts of those and NumPy arrays). ``probes`` maps a
data-set name (``"moons"``, ``"spirals"``, ``"xor"``, ``"iris"``,
``"digits"``) to a NumPy ``(N, D)`` array of fresh inputs; a model is
described by :func:`model_info` (its layers and weights when it is a chain
of standard layers, see :func:`layer_chain`) and evaluated on the probes of
its data set (Iris and digits probes are raw features: the student's scaler
statistics are applied here, in NumPy). Raises
:class:`NotAttempted` while all of an exercise's own names are placeholders
or a borrowed name is.
"""

import numpy as np
import torch

MAX_ROWS = 100_000  # a probe or a student's array longer than this is cut (bounded results)

# A fixed grid over the moons' range, for "is this function affine?" (no labels needed).
GRID_2D = np.stack(
    np.meshgrid(np.linspace(-2.0, 3.0, 25), np.linspace(-1.5, 2.0, 25)), axis=-1
).reshape(-1, 2).astype(np.float32)  # (625, 2)

# Exercise 6: log-softmax inputs, extreme on purpose (exp(1000) overflows even in float64).
LOG_SOFTMAX_INPUTS = {
    "extreme32": np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1001.0, -1002.0], [88.0, 89.0, 90.0],
                           [0.0, 0.0, 0.0], [-5.0, 3.0, 1.0], [1e4, 1e4, -1e4]], dtype=np.float32),
    "wide32": np.linspace(-500.0, 500.0, 4 * 10, dtype=np.float32).reshape(4, 10),
    "normal64": np.random.default_rng(0).normal(0.0, 3.0, size=(50, 7)),
}
LOG_SOFTMAX_BUILTINS = (
    ("torch", "logsumexp"), ("torch", "log_softmax"), ("torch", "softmax"),
    ("torch.Tensor", "logsumexp"), ("torch.Tensor", "log_softmax"), ("torch.Tensor", "softmax"),
    ("torch.nn.functional", "log_softmax"), ("torch.nn.functional", "softmax"),
    ("torch.special", "logsumexp"), ("torch.special", "log_softmax"), ("torch.special", "softmax"),
)


class NotAttempted(Exception):
    """Raised by :func:`extract` when an exercise's names are still missing or placeholders."""


SPECS: dict = {}


def _spec(number: int, own: tuple, borrowed: tuple = (), todo: str = ""):
    """Register the extraction of exercise ``number`` with its names and to-do hint."""

    def register(function):
        SPECS[number] = {"own": tuple(own), "borrowed": tuple(b for b in borrowed if b not in own),
                         "todo": todo, "extract": function}
        return function

    return register


# --------------------------------------------------------------------------
# Turning objects into plain values
# --------------------------------------------------------------------------
def is_placeholder(value) -> bool:
    """True for the template's placeholders: None, Ellipsis or a string holding 'TODO'."""
    if value is None or value is Ellipsis:
        return True
    return isinstance(value, str) and "TODO" in value


def _to_numpy(value) -> np.ndarray:
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
    return {"array": _to_numpy(value), "type": type_name(value), "dtype": str(getattr(value, "dtype", ""))}


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


# --------------------------------------------------------------------------
# A model as a chain of standard layers, for the grader to rebuild from its weights
# --------------------------------------------------------------------------
MAX_CHAIN_WEIGHT_BYTES = 6_000_000  # larger models are judged on their outputs only (results files stay small)
_PARAMETER_FREE = {"ReLU", "Sigmoid", "Tanh", "Identity", "SiLU", "Dropout", "AlphaDropout"}
_CHAIN_FUNCTIONS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}  # torch.relu, F.relu, x.relu(), ...


def _weights(tensor):
    return None if tensor is None else tensor.detach().cpu().numpy().copy()


def _layer_record(module):
    """A standard layer as plain data (type, settings, weights), or None when it isn't one the grader knows.

    Exact types only: a subclass may have its own forward().
    """
    nn = torch.nn
    kind = type(module)
    if module._forward_hooks or module._forward_pre_hooks:
        return None
    if kind is nn.Linear:
        return {"type": "Linear", "weight": _weights(module.weight), "bias": _weights(module.bias)}
    if kind.__module__.startswith("torch.nn.modules") and kind.__name__ in _PARAMETER_FREE:
        return {"type": kind.__name__, **({"p": float(module.p)} if hasattr(module, "p") else {})}
    if kind is nn.LeakyReLU:
        return {"type": "LeakyReLU", "negative_slope": float(module.negative_slope)}
    if kind is nn.ELU:
        return {"type": "ELU", "alpha": float(module.alpha)}
    if kind is nn.GELU:
        return {"type": "GELU", "approximate": str(module.approximate)}
    if kind in (nn.Softmax, nn.LogSoftmax) and module.dim in (None, 1, -1):
        return {"type": kind.__name__}
    if kind is nn.Flatten and module.start_dim in (1, -1):
        return {"type": "Identity"}  # on (N, D) inputs
    if kind is nn.BatchNorm1d and module.running_mean is not None:
        return {"type": "BatchNorm1d", "mean": _weights(module.running_mean), "var": _weights(module.running_var),
                "weight": _weights(module.weight), "bias": _weights(module.bias), "eps": float(module.eps)}
    return None


def _sequential_leaves(model):
    for module in model:
        if type(module) is torch.nn.Sequential and not (module._forward_hooks or module._forward_pre_hooks):
            yield from _sequential_leaves(module)
        else:
            yield module


def layer_chain(model):
    """The layers ``model`` applies one after the other, as records; or a reason why it isn't such a chain.

    An ``nn.Sequential`` (also nested) of standard layers is a chain; another
    module is one when ``torch.fx`` traces its forward() to standard layers
    and relu/sigmoid/tanh calls, each applied to the previous result.
    """
    if type(model) is torch.nn.Sequential and not (model._forward_hooks or model._forward_pre_hooks):
        layers = list(_sequential_leaves(model))
    else:
        import contextlib
        import io

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
                if node.args != (previous,):
                    return "its forward() returns something other than its last layer's output"
                break
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
    records = []
    for layer in layers:
        record = {"type": layer} if isinstance(layer, str) else _layer_record(layer)
        if record is None:
            return f"it uses {type(layer).__name__}, a layer the grader doesn't rebuild"
        records.append(record)
    size = sum(v.nbytes for record in records for v in record.values() if isinstance(v, np.ndarray))
    if size > MAX_CHAIN_WEIGHT_BYTES:
        limit = MAX_CHAIN_WEIGHT_BYTES / 1e6
        return f"its weights take {size / 1e6:.0f} MB, more than the {limit:.0f} MB sent to the grader"
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
        "linear_shapes": [[int(m.in_features), int(m.out_features)] for m in leaves
                          if isinstance(m, torch.nn.Linear)],
        "n_params": int(sum(p.numel() for p in params)),
        "param_ids": sorted(id(p) for p in params),
        "outputs": {},
    }
    chain = layer_chain(model)
    info["layers" if isinstance(chain, list) else "not_rebuilt"] = chain
    for key, X in inputs.items():
        if X is None:
            continue
        out = _outputs(model, X)
        if isinstance(out, str):
            info["outputs_type"] = out
            info["outputs"] = {}
            break
        info["outputs"][key] = out
    return info


def axes_info(ax) -> dict:
    """A few facts about a matplotlib Axes (or an array of them): lines, collections, labels."""
    axes = list(np.ravel(ax)) if isinstance(ax, np.ndarray | list | tuple) else [ax]
    if not axes or not all(hasattr(a, "get_lines") and hasattr(a, "collections") for a in axes):
        return {"is_axes": False, "type": type_name(ax)}
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


def _probe(probes, name: str) -> np.ndarray:
    if not isinstance(probes, dict) or name not in probes:
        raise ValueError(f"the grader sent no probe inputs for {name!r}")
    return np.asarray(probes[name], dtype=np.float64)


def _scaled_probe(probes, name: str, scaler):
    """Raw probe features standardised with the student's fitted scaler statistics (None without them)."""
    mean, scale = getattr(scaler, "mean_", None), getattr(scaler, "scale_", None)
    X = _probe(probes, name)
    try:
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    if mean.shape != (X.shape[1],) or scale.shape != mean.shape or not np.all(scale != 0):
        return None
    return (X - mean) / scale


def _models(value, inputs: dict) -> dict:
    """A dict of models (one per run of a comparison) -> key -> model_info; anything else -> its type name."""
    if not isinstance(value, dict):
        return {"not_a_dict": type_name(value)}
    return {str(key): model_info(model, inputs) for key, model in list(value.items())[:10]}


def _split(ns: dict, names: tuple) -> dict:
    return {name: array_info(ns[name]) for name in names}


def _seed(ns: dict):
    seed = ns.get("SEED")
    return int(seed) if isinstance(seed, int | np.integer) and not isinstance(seed, bool) else None


def _optimizer_info(optimizer) -> dict:
    info = {"optimizer_type": type(optimizer).__name__,
            "is_optimizer": isinstance(optimizer, torch.optim.Optimizer)}
    if info["is_optimizer"]:
        info["optimizer_param_ids"] = sorted(id(p) for g in optimizer.param_groups for p in g["params"])
        info["lr"] = float(optimizer.param_groups[0].get("lr", float("nan")))
    return info


# --------------------------------------------------------------------------
# The 13 exercises
# --------------------------------------------------------------------------
MOONS_SPLIT = ("X_train_moons", "X_test_moons", "y_train_moons", "y_test_moons")
SPIRALS_SPLIT = ("X_train_spirals", "X_test_spirals", "y_train_spirals", "y_test_spirals")
XOR_SPLIT = ("X_train_xor", "X_test_xor", "y_train_xor", "y_test_xor")
IRIS = ("X_train_iris", "X_test_iris", "y_train_iris", "y_test_iris", "scaler_iris", "model_iris")
DIGITS = ("X_train_digits", "X_test_digits", "y_train_digits", "y_test_digits", "scaler_digits", "model_digits")


@_spec(1, MOONS_SPLIT, todo="make the moons data, turn it into tensors and fill X_train_moons, X_test_moons, "
       "y_train_moons, y_test_moons")
def _extract_1(ns, probes):
    return {**_split(ns, MOONS_SPLIT), "seed": _seed(ns)}


@_spec(2, ("model_moons",), todo="build model_moons (2 inputs -> hidden layers with a non-linear activation -> "
       "1 logit)")
def _extract_2(ns, probes):
    return {"model": model_info(ns["model_moons"], {"grid": GRID_2D})}


@_spec(3, ("loss_fn_moons", "optimizer_moons"), ("model_moons",), todo="set loss_fn_moons and optimizer_moons")
def _extract_3(ns, probes):
    model, loss_fn = ns["model_moons"], ns["loss_fn_moons"]
    values = {"model": model_info(model, {"grid": GRID_2D[:5]}), "loss_type": type(loss_fn).__name__}
    try:  # the loss on fixed logits, to recognise hand-written losses
        value = loss_fn(torch.tensor([[2.0], [-1.0], [0.5]]), torch.tensor([[1.0], [0.0], [0.0]]))
        values["loss_on_probe"] = float(value)
    except Exception:
        values["loss_on_probe"] = None
    return {**values, **_optimizer_info(ns["optimizer_moons"])}


@_spec(4, ("history_moons",), ("model_moons", "loss_fn_moons", "optimizer_moons") + MOONS_SPLIT,
       todo="train model_moons and keep the per-epoch losses in history_moons")
def _extract_4(ns, probes):
    model = model_info(ns["model_moons"], {"probe": _probe(probes, "moons")})
    return {**_split(ns, MOONS_SPLIT), "seed": _seed(ns), "model": model, "history": plain(ns["history_moons"])}


@_spec(5, ("y_pred_moons", "ax_moons"), ("model_moons", "X_test_moons", "y_test_moons"),
       todo="set y_pred_moons (labels for X_test_moons) and ax_moons (the decision-boundary Axes)")
def _extract_5(ns, probes):
    inputs = {"test": _to_numpy(ns["X_test_moons"]), "grid": GRID_2D}
    return {"y_pred": array_info(ns["y_pred_moons"]), "y_test": array_info(ns["y_test_moons"]),
            "X_test": array_info(ns["X_test_moons"]),
            "model": model_info(ns["model_moons"], inputs), "ax": axes_info(ns["ax_moons"])}


@_spec(6, ("stable_log_softmax",), todo="define stable_log_softmax(logits) using torch.exp and torch.log")
def _extract_6(ns, probes):
    f = ns["stable_log_softmax"]
    if not callable(f):
        return {"callable": False, "type": type_name(f)}
    import sys

    calls: list = []
    saved = []
    for module_name, name in LOG_SOFTMAX_BUILTINS:
        owner = torch.Tensor if module_name == "torch.Tensor" else sys.modules.get(module_name)
        if owner is not None and hasattr(owner, name):
            saved.append((owner, name, owner.__dict__[name] if name in vars(owner) else getattr(owner, name),
                          name in vars(owner)))

    def spy(original, label):
        def wrapper(*args, **kwargs):
            calls.append(label)
            return original(*args, **kwargs)

        return wrapper

    outputs, errors = {}, {}
    try:
        for owner, name, original, _ in saved:
            label = f"{getattr(owner, '__name__', owner)}.{name}"
            label = label.replace("Tensor.", "torch.Tensor.") if owner is torch.Tensor else label
            setattr(owner, name, spy(original, label))
        for key, array in LOG_SOFTMAX_INPUTS.items():
            try:
                out = f(torch.from_numpy(array.copy()))
                outputs[key] = _to_numpy(out).astype(np.float64) if out is not None else None
            except Exception as error:  # the student's function failed on this input
                errors[key] = f"{type(error).__name__}: {error}"[:300]
    finally:
        for owner, name, original, own in saved:
            if own:
                setattr(owner, name, original)
            else:  # inherited: remove the spy so the inherited attribute shows again
                try:
                    delattr(owner, name)
                except AttributeError:
                    setattr(owner, name, original)
    return {"callable": True, "outputs": outputs, "errors": errors, "builtin_calls": sorted(set(calls))}


@_spec(7, SPIRALS_SPLIT + ("model_spirals", "ax_spirals"),
       todo="make the spirals split, train model_spirals and draw ax_spirals")
def _extract_7(ns, probes):
    return {**_split(ns, SPIRALS_SPLIT), "seed": _seed(ns), "ax": axes_info(ns["ax_spirals"]),
            "model": model_info(ns["model_spirals"], {"probe": _probe(probes, "spirals")})}


@_spec(8, XOR_SPLIT + ("model_xor",), todo="make the XOR split and train model_xor")
def _extract_8(ns, probes):
    return {**_split(ns, XOR_SPLIT), "seed": _seed(ns),
            "model": model_info(ns["model_xor"], {"probe": _probe(probes, "xor"), "grid": GRID_2D})}


@_spec(9, ("results_activations", "histories_activations", "models_activations", "fastest_activation",
           "ax_activations", "answer_9"),
       SPIRALS_SPLIT, todo="fill results_activations, histories_activations, models_activations, fastest_activation, "
       "ax_activations and answer_9")
def _extract_9(ns, probes):
    return {**_split(ns, SPIRALS_SPLIT), "seed": _seed(ns),
            "models": _models(ns["models_activations"], {"eval": _to_numpy(ns["X_test_spirals"])}),
            "results": plain(ns["results_activations"]), "histories": plain(ns["histories_activations"]),
            "fastest": plain(ns["fastest_activation"]), "ax": axes_info(ns["ax_activations"]),
            "answer": plain(ns["answer_9"])}


@_spec(10, IRIS + DIGITS, todo="fill the Iris and digits splits, scalers and models")
def _extract_10(ns, probes):
    values = {}
    for name, names in (("iris", IRIS), ("digits", DIGITS)):
        part = _split(ns, names[:4])
        scaler = ns[names[4]]
        part["scaler"] = {"type": type_name(scaler), "mean": plain(getattr(scaler, "mean_", None)),
                          "scale": plain(getattr(scaler, "scale_", None))}
        part["model"] = model_info(ns[names[5]], {"probe": _scaled_probe(probes, name, scaler)})
        values[name] = part
    return values


@_spec(11, ("X_val_optimizers", "y_val_optimizers", "results_optimizers", "histories_optimizers",
            "models_optimizers", "fastest_optimizer", "ax_optimizers", "answer_11"),
       ("X_train_digits", "y_train_digits", "X_test_digits"),
       todo="fill X_val_optimizers, y_val_optimizers, results_optimizers, histories_optimizers, models_optimizers, "
       "fastest_optimizer, ax_optimizers and answer_11")
def _extract_11(ns, probes):
    return {"X_val": array_info(ns["X_val_optimizers"]), "y_val": array_info(ns["y_val_optimizers"]),
            "X_train": array_info(ns["X_train_digits"]), "y_train": array_info(ns["y_train_digits"]),
            "X_test": array_info(ns["X_test_digits"]),
            "results": plain(ns["results_optimizers"]), "histories": plain(ns["histories_optimizers"]),
            "models": _models(ns["models_optimizers"], {"eval": _to_numpy(ns["X_val_optimizers"])}),
            "fastest": plain(ns["fastest_optimizer"]), "ax": axes_info(ns["ax_optimizers"]),
            "answer": plain(ns["answer_11"])}


@_spec(12, ("X_train_regularization", "y_train_regularization", "X_val_regularization", "y_val_regularization",
            "results_regularization", "histories_regularization", "models_regularization", "best_regularizer",
            "answer_12"),
       ("X_train_digits", "y_train_digits"),
       todo="fill X_train_regularization, y_train_regularization, X_val_regularization, y_val_regularization, "
       "results_regularization, histories_regularization, models_regularization, best_regularizer and answer_12")
def _extract_12(ns, probes):
    inputs = {"train": _to_numpy(ns["X_train_regularization"]), "val": _to_numpy(ns["X_val_regularization"])}
    return {"X_fit": array_info(ns["X_train_regularization"]), "y_fit": array_info(ns["y_train_regularization"]),
            "X_val": array_info(ns["X_val_regularization"]), "y_val": array_info(ns["y_val_regularization"]),
            "X_train": array_info(ns["X_train_digits"]), "y_train": array_info(ns["y_train_digits"]),
            "models": _models(ns["models_regularization"], inputs),
            "results": plain(ns["results_regularization"]), "histories": plain(ns["histories_regularization"]),
            "best": plain(ns["best_regularizer"]), "answer": plain(ns["answer_12"])}


@_spec(13, ("cv_results", "best_config", "most_important_hyperparameter", "model_cv", "answer_13"),
       ("X_train_digits", "y_train_digits", "X_test_digits", "y_test_digits", "scaler_digits"),
       todo="fill cv_results, best_config, most_important_hyperparameter, model_cv and answer_13")
def _extract_13(ns, probes):
    scaler = ns["scaler_digits"]
    digits = {"X_test": _to_numpy(ns["X_test_digits"]), "mean": plain(getattr(scaler, "mean_", None)),
              "scale": plain(getattr(scaler, "scale_", None))}
    return {"digits": digits, "cv_results": plain(ns["cv_results"]), "best_config": plain(ns["best_config"]),
            "most_important": plain(ns["most_important_hyperparameter"]),
            "model": model_info(ns["model_cv"], {"probe": _scaled_probe(probes, "digits", ns["scaler_digits"])}),
            "answer": plain(ns["answer_13"])}


MADE_IN = {name: n for n, spec in SPECS.items() for name in spec["own"]}


def extract(number: int, namespace: dict, probes: dict | None = None) -> dict:
    """Read exercise ``number``'s names from ``namespace`` and return plain data only.

    Args:
        number: exercise number, 1..13.
        namespace: the notebook's ``globals()``.
        probes: data-set name -> ``(N, D)`` NumPy array of fresh inputs on which
            models are evaluated (needed by exercises 4, 7, 8, 10 and 13).

    Returns:
        Dict of builtins and NumPy arrays; ``{"missing": [...]}`` when some but
        not all of the exercise's own names are still placeholders.

    Raises:
        NotAttempted: all of the exercise's own names are still placeholders, or
            a name it borrows from an earlier exercise is.
    """
    if not isinstance(number, int) or number not in SPECS:
        raise ValueError(f"there is no exercise {number!r}; exercises are numbered 1..{len(SPECS)}")
    if not isinstance(namespace, dict):
        raise NotAttempted("check() needs the notebook's globals(): call check(N, globals())")
    spec = SPECS[number]
    missing = [name for name in spec["own"] if is_placeholder(namespace.get(name))]
    if len(missing) == len(spec["own"]):
        raise NotAttempted(spec["todo"])
    borrowed_missing = [name for name in spec["borrowed"] if is_placeholder(namespace.get(name))]
    if borrowed_missing:
        first = borrowed_missing[0]
        raise NotAttempted(f"this exercise needs {first} from exercise {MADE_IN.get(first, '?')} first")
    if missing:
        return {"missing": missing}
    return spec["extract"](namespace, probes)

