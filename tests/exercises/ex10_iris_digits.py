"""Exercise 10: Iris and digits with standardised features.

The kernel runs each model on the whole data set, raw features in a secret order, standardised with the student's
scaler; accuracy counts the rows of the student's test split. The split is compared with the data set after undoing
the scaler, which must be fitted on the training split only.
"""

import numpy as np

from . import common as C
from .common import Fail

NUMBER, POINTS = 10, 2
IRIS = ("X_train_iris", "X_test_iris", "y_train_iris", "y_test_iris", "scaler_iris", "model_iris")
DIGITS = ("X_train_digits", "X_test_digits", "y_train_digits", "y_test_digits", "scaler_digits", "model_digits")
MIN_TEST_ACC = {"iris": 0.93, "digits": 0.95}
TITLE = f"Iris and digits with standardised features (>= {MIN_TEST_ACC['iris']:.0%} and {MIN_TEST_ACC['digits']:.0%})"
OWN, BORROWED = IRIS + DIGITS, ()
TODO = "fill the Iris and digits splits, scalers and models"
PARTS = (("iris", IRIS), ("digits", DIGITS))


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: per data set the split, the scaler's statistics, the model on the scaled probes."""
    values = {}
    for data, names in PARTS:
        scaler = ns[names[4]]
        stats = C.scaler_stats(scaler)
        part = C.split_info(ns, names[:4])
        part["scaler"] = {"type": C.type_name(scaler), "mean": stats[0], "scale": stats[1]}
        part["model"] = C.model_info(ns[names[5]], {"probe": C.standardised(C.probe(probes, data), stats)})
        values[data] = part
    return values


def judge(v: dict, probes: dict) -> str:
    messages = []
    for data, names in PARTS:
        part, minimum = v[data], MIN_TEST_ACC[data]
        scaler, scaler_name = part["scaler"], names[4]
        if scaler.get("mean") is None or scaler.get("scale") is None:
            raise Fail(f"{scaler_name} should be a fitted sklearn StandardScaler; yours is a {scaler.get('type')}")
        mean = np.asarray(scaler["mean"], dtype=np.float64).reshape(-1)
        scale = np.asarray(scaler["scale"], dtype=np.float64).reshape(-1)
        ref_X, ref_y = C.reference_data(data)
        if mean.shape != (ref_X.shape[1],) or scale.shape != mean.shape:
            raise Fail(f"{scaler_name} was fitted on {mean.shape[0]} features; {data} has {ref_X.shape[1]}")
        test_info = part.get(names[1])
        if isinstance(test_info, dict) and np.ndim(test_info.get("array")) == 2 and len(test_info["array"]) > 1:
            if np.abs(np.asarray(test_info["array"], dtype=np.float64).mean(axis=0)).max() < 1e-5:
                raise Fail(f"{names[1]} has column means of exactly 0: it was scaled with statistics of the test "
                           f"split; transform it with {scaler_name}, fitted on the training split")
        X_train, X_test, _, _ = C.check_split(part, names[:4], data, n_test=None, scaler=(mean, scale), tol=1e-3)
        if np.abs(X_train.astype(np.float64).mean(axis=0)).max() > 1e-3:
            raise Fail(f"{names[0]} is not standardised by {scaler_name} (its column means are not 0): fit the "
                       "scaler on the training split only, then transform both splits with it")
        C.rebuild(part["model"], names[5], {"probe": C.probe_X(probes, data, (mean, scale))})
        outputs = C.model_outputs(part["model"], names[5], len(probes[data]["y"]), "probe")
        n_classes = int(ref_y.max()) + 1
        if outputs.shape[1] != n_classes:
            raise Fail(f"{names[5]} outputs {outputs.shape[1]} logits; {data} has {n_classes} classes")
        acc = C.probe_accuracy(part["model"], names[5], probes, data, C.test_mask(probes, data, X_test, (mean, scale)))
        if acc < minimum:
            raise Fail(f"{data} test accuracy {acc:.3f} < {minimum}: train longer or add hidden units")
        messages.append(f"{data} test accuracy {acc:.3f} (>= {minimum})")
    return ", ".join(messages) + ", scalers fitted on the training splits"
