"""Exercise 8: three-bit parity, and how many hidden units it takes.

Every recorded accuracy must be its kept model's own on ``X_test_parity`` (rebuilt from its weights), and
``fewest_hidden_units`` what the student's own table says.
"""

import numpy as np

from . import common as C
from .common import Fail

NUMBER, POINTS = 8, 2
LEVEL = 0.97  # every seed of the fewest width must reach this test accuracy
N_SEEDS, MIN_WIDTHS = 3, 4
PARITY_SPLIT = ("X_train_parity", "X_test_parity", "y_train_parity", "y_test_parity")
TITLE = "Three-bit parity: how many hidden units does it take?"
TABLES = ("parity_results", "models_parity", "fewest_hidden_units", "answer_8")
OWN, BORROWED = PARITY_SPLIT + TABLES, ()
TODO = f"make the parity split, train every width at 3 seeds and fill {C.listed(TABLES)}"


def read(ns: dict, probes: dict) -> dict:
    """In the kernel: the split, the table, and every kept model run on X_test_parity."""
    values = {**C.split_info(ns, PARITY_SPLIT), "results": C.plain(ns["parity_results"]),
              "fewest": C.plain(ns["fewest_hidden_units"]), "answer": C.plain(ns["answer_8"])}
    inputs = {"test": C.to_numpy(ns["X_test_parity"])}
    values["models"] = C.each(ns["models_parity"], lambda runs: [C.model_info(m, inputs) for m in list(runs)[:10]]
                              if isinstance(runs, list | tuple) else {"not_a_list": C.type_name(runs)}, limit=20)
    return values


def _width(key) -> int:
    try:
        width = int(key)
    except (TypeError, ValueError):
        raise Fail(f"the keys of parity_results should be the numbers of hidden units; {key!r} isn't one") from None
    if width < 1:
        raise Fail(f"parity_results has a width of {width} hidden units; widths start at 1")
    return width


def _check_model(info, name: str, width: int) -> None:
    if not isinstance(info, dict) or not info.get("is_module"):
        raise Fail(f"{name} should be a trained nn.Module; yours is a {(info or {}).get('type', '?')}")
    shapes = [tuple(s) for s in info.get("linear_shapes") or []]
    if len(shapes) != 2 or shapes[0] != (3, width) or shapes[1] != (width, 1):
        raise Fail(f"{name} should be 3 -> {width} -> ReLU -> 1 (nn.Linear(3, {width}), nn.ReLU(), "
                   f"nn.Linear({width}, 1)); its linear layers are {shapes}")
    if not any(t in C.ACTIVATION_LAYERS for t in C.layer_types(info)):
        raise Fail(f"{name} has no activation between its two nn.Linear layers, so it is linear, and no linear "
                   "model separates parity: put nn.ReLU() between them")


def judge(v: dict, probes: dict) -> str:
    _, X_test, _, y_test = C.check_split(v, PARITY_SPLIT, "parity", n_test=200)
    X_test = X_test.astype(np.float64)
    results, models = v["results"], v["models"]
    if not isinstance(results, dict) or not results:
        raise Fail("parity_results should be a dict {hidden_units: [test accuracy at each seed], ...}")
    if "not_a_dict" in models:
        raise Fail(f"models_parity should be a dict {{hidden_units: [the trained models]}}; yours is a "
                   f"{models['not_a_dict']}")
    table, seen = {}, set()
    for key, accs in results.items():
        width = _width(key)
        name = f"parity_results[{width}]"
        if not isinstance(accs, list) or len(accs) != N_SEEDS:
            raise Fail(f"{name} should be a list of the {N_SEEDS} test accuracies (one per seed)")
        runs = models.get(str(key))
        if not isinstance(runs, list) or len(runs) != N_SEEDS:
            raise Fail(f"models_parity[{width}] should be the list of the {N_SEEDS} models trained for {name}")
        table[width] = []
        for i, (acc, info) in enumerate(zip(accs, runs, strict=True)):
            _check_model(info, f"models_parity[{width}][{i}]", width)
            ids = set(info.get("param_ids") or [])
            if ids & seen:
                raise Fail(f"models_parity[{width}][{i}] shares parameters with another run: build a new model for "
                           "every width and seed")
            seen |= ids
            recorded = C.fraction(acc, f"{name}[{i}]")
            C.check_recorded_accuracy(info, f"models_parity[{width}][{i}]", X_test, y_test, recorded, f"{name}[{i}]",
                                    "X_test_parity", key="test")
            table[width].append(recorded)
    if 1 not in table or len(table) < MIN_WIDTHS:
        raise Fail(f"parity_results has the widths {sorted(table)}; train at least {MIN_WIDTHS} widths, starting "
                   "with 1 hidden unit, so the table shows where parity becomes learnable")
    enough = [w for w in sorted(table) if min(table[w]) >= LEVEL]
    if not enough:
        raise Fail(f"no width reached {LEVEL} at all {N_SEEDS} seeds in your table: add wider networks (e.g. 12, 16) "
                   "or train longer")
    stated = v["fewest"]
    if isinstance(stated, bool) or not isinstance(stated, int | float) or stated != int(stated):
        raise Fail(f"fewest_hidden_units should be a number of hidden units; yours is {stated!r}"[:200])
    stated = int(stated)
    if stated != enough[0]:
        row = ", ".join(f"{a:.3f}" for a in table.get(stated, []))
        if stated in table and min(table[stated]) < LEVEL:
            why = f"in your table {stated} hidden unit(s) reached only {row} (below {LEVEL} at some seed)"
            if stated == 1:
                why += ("; one ReLU unit bends the output along a single direction w·x, so its boundary is one flat "
                        "plane, and no plane separates parity's alternating corners")
        elif stated in table:
            why = f"{enough[0]} units already reached {LEVEL} at every seed in your table"
        else:
            why = f"{stated} is not a width in your table"
        raise Fail(f"fewest_hidden_units is {stated}, but {why}; the fewest with all {N_SEEDS} seeds >= {LEVEL} is "
                   f"{enough[0]}")
    one = ", ".join(f"{a:.3f}" for a in table[1])
    return (f"{len(table)} widths x {N_SEEDS} seeds, each accuracy that of its kept model; 1 hidden unit: {one}; "
            f"the fewest with all seeds >= {LEVEL}: {enough[0]} {C.check_answer(v['answer'], 8)}")
