"""Seed sweep: every thresholded training claim of the lesson, for seeds 0-19.

One command (from the repository root)::

    python tests/benchmarks/seed_sweep.py

Each recipe below rebuilds one claim a notebook asserts (e.g. "test accuracy
>= 0.99" after training a ReLU network on the circles) with the notebook's
exact data call, split, architecture, optimizer, learning rate, epochs and
batch size, through ``helper_functions`` (data makers, ``fit``, ``predict``,
``accuracy``). The notebook uses ``SEED = 42``; here the seed takes each value
0..19 (``--seeds``) in every place the notebook uses ``SEED``: the data's
``random_state`` where the data are random, the train/test split, and
``torch.manual_seed`` right before each model is built. A claim holds when
all 20 seeds clear its threshold; upper-bound claims (a model that *fails*,
e.g. "a straight line stays below 0.6 on circles") are swept too.

Runs on 2 worker processes (``--workers``), one torch thread each
(``OMP_NUM_THREADS=1``), on the device the notebooks would use
(``helper_functions.get_device()``: CUDA when available; ``--device cpu``
to force the CPU). Writes a Markdown table (min / median /
max per claim and the seeds that miss) to
``tests/benchmarks/results/seed_sweep.md`` (``--out``) and exits with status 1
when any claim misses its threshold for any seed. ``pytest -m slow`` runs the
same recipes as tests (``tests/test_seed_sweep.py``).

Keep each recipe in step with its notebook: the ``source`` of each recipe
names the notebook and section it mirrors.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported, here and in the workers
os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import datetime as dt  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import operator  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits, load_iris, make_blobs, make_circles, make_moons  # noqa: E402
from sklearn.metrics import f1_score, precision_score, recall_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from torch import nn  # noqa: E402

from helper_functions import accuracy, fit, get_device, make_spirals, make_xor, predict  # noqa: E402

DEFAULT_OUT = ROOT / "tests" / "benchmarks" / "results" / "seed_sweep.md"
SEEDS = range(20)
# The notebooks' device cell: CUDA when available. ``--device`` overrides it (for the workers too).
DEVICE = os.environ.get("SEED_SWEEP_DEVICE") or str(get_device())
OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Claim:
    """One asserted inequality on one metric a recipe returns."""

    metric: str
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Recipe:
    """A training recipe copied from a notebook, and the claims the notebook asserts on it."""

    name: str
    source: str  # notebook and section it mirrors
    run: Callable[[int], dict[str, float]]  # seed -> metrics
    claims: tuple[Claim, ...]
    pending: str = ""  # non-empty: not yet rebuilt from a committed notebook (why)
    observed: tuple[str, ...] = ()  # metrics reported for information, not claimed by the notebook


# --------------------------------------------------------------------------
# Shared pieces (each mirrors code in the notebooks, named after it)
# --------------------------------------------------------------------------
def split(X, y, seed, stratify=None):
    """The notebooks' 80/20 split: ``train_test_split(X, y, test_size=0.2, random_state=SEED)``."""
    return train_test_split(X, y, test_size=0.2, random_state=seed, stratify=stratify)


def train(model, loss_fn, optimizer, X_train, y_train, epochs, batch_size=None):
    fit(model, loss_fn, optimizer, X_train, y_train, epochs=epochs, batch_size=batch_size, log_every=None)
    return model


def accuracy_on(model, X_test, y_test) -> float:
    return accuracy(y_test, predict(model, X_test))


# --------------------------------------------------------------------------
# 02_neural_networks_classification.ipynb
# --------------------------------------------------------------------------
def nb02_circles(seed):
    """Section 1: ``make_circles(n_samples=1000, noise=0.03, random_state=SEED)``, 80/20 split."""
    X, y = make_circles(n_samples=1000, noise=0.03, random_state=seed)
    return split(X.astype(np.float32), y, seed)


