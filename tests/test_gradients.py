"""The gradient solvers' losses against finite differences, and their fits."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import mixexp._gradient as gradient
import mixexp._solvers as solvers
from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp._data import TrainingData
from mixexp._em import objective
from mixexp._estep import e_step
from mixexp._gradient import _pack, _unpack, penalized_objective
from mixexp.datasets import (
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)
from mixexp.experts import LinearExpert, LogisticExpert
from mixexp.gates import SoftmaxGate


def _prepared(est, X, y):
    """Components prepared on (X, y) as a fit would, at random parameters."""
    rng = np.random.RandomState(0)
    est.fit(X, y)  # sets up encodings and fitted shapes
    y_enc = est._encode_targets(y)
    n_targets = getattr(est, "n_outputs_", None) or len(est.classes_)
    data = TrainingData(X, y_enc, rng.uniform(0.5, 2.0, len(X)), est.n_experts, 8)
    data = data.restart(rng)
    if hasattr(est, "classes_"):
        data.n_classes = len(est.classes_)
    else:
        data.single_output = y.ndim == 1
    gate, experts = est._make_gate(), est._make_experts()
    for part in (gate, experts):
        part._prepare(data)
        part._reset(data)
    theta = (gate._theta(data), experts._theta(data))
    theta = _unpack(rng.standard_normal(_pack(theta[0] + theta[1]).size) * 0.5, theta)
    assert n_targets
    return gate, experts, data, theta


CASES = [
    ("regression", "likelihood", 1),
    ("regression", "competitive", 1),
    ("regression", "cooperative", 1),
    ("regression", "likelihood", 2),
    ("regression", "cooperative", 2),
    ("classification", "likelihood", 3),
    ("classification", "competitive", 3),
]


# Sparse routing: top-k gate, Switch balance loss, noisy gate (its noise drawn
# from the same seed at every evaluation, so the objective is deterministic).
ROUTING_CASES = [
    ("regression", "likelihood", 1, {"top_k": 2}),
    ("regression", "likelihood", 1, {"top_k": 2, "balance_weight": 0.7}),
    ("regression", "competitive", 2, {"top_k": 2, "gate_noise": True}),
    ("regression", "cooperative", 1, {"balance_weight": 0.7, "gate_noise": True}),
    (
        "classification",
        "likelihood",
        3,
        {"top_k": 2, "balance_weight": 0.7, "gate_noise": True},
    ),
    ("classification", "competitive", 3, {"top_k": 2, "balance_weight": 0.7}),
]


@pytest.mark.parametrize(
    "kind, loss, width, routing",
    [case + ({},) for case in CASES] + ROUTING_CASES,
)
def test_loss_gradient_matches_finite_differences(kind, loss, width, routing):
    n_experts = 4 if "top_k" in routing else 3
    options = dict(gate=SoftmaxGate(alpha=0.2), max_iter=2, **routing)
    if routing:
        options["solver"] = "adam"
    if kind == "regression":
        X, y = make_mixture_regression(
            40, n_features=2, n_experts=2, n_outputs=width, random_state=1
        )
        est = MixtureOfExpertsRegressor(
            n_experts, expert=LinearExpert(alpha=0.3), **options
        )
    else:
        rng = np.random.RandomState(2)
        X = rng.standard_normal((40, 2))
        y = rng.randint(width, size=40)
        est = MixtureOfExpertsClassifier(
            n_experts, expert=LogisticExpert(alpha=0.3), **options
        )
    gate, experts, data, theta = _prepared(est, X, y)
    like = theta

    def f(vector):
        return penalized_objective(
            gate,
            experts,
            data,
            loss,
            _unpack(vector, like),
            data.joint_chunks,
            1.0,
            balance_weight=est.balance_weight,
            rng=np.random.RandomState(0) if est.gate_noise else None,
        )

    x0 = _pack(theta[0] + theta[1])
    value, grad = f(x0)
    assert np.isfinite(value)
    eps = 1e-6
    numeric = np.array(
        [(f(x0 + eps * e)[0] - f(x0 - eps * e)[0]) / (2 * eps) for e in np.eye(x0.size)]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_em_rejects_other_losses_and_classifier_rejects_cooperative():
    X, y = make_local_classification(50, random_state=0)
    with pytest.raises(ValueError, match="needs a gradient solver"):
        MixtureOfExpertsRegressor(2, loss="competitive").fit(X, y.astype(float))
    with pytest.raises(ValueError, match="defined for regression"):
        MixtureOfExpertsClassifier(2, solver="gd", loss="cooperative").fit(X, y)


@pytest.mark.parametrize("solver", ["gd", "adam", "sgd"])
@pytest.mark.parametrize("loss", ["likelihood", "competitive", "cooperative"])
def test_gradient_solvers_fit_and_record_their_loss(solver, loss):
    X, y = make_mixture_regression(
        800, n_features=2, n_experts=2, gate_scale=30, noise=0.1, random_state=0
    )
    em_score = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y).score(X, y)
    est = MixtureOfExpertsRegressor(
        2,
        solver=solver,
        loss=loss,
        random_state=0,
        max_iter=300,
        learning_rate_init=0.01,
    ).fit(X, y)
    curve = np.asarray(est.loss_curve_)
    assert est.n_iter_ == len(curve)
    assert curve[-1] < curve[0]
    if solver == "gd":  # full batch converges; minibatches need more epochs
        assert est.converged_ and est.score(X, y) > em_score - 0.03
    else:
        assert est.score(X, y) > em_score - 0.1
    assert np.all(np.isfinite(est.experts_.noise_variance_))
    assert np.isfinite(est.lower_bound_)


@pytest.mark.parametrize("solver", ["gd", "adam"])
@pytest.mark.parametrize("loss", ["likelihood", "competitive"])
def test_gradient_solvers_train_the_classifier(solver, loss):
    X, y = make_local_classification(1500, random_state=0)
    X_test, y_test = make_local_classification(1000, random_state=1)
    est = MixtureOfExpertsClassifier(
        4,
        solver=solver,
        loss=loss,
        random_state=0,
        max_iter=300,
        learning_rate_init=0.01,
    ).fit(X, y)
    assert est.score(X_test, y_test) > 0.93


def test_early_stopping_keeps_the_best_validation_score():
    X, y = make_mixture_regression(
        600, n_features=2, n_experts=2, gate_scale=30, noise=0.1, random_state=0
    )
    est = MixtureOfExpertsRegressor(
        2,
        solver="adam",
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        learning_rate_init=0.05,
        random_state=0,
        max_iter=400,
    ).fit(X, y)
    assert est.converged_ and est.n_iter_ < 400
    again = MixtureOfExpertsRegressor(**est.get_params()).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), est.predict(X))


def _starting_objective(monkeypatch, solver):
    """A list that receives, for each run of ``solver``, the penalized mean
    log-likelihood of the parameters it starts from (what ``lower_bound_``
    would be had it taken no step)."""
    seen = []
    original = solvers.SOLVERS[solver]

    def recording(gate, experts, data, estimator):
        log_likelihood = e_step(gate, experts, data).log_likelihood
        seen.append(objective(log_likelihood, gate, experts, data.total_weight))
        return original(gate, experts, data, estimator)

    monkeypatch.setitem(solvers.SOLVERS, solver, recording)
    return seen


@pytest.mark.parametrize("seed", [0, 2])
@pytest.mark.parametrize("scale", [1e-3, 1e3])
@pytest.mark.parametrize("solver", ["sgd", "adam", "gd"])
def test_gradient_solvers_never_end_worse_than_they_start(
    monkeypatch, solver, scale, seed
):
    # With the default step size, targets in thousandths make plain SGD's
    # steps (which scale with 1 / noise variance) overshoot by orders of
    # magnitude, and Adam's first steps are far larger than the parameters.
    X, y = make_piecewise_linear(500, random_state=seed)
    start = _starting_objective(monkeypatch, solver)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = MixtureOfExpertsRegressor(
            4, solver=solver, random_state=seed, max_iter=50
        ).fit(X, y * scale)
    assert est.lower_bound_ >= start[0] - 1e-12 * abs(start[0])
    assert est.score(X, y * scale) > 0  # better than predicting the mean
    assert est.converged_ or any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    assert est.n_iter_ == len(est.loss_curve_) <= 50


def test_a_diverging_run_keeps_its_best_parameters_and_says_what_to_change(
    monkeypatch,
):
    X, y = make_piecewise_linear(500, random_state=2)
    start = _starting_objective(monkeypatch, "sgd")
    est = MixtureOfExpertsRegressor(4, solver="sgd", random_state=2, max_iter=50)
    with pytest.warns(
        ConvergenceWarning, match="diverged.*learning_rate_init.*solver='em'"
    ) as record:
        est.fit(X, y * 1e-3)
    # One warning that says what happened, not also "increase max_iter".
    assert [str(w.message) for w in record if "max_iter" in str(w.message)] == []
    assert not est.converged_
    assert est.n_iter_ == len(est.loss_curve_) < 50
    assert est.lower_bound_ >= start[0] - 1e-12 * abs(start[0])
    # lower_bound_ is the objective of the parameters kept.
    assert est.lower_bounds_.tolist() == [est.lower_bound_]


def test_a_run_that_ends_above_its_start_keeps_the_start(monkeypatch):
    # With the divergence test off, Adam on targets in thousandths recovers
    # from its first steps but ends short of where it started.
    monkeypatch.setattr(gradient, "_DIVERGENCE_FACTOR", np.inf)
    X, y = make_piecewise_linear(500, random_state=2)
    start = _starting_objective(monkeypatch, "adam")
    est = MixtureOfExpertsRegressor(
        4, solver="adam", random_state=2, max_iter=50, n_iter_no_change=50
    )
    with pytest.warns(ConvergenceWarning, match="above the .* it started from"):
        est.fit(X, y * 1e-3)
    assert est.n_iter_ == len(est.loss_curve_) == 50
    assert not est.converged_
    assert est.lower_bound_ == pytest.approx(start[0], rel=1e-12)


@pytest.mark.parametrize("make", ["regressor", "classifier"])
def test_a_non_finite_loss_keeps_the_last_finite_parameters(monkeypatch, make):
    if make == "regressor":
        X, y = make_mixture_regression(300, n_features=2, n_experts=2, random_state=0)
        est = MixtureOfExpertsRegressor(2, solver="sgd", learning_rate_init=1e6)
    else:
        X, y = make_local_classification(300, random_state=0)
        est = MixtureOfExpertsClassifier(2, solver="sgd", learning_rate_init=1e6)
    start = _starting_objective(monkeypatch, "sgd")
    with pytest.warns(ConvergenceWarning, match="diverged.*learning_rate_init"):
        est.set_params(random_state=0, max_iter=50).fit(X, y)
    assert est.lower_bound_ >= start[0] - 1e-12 * abs(start[0])
    assert np.all(np.isfinite(est.predict_gate_proba(X)))
    assert np.all(np.isfinite(est.predict(X) if make == "regressor" else 1.0))


def test_gradient_descent_on_the_likelihood_reaches_em_s_optimum():
    X, y = make_mixture_regression(
        1000, n_features=2, n_experts=2, gate_scale=3, noise=0.3, random_state=3
    )
    em = MixtureOfExpertsRegressor(2, random_state=0, tol=1e-10, max_iter=2000).fit(
        X, y
    )
    gd = MixtureOfExpertsRegressor(
        2, solver="gd", random_state=0, tol=1e-12, max_iter=5000
    ).fit(X, y)
    assert gd.lower_bound_ == pytest.approx(em.lower_bound_, abs=1e-5)
    np.testing.assert_allclose(gd.predict(X), em.predict(X), atol=1e-3)


def test_divergence_rule_allows_noise_around_a_near_exact_fit():
    from mixexp._gradient import _diverged

    # A squared error that rises from 1e-8 to 1e-6 of the target's variance
    # is noise near an exact fit, not divergence; tenfold plus a tenth of the
    # variance is.
    assert not _diverged(1e-6, 1e-8, "competitive", 1.0)
    assert _diverged(20.0, 1.0, "competitive", 1.0)
    assert _diverged(np.inf, 1.0, "likelihood", 1.0)
    assert not _diverged(1.0 + np.log(10) / 2, 1.0, "likelihood", 1.0)


def test_restarts_are_compared_on_the_parameters_each_kept():
    from mixexp._em import History

    # A run that diverged keeps earlier parameters: its last epoch's loss
    # (5.0) is not what it returns (2.0).
    kept = History([3.0, 5.0], [], False, objective=2.0)
    assert kept.final == 2.0
    assert History([3.0, 1.5], [], True).final == 1.5
