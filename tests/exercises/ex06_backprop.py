"""Exercise 6: backpropagation by hand for a Linear-ReLU-Linear network, with a gradient check.

The kernel runs ``forward_backward`` on the check's own float64 batches (one with logits in the hundreds) and
``rel_error`` on fixed pairs; here the losses and gradients are compared with NumPy's. The student's own gradient
check must be finite and within the tolerance, and no finite-difference error may be exactly 0.
"""

import numpy as np
import torch

from . import common as C
from .common import Fail

NUMBER, POINTS = 6, 2
TITLE = "Backpropagation by hand for a ReLU network, with a gradient check"
OWN, BORROWED = ("forward_backward", "rel_error", "grad_check_errors"), ()
TODO = f"define {C.listed(OWN)}"
TOLERANCE = 1e-6  # relative error of a gradient (float64)
KEYS = ("W1", "b1", "W2", "b2")


def _batch(seed: int, N: int, D: int, H: int, K: int, scale: float = 1.0, note: str = "") -> dict:
    """N points, D features, H hidden units, K classes (the notebook's C), and how the hints name the batch."""
    rng = np.random.default_rng(seed)
    return {"X": rng.normal(size=(N, D)), "y": rng.integers(0, K, size=N), "W1": rng.normal(size=(D, H)),
            "b1": rng.normal(size=H), "W2": scale * rng.normal(size=(H, K)), "b2": rng.normal(size=K),
            "about": f"batch of {N} points, {D} features, {H} hidden units, {K} classes{note}"}


# The check's own batches: (N, D, H, K) differ from the notebook's, and one has logits in the hundreds.
BATCHES = {"ordinary": _batch(1, 7, 3, 6, 4), "another shape": _batch(2, 5, 4, 3, 5),
           "large logits": _batch(3, 6, 3, 5, 4, scale=400.0, note=" with logits in the hundreds")}
