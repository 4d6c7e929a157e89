"""GaussianProcessExpert: local GP experts (Tresp 2001), against
scikit-learn's GaussianProcessRegressor, leave-one-out by explicit refits,
the marginal likelihood of duplicated rows and the mixture-of-Gaussians
predictive distribution."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from mixexp import MixtureOfExpertsRegressor
from mixexp.experts import GaussianProcessExpert
from mixexp.experts._gp import (
    factor,
    kept_rows,
    loo_predictive,
    predictive,
    weighted_log_marginal_likelihood,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n=80, seed=0):
    rng = np.random.RandomState(seed)
    X = np.sort(rng.uniform(-3, 3, size=(n, 1)), axis=0)
    noise = np.where(X[:, 0] < 0, 0.05, 0.4)
    return X, np.sin(2 * X[:, 0]) + noise * rng.randn(n)


def _kernel():
    return ConstantKernel(1.3) * RBF(0.7)


def _standardized(expert, X, y, k=0):
    """Inputs and targets in the expert's standardized units, centred on
    expert k's prior mean."""
    Xs = (X - expert.x_mean_) / expert.x_scale_
    ys = (y - expert.prior_mean_[k]) / expert.y_scale_
    return Xs, ys


@pytest.fixture(scope="module")
def fitted():
    X, y = _data(200)
    model = MixtureOfExpertsRegressor(
        2, expert=GaussianProcessExpert(), random_state=0
    ).fit(X, y)
    return model, X, y


# ------------------------------------------------------------- one expert
def test_one_expert_is_gaussian_process_regressor():
    """K = 1, fixed hyperparameters: the expert is scikit-learn's GP with
    alpha = noise / weight per row, in mean and (latent + noise) std."""
    X, y = _data()
    weight = np.random.RandomState(1).randint(1, 4, size=y.shape[0]).astype(float)
    model = MixtureOfExpertsRegressor(
        1,
        expert=GaussianProcessExpert(
            _kernel(), optimizer=None, noise_variance=0.05, min_responsibility=0
        ),
        max_iter=3,
    ).fit(X, y, sample_weight=weight)
    expert = model.experts_
    Xs, ys = _standardized(expert, X, y)
    noise = 0.05
    np.testing.assert_allclose(expert.noise_variance_, noise * expert.y_scale_**2)
    gpr = GaussianProcessRegressor(_kernel(), alpha=noise / weight, optimizer=None)
    gpr.fit(Xs, ys)
    X_new = np.linspace(-4, 4, 33)[:, None]
    mean, std = gpr.predict((X_new - expert.x_mean_) / expert.x_scale_, True)
    got_mean, got_std = model.predict(X_new, return_std=True)
    np.testing.assert_allclose(
        got_mean, expert.prior_mean_[0] + mean * expert.y_scale_, rtol=1e-8, atol=1e-8
    )
    np.testing.assert_allclose(
        got_std, expert.y_scale_ * np.sqrt(std**2 + noise), rtol=1e-8
    )
    # The prior mean is the weighted mean of the targets.
    np.testing.assert_allclose(expert.prior_mean_[0], weight @ y / weight.sum())


def test_one_expert_optimizes_the_marginal_likelihood():
    """With unit weights, the weighted marginal likelihood is the ordinary
    one: the fit reaches the maximum GaussianProcessRegressor finds with a
    WhiteKernel for the noise."""
    X, y = _data(60)
    model = MixtureOfExpertsRegressor(
        1,
        expert=GaussianProcessExpert(
            ConstantKernel(1.0, (1e-3, 1e3)) * RBF(1.0, (1e-2, 1e3)),
            min_responsibility=0,
            max_optimizer_iter=100,
        ),
        max_iter=5,
    ).fit(X, y)
    expert = model.experts_
    Xs, ys = _standardized(expert, X, y)
    gpr = GaussianProcessRegressor(
        ConstantKernel(1.0, (1e-3, 1e3)) * RBF(1.0, (1e-2, 1e3))
        + WhiteKernel(0.1, (1e-6, 10.0)),
        n_restarts_optimizer=3,
        random_state=0,
    ).fit(Xs, ys)
    assert expert.log_marginal_likelihood_value_[0] == pytest.approx(
        gpr.log_marginal_likelihood_value_, abs=1e-4
    )
    noise = expert.noise_variance_[0] / expert.y_scale_**2
    assert noise == pytest.approx(gpr.kernel_.k2.noise_level, rel=1e-2)


# ---------------------------------------------------------- the mathematics
def _tiny(seed=0, m=9):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(m, 2))
    y = np.sin(X[:, 0]) + 0.3 * rng.randn(m)
    c = rng.uniform(0.2, 3.0, size=m)
    return X, y, c