def nb02_linear_stack(hidden_units, hidden_layers):
    """Section 7's ``linear_stack``: Linear layers only, then one logit."""
    sizes = [2] + [hidden_units] * hidden_layers
    layers = [nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
    return nn.Sequential(*layers, nn.Linear(hidden_units, 1))


def nb02_circle_model_v1(hidden_units=16):
    """Section 8's ``CircleModelV1``: 2 -> 16 -> ReLU -> 16 -> ReLU -> 1 (layers built in this order)."""
    return nn.Sequential(
        nn.Linear(2, hidden_units), nn.ReLU(), nn.Linear(hidden_units, hidden_units), nn.ReLU(),
        nn.Linear(hidden_units, 1),
    )


def nb02_run_experiment(seed, hidden_units, hidden_layers, epochs, optimizer_name, lr, X_train, y_train):
    """Section 7's ``run_experiment``: seed, build a linear stack, train full batch."""
    torch.manual_seed(seed)
    model = nb02_linear_stack(hidden_units, hidden_layers).to(DEVICE)
    optimizer_class = torch.optim.Adam if optimizer_name == "Adam" else torch.optim.SGD
    return train(model, nn.BCEWithLogitsLoss(), optimizer_class(model.parameters(), lr=lr), X_train, y_train, epochs)


def nb02_model_0(seed):
    """Sections 3-6: CircleModelV0 (2 -> 5 -> 1, no activation), SGD lr 0.1, 100 epochs, full batch.

    The notebook writes this loop by hand; it does exactly what ``fit`` does
    (forward, loss, zero_grad, backward, step on the full training set).
    """
    X_train, X_test, y_train, y_test = nb02_circles(seed)
    model = nb02_run_experiment(seed, 5, 1, 100, "SGD", 0.1, X_train, y_train)
    return {"test_acc": accuracy_on(model, X_test, y_test)}


NB02_EXPERIMENTS = {  # section 7: name: (hidden_units, hidden_layers, epochs, optimizer, lr)
    "baseline (model_0)": (5, 1, 100, "SGD", 0.1),
    "more hidden units": (32, 1, 100, "SGD", 0.1),
    "more layers": (5, 3, 100, "SGD", 0.1),
    "more epochs": (5, 1, 300, "SGD", 0.1),
    "larger learning rate": (5, 1, 100, "SGD", 1.0),
    "all at once, with Adam": (16, 2, 100, "Adam", 0.02),
}


def nb02_linear_experiments(seed):
    """Section 7: every linear experiment stays at guessing on the circles (the max is asserted < 0.6)."""
    X_train, X_test, y_train, y_test = nb02_circles(seed)
    accs = [accuracy_on(nb02_run_experiment(seed, *config, X_train, y_train), X_test, y_test)
            for config in NB02_EXPERIMENTS.values()]
    return {"max test_acc": max(accs)}


def nb02_line_labels(seed):
    """Section 7: the baseline recipe on labels ``x1 + x2 > 0`` (a line separates them)."""
    X_train, X_test, _, _ = nb02_circles(seed)
    y_line_train = (X_train[:, 0] + X_train[:, 1] > 0).astype(np.int64)
    y_line_test = (X_test[:, 0] + X_test[:, 1] > 0).astype(np.int64)
    model = nb02_run_experiment(seed, 5, 1, 100, "SGD", 0.1, X_train, y_line_train)
    return {"test_acc": accuracy_on(model, X_test, y_line_test)}


def nb02_circles_relu(seed):
    """Section 8: CircleModelV1, Adam lr 0.02, 100 epochs, full batch."""
    X_train, X_test, y_train, y_test = nb02_circles(seed)
    torch.manual_seed(seed)
    model = nb02_circle_model_v1().to(DEVICE)
    train(model, nn.BCEWithLogitsLoss(), torch.optim.Adam(model.parameters(), lr=0.02), X_train, y_train, 100)
    return {"test_acc": accuracy_on(model, X_test, y_test)}


def nb02_xor_data(seed):
    """Section 9: ``make_xor(n_samples=1000, noise=0.1, random_state=SEED)``, 80/20 split."""
    X, y = make_xor(n_samples=1000, noise=0.1, random_state=seed)
    return X, y, *split(X, y, seed)


def nb02_xor_best_line(seed):
    """Section 9: the best of 2 x 90 x 61 straight lines on all 1000 XOR points."""
    X, y, *_ = nb02_xor_data(seed)
    X, y = torch.from_numpy(X), torch.from_numpy(y).float()
    angles = torch.linspace(0, torch.pi, 90)
    offsets = torch.linspace(-1.5, 1.5, 61)
    normals = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # (90, 2)
    positive_side = (X @ normals.T)[:, :, None] > offsets  # (1000, 90, 61)
    line_acc = (positive_side == y.bool()[:, None, None]).float().mean(dim=0)
    line_acc = torch.maximum(line_acc, 1 - line_acc)
    return {"best line acc": line_acc.max().item()}


def nb02_xor(seed, activation: bool):
    """Section 9: 2 -> 8 (-> ReLU) -> 1, Adam lr 0.05, 100 epochs, full batch."""
    _, _, X_train, X_test, y_train, y_test = nb02_xor_data(seed)
    torch.manual_seed(seed)
    if activation:
        model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1)).to(DEVICE)
    else:
        model = nn.Sequential(nn.Linear(2, 8), nn.Linear(8, 1)).to(DEVICE)
    train(model, nn.BCEWithLogitsLoss(), torch.optim.Adam(model.parameters(), lr=0.05), X_train, y_train, 100)
    metrics = {"test_acc": accuracy_on(model, X_test, y_test)}
    if not activation:  # "no opinion" everywhere: probabilities on all 1000 points near 0.5
        X_all = torch.from_numpy(nb02_xor_data(seed)[0]).to(DEVICE)
        with torch.inference_mode():
            metrics["max |p - 0.5|, all points"] = (torch.sigmoid(model(X_all)) - 0.5).abs().max().item()
    return metrics


def nb02_xor_linear(seed):
    return nb02_xor(seed, activation=False)


def nb02_xor_relu(seed):
    return nb02_xor(seed, activation=True)


def nb02_multiclass_model(out_features, in_features=2, hidden_units=32):
    """Section 11's ``MultiClassModel``: 2 -> 32 -> ReLU -> 32 -> ReLU -> C logits."""
    return nn.Sequential(
        nn.Linear(in_features, hidden_units), nn.ReLU(), nn.Linear(hidden_units, hidden_units), nn.ReLU(),
        nn.Linear(hidden_units, out_features),
    )


def nb02_blobs(seed):
    """Section 11: four blobs at (±3, ±3), std 1.0; MultiClassModel(4), Adam lr 0.02, 50 epochs."""
    X, y = make_blobs(n_samples=1000, centers=[[-3, 3], [3, 3], [-3, -3], [3, -3]], cluster_std=1.0,
                      random_state=seed)
    X_train, X_test, y_train, y_test = split(X.astype(np.float32), y, seed)
    torch.manual_seed(seed)
    model = nb02_multiclass_model(4).to(DEVICE)
    train(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.02), X_train, y_train, 50)
    return {"test_acc": accuracy_on(model, X_test, y_test)}


def nb02_spirals(seed):
    """Sections 11-12: make_spirals(1000, 3, 0.2); MultiClassModel(3), Adam lr 0.02, 150 epochs; accuracy and
    macro F1."""
    X, y = make_spirals(n_samples=1000, n_classes=3, noise=0.2, random_state=seed)
    X_train, X_test, y_train, y_test = split(X, y, seed)
    torch.manual_seed(seed)
    model = nb02_multiclass_model(3).to(DEVICE)
    train(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.02), X_train, y_train, 150)
    y_pred = predict(model, X_test).numpy()
    return {"test_acc": accuracy(y_test, y_pred), "macro F1": float(f1_score(y_test, y_pred, average="macro"))}


