"""Draw the four diagrams of the theory notebook and save them as PNGs.

Usage (from the repository root):

    python images/make_figures.py              # writes the PNGs beside this script
    python images/make_figures.py --out DIR    # writes them into DIR instead
    python images/make_figures.py --gif        # also circles_training.gif, from a fresh run of notebook 02

Figures:
    network_structure.png  the exam network: four inputs -> a hidden layer -> pass/fail
    forward_pass.png       one neuron: random weights, weighted sum + bias -> activation
    training_cycle.png     initialise -> forward -> loss -> backward -> update, repeated
    backprop_graph.png     the exam network as a computational graph, local derivatives on the edges
    circles_training.gif   (--gif) notebook 02's snapshot animation of a network learning the circles: the
                           notebook draws it and shows it; this takes it from that output (one recipe, the
                           notebook's), after running the notebook in memory (``--stored``: as committed)
"""

from __future__ import annotations

import argparse
import itertools
import pathlib

import matplotlib

matplotlib.use("Agg")  # a script that only writes files needs no window
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

HERE = pathlib.Path(__file__).resolve().parent
DPI = 100

INPUT_COLOUR = "#cfe2f3"
HIDDEN_COLOUR = "#d9ead3"
OUTPUT_COLOUR = "#f4cccc"
STEP_COLOUR = "#fff2cc"


def _arrow(ax, start, end, colour="black", width=1.5, style="-|>", rad=0.0):
    """Draw an arrow from ``start`` to ``end`` (data coordinates)."""
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, color=colour, linewidth=width,
                        connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0)
    )


def _label_on_edge(ax, start, end, text, t=0.3, offset=0.18, fontsize=12):
    """Write ``text`` at fraction ``t`` along the segment start -> end, shifted ``offset`` above it."""
    (x0, y0), (x1, y1) = start, end
    x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    length = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
    nx, ny = -(y1 - y0) / length, (x1 - x0) / length  # unit normal pointing "up" for left-to-right edges
    ax.text(x + offset * nx, y + offset * ny, text, fontsize=fontsize, ha="center", va="center", color="#1155cc")


def _neuron(ax, centre, radius, colour, text="", fontsize=13):
    """Draw a neuron as a circle with an optional label inside."""
    ax.add_patch(Circle(centre, radius, facecolor=colour, edgecolor="black", linewidth=1.5, zorder=3))
    if text:
        ax.text(*centre, text, ha="center", va="center", fontsize=fontsize, zorder=4)


def _box(ax, centre, width, height, text, colour, fontsize=12):
    """Draw a rounded box centred at ``centre`` with ``text`` inside."""
    x, y = centre
    ax.add_patch(
        FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.02,rounding_size=0.12",
                       facecolor=colour, edgecolor="black", linewidth=1.5, zorder=3)
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=4)