def test_leave_one_out_matches_refits():
    """The closed form (Rasmussen & Williams 5.4.2) against a GP refitted
    without each row in turn, with per-row noise noise / c."""
    X, y, c = _tiny()
    kernel, noise = _kernel(), 0.2
    L, dual, inverse_diag = factor(kernel, noise, X, y, c)
    mean, var = loo_predictive(y, dual, inverse_diag, noise / c, noise)
    for i in range(y.shape[0]):  # the slow reference
        rest = np.arange(y.shape[0]) != i
        L_i, dual_i, _ = factor(kernel, noise, X[rest], y[rest], c[rest])
        mean_i, var_i = predictive(kernel, X[rest], L_i, dual_i, X[i : i + 1], noise)
        assert mean[i] == pytest.approx(mean_i[0], rel=1e-9, abs=1e-12)
        assert var[i] == pytest.approx(var_i[0], rel=1e-9)


def test_factor_against_dense_inverse():
    X, y, c = _tiny(1)
    kernel, noise = _kernel(), 0.3
    A = kernel(X) + np.diag(noise / c)
    L, dual, inverse_diag = factor(kernel, noise, X, y, c)
    np.testing.assert_allclose(L @ L.T, A, rtol=1e-12)
    np.testing.assert_allclose(dual, np.linalg.solve(A, y), rtol=1e-10)
    np.testing.assert_allclose(inverse_diag, np.diag(np.linalg.inv(A)), rtol=1e-10)


def test_weighted_marginal_likelihood_is_that_of_copies():
    """Integer weights: the marginal likelihood of that many copies of each
    row (same target), a dense multivariate normal."""
    X, y, _ = _tiny(2, m=6)
    c = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 1.0])
    kernel, noise = _kernel(), 0.15
    copies = np.repeat(np.arange(6), c.astype(int))
    cov = kernel(X[copies]) + noise * np.eye(copies.size)
    reference = multivariate_normal(np.zeros(copies.size), cov).logpdf(y[copies])
    value = weighted_log_marginal_likelihood(kernel, noise, X, y, c)
    assert value == pytest.approx(reference, rel=1e-12)


def test_weighted_marginal_likelihood_gradient():
    X, y, c = _tiny(3)
    kernel, noise = _kernel(), 0.25
    value, grad = weighted_log_marginal_likelihood(
        kernel, noise, X, y, c, eval_gradient=True
    )
    theta = np.append(kernel.theta, np.log(noise))
    step = 1e-6
    numeric = []
    for j in range(theta.size):
        shift = np.zeros_like(theta)
        shift[j] = step
        up, down = (
            weighted_log_marginal_likelihood(
                kernel.clone_with_theta(t[:-1]), np.exp(t[-1]), X, y, c
            )
            for t in (theta + shift, theta - shift)
        )
        numeric.append((up - down) / (2 * step))
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_kept_rows():
    rng = np.random.RandomState(0)
    c = np.array([0.0, 1e-4, 0.5, 1.0, 0.002, 0.8])
    np.testing.assert_array_equal(kept_rows(c, 1e-3, None, rng), [2, 3, 4, 5])
    np.testing.assert_array_equal(kept_rows(c, 1e-3, 2, rng), [3, 5])
    np.testing.assert_array_equal(kept_rows(c, 0.0, None, rng), [1, 2, 3, 4, 5])
    assert kept_rows(np.zeros(3), 1e-3, None, rng).size == 0
    # Ties at the cap: a random sample of them, not the first ones.
    tied = kept_rows(np.ones(1000), 1e-3, 100, rng)
    assert tied.size == 100 and tied.max() > 500 and np.all(np.diff(tied) > 0)


# ------------------------------------------------- the fit and its E-step
def test_fitted_experts_are_their_weighted_gps(fitted):
    """Each expert's stored factor is that of K + diag(noise / c) on its
    rows, its dual coefficients solve it, and its prior mean is the
    weighted mean of its targets."""
    model, _, _ = fitted
    expert = model.experts_
    for k in range(2):
        Xs = (expert.X_train_[k] - expert.x_mean_) / expert.x_scale_
        c = expert.train_weight_[k]
        noise = expert.noise_variance_[k] / expert.y_scale_**2
        A = expert.kernels_[k](Xs) + np.diag(noise / c)
        np.testing.assert_allclose(expert.L_[k] @ expert.L_[k].T, A, rtol=1e-10)
        b = c @ expert.y_train_[k] / c.sum()
        assert expert.prior_mean_[k] == pytest.approx(b)
        ys = (expert.y_train_[k] - b) / expert.y_scale_
        np.testing.assert_allclose(expert.alpha_[k], np.linalg.solve(A, ys), rtol=1e-8)


