"""What EM must achieve: monotone likelihood, recovery, sharp gates, baselines."""

import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
from _helpers import fit_recording_reseeds, plain_em
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp._base import BaseMixtureOfExperts
from mixexp.datasets import (
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)
from mixexp.experts import LinearExpert, LogisticExpert
from mixexp.gates import SoftmaxGate


def _random_problem(seed):
    """A random small problem: (estimator, X, y)."""
    rng = np.random.RandomState(seed)
    n = rng.randint(40, 400)
    d = rng.randint(1, 6)
    K = rng.randint(1, 6)
    if seed % 3 == 2:
        X = rng.standard_normal((n, d))
        W = rng.standard_normal((3, d))
        y = np.argmax(X @ W.T + rng.gumbel(size=(n, 3)), axis=1)
        est = MixtureOfExpertsClassifier(K, random_state=seed, max_iter=60, tol=0)
    else:
        X, y = make_mixture_regression(
            n,
            n_features=d,
            n_experts=rng.randint(1, 5),
            noise=rng.uniform(0.05, 1),
            random_state=seed,
        )
        solver = ["auto", "newton", "block", "bound", "lbfgs"][seed % 5]
        est = MixtureOfExpertsRegressor(
            K,
            gate=SoftmaxGate(solver=solver),
            random_state=seed,
            max_iter=60,
            tol=0,
            init=["kmeans", "random"][seed % 2],
        )
    return est, X, y


@pytest.mark.parametrize("seed", range(36))
def test_em_never_lowers_the_penalized_log_likelihood(seed):
    """Every iteration raises the bound, except one that re-seeds a dead
    expert (it restarts that expert where the mixture is worst)."""
    est, X, y = _random_problem(seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Expert", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        est, reseeded = fit_recording_reseeds(est, X, y)
    lb = est.lower_bounds_
    assert np.all(np.isfinite(lb))
    checked = ~reseeded[1:]  # iteration i + 1 moved lb[i] to lb[i + 1]
    assert np.count_nonzero(checked) >= len(lb) // 2
    change = np.diff(lb)[checked]
    assert np.all(change >= -1e-10 * np.abs(lb[1:][checked])), change.min()


def test_overshooting_newton_steps_are_caught_and_halved(monkeypatch):
    """The M-steps' last Newton step is verified by the next E-step pass; a
    step that lowers EM's Q-function is halved until it does not."""
    import mixexp._multinomial as multinomial

    exact = multinomial.newton_direction

    def overshooting(*args):
        return 8.0 * exact(*args)

    X, y = make_local_classification(600, random_state=0)
    reference = MixtureOfExpertsClassifier(4, random_state=0, tol=0, max_iter=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(X, y)
        monkeypatch.setattr(multinomial, "newton_direction", overshooting)
        est = clone(reference).fit(X, y)
    lb = est.lower_bounds_
    assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:]))
    assert est.score(X, y) > 0.95
    assert lb[-1] > reference.lower_bounds_[0]


def _rmse(est, X, y):
    return float(np.sqrt(np.mean((est.predict(X) - y) ** 2)))


def _planted(n_samples, gate_coef, gate_intercept, coef, intercept, noise, rng):
    """Draw (X, y) from a mixture of linear experts with the given softmax gate."""
    X = rng.standard_normal((n_samples, gate_coef.shape[1]))
    logits = X @ gate_coef.T + gate_intercept
    gate = np.exp(logits - logits.max(axis=1, keepdims=True))
    gate /= gate.sum(axis=1, keepdims=True)
    expert = (gate.cumsum(axis=1) < rng.uniform(size=(n_samples, 1))).sum(axis=1)
    y = np.sum(X * coef[expert], axis=1) + intercept[expert]
    return X, y + noise * rng.standard_normal(n_samples)


