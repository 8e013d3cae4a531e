"""Exercise 13: k-fold cross-validation of hyperparameters.

The 8 configurations are half of a 2x2x2x2 grid; the stated most important hyperparameter must be the one with the
largest main effect in the student's own table, and ``model_cv`` built from ``best_config`` and accurate on the
digits test rows (rebuilt from its weights, secret order). The answer is only checked for being there.
"""

import numpy as np

from . import common as C
from .common import Fail

NUMBER, POINTS = 13, 2
MIN_TEST_ACC = 0.95
TITLE = f"k-fold cross-validation of hyperparameters (>= {MIN_TEST_ACC:.0%} test accuracy)"
OWN = ("cv_results", "best_config", "most_important_hyperparameter", "model_cv", "answer_13")
BORROWED = ("X_train_digits", "y_train_digits", "X_test_digits", "y_test_digits", "scaler_digits")
TODO = f"fill {C.listed(OWN)}"
KEYS = ("hidden_layers", "hidden_units", "lr", "batch_size")


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the table, the choices, the scaler, and model_cv run on the scaled digits probes."""
    stats = C.scaler_stats(ns["scaler_digits"])
    digits = {"X_test": C.to_numpy(ns["X_test_digits"]), "mean": stats[0], "scale": stats[1]}
    return {"digits": digits, "cv_results": C.plain(ns["cv_results"]), "best_config": C.plain(ns["best_config"]),
            "most_important": C.plain(ns["most_important_hyperparameter"]),
            "model": C.model_info(ns["model_cv"], {"probe": C.standardised(C.probe(probes, "digits"), stats)}),
            "answer": C.plain(ns["answer_13"])}


def main_effects(rows: list) -> dict:
    """For each hyperparameter: max - min over its values of the mean CV accuracy of the rows with that value."""
    effects = {}
    for key in KEYS:
        averages = [float(np.mean([float(row["mean"]) for row in rows if repr(row[key]) == level]))
                    for level in dict.fromkeys(repr(row[key]) for row in rows)]
        effects[key] = max(averages) - min(averages)
    return effects


def check_half_fraction(rows: list) -> None:
    """The 8 rows are the half of the 2x2x2x2 grid the task gives: 2 values per factor, every pair balanced."""
    configs = {tuple(repr(row[k]) for k in KEYS) for row in rows}
    levels = [sorted({c[i] for c in configs}) for i in range(len(KEYS))]
    if len(rows) != 8 or len(configs) != 8 or any(len(values) != 2 for values in levels):
        raise Fail("cv_results should hold the 8 configurations of the design in the task (each hyperparameter "
                   f"takes 2 values); yours has {len(rows)} rows, {len(configs)} distinct")
    for i in range(len(KEYS)):
        for j in range(i + 1, len(KEYS)):
            pairs = [(c[i], c[j]) for c in configs]
            if any(pairs.count(p) != 2 for p in set(pairs)) or len(set(pairs)) != 4:
                raise Fail(f"your configurations don't balance {KEYS[i]} against {KEYS[j]}: use the 8 "
                           "configurations the task gives, so every factor's effect can be read off")


def check_table(rows) -> int:
    """Every row's fold accuracies, mean and std consistent, the same k >= 3 folds everywhere; returns k."""
    if not isinstance(rows, list) or len(rows) < 2:
        raise Fail("cv_results should be a list with one dict per configuration")
    folds = set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not set(KEYS + ("fold_accs", "mean", "std")) <= set(row):
            raise Fail(f"cv_results[{i}] should be a dict with {list(KEYS)} and 'fold_accs', 'mean', 'std'")
        accs = C.curve(row["fold_accs"], f"cv_results[{i}]['fold_accs']")
        if accs.min() < 0 or accs.max() > 1:
            raise Fail(f"cv_results[{i}]['fold_accs'] should be accuracies in [0, 1]")
        folds.add(len(accs))
        try:
            mean, std = float(row["mean"]), float(row["std"])
        except (TypeError, ValueError):
            raise Fail(f"cv_results[{i}]['mean'] and ['std'] should be numbers") from None
        if abs(mean - accs.mean()) > 1e-4:
            raise Fail(f"cv_results[{i}]['mean'] ({mean:.4f}) is not the mean of its fold accuracies "
                       f"({accs.mean():.4f})")
        if min(abs(std - accs.std(ddof=0)), abs(std - accs.std(ddof=1))) > 1e-4:
            raise Fail(f"cv_results[{i}]['std'] ({std:.4f}) is not the standard deviation of its fold accuracies")
    if len(folds) != 1 or min(folds) < 3:
        raise Fail(f"use the same k >= 3 folds for every configuration; yours have {sorted(folds)} folds")
    check_half_fraction(rows)
    return min(folds)


def judge(v: dict, probes: dict) -> str:
    rows = v["cv_results"]
    k = check_table(rows)
    best_mean = max(float(row["mean"]) for row in rows)
    config = v["best_config"]
    if not isinstance(config, dict) or not set(KEYS) <= set(config):
        raise Fail(f"best_config should be a dict with the keys {list(KEYS)}")
    matching = [row for row in rows if all(repr(row[key]) == repr(config[key]) for key in KEYS)]
    if not matching or float(matching[0]["mean"]) < best_mean - 1e-12:
        raise Fail(f"best_config should be the configuration with the highest mean CV accuracy ({best_mean:.4f})")
    effects = main_effects(rows)
    stated = v["most_important"]
    if stated not in KEYS:
        raise Fail(f"most_important_hyperparameter should be one of {list(KEYS)}; yours is {stated!r}"[:200])
    if effects[stated] < max(effects.values()) - 1e-9:
        leader = max(effects, key=effects.get)
        raise Fail(f"most_important_hyperparameter is {stated!r}, but in your own table {leader!r} changes the mean "
                   f"CV accuracy most ({effects[leader]:.3f} between its two values; {stated!r}: "
                   f"{effects[stated]:.3f})")
    model = v["model"]
    shapes = model.get("linear_shapes") or []
    widths = [int(shape[1]) for shape in shapes[:-1]]  # of the hidden layers
    layers, units = config["hidden_layers"], config["hidden_units"]
    if len(widths) != layers or any(w != units for w in widths):
        raise Fail(f"model_cv has hidden layers {widths}, but best_config asks for {layers} hidden layer(s) of "
                   f"{units} units: build model_cv from best_config")
    if not shapes or shapes[-1][1] != 10:
        raise Fail("model_cv should output 10 logits (digits 0-9)")
    part = v["digits"]
    scaler = (np.asarray(part["mean"], dtype=np.float64).reshape(-1),
              np.asarray(part["scale"], dtype=np.float64).reshape(-1))
    X_test = np.asarray(part["X_test"], dtype=np.float64)
    C.rebuild(model, "model_cv", {"probe": C.probe_X(probes, "digits", scaler)})
    acc = C.probe_accuracy(model, "model_cv", probes, "digits", C.test_mask(probes, "digits", X_test, scaler))
    if acc < MIN_TEST_ACC:
        raise Fail(f"model_cv's test accuracy is {acc:.3f} < {MIN_TEST_ACC}: retrain the best configuration on all "
                   "of X_train_digits (with its batch size and learning rate) before testing it")
    return (f"{len(rows)} configurations x {k} folds; {stated} matters most in your table; best retrained: "
            f"test accuracy {acc:.3f} {C.check_answer(v['answer'], 13)}")
