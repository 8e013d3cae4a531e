"""Exercise 6: a numerically stable log-softmax from exp and log.

The student defines ``stable_log_softmax(logits)``. The kernel calls it on
three fixed inputs (float32 logits as large as ±1000, a wide float32 range,
ordinary float64 logits) while spies count calls to torch's own softmax and
logsumexp functions. Judged: no built-in softmax or logsumexp, the input's
shape kept, finite everywhere, and equal to ``F.log_softmax(x, dim=1)``.
"""

import sys

import numpy as np
import torch

from .common import Exercise, Fail, to_numpy, type_name

NUMBER, POINTS = 6, 2
TITLE = "A numerically stable log-softmax from exp and log"
OWN, BORROWED = ("stable_log_softmax",), ()
TODO = "define stable_log_softmax(logits) using torch.exp and torch.log"
RTOL, ATOL = 1e-5, 1e-5
# Extreme on purpose: exp(1000) overflows even in float64.
INPUTS = {
    "extreme32": np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1001.0, -1002.0], [88.0, 89.0, 90.0],
                           [0.0, 0.0, 0.0], [-5.0, 3.0, 1.0], [1e4, 1e4, -1e4]], dtype=np.float32),
    "wide32": np.linspace(-500.0, 500.0, 4 * 10, dtype=np.float32).reshape(4, 10),
    "normal64": np.random.default_rng(0).normal(0.0, 3.0, size=(50, 7)),
}
LABELS = {"extreme32": "float32 logits as large as ±1000", "wide32": "a (4, 10) float32 tensor in [-500, 500]",
          "normal64": "ordinary float64 logits"}
BUILTINS = tuple((owner, name) for owner in ("torch", "torch.Tensor", "torch.special")
                 for name in ("logsumexp", "log_softmax", "softmax")) + (
    ("torch.nn.functional", "log_softmax"), ("torch.nn.functional", "softmax"))


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the function's outputs (or errors) on INPUTS, and which built-ins it called."""
    f = ns["stable_log_softmax"]
    if not callable(f):
        return {"callable": False, "type": type_name(f)}
    calls, saved = [], []
    for module_name, name in BUILTINS:
        owner = torch.Tensor if module_name == "torch.Tensor" else sys.modules.get(module_name)
        if owner is not None and hasattr(owner, name):
            own = name in vars(owner)
            saved.append((owner, name, vars(owner)[name] if own else getattr(owner, name), own, module_name))

    def spy(original, label):
        def wrapper(*args, **kwargs):
            calls.append(label)
            return original(*args, **kwargs)

        return wrapper

    outputs, errors = {}, {}
    try:
        for owner, name, original, _, module_name in saved:
            setattr(owner, name, spy(original, f"{module_name}.{name}"))
        for key, array in INPUTS.items():
            try:
                out = f(torch.from_numpy(array.copy()))
                outputs[key] = to_numpy(out).astype(np.float64) if out is not None else None
            except Exception as error:  # the student's function failed on this input
                errors[key] = f"{type(error).__name__}: {error}"[:300]
    finally:
        for owner, name, original, own, _ in saved:
            if own:
                setattr(owner, name, original)
            else:  # inherited: remove the spy so the inherited attribute shows again
                try:
                    delattr(owner, name)
                except AttributeError:
                    setattr(owner, name, original)
    return {"callable": True, "outputs": outputs, "errors": errors, "builtin_calls": sorted(set(calls))}


def reference(x: np.ndarray) -> np.ndarray:
    shifted = x.astype(np.float64) - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def judge(v: dict, probes: dict) -> str:
    if not v.get("callable"):
        raise Fail(f"stable_log_softmax should be a function; yours is a {v.get('type')}")
    if v["builtin_calls"]:
        raise Fail(f"stable_log_softmax calls {', '.join(v['builtin_calls'])}: build it from torch.exp, torch.log, "
                   "max and sum instead")
    for key, x in INPUTS.items():
        if key in v["errors"]:
            raise Fail(f"stable_log_softmax on {LABELS[key]} raised {v['errors'][key]}")
        out = v["outputs"].get(key)
        if out is None:
            raise Fail("stable_log_softmax returns None: return the tensor you computed")
        out = np.asarray(out, dtype=np.float64)
        if out.shape != x.shape:
            raise Fail(f"stable_log_softmax on {LABELS[key]} should keep the input's shape {x.shape}; yours gives "
                       f"{out.shape} (keep the class dimension: keepdim=True in max and sum)")
        if not np.all(np.isfinite(out)):
            raise Fail(f"stable_log_softmax gives NaN or inf on {LABELS[key]}: exp overflows for large logits; "
                       "subtract each row's maximum before exp (the log-sum-exp trick)")
        ref = reference(x)
        if not np.allclose(out, ref, rtol=RTOL, atol=ATOL):
            with np.errstate(over="ignore"):  # a wrong answer's outputs may be large: exp(out) = inf is fine here
                rows_sum_to_one = np.allclose(np.exp(out).sum(axis=1), 1.0, atol=1e-4)
            where = "" if rows_sum_to_one else " (each row's exp should sum to 1: normalise over dim=1, the classes)"
            raise Fail(f"stable_log_softmax differs from F.log_softmax(x, dim=1) by up to {np.abs(out - ref).max():.2g}"
                       f" on {LABELS[key]}{where}")
    return "finite on logits as large as ±1000 and equal to F.log_softmax(x, dim=1) within 1e-5"


EXERCISE = Exercise(NUMBER, TITLE, POINTS, OWN, BORROWED, TODO, read, judge)
