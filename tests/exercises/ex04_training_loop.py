"""Exercise 4: the training and testing loop.

The history must belong to the kept model: its loss on ``X_train_moons`` (rebuilt from its weights) is consistent
with the end of ``history_moons`` and a recorded ``test_acc`` is its own. The loop must call ``zero_grad`` (the
gradient left in ``.grad`` is compared with the gradient of the current loss). Accuracy is measured on fresh moons
points whose labels never enter the kernel.
"""

import numpy as np
import torch

from . import common as C
from .common import Fail

NUMBER, POINTS = 4, 2
MIN_TEST_ACC = C.MOONS_MIN_TEST_ACC  # exercise 5's too
TITLE = f"Training and testing loop (>= {MIN_TEST_ACC:.0%} test accuracy)"
OWN, BORROWED = ("history_moons",), ("model_moons", "loss_fn_moons", "optimizer_moons") + C.MOONS_SPLIT
TODO = "train model_moons and keep the per-epoch losses in history_moons"
HISTORY_LOSS_FACTOR, HISTORY_LOSS_SLACK = 3.0, 0.02  # the model's loss <= 3 x the history's last + 0.02
# Gradients that pile up without zero_grad: measured 28 to 30,000 times the current gradient (Adam and SGD, seeds
# 0 and 42, 300 epochs); with zero_grad the ratio was 1.0. A stored gradient norm below 1 is never flagged.
PILED_UP_RATIO, PILED_UP_MIN_NORM = 5.0, 1.0
RISING_SHARE = 0.2  # a loss that rises in more than this share of epochs is noisy or diverging


def gradient_norms(model, X, y) -> dict:
    """In the kernel: norm of the gradient left in .grad, and of the gradient of the current BCE loss on (X, y).

    Uses torch.autograd.grad, which leaves .grad and the train/eval mode as they are.
    """
    if not isinstance(model, torch.nn.Module):
        return {}
    params = [p for p in model.parameters() if p.requires_grad]
    stored = [p.grad.detach().double() for p in params if p.grad is not None]
    norms = {"stored": float(sum((g**2).sum() for g in stored)) ** 0.5 if stored else 0.0}
    try:
        X = torch.as_tensor(C.to_numpy(X), dtype=params[0].dtype, device=params[0].device)
        y = torch.as_tensor(C.to_numpy(y), dtype=params[0].dtype, device=params[0].device).reshape(-1)
        with torch.enable_grad():
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X).reshape(-1), y)
            now = torch.autograd.grad(loss, params, allow_unused=True)
        norms["now"] = float(sum((g.detach().double() ** 2).sum() for g in now if g is not None)) ** 0.5
    except Exception:  # a model that doesn't give one logit per point: exercise 2's check says so
        pass
    return norms


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the split, the history, the model (run on the fresh moons probes) and its gradients."""
    return {**C.split_info(ns, C.MOONS_SPLIT), "history": C.plain(ns["history_moons"]),
            "model": C.model_info(ns["model_moons"], {"probe": C.probe(probes, "moons")}),
            "gradients": gradient_norms(ns["model_moons"], ns["X_train_moons"], ns["y_train_moons"])}


def judge(v: dict, probes: dict) -> str:
    X_train, X_test, y_train, y_test = C.check_split(v, C.MOONS_SPLIT, "moons", n_test=200)
    history, model = v["history"], v["model"]
    losses = history.get("train_loss") if isinstance(history, dict) else history
    int_labels = [name for name in C.MOONS_SPLIT[2:] if "int" in str(v[name].get("dtype"))]
    if int_labels and (not isinstance(losses, list) or len(losses) < 2):
        raise Fail(f"history_moons holds no losses, and {int_labels[0]} is {v[int_labels[0]].get('dtype')}: "
                   "nn.BCEWithLogitsLoss needs float targets, so the loop stops at its first loss (\"result type Float "
                   "can't be cast to the desired output type Long\"); make the labels float32 in exercise 1 "
                   "(torch.from_numpy(y).float()) and train again")
    if isinstance(history, dict) and "train_loss" not in history:
        raise Fail("history_moons should be the history dict from fit() (with 'train_loss') or a list of losses")
    losses = C.curve(losses, "history_moons")
    if not losses[-1] < losses[0]:
        raise Fail(f"the training loss in history_moons did not go down ({losses[0]:.4f} -> {losses[-1]:.4f}): call "
                   "optimizer.zero_grad(), loss.backward() and optimizer.step() every epoch")
    C.rebuild(model, "model_moons", {"probe": C.probe_X(probes, "moons"), "train": X_train, "test": X_test})

    norms = v.get("gradients") or {}
    stored, now = norms.get("stored", 0.0), norms.get("now")
    if now is not None and stored > PILED_UP_MIN_NORM and stored > PILED_UP_RATIO * now:
        raise Fail(f"the gradient left in model_moons's .grad has norm {stored:.3g}, {stored / max(now, 1e-12):.0f} "
                   f"times the gradient of its current loss ({now:.3g}): gradients have been adding up over the "
                   "epochs; call optimizer_moons.zero_grad() before loss.backward() in every epoch")

    outputs = (model.get("outputs") or {}) if model.get("rebuilt") else {}  # computed here from the weights
    recorded = history.get("test_acc") if isinstance(history, dict) else None
    if isinstance(recorded, list) and recorded and outputs.get("test") is not None:
        try:
            last = float(recorded[-1])
        except (TypeError, ValueError):
            raise Fail("history_moons['test_acc'] should be a list of accuracies (numbers)") from None
        real = C.accuracy(y_test, C.labels_from_outputs(outputs["test"], model))
        if abs(last - real) > 1.0 / len(y_test) + 1e-9:
            raise Fail(f"history_moons['test_acc'] ends at {last:.3f}, but model_moons classifies {real:.3f} of "
                       "X_test_moons correctly: compute the accuracy from labels (a logit > 0 is class 1), not from "
                       "raw logits or probabilities, and compare them with y_test_moons")
    z = outputs.get("train")
    if z is not None and z.shape[1] == 1 and (model.get("leaves") or [""])[-1] != "Sigmoid":
        model_loss = float(np.mean(np.logaddexp(0.0, z[:, 0]) - y_train * z[:, 0]))  # BCE with logits
        if not model_loss <= HISTORY_LOSS_FACTOR * losses[-1] + HISTORY_LOSS_SLACK:
            raise Fail(f"history_moons ends at a loss of {losses[-1]:.4f}, but model_moons's loss on X_train_moons is "
                       f"{model_loss:.4f}: keep the losses of the training run that produced model_moons (running "
                       "the model cell again after training starts a new, untrained model)")

    acc = C.probe_accuracy(model, "model_moons", probes, "moons")
    if acc < MIN_TEST_ACC:
        rises = int((np.diff(losses) > 0).sum())
        if rises > RISING_SHARE * (len(losses) - 1):
            raise Fail(f"accuracy {acc:.3f} < {MIN_TEST_ACC} on fresh moons points, and your training loss went "
                       f"up in {rises} of {len(losses) - 1} epochs: a full-batch loss should fall almost every epoch; "
                       "check that every epoch calls optimizer_moons.zero_grad() before loss.backward(), and lower "
                       "the learning rate if it still jumps")
        raise Fail(f"accuracy {acc:.3f} < {MIN_TEST_ACC} on fresh moons points: train longer, raise the "
                   "learning rate or add hidden units/a hidden layer")
    return (f"accuracy {acc:.3f} (>= {MIN_TEST_ACC}) on {len(probes['moons']['y'])} fresh moons points after "
            f"{len(losses)} epochs")