def _three_expert_truth(n_features, rng):
    """Three experts owning three parallel slabs of similar mass, split at
    ``u.x = -0.5`` and ``u.x = 0.5`` for a random unit direction ``u``.

    The gate is so sharp that the best possible test RMSE is the noise level.
    The experts share a random linear part and differ along ``u`` (slopes
    -1.5, 0.5 and 2), with jumps of about 1 (five noise sd) at the
    boundaries: clearly separate experts, and a test error that measures the
    fit rather than the few test points that fall within a sample spacing of
    a boundary.
    """
    direction = rng.standard_normal(n_features)
    direction /= np.linalg.norm(direction)
    sharpness = 1e4
    gate_coef = sharpness * np.outer([-1.0, 0.0, 1.0], direction)
    gate_intercept = sharpness * np.array([-0.5, 0.0, -0.5])
    coef = rng.standard_normal(n_features) + np.outer([-1.5, 0.5, 2.0], direction)
    intercept = np.array([0.3, 0.0, -0.2])
    return gate_coef, gate_intercept, coef, intercept


@pytest.mark.parametrize("n_features", [1, 5])
def test_recovers_a_planted_three_expert_mixture(n_features):
    rng = np.random.RandomState(11)
    noise = 0.2
    truth = _three_expert_truth(n_features, rng)
    X, y = _planted(3000, *truth, noise, rng)
    X_test, y_test = _planted(1000, *truth, noise, rng)
    est = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    fitted = np.hstack([est.experts_.coef_, est.experts_.intercept_[:, None]])
    true = np.hstack([truth[2], truth[3][:, None]])
    cost = np.linalg.norm(fitted[:, None] - true[None], axis=2)
    rows, cols = linear_sum_assignment(cost)
    np.testing.assert_allclose(fitted[rows], true[cols], atol=0.05)
    np.testing.assert_allclose(
        np.sqrt(est.experts_.noise_variance_[rows]), noise, rtol=0.1
    )
    assert _rmse(est, X_test, y_test) <= 1.10 * noise


def test_single_expert_is_ridge_regression():
    X, y = make_mixture_regression(300, n_features=4, n_experts=1, random_state=3)
    w = np.random.RandomState(0).uniform(0.5, 2, size=300)
    for alpha in (1e-6, 3.0):
        est = MixtureOfExpertsRegressor(1, expert=LinearExpert(alpha=alpha)).fit(
            X, y, sample_weight=w
        )
        # alpha per unit of weight, on the standardized inputs.
        scale = StandardScaler().fit(X, sample_weight=w).scale_
        ridge = Ridge(alpha=alpha * w.sum()).fit(X / scale, y, sample_weight=w)
        coef = ridge.coef_ / scale
        np.testing.assert_allclose(est.experts_.coef_[0], coef, rtol=1e-6, atol=1e-9)
        assert est.experts_.intercept_[0] == pytest.approx(ridge.intercept_, rel=1e-6)
        np.testing.assert_allclose(est.predict(X), ridge.predict(X / scale), rtol=1e-6)
        resid = y - ridge.predict(X / scale)
        penalty = alpha * w.sum() * ridge.coef_ @ ridge.coef_
        expected_var = (w @ resid**2 + penalty) / w.sum()
        assert est.experts_.noise_variance_[0] == pytest.approx(expected_var, rel=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_single_expert_is_logistic_regression(n_classes):
    rng = np.random.RandomState(4)
    X = rng.standard_normal((300, 3))
    y = np.argmax(
        X @ rng.standard_normal((3, n_classes)) + rng.gumbel(size=(300, n_classes)), 1
    )
    alpha = 2e-3
    est = MixtureOfExpertsClassifier(
        1, expert=LogisticExpert(alpha=alpha), tol=1e-12
    ).fit(X, y)
    # One symmetric softmax expert with penalty alpha n/2 sum_c ||u_c||^2 on
    # the standardized inputs (alpha per unit weight, n unit weights) is
    # sklearn's multinomial model with C = 1/(alpha n) on them; for two
    # classes sklearn uses one weight vector w = u_1 - u_0, whose penalty is
    # then alpha n/4 ||w||^2.
    C = (2 if n_classes == 2 else 1) / (alpha * X.shape[0])
    Z = StandardScaler().fit_transform(X)
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(Z, y)
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(Z), atol=1e-6)


def test_gate_learns_sharp_jumps_between_pieces():
    X, y = make_piecewise_linear(1500, noise=0.3, random_state=0)
    X_test, y_test = make_piecewise_linear(500, noise=0.3, random_state=1)
    est = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    assert _rmse(est, X_test, y_test) <= 0.315
    # The gate moved away from its uniform start and switches at -1 and 1.
    assert np.abs(est.gate_.coef_).max() > 50
    grid = np.array([[-2.0], [0.0], [2.0]])
    winners = est.predict_gate_proba(grid).argmax(axis=1)
    assert len(set(winners.tolist())) == 3
    slopes = np.sort(est.experts_.coef_[:, 0])
    np.testing.assert_allclose(slopes, [-1, 2, 3], atol=0.1)


