"""Sparse top-k gating, noisy gating, load balancing and expert load."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import mixexp._em as em
from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
    io,
)
from mixexp._estep import restrict_to_top_k, top_k_mask, top_k_threshold
from mixexp._multinomial import softmax
from mixexp.datasets import (
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)
from mixexp.experts import LogisticExpert
from mixexp.gates import SoftmaxGate, TreeGate


def _reference_keep(logits, k):
    """Slow reference: per column, everything >= the k-th largest by sorting."""
    keep = np.zeros(logits.shape, dtype=bool)
    for j in range(logits.shape[1]):
        kth = np.sort(logits[:, j])[::-1][k - 1]
        keep[:, j] = logits[:, j] >= kth
    return keep


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_mask_matches_a_sorting_reference_with_ties(k):
    rng = np.random.RandomState(k)
    logits = rng.randint(0, 4, size=(6, 300)).astype(float)  # many ties
    logits[:, :5] = 1.0  # whole columns tied
    np.testing.assert_array_equal(top_k_mask(logits, k), _reference_keep(logits, k))
    assert top_k_threshold(logits, k).shape == (300,)
    assert top_k_mask(logits, 6) is None
    continuous = rng.standard_normal((6, 300))
    assert np.all(top_k_mask(continuous, k).sum(axis=0) == k)


def test_restricted_gate_is_the_softmax_over_the_kept_logits():
    rng = np.random.RandomState(0)
    logits = rng.standard_normal((5, 50)) * 3
    keep = top_k_mask(logits, 2)
    log_prob, prob = softmax(logits[None])
    log_kept, kept = restrict_to_top_k(log_prob[0], prob[0], keep)
    for j in range(50):
        idx = np.flatnonzero(keep[:, j])
        expected = np.exp(logits[idx, j] - logits[idx, j].max())
        np.testing.assert_allclose(kept[idx, j], expected / expected.sum())
        np.testing.assert_allclose(log_kept[idx, j], np.log(kept[idx, j]))
    assert np.all(kept[~keep] == 0) and np.all(np.isneginf(log_kept[~keep]))


def _dense_reference(est, X):
    """Prediction of the fitted top-k model from all experts, masked."""
    gate = est.predict_gate_proba(X)
    experts = est.predict_experts(X)
    return np.einsum("nk,nk...->n...", gate, experts)


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_sparse_regression_prediction_equals_the_masked_dense_one(n_outputs):
    X, y = make_mixture_regression(
        600, n_features=3, n_experts=6, n_outputs=n_outputs, random_state=0
    )
    y = y if n_outputs > 1 else y.ravel()
    est = MixtureOfExpertsRegressor(6, top_k=2, random_state=0).fit(X, y)
    gate = est.predict_gate_proba(X)
    assert np.all(np.count_nonzero(gate, axis=1) == 2)
    np.testing.assert_allclose(gate.sum(axis=1), 1.0)
    # the kept experts are those with the largest gate logits
    logits = X @ est.gate_.coef_.T + est.gate_.intercept_
    np.testing.assert_array_equal(gate > 0, _reference_keep(logits.T, 2).T)
    pred = est.predict(X)
    assert pred.shape == (y.shape if n_outputs > 1 else (600,))
    np.testing.assert_allclose(pred, _dense_reference(est, X), rtol=1e-12)


@pytest.mark.parametrize("degree", [1, 2])
def test_sparse_classifier_probabilities_equal_the_masked_dense_ones(degree):
    X, y = make_local_classification(800, random_state=0)
    est = MixtureOfExpertsClassifier(
        5, top_k=2, expert=LogisticExpert(degree=degree), random_state=0
    ).fit(X, y)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba, _dense_reference(est, X), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert est.score(X, y) > 0.9


def test_top_k_equal_to_n_experts_is_the_dense_model():
    X, y = make_piecewise_linear(500, random_state=0)
    dense = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    full = MixtureOfExpertsRegressor(3, top_k=3, random_state=0).fit(X, y)
    np.testing.assert_allclose(full.predict(X), dense.predict(X))


def test_em_responsibilities_stay_inside_the_top_k_and_em_is_monotone():
    X, y = make_piecewise_linear(2000, random_state=0)
    dense = MixtureOfExpertsRegressor(8, random_state=0).fit(X, y)
    sparse = MixtureOfExpertsRegressor(8, top_k=2, random_state=0).fit(X, y)
    resp = sparse.responsibilities(X, y)
    assert np.all(resp[sparse.predict_gate_proba(X) == 0] == 0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    # Dense to sparse: a dense EM phase, then a top-k phase, neither of which
    # ever lowers its objective; only the switch itself may.
    assert np.count_nonzero(np.diff(sparse.lower_bounds_) < -1e-10) <= 1
    # The sparse model fits as well as the dense one on these three pieces.
    X_test, y_test = make_piecewise_linear(2000, random_state=1)
    assert sparse.score(X_test, y_test) > dense.score(X_test, y_test) - 0.005


def _weighted_load(est, X, weight):
    """Reference expert_load_: routed weight per expert from the public gate."""
    gate = est.predict_gate_proba(X)
    if est.top_k is None:
        routed = gate >= gate.max(axis=1, keepdims=True)
    else:
        routed = gate > 0
    counts = weight @ routed
    return counts / counts.sum()


@pytest.mark.parametrize("top_k", [None, 2])
def test_expert_load_is_the_routed_share_of_the_training_weight(top_k):
    X, y = make_mixture_regression(500, n_features=2, n_experts=4, random_state=2)
    weight = np.random.RandomState(0).uniform(0.1, 3, 500)
    est = MixtureOfExpertsRegressor(4, top_k=top_k, random_state=0)
    est.fit(X, y, sample_weight=weight)
    assert est.expert_load_.shape == (4,)
    np.testing.assert_allclose(est.expert_load_, _weighted_load(est, X, weight))
    np.testing.assert_allclose(est.expert_load_.sum(), 1.0)


def test_partial_fit_load_accumulates_over_batches():
    X, y = make_mixture_regression(600, n_features=2, n_experts=3, random_state=0)
    est = MixtureOfExpertsRegressor(3, top_k=2, random_state=0)
    counts = np.zeros(3)
    for batch in np.array_split(np.arange(600), 3):
        est.partial_fit(X[batch], y[batch])
        counts += _weighted_load(est, X[batch], np.ones(batch.size)) * 2 * batch.size
    np.testing.assert_allclose(est.expert_load_, counts / counts.sum())


def _coefficient_of_variation(load):
    return float(load.std() / load.mean())


def _two_regimes(n_samples, seed):
    """Two linear regimes split by the sign of the first of four inputs."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n_samples, 4))
    left = X @ np.array([-1.0, 1.0, 2.0, 0.0])
    right = X @ np.array([1.0, -2.0, 0.5, 1.5])
    y = np.where(X[:, 0] > 0, right, left) + 0.3 * rng.standard_normal(n_samples)
    return X, y


