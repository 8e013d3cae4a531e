"""Exercise 7: four spiral arms, trained with the student's own AdamW step.

The kernel runs ``adamw_step`` for a few steps on the check's own float64 tensors; here they are compared with AdamW
computed in NumPy, and with its usual mistakes to name the one made. The model is judged on fresh spirals points.
"""

import numpy as np
import torch

from . import common as C
from .common import Fail

NUMBER, POINTS = 7, 2
MIN_TEST_ACC = 0.95
N_CLASSES = 4
TITLE = f"Four spiral arms, trained with your own AdamW step (>= {MIN_TEST_ACC:.0%} test accuracy)"
OWN, BORROWED = C.SPIRALS_SPLIT + ("adamw_step", "model_spirals", "ax_spirals"), ()
TODO = "make the four-arm spirals split, write adamw_step, train model_spirals with it and draw ax_spirals"
TOLERANCE = 1e-6  # relative difference from torch.optim.AdamW's parameters, float64
SETTINGS = {"lr": 0.1, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.2}
_rng = np.random.default_rng(7)
START = [_rng.normal(size=(3, 2)), _rng.normal(size=4)]  # two tensors, as a model has weights and biases
GRADIENTS = [[_rng.normal(size=(3, 2)), _rng.normal(size=4)] for _ in range(5)]  # one pair per step


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the split, the plot, the model on the fresh probes and adamw_step's trajectory."""
    values = {**C.split_info(ns, C.SPIRALS_SPLIT), "ax": C.axes_info(ns["ax_spirals"]),
              "model": C.model_info(ns["model_spirals"], {"probe": C.probe(probes, "spirals")})}
    step = ns["adamw_step"]
    values["step_callable"], values["step_type"] = callable(step), C.type_name(step)
    if callable(step):
        params = [torch.tensor(p, dtype=torch.float64) for p in START]
        state, trajectory = {}, []
        try:
            for grads in GRADIENTS:
                for p, g in zip(params, grads, strict=True):
                    p.grad = torch.tensor(g, dtype=torch.float64)
                step(params, state, **SETTINGS)
                trajectory.append([C.to_numpy(p).astype(np.float64) for p in params])
        except Exception as error:  # the student's step failed on the check's tensors
            values["step_error"] = f"{type(error).__name__}: {error}"[:300]
        values["trajectory"] = trajectory
    return values


def adamw(decoupled: bool = True, coupled: bool = False, bias_correction: bool = True, decay_after: bool = False):
    """AdamW's parameters after each step (NumPy), or one of its usual mistakes."""
    lr, (beta1, beta2), eps, wd = SETTINGS["lr"], SETTINGS["betas"], SETTINGS["eps"], SETTINGS["weight_decay"]
    params = [p.copy() for p in START]
    m, v, out = [0.0, 0.0], [0.0, 0.0], []
    for t, grads in enumerate(GRADIENTS, start=1):
        for i, g in enumerate(grads):
            g = g + wd * params[i] if coupled else g
            if decoupled and not decay_after:
                params[i] = params[i] * (1 - lr * wd)
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g**2
            m_hat, v_hat = (m[i] / (1 - beta1**t), v[i] / (1 - beta2**t)) if bias_correction else (m[i], v[i])
            params[i] = params[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
            if decoupled and decay_after:
                params[i] = params[i] * (1 - lr * wd)
        out.append([p.copy() for p in params])
    return out


MISTAKES = {
    "Adam with weight_decay * w added to the gradient (L2, coupled), not AdamW's decoupled decay: shrink the "
    "weights themselves, p *= 1 - lr * weight_decay": adamw(decoupled=False, coupled=True),
    "Adam without any weight decay: shrink every tensor by (1 - lr * weight_decay) before the Adam step":
        adamw(decoupled=False),
    "AdamW without the bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t), t counting steps "
    "from 1": adamw(bias_correction=False),
    "AdamW with the decay applied after the Adam step; torch.optim.AdamW shrinks the weights first":
        adamw(decay_after=True),
}


def _difference(a: list, b: list) -> float:
    return max(float(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-300)) for x, y in zip(a, b, strict=True))


def judge_step(v: dict) -> float:
    if not v.get("step_callable"):
        raise Fail(f"adamw_step should be a function; yours is a {v.get('step_type')}")
    call = "adamw_step([a (3, 2) and a (4,) float64 tensor], {}, lr=0.1, betas=(0.9, 0.99), eps=1e-8, " \
           "weight_decay=0.2)"
    if "step_error" in v:
        raise Fail(f"the check called {call} and it raised {v['step_error']}")
    expected, got = adamw(), v.get("trajectory") or []
    if len(got) != len(expected):
        raise Fail(f"adamw_step stopped after {len(got)} of {len(expected)} steps")
    if _difference(got[0], START) == 0.0:
        raise Fail(f"{call} left the tensors unchanged: update them in place (p.sub_(...) or p -= ... inside "
                   "torch.no_grad()), don't just return new ones")
    worst = 0.0
    for t, (ours, theirs) in enumerate(zip(got, expected, strict=True), start=1):
        error = _difference(ours, theirs)
        if not error <= TOLERANCE:
            matches = [text for text, steps in MISTAKES.items()
                       if all(_difference(a, b) <= TOLERANCE for a, b in zip(got, steps, strict=True))]
            why = f": your steps match {matches[0]}" if matches else ""
            raise Fail(f"after step {t} of {call}, your parameters differ from torch.optim.AdamW's by {error:.1e} "
                       f"(relative), more than the tolerance 1e-6{why}")
        worst = max(worst, error)
    return worst


def judge(v: dict, probes: dict) -> str:
    C.check_split(v, C.SPIRALS_SPLIT, "spirals", n_test=240)
    worst = judge_step(v)
    C.rebuild(v["model"], "model_spirals", {"probe": C.probe_X(probes, "spirals")})
    outputs = C.model_outputs(v["model"], "model_spirals", len(probes["spirals"]["y"]), "probe")
    if outputs.shape[1] != N_CLASSES:
        raise Fail(f"model_spirals outputs {outputs.shape[1]} logit(s) per point; {N_CLASSES} arms need "
                   f"{N_CLASSES} output units (with nn.CrossEntropyLoss)")
    acc = C.probe_accuracy(v["model"], "model_spirals", probes, "spirals")
    if acc < MIN_TEST_ACC:
        raise Fail(f"accuracy {acc:.3f} < {MIN_TEST_ACC} on fresh spirals points: use more hidden units or "
                   "another hidden layer, and train longer")
    C.check_axes(v["ax"], "ax_spirals", min_collections=2)
    return (f"adamw_step matches torch.optim.AdamW over 5 steps (largest relative difference {worst:.1e} ≤ "
            f"1e-6); accuracy {acc:.3f} (>= {MIN_TEST_ACC}) on fresh spirals points; a decision boundary in ax_spirals")
