"""Headless tests of the playground: the `Playground` core and the `playground` widget's callbacks, without a
browser or a kernel (torch runs one thread, as in the lesson's kernels)."""

import subprocess
import sys
import threading
import time

import matplotlib
import numpy as np
import pytest
import torch

from helper_functions import Playground, playground
from tests.lesson import ROOT

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks: one thread is fastest and matches the notebooks' kernels."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- learning
@pytest.mark.parametrize(
    "settings, epochs, min_test_acc",
    [
        # noise 0.05: at the default 0.1 a few inner and outer points overlap, so even a
        # perfect boundary can miss one of the 80 test points (0.9875 for seed 42).
        (dict(dataset="circles", noise=0.05), 100, 0.99),
        (dict(dataset="xor"), 100, 0.99),
        (dict(dataset="moons"), 100, 0.95),
        (dict(dataset="blobs"), 50, 0.99),  # 4 classes: CrossEntropyLoss
        (dict(dataset="spirals"), 200, 0.95),  # 3 classes
        (dict(dataset="spirals", batch_size=32, optimizer="momentum", lr=0.1), 50, 0.95),
    ],
    ids=["circles", "xor", "moons", "blobs", "spirals", "spirals-minibatch-momentum"],
)
def test_every_dataset_learns(settings, epochs, min_test_acc):
    pg = Playground(**settings)
    record = pg.step(epochs)
    assert record["epoch"] == epochs
    assert record["test_acc"] >= min_test_acc, (settings, record)


def test_labels_choose_the_output_layer_and_loss_and_own_data_learns():
    """The labels choose output layer and loss; own data learns; no hidden layer fails on circles."""
    rng = np.random.default_rng(0)
    centres = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    labels = np.array(["cat", "dog", "emu"])
    X = np.concatenate([c + 0.3 * rng.standard_normal((40, 2)) for c in centres])
    y = np.repeat(labels, 40)
    pg = Playground(X=X, y=y)
    assert pg.n_classes == 3 and list(pg.classes) == list(labels)
    assert "3 logits, CrossEntropyLoss" in pg.task
    assert pg.model[-1].out_features == 3
    assert pg.step(50)["test_acc"] >= 0.99
    pg = Playground("xor")
    assert pg.model[-1].out_features == 1
    assert isinstance(pg.loss_fn, torch.nn.BCEWithLogitsLoss)
    assert pg.task == "2 classes -> 1 logit, BCEWithLogitsLoss"
    pg = Playground("circles", hidden_layers=())
    assert len(pg.model) == 1  # one Linear layer: a straight boundary
    assert pg.step(100)["test_acc"] < 0.6


# ---------------------------------------------------------------- history, reset, randomness
def test_history_reset_and_determinism():
    """History grows per epoch, reset empties it and replays the same run; step(0) is refused."""
    pg = Playground("spirals", dropout=0.1, batch_size=64)
    first = [pg.step()["train_loss"] for _ in range(3)]
    pg.step(2)
    assert pg.history["epoch"] == [1, 2, 3, 4, 5]
    assert all(len(values) == 5 for values in pg.history.values())
    assert isinstance(pg.model, torch.nn.Sequential)
    pg.reset()
    assert pg.epoch == 0 and all(values == [] for values in pg.history.values())
    torch.rand(100)  # other cells drawing random numbers must not change the playground's run
    again = [pg.step()["train_loss"] for _ in range(3)]
    assert again == first
    with pytest.raises(ValueError, match="whole number >= 1"):
        Playground().step(0)


