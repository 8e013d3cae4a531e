"""Exercise 11: optimizers on digits (SGD, momentum, RMSprop, Adam).

Judged against the student's own table: the validation rows come from the training split, each model's validation
accuracy (rebuilt from its weights) is the one reported, each row's optimizer is of its kind and holds that row's
model (so four rows from one optimizer fail), and ``fastest_optimizer`` is the table's fastest. The answer is only
checked for being there.
"""

import numpy as np
import torch

from . import common as C
from .common import Fail

NUMBER, POINTS = 11, 2
TITLE = "Optimizers on digits: SGD, momentum, RMSprop, Adam"
OWN = ("X_val_optimizers", "y_val_optimizers", "results_optimizers", "histories_optimizers", "models_optimizers",
       "optimizers_used", "fastest_optimizer", "ax_optimizers", "answer_11")
BORROWED = ("X_train_digits", "y_train_digits", "X_test_digits")
TODO = f"fill {C.listed(OWN)}"
LEVEL = 0.93  # epochs are counted until the validation accuracy first reaches this
MIN_VAL_ACC = 0.93
VAL_SHARE = (0.1, 0.3)  # of the training rows, held out for validation (the task asks for 20%)
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
ALIASES = {"sgdmomentum": "momentum", "sgdwithmomentum": "momentum", "sgdm": "momentum"}
SPELLING = {"sgd": "SGD", "momentum": "Momentum", "rmsprop": "RMSprop", "adam": "Adam"}
KINDS = {"sgd": ("SGD",), "momentum": ("SGD",), "rmsprop": ("RMSprop",), "adam": ("Adam", "AdamW")}
SETTINGS = ("lr", "momentum", "nesterov", "betas", "alpha", "weight_decay", "eps")


def optimizer_info(optimizer) -> dict:
    """In the kernel: an optimizer's type, first parameter group's settings and the ids of all its parameters."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        return {"is_optimizer": False, "type": type(optimizer).__name__}
    group = optimizer.param_groups[0]
    return {"is_optimizer": True, "type": type(optimizer).__name__,
            "settings": {k: C.plain(group[k]) for k in SETTINGS if k in group},
            "param_ids": sorted(id(p) for g in optimizer.param_groups for p in g["params"])}


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: validation and digits splits, tables, the models run on X_val_optimizers, plot, answer."""
    return {"X_val": C.array_info(ns["X_val_optimizers"]), "y_val": C.array_info(ns["y_val_optimizers"]),
            "X_train": C.array_info(ns["X_train_digits"]), "y_train": C.array_info(ns["y_train_digits"]),
            "X_test": C.array_info(ns["X_test_digits"]),
            "results": C.plain(ns["results_optimizers"]), "histories": C.plain(ns["histories_optimizers"]),
            "models": C.each(ns["models_optimizers"], C.model_info, {"eval": C.to_numpy(ns["X_val_optimizers"])}),
            "optimizers": (C.each(ns["optimizers_used"], optimizer_info) if isinstance(ns["optimizers_used"], dict)
                           else {"not_a_dict": type(ns["optimizers_used"]).__name__}),  # its hint: the bare name
            "fastest": C.plain(ns["fastest_optimizer"]), "ax": C.axes_info(ns["ax_optimizers"]),
            "answer": C.plain(ns["answer_11"])}


def check_optimizers(value: dict, models: dict) -> None:
    """Each row's optimizer: an optimizer of that row's kind, over exactly that row's model's parameters."""
    if "not_a_dict" in value:
        raise Fail(f"optimizers_used should be a dict of the optimizer objects, one per row; yours is a "
                   f"{value['not_a_dict']}")
    used = C.keyed(value, OPTIMIZERS, "optimizers_used", ALIASES)
    described = {}
    for name in OPTIMIZERS:
        info, row = used[name], f"optimizers_used['{SPELLING[name]}']"
        if not isinstance(info, dict) or not info.get("is_optimizer"):
            raise Fail(f"{row} should be the torch.optim optimizer that trained that row; yours is a "
                       f"{(info or {}).get('type', '?')}")
        settings = info.get("settings") or {}
        described[name] = f"{info['type']}({', '.join(f'{k}={settings[k]}' for k in sorted(settings))})"
    if len(set(described.values())) == 1:
        raise Fail(f"all four rows were trained by the same optimizer, {described['sgd']}: train one model with each "
                   "of SGD, SGD with momentum, RMSprop and Adam")
    for name in OPTIMIZERS:
        info, row = used[name], f"optimizers_used['{SPELLING[name]}']"
        if info.get("param_ids") != sorted(models[name].get("param_ids") or []):
            raise Fail(f"{row} doesn't hold the parameters of models_optimizers['{SPELLING[name]}']: keep, for every "
                       "row, the optimizer you trained that row's model with")
        momentum = float((info.get("settings") or {}).get("momentum", 0.0) or 0.0)
        wrong = info["type"] not in KINDS[name] or (name == "sgd" and momentum > 0) or (
            name == "momentum" and momentum == 0)
        if wrong:
            want = {"sgd": "torch.optim.SGD without momentum", "momentum": "torch.optim.SGD with momentum > 0 (e.g. "
                    "momentum=0.9)", "rmsprop": "torch.optim.RMSprop", "adam": "torch.optim.Adam"}[name]
            raise Fail(f"the '{SPELLING[name]}' row was trained by {described[name]}; it should be {want}")