def _blank_axes(figsize, xlim, ylim):
    """A figure with one axes in data units and no ticks or frame."""
    fig, ax = plt.subplots(figsize=figsize)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def draw_network_structure(path: pathlib.Path) -> None:
    """The exam network: x1..x4 -> one hidden neuron -> one pass/fail output."""
    fig, ax = _blank_axes((10, 5.2), (0, 10), (-0.2, 5.2))
    inputs = ["hours studied", "how smart", "previous knowledge", "name"]
    input_x, hidden, output = 2.9, (5.6, 2.4), (8.2, 2.4)
    r = 0.38
    for i, label in enumerate(inputs):
        y = 4.1 - 1.15 * i
        _neuron(ax, (input_x, y), r, INPUT_COLOUR, f"$x_{i + 1}$")
        ax.text(input_x - 0.55, y, label, ha="right", va="center", fontsize=12)
        start, end = (input_x + r, y), (hidden[0] - r - 0.1, hidden[1] + 0.1 * (1.5 - i))
        _arrow(ax, start, end)
        _label_on_edge(ax, start, end, f"$w_{i + 1}$", t=0.28)
    ax.text(4.25, 0.05, "$w_1, \\dots, w_4$ form the column $W_1$", ha="center", fontsize=11, color="#1155cc")
    _neuron(ax, hidden, r + 0.12, HIDDEN_COLOUR, "$h$", fontsize=14)
    _neuron(ax, output, r + 0.12, OUTPUT_COLOUR, r"$\hat{y}$", fontsize=14)
    _arrow(ax, (hidden[0] + r + 0.12, hidden[1]), (output[0] - r - 0.12, output[1]))
    ax.text((hidden[0] + output[0]) / 2, hidden[1] + 0.15, "$W_2$", fontsize=12, ha="center", va="bottom",
            color="#1155cc")
    ax.text(hidden[0], hidden[1] - 0.75, "bias $b_1$", ha="center", fontsize=11, color="#1155cc")
    ax.text(output[0], output[1] - 0.75, "bias $b_2$", ha="center", fontsize=11, color="#1155cc")
    ax.text(output[0] + 0.65, output[1], "pass (1)\nor fail (0)", ha="left", va="center", fontsize=12)
    for x, title in [(input_x, "input layer"), (hidden[0], "hidden layer"), (output[0], "output layer")]:
        ax.text(x, 4.95, title, ha="center", va="center", fontsize=13, fontweight="bold")
    ax.set_title("The exam network: four inputs, one hidden neuron, one pass/fail output", fontsize=14)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def draw_forward_pass(path: pathlib.Path) -> None:
    """One neuron: random initial weights, weighted sum plus bias, then the activation."""
    fig, ax = _blank_axes((10, 5.0), (0, 10.4), (-0.6, 4.6))
    r = 0.32
    sum_centre, act_centre = (5.0, 1.9), (7.4, 1.9)
    for i in range(4):
        y = 3.4 - 1.0 * i
        _neuron(ax, (1.2, y), r, INPUT_COLOUR, f"$x_{i + 1}$", fontsize=12)
        start, end = (1.2 + r, y), (sum_centre[0] - 0.55, sum_centre[1] + 0.12 * (1.5 - i))
        _arrow(ax, start, end)
        _label_on_edge(ax, start, end, f"$\\times\\,w_{i + 1}$", t=0.3, offset=0.2)
    _neuron(ax, sum_centre, 0.55, HIDDEN_COLOUR, r"$\Sigma$", fontsize=18)
    ax.text(sum_centre[0] + 0.25, sum_centre[1] - 1.05, "$z = w_1x_1 + w_2x_2 + w_3x_3 + w_4x_4 + b$", ha="left",
            fontsize=12)
    _arrow(ax, (sum_centre[0], -0.45), (sum_centre[0], sum_centre[1] - 0.55))  # the bias enters the sum
    ax.text(sum_centre[0] + 0.15, -0.45, "bias $b$", ha="left", va="bottom", fontsize=12, color="#1155cc")
    _box(ax, act_centre, 1.5, 1.0, "activation\n$a = f(z)$", STEP_COLOUR, fontsize=12)
    _arrow(ax, (sum_centre[0] + 0.55, sum_centre[1]), (act_centre[0] - 0.75, act_centre[1]))
    ax.text((sum_centre[0] + act_centre[0]) / 2 - 0.1, sum_centre[1] + 0.1, "$z$", fontsize=13, ha="center",
            va="bottom")
    _arrow(ax, (act_centre[0] + 0.75, act_centre[1]), (9.5, act_centre[1]))
    ax.text(9.55, act_centre[1], "$a$", fontsize=14, ha="left", va="center")
    ax.text(0.2, 4.35, "The weights $w_i$ and the bias $b$ come from step 1 (random weights, $b = 0$ to start)",
            fontsize=12, ha="left", va="center")
    ax.set_title("Forward pass through one neuron: weighted sum plus bias, then an activation", fontsize=14)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def draw_training_cycle(path: pathlib.Path) -> None:
    """Initialise once, then forward -> loss -> backward -> update, repeated for every epoch."""
    fig, ax = _blank_axes((10, 5.6), (0, 11), (0, 6))
    w, h = 2.6, 1.0
    init = (1.4, 5.1)
    steps = {
        "forward": ((5.6, 5.1), "2. Forward pass\npredictions $\\hat{y}$"),
        "loss": ((9.1, 3.0), "3. Loss\n$L(\\hat{y}, y)$"),
        "backward": ((5.6, 0.9), "4. Backward pass\ngradients $\\partial L / \\partial w$"),
        "update": ((2.1, 3.0), "5. Update\n$w \\leftarrow w - \\mathrm{lr}\\cdot\\partial L/\\partial w$"),
    }
    _box(ax, init, w, h, "1. Initialise\nweights and biases", INPUT_COLOUR)
    for centre, text in steps.values():
        _box(ax, centre, w, h, text, STEP_COLOUR)
    (fx, fy), (lx, ly), (bx, by), (ux, uy) = (steps[k][0] for k in ["forward", "loss", "backward", "update"])
    _arrow(ax, (init[0] + w / 2, init[1]), (fx - w / 2, fy), width=2)
    _arrow(ax, (fx + w / 2, fy - 0.1), (lx, ly + h / 2), width=2, rad=-0.25)
    _arrow(ax, (lx, ly - h / 2), (bx + w / 2, by + 0.1), width=2, rad=-0.25)
    _arrow(ax, (bx - w / 2, by + 0.1), (ux, uy - h / 2), width=2, rad=-0.25)
    _arrow(ax, (ux + 0.3, uy + h / 2), (fx - w / 2 + 0.2, fy - h / 2), width=2, rad=-0.25)
    ax.text(5.6, 3.0, "repeat steps 2-5\nfor many epochs", ha="center", va="center", fontsize=14,
            fontweight="bold", color="#990000")
    ax.set_title("The complete training cycle of a neural network", fontsize=14)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def draw_backprop_graph(path: pathlib.Path) -> None:
    """The exam network as a graph x -> z1 -> h -> z2 -> p -> L with each edge's local derivative."""
    fig, ax = _blank_axes((12, 5.4), (-0.3, 12.6), (-0.4, 5.6))
    r = 0.42
    chain = [  # (name, centre, text inside, what it computes)
        ("x", (0.6, 3.0), "$x$", "input"),
        ("z1", (2.9, 3.0), "$z_1$", "$z_1 = w \\cdot x + b_1$"),
        ("h", (5.2, 3.0), "$h$", "$h = \\tanh(z_1)$"),
        ("z2", (7.5, 3.0), "$z_2$", "$z_2 = W_2 h + b_2$"),
        ("p", (9.8, 3.0), "$p$", "$p = \\sigma(z_2)$"),
        ("L", (12.0, 3.0), "$L$", "$L = -[y\\log p$\n$+\\,(1-y)\\log(1-p)]$"),
    ]
    centres = {name: centre for name, centre, _, _ in chain}
    for name, centre, text, formula in chain:
        colour = {"x": INPUT_COLOUR, "L": OUTPUT_COLOUR}.get(name, HIDDEN_COLOUR)
        _neuron(ax, centre, r, colour, text, fontsize=14)
        ax.text(centre[0], centre[1] + 0.62, formula, ha="center", va="bottom", fontsize=10.5)
    local = {  # local derivative of each edge of the chain, written on the backward arrow
        ("x", "z1"): "", ("z1", "h"): "$\\frac{\\partial h}{\\partial z_1} = 1 - h^2$",
        ("h", "z2"): "$\\frac{\\partial z_2}{\\partial h} = W_2$",
        ("z2", "p"): "$\\frac{\\partial p}{\\partial z_2} = p(1-p)$",
        ("p", "L"): "$\\frac{\\partial L}{\\partial p} = \\frac{p-y}{p(1-p)}$",
    }
    names = [name for name, *_ in chain]
    for a, b in itertools.pairwise(names):
        (xa, ya), (xb, yb) = centres[a], centres[b]
        _arrow(ax, (xa + r, ya), (xb - r, yb))  # forward: values flow right
        if local[a, b]:
            _arrow(ax, (xb - r, yb - 0.55), (xa + r, ya - 0.55), colour="#cc0000", rad=0.35)  # backward: left
            ax.text((xa + xb) / 2, ya - 1.35, local[a, b], ha="center", va="center", fontsize=13,
                    color="#cc0000")
    params = [  # parameter leaves below the chain, with the local derivative of their edge
        ("$w$", (2.3, 0.55), "z1", "$\\frac{\\partial z_1}{\\partial w} = x$"),
        ("$b_1$", (3.6, 0.55), "z1", "$1$"),
        ("$W_2$", (6.9, 0.55), "z2", "$\\frac{\\partial z_2}{\\partial W_2} = h$"),
        ("$b_2$", (8.2, 0.55), "z2", "$1$"),
    ]
    for text, centre, target, derivative in params:
        _box(ax, centre, 0.75, 0.5, text, STEP_COLOUR, fontsize=12)
        tx, ty = centres[target]
        _arrow(ax, (centre[0], centre[1] + 0.25), (tx + 0.35 * (centre[0] - tx), ty - r), colour="grey")
        ax.text(centre[0], centre[1] - 0.45, derivative, ha="center", va="top", fontsize=12, color="#1155cc")
    ax.text(10.9, 0.55, "together:\n$\\frac{\\partial L}{\\partial z_2} = p - y$", ha="center", va="center",
            fontsize=13, color="#cc0000")
    ax.text(0.0, 5.35, "Forward (black): each node computes its value from the nodes on its left.", fontsize=12,
            ha="left")
    ax.text(0.0, 4.95, "Backward (red): $\\partial L/\\partial$node = $\\partial L/\\partial$(node on its right)"
            " $\\times$ the local derivative of the edge between them.", fontsize=12, ha="left", color="#cc0000")
    ax.set_title("Backpropagation on the exam network: the chain rule, one edge at a time", fontsize=14, y=1.02)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