def nb02_imbalanced(seed):
    """Section 12: circles with all outer points and the first 100 inner ones, stratified split; a linear stack
    (16 units, 2 layers) and CircleModelV1, each Adam lr 0.05, 100 epochs."""
    X, y = make_circles(n_samples=1000, noise=0.03, random_state=seed)
    keep = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:100]])
    X, y = X[keep].astype(np.float32), y[keep]
    X_train, X_test, y_train, y_test = split(X, y, seed, stratify=y)
    metrics = {}
    for name, build in [("linear", lambda: nb02_linear_stack(16, 2)), ("ReLU", nb02_circle_model_v1)]:
        torch.manual_seed(seed)
        model = build().to(DEVICE)
        train(model, nn.BCEWithLogitsLoss(), torch.optim.Adam(model.parameters(), lr=0.05), X_train, y_train, 100)
        y_pred = predict(model, X_test).numpy()
        metrics[f"{name} accuracy"] = accuracy(y_test, y_pred)
        metrics[f"{name} precision"] = float(precision_score(y_test, y_pred, zero_division=0))
        metrics[f"{name} recall"] = float(recall_score(y_test, y_pred))
        metrics[f"{name} F1"] = float(f1_score(y_test, y_pred))
    return metrics


NB02 = "02_neural_networks_classification.ipynb"  # recipes as in commit 8933007
RECIPES = [
    Recipe("nb02-circles-linear-model_0", f"{NB02} §5-6 model_0", nb02_model_0,
           (Claim("test_acc", "<", 0.6),)),
    Recipe("nb02-circles-linear-experiments", f"{NB02} §7 experiments", nb02_linear_experiments,
           (Claim("max test_acc", "<", 0.6),)),
    Recipe("nb02-line-labels", f"{NB02} §7 model_line", nb02_line_labels, (Claim("test_acc", ">=", 0.95),)),
    Recipe("nb02-circles-relu", f"{NB02} §8 model_1", nb02_circles_relu,
           (Claim("test_acc", ">=", 0.99),)),
    Recipe("nb02-xor-best-line", f"{NB02} §9 lines tried", nb02_xor_best_line,
           (Claim("best line acc", "<=", 0.76),)),
    Recipe("nb02-xor-linear", f"{NB02} §9 xor_linear", nb02_xor_linear,
           (Claim("test_acc", "<", 0.75), Claim("max |p - 0.5|, all points", "<", 0.1))),
    Recipe("nb02-xor-relu", f"{NB02} §9 xor_mlp", nb02_xor_relu, (Claim("test_acc", ">=", 0.99),)),
    Recipe("nb02-blobs", f"{NB02} §11 blob_model", nb02_blobs, (Claim("test_acc", ">=", 0.97),)),
    Recipe("nb02-spirals", f"{NB02} §11-12 spiral_model", nb02_spirals,
           (Claim("test_acc", ">=", 0.97), Claim("macro F1", ">=", 0.97))),
    Recipe("nb02-imbalanced-circles", f"{NB02} §12 imbalanced", nb02_imbalanced,
           (Claim("linear accuracy", ">=", 0.8), Claim("linear recall", "<=", 0.1),
            Claim("ReLU recall", ">=", 0.85), Claim("ReLU F1", ">=", 0.9))),
]


# --------------------------------------------------------------------------
# solutions/02_neural_networks_exercises_solutions.ipynb (the template has no training)
# --------------------------------------------------------------------------
def ex_binary_mlp(hidden_units, activation=nn.ReLU, depth=2):
    """2 -> hidden (-> act) [-> hidden -> act] -> 1 logit, as the solutions write it."""
    layers = [nn.Linear(2, hidden_units), activation()]
    if depth == 2:
        layers += [nn.Linear(hidden_units, hidden_units), activation()]
    return nn.Sequential(*layers, nn.Linear(hidden_units, 1)).to(DEVICE)


def ex4_moons(seed):
    """Exercises 1-4: make_moons(1000, noise=0.03), 80/20 split; 2 -> 32 -> ReLU -> 32 -> ReLU -> 1; Adam lr 0.01;
    300 epochs of a hand-written full-batch loop (the same steps as ``fit``)."""
    X, y = make_moons(n_samples=1000, noise=0.03, random_state=seed)
    X_train, X_test, y_train, y_test = split(X.astype(np.float32), y, seed)
    torch.manual_seed(seed)
    model = ex_binary_mlp(32)
    train(model, nn.BCEWithLogitsLoss(), torch.optim.Adam(model.parameters(), lr=0.01), X_train, y_train, 300)
    return {"test_acc": accuracy_on(model, X_test, y_test)}


def ex7_spirals(seed):
    """Exercise 7: make_spirals(1000, 3), stratified 80/20 split; 2 -> 64 -> ReLU -> 64 -> ReLU -> 3; Adam lr 0.01,
    300 epochs, full batch."""
    X, y = make_spirals(n_samples=1000, n_classes=3, random_state=seed)
    X_train, X_test, y_train, y_test = split(X, y, seed, stratify=y)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3)).to(DEVICE)
    train(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.01), X_train, y_train, 300)
    return {"test_acc": accuracy_on(model, X_test, y_test)}


def ex_xor_split(seed):
    """Exercise 8's data: make_xor(1000, noise=0.1), 80/20 split."""
    X, y = make_xor(n_samples=1000, noise=0.1, random_state=seed)
    return split(X, y, seed)


def ex8_xor(seed):
    """Exercise 8: 2 -> 8 -> ReLU -> 1, Adam lr 0.05, 100 epochs, full batch."""
    X_train, X_test, y_train, y_test = ex_xor_split(seed)
    torch.manual_seed(seed)
    model = ex_binary_mlp(8, depth=1)
    train(model, nn.BCEWithLogitsLoss(), torch.optim.Adam(model.parameters(), lr=0.05), X_train, y_train, 100)
    return {"test_acc": accuracy_on(model, X_test, y_test)}


def ex9_activations(seed):
    """Exercise 9: on exercise 8's split, 2 -> 8 -> {sigmoid, ReLU, tanh} -> 1, Adam lr 0.01, 200 epochs each."""
    X_train, X_test, y_train, y_test = ex_xor_split(seed)
    metrics = {}
    for name, activation in {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}.items():
        torch.manual_seed(seed)
        model = ex_binary_mlp(8, activation, depth=1)
        train(model, nn.BCEWithLogitsLoss(), torch.optim.Adam(model.parameters(), lr=0.01), X_train, y_train, 200)
        metrics[f"{name} test_acc"] = accuracy_on(model, X_test, y_test)
    metrics["min test_acc"] = min(metrics.values())
    return metrics


