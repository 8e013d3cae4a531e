"""Exercise 5: predictions and the decision boundary.

``y_pred_moons`` must be labels (not logits) that the model, rebuilt from its weights, predicts on ``X_test_moons``.
"""

import numpy as np

from . import common as C
from .common import Fail

NUMBER, POINTS = 5, 2
TITLE = "Predictions and the decision boundary"
OWN, BORROWED = ("y_pred_moons", "ax_moons"), ("model_moons", "X_test_moons", "y_test_moons")
TODO = "set y_pred_moons (labels for X_test_moons) and ax_moons (the decision-boundary Axes)"


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: predictions, test split, the model on the test split and the grid, the plot."""
    inputs = {"test": C.to_numpy(ns["X_test_moons"]), "grid": C.GRID_2D}
    return {"y_pred": C.array_info(ns["y_pred_moons"]), "y_test": C.array_info(ns["y_test_moons"]),
            "X_test": C.array_info(ns["X_test_moons"]), "model": C.model_info(ns["model_moons"], inputs),
            "ax": C.axes_info(ns["ax_moons"])}


def judge(v: dict, probes: dict) -> str:
    n = len(np.asarray(v["y_test"]["array"]).reshape(-1))
    y_test = C.as_labels(v["y_test"], "y_test_moons", n)
    y_pred_raw = np.asarray(v["y_pred"]["array"])
    if y_pred_raw.shape != (n,):
        squeeze = " (squeeze to (200,): y_logits.squeeze(1) before the sigmoid)" if y_pred_raw.shape == (n, 1) else ""
        raise Fail(f"y_pred_moons should have shape ({n},), one label per test point; yours has "
                   f"{y_pred_raw.shape}{squeeze}")
    if y_pred_raw.dtype.kind == "f" and not np.all(np.isin(y_pred_raw, (0.0, 1.0))):
        raise Fail("y_pred_moons holds logits or probabilities, not labels: use "
                   "torch.round(torch.sigmoid(y_logits)) (labels are 0 or 1)")
    y_pred = y_pred_raw.astype(np.int64)
    if not np.all(np.isin(y_pred, (0, 1))):
        raise Fail("y_pred_moons should contain only the labels 0 and 1")
    model = v["model"]
    if isinstance(v.get("X_test"), dict):
        C.rebuild(model, "model_moons", {"test": np.asarray(v["X_test"]["array"], dtype=np.float64), "grid": C.GRID_2D})
    outputs = C.model_outputs(model, "model_moons", n, "test")
    grid_outputs = C.model_outputs(model, "model_moons", len(C.GRID_2D), "grid")
    agree = C.accuracy(C.labels_from_outputs(outputs, model), y_pred)
    if agree < 0.99:
        raise Fail(f"y_pred_moons agrees with model_moons's predictions on X_test_moons for only {agree:.0%} of "
                   "the points: predict on X_test_moons with the trained model, in eval mode")
    acc = C.accuracy(y_test, y_pred)
    if acc < C.MOONS_MIN_TEST_ACC:
        if C.is_affine(grid_outputs, C.GRID_2D):
            raise Fail(f"y_pred_moons is only {acc:.3f} accurate because model_moons (exercise 2) is linear: put a "
                       "non-linear activation such as nn.ReLU() between its nn.Linear layers, then retrain it "
                       "(exercise 4)")
        raise Fail(f"y_pred_moons is only {acc:.3f} accurate (< {C.MOONS_MIN_TEST_ACC}): train model_moons first "
                   "(exercise 4)")
    C.check_axes(v["ax"], "ax_moons", min_collections=2)
    return f"labels match the model ({acc:.3f} test accuracy) and ax_moons shows the decision boundary"