FIGURES = {
    "network_structure.png": draw_network_structure,
    "forward_pass.png": draw_forward_pass,
    "training_cycle.png": draw_training_cycle,
    "backprop_graph.png": draw_backprop_graph,
}


def save_notebook_gif(path: pathlib.Path, run: bool = True) -> None:
    """Write the one GIF that notebook 02 shows (its ``image/gif`` output) to ``path``.

    Args:
        path: the ``.gif`` file to write.
        run: execute the notebook first (in memory, in a fresh kernel, nothing written into the lesson);
            False takes the GIF from the outputs stored in the notebook file.
    """
    import base64
    import os
    import sys

    import nbformat

    root = HERE.parent
    nb = nbformat.read(root / "02_neural_networks_classification.ipynb", as_version=4)
    if run:
        from nbclient import NotebookClient

        sys.path.insert(0, str(root))
        from tests.kernel_env import kernel_env

        saved = dict(os.environ)
        os.environ.update(kernel_env(saved, root=root))
        try:
            client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(root)}})
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    gifs = [out.data["image/gif"] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.outputs if "image/gif" in out.get("data", {})]
    if len(gifs) != 1:
        raise SystemExit(f"notebook 02 shows {len(gifs)} GIFs, expected one: which one is circles_training.gif?")
    path.write_bytes(base64.b64decode(gifs[0]))


def main(argv: list[str] | None = None) -> list[pathlib.Path]:
    """Draw every figure into the output folder and return the paths written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=HERE, help="output folder (default: this script's folder)")
    parser.add_argument("--gif", action="store_true", help="also write circles_training.gif from notebook 02")
    parser.add_argument("--stored", action="store_true", help="with --gif: the notebook's stored output, no run")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES.items():
        draw(args.out / name)
        written.append(args.out / name)
        print(f"wrote {name}")
    if args.gif:
        save_notebook_gif(args.out / "circles_training.gif", run=not args.stored)
        written.append(args.out / "circles_training.gif")
        print("wrote circles_training.gif")
    return written


if __name__ == "__main__":
    main()