def ex_standardised(loader, seed):
    """Exercise 10's data: stratified 80/20 split, StandardScaler fitted on the training split."""
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = split(X, y, seed, stratify=y)
    scaler = StandardScaler().fit(X_train)
    return (scaler.transform(X_train).astype(np.float32), scaler.transform(X_test).astype(np.float32),
            y_train, y_test)


IRIS_SPLIT_SEED = 42  # the solution fixes the Iris split (see its exercise 10); SEED drives only the model


def ex10_iris(seed):
    """Exercise 10: Iris on the fixed split, 4 -> 16 -> ReLU -> 3, Adam lr 0.01, 200 epochs, full batch.

    Also measured, not claimed: the same recipe when the split follows the seed too. With 30 test
    flowers one mistake costs 0.033, and some splits put two flowers that no model gets right into the
    test set, which is why the solution keeps the split fixed."""
    metrics = {}
    for metric, split_seed in (("test_acc", IRIS_SPLIT_SEED), ("test_acc, split varied too", seed)):
        X_train, X_test, y_train, y_test = ex_standardised(load_iris, split_seed)
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)).to(DEVICE)
        train(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.01), X_train, y_train, 200)
        metrics[metric] = accuracy_on(model, X_test, y_test)
    return metrics


def ex10_digits(seed):
    """Exercise 10: digits, 64 -> 128 -> ReLU -> 10, Adam lr 0.01, 100 epochs, full batch."""
    X_train, X_test, y_train, y_test = ex_standardised(load_digits, seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(DEVICE)
    train(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.01), X_train, y_train, 100)
    return {"test_acc": accuracy_on(model, X_test, y_test)}


def ex11_optimizers(seed):
    """Exercise 11: 20% of the digits training split held out; 64 -> 64 -> ReLU -> 10 with SGD 0.1, momentum 0.9,
    RMSprop 0.001, Adam 0.001; 15 epochs of mini-batches of 64. The claim is the check's criterion (no assert)."""
    X_train, _, y_train, _ = ex_standardised(load_digits, seed)
    fit_idx, val_idx = train_test_split(np.arange(len(y_train)), test_size=0.2, random_state=seed, stratify=y_train)
    optimizers = {
        "SGD": lambda params: torch.optim.SGD(params, lr=0.1),
        "Momentum": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
        "RMSprop": lambda params: torch.optim.RMSprop(params, lr=0.001),
        "Adam": lambda params: torch.optim.Adam(params, lr=0.001),
    }
    metrics = {}
    for name, make_optimizer in optimizers.items():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).to(DEVICE)
        train(model, nn.CrossEntropyLoss(), make_optimizer(model.parameters()), X_train[fit_idx], y_train[fit_idx],
              15, batch_size=64)
        metrics[f"{name} val_acc"] = accuracy_on(model, X_train[val_idx], y_train[val_idx])
    metrics["best val_acc"] = max(metrics.values())
    return metrics


def ex12_regularization(seed):
    """Exercise 12: 100 digits from the training split (and 300 for validation); 64 -> 512 -> 512 -> 10 with
    dropout p; full-batch Adam lr 0.01, 100 epochs: none, L1 3e-4, L2 (weight decay) 1e-2, dropout 0.5."""
    X_train, _, y_train, _ = ex_standardised(load_digits, seed)
    small_idx, val_idx = train_test_split(np.arange(len(y_train)), train_size=100, test_size=300,
                                          random_state=seed, stratify=y_train)
    X_small = torch.from_numpy(X_train[small_idx]).to(DEVICE)
    y_small = torch.from_numpy(y_train[small_idx]).to(DEVICE)
    X_val = torch.from_numpy(X_train[val_idx]).to(DEVICE)
    y_val = torch.from_numpy(y_train[val_idx]).to(DEVICE)

    def make_wide_model(dropout=0.0):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Linear(64, 512), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(512, 512), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(512, 10),
        ).to(DEVICE)

    def train_regularized(model, l1=0.0, weight_decay=0.0, epochs=100, lr=0.01):
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        for _ in range(epochs):
            model.train()
            loss = nn.functional.cross_entropy(model(X_small), y_small)
            if l1:
                loss = loss + l1 * sum(p.abs().sum() for name, p in model.named_parameters() if name.endswith("weight"))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            # the notebook measures both accuracies every epoch (no randomness: eval mode)
        return accuracy(y_small, predict(model, X_small)), accuracy(y_val, predict(model, X_val))

    results = {
        "none": train_regularized(make_wide_model()),
        "L1": train_regularized(make_wide_model(), l1=3e-4),
        "L2": train_regularized(make_wide_model(), weight_decay=1e-2),
        "dropout": train_regularized(make_wide_model(dropout=0.5)),
    }
    gaps = {name: train_acc - val_acc for name, (train_acc, val_acc) in results.items()}
    return {
        "none train_acc": results["none"][0],
        "none gap": gaps["none"],
        "none gap - smallest regularized gap": gaps["none"] - min(gaps["L1"], gaps["L2"], gaps["dropout"]),
    }


def ex13_cross_validation(seed):
    """Exercise 13: 3-fold stratified CV of 8 configurations on the digits training split (10 epochs each), then
    the best retrained on the whole training split and tested once."""
    X_train, X_test, y_train, y_test = ex_standardised(load_digits, seed)

    def make_mlp(hidden_layers, hidden_units):
        torch.manual_seed(seed)
        layers, width = [], 64
        for _ in range(hidden_layers):
            layers += [nn.Linear(width, hidden_units), nn.ReLU()]
            width = hidden_units
        return nn.Sequential(*layers, nn.Linear(width, 10)).to(DEVICE)

    configs = []
    for hidden_layers in (1, 2):
        for hidden_units in (32, 128):
            for lr in (0.01, 0.001):
                small_batch = (hidden_layers == 2) ^ (hidden_units == 128) ^ (lr == 0.001)
                configs.append({"hidden_layers": hidden_layers, "hidden_units": hidden_units, "lr": lr,
                                "batch_size": 64 if small_batch else 256})
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    means = []
    for config in configs:
        fold_accs = []
        for train_idx, val_idx in folds.split(np.zeros(len(y_train)), y_train):
            model = make_mlp(config["hidden_layers"], config["hidden_units"])
            optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
            train(model, nn.CrossEntropyLoss(), optimizer, X_train[train_idx], y_train[train_idx], 10,
                  batch_size=config["batch_size"])
            fold_accs.append(accuracy_on(model, X_train[val_idx], y_train[val_idx]))
        means.append(float(np.mean(fold_accs)))
    best = configs[int(np.argmax(means))]
    model_cv = make_mlp(best["hidden_layers"], best["hidden_units"])
    optimizer = torch.optim.Adam(model_cv.parameters(), lr=best["lr"])
    train(model_cv, nn.CrossEntropyLoss(), optimizer, X_train, y_train, 10, batch_size=best["batch_size"])
    return {"best CV accuracy": max(means), "cv_test_acc": accuracy_on(model_cv, X_test, y_test)}