def test_callers_data_are_not_modified():
    """The caller's arrays or tensors stay as they were."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    X_before, y_before = X.copy(), y.copy()
    for X_in, y_in in [(X, y), (torch.tensor(X), torch.tensor(y))]:
        pg = Playground(X=X_in, y=y_in)
        pg.step(3)
        pg.figure()
        pg.X[:] = 0  # the playground's copy, not the caller's
        assert np.array_equal(X_in, X_before) and np.array_equal(y_in, y_before)


# ---------------------------------------------------------------- to_code
@pytest.mark.parametrize(
    "settings",
    [
        dict(),
        dict(dataset="spirals", batch_size=32, dropout=0.1, optimizer="momentum", lr=0.1, hidden_layers=(16, 8, 4)),
        dict(dataset="blobs", l2=1e-3, activation="tanh", optimizer="sgd", lr=0.3),
        dict(dataset="moons", activation="leaky_relu", seed=7, test_size=0.3),
        dict(dataset="xor", activation="sigmoid", hidden_layers=(4,), noise=0.2, n_samples=200),
        dict(dataset="circles", hidden_layers=(), activation="linear"),
        dict(X=torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]).repeat(10, 1)
             + 0.05 * torch.randn(40, 2, generator=torch.Generator().manual_seed(0)),
             y=torch.tensor([-1, -1, 1, 1]).repeat(10), hidden_layers=(6,)),
    ],
    ids=["default", "spirals-minibatch-dropout", "blobs-l2-sgd", "moons-leaky", "xor-sigmoid", "linear",
         "own-tensors-labels-minus-1-and-1"],
)
def test_to_code_reproduces_the_losses(settings):
    pg = Playground(**settings)
    record = pg.step(7)
    namespace = {"X": settings.get("X"), "y": settings.get("y")}  # own data: to_code starts from the caller's X, y
    exec(compile(pg.to_code(), "<to_code>", "exec"), namespace)
    if "y" in settings:
        assert list(namespace["classes"]) == [-1, 1]
    assert namespace["epochs"] == 7
    assert abs(namespace["train_loss"] - record["train_loss"]) <= 1e-6
    assert abs(namespace["test_loss"] - record["test_loss"]) <= 1e-6
    assert namespace["test_acc"] == pytest.approx(record["test_acc"])


# ---------------------------------------------------------------- invalid settings
@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(dataset="squares"), "unknown dataset 'squares'"),
        (dict(activation="gelu"), "unknown activation 'gelu'"),
        (dict(optimizer="rmsprop"), "unknown optimizer 'rmsprop'"),
        (dict(X=np.zeros((10, 3)), y=np.zeros(10)), r"X must have shape \(N, 2\)"),
        (dict(X=np.zeros(10), y=np.zeros(10)), r"X must have shape \(N, 2\)"),
        (dict(X=np.array([[0.0, np.nan]] * 5 + [[1.0, 1.0]] * 5), y=np.arange(10) % 2), "NaN"),
        (dict(X=np.zeros((10, 2)), y=np.ones(10)), "only one class"),
        (dict(X=np.zeros((10, 2)), y=np.arange(9) % 2), r"y must have shape \(N,\)"),
        (dict(X=np.zeros((10, 2))), "pass both X"),
        (dict(lr=-0.1), "lr must be > 0"),
        (dict(lr=0), "lr must be > 0"),
        (dict(hidden_layers=(8, 0)), "hidden_layers must be whole numbers >= 1"),
        (dict(hidden_layers=(2.5,)), "hidden_layers must be whole numbers >= 1"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(l2=-1), "l2 must be >= 0"),
        (dict(test_size=0), "test_size must be a fraction"),
        (dict(noise=-0.1), "noise must be >= 0"),
        (dict(batch_size=0), "batch_size must be None"),
        (dict(n_samples=3), "n_samples must be at least 10"),
    ],
)
def test_invalid_settings_say_what_to_change(settings, message):
    with pytest.raises(ValueError, match=message):
        Playground(**settings)


# ---------------------------------------------------------------- figure
@pytest.mark.parametrize(
    "hidden_layers, expected_panels",
    [((8, 8), 16), ((3, 16), 11), ((4,) * 6, 16), ((), 0), ((16, 16, 16, 16, 16), 32)],
)
def test_figure_has_one_map_per_hidden_unit(hidden_layers, expected_panels):
    pg = Playground("circles", hidden_layers=hidden_layers)
    pg.step(2)
    fig = pg.figure(resolution=20)
    texts = [t.get_text() for t in fig.texts]
    assert any(t.startswith("epoch 2 ") and "test accuracy" in t for t in texts)
    assert pg.task in texts  # how the labels chose the output layer and the loss, said on the figure
    layer_labels = [t.get_text() for t in fig.texts if t.get_text().startswith("layer")]
    assert len(layer_labels) == min(len(hidden_layers), 4)
    images = [im for ax in fig.axes for im in ax.get_images()]
    if not hidden_layers:
        assert len(images) == 1  # only the decision-boundary image
        return
    mosaic = images[-1].get_array()  # every hidden-unit map, tiled; white elsewhere
    shown = [min(w, 8) for w in hidden_layers[:4]]
    rows, cols = max(shown), len(shown)
    tile_h, tile_w = mosaic.shape[0] // rows, mosaic.shape[1] // cols
    drawn = [
        not np.all(mosaic[r * tile_h:r * tile_h + 20, c * tile_w:c * tile_w + 20] == 1.0)
        for c in range(cols) for r in range(rows)
    ]
    assert sum(drawn) == expected_panels
    assert [sum(drawn[c * rows:(c + 1) * rows]) for c in range(cols)] == shown


# ---------------------------------------------------------------- the widget, driven through its callbacks
def _play_threads():
    return [t for t in threading.enumerate() if t.name == "playground-play" and t.is_alive()]


def _wait_for(condition, timeout=30.0):
    """Poll ``condition()`` until it is true (the machine may be busy); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def ui():
    widget = playground(dataset="xor", hidden_layers=(4,))
    yield widget
    widget.close()
    assert not _play_threads()


