"""Exercise 12: regularization against over-fitting.

Each penalty must have been applied: the L1 model's sum of |w| and the L2 model's sum of w**2 over its weight matrices,
read from the kept models, are at most ``PENALTY_RATIO`` of the unregularised model's. Reported accuracies are the
models' own (rebuilt from their weights, dropout off); ``best_regularizer`` must be within one standard error of the
best validation accuracy. The answer is only checked for being there.
"""

import math

import numpy as np
import torch

from . import common as C
from .common import Fail

NUMBER, POINTS = 12, 2
TITLE = "Regularization against over-fitting"
OWN = ("X_train_regularization", "y_train_regularization", "X_val_regularization", "y_val_regularization",
       "results_regularization", "histories_regularization", "models_regularization", "best_regularizer", "answer_12")
BORROWED = ("X_train_digits", "y_train_digits")
TODO = f"fill {C.listed(OWN)}"
REGULARIZERS = ("none", "l1", "l2", "dropout")
SPELLING = {"l1": "L1", "l2": "L2", "dropout": "dropout"}
OVERFIT_MIN_GAP = 0.05  # the unregularised model must over-fit by at least this much
OVERFIT_MIN_TRAIN_ACC = 0.95
N_VAL = 300  # the validation samples the task asks for (for the standard error)
# A penalty that leaves the weights within 10% of the unregularised model's has no visible effect. Measured in the
# solution (two hidden layers of 256, 100 epochs) at seeds 42, 0, 1 and 2: L1 left 12-13% of the sum of |w|,
# AdamW's decay 13-21% of the sum of w**2.
PENALTY_RATIO = 0.9


