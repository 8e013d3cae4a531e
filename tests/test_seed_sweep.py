"""The seed sweep as tests: every thresholded training claim holds for seeds 0-19.

Slow (minutes), so marked ``slow`` and left out of the default run::

    pytest -m slow                 # all recipes, on one worker
    pytest -m slow --dist load     # recipes spread over all workers

The recipes live in ``tests/benchmarks/seed_sweep.py`` (which also writes the
Markdown table of the sweep); each mirrors one claim a notebook asserts.
"""

import importlib.util
import pathlib
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parent / "benchmarks" / "seed_sweep.py"


def _load_sweep():
    spec = importlib.util.spec_from_file_location("seed_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("seed_sweep", module)
    spec.loader.exec_module(module)
    return module


sweep = _load_sweep()


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sweep.RECIPES, ids=[recipe.name for recipe in sweep.RECIPES])
def test_recipe_clears_its_threshold_for_every_seed(recipe):
    if recipe.pending:
        pytest.skip(f"pending: {recipe.pending}")
    results = {seed: recipe.run(seed) for seed in sweep.SEEDS}
    misses = {
        str(claim): {seed: round(results[seed][claim.metric], 4) for seed in sweep.SEEDS
                     if not claim.holds(results[seed][claim.metric])}
        for claim in recipe.claims
    }
    misses = {claim: seeds for claim, seeds in misses.items() if seeds}
    assert not misses, f"{recipe.name} ({recipe.source}) misses its claim for these seeds (seed: value): {misses}"
