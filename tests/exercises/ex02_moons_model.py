"""Exercise 2: a non-linear model for the moons.

The kernel runs ``model_moons`` on a fixed grid (no labels needed); it fails when its outputs there (recomputed from
its weights when it is a chain of standard layers) are an affine function of the input (stacked ``nn.Linear`` layers
without an activation).
"""

from . import common as C
from .common import Fail

NUMBER, POINTS = 2, 1
TITLE = "A non-linear model for the moons"
OWN, BORROWED = ("model_moons",), ()
TODO = "build model_moons (2 inputs -> hidden layers with a non-linear activation -> 1 logit)"


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the model's structure, weights and outputs on the grid."""
    return {"model": C.model_info(ns["model_moons"], {"grid": C.GRID_2D})}


def judge(v: dict, probes: dict) -> str:
    model = v["model"]
    C.rebuild(model, "model_moons", {"grid": C.GRID_2D})
    outputs = C.model_outputs(model, "model_moons", len(C.GRID_2D), "grid")
    if outputs.shape[1] != 1:
        raise Fail(f"model_moons outputs {outputs.shape[1]} numbers per point; the task asks for one logit: end it "
                   "with nn.Linear(..., 1)")
    if (model.get("leaves") or [""])[-1] in ("Sigmoid", "Softmax"):
        raise Fail(f"model_moons ends in nn.{model['leaves'][-1]}(): return logits and use BCEWithLogitsLoss (a "
                   "sigmoid in the model and another in the loss squash twice); drop the final activation")
    if C.is_affine(outputs, C.GRID_2D):
        raise Fail("model_moons computes a straight-line (affine) function of its input: stacked nn.Linear layers "
                   "stay linear; put a non-linear activation such as nn.ReLU() between them")
    layers = model.get("leaves", [])
    return f"a non-linear model with {model.get('n_params', '?')} parameters ({', '.join(layers[:8])})"