SOL = "solutions/02_neural_networks_exercises_solutions.ipynb"  # recipes as in commit f66f23e
RECIPES += [
    Recipe("ex-moons", f"{SOL} ex. 4", ex4_moons, (Claim("test_acc", ">=", 0.99),)),
    Recipe("ex-spirals", f"{SOL} ex. 7", ex7_spirals, (Claim("test_acc", ">=", 0.97),)),
    Recipe("ex-xor", f"{SOL} ex. 8", ex8_xor, (Claim("test_acc", ">=", 0.99),)),
    Recipe("ex-activations-xor", f"{SOL} ex. 9", ex9_activations, (Claim("min test_acc", ">=", 0.99),)),
    Recipe("ex-iris", f"{SOL} ex. 10 (fixed split)", ex10_iris, (Claim("test_acc", ">=", 0.96),),
           observed=("test_acc, split varied too",)),
    Recipe("ex-digits", f"{SOL} ex. 10", ex10_digits, (Claim("test_acc", ">=", 0.95),)),
    Recipe("ex-optimizers-digits", f"{SOL} ex. 11 (check criterion)", ex11_optimizers,
           (Claim("best val_acc", ">=", 0.9),)),
    Recipe("ex-regularization-digits", f"{SOL} ex. 12 (assert + check criteria)", ex12_regularization,
           (Claim("none gap - smallest regularized gap", ">", 0.0), Claim("none train_acc", ">=", 0.95),
            Claim("none gap", ">=", 0.03))),
    Recipe("ex-cross-validation-digits", f"{SOL} ex. 13", ex13_cross_validation,
           (Claim("cv_test_acc", ">=", 0.9),)),
]


# --------------------------------------------------------------------------
# 01_neural_networks_theory.ipynb: the hand-written network (copied from the
# notebook: Xavier init from a seeded generator, tanh hidden layer, BCE with
# logits, chain-rule backward pass, plain gradient descent)
# --------------------------------------------------------------------------
def nb01_init_params(n_inputs, hidden_units, generator, dtype=torch.float32):
    W1_std, W2_std = math.sqrt(2 / (n_inputs + hidden_units)), math.sqrt(2 / (hidden_units + 1))
    W1 = torch.randn(n_inputs, hidden_units, generator=generator, dtype=dtype) * W1_std
    W2 = torch.randn(hidden_units, 1, generator=generator, dtype=dtype) * W2_std
    params = {"W1": W1, "b1": torch.zeros(hidden_units, dtype=dtype), "W2": W2, "b2": torch.zeros(1, dtype=dtype)}
    return {name: tensor.to(DEVICE) for name, tensor in params.items()}


def nb01_forward(params, X):
    h = torch.tanh(X @ params["W1"] + params["b1"])  # (N, H)
    return h @ params["W2"] + params["b2"], h  # (N, 1) logits, (N, H)


def nb01_bce_with_logits(y_logits, y_true):
    return (torch.clamp(y_logits, min=0) - y_true * y_logits + torch.log(1 + torch.exp(-y_logits.abs()))).mean()


def nb01_backward(params, X, y, y_logits, h):
    N = X.shape[0]
    dlogits = (torch.sigmoid(y_logits) - y) / N  # (N, 1)
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(dim=0)
    dz1 = (dlogits @ params["W2"].T) * (1 - h**2)  # (N, H)
    return {"W1": X.T @ dz1, "b1": dz1.sum(dim=0), "W2": dW2, "b2": db2}


def nb01_exam_data(seed, n_students=2000):
    """Section 1: the made-up exam records, stratified 75/25 split, standardised with the training statistics;
    labels as (N, 1) float tensors."""
    rng = np.random.default_rng(seed)
    hours = rng.uniform(0, 10, n_students)
    smart = rng.normal(100, 15, n_students)
    knowledge = rng.uniform(0, 100, n_students)
    name_code = rng.integers(0, 20, n_students)
    score = (1.0 * (hours - 5) / 2.9 + 0.6 * (smart - 100) / 15 + 0.8 * (knowledge - 50) / 29
             + rng.normal(0, 0.3, n_students))
    y = (score > 0).astype(np.int64)
    X = np.column_stack([hours, smart, knowledge, name_code]).astype(np.float64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)

    def to_tensors(X_part, y_part):
        X_tensor = torch.tensor((X_part - mean) / std, dtype=torch.float32, device=DEVICE)
        return X_tensor, torch.tensor(y_part, dtype=torch.float32, device=DEVICE).unsqueeze(1)

    return (*to_tensors(X_train, y_train), *to_tensors(X_test, y_test))


def nb01_random_init(seed):
    """Section 2's ``train_briefly("random")``: 4 -> 3 -> 1 tanh network, 0.5 * randn init, 100 steps of lr 0.5
    (autograd); the three hidden neurons must end up different."""
    X_train, y_train, _, _ = nb01_exam_data(seed)
    generator = torch.Generator().manual_seed(seed)
    params = {name: (0.5 * torch.randn(shape, generator=generator)).to(DEVICE).requires_grad_()
              for name, shape in {"W1": (4, 3), "b1": (3,), "W2": (3, 1), "b2": (1,)}.items()}
    for _ in range(100):
        h = torch.tanh(X_train @ params["W1"] + params["b1"])
        loss = nn.functional.binary_cross_entropy_with_logits(h @ params["W2"] + params["b2"], y_train)
        grads = torch.autograd.grad(loss, list(params.values()))
        with torch.no_grad():
            for param, grad in zip(params.values(), grads, strict=True):
                param -= 0.5 * grad
    W1 = params["W1"].detach()
    return {"largest difference between neurons": (W1 - W1[:, :1]).abs().max().item()}


