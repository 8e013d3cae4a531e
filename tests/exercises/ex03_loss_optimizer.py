"""Exercise 3: loss function and optimizer for binary classification.

A hand-written loss passes when it computes BCE-with-logits on fixed logits; each typical mistake has its own hint.
"""

import math

import numpy as np
import torch

from . import common as C
from .common import Fail

NUMBER, POINTS = 3, 1
TITLE = "Loss function and optimizer for binary classification"
OWN, BORROWED = ("loss_fn_moons", "optimizer_moons"), ("model_moons",)
TODO = f"set {C.listed(OWN)}"
PROBE_LOGITS, PROBE_TARGETS = [[2.0], [-1.0], [0.5]], [[1.0], [0.0], [0.0]]  # to recognise a hand-written loss


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the loss's type and value on fixed logits; the optimizer's type, parameters and lr."""
    model, loss_fn, optimizer = ns["model_moons"], ns["loss_fn_moons"], ns["optimizer_moons"]
    values = {"model": C.model_info(model, {"grid": C.GRID_2D[:5]}), "loss_type": type(loss_fn).__name__,
              "optimizer_type": type(optimizer).__name__, "is_optimizer": isinstance(optimizer, torch.optim.Optimizer)}
    try:
        values["loss_on_probe"] = float(loss_fn(torch.tensor(PROBE_LOGITS), torch.tensor(PROBE_TARGETS)))
    except Exception:
        values["loss_on_probe"] = None
    if values["is_optimizer"]:
        values["optimizer_param_ids"] = sorted(id(p) for g in optimizer.param_groups for p in g["params"])
        values["lr"] = float(optimizer.param_groups[0].get("lr", float("nan")))
    return values


def judge(v: dict, probes: dict) -> str:
    model = v["model"]
    C.rebuild(model, "model_moons", {"grid": C.GRID_2D[:5]})
    width = C.model_outputs(model, "model_moons", 5, "grid").shape[1]
    loss = v.get("loss_type")
    if loss in ("MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss"):
        raise Fail(f"{loss} is a regression loss; for binary classification with one logit use nn.BCEWithLogitsLoss()")
    if loss == "BCELoss":
        if (model.get("leaves") or [""])[-1] == "Sigmoid":
            raise Fail("return logits and use BCEWithLogitsLoss: a sigmoid in the model and another in the loss "
                       "squash twice (remove model_moons's final nn.Sigmoid() and use nn.BCEWithLogitsLoss())")
        raise Fail("nn.BCELoss expects probabilities but model_moons outputs logits: use nn.BCEWithLogitsLoss(), "
                   "which applies the sigmoid itself, stably")
    if loss == "CrossEntropyLoss":
        raise Fail(f"CrossEntropyLoss is for one logit per class; model_moons outputs {width} logit(s) for two "
                   "classes: use nn.BCEWithLogitsLoss() with 1 output unit")
    if loss != "BCEWithLogitsLoss":
        z, t = np.array(PROBE_LOGITS)[:, 0], np.array(PROBE_TARGETS)[:, 0]
        expected = float(np.mean(np.logaddexp(0, z) - t * z))
        if v.get("loss_on_probe") is None or not math.isclose(v["loss_on_probe"], expected, rel_tol=1e-4):
            raise Fail(f"loss_fn_moons is a {loss}; for binary classification use nn.BCEWithLogitsLoss()")
    if width != 1:
        raise Fail(f"nn.BCEWithLogitsLoss needs 1 output unit, but model_moons outputs {width}: end it with "
                   "nn.Linear(..., 1)")
    if not v.get("is_optimizer"):
        raise Fail(f"optimizer_moons should be a torch.optim optimizer (e.g. torch.optim.Adam); yours is a "
                   f"{v.get('optimizer_type')}")
    if v.get("optimizer_param_ids") != model.get("param_ids"):
        raise Fail("optimizer_moons doesn't hold exactly model_moons's parameters: create it with "
                   "torch.optim.Adam(model_moons.parameters(), lr=...) after building the model")
    lr = v.get("lr", float("nan"))
    if not 0 < lr <= 10:
        raise Fail(f"learning rate {lr} is not a sensible step size: try lr=0.01 for Adam or 0.1 for SGD")
    return f"{loss} with {v.get('optimizer_type')} (lr={lr:g}) over all of model_moons's parameters"
