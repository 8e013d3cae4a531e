"""Exercise 11: optimizers on digits (SGD, momentum, RMSprop, Adam).

The student holds out 20% of ``X_train_digits`` as ``X_val_optimizers`` /
``y_val_optimizers``, trains the same network with each optimizer and keeps
``results_optimizers`` (``train_time`` in seconds, ``val_acc``),
``histories_optimizers`` (per-epoch validation accuracy), ``models_optimizers``,
``fastest_optimizer``, the plot ``ax_optimizers`` and ``answer_11``. Judged
against the student's own table: the validation rows come from the training
split, each model's validation accuracy (rebuilt from its weights) is the one
reported, the curves end there, one optimizer reaches the level, and
``fastest_optimizer`` is the table's fastest. The answer is only checked for being there.
"""

import numpy as np

from .common import (
    Exercise,
    Fail,
    array_info,
    as_labels,
    axes_info,
    check_answer,
    check_axes,
    check_recorded_accuracy,
    curve,
    epochs_to,
    fastest,
    fraction,
    keyed,
    models_info,
    nearest_rows,
    pct,
    plain,
    to_numpy,
    trained_models,
)

NUMBER, POINTS = 11, 2
TITLE = "Optimizers on digits: SGD, momentum, RMSprop, Adam"
OWN = ("X_val_optimizers", "y_val_optimizers", "results_optimizers", "histories_optimizers", "models_optimizers",
       "fastest_optimizer", "ax_optimizers", "answer_11")
BORROWED = ("X_train_digits", "y_train_digits", "X_test_digits")
TODO = ("fill X_val_optimizers, y_val_optimizers, results_optimizers, histories_optimizers, models_optimizers, "
        "fastest_optimizer, ax_optimizers and answer_11")