def nb01_init_signal(seed):
    """Section 2's ``activation_stds``: 10 random 256-wide layers on 500 random inputs, per init recipe."""
    def activation_stds(activation, weight_std, n_layers=10, width=256):
        generator = torch.Generator().manual_seed(seed)
        a = torch.randn(500, width, generator=generator).to(DEVICE)
        stds = []
        for _ in range(n_layers):
            W = (torch.randn(width, width, generator=generator) * weight_std).to(DEVICE)
            a = activation(a @ W)
            stds.append(a.std().item())
        return stds, a

    tiny = activation_stds(torch.tanh, 0.01)[0][-1]
    saturated = (activation_stds(torch.tanh, 1.0)[1].abs() > 0.99).float().mean().item()
    xavier_last = activation_stds(torch.tanh, math.sqrt(2 / 512))[0][-1]
    he = activation_stds(torch.relu, math.sqrt(2 / 256))[0]
    return {"tanh std 0.01: last std": tiny, "tanh std 1: share saturated": saturated,
            "tanh Xavier: last std": xavier_last, "ReLU He: last std / first std": he[-1] / he[0]}


def nb01_vanishing_gradients(seed):
    """Section 4's ``first_to_last_gradient``: 10 random 32-wide layers; gradient norm at layer 1 / layer 10."""
    def ratio(activation, weight_std, n_layers=10, width=32):
        generator = torch.Generator().manual_seed(seed)
        weights = [(torch.randn(width, width, generator=generator) * weight_std).to(DEVICE).requires_grad_()
                   for _ in range(n_layers)]
        a = torch.randn(256, width, generator=generator).to(DEVICE)
        for W in weights:
            a = activation(a @ W)
        a.sum().backward()
        return (weights[0].grad.norm() / weights[-1].grad.norm()).item()

    return {"sigmoid ratio": ratio(torch.sigmoid, math.sqrt(1 / 32)),
            "tanh ratio": ratio(torch.tanh, math.sqrt(1 / 32)),
            "ReLU ratio": ratio(torch.relu, math.sqrt(2 / 32))}


def nb01_exam(seed):
    """Section 7: the 4 -> 1 -> 1 exam network by hand, lr 0.5, 500 full-batch epochs."""
    X_train, y_train, X_test, y_test = nb01_exam_data(seed)
    params = nb01_init_params(4, 1, torch.Generator().manual_seed(seed))
    losses = []
    for _ in range(500):
        y_logits, h = nb01_forward(params, X_train)
        losses.append(nb01_bce_with_logits(y_logits, y_train).item())
        grads = nb01_backward(params, X_train, y_train, y_logits, h)
        for name in params:
            params[name] -= 0.5 * grads[name]
    w = params["W1"][:, 0]
    y_pred = (nb01_forward(params, X_test)[0] > 0).float()
    return {"final / first train loss": losses[-1] / losses[0],
            "|w name| / max |w other|": (w[3].abs() / w[:3].abs().max()).item(),
            "test_acc": accuracy(y_test, y_pred)}


def nb01_optimizers(seed):
    """Section 9: the exam network (4 -> 1 -> 1) for 100 epochs with our SGD 0.5, momentum 0.5, RMSprop 0.01,
    Adam 0.05; every loss must halve."""
    def sgd_step(params, grads, state, lr):
        for name in params:
            params[name] -= lr * grads[name]

    def momentum_step(params, grads, state, lr, momentum=0.9):
        for name in params:
            state[name] = velocity = momentum * state.get(name, 0) + grads[name]
            params[name] -= lr * velocity

    def rmsprop_step(params, grads, state, lr, alpha=0.99, eps=1e-8):
        for name in params:
            state[name] = square_avg = alpha * state.get(name, 0) + (1 - alpha) * grads[name] ** 2
            params[name] -= lr * grads[name] / (square_avg.sqrt() + eps)

    def adam_step(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        state["t"] = t = state.get("t", 0) + 1
        for name in params:
            m, v = state.get(name, (0, 0))
            m = beta1 * m + (1 - beta1) * grads[name]
            v = beta2 * v + (1 - beta2) * grads[name] ** 2
            state[name] = (m, v)
            params[name] -= lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps)

    X_train, y_train, _, _ = nb01_exam_data(seed)
    ratios = {}
    for name, step, lr in [("SGD", sgd_step, 0.5), ("momentum", momentum_step, 0.5),
                           ("RMSprop", rmsprop_step, 0.01), ("Adam", adam_step, 0.05)]:
        params = nb01_init_params(4, 1, torch.Generator().manual_seed(seed))
        state, losses = {}, []
        for _ in range(100):
            y_logits, h = nb01_forward(params, X_train)
            losses.append(nb01_bce_with_logits(y_logits, y_train).item())
            step(params, nb01_backward(params, X_train, y_train, y_logits, h), state, lr)
        ratios[name] = losses[-1] / losses[0]
    return {"largest final / first loss": max(ratios.values())}


def nb01_split_to_tensors(X, y, seed):
    """Section 8's ``split_to_tensors``: 80/20 split, float32 tensors, labels (N, 1)."""
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=seed)
    data = {"X_train": X_train, "X_test": X_test, "y_train": y_train[:, None], "y_test": y_test[:, None]}
    return {key: torch.tensor(value, dtype=torch.float32, device=DEVICE) for key, value in data.items()}


def nb01_by_hand(data, seed, hidden_units=8, lr=1.0, epochs=300):
    """Section 8's ``train_by_hand``: 2 -> 8 -> tanh -> 1 by hand, lr 1.0, 300 full-batch epochs."""
    params = nb01_init_params(data["X_train"].shape[1], hidden_units, torch.Generator().manual_seed(seed))
    for _ in range(epochs):
        y_logits, h = nb01_forward(params, data["X_train"])
        grads = nb01_backward(params, data["X_train"], data["y_train"], y_logits, h)
        for name in params:
            params[name] -= lr * grads[name]
    return {"test_acc": accuracy(data["y_test"], nb01_forward(params, data["X_test"])[0] > 0)}