def test_gate_is_not_left_at_initialization_on_every_seed():
    X, y = make_piecewise_linear(1500, noise=0.3, random_state=0)
    X_test, y_test = make_piecewise_linear(500, noise=0.3, random_state=1)
    rmse = [
        _rmse(MixtureOfExpertsRegressor(3, random_state=seed).fit(X, y), X_test, y_test)
        for seed in range(5)
    ]
    assert max(rmse) <= 0.315, rmse


def test_classifier_solves_different_linear_problems_in_different_regions():
    X, y = make_local_classification(2000, random_state=0)
    X_test, y_test = make_local_classification(1000, random_state=1)
    linear = LogisticRegression().fit(X, y).score(X_test, y_test)
    moe = MixtureOfExpertsClassifier(4, random_state=0).fit(X, y)
    assert linear <= 0.75
    assert moe.score(X_test, y_test) >= 0.95


def test_dead_expert_is_reseeded_not_nan():
    X, y = make_piecewise_linear(300, random_state=0)
    est = MixtureOfExpertsRegressor(3, random_state=0, max_iter=30).fit(X, y)
    # Starve expert 0 of all responsibility: its gate logit far below the others.
    est.gate_.intercept_[0] = -1e4
    est.gate_.coef_[0] = 0.0
    est.set_params(warm_start=True, max_iter=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    # One warning for the fit, pointing at the line that called fit.
    reseeded = [w for w in caught if "re-seeded" in str(w.message)]
    assert len(reseeded) == 1
    assert re.match(r"Expert\(s\) \[0[],].* lost all", str(reseeded[0].message))
    assert reseeded[0].filename == __file__
    assert np.all(np.isfinite(est.experts_.coef_))
    assert np.all(np.isfinite(est.experts_.noise_variance_))
    assert est.predict_gate_proba(X)[:, 0].max() > 0.5  # back in use


def test_warnings_point_at_the_users_line_through_a_pipeline():
    X, y = make_piecewise_linear(300, random_state=0)
    pipeline = make_pipeline(
        StandardScaler(), MixtureOfExpertsRegressor(3, max_iter=2, random_state=0)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline.fit(X, y)
    [warning] = [w for w in caught if w.category is ConvergenceWarning]
    assert warning.filename == __file__


def test_n_init_keeps_the_best_run():
    X, y = make_piecewise_linear(600, random_state=0)
    best = MixtureOfExpertsRegressor(3, init="random", n_init=4, random_state=7).fit(
        X, y
    )
    # Restart i runs with the i-th seed drawn from random_state.
    seeds = np.random.RandomState(7).randint(np.iinfo(np.int32).max, size=4)
    bounds = [
        MixtureOfExpertsRegressor(3, init="random", random_state=seed)
        .fit(X, y)
        .lower_bound_
        for seed in seeds
    ]
    assert len(set(bounds)) > 1  # the restarts did differ
    assert best.lower_bound_ == max(bounds)


def _planted_two_lines(seed, n=500):
    """Two noisy lines under a logistic gate, and the log-likelihood of the
    planted parameters (computed here, independently of mixexp)."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, size=n)
    gate = 1 / (1 + np.exp(-(0.5 + 2 * x)))
    second = rng.uniform(size=n) < gate
    y = np.where(second, -1 + 0.5 * x, 1 + 2 * x) + 0.5 * rng.randn(n)

    def density(mean):
        return np.exp(-0.5 * ((y - mean) / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi))

    planted = (1 - gate) * density(1 + 2 * x) + gate * density(-1 + 0.5 * x)
    return x[:, None], y, np.sum(np.log(planted))


def test_kmeans_restarts_start_in_other_basins():
    # On this draw k-means' clusters lead EM to a fit 100 nats below the
    # planted parameters whatever their seed; restarts from plain k-means++
    # seedings reach the planted optimum.
    X, y, planted = _planted_two_lines(3271)
    fit = lambda n_init: MixtureOfExpertsRegressor(  # noqa: E731
        2, n_init=n_init, tol=1e-8, max_iter=2000, random_state=0
    ).fit(X, y)
    for seed in range(3):
        one = MixtureOfExpertsRegressor(2, tol=1e-8, max_iter=2000, random_state=seed)
        assert one.fit(X, y).log_likelihood(X, y).sum() < planted - 50
    restarts = fit(4)
    assert restarts.log_likelihood(X, y).sum() > planted
    # The first start is still k-means': restarts never do worse than it.
    assert restarts.lower_bound_ >= fit(1).lower_bound_


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: MixtureOfExpertsRegressor(3, init="random", **kw),
        lambda **kw: MixtureOfExpertsClassifier(3, init="random", **kw),
        lambda **kw: MixtureOfExpertsRegressor(3, solver="adam", max_iter=20, **kw),
    ],
)
def test_parallel_restarts_equal_sequential(make):
    X, y = make_piecewise_linear(600, random_state=0)
    if "Classifier" in type(make()).__name__:
        y = y > np.median(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = make(n_init=4, random_state=3).fit(X, y)
        two = make(n_init=4, random_state=3, n_jobs=2).fit(X, y)
        with joblib.parallel_config(backend="threading", n_jobs=2):
            threads = make(n_init=4, random_state=3, n_jobs=2).fit(X, y)
        # Arrays above max_nbytes reach the workers as read-only memory maps
        # (on large data by default): a restart must make its own buffers.
        with joblib.parallel_config(backend="loky", n_jobs=2, max_nbytes="1K"):
            mapped = make(n_init=4, random_state=3, n_jobs=2).fit(X, y)
    for other in (two, threads, mapped):
        assert other.lower_bounds_.tolist() == one.lower_bounds_.tolist()
        assert np.array_equal(other.predict(X), one.predict(X))


@pytest.mark.parametrize(
    "make",
    [
        lambda: MixtureOfExpertsRegressor(3, random_state=0),
        lambda: MixtureOfExpertsClassifier(3, random_state=0),
        lambda: MixtureOfExpertsRegressor(3, solver="adam", max_iter=5, random_state=0),
    ],
)
def test_a_restart_returns_nothing_of_the_data(monkeypatch, make):
    # A worker process pickles what a restart returns back to the parent:
    # the trained parts and their history, not the rows they were fitted on.
    X, y = make_piecewise_linear(20_000, random_state=0)
    if "Classifier" in type(make()).__name__:
        y = y > np.median(y)
    returned = []
    fit_once = BaseMixtureOfExperts._fit_once

    def recording(self, *args, **kwargs):
        returned.append(fit_once(self, *args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(BaseMixtureOfExperts, "_fit_once", recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        make().fit(X, y)
    (result,) = returned
    assert len(pickle.dumps(result)) < X.nbytes / 20


def test_warm_start_continues_from_the_previous_fit(monkeypatch):
    plain_em(monkeypatch)  # an accelerated warm start begins a new cycle
    X, y = make_piecewise_linear(600, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = MixtureOfExpertsRegressor(3, random_state=0, max_iter=2, tol=0).fit(
            X, y
        )
        bound_after_two = first.lower_bound_
        first.set_params(warm_start=True, max_iter=3)
        first.fit(X, y)
    full = MixtureOfExpertsRegressor(3, random_state=0, max_iter=5, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full.fit(X, y)
    assert first.lower_bound_ >= bound_after_two
    assert first.lower_bound_ == pytest.approx(full.lower_bound_, rel=1e-10)


def test_convergence_warning_and_verbose_output(capsys):
    X, y = make_piecewise_linear(300, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        est = MixtureOfExpertsRegressor(3, max_iter=2, tol=0, verbose=2, random_state=0)
        est.fit(X, y)
    assert not est.converged_ and est.n_iter_ == 2
    out = capsys.readouterr().out
    assert "Iteration 1, log-likelihood = " in out
    assert "Iteration 2, log-likelihood = " in out


def test_fit_is_reproducible_and_refit_leaves_nothing_shared():
    X, y = make_piecewise_linear(400, random_state=0)
    est = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    gate = est.gate_
    coef = gate.coef_.copy()
    est.fit(X + 1.0, y)
    np.testing.assert_array_equal(gate.coef_, coef)  # old component untouched
    again = MixtureOfExpertsRegressor(3, random_state=0).fit(X + 1.0, y)
    np.testing.assert_array_equal(est.predict(X), again.predict(X))


# ----------------------------------------- the full-covariance M-step
def _penalized_q(X, Y, w, coef, intercept, cov, alpha):
    """sum_i w_i log N(y_i; C x_i + b, S) - alpha tr(S^-1 C C^T) / 2, by the
    obvious route (explicit inverse and determinant)."""
    inverse = np.linalg.inv(cov)
    resid = Y - X @ coef.T - intercept
    maha = np.einsum("ij,jk,ik->i", resid, inverse, resid)
    log_det = np.linalg.slogdet(2 * np.pi * cov)[1]
    log_density = -0.5 * (maha + log_det)
    return float(w @ log_density) - 0.5 * alpha * np.trace(inverse @ coef @ coef.T)


@pytest.mark.parametrize("n_outputs", [1, 2, 3])
def test_full_covariance_m_step_maximizes_the_penalized_likelihood(n_outputs):
    """One expert: EM's fit is one M-step, which must be the maximizer of the
    penalized weighted likelihood over coefficients, intercept and every
    covariance above the floor (S - diag(floor) positive semi-definite), as
    found by direct numerical maximization; ``lower_bound_`` is its value."""
    from scipy.optimize import minimize

    rng = np.random.RandomState(n_outputs)
    n, d, alpha, min_variance = 30, 2, 0.7, 0.2
    w = rng.uniform(0.5, 1.5, n)
    w /= w.mean()  # mean one, unit weighted std: the penalty's units as they are
    X = rng.standard_normal((n, d))
    X -= w @ X / w.sum()
    X /= np.sqrt(w @ X**2 / w.sum())
    # Noise with one large and some tiny principal directions, so the floor
    # binds on some directions and not on others.
    rotation = np.linalg.qr(rng.standard_normal((n_outputs, n_outputs)))[0]
    noise_scale = np.array([1.0, 0.02, 0.05][:n_outputs])
    Y = X @ rng.standard_normal((d, n_outputs)) + 3.0
    Y += (rng.standard_normal((n, n_outputs)) * noise_scale) @ rotation.T
    expert = LinearExpert(
        alpha=alpha, covariance_type="full", min_variance=min_variance
    )
    est = MixtureOfExpertsRegressor(1, expert=expert).fit(X, Y, sample_weight=w)
    coef, intercept = est.experts_.coef_[0], est.experts_.intercept_[0]
    cov = est.experts_.noise_covariance_[0]
    floor = (
        min_variance
        * np.cov(Y.T, aweights=w, bias=True).reshape(n_outputs, n_outputs).diagonal()
    )
    assert np.linalg.eigvalsh(cov - np.diag(floor)).min() >= -1e-12 * floor.max()
    # alpha is per unit of weight: the penalty is alpha * sum(w) * ...
    fitted = _penalized_q(X, Y, w, coef, intercept, cov, alpha * w.sum())
    assert est.lower_bound_ * w.sum() == pytest.approx(fitted, rel=1e-10)

    # Direct maximization over S = diag(floor) + L L^T, L lower triangular.
    tril = np.tril_indices(n_outputs)
    n_coef = n_outputs * d

    def negative_q(theta):
        C = theta[:n_coef].reshape(n_outputs, d)
        b = theta[n_coef : n_coef + n_outputs]
        L = np.zeros((n_outputs, n_outputs))
        L[tril] = theta[n_coef + n_outputs :]
        cov = np.diag(floor) + L @ L.T
        return -_penalized_q(X, Y, w, C, b, cov, alpha * w.sum())

    best = np.inf
    for start_seed in range(3):
        start = np.random.RandomState(start_seed).standard_normal(
            n_coef + n_outputs + len(tril[0])
        )
        result = minimize(negative_q, start, method="BFGS", options={"gtol": 1e-9})
        best = min(best, result.fun)
    # The M-step is at least as good as the numerical optimum, and the
    # numerical search gets there (so the reference is not too weak).
    assert fitted >= -best - 1e-10 * abs(best)
    assert -best >= fitted - 1e-6 * abs(fitted)
