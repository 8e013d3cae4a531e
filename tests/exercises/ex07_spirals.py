"""Exercise 7: spirals, a multi-class model.

The student splits ``make_spirals(n_samples=1000, n_classes=3, noise=0.2,
random_state=SEED)`` 80/20 into ``X_train_spirals, X_test_spirals,
y_train_spirals, y_test_spirals``, trains ``model_spirals`` (3 logits) and draws
its decision boundary in ``ax_spirals``. Judged: the split against the rebuilt
data, 3 outputs, accuracy on 1,000 fresh spirals points (rebuilt from the
weights; labels never in the kernel), and a filled plot.
"""

from .common import (
    SPIRALS_SPLIT,
    Exercise,
    Fail,
    axes_info,
    check_axes,
    check_split,
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

NUMBER, POINTS = 7, 2
MIN_TEST_ACC = 0.95
TITLE = f"Spirals: a multi-class model (>= {pct(MIN_TEST_ACC)} test accuracy)"
OWN, BORROWED = SPIRALS_SPLIT + ("model_spirals", "ax_spirals"), ()
TODO = "make the spirals split, train model_spirals and draw ax_spirals"


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the split, the plot, and the model run on the fresh spirals probes."""
    return {**split_info(ns, SPIRALS_SPLIT), "seed": seed_of(ns), "ax": axes_info(ns["ax_spirals"]),
            "model": model_info(ns["model_spirals"], {"probe": probe(probes, "spirals")})}


def judge(v: dict, probes: dict) -> str:
    check_split(v, SPIRALS_SPLIT, "spirals", n_test=200, seed=seed_value(v))
    rebuild(v["model"], "model_spirals", {"probe": probe_X(probes, "spirals")})
    outputs = model_outputs(v["model"], "model_spirals", len(probes["spirals"]["y"]), "probe")
    if outputs.shape[1] != 3:
        raise Fail(f"model_spirals outputs {outputs.shape[1]} logit(s) per point; 3 classes need 3 output units "
                   "(with nn.CrossEntropyLoss)")
    acc = probe_accuracy(v["model"], "model_spirals", probes, "spirals")
    if acc < MIN_TEST_ACC:
        raise Fail(f"accuracy {acc:.3f} < {MIN_TEST_ACC} on fresh spirals points: use more hidden units or "
                   "another hidden layer, and train longer")
    check_axes(v["ax"], "ax_spirals", min_collections=2)
    return f"accuracy {acc:.3f} (>= {MIN_TEST_ACC}) on fresh spirals points and a decision boundary in ax_spirals"


EXERCISE = Exercise(NUMBER, TITLE, POINTS, OWN, BORROWED, TODO, read, judge)
