"""The EM driver's convergence monitor, the solvers' settings, and a fit's
parts built once."""

import warnings
from dataclasses import fields

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._em import ConvergenceMonitor
from mixexp._solvers import TrainingSettings
from mixexp.datasets import make_local_classification, make_piecewise_linear
from mixexp.gates import SoftmaxGate


class _MLPStall:
    """The gradient solvers' former stopping rule, written out as a
    reference: ``patience`` iterations in a row without the loss improving
    on its best by at least ``tol``."""

    def __init__(self, tol, patience):
        self.tol, self.patience = tol, patience
        self.best, self.count, self.stalled = np.inf, 0, False

    def update(self, value):
        self.count = self.count + 1 if value > self.best - self.tol else 0
        self.best = min(self.best, value)
        self.stalled = self.count >= self.patience
        return self.stalled


# ------------------------------------------------------- the change rule
def test_change_rule_stops_below_tol_and_counts_iterations():
    monitor = ConvergenceMonitor(1e-3, 100)
    monitor.start(-10.0)
    stops = [monitor.report(v) for v in [-5.0, -4.0, -3.9995, -3.9]]
    assert stops == [False, False, True, False]
    assert monitor.iter == 4
    assert monitor.history == [-5.0, -4.0, -3.9995, -3.9]
    assert not monitor.converged  # the last report's verdict


def test_change_rule_is_measured_from_the_start_value():
    monitor = ConvergenceMonitor(1e-3, 10)
    monitor.start(2.0)
    assert monitor.report(2.0005)  # the first iteration barely moved
    unstarted = ConvergenceMonitor(1e-3, 10)
    assert not unstarted.report(2.0)  # nothing to compare with


def test_an_incomparable_iteration_never_converges():
    """EM right after a re-seed: the objective may not have changed, but the
    model did; the next iteration is measured from it."""
    monitor = ConvergenceMonitor(1e-3, 10)
    monitor.start(1.0)
    assert not monitor.report(1.0, comparable=False)
    assert monitor.report(1.0)


def test_no_rule_keeps_the_history_only():
    monitor = ConvergenceMonitor(None, None, history=[3.0, 2.0])
    assert not any(monitor.report(1.0) for _ in range(5))
    assert monitor.history == [3.0, 2.0] + [1.0] * 5 and monitor.iter == 5


# ---------------------------------------------------- the patience rule
SEQUENCES = [
    [5.0, 4.0, 3.99, 3.985, 3.99, 3.9899, 3.98, 2.0, 2.0, 2.0, 2.0],
    [1.0] * 12,
    [3.0, 2.0, 1.0, 0.5, 0.25, 0.2, 0.199, 0.1989, 0.19895, 0.1989, 0.19, 0.1],
    [np.inf, 2.0, np.nan, 1.5, 1.5, 1.4999, 1.49995, 1.5, 1.5],
]


@pytest.mark.parametrize("sequence", SEQUENCES)
@pytest.mark.parametrize("patience", [1, 2, 3])
@pytest.mark.parametrize("tol", [0.0, 1e-4, 0.01])
@pytest.mark.parametrize("start", [None, 3.5])
def test_patience_rule_is_the_mlp_stall_rule(sequence, patience, tol, start):
    reference = _MLPStall(tol, patience)
    monitor = ConvergenceMonitor(tol, 100, patience=patience)
    if start is not None:  # a validation loss before the first epoch
        reference.best = start
        monitor.start(start)
    for value in sequence:
        improves = value < reference.best - reference.tol
        assert monitor.improves(value) == improves
        assert monitor.report(value) == reference.update(value)
        assert monitor.converged == reference.stalled
        assert (monitor.best, monitor.count) == (reference.best, reference.count)
    assert monitor.iter == len(sequence)


def test_random_sequences_follow_the_mlp_stall_rule():
    rng = np.random.RandomState(0)
    for _ in range(200):
        values = np.cumsum(rng.choice([-1e-3, -1e-5, 0.0, 1e-4], size=40))
        tol, patience = rng.choice([0.0, 1e-4, 1e-3]), rng.randint(1, 6)
        reference = _MLPStall(tol, patience)
        monitor = ConvergenceMonitor(tol, 40, patience=patience)
        for value in values:
            assert monitor.report(value) == reference.update(value)


# ------------------------------------------------------- verbose report
def test_verbose_report_format(capsys):
    monitor = ConvergenceMonitor(0.0, 30, verbose=1)
    for value in np.linspace(-3.0, -1.0, 20):
        monitor.report(value)
    assert capsys.readouterr().out == (
        f"  Iteration 10, log-likelihood = {np.linspace(-3, -1, 20)[9]:.6f}\n"
        "  Iteration 20, log-likelihood = -1.000000\n"
    )
    epochs = ConvergenceMonitor(0.0, 30, 2, label="Epoch", quantity="loss")
    epochs.report(0.25, shown=1.5)
    epochs.report(0.125)
    assert capsys.readouterr().out == (
        "  Epoch 1, loss = 1.500000\n  Epoch 2, loss = 0.125000\n"
    )
    ConvergenceMonitor(0.0, 30).report(1.0)
    assert capsys.readouterr().out == ""


