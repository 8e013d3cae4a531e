"""Exercise 8: a feed-forward network for XOR.

The student splits ``make_xor(n_samples=1000, noise=0.1, random_state=SEED)``
80/20 into ``X_train_xor, X_test_xor, y_train_xor, y_test_xor`` and trains
``model_xor`` (one logit). Judged: the split, one raw logit per point, and
accuracy on 1,000 fresh XOR points (the model rebuilt from its weights). A
failing model's hint says why: linear, a hidden layer too narrow, or undertrained.
"""

from .common import (
    GRID_2D,
    XOR_SPLIT,
    Exercise,
    Fail,
    check_split,
    hidden_widths,
    is_affine,
    logit_model,
    model_info,
    model_outputs,
    pct,
    probe,
    probe_accuracy,
    probe_X,
    rebuild,
    seed_of,
    seed_value,
    split_info,
)

NUMBER, POINTS = 8, 2
MIN_TEST_ACC = 0.99
TITLE = f"A feed-forward network for XOR (>= {pct(MIN_TEST_ACC)} test accuracy)"
OWN, BORROWED = XOR_SPLIT + ("model_xor",), ()
TODO = "make the XOR split and train model_xor"


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the split and the model, run on the fresh XOR probes and the grid."""
    return {**split_info(ns, XOR_SPLIT), "seed": seed_of(ns),
            "model": model_info(ns["model_xor"], {"probe": probe(probes, "xor"), "grid": GRID_2D})}


def judge(v: dict, probes: dict) -> str:
    check_split(v, XOR_SPLIT, "xor", n_test=200, seed=seed_value(v))
    model = v["model"]
    rebuild(model, "model_xor", {"probe": probe_X(probes, "xor"), "grid": GRID_2D})
    logit_model(model, "model_xor", len(probes["xor"]["y"]), "probe")
    acc = probe_accuracy(model, "model_xor", probes, "xor")
    if acc < MIN_TEST_ACC:
        grid = model_outputs(model, "model_xor", len(GRID_2D), "grid")
        widths = hidden_widths(model)
        if is_affine(grid, GRID_2D):
            hint = "model_xor is linear: XOR needs a non-linear activation such as nn.ReLU() after the hidden layer"
        elif widths and min(widths) < 4:
            hint = (f"a hidden layer of {min(widths)} unit(s) is too narrow to carve out the four XOR clusters: use "
                    "more hidden units (e.g. nn.Linear(2, 8))")
        else:
            hint = "train longer or raise the learning rate"
        raise Fail(f"accuracy {acc:.3f} < {MIN_TEST_ACC} on fresh XOR points: {hint}")
    return f"accuracy {acc:.3f} (>= {MIN_TEST_ACC}) on fresh XOR points"


EXERCISE = Exercise(NUMBER, TITLE, POINTS, OWN, BORROWED, TODO, read, judge)