def judge(v: dict, probes: dict) -> str:
    X_val, y_val, _ = C.rows_of(v, "X_val", "y_val", "X_val_optimizers", "y_val_optimizers", share=VAL_SHARE,
                                why="the validation set comes from the training split")
    results = C.keyed(v["results"], OPTIMIZERS, "results_optimizers", ALIASES)
    histories = C.keyed(v["histories"], OPTIMIZERS, "histories_optimizers", ALIASES)
    models = C.trained_models(v["models"], OPTIMIZERS, "models_optimizers", ALIASES)
    epochs = {}
    for name in OPTIMIZERS:
        entry = results[name]
        if not isinstance(entry, dict) or not {"val_acc", "epochs_to_93", "step_ms"} <= set(entry):
            raise Fail(f"results_optimizers['{name}'] should be a dict with 'val_acc', 'epochs_to_93' and 'step_ms'")
        try:
            step_ms = float(entry["step_ms"])
        except (TypeError, ValueError):
            step_ms = -1.0
        if not 0 < step_ms < 10_000:
            raise Fail(f"results_optimizers['{name}']['step_ms'] should be the median time of one step in "
                       "milliseconds (time.perf_counter() around each of 30 steps); yours is "
                       f"{entry['step_ms']!r}"[:300])
        val_acc = C.fraction(entry["val_acc"], f"results_optimizers['{name}']['val_acc']")
        values = C.curve(histories[name], f"histories_optimizers['{name}']")
        if values.max() > 1:
            raise Fail(f"histories_optimizers['{name}'] should hold validation accuracies in [0, 1]")
        if abs(values[-1] - val_acc) > 1e-6:
            raise Fail(f"results_optimizers['{name}']['val_acc'] ({val_acc:.4f}) should be the last value of its "
                       f"validation curve ({values[-1]:.4f})")
        C.check_recorded_accuracy(models[name], f"models_optimizers['{SPELLING[name]}']", X_val, y_val, val_acc,
                                f"results_optimizers['{SPELLING[name]}']['val_acc']", "X_val_optimizers")
        epochs[name] = C.epochs_to(values, LEVEL)
        got = entry["epochs_to_93"]
        if (got is None) != (epochs[name] is None) or (got is not None and got != epochs[name]):
            raise Fail(f"results_optimizers['{SPELLING[name]}']['epochs_to_93'] is {got!r} but its validation curve "
                       f"first reaches {LEVEL} at epoch {epochs[name]} (count epochs from 1; None if never)"[:300])
    check_optimizers(v["optimizers"], models)
    if len({len(np.ravel(histories[k])) for k in OPTIMIZERS}) != 1:
        raise Fail("train every optimizer for the same number of epochs so the curves are comparable")
    best = max(float(results[k]["val_acc"]) for k in OPTIMIZERS)
    if best < MIN_VAL_ACC:
        raise Fail(f"the best validation accuracy is {best:.3f}; at least one optimizer should reach "
                   f"{MIN_VAL_ACC} on digits: check the learning rates")
    winner = C.fastest(v["fastest"], epochs, "fastest_optimizer", SPELLING, ALIASES)
    C.check_axes(v["ax"], "ax_optimizers", min_lines=4, legend=True)
    return (f"validation set of {len(X_val)} training rows; four different optimizers; step times, accuracies, curves "
            f"and the trained models are consistent; {winner} reached {LEVEL:.0%} first "
            f"{C.check_answer(v['answer'], 11)}")
