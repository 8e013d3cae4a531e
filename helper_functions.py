"""Shared helpers for Lesson 02: Neural Networks and Classification.

Only code that two or more notebooks reuse lives here: seeding and device
choice, the toy datasets, prediction and accuracy, the generic training loop,
the plots, the network doctor (``diagnose``: why a network does not learn)
and the playground widget. The ideas being taught (the forward pass, the loss, the
backward pass, the first training loop) are written out in the notebooks.

Conventions
-----------
* ``X`` is a ``(N, D)`` float array or tensor of features, ``y`` a ``(N,)``
  integer array or tensor of class labels.
* A model with **one** output unit is a binary classifier that returns logits
  (``BCEWithLogitsLoss``); a model with ``C > 1`` output units is a
  multi-class classifier that returns ``C`` logits (``CrossEntropyLoss``).
  ``_is_binary`` holds this rule; ``predict``, ``predict_proba``, ``fit`` and
  the decision-boundary plot all go through it.
* No helper changes the caller's model: it comes back on the same device and
  in the same train/eval mode as it went in.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

__all__ = [
    "set_seeds",
    "get_device",
    "make_xor",
    "make_spirals",
    "make_parity",
    "predict",
    "predict_proba",
    "accuracy",
    "fit",
    "plot_data",
    "plot_decision_boundary",
    "plot_loss_curves",
    "diagnose",
    "Diagnosis",
    "Finding",
    "Playground",
    "playground",
]


# --------------------------------------------------------------------------
# Reproducibility and devices
# --------------------------------------------------------------------------
def set_seeds(seed: int = 42) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device).

    Args:
        seed: the seed used for all three generators.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def get_device() -> torch.device:
    """Return ``torch.device("cuda")`` when a CUDA GPU is available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def make_xor(
    n_samples: int = 400, noise: float = 0.1, random_state: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Four noisy clusters around (±1, ±1); label 1 where the two signs differ.

    The points around (1, 1) and (-1, -1) are class 0, those around (1, -1)
    and (-1, 1) are class 1, so no straight line separates the classes.

    Args:
        n_samples: total number of points, shared as evenly as possible
            between the four clusters.
        noise: standard deviation of the Gaussian noise added to each centre.
        random_state: seed for the NumPy generator; the same seed gives the
            same data.

    Returns:
        X: ``(n_samples, 2)`` float32 array of points.
        y: ``(n_samples,)`` int64 array of labels in {0, 1}.
    """
    rng = np.random.default_rng(random_state)
    centres = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    cluster = np.arange(n_samples) % 4  # 0, 1, 2, 3, 0, 1, ...
    X = centres[cluster] + noise * rng.standard_normal((n_samples, 2))
    y = (np.sign(centres[cluster, 0]) != np.sign(centres[cluster, 1])).astype(np.int64)
    order = rng.permutation(n_samples)
    return X[order].astype(np.float32), y[order]


def make_spirals(
    n_samples: int = 300,
    n_classes: int = 3,
    noise: float = 0.2,
    random_state: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one arm per class, winding out from the origin.

    Arm ``k`` starts at angle ``2πk / n_classes``; along the arm the radius
    grows from 0 to 1 while the angle turns by ``4`` radians, and the angle
    gets Gaussian noise of standard deviation ``noise`` (radians).

    Args:
        n_samples: total number of points, shared as evenly as possible
            between the classes.
        n_classes: number of arms (classes), at least 2.
        noise: standard deviation of the angular noise, in radians.
        random_state: seed for the NumPy generator; the same seed gives the
            same data.

    Returns:
        X: ``(n_samples, 2)`` float32 array of points inside the unit disc.
        y: ``(n_samples,)`` int64 array of labels in ``{0, ..., n_classes-1}``.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    rng = np.random.default_rng(random_state)
    y = np.arange(n_samples) % n_classes
    # Position along the arm: evenly spaced within each class, in (0, 1].
    position = np.empty(n_samples)
    for k in range(n_classes):
        members = y == k
        position[members] = np.linspace(0.0, 1.0, members.sum() + 1)[1:]
    angle = 2 * np.pi * y / n_classes + 4.0 * position
    angle = angle + noise * rng.standard_normal(n_samples)
    X = np.stack([position * np.cos(angle), position * np.sin(angle)], axis=1)
    order = rng.permutation(n_samples)
    return X[order].astype(np.float32), y[order].astype(np.int64)


def make_parity(
    n_samples: int = 400, n_bits: int = 3, noise: float = 0.3, random_state: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy clusters at the corners of the cube {-1, 1}^n_bits; label 1 where an odd number of signs are negative.

    The n-bit parity problem, XOR's bigger sibling: neighbouring corners (one
    sign flipped) always have different labels.

    Args:
        n_samples: total number of points, shared as evenly as possible
            between the ``2**n_bits`` corners.
        n_bits: number of features (the cube's dimension), at least 2.
        noise: standard deviation of the Gaussian noise added to each corner.
        random_state: seed for the NumPy generator; the same seed gives the
            same data.

    Returns:
        X: ``(n_samples, n_bits)`` float32 array of points.
        y: ``(n_samples,)`` int64 array of labels in {0, 1}.
    """
    if n_bits < 2:
        raise ValueError(f"n_bits must be at least 2, got {n_bits}")
    rng = np.random.default_rng(random_state)
    corners = 1.0 - 2.0 * ((np.arange(2**n_bits)[:, None] >> np.arange(n_bits)) & 1)  # (2**n_bits, n_bits) of ±1
    corner = np.arange(n_samples) % len(corners)
    X = corners[corner] + noise * rng.standard_normal((n_samples, n_bits))
    y = ((corners[corner] < 0).sum(axis=1) % 2).astype(np.int64)
    order = rng.permutation(n_samples)
    return X[order].astype(np.float32), y[order]


# --------------------------------------------------------------------------
# Model utilities
# --------------------------------------------------------------------------
def _model_device(model: nn.Module) -> torch.device:
    """Return the device of the model's first parameter (CPU if it has none)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for a ``with`` block, then restore every
    submodule's own ``training`` flag exactly as it was."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in flags:
            module.training = training


def _as_float_tensor(X, device: torch.device) -> torch.Tensor:
    """Any array-like ``(N, D)`` -> float32 tensor ``(N, D)`` on ``device``."""
    if not isinstance(X, torch.Tensor):
        X = torch.as_tensor(np.asarray(X))
    return X.to(device=device, dtype=torch.float32)


def _as_label_array(y, name: str = "labels") -> np.ndarray:
    """Labels as a tensor on any device, an array or a list -> ``(N,)`` int64 array.

    Float labels are accepted only when every value is a whole number (``1.0``): probabilities or logits
    (``0.73``) raise ``ValueError`` instead of being silently truncated to 0.
    """
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind in "fc" and y.size:
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise ValueError(
                f"{name} must be class labels (whole numbers such as 0, 1, 2), but it holds "
                f"{int(bad.sum())} non-integer value(s), e.g. {y[bad][0]!r}: these look like probabilities or "
                "logits. Turn them into labels first: (y_probs > 0.5).long() or (y_logits > 0).long() for one "
                "output unit, y_logits.argmax(dim=1) for several, or use predict(model, X)."
            )
    elif y.dtype.kind not in "biuf" and y.size:
        raise ValueError(f"{name} must be class labels (whole numbers), got an array of dtype {y.dtype}")
    return y.astype(np.int64)


def _is_binary(logits: torch.Tensor | int) -> bool:
    """The lesson's rule: one output unit (``(N,)`` or ``(N, 1)`` logits) means a binary classifier.

    Args:
        logits: ``(N,)``, ``(N, 1)`` or ``(N, C)`` model outputs, or the number of output units.

    Returns:
        True for one output unit (sigmoid, ``BCEWithLogitsLoss``), False for ``C > 1`` units (softmax,
        ``CrossEntropyLoss``).
    """
    if isinstance(logits, int):
        return logits == 1
    return logits.ndim == 1 or logits.shape[1] == 1


def _output_units(n_classes: int) -> int:
    """Output units for ``n_classes`` classes under the same rule: 2 classes -> 1 unit, ``C > 2`` -> ``C``."""
    return 1 if n_classes == 2 else n_classes


def _logits_to_labels(logits: torch.Tensor) -> torch.Tensor:
    """``(N, 1)`` or ``(N,)`` logits -> binary labels; ``(N, C)`` -> argmax labels; ``(N,)`` int64."""
    if _is_binary(logits):
        return (torch.sigmoid(logits.reshape(-1)) > 0.5).long()
    return logits.argmax(dim=1)


def _logits_to_probs(logits: torch.Tensor) -> torch.Tensor:
    """Logits -> ``(N, C)`` float32 class probabilities; one output unit gives ``C = 2`` columns (1 - p, p)."""
    if _is_binary(logits):
        p1 = torch.sigmoid(logits.reshape(-1, 1))
        return torch.cat([1 - p1, p1], dim=1).float()
    return torch.softmax(logits, dim=1).float()


def _logits(model: nn.Module, X) -> torch.Tensor:
    """The model's outputs on ``X`` in eval mode, without gradients, on the model's device; model unchanged."""
    with _eval_mode(model), torch.inference_mode():
        return model(_as_float_tensor(X, _model_device(model)))


def predict(model: nn.Module, X) -> torch.Tensor:
    """Predict class labels, without gradients, leaving the model unchanged.

    The model's output width decides the task: one output unit means binary
    (label 1 where ``sigmoid(logit) > 0.5``), ``C > 1`` units mean multi-class
    (label = index of the largest logit).

    Args:
        model: a classifier returning logits of shape ``(N, 1)`` or ``(N, C)``.
        X: ``(N, D)`` features: a tensor on any device, or a NumPy array.

    Returns:
        ``(N,)`` int64 tensor of labels on the CPU.
    """
    return _logits_to_labels(_logits(model, X)).cpu()


def predict_proba(model: nn.Module, X) -> torch.Tensor:
    """Predict class probabilities, without gradients, leaving the model unchanged.

    Args:
        model: a classifier returning logits of shape ``(N, 1)`` or ``(N, C)``.
        X: ``(N, D)`` features: a tensor on any device, or a NumPy array.

    Returns:
        ``(N, C)`` float32 tensor on the CPU whose rows sum to 1: for a binary
        model (one output unit) ``C = 2`` with columns ``1 - sigmoid(logit)``
        and ``sigmoid(logit)``; otherwise the softmax of the ``C`` logits.
    """
    return _logits_to_probs(_logits(model, X)).cpu()


def accuracy(y_true, y_pred) -> float:
    """Fraction of labels that match, in [0, 1].

    Args:
        y_true: ``(N,)`` labels: tensor on any device, NumPy array or list.
        y_pred: ``(N,)`` labels, same kinds accepted (``predict(model, X)``, ``(y_logits > 0).long()``).

    Returns:
        ``(y_true == y_pred).mean()`` as a Python float; ``0.0`` for empty input.

    Raises:
        ValueError: when the lengths differ, or when either holds non-integer values such as probabilities
            or logits (``accuracy(y, torch.sigmoid(y_logits))`` is a mistake: turn them into labels first).
    """
    y_true, y_pred = _as_label_array(y_true, "y_true"), _as_label_array(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"shapes differ: y_true {y_true.shape}, y_pred {y_pred.shape}")
    if y_true.size == 0:
        return 0.0
    return float((y_true == y_pred).mean())


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------
def _loss_and_labels(model, loss_fn, X, y):
    """Forward pass -> (loss tensor, predicted labels); handles 1 or C logits."""
    logits = model(X)
    if _is_binary(logits):  # BCEWithLogitsLoss wants float targets of shape (N,)
        return loss_fn(logits.reshape(-1), y.float()), _logits_to_labels(logits)
    return loss_fn(logits, y), _logits_to_labels(logits)


def _train_epoch(model, loss_fn, optimizer, batches) -> tuple[float, float]:
    """One pass over ``batches`` of ``(X (B, D), y (B,))`` in train mode -> mean loss and accuracy over them.

    The one training step of this module (``fit`` and the playground): forward, loss, ``zero_grad``,
    ``backward``, ``step``. The means are weighted by batch size and measured during the epoch.
    """
    model.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for X_batch, y_batch in batches:
        loss, y_pred = _loss_and_labels(model, loss_fn, X_batch, y_batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(y_batch)
        correct += (y_pred == y_batch).sum().item()
        seen += len(y_batch)
    return loss_sum / seen, correct / seen


def _evaluate(model, loss_fn, X, y) -> tuple[float, float]:
    """Loss and accuracy on ``X`` ``(N, D)``, ``y`` ``(N,)`` in eval mode, without gradients (model left in eval)."""
    model.eval()
    with torch.inference_mode():
        loss, y_pred = _loss_and_labels(model, loss_fn, X, y)
    return loss.item(), (y_pred == y).float().mean().item()


def fit(
    model: nn.Module,
    loss_fn,
    optimizer: torch.optim.Optimizer,
    X_train,
    y_train,
    X_test=None,
    y_test=None,
    epochs: int = 1000,
    batch_size: int | None = None,
    log_every: int | None = 100,
) -> dict[str, list[float]]:
    """Train ``model`` and record loss and accuracy after every epoch.

    Full-batch gradient descent when ``batch_size`` is None, otherwise shuffled
    mini-batches from a ``DataLoader`` over a ``TensorDataset``. The data are
    moved to the model's device. Works for binary models (one logit,
    ``nn.BCEWithLogitsLoss``) and multi-class models (``C`` logits,
    ``nn.CrossEntropyLoss``). The model is left in the train/eval mode it
    came in with.

    Args:
        model: classifier returning ``(N, 1)`` or ``(N, C)`` logits.
        loss_fn: e.g. ``nn.BCEWithLogitsLoss()`` or ``nn.CrossEntropyLoss()``.
        optimizer: an optimizer over ``model.parameters()``.
        X_train: ``(N, D)`` float features (tensor on any device or array).
        y_train: ``(N,)`` integer labels.
        X_test: optional ``(M, D)`` features evaluated after every epoch.
        y_test: optional ``(M,)`` labels, required with ``X_test``.
        epochs: passes over the training data.
        batch_size: mini-batch size, or None for full batch.
        log_every: print a progress line every this many epochs (and after the
            last one); None or 0 prints nothing.

    Returns:
        History dict of per-epoch lists of floats, each of length ``epochs``:
        ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` (the test
        lists are empty when no test data are given). Train loss and accuracy
        are averages over the epoch's batches, weighted by batch size.
    """
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    device = _model_device(model)
    X_train = _as_float_tensor(X_train, device)
    y_train = torch.as_tensor(_as_label_array(y_train, "y_train"), device=device)
    has_test = X_test is not None
    if has_test:
        X_test = _as_float_tensor(X_test, device)
        y_test = torch.as_tensor(_as_label_array(y_test, "y_test"), device=device)

    if batch_size is None:
        batches = [(X_train, y_train)]
    else:
        batches = DataLoader(TensorDataset(X_train, y_train), batch_size=batch_size, shuffle=True)

    history: dict[str, list[float]] = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    was_training = model.training
    try:
        for epoch in range(1, epochs + 1):
            train_loss, train_acc = _train_epoch(model, loss_fn, optimizer, batches)
            history["train_loss"].append(train_loss)
            history["train_acc"].append(train_acc)
            if has_test:
                test_loss, test_acc = _evaluate(model, loss_fn, X_test, y_test)
                history["test_loss"].append(test_loss)
                history["test_acc"].append(test_acc)

            if log_every and (epoch % log_every == 0 or epoch == epochs):
                line = (
                    f"Epoch {epoch:>{len(str(epochs))}} | train loss {history['train_loss'][-1]:.4f}, "
                    f"acc {history['train_acc'][-1]:.3f}"
                )
                if has_test:
                    line += f" | test loss {history['test_loss'][-1]:.4f}, acc {history['test_acc'][-1]:.3f}"
                print(line)
    finally:
        model.train(was_training)
    return history


# --------------------------------------------------------------------------
# Plotting
# --------------------------------------------------------------------------
_CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def _colours(n_classes: int) -> list[str]:
    """``n_classes`` distinct colours (matplotlib's tab20 beyond eight)."""
    if n_classes <= len(_CLASS_COLOURS):
        return _CLASS_COLOURS[:n_classes]
    return [plt.cm.tab20(i % 20) for i in range(n_classes)]


def _as_numpy_2d(X) -> np.ndarray:
    """Features as tensor on any device or array -> ``(N, 2)`` float array."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"expected 2-D points of shape (N, 2), got {X.shape}")
    return X


def _plot_extent(X: np.ndarray, square: bool = False) -> tuple[float, float, float, float]:
    """``(x1_min, x1_max, x2_min, x2_max)`` of the plane to draw for ``(N, 2)`` points: the data plus a margin.

    ``square``: widen the shorter side so that both axes span the same range (for equal aspect).
    """
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * (hi - lo) + 0.1
    lo, hi = lo - margin, hi + margin
    if square:
        centre, half = (lo + hi) / 2, (hi - lo).max() / 2
        lo, hi = centre - half, centre + half
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def _grid(extent, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``resolution x resolution`` grid over ``extent`` -> ``xx``, ``yy`` ``(R, R)`` and points ``(R*R, 2)``."""
    xx, yy = np.meshgrid(np.linspace(extent[0], extent[1], resolution), np.linspace(extent[2], extent[3], resolution))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def _probability_rgb(probs: np.ndarray, colours: list, strength: float = 0.55) -> np.ndarray:
    """``(R, R, C)`` class probabilities -> ``(R, R, 3)`` RGB in [0, 1]: the probability shading.

    Binary (C = 2): class 0's colour through white (p = 0.5) to class 1's; more classes: the
    predicted class's colour, faded to white as its probability falls to ``1 / C``. ``strength``
    (0 to 1) pales the colours so that the points drawn on top stay visible.
    """
    rgb = np.array([plt.matplotlib.colors.to_rgb(c) for c in colours])  # (C, 3)
    if probs.shape[-1] == 2:
        p1 = probs[..., 1:2]
        image = np.where(p1 < 0.5, 1 - (1 - 2 * p1) * (1 - rgb[0]), 1 - (2 * p1 - 1) * (1 - rgb[1]))
    else:
        n_classes = probs.shape[-1]
        confidence = (probs.max(axis=-1, keepdims=True) - 1 / n_classes) / (1 - 1 / n_classes)
        image = 1 - confidence * (1 - rgb[probs.argmax(axis=-1)])
    return 1 - strength * (1 - image)


def _half_line(ax, probs: np.ndarray, extent, animated: bool = False):
    """Draw the p = 0.5 line of a binary model's ``(R, R, 2)`` probabilities on ``ax`` -> the contour, or None."""
    p1 = probs[..., -1]
    if probs.shape[-1] != 2 or not p1.min() < 0.5 < p1.max():
        return None
    contour = ax.contour(p1, levels=[0.5], extent=extent, colors="k", linewidths=1.0)
    contour.set_animated(animated)
    return contour


def plot_data(X, y, ax=None, title: str | None = None):
    """Scatter 2-D points coloured by class, with a legend.

    Args:
        X: ``(N, 2)`` float features (tensor on any device or array).
        y: ``(N,)`` integer labels.
        ax: matplotlib Axes to draw on; a new figure when None.
        title: optional Axes title.

    Returns:
        The matplotlib Axes.
    """
    X, y = _as_numpy_2d(X), _as_label_array(y)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    classes = np.unique(y)
    n_colours = int(max(classes.max() + 1, len(classes))) if len(classes) else 1
    colours = _colours(n_colours)
    for k in classes:
        members = y == k
        ax.scatter(X[members, 0], X[members, 1], s=14, color=colours[k], edgecolor="k",
                   linewidth=0.3, label=f"class {k}")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    if len(classes):
        ax.legend(loc="best", fontsize="small", framealpha=0.8)
    return ax


def plot_decision_boundary(
    model: nn.Module,
    X,
    y,
    ax=None,
    resolution: int = 200,
    title: str | None = None,
    shade: str = "class",
):
    """Colour the plane by the model's prediction and scatter the data on top, with equal aspect.

    Works for binary (one output unit) and multi-class (``C`` units) models.
    The grid is evaluated without gradient tracking on the model's own device,
    and the model comes back exactly as it was: same device, same
    train/eval mode of every submodule.

    Args:
        model: classifier taking ``(N, 2)`` float inputs and returning logits.
        X: ``(N, 2)`` float features (tensor on any device or array).
        y: ``(N,)`` integer labels.
        ax: matplotlib Axes to draw on; a new figure when None.
        resolution: grid points per axis (``resolution**2`` predictions).
        title: optional Axes title.
        shade: ``"class"`` fills each region with its predicted class's colour;
            ``"probability"`` shades by confidence instead: for a binary model
            the colour runs from class 0 through white (p = 0.5) to class 1
            with ``p = sigmoid(logit)``, and the p = 0.5 line is drawn; for a
            multi-class model each point takes its predicted class's colour,
            faded towards white as the largest softmax probability falls to
            ``1 / C``.

    Returns:
        The matplotlib Axes.
    """
    if shade not in ("class", "probability"):
        raise ValueError(f"shade must be 'class' or 'probability', got {shade!r}")
    X_np, y_np = _as_numpy_2d(X), _as_label_array(y)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    extent = _plot_extent(X_np)
    xx, yy, grid = _grid(extent, resolution)  # grid: (resolution**2, 2)
    probs = predict_proba(model, grid).numpy().reshape(*xx.shape, -1)  # (res, res, C), C >= 2

    n_classes = max(int(max(probs.shape[-1], y_np.max() + 1 if y_np.size else 0)), 2)
    colours = _colours(n_classes)
    if shade == "class":
        cmap = plt.matplotlib.colors.ListedColormap(colours)
        ax.contourf(xx, yy, probs.argmax(axis=-1), levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, alpha=0.25)
    else:
        ax.imshow(_probability_rgb(probs, colours), origin="lower", extent=extent, aspect="auto",
                  interpolation="bilinear")
        _half_line(ax, probs, extent)
    plot_data(X_np, y_np, ax=ax, title=title)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")  # one unit is as long on both axes: a circle in the data is drawn as a circle
    return ax


def plot_loss_curves(history: dict[str, list[float]], axes=None):
    """Plot loss and accuracy per epoch, train vs test, side by side.

    Args:
        history: dict as returned by :func:`fit`, with lists ``train_loss``,
            ``train_acc`` and optionally ``test_loss``, ``test_acc``.
        axes: two matplotlib Axes ``(loss_ax, acc_ax)``; a new figure when None.

    Returns:
        The two Axes ``(loss_ax, acc_ax)``.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    loss_ax, acc_ax = axes
    for ax, metric, label in [(loss_ax, "loss", "Loss"), (acc_ax, "acc", "Accuracy")]:
        for split, style in [("train", "-"), ("test", "--")]:
            values = history.get(f"{split}_{metric}") or []
            if len(values):
                ax.plot(range(1, len(values) + 1), values, style, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label.lower())
        ax.set_title(f"{label} per epoch")
        ax.legend()
    return loss_ax, acc_ax


# --------------------------------------------------------------------------
# The doctor: why a network does not learn
# --------------------------------------------------------------------------
# `diagnose` looks at a student's model, data, loss, optimizer and (optionally)
# training step, on copies, and names what is wrong with the number it
# measured and the line that fixes it. Precision first: a healthy setup gets
# no findings. The doctor's own imports stay in its section.
import copy
import io
import math
import re
import warnings
from dataclasses import dataclass
from time import perf_counter as _perf_counter

DOCTOR_CODES = (
    "no-nonlinearity", "sigmoid-before-logits-loss", "softmax-before-cross-entropy", "probabilities-expected",
    "relu-on-output", "wrong-output-width", "label-range", "shape-mismatch", "no-zero-grad", "no-backward",
    "no-step", "step-order", "detached-loss", "optimizer-not-on-model", "frozen-parameters", "lr-too-high",
    "lr-too-low", "unscaled-inputs", "dead-units", "constant-init",
    # causes found beyond the first list
    "zero-grad-after-backward", "dtype-mismatch", "device-mismatch", "step-uses-global-model", "error",
)
_DOCTOR_SAMPLE = 512  # rows for the trial steps
_DOCTOR_FORWARD_ROWS = 2048  # rows for the forward-only checks (dead units, linearity)
_DOCTOR_TRIAL_STEPS = 40
_DOCTOR_TRIAL_SECONDS = 2.5  # the trial stops early when the student's step is slow (the call stays under 5 s)
_VIEW_OPS = ("Squeeze", "Unsqueeze", "View", "Reshape", "Select", "Slice", "Clone", "Expand", "Permute",
             "Transpose", "Index", "Alias", "ToCopy", "Unbind", "Split")
_AFFINE_MODULES = (nn.Linear, nn.Dropout, nn.BatchNorm1d, nn.Identity, nn.Flatten, nn.Unflatten)
_BINARY_LOSSES = (nn.BCEWithLogitsLoss, nn.BCELoss)
_STEP_CODES = ("no-zero-grad", "no-backward", "no-step", "step-order", "zero-grad-after-backward", "detached-loss",
               "lr-too-high", "lr-too-low", "error")
_CLASS_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)


@dataclass
class Finding:
    """One problem the doctor found.

    Attributes:
        code: a short fixed name from ``DOCTOR_CODES``, e.g. ``"no-zero-grad"``.
        message: what is wrong, in one sentence.
        evidence: the number the doctor measured that shows it.
        fix: the line of code (or the change) that fixes it.
    """

    code: str
    message: str
    evidence: str
    fix: str


class Diagnosis:
    """What ``diagnose`` found: ``.findings`` (a list of ``Finding``), ``.checked`` (what it looked at).

    Prints as a short report; in a notebook it renders as Markdown. ``.codes`` lists the finding codes and
    ``.ok`` is True when nothing was found.
    """

    def __init__(self, findings: list[Finding], checked: list[str], seconds: float = 0.0):
        self.findings = list(findings)
        self.checked = list(checked)
        self.seconds = seconds

    @property
    def codes(self) -> list[str]:
        return [finding.code for finding in self.findings]

    @property
    def ok(self) -> bool:
        return not self.findings

    def __len__(self) -> int:
        return len(self.findings)

    def __iter__(self):
        return iter(self.findings)

    def __repr__(self) -> str:
        if not self.findings:
            return "Diagnosis: no problems found.\nChecked: " + "; ".join(self.checked) + "."
        lines = [f"Diagnosis: {len(self.findings)} problem(s) found."]
        for i, f in enumerate(self.findings, 1):
            lines += [f"{i}. [{f.code}] {f.message}", f"   evidence: {f.evidence}", f"   fix: {f.fix}"]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        if not self.findings:
            return "**Diagnosis: no problems found.** Checked: " + "; ".join(self.checked) + "."
        lines = [f"**Diagnosis: {len(self.findings)} problem(s) found.**", ""]
        for i, f in enumerate(self.findings, 1):
            lines += [f"{i}. **`{f.code}`**: {f.message}", f"    - evidence: {f.evidence}", f"    - fix: `{f.fix}`"]
        return "\n".join(lines)


def _check_doctor_arguments(model, X, y, loss_fn, optimizer, step) -> None:
    """Raise ``TypeError`` with what to pass when an argument has the wrong kind."""
    def wrong(name, value, want):
        got = f"the class {value.__name__}" if isinstance(value, type) else f"a {type(value).__name__}"
        raise TypeError(f"diagnose: {name} must be {want}, got {got}")

    if not isinstance(model, nn.Module):
        wrong("model", model, "a model instance (an nn.Module such as nn.Sequential(...) or MyModel())")
    for name, value in (("X", X), ("y", y)):
        if not isinstance(value, torch.Tensor):
            wrong(name, value, f"a torch tensor (convert with torch.from_numpy({name}))")
    if isinstance(loss_fn, type) or not callable(loss_fn):
        wrong("loss_fn", loss_fn, "a loss instance, e.g. nn.BCEWithLogitsLoss() (with the parentheses)")
    if not isinstance(optimizer, torch.optim.Optimizer):
        wrong("optimizer", optimizer, "an optimizer instance, e.g. torch.optim.SGD(model.parameters(), lr=0.1)")
    if step is not None and not callable(step):
        wrong("step", step, "None or a function step(model, X, y, loss_fn, optimizer) that returns the loss")


def _origin_op(tensor: torch.Tensor) -> str:
    """Name of the last real operation that produced ``tensor`` (reshapes and indexing skipped), '' if none."""
    fn = tensor.grad_fn
    while fn is not None and fn.name().startswith(_VIEW_OPS) and fn.next_functions:
        fn = fn.next_functions[0][0]
    return "" if fn is None else re.sub(r"Backward\d*$", "", fn.name())


def _standard_step(model, X, y, loss_fn, optimizer):
    """The lesson's training step: forward, loss, zero_grad, backward, step; returns the loss."""
    model.train()
    y_logits = model(X)
    multi_class = y_logits.ndim == 2 and y_logits.shape[1] > 1
    if isinstance(getattr(loss_fn, "wrapped", loss_fn), _CLASS_LOSSES) or multi_class:
        loss = loss_fn(y_logits, y)
    else:  # one output unit: (N, 1) -> (N,) to match (N,) labels, float targets for BCE
        if y.ndim == 1 and y_logits.ndim == 2:
            y_logits = y_logits.squeeze(1)
        loss = loss_fn(y_logits, y.float())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


class _LossRecorder:
    """Stands in for the student's loss: records what each call was given and returned."""

    def __init__(self, loss_fn):
        self.wrapped, self.calls = loss_fn, []

    def __call__(self, input, target, *args, **kwargs):
        call = {"input": input, "target": target}
        self.calls.append(call)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call["loss"] = self.wrapped(input, target, *args, **kwargs)
        call["warnings"] = [str(w.message) for w in caught]
        return call["loss"]

    def __getattr__(self, name):
        return getattr(self.__dict__["wrapped"], name)


@contextlib.contextmanager
def _record_training_calls(model, optimizer, events: list):
    """Record, in order, zero_grad / backward / step calls and which parameters received a gradient."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads = {}
    hooks = [p.register_hook(lambda g, i=i: grads.__setitem__(i, g.detach().clone())) for i, p in enumerate(params)]
    original_backward = torch.Tensor.backward

    def backward(tensor, *args, **kwargs):
        events.append(("backward", tensor.grad_fn is None))
        return original_backward(tensor, *args, **kwargs)

    def wrap(obj, name, label):
        original = getattr(obj, name)

        def recorded(*args, **kwargs):
            events.append((label, None))
            return original(*args, **kwargs)
        setattr(obj, name, recorded)

    wrap(optimizer, "zero_grad", "zero_grad")
    wrap(optimizer, "step", "step")
    wrap(model, "zero_grad", "zero_grad")
    torch.Tensor.backward = backward
    try:
        yield params, grads
    finally:
        torch.Tensor.backward = original_backward
        for hook in hooks:
            hook.remove()


def _explain_error(error: BaseException, where: str) -> Finding:
    """A student's exception -> a Finding that quotes it and says what it usually means."""
    text = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:300]
    rules = [
        (r"shapes cannot be multiplied", "shape-mismatch",
         "the number of input features does not match the first layer's in_features",
         "make in_features of the first nn.Linear equal X.shape[1]"),
        (r"must be the same as input size|size of tensor a .* must match|to match target batch_size|"
         r"target size|Expected target size|multi-target not supported|0D or 1D target",
         "shape-mismatch", "the model's output and the labels have different shapes",
         "binary: loss_fn(y_logits.squeeze(1), y); multi-class: loss_fn(y_logits, y) with y of shape (N,)"),
        (r"out of bounds|Target -?\d+ is out", "label-range",
         "a label is outside 0..C-1, the classes the output layer has",
         "labels must be 0..C-1 (e.g. y - 1 if they start at 1) and the last layer needs C outputs"),
        (r"expected scalar type Long|Long but found Float|Float' for argument 'target'|\"nll_loss.*Float",
         "label-range", "CrossEntropyLoss needs int64 class indices but got float labels", "y = y.long()"),
        (r"between 0 and 1", "probabilities-expected",
         "BCELoss expects probabilities in [0, 1] but got raw logits",
         "use nn.BCEWithLogitsLoss() on the logits (or apply torch.sigmoid first)"),
        (r"does not require grad|does not have a grad_fn|Inference tensors cannot be saved", "detached-loss",
         "the loss is cut off from the model's parameters, so backward() has nothing to reach",
         "compute the loss from model(X) without .item(), .detach(), torch.no_grad() or inference_mode()"),
        (r"same device|Expected all tensors to be on|device type", "device-mismatch",
         "the model and the data are on different devices", "X, y = X.to(device), y.to(device); model.to(device)"),
        (r"dtype|scalar type|result type", "dtype-mismatch",
         "a tensor has the wrong dtype (float64 features, or integer targets for a BCE loss)",
         "X = X.float() for the features; y.float() for BCE targets, y.long() for CrossEntropyLoss"),
    ]
    for pattern, code, meaning, fix in rules:
        if re.search(pattern, str(error), flags=re.I):
            return Finding(code, f"{where} raised an error: {meaning}.", text, fix)
    return Finding("error", f"{where} raised an error, so the doctor could not try a training step.", text,
                   "read the error's last line; run the step on a few rows (X[:8], y[:8]) and print shapes")


def _sample_rows(n: int, k: int, device) -> torch.Tensor:
    """Up to ``k`` row indices out of ``n``, the same ones every call."""
    if n <= k:
        return torch.arange(n, device=device)
    generator = torch.Generator().manual_seed(0)
    return torch.randperm(n, generator=generator)[:k].sort().values.to(device)


def _trace_forward(model, X):
    """One forward pass with hooks: (output, leaf modules in call order, outputs of nn.ReLU calls, output of
    the last nn.Linear call).

    Dropout is switched off; batch norm uses batch statistics, as in training. ``model`` must be a copy.
    """
    order, relu_outputs, last_linear = [], [], {}
    leaves = [m for m in model.modules() if not list(m.children())]

    def hook(module, args, output):
        order.append(module)
        if isinstance(module, nn.Linear) and isinstance(output, torch.Tensor):
            last_linear["output"] = output.detach()
        if isinstance(module, nn.ReLU) and isinstance(output, torch.Tensor):
            relu_outputs.append((len(order) - 1, output.detach()))

    hooks = [m.register_forward_hook(hook) for m in leaves]
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    try:
        output = model(X)
    finally:
        for h in hooks:
            h.remove()
    return output, order, relu_outputs, last_linear.get("output")


def _is_affine(X: torch.Tensor, out: torch.Tensor) -> bool | None:
    """Is ``out`` an affine function of ``X`` on these rows? None when the test cannot tell."""
    X64 = X.detach().double().cpu().reshape(len(X), -1)
    out64 = out.detach().double().cpu().reshape(len(out), -1)
    if len(X64) <= X64.shape[1] + 2 or not torch.isfinite(out64).all():
        return None
    spread = (out64 - out64.mean(0)).norm()
    if spread < 1e-6 * (1 + out64.abs().max()):
        return None  # constant output: nothing to tell
    A = torch.cat([X64, torch.ones(len(X64), 1, dtype=torch.float64)], dim=1)
    coef = torch.linalg.lstsq(A, out64).solution
    return bool((out64 - A @ coef).norm() / spread < 1e-4)


def _loss_kind(loss_fn) -> str:
    """'binary', 'classes' or 'other' from the loss module's type."""
    if isinstance(loss_fn, _BINARY_LOSSES):
        return "binary"
    if isinstance(loss_fn, _CLASS_LOSSES):
        return "classes"
    return "other"


def _output_findings(loss_fn, out, loss_input, target, ys, y_all) -> list[Finding]:
    """Output layer, output activation and labels against what the loss expects."""
    found, kind = [], _loss_kind(loss_fn)
    name = type(loss_fn).__name__
    width = 1 if out.ndim == 1 else int(out.shape[1])
    if not isinstance(loss_input, torch.Tensor) or not isinstance(target, torch.Tensor):
        loss_input = target = None
    fed = (loss_input if loss_input is not None else out).detach()
    op = _origin_op(loss_input if loss_input is not None else out)
    labels = target if target is not None else ys
    values = torch.unique(labels.detach()).cpu()
    if torch.equal(values, torch.unique(ys.detach()).cpu()):  # labels as given: count classes in all of y
        values = torch.unique(y_all.detach()).cpu().to(values.dtype)
    shown = ", ".join(f"{v:g}" for v in values[:6].tolist()) + (", ..." if len(values) > 6 else "")
    if op == "Relu":
        found.append(Finding("relu-on-output", "A ReLU after the last layer clips every logit below 0 to 0, so "
                             "the model cannot say 'class 0' with confidence and gets no gradient there.",
                             f"{int((fed <= 0).sum())} of {fed.numel()} outputs are exactly 0",
                             "remove the final nn.ReLU(): the last layer must output raw logits"))
    if kind == "binary":
        if width != 1:
            found.append(Finding("wrong-output-width", f"{name} is a binary loss and needs one output unit (one "
                                 f"logit per example), but the model has {width}.",
                                 f"output shape {tuple(out.shape)}, labels {shown}",
                                 "nn.Linear(hidden_units, 1) as the last layer (or CrossEntropyLoss with "
                                 f"{width} outputs)"))
        if not set(values.tolist()) <= {0.0, 1.0}:
            found.append(Finding("label-range", f"{name} expects targets 0 and 1, but the labels are not 0/1.",
                                 f"label values: {shown}",
                                 "y = (y == 1).float() for -1/+1 labels; CrossEntropyLoss for more than "
                                 "two classes"))
        if isinstance(loss_fn, nn.BCEWithLogitsLoss) and op == "Sigmoid":
            found.append(Finding("sigmoid-before-logits-loss", "The model applies a sigmoid and "
                                 "BCEWithLogitsLoss applies another one, so the probabilities it sees stay "
                                 "between 0.5 and 0.73 and the loss can hardly fall.",
                                 f"outputs range {fed.min().item():.3f}..{fed.max().item():.3f}, all in (0, 1)",
                                 "remove the final nn.Sigmoid() (or torch.sigmoid): BCEWithLogitsLoss applies it"))
        if isinstance(loss_fn, nn.BCELoss) and loss_input is not None and op not in ("Sigmoid", "Softmax") and (
                fed.min() < 0 or fed.max() > 1 or op in ("Addmm", "Mm", "Linear", "Add", "Mv", "Matmul")):
            found.append(Finding("probabilities-expected", "BCELoss expects probabilities, but it is fed raw "
                                 "logits.", f"inputs to the loss range {fed.min().item():.3g}.."
                                 f"{fed.max().item():.3g} and come from {op or 'no operation'}",
                                 "loss_fn = nn.BCEWithLogitsLoss() on the logits (safer than a sigmoid + BCELoss)"))
    elif kind == "classes":
        is_float = labels.is_floating_point() and labels.ndim == 1
        ints = [int(v) for v in values.tolist() if float(v).is_integer()]
        if is_float:
            found.append(Finding("label-range", f"{name} needs int64 class indices, but the labels are floats.",
                                 f"labels dtype {labels.dtype}, values {shown}", "y = y.long()"))
        elif len(ints) == len(values) and len(values):
            lo, hi, k = min(ints), max(ints), len(ints)
            # more outputs than classes only counts when the data are large enough to hold every class
            if lo == 0 and hi == k - 1 and (width < k or (width > k and len(y_all) >= 20 * width)):
                found.append(Finding("wrong-output-width", f"There are {k} classes, so the last layer needs {k} "
                                     f"outputs (one logit per class), but it has {width}.",
                                     f"output shape {tuple(out.shape)}, labels {shown}",
                                     f"nn.Linear(hidden_units, {k}) as the last layer"))
            elif lo < 0 or hi >= width:
                fix = "y = y - 1  # labels 0..C-1" if lo == 1 and hi == width else "labels must be 0..C-1"
                found.append(Finding("label-range", f"{name} expects labels 0..{width - 1} for {width} outputs, "
                                     f"but the labels run from {lo} to {hi}.", f"label values: {shown}", fix))
        if isinstance(loss_fn, nn.CrossEntropyLoss) and op == "Softmax":
            found.append(Finding("softmax-before-cross-entropy", "The model applies a softmax and "
                                 "CrossEntropyLoss applies another one, which flattens the gradients.",
                                 "every row of the outputs sums to 1 (it came from a softmax)",
                                 "remove the final nn.Softmax(): CrossEntropyLoss takes raw logits"))
        if isinstance(loss_fn, nn.NLLLoss) and loss_input is not None and op != "LogSoftmax":
            found.append(Finding("probabilities-expected", "NLLLoss expects log-probabilities, but it is fed "
                                 f"the output of {op or 'no operation'}.",
                                 f"inputs to the loss range {fed.min().item():.3g}..{fed.max().item():.3g}",
                                 "use nn.CrossEntropyLoss() on the logits (it is LogSoftmax + NLLLoss)"))
    if loss_input is not None and kind != "classes" and not any(f.code == "wrong-output-width" for f in found):
        if tuple(loss_input.shape) != tuple(target.shape):
            found.append(Finding("shape-mismatch", "The loss gets predictions and targets of different shapes; "
                                 "they broadcast (or fail) instead of being compared one to one.",
                                 f"predictions {tuple(loss_input.shape)} vs targets {tuple(target.shape)}",
                                 "loss_fn(y_logits.squeeze(1), y) so both are (N,)"))
    return found


def _structure_findings(X, out, order, relu_outputs, linear_out) -> list[Finding]:
    """No non-linearity, constant initialisation, dead ReLU units, unscaled inputs."""
    found = []
    linears = [m for m in order if isinstance(m, nn.Linear)]
    if len(linears) >= 2:
        first, last = order.index(linears[0]), len(order) - 1 - order[::-1].index(linears[-1])
        between = order[first:last + 1]
        # both: no activation module between the layers, and the last layer's output is affine in X
        # (an activation written as torch.relu(...) in forward() leaves no module but bends the output)
        if all(isinstance(m, _AFFINE_MODULES) for m in between) and _is_affine(X, linear_out):
                found.append(Finding("no-nonlinearity", f"{len(linears)} linear layers run with nothing "
                                     "non-linear between them, so together they are one linear layer: the "
                                     "decision boundary can only be a straight line (a flat plane).",
                                     "layers in call order: " + " -> ".join(type(m).__name__ for m in order),
                                     "put an activation between the layers: nn.Linear(...), nn.ReLU(), "
                                     "nn.Linear(...)"))
    hidden = linears[:-1] if linears else []
    for layer in hidden:
        W, b = layer.weight.detach(), layer.bias
        if W.shape[0] > 1 and torch.equal(W, W[:1].expand_as(W)) and (b is None or torch.equal(b, b[:1].expand_as(b))):
            found.append(Finding("constant-init", "Every unit of a hidden layer starts with the same weights, so "
                                 "all units compute the same thing and get the same update: they stay copies.",
                                 f"all {W.shape[0]} rows of {layer} equal, e.g. {W[0, :3].tolist()}",
                                 "keep PyTorch's random initialisation (remove the zeros_/constant_ init)"))
            break
    if not any(f.code == "constant-init" for f in found):
        final_relu = _origin_op(out) == "Relu"
        for i, (_position, act) in enumerate(relu_outputs):
            if final_relu and i == len(relu_outputs) - 1:
                continue
            act = act.reshape(len(act), -1)
            dead = int((act == 0).all(dim=0).sum())
            # A few dead units are normal at random init, and in deeper layers they can come back as the
            # layers before them change. Flagged: a whole layer dead (nothing reaches the output, no gradient
            # flows back), three quarters of the first layer (its inputs never change, so neither do they), or
            # three quarters of a wide later layer (a state random init does not produce).
            units = act.shape[1]
            if units >= 2 and (dead == units or ((i == 0 or units >= 16) and dead >= max(2, 0.75 * units))):
                found.append(Finding("dead-units", "Most units of a ReLU layer output 0 for every input, so "
                                     "they pass no gradient and the layer has lost most of its capacity.",
                                     f"{dead} of {act.shape[1]} units of ReLU layer {i + 1} output 0 for all "
                                     f"{len(act)} inputs", "re-initialise the model (build it again) and train "
                                     "with a smaller lr; nn.LeakyReLU() keeps a small gradient"))
                break
    Xf = X.detach().double().reshape(len(X), -1)
    std, rms = Xf.std(0), Xf.pow(2).mean(0).sqrt()
    varying = std > 0
    if varying.sum() >= 1:
        big = rms.max().item()
        ratio = (std[varying].max() / std[varying].min()).item()
        if big >= 100 or ratio >= 1000:
            found.append(Finding("unscaled-inputs", "The input features are on very different (or very large) "
                                 "scales, so one learning rate is too big for some weights and too small for "
                                 "others.", f"feature sizes (root mean square) range {rms[varying].min().item():.3g}"
                                 f"..{big:.3g}; spreads differ {ratio:.3g}-fold",
                                 "standardise: X = (X - X_train.mean(0)) / X_train.std(0)"))
    return found


def _step_findings(step, model, optimizer, X, y, loss_fn) -> tuple[list[Finding], dict]:
    """Run the student's step twice on copies and watch zero_grad/backward/step. Returns findings and the first
    call's record (``loss_calls``, ``error``)."""
    found, info = [], {"loss_calls": [], "error": None}
    for probe in ("order", "accumulate"):
        m, opt = copy.deepcopy((model, optimizer))
        params = [p for p in m.parameters() if p.requires_grad]
        for p in m.parameters():
            p.grad = torch.full_like(p, 0.5) if probe == "accumulate" else None
        before = [p.detach().clone() for p in params]
        recorder, events = _LossRecorder(loss_fn), []
        with _record_training_calls(m, opt, events) as (params, grads):
            try:
                step(m, X.clone(), y.clone(), recorder, opt)
            except Exception as error:  # a student's step may raise anything
                if probe == "order":
                    info.update(loss_calls=recorder.calls, error=error)
                return found, info
        if probe == "order":
            info["loss_calls"] = recorder.calls
            names = [e[0] for e in events]
            moved = any(not torch.equal(a, p.detach()) for a, p in zip(before, params, strict=True))
            got_grads = bool(grads)
            if "backward" not in names and not got_grads:
                found.append(Finding("no-backward", "The step never calls loss.backward(), so no gradient is "
                                     "computed and optimizer.step() has nothing to follow.",
                                     f"calls seen: {', '.join(names) or 'none'}; 0 of {len(params)} parameter "
                                     "tensors received a gradient",
                                     "loss.backward()  # between zero_grad() and step()"))
                return found, info
            if not got_grads:
                leaf_or_not = "a new leaf" if ("backward", True) in events else "cut off from the model"
                found.append(Finding("detached-loss", "backward() ran, but on a loss that is no longer connected "
                                     "to the model's parameters (rebuilt from .item(), or detached).",
                                     f"0 of {len(params)} parameter tensors received a gradient (the tensor "
                                     f"given to backward() is {leaf_or_not})",
                                     "loss = loss_fn(y_logits, y); loss.backward()  # keep the loss tensor itself"))
                return found, info
            if "step" not in names and not moved:
                found.append(Finding("no-step", "The step computes gradients but never calls optimizer.step(), so "
                                     "the weights never change.", f"calls seen: {', '.join(names)}; 0 of "
                                     f"{len(params)} parameter tensors changed",
                                     "optimizer.step()  # after loss.backward()"))
            elif "step" in names and names.index("step") < names.index("backward"):
                found.append(Finding("step-order", "optimizer.step() runs before loss.backward(), so each update "
                                     "uses the gradients of the previous step (or none at the first).",
                                     f"call order: {', '.join(names)}",
                                     "optimizer.zero_grad(); loss.backward(); optimizer.step()  # in this order"))
            else:
                last_backward = len(names) - 1 - names[::-1].index("backward")
                later = names[last_backward:]
                if "zero_grad" in later and "step" in later and later.index("zero_grad") < later.index("step"):
                    found.append(Finding("zero-grad-after-backward", "optimizer.zero_grad() runs between "
                                         "backward() and step(), so the gradients are wiped before the update.",
                                         f"call order: {', '.join(names)}",
                                         "optimizer.zero_grad(); loss.backward(); optimizer.step()  # in this order"))
        else:
            stale = sum(1 for i, p in enumerate(params) if p.grad is not None and i in grads
                        and torch.allclose(p.grad - grads[i], torch.full_like(p, 0.5), atol=1e-6))
            if stale and stale == len(grads):
                found.append(Finding("no-zero-grad", "The step never clears the gradients, so each backward() adds "
                                     "to the old ones and the updates grow with every step.",
                                     f"after the step, {stale} of {len(params)} parameter gradients still hold "
                                     "the previous step's gradient plus the new one",
                                     "optimizer.zero_grad()  # before loss.backward()"))
    return found, info


def _dead_counts(model, X) -> list[tuple[int, int]]:
    """(units that output 0 for every row of ``X``, units) for each nn.ReLU call; ``model`` is not changed."""
    with torch.no_grad():
        _, _, relu_outputs, _ = _trace_forward(copy.deepcopy(model), X)
    return [(int((a.reshape(len(a), -1) == 0).all(dim=0).sum()), a[0].numel()) for _, a in relu_outputs]


def _trial(step, model, optimizer, X, y, loss_fn, steps: int, X_dead=None) -> dict:
    """Train copies for ``steps`` steps on ``X``, ``y``. Returns ``losses`` (seen before each step), ``move``
    (relative parameter change), ``grad_size`` (relative gradient size at the start), ``dead_before`` and
    ``dead_after`` (``_dead_counts`` on ``X_dead``, default ``X``, before and after)."""
    X_dead = X if X_dead is None else X_dead
    m, opt = copy.deepcopy((model, optimizer))
    params = [p for p in m.parameters() if p.requires_grad]
    for p in m.parameters():
        p.grad = None
    result = {"losses": [], "move": 0.0, "grad_size": 0.0, "dead_before": _dead_counts(m, X_dead),
              "dead_after": []}
    start = torch.cat([p.detach().reshape(-1) for p in params]).double()
    started = _perf_counter()
    for i in range(steps):
        if _perf_counter() - started > _DOCTOR_TRIAL_SECONDS:  # a slow step: judge on fewer steps
            break
        recorder = _LossRecorder(loss_fn)
        returned = step(m, X, y, recorder, opt)
        loss = recorder.calls[0]["loss"] if recorder.calls else returned
        if not isinstance(loss, (torch.Tensor, float, int)) or (isinstance(loss, torch.Tensor) and loss.numel() != 1):
            return dict(result, losses=[])  # the loss cannot be seen: no learning-rate verdict
        result["losses"].append(float(loss.item() if isinstance(loss, torch.Tensor) else loss))
        if i == 0:
            g = [p.grad.reshape(-1) for p in params if p.grad is not None]
            result["grad_size"] = (torch.cat(g).double().norm() / (start.norm() + 1e-12)).item() if g else 0.0
        if not math.isfinite(result["losses"][-1]):
            break
    end = torch.cat([p.detach().reshape(-1) for p in params]).double()
    result["move"] = ((end - start).norm() / (start.norm() + 1e-12)).item()
    if torch.isfinite(end).all():
        result["dead_after"] = _dead_counts(m, X_dead)
    return result


def _lr_findings(trial: dict, optimizer, slower_trial=None) -> list[Finding]:
    """Learning rate far too high (loss explodes, or the trial kills the ReLU units) or far too low (the
    weights barely move). ``slower_trial()`` reruns the trial at a 100 times smaller learning rate: units that
    die there too die of the initialisation, not of the learning rate."""
    lr = optimizer.param_groups[0].get("lr", float("nan"))
    name = type(optimizer).__name__
    losses = trial["losses"]
    if not losses or (len(losses) < 10 and all(math.isfinite(v) for v in losses)):  # too few steps to judge
        return []
    first, steps = losses[0], len(losses)
    finite = [v for v in losses if math.isfinite(v)]
    tail = losses[-5:]
    fix = f"lower it 10-fold or more, e.g. lr={lr / 10:g}"
    if len(finite) < steps or (sum(tail) / len(tail) > max(3 * first, first + 1.0)):
        ending = "NaN/inf" if len(finite) < steps else f"{max(finite):.3g}"
        return [Finding("lr-too-high", "The learning rate is far too high: the loss grows instead of falling.",
                        f"loss went from {first:.3g} to {ending} in {steps} trial steps at lr={lr:g} ({name})", fix)]
    late = losses[steps // 2:]
    if steps >= 20 and sum(late) / len(late) > max(1.5 * first, first + 0.5):
        return [Finding("lr-too-high", "The learning rate is far too high: the loss jumps up and stays well "
                        "above where it started.", f"loss {first:.3g} at the start, {sum(late) / len(late):.3g} on "
                        f"average in trial steps {steps // 2 + 1}-{steps} at lr={lr:g} ({name})", fix)]
    for layer, ((dead0, units), (dead1, _)) in enumerate(zip(trial["dead_before"], trial["dead_after"],
                                                              strict=False)):
        if dead1 < max(2, 0.75 * units):
            continue
        # Mostly alive at the start, and killed while the loss rose; or a whole layer killed by big updates (the
        # weights moved by half their size or more) that a 100 times smaller learning rate leaves alive: the
        # learning rate killed them. Otherwise a narrow layer died of its initialisation.
        rose = losses[-1] > 1.05 * first
        killed = dead0 <= 0.5 * units and (rose or (dead1 == units and trial["move"] >= 0.5))
        if killed and not rose and slower_trial is not None:
            slower = slower_trial()["dead_after"]
            killed = len(slower) > layer and slower[layer][0] < max(2, 0.75 * units)
        if killed:
            return [Finding("lr-too-high", "The learning rate is far too high: the first big updates push the "
                            "ReLU units into outputting 0 for every input, and then the network stops learning.",
                            f"in {steps} trial steps at lr={lr:g} ({name}) the dead units of ReLU layer "
                            f"{layer + 1} went from {dead0} to {dead1} of {units}; loss {first:.3g} -> "
                            f"{losses[-1]:.3g}", fix)]
        if dead1 == units:
            return [Finding("dead-units", "A ReLU layer dies during the first training steps: every unit "
                            "outputs 0 for every input, so no gradient flows back and the network is stuck.",
                            f"ReLU layer {layer + 1}: {dead0} of {units} units dead at the start, all {units} after "
                            f"{steps} trial steps at lr={lr:g} ({name})",
                            "build the model again (another seed), with wider layers or nn.LeakyReLU()")]
    per_step = trial["move"] / steps
    if per_step < 1e-5 and first > 0.2 and (first - min(finite)) < 0.01 * first and trial["grad_size"] > 1e-4:
        return [Finding("lr-too-low", "The learning rate is so small that the weights barely move, so training "
                        "would take forever.", f"weights moved {trial['move']:.2g} (relative) in {steps} trial "
                        f"steps at lr={lr:g} ({name}); loss {first:.4g} -> {losses[-1]:.4g}",
                        f"raise it 10- to 100-fold, e.g. lr={lr * 100:g}")]
    return []


def _same_state(a, b) -> bool:
    """Are two (nested) state dicts equal, tensors bit for bit?"""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and bool(
            torch.equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_state(u, v) for u, v in zip(a, b, strict=True))
    return a == b or (a != a and b != b)  # NaN equals NaN here


def _first_code(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def diagnose(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn, optimizer: torch.optim.Optimizer,
             step=None) -> Diagnosis:
    """Find out why a classifier does not learn: what is wrong, the number that shows it, and the fix.

    The doctor looks at the model's layers and a forward pass, the labels against the loss, the optimizer
    against the model, the inputs' scales, and then runs the training step: twice while watching the calls to
    ``zero_grad``, ``backward`` and ``step``, then up to 40 trial steps to see the loss and the weights move
    (fewer when your step is slow, so that a call stays under 5 s). Everything runs on copies of the model and
    optimizer, on at most 512 rows of the data (2,048 for the forward-only checks), on the model's device, with
    torch's random generators restored afterwards. On the lesson's models a call takes a fraction of a second
    (``tests/benchmarks/doctor_benchmark.py`` measures it). A healthy setup gets no findings; a clean report
    is no proof that a model will train well.

    Args:
        model: the classifier (an ``nn.Module`` instance) returning ``(N, 1)`` or ``(N, C)`` logits.
        X: ``(N, D)`` float tensor of features.
        y: ``(N,)`` tensor of labels: 0/1 for a binary loss, 0..C-1 for C classes (anything else is a finding).
        loss_fn: the loss instance, e.g. ``nn.BCEWithLogitsLoss()`` or ``nn.CrossEntropyLoss()``.
        optimizer: the ``torch.optim`` optimizer instance meant to train ``model``.
        step: optional, your own training step ``step(model, X, y, loss_fn, optimizer)`` returning the loss;
            without it the lesson's step is used (binary: ``loss_fn(model(X).squeeze(1), y.float())``,
            multi-class: ``loss_fn(model(X), y)``, then ``zero_grad``, ``backward``, ``step``).

    Returns:
        A ``Diagnosis``: ``.findings`` is a list of ``Finding(code, message, evidence, fix)``, empty when no
        problem was found; it prints as a short report.

    Raises:
        TypeError: an argument of the wrong kind (a class instead of an instance, an array instead of a tensor).
        An error inside your model, loss or step never escapes: it becomes a finding that quotes it.
    """
    _check_doctor_arguments(model, X, y, loss_fn, optimizer, step)
    started = _perf_counter()
    device = _model_device(model)
    saved_state = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(optimizer.state_dict())
    saved_grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    saved_mode = [(m, m.training) for m in model.modules()]
    rng_devices = [device] if device.type == "cuda" else []
    # the student's step may print or warn on every call: the doctor's report is what the student reads
    with (torch.random.fork_rng(devices=rng_devices), torch.inference_mode(False), torch.enable_grad(),
          contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings()):
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        findings, checked = [], []
        try:
            findings, checked = _diagnose(model, X, y, loss_fn, optimizer, step, device, checked)
        except Exception as error:  # a setup the checks did not foresee: say so instead of crashing
            findings.append(_explain_error(error, "Running your setup"))
    changed = (not _same_state(saved_state, model.state_dict())
               or not _same_state(saved_opt, optimizer.state_dict())
               or any((g is None) != (p.grad is None) or (g is not None and not torch.equal(g, p.grad))
                      for g, p in zip(saved_grads, model.parameters(), strict=True)))
    if changed:  # the step trained the caller's model (a global variable): put everything back
        with torch.no_grad():
            model.load_state_dict(saved_state)
            for g, p in zip(saved_grads, model.parameters(), strict=True):
                p.grad = g
        optimizer.load_state_dict(saved_opt)
        # what the doctor saw of the step on its copies is then meaningless: keep only the other findings
        findings = [f for f in findings if f.code not in _STEP_CODES]
        findings.append(Finding("step-uses-global-model", "Your step changed the model you passed in, although "
                                "the doctor called it on a copy: it uses a global model instead of its argument.",
                                "the model's weights changed during the trial (the doctor has restored them)",
                                "inside step, use only its arguments: model, X, y, loss_fn, optimizer"))
    for m, training in saved_mode:
        m.training = training
    seen, unique = set(), []
    for f in findings:
        if f.code not in seen:
            seen.add(f.code)
            unique.append(f)
    return Diagnosis(unique, checked, _perf_counter() - started)


def _diagnose(model, X, y, loss_fn, optimizer, step, device, checked) -> tuple[list[Finding], list[str]]:
    """The checks behind ``diagnose``, in order; stops at the first layer of problems that hides the next.
    Appends what it looked at to ``checked``."""
    findings = []
    checked.append("data shapes, dtypes and device")
    if X.device != device or y.device != device:
        findings.append(Finding("device-mismatch", "The data and the model are on different devices.",
                                f"X is on {X.device}, y on {y.device}, the model on {device}",
                                "X, y = X.to(device), y.to(device)"))
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    if X.is_floating_point() and X.dtype != dtype:
        findings.append(Finding("dtype-mismatch", f"The features are {X.dtype}, the model's weights {dtype}.",
                                f"X.dtype is {X.dtype}", "X = X.float()  # and the model stays float32"))
    elif not X.is_floating_point():
        findings.append(Finding("dtype-mismatch", "The features are integers; layers need float inputs.",
                                f"X.dtype is {X.dtype}", "X = X.float()"))
    X = X.detach().to(device=device, dtype=dtype)
    y = y.detach().to(device)
    if X.ndim != 2 or len(X) != len(y) or not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
        findings.append(Finding("shape-mismatch", "X must be (N, D) and y (N,): one label per row of X.",
                                f"X {tuple(X.shape)}, y {tuple(y.shape)}",
                                "X = X.reshape(len(X), -1); y = y.reshape(-1) (one label per example)"))
        return findings, checked
    if not torch.isfinite(X).all():
        findings.append(Finding("error", "X contains NaN or infinite values.",
                                f"{int((~torch.isfinite(X)).sum())} non-finite entries", "clean or drop those rows"))
        return findings, checked

    checked.append("the optimizer against the model")
    model_params = list(model.parameters())
    opt_ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
    trainable = [p for p in model_params if p.requires_grad]
    frozen = len(model_params) - len(trainable)
    if frozen:
        findings.append(Finding("frozen-parameters", "Some of the model's parameters have requires_grad=False, so "
                                "they never learn.", f"{frozen} of {len(model_params)} parameter tensors frozen",
                                "for p in model.parameters(): p.requires_grad_(True)"))
    missing = sum(1 for p in trainable if id(p) not in opt_ids)
    if missing:
        findings.append(Finding("optimizer-not-on-model", "The optimizer does not hold this model's parameters "
                                "(it was built over another model, or before the model was rebuilt), so "
                                "step() never changes this model.",
                                f"{missing} of {len(trainable)} parameter tensors of the model are not in the "
                                "optimizer", "optimizer = torch.optim.SGD(model.parameters(), lr=...)  # after "
                                "building this model"))
    work_model, work_opt = copy.deepcopy((model, optimizer))
    forward_rows = _sample_rows(len(X), _DOCTOR_FORWARD_ROWS, device)
    rows = _sample_rows(len(X), _DOCTOR_SAMPLE, device)
    Xf, Xs, ys = X[forward_rows], X[rows], y[rows]

    checked.append("a forward pass, the output layer and the labels against the loss")
    try:
        out, order, relu_outputs, linear_out = _trace_forward(work_model, Xf)
    except Exception as error:
        findings.append(_explain_error(error, "The model's forward pass"))
        return findings, checked
    the_step = step if step is not None else _standard_step
    step_found, info = [], {"loss_calls": [], "error": None}
    if step is not None:
        checked.append("your training step (zero_grad, backward, step and their order)")
        step_found, info = _step_findings(step, work_model, work_opt, Xs, ys, loss_fn)
    else:
        recorder = _LossRecorder(loss_fn)
        m, opt = copy.deepcopy((work_model, work_opt))
        try:
            _standard_step(m, Xs.clone(), ys.clone(), recorder, opt)
        except Exception as error:
            info["error"] = error
        info["loss_calls"] = recorder.calls
    call = info["loss_calls"][0] if info["loss_calls"] else {}
    output_found = _output_findings(loss_fn, out, call.get("input"), call.get("target"), ys, y)
    findings += output_found
    checked.append("non-linearity, initialisation, dead ReLU units and input scales")
    findings += _structure_findings(Xf, out, order, relu_outputs, linear_out)
    if info["error"] is not None:
        if not output_found:
            findings.append(_explain_error(info["error"], "Your training step" if step else "The training step"))
        return findings, checked
    findings += step_found
    if findings and not _first_code(findings) <= {"dead-units"}:
        return findings, checked
    try:
        trial = _trial(the_step, work_model, work_opt, Xs, ys, loss_fn, _DOCTOR_TRIAL_STEPS, X_dead=Xf)
    except Exception as error:
        findings.append(_explain_error(error, "A trial training step"))
        return findings, checked
    checked.append(f"the learning rate ({len(trial['losses'])} trial steps on {len(rows)} rows)" if trial["losses"]
                   else "not the learning rate (the step's loss could not be seen)")

    def slower_trial():
        m, opt = copy.deepcopy((work_model, work_opt))
        for group in opt.param_groups:
            group["lr"] = group["lr"] / 100
        return _trial(the_step, m, opt, Xs, ys, loss_fn, len(trial["losses"]), X_dead=Xf)

    findings += _lr_findings(trial, optimizer, slower_trial)
    return findings, checked


# --------------------------------------------------------------------------
# Playground: a live view of a network learning (core, then the widget)
# --------------------------------------------------------------------------
# The core (`Playground`) is plain Python and matplotlib, testable without a
# front end; the widget (`playground`) is a thin ipywidgets layer over it.
import time  # the playground's own imports stay in its section (E402 is off for this module)
import weakref

PLAYGROUND_DATASETS = ("circles", "moons", "xor", "blobs", "spirals")
_PLAYGROUND_ACTIVATIONS = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "tanh": "Tanh", "sigmoid": "Sigmoid",
                           "linear": "Identity"}
_PLAYGROUND_OPTIMIZERS = ("sgd", "momentum", "adam")
_BLOB_CENTRES = [[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]]
_MAX_TILE_LAYERS, _MAX_TILE_UNITS = 4, 8


def _playground_data(dataset: str, n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One of the playground's datasets -> ``X`` ``(n_samples, 2)`` float32, ``y`` ``(n_samples,)`` int64.

    ``noise`` is a standard deviation in the data's own units (radians of
    angle for the spirals); blobs are four clusters at distance 1 from the origin.
    """
    from sklearn.datasets import make_blobs, make_circles, make_moons  # only the playground needs sklearn here

    if dataset == "circles":
        X, y = make_circles(n_samples=n_samples, noise=noise, factor=0.5, random_state=seed)
    elif dataset == "moons":
        X, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    elif dataset == "xor":
        X, y = make_xor(n_samples=n_samples, noise=noise, random_state=seed)
    elif dataset == "blobs":
        X, y = make_blobs(n_samples=n_samples, centers=_BLOB_CENTRES, cluster_std=noise, random_state=seed)
    else:
        X, y = make_spirals(n_samples=n_samples, n_classes=3, noise=noise, random_state=seed)
    return X.astype(np.float32), y.astype(np.int64)


def _playground_user_data(X, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the student's own data -> ``X`` ``(N, 2)`` float32 copy, ``y`` ``(N,)`` labels 0..C-1, classes ``(C,)``.

    Any label values are accepted (e.g. -1/1 or 3/7): they are renumbered
    0..C-1 in sorted order, and ``classes[k]`` is the original label of class k.
    """
    X = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (N, 2): one row per point, two features; got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number) or not np.isfinite(X.astype(np.float64)).all():
        raise ValueError("X must hold finite numbers: remove or fill the NaN/inf entries first")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must have shape (N,) = ({len(X)},), one label per row of X; got shape {y.shape}")
    classes, y_index = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"y holds only one class ({classes.tolist()}): a classifier needs at least two")
    return X.astype(np.float32).copy(), y_index.astype(np.int64), classes


def _check_playground_settings(s: dict) -> None:
    """Raise ``ValueError`` saying what to change when a playground setting is invalid."""
    if s["X"] is None and s["dataset"] not in PLAYGROUND_DATASETS:
        raise ValueError(f"unknown dataset {s['dataset']!r}: choose one of {PLAYGROUND_DATASETS}, or pass X and y")
    if (s["X"] is None) != (s["y"] is None):
        raise ValueError("pass both X (N, 2) and y (N,) for your own data, or neither")
    if s["activation"] not in _PLAYGROUND_ACTIVATIONS:
        raise ValueError(f"unknown activation {s['activation']!r}: choose one of {tuple(_PLAYGROUND_ACTIVATIONS)}")
    if s["optimizer"] not in _PLAYGROUND_OPTIMIZERS:
        raise ValueError(f"unknown optimizer {s['optimizer']!r}: choose one of {_PLAYGROUND_OPTIMIZERS}")
    widths = s["hidden_layers"]
    if not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(f"hidden_layers must be whole numbers >= 1 (units per layer), e.g. (8, 8); got {widths}")
    checks = [
        (s["lr"] > 0, f"lr must be > 0 (e.g. 0.03), got {s['lr']}"),
        (s["l2"] >= 0, f"l2 must be >= 0 (0 turns it off), got {s['l2']}"),
        (0 <= s["dropout"] < 1, f"dropout must be in [0, 1) (0 turns it off), got {s['dropout']}"),
        (0 < s["test_size"] < 1, f"test_size must be a fraction in (0, 1), e.g. 0.2; got {s['test_size']}"),
        (s["noise"] >= 0, f"noise must be >= 0, got {s['noise']}"),
        (s["n_samples"] >= 10, f"n_samples must be at least 10, got {s['n_samples']}"),
        (s["batch_size"] is None or s["batch_size"] >= 1, f"batch_size must be None (full batch) or >= 1, "
                                                          f"got {s['batch_size']}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def _playground_mlp(hidden_layers: tuple[int, ...], activation: str, dropout: float, n_outputs: int) -> nn.Sequential:
    """``Linear(2, h1), act, [Dropout], ..., Linear(h_last, n_outputs)``: ``(N, 2)`` -> ``(N, n_outputs)`` logits."""
    layers: list[nn.Module] = []
    width = 2
    for units in hidden_layers:
        layers += [nn.Linear(width, units), getattr(nn, _PLAYGROUND_ACTIVATIONS[activation])()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = units
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


class Playground:
    """A small network learning a 2-D classification task, one epoch at a time.

    The core of the lesson's playground, with no widget in it: build it, call
    :meth:`step`, look at :meth:`figure`, read :attr:`history`, copy
    :meth:`to_code`. Two classes -> one logit and ``BCEWithLogitsLoss``;
    ``C > 2`` classes -> ``C`` logits and ``CrossEntropyLoss`` (decided by the labels).

    Args:
        dataset: ``"circles"``, ``"moons"``, ``"xor"``, ``"blobs"`` (4 classes) or
            ``"spirals"`` (3 classes); ignored when ``X`` and ``y`` are given.
        noise: standard deviation of the data's noise (radians for spirals).
        n_samples: number of points generated (ignored for your own data).
        test_size: fraction of the points held out for testing.
        hidden_layers: units per hidden layer, e.g. ``(8, 8)``; ``()`` is a linear model.
        activation: ``"relu"``, ``"leaky_relu"``, ``"tanh"``, ``"sigmoid"`` or ``"linear"``.
        optimizer: ``"sgd"``, ``"momentum"`` (SGD with momentum 0.9) or ``"adam"``.
        lr: learning rate, > 0.
        l2: L2 penalty, passed to the optimizer as ``weight_decay``.
        dropout: dropout probability after every hidden activation.
        batch_size: mini-batch size, or None for full-batch gradient descent.
        seed: seeds the data, the split, the weights, dropout and the shuffling.
        X: your own ``(N, 2)`` points (array or tensor), with ``y``; not modified.
        y: your own ``(N,)`` labels, any values (renumbered 0..C-1 in sorted order).
        device: where the model trains; None means the CPU, which is faster than
            a GPU for networks this small (each step is a few tiny kernels).

    Attributes:
        model: the ``nn.Sequential`` being trained: ``(N, 2)`` -> ``(N, 1)`` or ``(N, C)`` logits.
        loss_fn, optimizer: its loss and optimizer; ``task`` says which loss and why.
        history: dict of lists, one entry per epoch: ``epoch``, ``train_loss``,
            ``test_loss``, ``train_acc``, ``test_acc``; ``epoch`` is its length.
        X, y: all ``(N, 2)`` float32 points and ``(N,)`` int64 labels 0..C-1 (copies);
            ``X_train``, ``X_test``, ``y_train``, ``y_test``: the split, as tensors on ``device``.
        classes: ``(C,)`` original label of each class; ``n_classes``: C.
        settings: the settings above (without ``X``, ``y``, ``device``).
    """

    def __init__(self, dataset="circles", noise=0.1, n_samples=400, test_size=0.2, hidden_layers=(8, 8),
                 activation="relu", optimizer="adam", lr=0.03, l2=0.0, dropout=0.0, batch_size=None, seed=42,
                 X=None, y=None, device=None):
        hidden_layers = (hidden_layers,) if isinstance(hidden_layers, (int, np.integer)) else tuple(hidden_layers)
        settings = dict(dataset=dataset, noise=noise, n_samples=n_samples, test_size=test_size,
                        hidden_layers=hidden_layers, activation=activation, optimizer=optimizer, lr=lr, l2=l2,
                        dropout=dropout, batch_size=batch_size, seed=seed, X=X, y=y)
        _check_playground_settings(settings)
        self.settings = {k: v for k, v in settings.items() if k not in ("X", "y")}
        self.device = torch.device(device or "cpu")
        self._own_data = X is not None
        if self._own_data:
            X_np, y_np, self.classes = _playground_user_data(X, y)
            self.settings["dataset"] = "your data"
        else:
            X_np, y_np = _playground_data(dataset, n_samples, noise, seed)
            self.classes = np.unique(y_np)
        self.X, self.y = X_np, y_np  # (N, 2) float32, (N,) int64 labels 0..C-1
        self._split(test_size, seed)
        self.n_classes = len(self.classes)
        self.n_outputs = _output_units(self.n_classes)
        self._lock = threading.RLock()
        self.reset()

    def _split(self, test_size: float, seed: int) -> None:
        """Shuffle-split into ``X_train`` ``(N_train, 2)``, ``X_test`` ``(N_test, 2)`` float32 tensors and labels."""
        from sklearn.model_selection import train_test_split

        try:
            parts = train_test_split(self.X, self.y, test_size=test_size, random_state=seed)
        except ValueError as error:
            raise ValueError(f"cannot split {len(self.X)} points with test_size={test_size}: {error}") from None
        X_train, X_test, y_train, y_test = (torch.tensor(a).to(self.device) for a in parts)
        self.X_train, self.X_test, self.y_train, self.y_test = X_train, X_test, y_train, y_test

    @property
    def task(self) -> str:
        """One line saying how the labels decided the output layer and the loss."""
        if _is_binary(self.n_outputs):
            return "2 classes -> 1 logit, BCEWithLogitsLoss"
        return f"{self.n_classes} classes -> {self.n_outputs} logits, CrossEntropyLoss"

    def reset(self) -> None:
        """Back to epoch 0: fresh weights from ``seed``, a fresh optimizer, empty history."""
        with self._lock:
            s = self.settings
            torch.manual_seed(s["seed"])
            self.model = _playground_mlp(s["hidden_layers"], s["activation"], s["dropout"], self.n_outputs)
            self.model.to(self.device)
            self._rng_state = torch.get_rng_state()  # dropout and shuffling continue from here, as in to_code()
            self.loss_fn = nn.BCEWithLogitsLoss() if _is_binary(self.n_outputs) else nn.CrossEntropyLoss()
            self.optimizer = self._make_optimizer()
            self.history: dict[str, list[float]] = {k: [] for k in
                                                    ("epoch", "train_loss", "test_loss", "train_acc", "test_acc")}

    def _make_optimizer(self) -> torch.optim.Optimizer:
        """The optimizer named in the settings, over ``self.model.parameters()``."""
        s, params = self.settings, self.model.parameters()
        if s["optimizer"] == "adam":
            return torch.optim.Adam(params, lr=s["lr"], weight_decay=s["l2"])
        momentum = 0.9 if s["optimizer"] == "momentum" else 0.0
        return torch.optim.SGD(params, lr=s["lr"], momentum=momentum, weight_decay=s["l2"])

    def _batches(self):
        """The training set for one epoch: the full batch, or shuffled mini-batches (as in ``to_code``)."""
        batch_size = self.settings["batch_size"]
        if not batch_size:
            return [(self.X_train, self.y_train)]
        order = torch.randperm(len(self.X_train)).to(self.device)
        return [(self.X_train[rows], self.y_train[rows]) for rows in order.split(batch_size)]

    def step(self, epochs: int = 1) -> dict[str, float]:
        """Train for ``epochs`` epochs, recording losses and accuracies after each one.

        Losses and accuracies are measured after the epoch's updates, on the
        whole train and test sets, in eval mode (no dropout).

        Returns:
            The last epoch's record: ``epoch`` (int), ``train_loss``,
            ``test_loss``, ``train_acc``, ``test_acc`` (floats).
        """
        if int(epochs) != epochs or epochs < 1:
            raise ValueError(f"epochs must be a whole number >= 1, got {epochs}")
        with self._lock, torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._rng_state)  # the playground's own random stream, untouched by other cells
            for _ in range(int(epochs)):
                _train_epoch(self.model, self.loss_fn, self.optimizer, self._batches())
                record = self._record()
            self._rng_state = torch.get_rng_state()
            self.model.train()
        return record

    def _record(self) -> dict[str, float]:
        """Evaluate train and test sets and append one row to ``history``."""
        train_loss, train_acc = _evaluate(self.model, self.loss_fn, self.X_train, self.y_train)
        test_loss, test_acc = _evaluate(self.model, self.loss_fn, self.X_test, self.y_test)
        record = dict(epoch=len(self.history["epoch"]) + 1, train_loss=train_loss, test_loss=test_loss,
                      train_acc=train_acc, test_acc=test_acc)
        for key, value in record.items():
            self.history[key].append(value)
        return record

    @property
    def epoch(self) -> int:
        """Number of epochs trained since the last reset."""
        return len(self.history["epoch"])

    def _extent(self) -> tuple[float, float, float, float]:
        """``(x1_min, x1_max, x2_min, x2_max)`` of the plane shown: the data plus a margin, square."""
        return _plot_extent(self.X, square=True)

    def grid_outputs(self, resolution: int = 60) -> dict:
        """What the network computes over a ``resolution x resolution`` grid covering the data.

        Returns:
            dict with ``extent`` (x1_min, x1_max, x2_min, x2_max); ``probs``: ``(R, R, C)``
            float array of class probabilities (C = 2 for binary: 1 - p, p), row 0 at
            the bottom; ``hidden``: one ``(R, R, units)`` float array per hidden layer,
            the output of its activation (what the Playground's neuron tiles show).
        """
        extent = self._extent()
        h = _as_float_tensor(_grid(extent, resolution)[2], self.device)  # (R*R, 2)
        hidden = []
        with self._lock, _eval_mode(self.model), torch.inference_mode():  # eval: no dropout
            for layer in self.model:
                h = layer(h)  # (R*R, units) after a hidden layer
                if type(layer).__name__ in _PLAYGROUND_ACTIVATIONS.values():
                    hidden.append(h.cpu().numpy().reshape(resolution, resolution, -1))
            probs = _logits_to_probs(h).cpu().numpy()  # (R*R, C), C = 2 for one logit
        return dict(extent=extent, probs=probs.reshape(resolution, resolution, -1), hidden=hidden)

    def figure(self, resolution: int = 60):
        """One matplotlib Figure of the current state, new at each call.

        It is already closed in pyplot, so it shows once, as a cell's last
        expression or with ``display(fig)``, and figures don't pile up.

        Left: the plane shaded by predicted probability, train points filled and
        test points hollow; below it the loss curves; right: one small map per
        hidden unit (first 8 units of the first 4 hidden layers). The title gives
        the epoch, the test accuracy and the output layer/loss chosen by the labels.
        """
        view = _PlaygroundView(self, resolution)
        view.update()
        return view.fig

    def to_code(self) -> str:
        """The same training as runnable PyTorch: data, split, model, loss, optimizer, loop, final numbers.

        Pasted into a cell (with ``helper_functions`` importable, and your
        ``X`` and ``y`` defined if you gave your own data) it trains on the CPU
        for the playground's current number of epochs and prints the same
        losses: the seed, the order of random draws and every operation are the same.
        """
        s = self.settings
        lines = ["import numpy as np", "import torch", "from sklearn.model_selection import train_test_split",
                 "from torch import nn", "", *self._code_data(), "X, y = X.astype(np.float32), y.astype(np.int64)",
                 f"X_train, X_test, y_train, y_test = train_test_split(X, y, test_size={s['test_size']!r}, "
                 f"random_state={s['seed']!r})",
                 "X_train, X_test, y_train, y_test = (torch.tensor(a) for a in (X_train, X_test, y_train, y_test))",
                 "", *self._code_model(), "", *self._code_loop(), "", *self._code_result()]
        return "\n".join(lines) + "\n"

    def _code_data(self) -> list[str]:
        """Lines of :meth:`to_code` that make ``X`` ``(N, 2)`` and ``y`` ``(N,)``."""
        s = self.settings
        n, noise, seed = s["n_samples"], s["noise"], s["seed"]
        if self._own_data:
            return ["# X: your (N, 2) points and y: your (N,) labels, as given to Playground(X=X, y=y)",
                    "X = X.detach().cpu().numpy() if torch.is_tensor(X) else np.asarray(X)",
                    "y = y.detach().cpu().numpy() if torch.is_tensor(y) else np.asarray(y)",
                    "classes, y = np.unique(y, return_inverse=True)  # labels renumbered 0..C-1"]
        calls = {
            "circles": ("from sklearn.datasets import make_circles",
                        f"make_circles(n_samples={n}, noise={noise!r}, factor=0.5, random_state={seed})"),
            "moons": ("from sklearn.datasets import make_moons",
                      f"make_moons(n_samples={n}, noise={noise!r}, random_state={seed})"),
            "xor": ("from helper_functions import make_xor",
                    f"make_xor(n_samples={n}, noise={noise!r}, random_state={seed})"),
            "blobs": ("from sklearn.datasets import make_blobs",
                      f"make_blobs(n_samples={n}, centers={_BLOB_CENTRES}, cluster_std={noise!r}, "
                      f"random_state={seed})"),
            "spirals": ("from helper_functions import make_spirals",
                        f"make_spirals(n_samples={n}, n_classes=3, noise={noise!r}, random_state={seed})"),
        }
        module_import, call = calls[s["dataset"]]
        return [module_import, f"X, y = {call}"]

    def _code_model(self) -> list[str]:
        """Lines of :meth:`to_code` that build the model, the loss and the optimizer."""
        s = self.settings
        lines, width = [f"torch.manual_seed({s['seed']})", "model = nn.Sequential("], 2
        for units in s["hidden_layers"]:
            lines += [f"    nn.Linear({width}, {units}),", f"    nn.{_PLAYGROUND_ACTIVATIONS[s['activation']]}(),"]
            lines += [f"    nn.Dropout({s['dropout']!r})," ] if s["dropout"] > 0 else []
            width = units
        lines += [f"    nn.Linear({width}, {self.n_outputs}),  # {self.task}", ")"]
        if _is_binary(self.n_outputs):
            lines += ["loss_fn = nn.BCEWithLogitsLoss()", "", "", "def loss_of(logits, y):",
                      "    return loss_fn(logits.squeeze(1), y.float())  # (N, 1) logits -> (N,), float targets",
                      "", "", "def predict(logits):", "    return (logits.squeeze(1) > 0).long()  # p > 0.5", "", ""]
        else:
            lines += ["loss_fn = nn.CrossEntropyLoss()", "", "", "def loss_of(logits, y):",
                      "    return loss_fn(logits, y)  # (N, C) logits, (N,) int64 labels", "", "",
                      "def predict(logits):", "    return logits.argmax(dim=1)", "", ""]
        if s["optimizer"] == "adam":
            lines.append(f"optimizer = torch.optim.Adam(model.parameters(), lr={s['lr']!r}, weight_decay={s['l2']!r})")
        else:
            momentum = 0.9 if s["optimizer"] == "momentum" else 0.0
            lines.append(f"optimizer = torch.optim.SGD(model.parameters(), lr={s['lr']!r}, momentum={momentum}, "
                         f"weight_decay={s['l2']!r})")
        return lines

    def _code_loop(self) -> list[str]:
        """Lines of :meth:`to_code` with the training loop (full batch or shuffled mini-batches)."""
        batch_size = self.settings["batch_size"]
        lines = [f"epochs = {self.epoch}", "for epoch in range(epochs):", "    model.train()"]
        step = ["optimizer.zero_grad()", "loss.backward()", "optimizer.step()"]
        if batch_size is None:
            return lines + ["    loss = loss_of(model(X_train), y_train)  # full batch"] + [f"    {s}" for s in step]
        return lines + ["    order = torch.randperm(len(X_train))  # a new shuffle every epoch",
                        f"    for start in range(0, len(X_train), {batch_size}):",
                        f"        rows = order[start:start + {batch_size}]",
                        "        loss = loss_of(model(X_train[rows]), y_train[rows])"] + [f"        {s}" for s in step]

    def _code_result(self) -> list[str]:
        """Lines of :meth:`to_code` that measure and print the final losses and test accuracy."""
        return ["model.eval()", "with torch.inference_mode():",
                "    train_loss = loss_of(model(X_train), y_train).item()",
                "    test_logits = model(X_test)",
                "    test_loss = loss_of(test_logits, y_test).item()",
                "    test_acc = (predict(test_logits) == y_test).float().mean().item()",
                'print(f"epoch {epochs}: train loss {train_loss:.4f}, test loss {test_loss:.4f}, '
                'test accuracy {test_acc:.3f}")']


class _PlaygroundView:
    """The playground's figure, built once; :meth:`update` redraws what changed, :meth:`jpeg` encodes it.

    A live frame must be cheap, and drawing text (tick labels, legends) is
    most of a matplotlib draw. So with ``live=True`` the static parts (axes,
    ticks, labels, legend) are drawn once into a background, and each frame
    restores it and draws only the changing artists on top (blitting): the
    probability image, the points, the p = 0.5 line, the loss curves and the
    hidden-unit mosaic (pasted as pixels). The loss axes' limits go in doublings, so
    the background is redrawn only when one changes.
    """

    TILE, GAP, LEFT, PLANE, TOP = 0.62, 0.06, 4.45, 3.55, 5.55  # inches; the plane is PLANE x PLANE, top at TOP
    DPI = 90  # about 600 x 600 pixels for 8x8: readable labels, and the frame stays well under 100 ms

    def __init__(self, pg: Playground, resolution: int = 60, live: bool = False):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.pg, self.resolution, self.live = pg, resolution, live
        self.shown = [min(w, _MAX_TILE_UNITS) for w in pg.settings["hidden_layers"][:_MAX_TILE_LAYERS]]
        self.width = self.LEFT + (0.25 + len(self.shown) * (self.TILE + 0.25) if self.shown else 0.1)
        self.height = 6.35 if live else 6.6  # live: the widget's status line says the epoch, not a title
        size = (self.width, self.height)
        if live:  # drawn in the play thread: a bare Figure, away from pyplot's global state
            self.fig = Figure(figsize=size, dpi=self.DPI)
            self.canvas = FigureCanvasAgg(self.fig)
        else:  # made by pyplot so that Jupyter knows how to show it, closed so that it shows only once
            self.fig = plt.figure(figsize=size, dpi=self.DPI)
            plt.close(self.fig)
            self.canvas = self.fig.canvas
        self.colours = _colours(pg.n_classes)
        self._build_boundary()
        self._build_loss()
        self._build_tiles()
        self.fig.text(0.55 / self.width, 6.08 / self.height, pg.task, fontsize=8, va="bottom", color="0.3")
        self.title = None if live else self.fig.text(0.55 / self.width, 6.3 / self.height, "", fontsize=11,
                                                       va="bottom")
        self._contour, self._background, self._limits = None, None, (10, 1.0)
        self.dynamic = [self.image, *self.points, self.train_line, self.test_line]  # redrawn in each live frame
        for artist in self.dynamic + ([self.mosaic] if self.mosaic is not None else []):
            artist.set_animated(live)

    def _axes(self, left: float, bottom: float, w: float, h: float):
        """A new axes at a rectangle given in inches."""
        return self.fig.add_axes([left / self.width, bottom / self.height, w / self.width, h / self.height])

    def _build_boundary(self) -> None:
        """The plane, equal aspect: an RGB probability image, train points filled, test points hollow, legend above."""
        ax = self.boundary_ax = self._axes(0.55, self.TOP - self.PLANE, self.PLANE, self.PLANE)  # square extent too
        extent = self.pg._extent()
        self.image = ax.imshow(np.ones((2, 2, 3)), origin="lower", extent=extent, aspect="auto",
                               interpolation="bilinear")
        colours = np.array(self.colours, dtype=object)
        X_train, X_test = self.pg.X_train.cpu().numpy(), self.pg.X_test.cpu().numpy()
        self.points = [
            ax.scatter(X_train[:, 0], X_train[:, 1], s=12, c=list(colours[self.pg.y_train.cpu().numpy()]),
                       edgecolors="k", linewidths=0.3),
            ax.scatter(X_test[:, 0], X_test[:, 1], s=16, facecolors="none",
                       edgecolors=list(colours[self.pg.y_test.cpu().numpy()]), linewidths=1.2),
        ]
        handles = [plt.matplotlib.lines.Line2D([], [], ls="", marker="o", color=c, label=f"class {k}")
                   for k, c in zip(self.pg.classes, self.colours, strict=True)]
        handles.append(plt.matplotlib.lines.Line2D([], [], ls="", marker="o", mfc="none", mec="k", label="test"))
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=min(len(handles), 5),
                  fontsize=7, frameon=False, borderaxespad=0.1, handletextpad=0.1, columnspacing=0.8)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xlabel("x1", labelpad=1)
        ax.set_ylabel("x2", labelpad=1)
        ax.tick_params(labelsize=7)

    def _build_loss(self) -> None:
        """Train and test loss per epoch."""
        ax = self.loss_ax = self._axes(0.55, 0.45, self.PLANE, 1.05)
        (self.train_line,) = ax.plot([], [], "-", color="k", lw=1.2, label="train loss")
        (self.test_line,) = ax.plot([], [], "--", color="tab:orange", lw=1.2, label="test loss")
        ax.set_xlabel("epoch", labelpad=1)
        ax.legend(loc="upper right", fontsize=7)
        ax.tick_params(labelsize=7)

    def _build_tiles(self) -> None:
        """All hidden-unit maps as one RGB mosaic in one axes (a column per layer), labelled above."""
        self.mosaic = None
        if not self.shown:
            return
        rows, left = max(self.shown), self.LEFT + 0.25
        height = rows * (self.TILE + self.GAP)
        ax = self._axes(left, self.TOP - height, len(self.shown) * (self.TILE + 0.25), height)
        ax.set_axis_off()
        self.mosaic = ax.imshow(np.ones((2, 2, 3)), aspect="auto", interpolation="bilinear")
        for layer, units in enumerate(self.pg.settings["hidden_layers"][:_MAX_TILE_LAYERS]):
            x = left + layer * (self.TILE + 0.25) + self.TILE / 2
            label = f"layer {layer + 1}" + (f"\n{self.shown[layer]} of {units}" if units > self.shown[layer] else "")
            self.fig.text(x / self.width, (self.TOP + 0.05) / self.height, label, ha="center", va="bottom", fontsize=8)

    def _mosaic(self, hidden: list) -> np.ndarray:
        """One ``(R, R, units)`` activation array per layer -> one RGB mosaic, white between tiles.

        Each tile runs orange (negative) - white (0) - purple (positive), scaled
        by its own largest absolute value, like the Playground's neuron tiles.
        """
        R, cmap = self.resolution, plt.get_cmap("PuOr")
        # Gaps in grid pixels, matching the inch gaps of the layout (GAP between rows, 0.25 between columns).
        row_gap, col_gap = round(R * self.GAP / self.TILE), round(R * 0.25 / self.TILE)
        mosaic = np.ones((max(self.shown) * (R + row_gap), len(self.shown) * (R + col_gap), 3))
        for layer, n_units in enumerate(self.shown):
            values = hidden[layer][..., :n_units]  # (R, R, n_units)
            scale = np.maximum(np.abs(values).max(axis=(0, 1)), 1e-6)
            rgb = cmap(0.5 + 0.5 * values / scale)[..., :3]  # (R, R, n_units, 3)
            for unit in range(n_units):
                top, left = unit * (R + row_gap), layer * (R + col_gap)
                mosaic[top:top + R, left:left + R] = rgb[::-1, :, unit]  # grid row 0 is the bottom
        return mosaic

    def update(self) -> None:
        """Set the artists to the playground's current state (no new axes)."""
        pg = self.pg
        out = pg.grid_outputs(self.resolution)
        self.image.set_data(_probability_rgb(out["probs"], self.colours))
        if self._contour is not None:  # a contour has no set_data: drawn anew
            self._contour.remove()
        self._contour = _half_line(self.boundary_ax, out["probs"], out["extent"], animated=self.live)
        if self.mosaic is not None:
            self.mosaic.set_data(self._mosaic(out["hidden"]))
        history = pg.history
        self.train_line.set_data(history["epoch"], history["train_loss"])
        self.test_line.set_data(history["epoch"], history["test_loss"])
        self._update_limits(max(history["train_loss"] + history["test_loss"], default=0.0))
        if self.title is not None:
            acc = f"{history['test_acc'][-1]:.3f}" if pg.epoch else "-"
            self.title.set_text(f"epoch {pg.epoch}    test accuracy {acc}")

    def _update_limits(self, top_loss: float) -> None:
        """Loss axes: x up to 10, 20, 40, ... epochs, y up to 1, 2, 4, ...: the background changes rarely."""
        x_max, y_max = 10, 1.0
        while x_max < self.pg.epoch:
            x_max *= 2
        while np.isfinite(top_loss) and y_max < top_loss and y_max < 1e6:
            y_max *= 2
        if (x_max, y_max) != self._limits or self._background is None:
            self._limits, self._background = (x_max, y_max), None
            self.loss_ax.set_xlim(0, x_max)
            self.loss_ax.set_ylim(0, y_max)

    def render(self) -> np.ndarray:
        """Draw the frame -> ``(H, W, 4)`` uint8 RGBA array.

        Live: restore the background, draw the changing artists, and paste the
        hidden-unit mosaic straight into the pixels (resampling it through
        matplotlib would cost more than the rest of the frame).
        """
        if not self.live:
            self.canvas.draw()
            return np.asarray(self.canvas.buffer_rgba())
        if self._background is None:
            self.canvas.draw()  # animated artists are left out: this is the static background
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.canvas.restore_region(self._background)
        image, *rest = self.dynamic
        for artist in [image] + ([self._contour] if self._contour else []) + rest:
            self.fig.draw_artist(artist)
        pixels = np.asarray(self.canvas.buffer_rgba())
        if self.mosaic is not None:
            self._paste_mosaic(pixels)
        return pixels

    def _paste_mosaic(self, pixels: np.ndarray) -> None:
        """Write the mosaic, nearest-neighbour resized, into the tiles axes' pixels of ``(H, W, 4)`` RGBA."""
        box, mosaic = self.mosaic.axes.bbox, self.mosaic.get_array()  # (h, w, 3) floats in [0, 1]
        x0, x1 = int(round(box.x0)), int(round(box.x1))
        top, bottom = pixels.shape[0] - int(round(box.y1)), pixels.shape[0] - int(round(box.y0))
        target = pixels[max(top, 0):bottom, x0:x1, :3]  # a view: writing it writes the frame
        rows = np.arange(target.shape[0]) * mosaic.shape[0] // target.shape[0]
        cols = np.arange(target.shape[1]) * mosaic.shape[1] // target.shape[1]
        target[...] = (255 * mosaic[rows[:, None], cols[None, :]]).astype(np.uint8)

    def jpeg(self) -> bytes:
        """The frame as JPEG bytes, what the widget shows: about 1 ms to encode against 30 ms for a PNG
        (measured here) and half the bytes to send, with no visible loss at quality 90."""
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.render()).convert("RGB").save(buffer, format="jpeg", quality=90)
        return buffer.getvalue()


# ---- the widget ------------------------------------------------------------
PLAYGROUND_FRAME_EPOCHS = 5  # at most this many epochs per live frame ...
PLAYGROUND_FRAME_TRAIN_S = 0.05  # ... and fewer when they take longer than this (big mini-batch runs)
PLAYGROUND_RESOLUTION = 60  # grid points per axis of the live view (the benchmark's default)
_LIVE_PLAYGROUNDS: list = []  # weak references to every open widget, so that only one plays at a time


def playground(**settings):
    """An interactive playground: the :class:`Playground` with controls, Play/Pause/Step/Reset and a live figure.

    Built only from core ipywidgets (they render in JupyterLab, Notebook 7,
    VS Code and Colab); the figure is an ``Image`` redrawn in place. Play
    trains in a background thread, a few epochs per frame, so the kernel
    stays free; it stops on Pause, on any change of setting, on Reset, when
    the widget is closed, and when another playground starts playing.

    Args:
        **settings: any of :class:`Playground`'s arguments (``X`` and ``y``
            for your own data); the controls start from them.

    Returns:
        The ``ipywidgets.VBox`` to display; its ``.controller`` attribute holds
        the current ``Playground`` (``.controller.pg``) and every control.

    Raises:
        ValueError: when the starting settings are invalid (the message says what to change).
    """
    return _PlaygroundApp(settings).ui


class _PlaygroundApp:
    """The widget's state and callbacks: a ``Playground``, its live view, the controls, the play thread."""

    def __init__(self, settings: dict):
        import ipywidgets as widgets  # imported here: only the widget needs it, and it costs import time

        self.widgets = widgets
        self.data = {k: settings.pop(k) for k in ("X", "y", "device") if k in settings}
        self.pg = Playground(**settings, **self.data)
        self.view = _PlaygroundView(self.pg, PLAYGROUND_RESOLUTION, live=True)
        self._thread, self._stop = None, threading.Event()
        self.controls = self._build_controls(self.pg.settings)
        self.buttons = self._build_buttons()
        self.counter = widgets.HTML()  # the status line: epoch, losses, accuracy
        self.status = widgets.HTML()  # what went wrong, when something did
        self.image = widgets.Image(format="jpeg", layout=widgets.Layout(max_width="100%", height="auto", margin="0"))
        self.code = widgets.HTML(layout=widgets.Layout(display="none"))
        self.ui = self._build_layout()
        self.ui.controller = self
        self.ui.add_class("lesson-playground")  # how a browser test finds it
        self.ui.observe(self._on_closed, names="comm")
        for ref in list(_LIVE_PLAYGROUNDS):  # a re-run cell's old playground stops playing
            if ref() is not None:
                ref().pause()
        _LIVE_PLAYGROUNDS[:] = [ref for ref in _LIVE_PLAYGROUNDS if ref() is not None] + [weakref.ref(self)]
        self._draw()

    # -- building the UI
    def _build_controls(self, s: dict) -> dict:
        """One control per setting, starting from ``s``; each change rebuilds the playground."""
        w, own = self.widgets, self.pg._own_data
        style, layout = dict(description_width="100px"), dict(width="262px", margin="2px 8px 2px 0")
        lr_log = np.log10(s["lr"])
        controls = dict(
            dataset=w.Dropdown(options=["your data"] if own else list(PLAYGROUND_DATASETS), value=s["dataset"],
                               disabled=own),
            noise=w.FloatSlider(value=s["noise"], min=0.0, max=max(0.5, s["noise"]), step=0.01, disabled=own),
            n_samples=w.IntSlider(value=s["n_samples"], min=min(50, s["n_samples"]),
                                  max=max(2000, s["n_samples"]), step=10, disabled=own),
            test_size=w.FloatSlider(value=s["test_size"], min=0.05, max=0.9, step=0.05),
            hidden_layers=w.Text(value=", ".join(str(u) for u in s["hidden_layers"]), placeholder="e.g. 8, 8",
                                 continuous_update=False),
            activation=w.Dropdown(options=list(_PLAYGROUND_ACTIVATIONS), value=s["activation"]),
            optimizer=w.Dropdown(options=list(_PLAYGROUND_OPTIMIZERS), value=s["optimizer"]),
            lr=w.FloatLogSlider(value=s["lr"], base=10, min=min(-4.0, lr_log), max=max(0.5, lr_log), step=0.1,
                                readout_format=".2g"),
            l2=w.Dropdown(options=sorted({0.0, 1e-4, 1e-3, 1e-2, 1e-1, float(s["l2"])}), value=float(s["l2"])),
            dropout=w.FloatSlider(value=s["dropout"], min=0.0, max=0.9, step=0.05),
            # 0 stands for None (full batch): a Dropdown whose value is None shows nothing selected.
            batch_size=w.Dropdown(options=[("full batch", 0)] + [(str(b), b) for b in
                                           sorted({8, 16, 32, 64, 128} | ({s["batch_size"]} - {None}))],
                                  value=s["batch_size"] or 0),
            seed=w.BoundedIntText(value=s["seed"], min=0, max=2**31 - 1),
        )
        for name, control in controls.items():
            control.description, control.style, control.layout = name, style, w.Layout(**layout)
            if hasattr(control, "continuous_update"):
                control.continuous_update = False  # rebuild when a slider is released, not while dragging
            control.observe(self._on_setting, names="value")
        return controls

    def _build_buttons(self) -> dict:
        """Play, Pause, Step, Reset and Show code (text labels: no emoji font needed), wired to their callbacks."""
        w = self.widgets
        buttons = dict(play=w.Button(description="Play", button_style="success"),
                       pause=w.Button(description="Pause", disabled=True),
                       step=w.Button(description="Step"), reset=w.Button(description="Reset"),
                       code=w.Button(description="Show code"))
        for name, button in buttons.items():
            button.layout = w.Layout(width="auto", min_width="72px", margin="2px 6px 2px 0")
            button.on_click(getattr(self, f"_on_{name}"))
        return buttons

    def _build_layout(self):
        """Buttons and status line, the controls, the figure, the code; rows wrap to fit narrow screens."""
        w, wrap = self.widgets, dict(display="flex", flex_flow="row wrap", align_items="center")
        return w.VBox([
            w.Box([*self.buttons.values(), self.counter, self.status], layout=w.Layout(**wrap)),
            w.Box(list(self.controls.values()), layout=w.Layout(**wrap, margin="4px 0")),  # data, network, training
            self.image, self.code,
        ], layout=w.Layout(max_width="100%"))

    # -- drawing
    def _draw(self) -> None:
        """Redraw the figure and the counter for the current state (one live frame)."""
        self.view.update()
        self.image.value = self.view.jpeg()
        self.image.width = str(int(self.view.fig.get_figwidth() * self.view.fig.dpi))  # 1:1, not stretched
        h = self.pg.history
        text = f"<b>epoch {self.pg.epoch}</b>"
        if self.pg.epoch:
            text += (f" &middot; train loss {h['train_loss'][-1]:.4f} &middot; test loss {h['test_loss'][-1]:.4f}"
                     f" &middot; test accuracy {h['test_acc'][-1]:.3f}")
        self.counter.value = text
        if self.pg.epoch and not np.isfinite(h["train_loss"][-1]):
            self.status.value = ("<span style='color:#b00'>the loss is no longer a number (it overflowed): "
                                 "lower lr and press Reset</span>")
        if self.buttons["code"].description == "Hide code":
            self._show_code()

    def _show_code(self) -> None:
        """Put ``to_code()`` for the current state in the code panel (at epoch 0, say that nothing has trained)."""
        import html

        if not self.pg.epoch:
            self.code.value = ("<p>Epoch 0: nothing has trained yet. Press Step or Play; the code shown here "
                               "then reproduces the training so far, for as many epochs as the counter says.</p>")
            return
        self.code.value = f"<pre style='font-size:12px'>{html.escape(self.pg.to_code())}</pre>"

    # -- playing
    @property
    def is_playing(self) -> bool:
        """True while the background thread trains."""
        return self._thread is not None and self._thread.is_alive()

    def play(self) -> None:
        """Start training in a background thread (stopping any other playground that plays)."""
        if self.is_playing:
            return
        for ref in _LIVE_PLAYGROUNDS:
            if ref() is not None and ref() is not self:
                ref().pause()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name="playground-play", daemon=True)
        self.buttons["play"].disabled, self.buttons["pause"].disabled = True, False
        self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        """The play thread: a few epochs, one frame, a short rest for the kernel, until ``stop`` is set."""
        try:
            while not stop.is_set():
                self.frame(stop)
                stop.wait(0.01)  # lets the kernel answer button clicks between frames
        except Exception as error:  # shown in the widget: a thread's traceback would go nowhere
            self.status.value = f"<span style='color:#b00'>stopped: {type(error).__name__}: {error}</span>"
        finally:
            self.buttons["play"].disabled, self.buttons["pause"].disabled = False, True

    def frame(self, stop: threading.Event | None = None) -> int:
        """One live frame: up to ``PLAYGROUND_FRAME_EPOCHS`` epochs (fewer when slow), then a redraw.

        Returns:
            The number of epochs trained.
        """
        start, epochs = time.perf_counter(), 0
        while epochs < PLAYGROUND_FRAME_EPOCHS and not (stop is not None and stop.is_set()):
            self.pg.step()
            epochs += 1
            if time.perf_counter() - start > PLAYGROUND_FRAME_TRAIN_S:
                break
        self._draw()
        return epochs

    def pause(self) -> None:
        """Stop the play thread and wait for it to finish its frame."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._thread = None
        self.buttons["play"].disabled, self.buttons["pause"].disabled = False, True

    # -- callbacks
    def _on_play(self, _button) -> None:
        self.play()

    def _on_pause(self, _button) -> None:
        self.pause()

    def _on_step(self, _button) -> None:
        """One epoch, then a frame."""
        self.pause()
        self.pg.step()
        self._draw()

    def _on_reset(self, _button) -> None:
        """Back to epoch 0 with the same settings."""
        self.pause()
        self.pg.reset()
        self.status.value = ""
        self._draw()

    def _on_code(self, button) -> None:
        """Show or hide the equivalent PyTorch code."""
        showing = button.description == "Show code"
        button.description = "Hide code" if showing else "Show code"
        self.code.layout.display = None if showing else "none"
        if showing:
            self._show_code()

    def _settings(self) -> dict:
        """The controls' values as ``Playground`` arguments (``hidden_layers`` parsed from its text)."""
        values = {name: control.value for name, control in self.controls.items()}
        values["batch_size"] = values["batch_size"] or None  # 0 in the Dropdown: full batch
        text = values["hidden_layers"].strip().strip("()[]")
        try:
            values["hidden_layers"] = tuple(int(part) for part in text.replace(",", " ").split())
        except ValueError:
            raise ValueError(f"hidden_layers: write whole numbers separated by commas, e.g. 8, 8 "
                             f"(or leave it empty for a linear model); got {text!r}") from None
        if self.pg._own_data:
            values.pop("dataset")
        return values

    def _on_setting(self, _change) -> None:
        """Any control changed: stop playing, build a new playground (or say what is wrong)."""
        self.pause()
        try:
            pg = Playground(**self._settings(), **self.data)
        except ValueError as error:
            self.status.value = f"<span style='color:#b00'>{error}</span>"
            return
        self.pg, self.view = pg, _PlaygroundView(pg, PLAYGROUND_RESOLUTION, live=True)
        self.status.value = ""
        self._draw()

    def _on_closed(self, change) -> None:
        """The widget was closed: stop the thread and close every part of it."""
        if change["new"] is None:
            self.pause()
            for widget in [*self.controls.values(), *self.buttons.values(), self.counter, self.status,
                           self.image, self.code]:
                widget.close()