def nb01_xor_by_hand(seed):
    return nb01_by_hand(nb01_split_to_tensors(*make_xor(n_samples=1000, noise=0.1, random_state=seed), seed), seed)


def nb01_circles_data(seed):
    return nb01_split_to_tensors(*make_circles(n_samples=1000, noise=0.05, factor=0.5, random_state=seed), seed)


def nb01_circles_by_hand(seed):
    return nb01_by_hand(nb01_circles_data(seed), seed)


def nb01_circles_torch(seed):
    """Section 8's bridge: the same network in PyTorch (Linear, Tanh, Linear), SGD lr 1.0, 300 epochs via fit."""
    data = nb01_circles_data(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).to(DEVICE)
    train(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=1.0), data["X_train"],
          data["y_train"], 300)
    return {"test_acc": accuracy_on(model, data["X_test"], data["y_test"])}


def nb01_overfitting(seed):
    """Section 10: make_moons(120, noise=0.35), 50/50 split; 2 -> 64 -> 64 -> 1 ReLU (dropout p), Adam lr 0.01,
    300 full-batch epochs: no regularisation, early stopping (patience 20), L2 1e-2, L1 1e-3, dropout 0.5."""
    X_moons, y_moons = make_moons(n_samples=120, noise=0.35, random_state=seed)
    X_fit, X_val, y_fit, y_val = train_test_split(X_moons, y_moons, test_size=0.5, random_state=seed)
    moons = {
        "X_train": torch.tensor(X_fit, dtype=torch.float32, device=DEVICE),
        "y_train": torch.tensor(y_fit, dtype=torch.float32, device=DEVICE).unsqueeze(1),
        "X_val": torch.tensor(X_val, dtype=torch.float32, device=DEVICE),
        "y_val": torch.tensor(y_val, dtype=torch.float32, device=DEVICE).unsqueeze(1),
    }

    def make_wide_model(dropout=0.0):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Linear(2, 64), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(64, 64), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(64, 1),
        ).to(DEVICE)

    def train_with_validation(model, optimizer, data, epochs, l1=0.0, patience=None):
        history = {"train_loss": [], "val_loss": []}
        best_loss, best_epoch, best_state = float("inf"), 0, None
        for epoch in range(1, epochs + 1):
            model.train()
            loss = nn.functional.binary_cross_entropy_with_logits(model(data["X_train"]), data["y_train"])
            if l1:
                loss = loss + l1 * sum(p.abs().sum() for name, p in model.named_parameters() if name.endswith("weight"))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.eval()
            with torch.no_grad():
                for part in ["train", "val"]:
                    part_loss = nn.functional.binary_cross_entropy_with_logits(model(data[f"X_{part}"]),
                                                                               data[f"y_{part}"])
                    history[f"{part}_loss"].append(part_loss.item())
            if history["val_loss"][-1] < best_loss:
                best_loss, best_epoch = history["val_loss"][-1], epoch
                best_state = {key: value.clone() for key, value in model.state_dict().items()}
            elif patience is not None and epoch - best_epoch >= patience:
                break
        if patience is not None:
            model.load_state_dict(best_state)
        return history, best_epoch

    lr, epochs = 0.01, 300
    model = make_wide_model()
    history, best_epoch = train_with_validation(model, torch.optim.Adam(model.parameters(), lr=lr), moons, epochs)
    final = {"none": (history["train_loss"][-1], history["val_loss"][-1])}
    model = make_wide_model()
    early, early_best = train_with_validation(model, torch.optim.Adam(model.parameters(), lr=lr), moons, epochs,
                                              patience=20)
    final["early stopping"] = (early["train_loss"][early_best - 1], early["val_loss"][early_best - 1])
    for name, (dropout, weight_decay, l1) in {"L2": (0.0, 1e-2, 0.0), "L1": (0.0, 0.0, 1e-3),
                                              "dropout": (0.5, 0.0, 0.0)}.items():
        model = make_wide_model(dropout)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        reg_history, _ = train_with_validation(model, optimizer, moons, epochs, l1=l1)
        final[name] = (reg_history["train_loss"][-1], reg_history["val_loss"][-1])
    gaps = {name: val_loss - train_loss for name, (train_loss, val_loss) in final.items()}
    metrics = {
        "train loss fall after the best epoch": history["train_loss"][best_epoch - 1] - history["train_loss"][-1],
        "val loss rise above its minimum": history["val_loss"][-1] - min(history["val_loss"]),
        "epochs saved by early stopping": epochs - len(early["train_loss"]),
        "final val loss - early-stopping val loss": history["val_loss"][-1] - early["val_loss"][early_best - 1],
    }
    for name in ["early stopping", "L2", "L1", "dropout"]:
        metrics[f"gap none - gap {name}"] = gaps["none"] - gaps[name]
    return metrics


