"""The network doctor (``diagnose``): each cause is named on a small planted case and not on its fixed twin,
the caller's model, optimizer and data are left exactly as they were, and a student's error becomes a finding.
"""

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs, make_circles
from torch import nn

from helper_functions import DOCTOR_CODES, Diagnosis, diagnose


def circles():
    X, y = make_circles(n_samples=200, noise=0.05, factor=0.5, random_state=0)
    return torch.from_numpy(X).float(), torch.from_numpy(y).float()


def blobs():
    X, y = make_blobs(n_samples=200, centers=3, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    return torch.from_numpy(X).float(), torch.from_numpy(y).long()


def mlp(*tail, width=8, out=1):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, out), *tail)


def make_step(order=("zero_grad", "backward", "step"), squeeze=True, detach=False):
    """A student's step: the three calls in ``order`` (some may be missing)."""
    def step(model, X, y, loss_fn, optimizer):
        y_logits = model(X)
        loss = loss_fn(y_logits.squeeze(1) if squeeze else y_logits, y)
        if detach:
            loss = torch.tensor(loss.item(), requires_grad=True)
        calls = {"zero_grad": optimizer.zero_grad, "backward": loss.backward, "step": optimizer.step}
        for name in order:
            calls[name]()
        return loss.item()
    return step


good_step = make_step()


def setup(model=None, data=circles, loss_fn=None, opt=torch.optim.Adam, lr=0.01, step=None, change=None):
    """Defaults: a healthy binary setup; each case overrides one thing."""
    X, y = data()
    model = model if model is not None else mlp()
    if change:
        X, y, model = change(X, y, model)
    loss_fn = loss_fn if loss_fn is not None else nn.BCEWithLogitsLoss()
    return dict(model=model, X=X, y=y, loss_fn=loss_fn, optimizer=opt(model.parameters(), lr=lr), step=step)


# code -> (planted case, its fixed twin); every twin must get no finding at all
CASES = {
    "no-nonlinearity": (dict(model=nn.Sequential(nn.Linear(2, 8), nn.Linear(8, 1))), dict()),
    "sigmoid-before-logits-loss": (dict(model=mlp(nn.Sigmoid())), dict()),
    "softmax-before-cross-entropy": (dict(model=mlp(nn.Softmax(dim=1), out=3), data=blobs,
                                          loss_fn=nn.CrossEntropyLoss()),
                                     dict(model=mlp(out=3), data=blobs, loss_fn=nn.CrossEntropyLoss())),
    "probabilities-expected": (dict(loss_fn=nn.BCELoss()), dict(model=mlp(nn.Sigmoid()), loss_fn=nn.BCELoss())),
    "relu-on-output": (dict(model=mlp(nn.ReLU())), dict()),
    "wrong-output-width": (dict(model=mlp(out=2)), dict()),
    "label-range": (dict(change=lambda X, y, m: (X, 2 * y - 1, m)), dict()),
    "shape-mismatch": (dict(step=make_step(squeeze=False)), dict(step=make_step())),
    "no-zero-grad": (dict(step=make_step(order=("backward", "step"))), dict(step=make_step())),
    "no-backward": (dict(step=make_step(order=("zero_grad", "step"))), dict(step=make_step())),
    "no-step": (dict(step=make_step(order=("zero_grad", "backward"))), dict(step=make_step())),
    "step-order": (dict(step=make_step(order=("zero_grad", "step", "backward"))),
                   dict(step=make_step(order=("backward", "step", "zero_grad")))),
    "zero-grad-after-backward": (dict(step=make_step(order=("backward", "zero_grad", "step"))),
                                 dict(step=make_step())),
    "detached-loss": (dict(step=make_step(detach=True)), dict(step=make_step())),
    "optimizer-not-on-model": (dict(opt=lambda params, lr: torch.optim.Adam(mlp(width=8).parameters(), lr=lr)), dict()),
    "frozen-parameters": (dict(change=lambda X, y, m: (X, y, m[0].requires_grad_(False) and m)), dict()),
    "lr-too-high": (dict(opt=torch.optim.SGD, lr=500.0), dict(opt=torch.optim.SGD, lr=0.5)),
    "lr-too-low": (dict(opt=torch.optim.SGD, lr=1e-6), dict(opt=torch.optim.SGD, lr=0.5)),
    "unscaled-inputs": (dict(change=lambda X, y, m: (X * torch.tensor([1.0, 1000.0]), y, m)), dict()),
    "dead-units": (dict(change=lambda X, y, m: (X, y, [nn.init.constant_(m[0].bias, -10.0)] and m),
                        model=mlp(width=16)), dict(model=mlp(width=16))),
    "constant-init": (dict(change=lambda X, y, m: (X, y, [nn.init.zeros_(p) for p in m.parameters()] and m)), dict()),
    "dtype-mismatch": (dict(change=lambda X, y, m: (X.double(), y, m)), dict()),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_cause_is_named_and_its_fixed_twin_is_clean(code):
    planted, fixed = CASES[code]
    found = diagnose(**setup(**planted))
    assert code in found.codes, f"{code} missed; found {found.codes}"
    twin = diagnose(**setup(**fixed))
    assert twin.findings == [], f"fixed twin of {code} got {twin.codes}"


def test_every_code_is_a_documented_code_and_the_original_names_are_kept():
    """The codes named in the lesson stay, each is documented in DOCTOR_CODES and has its planted case."""
    original = ("no-nonlinearity sigmoid-before-logits-loss softmax-before-cross-entropy probabilities-expected "
                "relu-on-output wrong-output-width label-range shape-mismatch no-zero-grad no-backward no-step "
                "step-order detached-loss optimizer-not-on-model frozen-parameters lr-too-high lr-too-low "
                "unscaled-inputs dead-units constant-init").split()
    assert set(original) <= set(CASES)  # every cause has its planted case here
    assert set(CASES) <= set(DOCTOR_CODES)  # so the original names are documented codes too


def test_healthy_setups_of_the_lesson_stay_clean():
    X, y = circles()
    torch.manual_seed(0)
    logistic = nn.Linear(2, 1)  # a plain logistic regression: one layer, nothing to complain about
    assert diagnose(logistic, X, y, nn.BCEWithLogitsLoss(), torch.optim.SGD(logistic.parameters(), lr=0.1)).ok
    model, step = mlp(), make_step(squeeze=False)
    targets = y.unsqueeze(1)  # (N, 1) targets that match (N, 1) outputs
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)  # effective step 10 x lr: high but fine
    assert diagnose(model, X, targets, nn.BCEWithLogitsLoss(), sgd, step).findings == []
    assert diagnose(model, X, targets, nn.BCEWithLogitsLoss(), sgd).findings == []