def test_widget_is_core_ipywidgets_with_every_setting_and_reads_on_any_screen(ui):
    """ipywidgets' own classes (imported only for the widget), a control per setting, a JPEG frame, any screen."""
    import ipywidgets

    app = ui.controller
    assert isinstance(ui, ipywidgets.VBox) and isinstance(app.image, ipywidgets.Image)
    settings = set(app.pg.settings)
    assert set(app.controls) == settings  # a control for every setting
    assert {"play", "pause", "step", "reset", "code"} <= set(app.buttons)
    assert app.image.format == "jpeg" and app.image.value[:3] == b"\xff\xd8\xff"  # a JPEG frame
    assert "<b>epoch 0</b>" in app.counter.value
    seen = [ui]
    while seen:  # only ipywidgets' own widget classes, anywhere in the tree
        widget = seen.pop()
        assert type(widget).__module__.startswith("ipywidgets."), type(widget)
        seen.extend(getattr(widget, "children", ()))
    (x0, y0), (x1, y1) = app.view.boundary_ax.transData.transform([(0, 0), (1, 1)])
    assert x1 - x0 == pytest.approx(y1 - y0, rel=0.01)  # equal aspect: circles stay round
    assert not any("epoch" in text.get_text() for text in app.view.fig.texts)  # the status line says it, once
    assert all(button.description.isascii() for button in app.buttons.values())  # no emoji font needed
    assert "wrap" in ui.children[1].layout.flex_flow  # the controls wrap on a narrow screen
    probe = "import sys, helper_functions; print('ipywidgets' in sys.modules)"  # imported for the widget only
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stdout + result.stderr


def test_play_pause_step_reset(ui):
    app = ui.controller
    first_frame = app.image.value
    app.buttons["play"].click()
    assert app.is_playing and app.buttons["play"].disabled
    assert _wait_for(lambda: app.pg.epoch >= 10 and "epoch 0<" not in app.counter.value)
    app.buttons["pause"].click()
    assert not app.is_playing and not _play_threads()
    stopped_at = app.pg.epoch
    time.sleep(0.2)
    assert app.pg.epoch == stopped_at  # nothing trains after Pause
    assert f"<b>epoch {stopped_at}</b>" in app.counter.value
    assert app.image.value != first_frame  # the figure was redrawn
    app.buttons["step"].click()
    assert app.pg.epoch == stopped_at + 1 and f"<b>epoch {stopped_at + 1}</b>" in app.counter.value
    app.buttons["reset"].click()
    assert app.pg.epoch == 0 and "<b>epoch 0</b>" in app.counter.value
    assert app.image.value == first_frame  # same seed, same start


def test_change_of_setting_stops_play_and_rebuilds(ui):
    """A new setting stops Play and rebuilds (a bad one is explained); batch size shows "full batch" for None."""
    app = ui.controller
    control = app.controls["batch_size"]
    assert control.label == "full batch" and app.pg.settings["batch_size"] is None
    control.value = 32
    assert app.pg.settings["batch_size"] == 32
    control.label = "full batch"
    assert app.pg.settings["batch_size"] is None
    app.buttons["play"].click()
    assert _wait_for(lambda: app.pg.epoch >= 1)
    app.controls["hidden_layers"].value = "3, 5"
    assert not app.is_playing and not _play_threads()
    assert app.pg.settings["hidden_layers"] == (3, 5) and app.pg.epoch == 0
    app.controls["dataset"].value = "spirals"
    assert app.pg.n_classes == 3 and app.pg.model[-1].out_features == 3
    app.controls["hidden_layers"].value = "3, 0"  # invalid: the message says what to change, the old one stays
    assert "hidden_layers must be whole numbers >= 1" in app.status.value
    assert app.pg.settings["hidden_layers"] == (3, 5)
    app.controls["hidden_layers"].value = "eight"
    assert "separated by commas" in app.status.value


def test_only_one_playground_plays_close_stops_it_and_own_data_disables_the_data_controls(ui):
    X = np.array([[0.0, 0.0], [1.0, 1.0]] * 10) + np.linspace(0, 0.1, 20)[:, None]
    other = playground(X=X, y=np.array([0, 1] * 10))
    try:
        controls = other.controller.controls
        assert controls["dataset"].value == "your data" and controls["dataset"].disabled
        assert controls["noise"].disabled and controls["n_samples"].disabled
        controls["activation"].value = "tanh"
        assert other.controller.pg._own_data and other.controller.pg.settings["activation"] == "tanh"
        ui.controller.buttons["play"].click()
        assert _wait_for(lambda: ui.controller.pg.epoch >= 1)
        other.controller.buttons["play"].click()
        assert not ui.controller.is_playing and other.controller.is_playing
    finally:
        other.close()
    assert not other.controller.is_playing and not _play_threads()


def test_show_code_shows_to_code_and_a_diverging_run_says_what_to_change(ui):
    """Show code shows to_code, updated per step; a diverging run asks for a lower lr (Reset clears it)."""
    app = ui.controller
    app.buttons["code"].click()
    assert app.buttons["code"].description == "Hide code" and app.code.layout.display is None
    assert "nothing has trained yet" in app.code.value and "range(" not in app.code.value  # epoch 0
    app.buttons["step"].click()
    assert "nn.Linear(2, 4)" in app.code.value and "epochs = 1" in app.code.value
    app.buttons["code"].click()
    assert app.code.layout.display == "none"
    app.pg = Playground(dataset="xor", optimizer="sgd", lr=1e6, activation="linear")  # beyond the lr slider
    app.view = type(app.view)(app.pg, resolution=20, live=True)
    app.buttons["step"].click()
    app.buttons["step"].click()
    assert "lower lr" in app.status.value
    app.buttons["reset"].click()
    assert app.status.value == ""