def test_load_balancing_spreads_a_collapsed_routing():
    """Eight experts routed two at a time on two regimes: trained without the
    penalty, the routing collapses onto the few experts that won at the
    start (four or five) and the others get almost nothing; the Switch loss
    with noisy gating spreads the load evenly at a small cost in R^2. (At
    ``balance_weight=0.1`` the load ends even from some starts only.)"""
    X, y = _two_regimes(4000, 0)
    X_test, y_test = _two_regimes(4000, 1)
    params = dict(
        n_experts=8,
        top_k=2,
        solver="adam",
        init="random",
        learning_rate_init=0.01,
        max_iter=300,
        n_iter_no_change=30,
        random_state=0,
    )
    free = MixtureOfExpertsRegressor(**params).fit(X, y)
    balanced = MixtureOfExpertsRegressor(
        **params, balance_weight=1.0, gate_noise=True
    ).fit(X, y)
    assert _coefficient_of_variation(free.expert_load_) > 0.8
    assert np.sort(free.expert_load_)[:3].sum() < 0.05
    assert _coefficient_of_variation(balanced.expert_load_) < 0.3
    assert np.all(balanced.expert_load_ > 0.05)
    assert balanced.score(X_test, y_test) >= 0.95 * free.score(X_test, y_test)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"top_k": 5}, "top_k=5 is larger than n_experts=4"),
        ({"gate_noise": True}, "gate_noise=True needs a stochastic"),
        ({"gate_noise": True, "solver": "gd"}, "gate_noise=True needs a stochastic"),
        ({"balance_weight": 0.1}, "balance_weight=0.1 is a penalty of the gradient"),
    ],
)
def test_routing_options_the_solver_cannot_honour_are_errors(params, message):
    X, y = make_piecewise_linear(100, random_state=0)
    est = MixtureOfExpertsRegressor(4, **params)
    with pytest.raises(ValueError, match=message):
        est.fit(X, y)
    assert not hasattr(est, "gate_")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_noisy_gate_learns_its_noise_scale_and_predicts_without_noise():
    X, y = make_piecewise_linear(1000, random_state=0)
    est = MixtureOfExpertsRegressor(
        4,
        top_k=2,
        solver="adam",
        gate_noise=True,
        max_iter=20,
        learning_rate_init=0.01,
        random_state=0,
    ).fit(X, y)
    assert est.gate_.noise_coef_.shape == (4, 1)
    assert np.any(est.gate_.noise_coef_ != 0)
    np.testing.assert_array_equal(est.predict(X), est.predict(X))  # no noise
    again = MixtureOfExpertsRegressor(**est.get_params()).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), est.predict(X))