_A = np.arange(1.0, 7.0).reshape(2, 3)
REL_ERROR_PAIRS = {"equal": (_A, _A), "0.1% apart": (_A, 1.001 * _A), "opposite": (_A, -_A)}


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: forward_backward on BATCHES, rel_error on fixed pairs, and grad_check_errors."""
    f, rel, runs, rels = ns["forward_backward"], ns["rel_error"], {}, {}
    values = {"grad_check_errors": C.plain(ns["grad_check_errors"]), "fb_callable": callable(f),
              "fb_type": C.type_name(f), "rel_callable": callable(rel), "rel_type": C.type_name(rel), "runs": runs,
              "rel_errors": rels}
    if callable(f):
        for key, batch in BATCHES.items():
            params = {k: torch.tensor(batch[k], dtype=torch.float64) for k in KEYS}
            X, y = torch.tensor(batch["X"], dtype=torch.float64), torch.tensor(batch["y"], dtype=torch.int64)
            try:
                with torch.no_grad():  # by hand: a call to .backward() fails here, as it should
                    loss, grads = f(params, X, y)
                runs[key] = {"loss": float(loss),
                             "grads": {k: C.to_numpy(g).astype(np.float64) for k, g in dict(grads).items()}}
            except Exception as error:  # the student's function failed on the check's batch
                runs[key] = {"error": f"{type(error).__name__}: {error}"[:300]}
    if callable(rel):
        for key, (a, b) in REL_ERROR_PAIRS.items():
            try:
                rels[key] = float(rel(torch.tensor(a), torch.tensor(b)))
            except Exception as error:
                rels[key] = f"{type(error).__name__}: {error}"[:300]
    return values


def reference(batch: dict) -> tuple[float, dict]:
    """Mean softmax cross-entropy of the batch and its gradients, in NumPy (float64)."""
    X, y = batch["X"], batch["y"]
    N = len(y)
    z1 = X @ batch["W1"] + batch["b1"]
    h = np.maximum(z1, 0.0)
    logits = h @ batch["W2"] + batch["b2"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(N), y] -= 1.0
    dlogits /= N
    dh = dlogits @ batch["W2"].T
    dz1 = dh * (z1 > 0)
    return float(loss), {"W1": X.T @ dz1, "b1": dz1.sum(0), "W2": h.T @ dlogits, "b2": dlogits.sum(0),
                         "W1 without the ReLU's mask": X.T @ dh, "b1 without the ReLU's mask": dh.sum(0)}


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))


def _judge_gradients(v: dict) -> str:
    if not v.get("fb_callable"):
        raise Fail(f"forward_backward should be a function; yours is a {v.get('fb_type')}")
    worst = 0.0
    for key, batch in BATCHES.items():
        run = v["runs"].get(key) or {}
        where = f"on the check's own {batch['about']}"
        if "error" in run:
            autograd = " (it must not call .backward(): write the gradients by hand)" if "grad" in run["error"] else ""
            raise Fail(f"forward_backward raised {run['error']} {where}{autograd}; it should work for any N, D, H "
                       "and C (use the shapes of its arguments, not numbers from params_check)")
        loss, grads = reference(batch)
        if not np.isfinite(run.get("loss", np.nan)):
            raise Fail(f"forward_backward's loss is {run.get('loss')} {where}: exp overflows; subtract each row's "
                       "maximum logit before exp")
        if not abs(run["loss"] - loss) <= 1e-8 * max(1.0, abs(loss)):
            raise Fail(f"forward_backward's loss is {run['loss']:.6g} {where}; the mean cross-entropy is {loss:.6g} "
                       "(-log softmax of the true class, averaged over the N points)")
        got = run.get("grads") or {}
        for name in KEYS:
            if name not in got:
                raise Fail(f"forward_backward's grads should have the keys {list(KEYS)}; yours has {sorted(got)}")
            g = np.asarray(got[name])
            if g.shape != grads[name].shape:
                hint = " (sum over the batch, dim 0)" if name.startswith("b") else ""
                raise Fail(f"d{name} has shape {g.shape} {where}; it should have the shape of {name}, "
                           f"{grads[name].shape}{hint}")
            error = relative_error(g, grads[name])
            if not error <= TOLERANCE:
                raise Fail(f"d{name}: relative error {error:.1e} > 1e-6 {where}{_why(name, g, grads, batch)}")
            worst = max(worst, error)
    return f"largest relative error of a gradient {worst:.1e} ≤ 1e-6 (3 batches of the check's own)"


def _why(name: str, g: np.ndarray, grads: dict, batch: dict) -> str:
    N = len(batch["y"])
    if name.startswith(("W1", "b1")) and relative_error(g, grads[f"{name} without the ReLU's mask"]) <= 1e-6:
        return ": it is the gradient without the ReLU: multiply by (z1 > 0), the ReLU passes no gradient where its " \
               "input was negative"
    if relative_error(g, N * grads[name]) <= 1e-6:
        return f": it is {N} (= N) times too large; the loss is a mean over the N points, so divide dlogits by N"
    if name.startswith("b") and relative_error(g, grads[name] / N) <= 1e-6:
        return ": it is N times too small: divide by N only once"
    return ": work backwards from dlogits = (softmax - one_hot(y)) / N one line at a time"


def _judge_check(v: dict) -> str:
    if not v.get("rel_callable"):
        raise Fail(f"rel_error should be a function; yours is a {v.get('rel_type')}")
    rels = v.get("rel_errors") or {}
    for value in rels.values():
        if isinstance(value, str):
            raise Fail(f"rel_error on two (2, 3) float64 tensors raised {value}")
    if not (rels.get("equal") == 0.0 and 1e-4 <= rels.get("0.1% apart", -1) <= 2e-3 and rels.get("opposite", 0) >= 0.5):
        raise Fail(f"rel_error gives {rels.get('equal')} for equal tensors, {rels.get('0.1% apart')} for tensors 0.1% "
                   f"apart and {rels.get('opposite')} for opposite ones; ||a - b|| / max(||a||, ||b||) gives 0, "
                   "about 1e-3 and 2")
    errors = v.get("grad_check_errors")
    if not isinstance(errors, dict) or not all(isinstance(errors.get(k), dict) for k in KEYS):
        raise Fail("grad_check_errors should be {'W1': {'autograd': ..., 'numerical': ...}, 'b1': ..., 'W2': ..., "
                   "'b2': ...}")
    for name in KEYS:
        for how in ("autograd", "numerical"):
            value = errors[name].get(how)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise Fail(f"grad_check_errors['{name}']['{how}'] should be a number; yours is "
                           f"{value!r}"[:200]) from None
            if not 0.0 <= value <= TOLERANCE:
                raise Fail(f"grad_check_errors['{name}']['{how}'] is {value:.1e} > 1e-6, although your "
                           f"gradients match the true ones: check the {how} side of your gradient check"
                           + (" (a centred difference, eps = 1e-6, in float64)" if how == "numerical" else ""))
            if how == "numerical" and value == 0.0:
                raise Fail(f"grad_check_errors['{name}']['numerical'] is exactly 0, which a finite difference never "
                           "gives: compute it from your finite-difference gradient")
    largest = max(float(errors[k][h]) for k in KEYS for h in ("autograd", "numerical"))
    return f"your gradient check: largest relative error {largest:.1e} ≤ 1e-6"


def judge(v: dict, probes: dict) -> str:
    return f"{_judge_gradients(v)}; {_judge_check(v)}"
