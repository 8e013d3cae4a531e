"""Exercise 1: the moons data as tensors, split 80/20.

The data set is rebuilt with the student's own ``SEED``; the labels must be float32 too, because
``nn.BCEWithLogitsLoss`` (exercises 3 and 4) fails on int64 targets.
"""

from . import common as C
from .common import Fail

NUMBER, POINTS = 1, 1
TITLE = "Moons data: tensors and an 80/20 split"
OWN, BORROWED = C.MOONS_SPLIT, ()
TODO = "make the moons data, turn it into tensors and fill X_train_moons, X_test_moons, y_train_moons, y_test_moons"


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the four arrays and the notebook's SEED."""
    return C.split_info(ns, C.MOONS_SPLIT)


def judge(v: dict, probes: dict) -> str:
    C.check_split(v, C.MOONS_SPLIT, "moons", n_test=200)
    for name in C.MOONS_SPLIT[2:]:
        dtype = v[name].get("dtype")
        if dtype != "torch.float32":
            raise Fail(f"{name} is {dtype}: make the labels float32 too (torch.from_numpy(y).float()); "
                       "nn.BCEWithLogitsLoss, the loss of exercises 3 and 4, needs float targets and stops with "
                       "\"result type Float can't be cast to the desired output type Long\" on int64 labels")
    return "800 training and 200 test points of the moons, float32 tensors (labels too), labels paired correctly"