NB01 = "01_neural_networks_theory.ipynb"  # recipes as in commit d11525c
RECIPES += [
    Recipe("nb01-random-init-breaks-symmetry", f"{NB01} §2 train_briefly", nb01_random_init,
           (Claim("largest difference between neurons", ">", 0.1),)),
    Recipe("nb01-init-signal", f"{NB01} §2 activation_stds", nb01_init_signal,
           (Claim("tanh std 0.01: last std", "<", 1e-6), Claim("tanh std 1: share saturated", ">", 0.5),
            Claim("tanh Xavier: last std", ">", 0.1), Claim("ReLU He: last std / first std", ">", 0.5))),
    Recipe("nb01-vanishing-gradients", f"{NB01} §4 first_to_last_gradient", nb01_vanishing_gradients,
           (Claim("sigmoid ratio", "<", 1e-4), Claim("tanh ratio", ">", 0.1), Claim("ReLU ratio", ">", 0.1))),
    Recipe("nb01-exam-by-hand", f"{NB01} §7 the whole loop", nb01_exam,
           (Claim("final / first train loss", "<", 0.5), Claim("|w name| / max |w other|", "<", 0.1),
            Claim("test_acc", ">=", 0.9))),
    Recipe("nb01-xor-by-hand", f"{NB01} §8 XOR by hand", nb01_xor_by_hand, (Claim("test_acc", ">=", 0.99),)),
    Recipe("nb01-circles-by-hand", f"{NB01} §8 circles by hand", nb01_circles_by_hand,
           (Claim("test_acc", ">=", 0.99),)),
    Recipe("nb01-circles-pytorch", f"{NB01} §8 bridge to PyTorch", nb01_circles_torch,
           (Claim("test_acc", ">=", 0.99),)),
    Recipe("nb01-optimizers-exam", f"{NB01} §9 optimizers on the exam data", nb01_optimizers,
           (Claim("largest final / first loss", "<", 0.5),)),
    Recipe("nb01-overfitting-moons", f"{NB01} §10 training vs validation", nb01_overfitting,
           (Claim("train loss fall after the best epoch", ">", 0.0),
            Claim("val loss rise above its minimum", ">", 0.1),
            Claim("epochs saved by early stopping", ">", 0),
            Claim("final val loss - early-stopping val loss", ">", 0.0),
            Claim("gap none - gap early stopping", ">", 0.0), Claim("gap none - gap L2", ">", 0.0),
            Claim("gap none - gap L1", ">", 0.0), Claim("gap none - gap dropout", ">", 0.0))),
]
RECIPES.sort(key=lambda recipe: ["nb01", "nb02", "ex"].index(recipe.name.split("-")[0]))  # notebook order
RECIPES_BY_NAME = {recipe.name: recipe for recipe in RECIPES}


# --------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------
def _init_worker() -> None:
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def run_one(name: str, seed: int) -> dict[str, float]:
    """Train one recipe for one seed (in a worker process) and return its metrics."""
    _init_worker()
    return RECIPES_BY_NAME[name].run(seed)


def failing_seeds(recipe: Recipe, results: dict[int, dict[str, float]]) -> dict[str, list[int]]:
    """Claim -> the seeds for which it does not hold."""
    return {str(c): [s for s, m in sorted(results.items()) if not c.holds(m[c.metric])] for c in recipe.claims}


def _fmt(value: float) -> str:
    """Three decimals, integers as integers, tiny numbers in scientific notation."""
    if float(value).is_integer() and abs(value) >= 2:
        return str(int(value))
    if value != 0 and abs(value) < 0.01:
        return f"{value:.1e}"
    return f"{value:.3f}"


def report(recipes, results, seeds, seconds, command) -> str:
    lines = [
        "# Seed sweep",
        "",
        f"Command: `{command}`; seeds {seeds[0]}–{seeds[-1]} "
        f"({len(seeds)} per recipe); {dt.date.today().isoformat()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, device {os.environ.get('SEED_SWEEP_DEVICE', DEVICE)}; {seconds:.0f} s.",
        "",
        "Each recipe is the notebook's own (data call, split, architecture, optimizer, lr, epochs, batch size), "
        "with the seed in every place the notebook uses `SEED`.",
        "",
        "| Recipe | Notebook | Claim | Min | Median | Max | All seeds | Failing seeds (value) |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for recipe in recipes:
        if recipe.pending:
            lines.append(f"| `{recipe.name}` | {recipe.source} | {', '.join(map(str, recipe.claims))} "
                         f"| | | | ⏳ pending | {recipe.pending} |")
            continue
        fails = failing_seeds(recipe, results[recipe.name])
        for claim in recipe.claims:
            values = [m[claim.metric] for _, m in sorted(results[recipe.name].items())]
            bad = fails[str(claim)]
            bad_text = ", ".join(f"{seed} ({_fmt(results[recipe.name][seed][claim.metric])})" for seed in bad)
            lines.append(
                f"| `{recipe.name}` | {recipe.source} | {claim} | {_fmt(min(values))} | "
                f"{_fmt(statistics.median(values))} | {_fmt(max(values))} | {'✅' if not bad else '❌'} | "
                f"{bad_text or '–'} |"
            )
    observed = [(recipe, metric) for recipe in recipes if not recipe.pending for metric in recipe.observed]
    if observed:
        lines += ["", "Measured for information, not claimed by any notebook:", "",
                  "| Recipe | Metric | Min | Median | Max |", "|---|---|---:|---:|---:|"]
        for recipe, metric in observed:
            values = [m[metric] for _, m in sorted(results[recipe.name].items())]
            lines.append(f"| `{recipe.name}` | {metric} | {_fmt(min(values))} | "
                         f"{_fmt(statistics.median(values))} | {_fmt(max(values))} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="sweep seeds 0..N-1 (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--only", nargs="*", default=None, help="recipe names (default: all)")
    parser.add_argument("--device", default=DEVICE, help=f"torch device for the models (default {DEVICE})")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="Markdown file to write")
    args = parser.parse_args(argv)
    os.environ["SEED_SWEEP_DEVICE"] = args.device  # the spawned workers read it at import

    recipes = [RECIPES_BY_NAME[name] for name in args.only] if args.only else RECIPES
    seeds = list(range(args.seeds))
    runnable = [recipe for recipe in recipes if not recipe.pending]
    results: dict[str, dict[int, dict[str, float]]] = {recipe.name: {} for recipe in runnable}
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        futures = {pool.submit(run_one, recipe.name, seed): (recipe.name, seed)
                   for recipe in runnable for seed in seeds}
        for future in concurrent.futures.as_completed(futures):
            name, seed = futures[future]
            results[name][seed] = future.result()
            if len(results[name]) == len(seeds):
                recipe = RECIPES_BY_NAME[name]
                fails = {c: s for c, s in failing_seeds(recipe, results[name]).items() if s}
                print(f"{name}: {'all seeds clear' if not fails else f'FAILS {fails}'} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    seconds = time.perf_counter() - start

    command = " ".join(["python tests/benchmarks/seed_sweep.py", *(sys.argv[1:] if argv is None else argv)])
    text = report(recipes, results, seeds, seconds, command)
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"Written to {args.out}")
    missed = any(any(failing_seeds(r, results[r.name]).values()) for r in runnable)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