def test_objective_is_the_leave_one_out_likelihood():
    """K = 1: the fit's objective is the mean leave-one-out log density of
    the rows, here over several row chunks of the E-step; the in-sample
    log_likelihood of the fitted model is higher."""
    X, y = _data(600, seed=4)
    with config_context(working_memory=0.001):  # chunks of 256 rows
        model = MixtureOfExpertsRegressor(
            1, expert=GaussianProcessExpert(min_responsibility=0), max_iter=3
        ).fit(X, y)
    expert = model.experts_
    Xs, ys = _standardized(expert, X, y)
    c = expert.train_weight_[0]
    noise = expert.noise_variance_[0] / expert.y_scale_**2
    A = expert.kernels_[0](Xs) + np.diag(noise / c)
    inverse = np.linalg.inv(A)  # the dense reference
    mean = ys - inverse @ ys / np.diag(inverse)
    var = 1 / np.diag(inverse) - noise / c + noise
    loo = norm.logpdf(ys, mean, np.sqrt(var)) - np.log(expert.y_scale_)
    assert model.lower_bound_ == pytest.approx(loo.mean(), rel=1e-9)
    assert model.log_likelihood(X, y).mean() > model.lower_bound_


def test_likelihood_never_decreases(fitted):
    model, _, _ = fitted
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10)
    assert model.converged_


def test_finds_the_two_noise_levels(fitted):
    model, X, y = fitted
    assert np.sort(np.sqrt(model.experts_.noise_variance_)) == pytest.approx(
        [0.05, 0.4], rel=0.25
    )


def test_return_std_is_the_mixture_variance(fitted):
    """The mixture of Gaussians N(m_k, v_k) (v_k = latent + noise, per
    input) weighted by the gate: its variance, quantiles and draws."""
    model, _, _ = fitted
    X_new = np.linspace(-3.5, 3.5, 29)[:, None]
    gate = model.predict_gate_proba(X_new)
    means, variances = model.experts_._moments(X_new)
    mean = np.sum(gate * means, axis=1)
    variance = np.sum(gate * (variances + means**2), axis=1) - mean**2
    got_mean, got_std = model.predict(X_new, return_std=True)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_std, np.sqrt(variance), rtol=1e-8)
    np.testing.assert_allclose(model.predict_experts(X_new), means, rtol=1e-10)
    # Expert variances differ across inputs (latent variance), unlike a
    # linear expert's: far from the data it is the prior's.
    assert np.ptp(variances[:, 0]) > 0
    quantiles = model.predict_quantiles(X_new, [0.1, 0.9])
    for j, q in enumerate([0.1, 0.9]):
        cdf = np.sum(gate * norm.cdf(quantiles[:, [j]], means, np.sqrt(variances)), 1)
        np.testing.assert_allclose(cdf, q, atol=1e-9)
    draws = model.sample_y(X_new[:3], n_samples=20000, random_state=0)
    np.testing.assert_allclose(draws.mean(axis=1), mean[:3], atol=0.05)
    np.testing.assert_allclose(draws.std(axis=1), np.sqrt(variance[:3]), rtol=0.05)