def weight_sums(model) -> dict:
    """In the kernel: sum |w| and sum w**2 over a model's weight matrices (parameters with 2 or more dims)."""
    if not isinstance(model, torch.nn.Module):
        return {}
    weights = [p.detach().double() for p in model.parameters() if p.dim() >= 2]
    return {"l1": float(sum(w.abs().sum() for w in weights)), "l2": float(sum((w**2).sum() for w in weights))}


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: both subsets, the digits training split, tables, the models on both subsets, the answer."""
    inputs = {"train": C.to_numpy(ns["X_train_regularization"]), "val": C.to_numpy(ns["X_val_regularization"])}
    return {"X_fit": C.array_info(ns["X_train_regularization"]), "y_fit": C.array_info(ns["y_train_regularization"]),
            "X_val": C.array_info(ns["X_val_regularization"]), "y_val": C.array_info(ns["y_val_regularization"]),
            "X_train": C.array_info(ns["X_train_digits"]), "y_train": C.array_info(ns["y_train_digits"]),
            "models": C.each(ns["models_regularization"], C.model_info, inputs),
            "weight_sums": C.each(ns["models_regularization"], weight_sums),
            "results": C.plain(ns["results_regularization"]), "histories": C.plain(ns["histories_regularization"]),
            "best": C.plain(ns["best_regularizer"]), "answer": C.plain(ns["answer_12"])}


def check_dropout(models: dict) -> None:
    for name, info in models.items():
        dropout = [float(layer.get("p", 0.0)) for layer in info.get("layers") or [] if isinstance(layer, dict)
                   and layer.get("type") == "Dropout"]
        if name == "dropout" and isinstance(info.get("layers"), list) and not any(p > 0 for p in dropout):
            raise Fail("models_regularization['dropout'] has no nn.Dropout(p) with p > 0 after its hidden layers")
        if name != "dropout" and any(p > 0 for p in dropout):
            raise Fail(f"models_regularization['{SPELLING.get(name, name)}'] uses dropout: only the 'dropout' "
                       "variant should")


def check_penalties(sums: dict) -> str:
    """The L1 and L2 models' weights, against the unregularised model's: the penalty must have been applied."""
    sums = {C.norm_key(k): s for k, s in sums.items()}
    none = sums.get("none") or {}
    texts = []
    for name, formula, fix in (
            ("l1", "sum |w|", "add l1 * sum(w.abs().sum() for each weight matrix w) to the loss before "
                              "loss.backward(), or raise l1"),
            ("l2", "sum w**2", "train it with torch.optim.AdamW(..., weight_decay=...) on the weight matrices, "
                               "or raise weight_decay")):
        own = (sums.get(name) or {}).get(name)
        if own is None or not none.get(name):
            raise Fail(f"models_regularization['{SPELLING[name]}'] and ['none'] should be nn.Modules whose weights the "
                       "check can read")
        ratio = own / none[name]
        if not ratio <= PENALTY_RATIO:
            raise Fail(f"models_regularization['{SPELLING[name]}'] has {formula} = {own:.4g} over its weight "
                       f"matrices, {ratio:.2f} of the unregularised model's {none[name]:.4g} (the check needs at most "
                       f"{PENALTY_RATIO}): its penalty was not applied, or is too weak to matter; {fix}")
        texts.append(f"{SPELLING[name]} {formula} {ratio:.2f}")
    return ", ".join(texts)


def judge(v: dict, probes: dict) -> str:
    X_fit, y_fit, fit_rows = C.rows_of(v, "X_fit", "y_fit", "X_train_regularization", "y_train_regularization")
    X_val, y_val, val_rows = C.rows_of(v, "X_val", "y_val", "X_val_regularization", "y_val_regularization")
    if np.intersect1d(fit_rows, val_rows).size:
        raise Fail("X_train_regularization and X_val_regularization share rows: validate on samples the model "
                   "isn't trained on")
    results = C.keyed(v["results"], REGULARIZERS, "results_regularization")
    histories = C.keyed(v["histories"], REGULARIZERS, "histories_regularization")
    models = C.trained_models(v["models"], REGULARIZERS, "models_regularization")
    check_dropout(models)
    vals = {}
    for name in REGULARIZERS:
        entry, history = results[name], histories[name]
        if not isinstance(entry, dict) or not {"train_acc", "val_acc", "gap"} <= set(entry):
            raise Fail(f"results_regularization['{name}'] should be a dict with 'train_acc', 'val_acc' and 'gap'")
        train = C.fraction(entry["train_acc"], f"results_regularization['{name}']['train_acc']")
        val = C.fraction(entry["val_acc"], f"results_regularization['{name}']['val_acc']")
        try:
            gap = float(entry["gap"])
        except (TypeError, ValueError):
            gap = float("nan")
        if not abs(gap - (train - val)) <= 1e-6:
            raise Fail(f"results_regularization['{name}']['gap'] should be train_acc - val_acc = {train - val:.4f}; "
                       f"yours is {entry['gap']}")
        if not isinstance(history, dict) or not {"train_acc", "val_acc"} <= set(history):
            raise Fail(f"histories_regularization['{name}'] should be a dict of per-epoch 'train_acc' and 'val_acc'")
        train_curve = C.curve(history["train_acc"], f"histories_regularization['{name}']['train_acc']")
        val_curve = C.curve(history["val_acc"], f"histories_regularization['{name}']['val_acc']")
        if len(train_curve) != len(val_curve):
            raise Fail(f"histories_regularization['{name}'] has train and val curves of different lengths")
        if abs(train_curve[-1] - train) > 1e-6 or abs(val_curve[-1] - val) > 1e-6:
            raise Fail(f"results_regularization['{name}'] should hold the last epoch's accuracies of its history")
        spelled = SPELLING.get(name, name)
        for key, X, y, acc in (("train", X_fit, y_fit, train), ("val", X_val, y_val, val)):
            C.check_recorded_accuracy(models[name], f"models_regularization['{spelled}']", X, y, acc,
                                    f"results_regularization['{spelled}']['{key}_acc']", f"X_{key}_regularization",
                                    key, " in eval mode (dropout off)")
        vals[name] = val
    none = results["none"]
    gap_none = float(none["train_acc"]) - float(none["val_acc"])
    if float(none["train_acc"]) < OVERFIT_MIN_TRAIN_ACC or gap_none < OVERFIT_MIN_GAP:
        raise Fail(f"without regularization the gap is only {gap_none:.3f} (train {float(none['train_acc']):.3f}); "
                   f"it should over-fit first (train >= {OVERFIT_MIN_TRAIN_ACC}, gap >= {OVERFIT_MIN_GAP}): wider "
                   "network, fewer training samples, more epochs")
    penalties = check_penalties(v.get("weight_sums") or {})
    best = C.norm_key(v["best"]) if isinstance(v["best"], str) else None
    if best not in SPELLING:
        raise Fail(f"best_regularizer should be one of 'L1', 'L2', 'dropout'; yours is {v['best']!r}"[:200])
    top = max(vals[k] for k in SPELLING)
    # Validation accuracies within one standard error of the best can't be told apart with this many samples.
    se = math.sqrt(max(top * (1 - top), 1e-12) / N_VAL)
    tied = [SPELLING[k] for k in SPELLING if vals[k] >= top - se - 1e-12]
    if SPELLING[best] not in tied:
        raise Fail(f"best_regularizer is '{SPELLING[best]}' (validation accuracy {vals[best]:.3f}), but "
                   f"{' and '.join(map(repr, tied))} reached {top:.3f}, more than one standard error ({se:.3f}) better")
    return (f"the unregularised model over-fits (gap {gap_none:.3f}); the penalties were applied ({penalties} "
            f"of the unregularised model's); {SPELLING[best]} is within one standard error ({se:.3f}) of the best "
            f"validation accuracy ({top:.3f}) {C.check_answer(v['answer'], 12)}")
