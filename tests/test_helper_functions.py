"""Unit tests of helper_functions: every promised behaviour has a test that fails when it breaks. Device-dependent
tests take the device from ``get_device()``, so the same tests run on a CUDA machine."""

import inspect
import random

import matplotlib

matplotlib.use("Agg")  # the unit tests draw off-screen; notebooks use inline

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

import helper_functions as hf

DEVICE = hf.get_device()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def binary_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1)).to(DEVICE)


def multiclass_model(n_classes=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, n_classes)).to(DEVICE)


def separable_data(n=200, seed=0):
    """Two blobs far apart: any sensible model separates them."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(scale=0.3, size=(n, 2)) + np.where(y[:, None] == 1, 2.0, -2.0)
    return X.astype(np.float32), y.astype(np.int64)


def linear(weight, bias=0.0):
    """An nn.Linear holding ``weight`` (out_features, in_features) and ``bias`` (a number or a vector; None: none)."""
    weight = torch.as_tensor(weight, dtype=torch.float32)
    model = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        model.weight.copy_(weight)
        if bias is not None:
            model.bias.copy_(torch.as_tensor(bias))
    return model


STEP = [[10.0, 0.0]]  # one logit, 10 * x1: class 1 right of x1 = 0


# ---------------------------------------------------------------- Seeds and devices
def test_set_seeds_makes_all_generators_repeat_and_defaults_to_42_and_get_device():
    """set_seeds repeats random, numpy and torch (42 by default); get_device is CUDA when available."""
    hf.set_seeds(123)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    hf.set_seeds(123)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    hf.set_seeds(124)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) != first
    hf.set_seeds()
    a = torch.rand(3)
    torch.manual_seed(42)
    assert torch.equal(a, torch.rand(3))
    device = hf.get_device()
    assert isinstance(device, torch.device)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------- Datasets
@pytest.mark.parametrize("maker", [hf.make_xor, hf.make_spirals])
def test_datasets_dtypes_shapes_and_determinism(maker):
    X, y = maker(random_state=7)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.ndim == 2 and X.shape[1] == 2 and y.shape == (X.shape[0],)
    X2, y2 = maker(random_state=7)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = maker(random_state=8)
    assert not np.array_equal(X, X3)


def test_make_xor_labels_follow_signs_and_noise_scales_spread():
    """Labels follow the quadrant signs, the four clusters are balanced, and noise sets their spread."""
    X, y = hf.make_xor(n_samples=403, noise=0.1, random_state=0)
    assert X.shape == (403, 2)
    # with small noise every point stays in its quadrant
    expected = (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(np.int64)
    np.testing.assert_array_equal(y, expected)
    # clusters are balanced: 101, 101, 101, 100 points
    quadrant_counts = np.unique(np.sign(X).astype(int), axis=0, return_counts=True)[1]
    assert sorted(quadrant_counts.tolist()) == [100, 101, 101, 101]
    assert np.allclose(np.abs(X).mean(), 1.0, atol=0.05)
    X_small, _ = hf.make_xor(noise=0.01, random_state=0)
    X_big, _ = hf.make_xor(noise=0.5, random_state=0)
    assert np.abs(np.abs(X_small) - 1).max() < 0.1
    assert np.abs(np.abs(X_big) - 1).std() > 0.2


def test_make_parity_labels_count_negative_signs_and_two_bits_is_xor():
    X, y = hf.make_parity(n_samples=800, n_bits=3, noise=0.1, random_state=0)
    assert X.shape == (800, 3) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, ((X < 0).sum(axis=1) % 2).astype(np.int64))  # small noise: signs kept
    assert np.unique(np.sign(X).astype(int), axis=0, return_counts=True)[1].tolist() == [100] * 8
    X2, y2 = hf.make_parity(n_samples=400, n_bits=2, noise=0.1, random_state=1)
    np.testing.assert_array_equal(y2, (np.sign(X2[:, 0]) != np.sign(X2[:, 1])).astype(np.int64))
    with pytest.raises(ValueError, match="n_bits"):
        hf.make_parity(n_bits=1)


def test_make_spirals_classes_balanced_in_unit_disc_and_arms_rotated_copies():
    """Balanced classes in the unit disc, one class refused, arms rotated copies without noise."""
    X, y = hf.make_spirals(n_samples=301, n_classes=4, random_state=1)
    assert X.shape == (301, 2)
    assert set(np.unique(y)) == {0, 1, 2, 3}
    assert sorted(np.bincount(y).tolist()) == [75, 75, 75, 76]
    assert np.linalg.norm(X, axis=1).max() <= 1.0 + 1e-6
    with pytest.raises(ValueError):
        hf.make_spirals(n_classes=1)
    X, y = hf.make_spirals(n_samples=300, n_classes=3, noise=0.0, random_state=0)
    angle = 2 * np.pi / 3
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    arm0 = X[y == 0][np.argsort(np.linalg.norm(X[y == 0], axis=1))]
    arm1 = X[y == 1][np.argsort(np.linalg.norm(X[y == 1], axis=1))]
    np.testing.assert_allclose(arm0 @ rotation.T, arm1, atol=1e-5)


# ---------------------------------------------------------------- predict and accuracy
def test_predict_and_predict_proba_are_decided_by_the_output_width():
    """One output unit: labels are sigmoid > 0.5 (int64, on the CPU), predict_proba's columns 1 - p and p;
    several: argmax labels and softmax probabilities, whatever the labels, mode kept."""
    labels = hf.predict(linear([[1.0]]), torch.tensor([[-2.0], [-0.01], [0.01], [3.0]]))
    assert labels.dtype == torch.int64 and labels.device.type == "cpu"
    assert labels.tolist() == [0, 0, 1, 1]
    model = linear(STEP)
    X = np.array([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]], np.float32)
    probs = hf.predict_proba(model, X)
    p1 = torch.sigmoid(torch.tensor([-10.0, 0.0, 10.0]))
    assert probs.shape == (3, 2) and probs.dtype == torch.float32 and probs.device.type == "cpu"
    assert torch.allclose(probs[:, 1], p1) and torch.allclose(probs.sum(dim=1), torch.ones(3))
    assert (probs.argmax(dim=1) == hf.predict(model, X)).all()  # p = 0.5 is class 0 in both
    X = np.array([[0.1, 0.9, 0.0], [5.0, 1.0, 2.0], [0.0, 0.0, 0.3]], dtype=np.float32)
    assert hf.predict(linear(torch.eye(3), bias=None), X).tolist() == [1, 0, 2]
    assert hf.predict(linear(torch.zeros(2, 2), bias=[1.0, 0.0]), np.zeros((5, 2), np.float32)).tolist() == [0] * 5
    model = multiclass_model(n_classes=3).train()
    X = torch.randn(5, 2, device=DEVICE)
    probs = hf.predict_proba(model, X)
    with torch.no_grad():
        expected = torch.softmax(model(X), dim=1).cpu()
    assert torch.allclose(probs, expected, atol=1e-6)
    assert model.training


@pytest.mark.parametrize("as_tensor", [False, True])
def test_predict_accepts_arrays_and_tensors_and_keeps_model(as_tensor):
    """Arrays or tensors; labels in eval mode; flags (also after an exception), device and grad mode restored."""
    model = binary_model()
    model.train()
    X, _ = separable_data(20)
    X_in = torch.as_tensor(X, device=DEVICE) if as_tensor else X
    with torch.no_grad():
        expected = (torch.sigmoid(model.eval()(torch.as_tensor(X, device=DEVICE))) > 0.5).long().view(-1).cpu()
    model.train()
    labels = hf.predict(model, X_in)
    assert labels.shape == (20,)
    assert torch.equal(labels, expected)  # eval mode: dropout off
    assert model.training and all(m.training for m in model.modules())
    assert hf._model_device(model).type == DEVICE.type
    assert torch.is_grad_enabled()  # predict did not leave gradient tracking off
    model[2].eval()  # a user froze dropout only: predict restores each module's own flag
    hf.predict(model, np.zeros((3, 2), np.float32))
    assert model.training and model[0].training and not model[2].training
    model.train()
    with pytest.raises(RuntimeError), hf._eval_mode(model):
        assert not model.training
        raise RuntimeError("boom")
    assert all(m.training for m in model.modules())
    assert hf._model_device(nn.ReLU()) == torch.device("cpu")


@pytest.mark.parametrize(
    "y_true, y_pred, expected",
    [
        ([1, 0, 1, 1], [1, 0, 0, 1], 0.75),
        (np.array([2, 2]), np.array([2, 2]), 1.0),
        (torch.tensor([0, 1]), torch.tensor([1, 0]), 0.0),
        (torch.tensor([[1], [0]]), np.array([1, 1]), 0.5),  # (N, 1) vs (N,)
        (torch.tensor([1.0, 0.0]), torch.tensor([1, 0]), 1.0),  # float labels
        ([], [], 0.0),
        (torch.tensor([0, 1, 1, 0], device=DEVICE), torch.tensor([0, 1, 1, 0]), 1.0),  # on the model's device
        # whole-number labels of any dtype
        (torch.tensor([1, 0, 1, 0]), torch.tensor([True, False, True, False]), 1.0),
        (torch.tensor([1, 0, 1, 0]), torch.tensor([1.0, 0.0, 1.0, 0.0], device=DEVICE), 1.0),
        (torch.tensor([1, 0, 1, 0]), np.array([1, 0, 1, 0], dtype=np.int32), 1.0),
        (torch.tensor([1, 0, 1, 0]), torch.tensor([[1], [0], [1], [0]]), 1.0),
    ],
)
def test_accuracy_values(y_true, y_pred, expected):
    """A float share in [0, 1], for lists, arrays and tensors of labels, any dtype, shape (N,) or (N, 1)."""
    result = hf.accuracy(y_true, y_pred)
    assert isinstance(result, float)
    assert result == pytest.approx(expected)
    assert 0.0 <= result <= 1.0


@pytest.mark.parametrize(
    "y_pred",
    [
        torch.sigmoid(torch.tensor([2.0, -1.0, 0.3, -3.0])),  # probabilities: the common mistake
        torch.tensor([[2.0], [-1.0], [0.3], [-3.0]]),  # raw logits
        np.array([1.0, 0.0, 0.5, 0.0]),
        [1, 0, 0.9999, 0],
        np.array([1.0, 0.0, np.nan, 0.0]),
    ],
)
def test_accuracy_rejects_probabilities_and_logits(y_pred):
    """Truncating 0.88 to 0 would report the share of zeros as the accuracy."""
    with pytest.raises(ValueError, match=r"y_pred must be class labels.*probabilities or logits"):
        hf.accuracy(torch.tensor([1, 0, 1, 0]), y_pred)


def test_accuracy_fit_and_plot_errors_name_the_argument_and_the_fix():
    """Scores or probabilities where labels belong, mismatched arguments, a misspelt shade or inputs with other
    than two features to plot are ValueErrors naming the fix."""
    with pytest.raises(ValueError) as info:
        hf.accuracy([0.2, 0.9], [0, 1])
    message = str(info.value)
    assert message.startswith("y_true must be class labels")
    assert "0.2" in message and "predict(model, X)" in message and "argmax" in message
    with pytest.raises(ValueError):
        hf.accuracy([1, 0, 1], [1, 0])
    model = binary_model()
    X, y = separable_data(20)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="y_train must be class labels"):
        hf.fit(model, nn.BCEWithLogitsLoss(), sgd, X, np.full(20, 0.5), epochs=1, log_every=None)
    with pytest.raises(ValueError):
        hf.fit(model, nn.BCEWithLogitsLoss(), sgd, X, y, X_test=X)
    with pytest.raises(ValueError, match="shade"):
        hf.plot_decision_boundary(linear(STEP), np.zeros((2, 2), np.float32), np.array([0, 1]), shade="alpha")
    with pytest.raises(ValueError):
        hf.plot_decision_boundary(nn.Linear(3, 1), np.zeros((4, 3), np.float32), np.zeros(4))


# ---------------------------------------------------------------- The one-output-unit rule lives in one function
def test_predict_predict_proba_fit_and_plot_ask_is_binary(monkeypatch):
    """One rule tells binary (one output unit) from multi-class; every helper asks it, and it decides."""
    original, calls = hf._is_binary, []
    for shape, binary in [((5,), True), ((5, 1), True), ((5, 2), False), ((5, 7), False)]:
        assert original(torch.zeros(shape)) is binary, shape

    def spy(logits):
        calls.append(tuple(logits.shape))
        return original(logits)

    monkeypatch.setattr(hf, "_is_binary", spy)
    model = binary_model()
    X, y = separable_data(40)
    for name, use in [
        ("predict", lambda: hf.predict(model, X)),
        ("predict_proba", lambda: hf.predict_proba(model, X)),
        ("fit", lambda: hf.fit(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1), X, y,
                               epochs=1, log_every=None)),
        ("plot_decision_boundary", lambda: hf.plot_decision_boundary(model, X, y, resolution=10)),
    ]:
        calls.clear()
        use()
        assert calls, f"{name} does not go through _is_binary"
    assert hf.predict_proba(model, X).shape == (40, 2)
    # Reversed, the rule makes a one-unit model a one-class softmax.
    monkeypatch.setattr(hf, "_is_binary", lambda logits: False)
    probs = hf.predict_proba(model, X)
    assert probs.shape == (40, 1) and torch.equal(probs, torch.ones(40, 1))
    assert torch.equal(hf.predict(model, X), torch.zeros(40, dtype=torch.long))


def test_public_names_and_no_lazy_import_in_fit():
    """set_seeds and get_device stay public; the model utilities are private; fit imports nothing lazily."""
    assert {"set_seeds", "get_device", "predict", "predict_proba", "accuracy", "fit", "plot_data",
            "plot_decision_boundary", "plot_loss_curves", "make_xor", "make_spirals"} <= set(hf.__all__)
    assert "model_device" not in hf.__all__ and "eval_mode" not in hf.__all__
    assert not hasattr(hf, "model_device")
    assert all(callable(getattr(hf, name)) for name in hf.__all__)
    assert "import" not in inspect.getsource(hf.fit)


# ---------------------------------------------------------------- fit
def test_fit_binary_full_batch_history_falling_loss_and_log_every_n_epochs_and_the_last(capsys):
    """A float per epoch in each of the four histories, a falling loss; a log line every n epochs and the last."""
    X, y = separable_data()
    model = binary_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = hf.fit(model, nn.BCEWithLogitsLoss(), optimizer, X[:150], y[:150], X[150:], y[150:],
                     epochs=30, log_every=7)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("|")[0].split()[1] for line in lines] == ["7", "14", "21", "28", "30"]
    assert "test loss" in lines[0]
    assert set(history) == {"train_loss", "train_acc", "test_loss", "test_acc"}
    assert all(len(v) == 30 for v in history.values())
    assert all(isinstance(v, float) for values in history.values() for v in values)
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["test_acc"][-1] == 1.0


def test_fit_multiclass_minibatch_with_tensors_on_cpu_moves_data_to_model():
    X, y = hf.make_spirals(n_samples=150, n_classes=3, noise=0.0, random_state=0)
    model = multiclass_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    history = hf.fit(model, nn.CrossEntropyLoss(), optimizer, torch.from_numpy(X), torch.from_numpy(y),
                     epochs=20, batch_size=32, log_every=None)
    assert len(history["train_loss"]) == 20 and history["test_loss"] == [] and history["test_acc"] == []
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert 0.0 <= min(history["train_acc"]) and max(history["train_acc"]) <= 1.0


def test_fit_trains_in_train_mode_tests_in_eval_mode_and_restores_mode_and_device():
    """Per epoch one train-mode and one eval-mode forward; a model given in eval mode stays so, on its device."""
    seen_modes = []
    model = nn.Linear(2, 1).to(DEVICE).eval()
    model.register_forward_pre_hook(lambda module, args: seen_modes.append(module.training))
    X, y = separable_data(10)
    hf.fit(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1), X, y, X, y,
           epochs=2, log_every=None)
    assert seen_modes == [True, False, True, False]
    assert not model.training and hf._model_device(model).type == DEVICE.type


# ---------------------------------------------------------------- Plotting
def test_plot_data_and_plot_loss_curves_label_their_axes_and_use_given_axes():
    """plot_data: a labelled scatter per class; plot_loss_curves: train and test lines (train only without test
    data); both titled and labelled, drawing on given axes."""
    X, y = hf.make_spirals(n_samples=90, n_classes=3, random_state=0)
    ax = hf.plot_data(torch.from_numpy(X), torch.from_numpy(y), title="spirals")
    assert len(ax.collections) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1", "class 2"]
    assert ax.get_title() == "spirals"
    assert ax.get_xlabel() and ax.get_ylabel()
    _, given = plt.subplots()
    assert hf.plot_data(X, y, ax=given) is given
    history = {"train_loss": [1.0, 0.5, 0.2], "train_acc": [0.5, 0.8, 0.9],
               "test_loss": [1.1, 0.6, 0.3], "test_acc": [0.4, 0.7, 0.85]}
    loss_ax, acc_ax = hf.plot_loss_curves(history)
    assert len(loss_ax.lines) == 2 and len(acc_ax.lines) == 2
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), history["test_loss"])
    assert loss_ax.get_xlabel() == "epoch" and acc_ax.get_ylabel() == "accuracy"
    assert loss_ax.get_title() and acc_ax.get_title()
    _, axes = plt.subplots(1, 2)
    history = {"train_loss": [1.0, 0.5], "train_acc": [0.5, 0.8], "test_loss": [], "test_acc": []}
    loss_ax, acc_ax = hf.plot_loss_curves(history, axes=axes)
    assert loss_ax is axes[0] and acc_ax is axes[1]
    assert len(loss_ax.lines) == 1


@pytest.mark.parametrize("shade", ["class", "probability"])
@pytest.mark.parametrize("make_model", [binary_model, multiclass_model])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("as_tensors", [True, False])
def test_plot_decision_boundary_leaves_model_untouched(make_model, training, shade, as_tensors):
    """Mode flags, device (no .to()/.cpu() call, nor in predict; NumPy or tensor inputs; on a CUDA machine the
    model is on CUDA), weights and gradients stay as they were."""
    model = make_model()
    model.train(training)
    calls = []
    original_to, original_cpu = model.to, model.cpu
    model.to = lambda *a, **k: calls.append(("to", a, k)) or original_to(*a, **k)
    model.cpu = lambda *a, **k: calls.append(("cpu", a, k)) or original_cpu(*a, **k)
    device_before = hf._model_device(model)
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    X, y = separable_data(30)
    if as_tensors:
        X, y = torch.as_tensor(X, device=DEVICE), torch.as_tensor(y, device=DEVICE)
    ax = hf.plot_decision_boundary(model, X, y, resolution=20, title="boundary", shade=shade)
    assert hf._model_device(model) == device_before
    assert model.training == training and all(m.training == training for m in model.modules())
    assert all(torch.equal(state_before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())  # no gradient tracking
    assert ax.get_title() == "boundary"
    hf.predict(model, X)
    assert calls == []


def test_plot_decision_boundary_colours_regions_by_prediction():
    """Regions are filled by predicted class (binary and multi-class, with a legend entry per class), equal aspect."""
    model = linear(STEP)  # class 1 right of x1 = 0: the filled contour has two levels
    X = np.array([[-1.0, 0.0], [1.0, 0.0]], np.float32)
    ax = hf.plot_decision_boundary(model, X, np.array([0, 1]), resolution=30)
    contour = ax.collections[0]
    assert isinstance(contour, matplotlib.contour.QuadContourSet)
    assert len(contour.levels) == 3  # boundaries around the two predicted classes 0 and 1
    grid_labels = hf.predict(model, np.array([[-0.5, 0.0], [0.5, 0.0]], np.float32))
    assert grid_labels.tolist() == [0, 1]
    assert ax.get_aspect() == 1.0  # equal aspect: circles in the data are drawn as circles
    X, y = hf.make_spirals(n_samples=60, n_classes=4, random_state=0)
    model = multiclass_model(n_classes=4)
    ax = hf.plot_decision_boundary(model, X, y, resolution=15)
    assert len(ax.get_legend().get_texts()) == 4


def test_plot_decision_boundary_shade_probability_follows_the_probabilities():
    """Binary: the image follows sigmoid(logit), with the p = 0.5 contour; multi-class: it fades where unsure."""
    X = np.array([[-1.0, 0.0], [1.0, 0.0]], np.float32)
    ax = hf.plot_decision_boundary(linear(STEP), X, np.array([0, 1]), resolution=21, shade="probability")
    rgb = np.asarray(ax.get_images()[0].get_array())  # (21, 21, 3): p = sigmoid(10 * x1), rows = x2
    assert rgb.shape == (21, 21, 3)
    sure = [hf._probability_rgb(np.array([[1.0 - p, p]]), hf._colours(2))[0] for p in (0.0, 1.0)]
    assert np.allclose(rgb[:, 0], sure[0], atol=0.01) and np.allclose(rgb[:, -1], sure[1], atol=0.01)
    assert np.allclose(rgb, rgb[0])  # x2 plays no part
    redness = rgb[0, :, 0] - rgb[0, :, 2]  # class 0 is blue, class 1 red
    assert np.all(np.diff(redness) >= 0)  # rises left to right
    # the p = 0.5 line is drawn as a contour
    assert any(isinstance(c, matplotlib.contour.QuadContourSet) for c in ax.collections)
    model = linear([[-10.0, 0.0], [0.0, 0.0], [10.0, 0.0]])  # favours class 0, 1, 2 as x1 grows
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 0.5]], np.float32)
    ax = hf.plot_decision_boundary(model, X, np.array([0, 2, 1]), resolution=31, shade="probability")
    rgb = np.asarray(ax.get_images()[0].get_array())  # (31, 31, 3)
    assert rgb.shape == (31, 31, 3)
    whiteness = rgb.mean(axis=2)[0]
    # sure at both ends (saturated colour), unsure where the three logits tie (x1 = 0)
    assert whiteness[15] > whiteness[0] and whiteness[15] > whiteness[-1]


def test_fit_and_predict_accept_a_model_returning_flat_logits_and_accuracy_takes_thresholded_logits():
    """A model returning (N,) logits trains and predicts; accuracy of logits > 0 (with gradients) equals predict's."""
    X, y = separable_data(40)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0)).to(DEVICE)  # (N,) logits instead of (N, 1)
    history = hf.fit(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.5), X, y,
                     epochs=20, log_every=None)
    assert history["train_acc"][-1] == 1.0
    assert hf.accuracy(y, hf.predict(model, X)) == 1.0
    model = binary_model().eval()  # dropout off, as predict does
    X, y = separable_data(50)
    logits = model(torch.as_tensor(X, device=DEVICE))  # (50, 1), with gradients, as in a training loop
    assert hf.accuracy(y, logits > 0) == hf.accuracy(y, hf.predict(model, X))