def test_warm_start_applies_the_new_top_k():
    X, y = make_piecewise_linear(800, random_state=0)
    est = MixtureOfExpertsRegressor(6, random_state=0, warm_start=True).fit(X, y)
    est.set_params(top_k=2).fit(X, y)
    assert est.gate_.top_k == 2
    assert np.all(np.count_nonzero(est.predict_gate_proba(X), axis=1) == 2)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_top_k_history_is_the_dense_phase_then_the_sparse_one(monkeypatch, kind):
    phases = []  # (top_k of the gate, objective per iteration) of each EM phase
    original = em._em_phase

    def recording(gate, experts, data, *args):
        top_k = gate.top_k
        bounds, *rest = original(gate, experts, data, *args)
        phases.append((top_k, list(bounds)))
        return (bounds, *rest)

    monkeypatch.setattr(em, "_em_phase", recording)
    if kind == "regression":
        X, y = make_piecewise_linear(1000, random_state=0)
        make = MixtureOfExpertsRegressor
    else:
        X, y = make_local_classification(600, random_state=0)
        make = MixtureOfExpertsClassifier
    est = make(4, top_k=2, random_state=0).fit(X, y)
    (dense_k, dense), (sparse_k, sparse) = phases
    assert (dense_k, sparse_k) == (None, 2)
    assert est.n_iter_dense_ == len(dense) and est.n_iter_ == len(dense + sparse)
    np.testing.assert_array_equal(est.lower_bounds_, dense + sparse)
    # Each phase never lowers its own objective; the switch may.
    for phase in np.split(est.lower_bounds_, [est.n_iter_dense_]):
        assert np.all(np.diff(phase) >= -1e-10 * np.abs(phase[1:]))
    phases.clear()
    assert make(4, random_state=0).fit(X, y).n_iter_dense_ == 0
    assert [k for k, _ in phases] == [None]
    # The gradient solvers have no dense phase.
    adam = make(4, top_k=2, solver="adam", max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning):
        assert adam.fit(X, y).n_iter_dense_ == 0


def test_routing_is_the_estimators_and_survives_persistence(tmp_path):
    """top_k and gate_noise are estimator parameters only: the gates do not
    take them, the estimator sets them on its own copy, and that copy keeps
    them through mixexp.io (a clone of it does not)."""
    for gate, name in (
        (SoftmaxGate, "top_k"),
        (SoftmaxGate, "noise"),
        (TreeGate, "top_k"),
    ):
        with pytest.raises(TypeError, match=name):
            gate(**{name: 2})
    assert {"top_k", "noise"}.isdisjoint(SoftmaxGate().get_params())
    X, y = make_piecewise_linear(600, random_state=0)
    for est in (
        MixtureOfExpertsRegressor(4, top_k=2, gate=SoftmaxGate(), random_state=0),
        HierarchicalMixtureOfExpertsRegressor(2, top_k=2, random_state=0),
    ):
        est.fit(X, y)
        assert (est.gate_.top_k, est.gate_.noise) == (2, False)
        assert est.gate is None or "top_k" not in vars(est.gate)
        io.dump(est, tmp_path / "model.skops")
        loaded = io.load(tmp_path / "model.skops")
        assert loaded.gate_.top_k == 2
        np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
        assert clone(est.gate_).top_k is None
