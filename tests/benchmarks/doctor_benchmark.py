"""Detection benchmark of the network doctor (``helper_functions.diagnose``).

    python -m tests.benchmarks.doctor_benchmark [--seeds 42,0,1,2,3,4] [--out DIR] [--sweep SEEDS]

Planted bugs and healthy setups (``CASES``), written the way a student writes them, on the lesson's data sets. A
planted case is *found* when its code is among the findings; a healthy case is a *false alarm* when it gets any.
Healthy cases (and the learning-rate and dead-unit bugs) are also trained, so that "healthy" is measured. Every
call is timed, and the caller's ``state_dict`` and optimizer state must be bit for bit unchanged. Targets: recall
>= 90% overall and >= 2 of 3 planted cases per code, 0 false alarms, every call <= 5 s, every caller unchanged;
exit status 1 when one is missed. Writes ``doctor.json`` and ``doctor.md`` to ``tests/benchmarks/results/``;
``--sweep`` instead trains bug-free small networks to look for false alarms (``doctor_sweep.md``).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np
import torch
from torch import nn

from tests.benchmarks.common import RESULTS, cpu, header, load, table, write

SEED = 42
TARGET_SECONDS = 5.0
REQUIRED_CODES = ("no-nonlinearity", "sigmoid-before-logits-loss", "softmax-before-cross-entropy",
                  "probabilities-expected", "relu-on-output", "wrong-output-width", "label-range", "shape-mismatch",
                  "no-zero-grad", "no-backward", "no-step", "step-order", "detached-loss", "optimizer-not-on-model",
                  "frozen-parameters", "lr-too-high", "lr-too-low", "unscaled-inputs", "dead-units", "constant-init")
MULTICLASS = ("blobs", "spirals", "digits")


def dataset(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``X`` (N, D) float32 and ``y`` (N,): float 0./1. for the binary sets (as notebook 02 keeps them), int64
    class indices for the multi-class ones."""
    from sklearn.datasets import load_digits, make_blobs, make_circles, make_moons

    from helper_functions import make_spirals, make_xor

    makers = {
        "circles": lambda: make_circles(n_samples=1000, noise=0.03, random_state=SEED),
        "moons": lambda: make_moons(n_samples=1000, noise=0.1, random_state=SEED),
        "xor": lambda: make_xor(n_samples=400, noise=0.1, random_state=SEED),
        "blobs": lambda: make_blobs(n_samples=1000, centers=[[-3, 3], [3, 3], [-3, -3], [3, -3]], cluster_std=1.0,
                                    random_state=SEED),
        # two far-apart blobs: linearly separable
        "blobs2": lambda: make_blobs(n_samples=400, centers=[[-2, -2], [2, 2]], cluster_std=0.5, random_state=SEED),
        "spirals": lambda: make_spirals(n_samples=1000, n_classes=3, noise=0.2, random_state=SEED),
        "digits": lambda: load_digits(return_X_y=True),
    }
    X, y = makers[name]()
    X = torch.as_tensor(np.asarray(X) / (16.0 if name == "digits" else 1.0), dtype=torch.float32)  # pixels 0..16
    y = torch.as_tensor(np.asarray(y))
    return X, y.long() if name in MULTICLASS else y.float()


