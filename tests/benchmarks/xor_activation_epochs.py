"""Epochs until notebook 02's XOR network first reaches 99% test accuracy, per hidden activation and seed.

    python -m tests.benchmarks.xor_activation_epochs --seeds 42 0 1

The introduction of exercise 9 quotes these numbers: notebook 02's XOR data and network (2 -> 8 -> activation -> 1,
Adam with lr 0.05, full batch, 100 epochs), seeded before each model so that only the activation changes.
"""

from __future__ import annotations

import argparse

import torch
from sklearn.model_selection import train_test_split
from torch import nn

from helper_functions import fit, make_xor

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}
LEVEL = 0.99


def epochs_to_level(seed: int, activation: type[nn.Module], epochs: int = 100) -> int | None:
    """First epoch (from 1) whose test accuracy is at least LEVEL, or None."""
    X, y = make_xor(n_samples=1000, noise=0.1, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(torch.from_numpy(X), torch.from_numpy(y), test_size=0.2,
                                                        random_state=seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), activation(), nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    history = fit(model, nn.BCEWithLogitsLoss(), optimizer, X_train, y_train, X_test, y_test, epochs=epochs,
                  log_every=None)
    return next((epoch for epoch, acc in enumerate(history["test_acc"], start=1) if acc >= LEVEL), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 0, 1])
    seeds = parser.parse_args().seeds
    print(f"epochs to {LEVEL:.0%} test accuracy on XOR | " + " | ".join(ACTIVATIONS))
    for seed in seeds:
        row = [epochs_to_level(seed, activation) for activation in ACTIVATIONS.values()]
        print(f"seed {seed:>3} | " + " | ".join(str(epochs) for epochs in row))


if __name__ == "__main__":
    main()
