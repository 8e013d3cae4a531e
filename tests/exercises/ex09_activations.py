"""Exercise 9: sigmoid vs ReLU vs tanh on the spirals.

Judged against the student's own table: each model uses its activation only, its accuracy on ``X_test_spirals``
(rebuilt from its weights) is the one reported, and ``fastest_activation`` is the table's fastest. The answer is only
checked for being there.
"""

import numpy as np

from . import common as C
from .common import Fail

NUMBER, POINTS = 9, 2
TITLE = "Sigmoid vs ReLU vs tanh on the spirals"
OWN = ("results_activations", "histories_activations", "models_activations", "fastest_activation", "ax_activations",
       "answer_9")
BORROWED = C.SPIRALS_SPLIT
TODO = f"fill {C.listed(OWN)}"
LEVEL = 0.9  # epochs are counted until the test accuracy first reaches this
ACTIVATIONS = ("sigmoid", "relu", "tanh")
LAYER_OF = {"sigmoid": "Sigmoid", "relu": "ReLU", "tanh": "Tanh"}


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the spirals split, the tables, the models run on X_test_spirals, the plot, the answer."""
    return {**C.split_info(ns, C.SPIRALS_SPLIT),
            "models": C.each(ns["models_activations"], C.model_info, {"eval": C.to_numpy(ns["X_test_spirals"])}),
            "results": C.plain(ns["results_activations"]), "histories": C.plain(ns["histories_activations"]),
            "fastest": C.plain(ns["fastest_activation"]), "ax": C.axes_info(ns["ax_activations"]),
            "answer": C.plain(ns["answer_9"])}


def judge(v: dict, probes: dict) -> str:
    X_test = np.asarray(v["X_test_spirals"]["array"], dtype=np.float64)
    y_test = C.as_labels(v["y_test_spirals"], "y_test_spirals", len(X_test))
    results = C.keyed(v["results"], ACTIVATIONS, "results_activations")
    histories = C.keyed(v["histories"], ACTIVATIONS, "histories_activations")
    models = C.trained_models(v["models"], ACTIVATIONS, "models_activations")
    lengths, epochs = set(), {}
    for name in ACTIVATIONS:
        entry, history = results[name], histories[name]
        if not isinstance(entry, dict) or not {"test_acc", "epochs_to_90"} <= set(entry):
            raise Fail(f"results_activations['{name}'] should be a dict with 'test_acc' and 'epochs_to_90'")
        if not isinstance(history, dict) or not {"train_loss", "test_acc"} <= set(history):
            raise Fail(f"histories_activations['{name}'] should be the history dict from fit() (with 'train_loss' "
                       "and 'test_acc')")
        loss = C.curve(history["train_loss"], f"histories_activations['{name}']['train_loss']")
        test_acc = C.curve(history["test_acc"], f"histories_activations['{name}']['test_acc']")
        if len(loss) != len(test_acc):
            raise Fail(f"histories_activations['{name}'] has curves of different lengths")
        lengths.add(len(loss))
        final = C.fraction(entry["test_acc"], f"results_activations['{name}']['test_acc']")
        if abs(final - test_acc[-1]) > 1e-6:
            raise Fail(f"results_activations['{name}']['test_acc'] is {final:.4f} but the last epoch of its history "
                       f"says {test_acc[-1]:.4f}: report the final test accuracy")
        used = sorted({t for t in C.layer_types(models[name]) if t in C.ACTIVATION_LAYERS})
        if used != [LAYER_OF[name]]:
            raise Fail(f"models_activations['{name}'] uses {', '.join(used) or 'no activation'}; it should use "
                       f"nn.{LAYER_OF[name]}() after each hidden layer, and no other activation")
        C.check_recorded_accuracy(models[name], f"models_activations['{name}']", X_test, y_test, final,
                                f"results_activations['{name}']['test_acc']", "X_test_spirals")
        expected, got = C.epochs_to(test_acc, LEVEL), entry["epochs_to_90"]
        if (got is None) != (expected is None) or (got is not None and int(got) != expected):
            raise Fail(f"results_activations['{name}']['epochs_to_90'] is {got} but its test accuracy first reaches "
                       f"{LEVEL} at epoch {expected} (count epochs from 1; None if never)")
        epochs[name] = expected
    if len(lengths) != 1:
        raise Fail("train every activation for the same number of epochs (same network, data and seed), so the "
                   "comparison is fair")
    if max(float(results[a]["test_acc"]) for a in ACTIVATIONS) < LEVEL:
        raise Fail(f"no activation reached {LEVEL:.0%} test accuracy on the spirals: train longer or use a larger "
                   "learning rate")
    winner = C.fastest(v["fastest"], epochs, "fastest_activation", {a: a for a in ACTIVATIONS})
    C.check_axes(v["ax"], "ax_activations", min_lines=3, legend=True)
    return (f"table, curves and the trained models are consistent; {winner} reached {LEVEL:.0%} first "
            f"({epochs[winner]} epochs) {C.check_answer(v['answer'], 9)}")
