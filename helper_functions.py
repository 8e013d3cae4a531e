"""Shared helpers for Lesson 02: Neural Networks and Classification.

Only code that two or more notebooks reuse lives here: seeding and device
choice, the toy datasets, prediction and accuracy, the generic training loop
and the plots. The ideas being taught (the forward pass, the loss, the
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
    "predict",
    "predict_proba",
    "accuracy",
    "fit",
    "plot_data",
    "plot_decision_boundary",
    "plot_loss_curves",
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


def _is_binary(logits: torch.Tensor) -> bool:
    """The lesson's rule: one output unit (``(N,)`` or ``(N, 1)`` logits) means a binary classifier.

    Args:
        logits: ``(N,)``, ``(N, 1)`` or ``(N, C)`` model outputs.

    Returns:
        True for one output unit (sigmoid, ``BCEWithLogitsLoss``), False for ``C > 1`` units (softmax,
        ``CrossEntropyLoss``).
    """
    return logits.ndim == 1 or logits.shape[1] == 1


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
            history["train_loss"].append(loss_sum / seen)
            history["train_acc"].append(correct / seen)

            if has_test:
                model.eval()
                with torch.inference_mode():
                    test_loss, y_pred = _loss_and_labels(model, loss_fn, X_test, y_test)
                history["test_loss"].append(test_loss.item())
                history["test_acc"].append((y_pred == y_test).float().mean().item())

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
    """Colour the plane by the model's prediction and scatter the data on top.

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
    margin = 0.1 * (X_np.max(axis=0) - X_np.min(axis=0)) + 0.1
    lo, hi = X_np.min(axis=0) - margin, X_np.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([xx.ravel(), yy.ravel()])  # (resolution**2, 2)
    probs = predict_proba(model, grid).numpy()  # (resolution**2, C), C >= 2
    labels = probs.argmax(axis=1).reshape(xx.shape)

    n_classes = max(int(max(probs.shape[1], y_np.max() + 1 if y_np.size else 0)), 2)
    colours = _colours(n_classes)
    if shade == "class":
        cmap = plt.matplotlib.colors.ListedColormap(colours)
        ax.contourf(xx, yy, labels, levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, alpha=0.25)
    elif probs.shape[1] == 2:  # binary: one colour scale through white at p = 0.5
        cmap = plt.matplotlib.colors.LinearSegmentedColormap.from_list("p", [colours[0], "white", colours[1]])
        p1 = probs[:, 1].reshape(xx.shape)
        ax.imshow(p1, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap=cmap, vmin=0, vmax=1,
                  alpha=0.55, aspect="auto", interpolation="bilinear")
        if p1.min() < 0.5 < p1.max():
            ax.contour(xx, yy, p1, levels=[0.5], colors="k", linewidths=1.0)
    else:  # multi-class: class colour, faded by how sure the model is
        rgb = np.array([plt.matplotlib.colors.to_rgb(c) for c in colours])[labels]  # (res, res, 3)
        confidence = (probs.max(axis=1).reshape(xx.shape) - 1 / probs.shape[1]) / (1 - 1 / probs.shape[1])
        image = 1 - confidence[..., None] * (1 - rgb)  # blend with white
        ax.imshow(image, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), alpha=0.55, aspect="auto",
                  interpolation="bilinear")
    plot_data(X_np, y_np, ax=ax, title=title)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
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