def test_weight_two_is_two_copies_in_the_m_step():
    """Fixed hyperparameters, one expert: a row of weight 2 is two copies of
    it (the leave-one-out densities differ, the GP does not)."""
    X, y = _data(50)
    weight = np.ones(50)
    weight[::3] = 2
    copies = np.repeat(np.arange(50), weight.astype(int))
    expert = GaussianProcessExpert(
        _kernel(), optimizer=None, noise_variance=0.05, min_responsibility=0
    )
    weighted = MixtureOfExpertsRegressor(1, expert=expert, max_iter=2)
    repeated = clone(weighted)
    weighted.fit(X, y, sample_weight=weight)
    repeated.fit(X[copies], y[copies])
    # The standardization is that of the same weighted rows.
    X_new = np.linspace(-3, 3, 17)[:, None]
    for a, b in zip(
        weighted.predict(X_new, return_std=True),
        repeated.predict(X_new, return_std=True),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_weight_two_with_optimized_hyperparameters():
    """With the optimizer the two fits climb the same marginal likelihood."""
    X, y = _data(50)
    weight = np.ones(50)
    weight[::3] = 2
    copies = np.repeat(np.arange(50), weight.astype(int))
    model = MixtureOfExpertsRegressor(
        1, expert=GaussianProcessExpert(min_responsibility=0), max_iter=5
    )
    weighted = clone(model).fit(X, y, sample_weight=weight)
    repeated = clone(model).fit(X[copies], y[copies])
    np.testing.assert_allclose(
        weighted.experts_.log_marginal_likelihood_value_,
        repeated.experts_.log_marginal_likelihood_value_,
        rtol=1e-5,
    )
    X_new = np.linspace(-3, 3, 17)[:, None]
    np.testing.assert_allclose(
        weighted.predict(X_new), repeated.predict(X_new), rtol=1e-4, atol=1e-4
    )


def test_row_cap_bounds_every_expert():
    X, y = _data(300)
    model = MixtureOfExpertsRegressor(
        3,
        expert=GaussianProcessExpert(max_rows_per_expert=40, max_optimizer_iter=3),
        random_state=0,
        max_iter=20,
    ).fit(X, y)
    sizes = [rows.shape[0] for rows in model.experts_.X_train_]
    assert max(sizes) <= 40 and min(sizes) > 0
    assert all(L.shape == (n, n) for L, n in zip(model.experts_.L_, sizes, strict=True))
    assert model.score(X, y) > 0.7  # 0.73 here, 0.85 without the cap


def test_refit_clone_and_pickle_share_nothing(fitted):
    model, X, y = fitted
    kernel = _kernel()
    template = MixtureOfExpertsRegressor(
        2, expert=GaussianProcessExpert(kernel), random_state=0, max_iter=5
    )
    first = clone(template).fit(X, y)
    second = clone(template).fit(X, y)
    # Equal to rounding, not bit for bit: BLAS may add in an order that
    # depends on where an array starts in memory.
    np.testing.assert_allclose(first.predict(X), second.predict(X), rtol=1e-9)
    assert kernel.theta == pytest.approx(_kernel().theta)  # the parameter untouched
    assert first.experts_.kernels_[0] is not kernel
    assert first.experts_.kernels_[0] is not second.experts_.kernels_[0]
    again = first.fit(X, y).predict(X)  # fitting twice, to rounding as above
    np.testing.assert_allclose(again, second.predict(X), rtol=1e-9)
    assert not hasattr(clone(first).expert, "kernels_")
    copied = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        copied.predict(X, return_std=True), model.predict(X, return_std=True)
    )
    for name in ("_data", "_rows", "_table"):  # no fit-time scratch is kept
        assert not hasattr(model.experts_, name)


def test_warm_start_continues():
    X, y = _data(120)
    model = MixtureOfExpertsRegressor(
        2, expert=GaussianProcessExpert(), random_state=0, max_iter=3, warm_start=True
    )
    model.fit(X, y)
    before = model.score(X, y)
    model.fit(X, y)
    assert model.score(X, y) > before - 0.05


def test_keep_drops_experts(fitted):
    expert = copy.deepcopy(fitted[0].experts_)
    kept = expert.X_train_[1]
    expert._keep(np.array([1]))
    assert len(expert.kernels_) == 1 and expert.noise_variance_.shape == (1,)
    assert expert.X_train_[0] is kept


# ------------------------------------------------------------- bad input
def test_errors_say_what_to_do(fitted):
    X, y = _data(40)
    with pytest.raises(ValueError, match="1d array"):
        MixtureOfExpertsRegressor(2, expert=GaussianProcessExpert()).fit(
            X, np.column_stack([y, y])
        )
    with pytest.raises(ValueError, match="remove the WhiteKernel"):
        MixtureOfExpertsRegressor(
            2, expert=GaussianProcessExpert(RBF() + WhiteKernel())
        ).fit(X, y)
    with pytest.raises(ValueError, match="must be finite"):
        MixtureOfExpertsRegressor(
            2,
            expert=GaussianProcessExpert(
                RBF(1.0, (1e-2, np.inf)), n_restarts_optimizer=2
            ),
        ).fit(X, y)
    with pytest.raises(ValueError, match="max_rows_per_expert"):
        MixtureOfExpertsRegressor(
            2, expert=GaussianProcessExpert(max_rows_per_expert=0)
        ).fit(X, y)
    with pytest.raises(ValueError, match="bic and aic are undefined"):
        fitted[0].bic(*fitted[1:])
    with pytest.raises(NotFittedError, match="not fitted"):
        GaussianProcessExpert().predict(X)


def test_restarts_are_reproducible():
    X, y = _data(60)
    model = MixtureOfExpertsRegressor(
        2,
        expert=GaussianProcessExpert(n_restarts_optimizer=2),
        random_state=3,
        max_iter=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = clone(model).fit(X, y).predict(X)
        b = clone(model).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