LEVEL = 0.93  # epochs are counted until the validation accuracy first reaches this
MIN_VAL_ACC = 0.93
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
ALIASES = {"sgdmomentum": "momentum", "sgdwithmomentum": "momentum", "sgdm": "momentum"}
SPELLING = {"sgd": "SGD", "momentum": "Momentum", "rmsprop": "RMSprop", "adam": "Adam"}


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: validation and digits splits, tables, the models run on X_val_optimizers, plot, answer."""
    return {"X_val": array_info(ns["X_val_optimizers"]), "y_val": array_info(ns["y_val_optimizers"]),
            "X_train": array_info(ns["X_train_digits"]), "y_train": array_info(ns["y_train_digits"]),
            "X_test": array_info(ns["X_test_digits"]),
            "results": plain(ns["results_optimizers"]), "histories": plain(ns["histories_optimizers"]),
            "models": models_info(ns["models_optimizers"], {"eval": to_numpy(ns["X_val_optimizers"])}),
            "fastest": plain(ns["fastest_optimizer"]), "ax": axes_info(ns["ax_optimizers"]),
            "answer": plain(ns["answer_11"])}


def check_validation_split(v: dict) -> int:
    """X_val_optimizers/y_val_optimizers: rows of the digits training split, labels paired; returns its size."""
    X_train = np.asarray(v["X_train"]["array"], dtype=np.float64)
    X_test = np.asarray(v["X_test"]["array"], dtype=np.float64)
    y_train = np.asarray(v["y_train"]["array"]).reshape(-1)
    X_val = np.asarray(v["X_val"]["array"], dtype=np.float64)
    if v["X_val"].get("type") != "torch.Tensor" or X_val.ndim != 2 or X_val.shape[1:] != X_train.shape[1:]:
        raise Fail(f"X_val_optimizers should be a (N, {X_train.shape[1]}) tensor of rows of X_train_digits; yours is "
                   f"a {v['X_val'].get('type')} of shape {X_val.shape}")
    y_val = as_labels(v["y_val"], "y_val_optimizers", len(X_val))
    in_train, train_distance = nearest_rows(X_val, X_train)
    _, test_distance = nearest_rows(X_val, X_test) if len(X_test) else (None, np.full(len(X_val), np.inf))
    if len(X_val) and np.all(test_distance < 1e-6) and not np.all(train_distance < 1e-6):
        raise Fail("X_val_optimizers is the test split: hold out 20% of X_train_digits as the validation set and "
                   "keep X_test_digits untouched")
    if not np.all(train_distance < 1e-6):
        raise Fail("X_val_optimizers should consist of rows of X_train_digits (the validation set comes from the "
                   "training split)")
    if not 0.1 * len(X_train) <= len(X_val) <= 0.3 * len(X_train):
        raise Fail(f"X_val_optimizers holds {len(X_val)} of the {len(X_train)} training rows: hold out 20% "
                   "(test_size=0.2)")
    if len(y_train) == len(X_train) and not np.all(y_train[in_train] == y_val):
        raise Fail("y_val_optimizers doesn't match X_val_optimizers: index features and labels with the same indices")
    return len(X_val)


def judge(v: dict, probes: dict) -> str:
    n_val = check_validation_split(v)
    X_val = np.asarray(v["X_val"]["array"], dtype=np.float64)
    y_val = as_labels(v["y_val"], "y_val_optimizers", len(X_val))
    results = keyed(v["results"], OPTIMIZERS, "results_optimizers", ALIASES)
    histories = keyed(v["histories"], OPTIMIZERS, "histories_optimizers", ALIASES)
    models = trained_models(v["models"], OPTIMIZERS, "models_optimizers", ALIASES)
    epochs = {}
    for name in OPTIMIZERS:
        entry = results[name]
        if not isinstance(entry, dict) or not {"train_time", "val_acc"} <= set(entry):
            raise Fail(f"results_optimizers['{name}'] should be a dict with 'train_time' (seconds) and 'val_acc'")
        try:
            seconds = float(entry["train_time"])
        except (TypeError, ValueError):
            seconds = -1.0
        if not 0 < seconds < 600:
            raise Fail(f"results_optimizers['{name}']['train_time'] should be the training time in seconds "
                       "(time.perf_counter() before and after)")
        val_acc = fraction(entry["val_acc"], f"results_optimizers['{name}']['val_acc']")
        values = curve(histories[name], f"histories_optimizers['{name}']")
        if values.max() > 1:
            raise Fail(f"histories_optimizers['{name}'] should hold validation accuracies in [0, 1]")
        if abs(values[-1] - val_acc) > 1e-6:
            raise Fail(f"results_optimizers['{name}']['val_acc'] ({val_acc:.4f}) should be the last value of its "
                       f"validation curve ({values[-1]:.4f})")
        check_recorded_accuracy(models[name], f"models_optimizers['{SPELLING[name]}']", X_val, y_val, val_acc,
                                f"results_optimizers['{SPELLING[name]}']['val_acc']", "X_val_optimizers")
        epochs[name] = epochs_to(values, LEVEL)
    if len({len(np.ravel(histories[k])) for k in OPTIMIZERS}) != 1:
        raise Fail("train every optimizer for the same number of epochs so the curves are comparable")
    best = max(float(results[k]["val_acc"]) for k in OPTIMIZERS)
    if best < MIN_VAL_ACC:
        raise Fail(f"the best validation accuracy is {best:.3f}; at least one optimizer should reach "
                   f"{MIN_VAL_ACC} on digits: check the learning rates")
    winner = fastest(v["fastest"], epochs, "fastest_optimizer", SPELLING, ALIASES)
    check_axes(v["ax"], "ax_optimizers", min_lines=4, legend=True)
    check_answer(v["answer"], 11)
    return (f"validation set of {n_val} training rows; timings, accuracies, curves and the trained models are "
            f"consistent; {winner} reached {pct(LEVEL)} first (answer_11 is checked only for being there: "
            "your instructor reads it)")


EXERCISE = Exercise(NUMBER, TITLE, POINTS, OWN, BORROWED, TODO, read, judge)
