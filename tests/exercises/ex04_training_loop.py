"""Exercise 4: the training and testing loop.

The student trains ``model_moons`` and keeps the per-epoch losses in
``history_moons``. Judged: the split of exercise 1 again; the loss went down;
the model, rebuilt from its weights, has a loss on ``X_train_moons`` consistent
with the end of the history (the history belongs to this model); and its
accuracy on fresh moons points, whose labels never entered the kernel.
"""

import numpy as np

from .common import (
    MOONS_MIN_TEST_ACC,
    MOONS_SPLIT,
    Exercise,
    Fail,
    check_split,
    curve,
    model_info,
    pct,
    plain,
    probe,
    probe_accuracy,
    probe_X,
    rebuild,
    seed_of,
    seed_value,
    split_info,
)

NUMBER, POINTS = 4, 2
TITLE = f"Training and testing loop (>= {pct(MOONS_MIN_TEST_ACC)} test accuracy)"
OWN, BORROWED = ("history_moons",), ("model_moons", "loss_fn_moons", "optimizer_moons") + MOONS_SPLIT
TODO = "train model_moons and keep the per-epoch losses in history_moons"
HISTORY_LOSS_FACTOR, HISTORY_LOSS_SLACK = 3.0, 0.02  # the model's loss <= 3 x the history's last + 0.02


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the split, the history and the model (run on the fresh moons probes)."""
    model = model_info(ns["model_moons"], {"probe": probe(probes, "moons")})
    return {**split_info(ns, MOONS_SPLIT), "seed": seed_of(ns), "model": model, "history": plain(ns["history_moons"])}


def check_history(history, name: str) -> np.ndarray:
    if isinstance(history, dict):
        if "train_loss" not in history:
            raise Fail(f"{name} should be the history dict from fit() (with 'train_loss') or a list of losses")
        history = history["train_loss"]
    losses = curve(history, name)
    if not losses[-1] < losses[0]:
        raise Fail(f"the training loss in {name} did not go down ({losses[0]:.4f} -> {losses[-1]:.4f}): call "
                   "optimizer.zero_grad(), loss.backward() and optimizer.step() every epoch")
    return losses


def judge(v: dict, probes: dict) -> str:
    X_train, _, y_train, _ = check_split(v, MOONS_SPLIT, "moons", n_test=200, seed=seed_value(v))
    losses = check_history(v["history"], "history_moons")
    model = v["model"]
    rebuild(model, "model_moons", {"probe": probe_X(probes, "moons"), "train": X_train})
    train_logits = (model.get("outputs") or {}).get("train") if model.get("rebuilt") else None
    if train_logits is not None and train_logits.shape[1] == 1 and (model.get("leaves") or [""])[-1] != "Sigmoid":
        z = train_logits[:, 0]
        model_loss = float(np.mean(np.logaddexp(0.0, z) - y_train * z))  # BCE with logits, from the weights
        if not model_loss <= HISTORY_LOSS_FACTOR * losses[-1] + HISTORY_LOSS_SLACK:
            raise Fail(f"history_moons ends at a loss of {losses[-1]:.4f}, but model_moons's loss on X_train_moons is "
                       f"{model_loss:.4f}: keep the losses of the training run that produced model_moons (running "
                       "the model cell again after training starts a new, untrained model)")
    acc = probe_accuracy(model, "model_moons", probes, "moons")
    if acc < MOONS_MIN_TEST_ACC:
        raise Fail(f"accuracy {acc:.3f} < {MOONS_MIN_TEST_ACC} on fresh moons points: train longer, raise the "
                   "learning rate or add hidden units/a hidden layer")
    return (f"accuracy {acc:.3f} (>= {MOONS_MIN_TEST_ACC}) on {len(probes['moons']['y'])} fresh moons points after "
            f"{len(losses)} epochs")


EXERCISE = Exercise(NUMBER, TITLE, POINTS, OWN, BORROWED, TODO, read, judge)