def test_fits_print_through_the_monitor(capsys):
    X, y = make_piecewise_linear(300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MixtureOfExpertsRegressor(3, max_iter=3, verbose=2, random_state=0)
        est.fit(X, y)
        out = capsys.readouterr().out.splitlines()
        assert out[0] == "Initialization 0"
        assert out[1:4] == [
            f"  Iteration {i + 1}, log-likelihood = {v:.6f}"
            for i, v in enumerate(est.lower_bounds_)
        ]
        est.set_params(solver="sgd", max_iter=2, warm_start=False).fit(X, y)
        out = capsys.readouterr().out.splitlines()
        assert out[1:3] == [
            f"  Epoch {i + 1}, loss = {v:.6f}" for i, v in enumerate(est.loss_curve_)
        ]


# ------------------------------------------------------------- settings
def test_settings_are_the_estimators_parameters():
    est = MixtureOfExpertsClassifier(3, solver="adam", tol=1e-3, batch_size=64)
    settings = est._training_settings()
    assert settings.task == "classification"
    assert settings.score == est._score_components
    assert settings.accelerate  # off only for the split path's fits
    assert not est._training_settings(accelerate=False).accelerate
    params = est.get_params()
    for field in fields(TrainingSettings):
        if field.name not in ("task", "score", "accelerate"):
            assert getattr(settings, field.name) == params[field.name]
    with pytest.raises(AttributeError):
        settings.tol = 1.0  # frozen: shared by the restarts' threads


# -------------------------------------------------- parts built per fit
def _count_parts(monkeypatch, cls):
    calls = {"gate": 0, "experts": 0}
    make_gate, make_experts = cls._make_gate, cls._make_experts

    def gate(self):
        calls["gate"] += 1
        return make_gate(self)

    def experts(self):
        calls["experts"] += 1
        return make_experts(self)

    monkeypatch.setattr(cls, "_make_gate", gate)
    monkeypatch.setattr(cls, "_make_experts", experts)
    return calls


@pytest.mark.parametrize("n_init", [1, 3])
@pytest.mark.parametrize(
    "make",
    [
        lambda n_init: MixtureOfExpertsRegressor(3, n_init=n_init, random_state=0),
        lambda n_init: MixtureOfExpertsRegressor(
            4, top_k=2, solver="gd", max_iter=20, n_init=n_init, random_state=0
        ),
        lambda n_init: HierarchicalMixtureOfExpertsRegressor(
            depth=2, n_init=n_init, random_state=0
        ),
    ],
)
def test_fit_builds_each_part_once(monkeypatch, make, n_init):
    X, y = make_piecewise_linear(300, random_state=0)
    est = make(n_init)
    trained = []  # the parts each restart trains
    fit_once = type(est)._fit_once

    def recording(self, index, data, random_state, settings, gate, experts, *args):
        trained.append((gate, experts))
        return fit_once(self, index, data, random_state, settings, gate, experts, *args)

    monkeypatch.setattr(type(est), "_fit_once", recording)
    calls = _count_parts(monkeypatch, type(est))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert calls == {"gate": 1, "experts": 1}
    # Every restart trains its own copies, never shared between threads.
    assert len(trained) == n_init
    assert len({id(part) for pair in trained for part in pair}) == 2 * n_init
    assert any(est.gate_ is gate for gate, _ in trained)


def test_a_warm_start_builds_each_part_once(monkeypatch):
    X, y = make_piecewise_linear(300, random_state=0)
    est = MixtureOfExpertsRegressor(
        3, gate=SoftmaxGate(), warm_start=True, random_state=0
    ).fit(X, y)
    calls = _count_parts(monkeypatch, MixtureOfExpertsRegressor)
    est.set_params(gate__alpha=1e-3, top_k=2).fit(X, y)
    assert calls == {"gate": 1, "experts": 1}
    # The continued parts took the new settings from the parts built.
    assert est.gate_.alpha == 1e-3 and est.gate_.top_k == 2


def test_partial_fit_builds_each_part_once_per_batch(monkeypatch):
    X, y = make_local_classification(200, random_state=0)
    calls = _count_parts(monkeypatch, MixtureOfExpertsClassifier)
    partial_fit = MixtureOfExpertsClassifier(2, random_state=0).partial_fit
    for _ in range(2):  # the first batch starts the stream, the second continues
        calls.update(gate=0, experts=0)  # available_if makes parts to look at them
        partial_fit(X, y, classes=[0, 1])
        assert calls == {"gate": 1, "experts": 1}


def test_the_stream_carries_only_the_units_its_parts_prepare():
    """``data.cache`` entries set by ``_prepare`` (the stream's units) carry
    over to the next batches; the first batch's M-step scratch (here the
    bound solver's Gram matrices of the initial gate step) does not."""
    X, y = make_piecewise_linear(300, random_state=0)
    est = MixtureOfExpertsRegressor(
        3, gate=SoftmaxGate(solver="bound"), top_k=2, random_state=0
    )
    est.partial_fit(X[:150], y[:150])
    cache = est._online_state["cache"]
    assert "gate_bound_grams" not in cache
    assert {"column_scale_gate", "expert_y_offset", "expert_floor"} <= set(cache)
    est.partial_fit(X[150:], y[150:])
    np.testing.assert_array_equal(
        est._online_state["cache"]["expert_y_offset"], cache["expert_y_offset"]
    )