def mlp(d_in: int, d_out: int, hidden=(16, 16), act: str = "relu", dropout: float = 0.0, batchnorm: bool = False,
        tail: tuple = ()) -> nn.Sequential:
    """``nn.Sequential`` of Linear [+BatchNorm] + activation [+Dropout] per hidden layer, then the output layer."""
    torch.manual_seed(SEED)
    layers, width = [], d_in
    for units in hidden:
        layers.append(nn.Linear(width, units))
        if batchnorm:
            layers.append(nn.BatchNorm1d(units))
        if act:
            layers.append({"relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}[act]())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = units
    return nn.Sequential(*layers, nn.Linear(width, d_out), *tail)


class CircleModelV1(nn.Module):
    """As in notebook 02: one ``self.relu`` registered last and used twice."""

    def __init__(self, d_in=2, hidden_units=16, d_out=1, output=None):
        super().__init__()
        self.layer_1 = nn.Linear(d_in, hidden_units)
        self.layer_2 = nn.Linear(hidden_units, hidden_units)
        self.layer_3 = nn.Linear(hidden_units, d_out)
        self.relu = nn.ReLU()
        self.output = output

    def forward(self, x):
        x = self.layer_3(self.relu(self.layer_2(self.relu(self.layer_1(x)))))
        return self.output(x) if self.output is not None else x


class FunctionalNet(nn.Module):
    """Activations written in ``forward`` (``torch.relu``), no activation modules at all."""

    def __init__(self, d_in=2, hidden_units=16, d_out=1, final=None):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d_in, hidden_units), nn.Linear(hidden_units, d_out)
        self.final = final

    def forward(self, x):
        logits = self.fc2(torch.relu(self.fc1(x)))
        return self.final(logits) if self.final is not None else logits


def seeded(factory, *args, **kwargs):
    torch.manual_seed(SEED)
    return factory(*args, **kwargs)


# ---- training steps as students write them
def student_step(*calls, item: bool = False):
    """A step that makes these ``calls`` in this order: "train" (``model.train()``), "zero"
    (``optimizer.zero_grad()``), "model.zero" (``model.zero_grad()``), "loss" (``loss =
    loss_fn(model(X).squeeze(1), y)``), "loss as is" (``loss = loss_fn(model(X), y)``), "backward"
    (``loss.backward()``), "step" (``optimizer.step()``), or a function ``(model, X, y, loss_fn) -> loss``: the
    student's own forward pass and loss. It returns ``loss`` (``loss.item()`` with ``item``)."""

    def step(model, X, y, loss_fn, optimizer):
        loss = None
        for call in calls:
            if call == "train":
                model.train()
            elif call == "zero":
                optimizer.zero_grad()
            elif call == "model.zero":
                model.zero_grad()
            elif callable(call):
                loss = call(model, X, y, loss_fn)
            elif call.startswith("loss"):
                loss = loss_fn(model(X).squeeze(1) if call == "loss" else model(X), y)
            elif call == "backward":
                loss.backward()
            else:
                optimizer.step()
        return loss.item() if item else loss

    return step


step_good = student_step("train", "loss", "zero", "backward", "step")
step_no_squeeze = student_step("loss as is", "zero", "backward", "step")  # with (N, 1) targets too: the same code
step_no_backward_item = student_step("train", lambda model, X, y, loss_fn: loss_fn(model(X).squeeze(1), y).item(),
                                     "zero", "step")
step_detached_item = student_step(
    lambda model, X, y, loss_fn: torch.tensor(loss_fn(model(X).squeeze(1), y).item(), requires_grad=True),
    "zero", "backward", "step")
step_detached_logits = student_step(  # and loss.requires_grad = True, so that backward() runs
    lambda model, X, y, loss_fn: loss_fn(model(X).squeeze(1).detach(), y).requires_grad_(), "zero", "backward", "step")
step_mse_probabilities = student_step(  # (N, 1) probabilities against (N,) labels
    lambda model, X, y, loss_fn: loss_fn(torch.sigmoid(model(X)), y), "zero", "backward", "step")
step_long_targets = student_step(lambda model, X, y, loss_fn: loss_fn(model(X).squeeze(1), y.long()),
                                 "zero", "backward", "step")


def step_manual_sgd(model, X, y, loss_fn, optimizer, lr=1.0):
    loss = loss_fn(model(X).squeeze(1), y)
    loss.backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= lr * param.grad
            param.grad.zero_()
    return loss


def step_minibatches(model, X, y, loss_fn, optimizer, batch_size=64):
    total = 0.0
    for start in range(0, len(X), batch_size):
        X_batch, y_batch = X[start:start + batch_size], y[start:start + batch_size]
        loss = loss_fn(model(X_batch), y_batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(X_batch)
    return total / len(X)


def step_no_zero_grad_printing(model, X, y, loss_fn, optimizer):
    y_pred = model(X).squeeze(1)
    loss = loss_fn(y_pred, y)
    loss.backward()
    optimizer.step()
    acc = ((y_pred > 0).float() == y).float().mean()
    return loss.item(), acc.item()


def step_forward_in_inference_mode(model, X, y, loss_fn, optimizer):
    with torch.inference_mode():
        y_logits = model(X)
    loss = loss_fn(y_logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


# ---- the cases
def case(name, data, expect, model, loss="auto", opt="adam", lr=0.02, step=None, change=None, opt_over=None,
         train_epochs=0, train_lr=None):
    """One setup. ``expect``: the planted code, or None for a healthy one.

    ``change(X, y, model)`` -> (X, y, model) edits the data or model the way the student did; ``opt_over(model)``
    gives the parameters the student's optimizer was built over (default ``model.parameters()``);
    ``train_epochs`` trains the model first with ``fit`` (at ``train_lr``), as a student would before asking why
    it doesn't learn.
    """
    def build():
        from helper_functions import fit

        X, y = dataset(data)
        m = model()
        if change is not None:
            X, y, m = change(X, y, m)
        loss_fn = (nn.CrossEntropyLoss() if data in MULTICLASS else nn.BCEWithLogitsLoss()) if loss == "auto" else loss
        make_optimizer = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}.get(opt, opt)
        if train_epochs:
            fit(m, loss_fn, make_optimizer(m.parameters(), lr=train_lr or lr), X, y, epochs=train_epochs,
                log_every=None)
        optimizer = make_optimizer(opt_over(m) if opt_over is not None else m.parameters(), lr=lr)
        return m, X, y, loss_fn, optimizer, step
    return {"name": name, "data": data, "expect": expect, "build": build}


def momentum(params, lr):
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def change_labels(f):
    return lambda X, y, m: (X, f(y), m)


def change_inputs(f):
    return lambda X, y, m: (f(X), y, m)


def change_model(f):
    """Edit the model in place under ``torch.no_grad()``: its initial weights, or which parameters are frozen."""
    def apply(X, y, m):
        with torch.no_grad():
            f(m)
        return X, y, m
    return apply


def zeros_everywhere(m):
    for p in m.parameters():
        nn.init.zeros_(p)


def constant_half(m):
    for layer in m.modules():
        if isinstance(layer, nn.Linear):
            nn.init.constant_(layer.weight, 0.5)
            nn.init.constant_(layer.bias, 0.0)


def zero_first_layer(m):
    nn.init.zeros_(m[0].weight)
    nn.init.zeros_(m[0].bias)


xy_columns = change_labels(lambda y: y.unsqueeze(1))


CASES = [
    # ---- healthy setups: no finding allowed ----
    case("logistic regression, separable blobs", "blobs2", None, lambda: seeded(nn.Linear, 2, 1), opt="sgd", lr=0.1),
    case("logistic regression, zero init", "blobs2", None, lambda: seeded(nn.Linear, 2, 1), opt="sgd", lr=0.1,
         change=change_model(zeros_everywhere)),
    case("softmax regression, 4 blobs", "blobs", None, lambda: seeded(nn.Linear, 2, 4), lr=0.05),
    case("circles, ReLU 16x16, Adam", "circles", None, lambda: mlp(2, 1)),
    case("circles, CircleModelV1, Adam", "circles", None, lambda: seeded(CircleModelV1)),
    case("circles, torch.relu in forward", "circles", None, lambda: seeded(FunctionalNet)),
    case("circles, SGD momentum 0.9 lr 0.1", "circles", None, lambda: mlp(2, 1), opt=momentum, lr=0.1),
    case("circles, Adam default lr 1e-3", "circles", None, lambda: mlp(2, 1), lr=1e-3),
    case("circles, trained already", "circles", None, lambda: mlp(2, 1), train_epochs=200),
    case("circles, own step, zero_grad last", "circles", None, lambda: mlp(2, 1), lr=0.01,
         step=student_step("loss", "backward", "step", "zero", item=True)),
    case("circles, own step, model.zero_grad", "circles", None, lambda: mlp(2, 1), lr=0.01,
         step=student_step("model.zero", "loss", "backward", "step")),

    case("circles, (N,1) targets and outputs", "circles", None, lambda: mlp(2, 1), step=step_no_squeeze,
         change=xy_columns, lr=0.01),
    case("moons, tanh 16x16, Adam", "moons", None, lambda: mlp(2, 1, act="tanh")),
    case("moons, leaky ReLU depth 3, dropout", "moons", None,
         lambda: mlp(2, 1, hidden=(32, 32, 32), act="leaky_relu", dropout=0.2), lr=0.01),
    case("moons, batch norm, SGD momentum 0.9", "moons", None, lambda: mlp(2, 1, batchnorm=True), opt=momentum, lr=0.1),
    case("moons, own step", "moons", None, lambda: mlp(2, 1, act="tanh"), step=step_good),
    case("xor, ReLU 8, Adam", "xor", None, lambda: mlp(2, 1, hidden=(8,)), lr=0.05),
    case("xor, ReLU 8, plain SGD lr 1", "xor", None, lambda: mlp(2, 1, hidden=(8,)), opt="sgd", lr=1.0),
    case("xor, own step, manual SGD", "xor", None, lambda: mlp(2, 1, hidden=(8,)), step=step_manual_sgd, lr=1.0),
    case("xor, tanh depth 3, SGD momentum", "xor", None, lambda: mlp(2, 1, hidden=(8, 8, 8), act="tanh"),
         opt=momentum, lr=0.1),
    case("blobs, ReLU 32x32, Adam", "blobs", None, lambda: mlp(2, 4, hidden=(32, 32))),
    case("blobs, own mini-batch step", "blobs", None, lambda: mlp(2, 4), step=step_minibatches, lr=0.01),
    case("spirals, ReLU 32x32, Adam", "spirals", None, lambda: mlp(2, 3, hidden=(32, 32))),
    case("spirals, batch norm + dropout", "spirals", None,
         lambda: mlp(2, 3, hidden=(64, 64), batchnorm=True, dropout=0.1), lr=0.01),
    case("spirals, leaky ReLU depth 3, SGD momentum", "spirals", None,
         lambda: mlp(2, 3, hidden=(32, 32, 32), act="leaky_relu"), opt=momentum, lr=0.1),
    case("digits, CrossEntropy on 10 classes", "digits", None, lambda: mlp(64, 10, hidden=(64,)), lr=0.01),
    case("digits, own step", "digits", None, lambda: mlp(64, 10, hidden=(64, 32), act="tanh"),
         step=student_step("train", "loss as is", "zero", "backward", "step", item=True), lr=0.01),
    case("digits, depth 0 (softmax regression), SGD", "digits", None, lambda: seeded(nn.Linear, 64, 10),
         opt="sgd", lr=0.5),
    case("digits, LogSoftmax + NLLLoss", "digits", None, lambda: mlp(64, 10, hidden=(64,), tail=(nn.LogSoftmax(1),)),
         loss=nn.NLLLoss(), lr=0.01),
    case("circles, Sigmoid + BCELoss", "circles", None, lambda: mlp(2, 1, tail=(nn.Sigmoid(),)), loss=nn.BCELoss()),

    # ---- planted bugs: the expected code must be found ----
    case("model_0: two Linear layers", "circles", "no-nonlinearity",
         lambda: seeded(nn.Sequential, nn.Linear(2, 5), nn.Linear(5, 1)), opt="sgd", lr=0.1),
    case("linear stack of 3, Adam", "moons", "no-nonlinearity", lambda: mlp(2, 1, hidden=(16, 16), act="")),
    case("Linear-BatchNorm-Dropout-Linear", "xor", "no-nonlinearity",
         lambda: mlp(2, 1, hidden=(8,), act="", batchnorm=True, dropout=0.2)),
    case("3 classes, two Linear layers", "spirals", "no-nonlinearity", lambda: mlp(2, 3, hidden=(32,), act="")),

    case("Sigmoid at the end, BCEWithLogits", "circles", "sigmoid-before-logits-loss",
         lambda: mlp(2, 1, tail=(nn.Sigmoid(),))),
    case("tanh net ending in Sigmoid", "moons", "sigmoid-before-logits-loss",
         lambda: mlp(2, 1, act="tanh", tail=(nn.Sigmoid(),))),
    case("torch.sigmoid in forward", "xor", "sigmoid-before-logits-loss",
         lambda: seeded(FunctionalNet, final=torch.sigmoid)),
    case("CircleModelV1 with Sigmoid output", "circles", "sigmoid-before-logits-loss",
         lambda: seeded(CircleModelV1, output=nn.Sigmoid())),

    case("Softmax at the end, CrossEntropy", "blobs", "softmax-before-cross-entropy",
         lambda: mlp(2, 4, tail=(nn.Softmax(dim=1),))),
    case("spirals, Softmax at the end", "spirals", "softmax-before-cross-entropy",
         lambda: mlp(2, 3, hidden=(32, 32), tail=(nn.Softmax(dim=1),))),
    case("digits, torch.softmax in forward", "digits", "softmax-before-cross-entropy",
         lambda: seeded(FunctionalNet, 64, 32, 10, final=lambda z: torch.softmax(z, dim=1)), lr=0.01),

    case("BCELoss on logits", "circles", "probabilities-expected", lambda: mlp(2, 1), loss=nn.BCELoss()),
    case("BCELoss on tanh-net logits", "moons", "probabilities-expected", lambda: mlp(2, 1, act="tanh"),
         loss=nn.BCELoss()),
    case("NLLLoss on logits", "digits", "probabilities-expected", lambda: mlp(64, 10, hidden=(64,)),
         loss=nn.NLLLoss(), lr=0.01),
    case("NLLLoss after Softmax", "blobs", "probabilities-expected", lambda: mlp(2, 4, tail=(nn.Softmax(dim=1),)),
         loss=nn.NLLLoss()),

    case("ReLU after the output layer", "circles", "relu-on-output", lambda: mlp(2, 1, tail=(nn.ReLU(),))),
    case("ReLU after 4 logits", "blobs", "relu-on-output", lambda: mlp(2, 4, tail=(nn.ReLU(),))),
    case("leaky net, ReLU at the end", "moons", "relu-on-output",
         lambda: mlp(2, 1, act="leaky_relu", tail=(nn.ReLU(),))),

    case("2 outputs with BCEWithLogits", "circles", "wrong-output-width", lambda: mlp(2, 2)),
    case("2 outputs for 3 spirals", "spirals", "wrong-output-width", lambda: mlp(2, 2, hidden=(32, 32))),
    case("1 output for 10 digits", "digits", "wrong-output-width", lambda: mlp(64, 1, hidden=(32,)), lr=0.01),
    case("1 output for 4 blobs", "blobs", "wrong-output-width", lambda: mlp(2, 1)),

    case("labels -1/+1 with BCE", "circles", "label-range", lambda: mlp(2, 1),
         change=change_labels(lambda y: 2 * y - 1)),
    case("spiral labels 1..3", "spirals", "label-range", lambda: mlp(2, 3, hidden=(32, 32)),
         change=change_labels(lambda y: y + 1)),
    case("float class indices", "blobs", "label-range", lambda: mlp(2, 4), change=change_labels(lambda y: y.float())),
    case("digit labels 1..10", "digits", "label-range", lambda: mlp(64, 10, hidden=(64,)),
         change=change_labels(lambda y: y + 1), lr=0.01),

    case("(N,1) logits vs (N,) labels, BCE", "circles", "shape-mismatch", lambda: mlp(2, 1), step=step_no_squeeze),
    case("(N,1) probabilities vs (N,) labels, MSE", "moons", "shape-mismatch", lambda: mlp(2, 1),
         loss=nn.MSELoss(), step=step_mse_probabilities),
    case("(N,) logits vs (N,1) labels", "xor", "shape-mismatch", lambda: mlp(2, 1, hidden=(8,)), step=step_good,
         change=xy_columns),
    case("first layer expects 3 features", "circles", "shape-mismatch", lambda: mlp(3, 1)),

    case("no zero_grad, SGD", "circles", "no-zero-grad", lambda: mlp(2, 1), opt="sgd", lr=0.1,
         step=student_step("train", "loss", "backward", "step")),
    case("no zero_grad, Adam, 3 classes", "spirals", "no-zero-grad", lambda: mlp(2, 3, hidden=(32, 32)),
         step=student_step("loss as is", "backward", "step", item=True), lr=0.01),
    case("no zero_grad, returns loss and accuracy", "moons", "no-zero-grad", lambda: mlp(2, 1, act="tanh"),
         step=step_no_zero_grad_printing),

    case("no backward", "circles", "no-backward", lambda: mlp(2, 1), step=student_step("loss", "zero", "step")),
    case("no backward, digits", "digits", "no-backward", lambda: mlp(64, 10, hidden=(32,)),
         step=student_step("zero", "loss as is", "step", item=True), lr=0.01),
    case("loss.item() and no backward", "xor", "no-backward", lambda: mlp(2, 1, hidden=(8,)),
         step=step_no_backward_item, opt="sgd", lr=0.1),

    case("no optimizer.step()", "circles", "no-step", lambda: mlp(2, 1), step=student_step("loss", "zero", "backward")),
    case("no optimizer.step(), blobs", "blobs", "no-step", lambda: mlp(2, 4),
         step=student_step("train", "zero", "loss as is", "backward", item=True)),
    case("model.zero_grad, no step", "moons", "no-step", lambda: mlp(2, 1, act="tanh"), opt="sgd", lr=0.1,
         step=student_step("model.zero", "loss", "backward")),

    case("step() before the forward pass", "circles", "step-order", lambda: mlp(2, 1),
         step=student_step("zero", "step", "loss", "backward")),
    case("step() between zero_grad and backward", "moons", "step-order", lambda: mlp(2, 1), opt="sgd", lr=0.1,
         step=student_step("loss", "zero", "step", "backward")),
    case("step() first, 3 classes", "spirals", "step-order", lambda: mlp(2, 3, hidden=(32, 32)), lr=0.01,
         step=student_step("loss as is", "step", "zero", "backward")),

    case("loss rebuilt from .item()", "circles", "detached-loss", lambda: mlp(2, 1), step=step_detached_item),
    case("logits detached, loss.requires_grad = True", "moons", "detached-loss", lambda: mlp(2, 1),
         step=step_detached_logits),
    case("forward in inference_mode", "blobs", "detached-loss", lambda: mlp(2, 4), step=step_forward_in_inference_mode),

    case("optimizer over the previous model", "circles", "optimizer-not-on-model", lambda: mlp(2, 1),
         opt_over=lambda m: mlp(2, 1).parameters()),  # the previous model, still in a variable
    case("optimizer before the model was rebuilt", "moons", "optimizer-not-on-model", lambda: mlp(2, 1),
         opt_over=lambda m: copy.deepcopy(m).parameters()),  # before the model cell was re-run
    case("optimizer over the first layer only", "xor", "optimizer-not-on-model", lambda: mlp(2, 1, hidden=(8,)),
         opt_over=lambda m: m[0].parameters()),

    case("first layer's weight frozen", "circles", "frozen-parameters", lambda: mlp(2, 1),
         change=change_model(lambda m: m[0].weight.requires_grad_(False))),
    case("every parameter frozen", "digits", "frozen-parameters", lambda: mlp(64, 10, hidden=(32,)),
         change=change_model(lambda m: m.requires_grad_(False)), lr=0.01),
    case("CircleModelV1.layer_2 frozen", "circles", "frozen-parameters", lambda: seeded(CircleModelV1),
         change=change_model(lambda m: m.layer_2.requires_grad_(False))),

    case("SGD lr 10", "circles", "lr-too-high", lambda: mlp(2, 1), opt="sgd", lr=10.0),
    case("Adam lr 1", "circles", "lr-too-high", lambda: mlp(2, 1), lr=1.0),
    case("Adam lr 5, tanh", "moons", "lr-too-high", lambda: mlp(2, 1, act="tanh"), lr=5.0),
    case("logistic regression, SGD lr 500", "moons", "lr-too-high", lambda: seeded(nn.Linear, 2, 1), opt="sgd",
         lr=500.0),
    case("digits, SGD lr 50", "digits", "lr-too-high", lambda: mlp(64, 10, hidden=(64,)), opt="sgd", lr=50.0),

    case("SGD lr 1e-6", "circles", "lr-too-low", lambda: mlp(2, 1), opt="sgd", lr=1e-6),
    case("Adam lr 1e-6, 3 classes", "spirals", "lr-too-low", lambda: mlp(2, 3, hidden=(32, 32)), lr=1e-6),
    case("SGD lr 1e-5, tanh", "moons", "lr-too-low", lambda: mlp(2, 1, act="tanh"), opt="sgd", lr=1e-5),

    case("second feature in thousandths", "circles", "unscaled-inputs", lambda: mlp(2, 1),
         change=change_inputs(lambda X: X * torch.tensor([1.0, 1000.0]))),
    case("moons shifted by 500", "moons", "unscaled-inputs", lambda: mlp(2, 1),
         change=change_inputs(lambda X: X + torch.tensor([500.0, 0.0]))),
    case("digits in raw units x 100", "digits", "unscaled-inputs", lambda: mlp(64, 10, hidden=(64,)),
         change=change_inputs(lambda X: X * 1600.0), lr=0.01),

    case("after training at SGD lr 10", "circles", "dead-units", lambda: mlp(2, 1), opt="sgd", lr=0.1,
         train_epochs=20, train_lr=10.0),
    case("biases initialised to -5", "spirals", "dead-units", lambda: mlp(2, 3, hidden=(32, 32)), lr=0.01,
         change=change_model(lambda m: nn.init.constant_(m[0].bias, -5.0))),
    case("after training at Adam lr 3", "moons", "dead-units", lambda: mlp(2, 1, hidden=(32, 32)), lr=0.01,
         train_epochs=20, train_lr=3.0),

    case("every weight zero", "circles", "constant-init", lambda: mlp(2, 1), change=change_model(zeros_everywhere)),
    case("every weight 0.5", "moons", "constant-init", lambda: mlp(2, 1, act="tanh"),
         change=change_model(constant_half)),
    case("zero first layer, tanh", "spirals", "constant-init", lambda: mlp(2, 3, act="tanh"),
         change=change_model(zero_first_layer)),

    # ---- causes beyond the required codes ----
    case("zero_grad between backward and step", "circles", "zero-grad-after-backward", lambda: mlp(2, 1),
         step=student_step("loss", "backward", "zero", "step")),
    case("float64 features", "moons", "dtype-mismatch", lambda: mlp(2, 1), change=change_inputs(lambda X: X.double())),
    case("int64 targets into BCE", "xor", "dtype-mismatch", lambda: mlp(2, 1, hidden=(8,)), step=step_long_targets),
]


# ---- running them
def _healthy_accuracy(model, X, y, loss_fn, optimizer, step) -> float:
    """Train a copy of a setup for 300 full-batch epochs (with its own step when it has one)."""
    from helper_functions import accuracy, fit, predict

    model, optimizer = copy.deepcopy((model, optimizer))
    if step is None:
        fit(model, loss_fn, optimizer, X, y, epochs=300, log_every=None)
    else:
        for _ in range(300):
            step(model, X, y, loss_fn, optimizer)
    if isinstance(model, nn.Sequential) and isinstance(model[-1], nn.Sigmoid):  # outputs are probabilities
        model.eval()
        with torch.no_grad():
            return accuracy(y, (model(X).squeeze(1) > 0.5).long())
    return accuracy(y.reshape(-1), predict(model, X))


def run(seeds) -> dict:
    """Diagnose every case for every seed (it changes the data and initial weights); the results for the JSON."""
    from helper_functions import _same_state, diagnose

    global SEED
    rows = []
    for seed, c in [(seed, c) for seed in seeds for c in CASES]:
        SEED = seed
        model, X, y, loss_fn, optimizer, step = c["build"]()
        before = copy.deepcopy((model.state_dict(), optimizer.state_dict()))
        wall, cpu_time = time.perf_counter(), time.process_time()
        diagnosis = diagnose(model, X, y, loss_fn, optimizer, step)
        wall, cpu_time = time.perf_counter() - wall, time.process_time() - cpu_time
        row = {"seed": seed, "name": c["name"], "data": c["data"], "expect": c["expect"], "codes": diagnosis.codes,
               "seconds": round(wall, 3), "cpu_seconds": round(cpu_time, 3),
               "unchanged": _same_state(before[0], model.state_dict())
               and _same_state(before[1], optimizer.state_dict())}
        row["found"] = c["expect"] in diagnosis.codes if c["expect"] else not diagnosis.codes
        if c["expect"] in (None, "lr-too-high", "lr-too-low", "dead-units"):
            row["train_acc_after_300_epochs"] = round(_healthy_accuracy(model, X, y, loss_fn, optimizer, step), 3)
        rows.append(row)
        mark = "ok " if row["found"] else "MISS" if c["expect"] else "FALSE ALARM"
        print(f"{mark:<11} {seed:>2} {c['expect'] or 'healthy':<28} {c['name']:<45} {diagnosis.codes} {wall:.2f}s",
              flush=True)
    return summarise(rows)


def summarise(rows: list[dict]) -> dict:
    planted = [r for r in rows if r["expect"]]
    healthy = [r for r in rows if not r["expect"]]
    per_code = {}
    for r in planted:
        entry = per_code.setdefault(r["expect"], {"planted": 0, "found": 0})
        entry["planted"] += 1
        entry["found"] += r["found"]
    slowest = max(rows, key=lambda r: r["seconds"])
    found = sum(r["found"] for r in planted)
    s = {"planted": len(planted), "found": found, "recall": round(found / len(planted), 4),
         "healthy": len(healthy), "false_alarms": sum(not r["found"] for r in healthy),
         "slowest_seconds": slowest["seconds"], "slowest_case": slowest["name"],
         "median_seconds": float(np.median([r["seconds"] for r in rows])),
         "changed_callers": sum(not r["unchanged"] for r in rows), "per_code": per_code}
    s["targets_met"] = bool(
        s["recall"] >= 0.9 and s["false_alarms"] == 0 and s["slowest_seconds"] <= TARGET_SECONDS
        and s["changed_callers"] == 0 and all(code in per_code for code in REQUIRED_CODES)
        and all(v["found"] >= min(2, v["planted"]) and v["found"] / v["planted"] >= 2 / 3 for v in per_code.values()))
    return {"summary": s, "cases": rows}


def markdown(results: dict) -> str:
    s, cases, meta = results["summary"], results["cases"], results["meta"]
    seeds = sorted({r["seed"] for r in cases})
    lines = [
        *header("Network doctor: detection benchmark", "python -m tests.benchmarks.doctor_benchmark",
                f"threads: OMP_NUM_THREADS={meta['threads']}"),
        f"- Load average (1 min) at start and end: {meta['load_start']} and {meta['load_end']} "
        "(a shared machine: wall times include waiting for a core)", "",
        f"**{s['found']} of {s['planted']} planted bugs named ({100 * s['recall']:.0f}% recall), "
        f"{s['false_alarms']} false alarms on {s['healthy']} healthy setups, slowest call {s['slowest_seconds']:.2f} s "
        f"(median {s['median_seconds']:.2f} s), {s['changed_callers']} callers' models or optimizers changed.** "
        f"Targets (recall ≥ 90%, ≥ 2 of 3 per code, 0 false alarms, every call ≤ 5 s): "
        f"{'met ✅' if s['targets_met'] else 'MISSED ❌'}", "",
        *table(["Code", "Planted:", "Named:", "Cases (data set: bug)"],
               [(f"`{code}`", v["planted"], v["found"], _case_list(cases, code)) for code, v in s["per_code"].items()]),
        "", f"Seeds: {', '.join(map(str, seeds))} (each seed changes the data and the initial weights). "
        "In brackets: the lowest-highest training accuracy a copy reaches in 300 full-batch epochs over the "
        "seeds, which shows that the healthy setups train and that the learning-rate and dead-unit bugs hurt. "
        "Healthy setups:", "", _case_list(cases, None),
    ]
    return "\n".join(lines) + "\n"


def _case_list(cases: list[dict], code) -> str:
    """'data: name (k/n)' for every case with this expected code (None: healthy), in order."""
    parts = []
    for name in dict.fromkeys(r["name"] for r in cases if r["expect"] == code):
        runs = [r for r in cases if r["name"] == name]
        ok = sum(r["found"] for r in runs)
        text = f"{runs[0]['data']}: {name}"
        if ok < len(runs):
            text += f" ({'clean' if code is None else 'named'} {ok}/{len(runs)}"
            text += f": {sorted({c for r in runs if not r['found'] for c in r['codes']})})" if code is None else ")"
        accs = [r["train_acc_after_300_epochs"] for r in runs if "train_acc_after_300_epochs" in r]
        if accs:
            text += f" [{min(accs):.2f}]" if len(accs) == 1 else f" [{min(accs):.2f}-{max(accs):.2f}]"
        parts.append(text)
    return "; ".join(parts)


def to_json(results: dict) -> str:
    """The results as JSON with one line per case (a diff shows which case changed)."""
    head = json.dumps({k: v for k, v in results.items() if k != "cases"}, indent=1)[:-2]
    rows = ",\n  ".join(json.dumps(r, ensure_ascii=False) for r in results["cases"])
    return f'{head},\n "cases": [\n  {rows}\n ]\n}}\n'


SWEEP_NETS = [((4,), "relu"), ((5,), "relu"), ((3,), "relu"), ((4, 4), "relu"), ((8, 8, 8), "relu"),
              ((16, 16, 16), "relu"), ((4, 4, 4), "tanh"), ((10, 10), "leaky_relu")]
SWEEP_OPTIMIZERS = [("Adam", 0.02), ("Adam", 0.1), ("Adam", 0.001), ("SGD", 0.1), ("SGD", 1.0),
                    ("SGD momentum 0.9", 0.1)]


def sweep(seeds, out: pathlib.Path) -> None:
    """Every network of ``SWEEP_NETS`` (narrow ones too, where random init often leaves dead units) with every
    optimizer of ``SWEEP_OPTIMIZERS`` on the five 2-D data sets, per seed, no bug planted. Whatever the doctor names
    there is a false alarm or a setup that really trains badly, so each named setup is trained (300 full-batch
    epochs) and its accuracy listed. Writes ``doctor_sweep.md``."""
    from helper_functions import diagnose, fit

    global SEED
    total, named = 0, []
    for seed in seeds:
        SEED = seed
        for data in ("circles", "moons", "xor", "blobs", "spirals"):
            X, y = dataset(data)
            d_out = {"blobs": 4, "spirals": 3}.get(data, 1)
            loss_fn = nn.CrossEntropyLoss() if d_out > 1 else nn.BCEWithLogitsLoss()
            for (hidden, act), (opt_name, lr) in [(n, o) for n in SWEEP_NETS for o in SWEEP_OPTIMIZERS]:
                model = mlp(2, d_out, hidden=hidden, act=act)
                make = {"Adam": torch.optim.Adam, "SGD": torch.optim.SGD, "SGD momentum 0.9": momentum}[opt_name]
                optimizer = make(model.parameters(), lr=lr)
                codes = diagnose(model, X, y, loss_fn, optimizer).codes
                total += 1
                if codes:
                    history = fit(model, loss_fn, optimizer, X, y, epochs=300, log_every=None)
                    named.append((seed, data, hidden, act, opt_name, lr, ", ".join(codes),
                                  f"{history['train_acc'][-1]:.2f}"))
                    print(named[-1], flush=True)
    lines = ["# Network doctor: sweep of small networks without planted bugs", "",
             f"Command: `python -m tests.benchmarks.doctor_benchmark --sweep {','.join(map(str, seeds))}`", "",
             f"{total} setups ({len(SWEEP_NETS)} networks x {len(SWEEP_OPTIMIZERS)} optimizers x 5 data sets x "
             f"{len(seeds)} seeds); the doctor named something in {len(named)}. Each of those trained for 300 "
             "full-batch epochs (for comparison: the healthy setups of `doctor.md` reach 0.95-1.00 in as many "
             "epochs):", "",
             *table(["Seed:", "Data", "Hidden", "Activation", "Optimizer", "lr:", "Codes", "Train accuracy:"], named)]
    write(out / "doctor_sweep.md", "\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS, help="folder for doctor.json and doctor.md")
    parser.add_argument("--seeds", default="42,0,1,2,3,4", help="comma-separated seeds (default: 42,0,1,2,3,4)")
    parser.add_argument("--sweep", default="", help="instead: the sweep of small networks for these seeds, e.g. 0,1,2")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.sweep:
        sweep(tuple(int(v) for v in args.sweep.split(",")), args.out)
        return 0
    load_start = load()
    results = run(tuple(int(v) for v in args.seeds.split(",")))
    results["meta"] = {"date": dt.date.today().isoformat(), "machine": cpu(), "python": platform.python_version(),
                       "torch": torch.__version__, "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
                       "load_start": load_start, "load_end": load()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "doctor.json").write_text(to_json(results))
    write(args.out / "doctor.md", markdown(results))
    return 0 if results["summary"]["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