def test_caller_model_optimizer_data_and_random_state_are_untouched():
    X, y = circles()
    model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    good_step(model, X, y, nn.BCEWithLogitsLoss(), optimizer)  # give the optimizer some state, leave grads
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    opt_state = copy.deepcopy(optimizer.state_dict()["state"])
    grads = [p.grad.clone() for p in model.parameters()]
    X0, y0, rng = X.clone(), y.clone(), torch.get_rng_state()

    def global_step(m, X_, y_, loss_fn, opt):  # trains the caller's objects, not its arguments
        return good_step(model, X_, y_, loss_fn, optimizer)

    for step in (None, make_step(order=("backward", "step")), global_step):
        diagnosis = diagnose(model, X, y, nn.BCEWithLogitsLoss(), optimizer, step)
        assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
        assert all(torch.equal(opt_state[k][n], t) for k, s in optimizer.state_dict()["state"].items()
                   for n, t in s.items())
        assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters(), strict=True))
        assert not model.training and torch.equal(X, X0) and torch.equal(y, y0)
        assert torch.equal(rng, torch.get_rng_state())
    assert diagnosis.codes == ["step-uses-global-model"]


def test_a_students_error_becomes_a_finding_that_quotes_it_and_prints_do_not_flood_the_report(capsys):
    """An exception in the student's model or step is a finding quoting it; the step's prints are swallowed."""
    X, y = circles()
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))  # 3 inputs, the data have 2
    found = diagnose(model, X, y, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    assert found.codes == ["shape-mismatch"]
    assert "cannot be multiplied" in found.findings[0].evidence

    def broken(model, X, y, loss_fn, optimizer):
        raise ValueError("my own mistake")

    found = diagnose(**setup(step=broken))
    assert found.codes == ["error"] and "my own mistake" in found.findings[0].evidence

    model = nn.Linear(2, 1)  # returns a tuple: nothing the checks expect, still no exception
    model.register_forward_hook(lambda module, args, output: (output, args[0]))
    found = diagnose(model, X, y, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    assert found.codes == ["error"] and "tuple" in found.findings[0].evidence

    def chatty(model, X, y, loss_fn, optimizer):
        print("loss:", good_step(model, X, y, loss_fn, optimizer))

    assert diagnose(**setup(step=chatty)).ok
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("argument, value, words", [
    ("model", nn.Sequential, "instance"), ("X", np.zeros((4, 2), np.float32), "torch.from_numpy"),
    ("loss_fn", nn.BCEWithLogitsLoss, "with the parentheses"), ("optimizer", torch.optim.SGD, "optimizer instance"),
    ("step", "good_step", "step(model, X, y, loss_fn, optimizer)"),
])
def test_wrong_argument_types_raise_a_type_error_that_says_what_to_pass(argument, value, words):
    case = setup()
    case[argument] = value
    with pytest.raises(TypeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        diagnose(**case)


def test_the_report_reads_well_empty_and_not():
    """An empty report says so (and names the learning rate); a finding shows its code, message, evidence and fix."""
    healthy = diagnose(**setup())
    assert isinstance(healthy, Diagnosis) and "no problems found" in repr(healthy)
    assert "learning rate" in repr(healthy) and "no problems found" in healthy._repr_markdown_()
    sick = diagnose(**setup(model=mlp(nn.Sigmoid())))
    text = repr(sick)
    assert "sigmoid-before-logits-loss" in text and "fix: remove the final nn.Sigmoid()" in text
    assert all(f.message and f.evidence and f.fix for f in sick.findings)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_the_same_causes_are_named_and_the_model_stays_there():
    for planted, fixed in (CASES["no-zero-grad"], CASES["sigmoid-before-logits-loss"], CASES["lr-too-high"]):
        for case, expect_clean in ((planted, False), (fixed, True)):
            kwargs = setup(**case)
            kwargs["model"].cuda()
            kwargs["optimizer"] = type(kwargs["optimizer"])(kwargs["model"].parameters(),
                                                            **kwargs["optimizer"].defaults)
            kwargs["X"], kwargs["y"] = kwargs["X"].cuda(), kwargs["y"].cuda()
            found = diagnose(**kwargs)
            assert found.ok == expect_clean, found.codes
            assert next(kwargs["model"].parameters()).is_cuda
