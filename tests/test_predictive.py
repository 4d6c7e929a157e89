"""The regressor's predictive distribution: standard deviation, draws and
quantiles of the mixture, against closed forms and Monte Carlo."""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from sklearn.tree import DecisionTreeRegressor

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_mixture_regression, make_piecewise_linear
from mixexp.experts import StudentTExpert


@pytest.fixture(scope="module")
def fitted():
    X, y = make_piecewise_linear(800, noise=0.3, random_state=0)
    return MixtureOfExpertsRegressor(3, random_state=0).fit(X, y), X, y


def _mixture_cdf(est, X, t):
    """sum_k g_k(x) Phi((t - mu_k(x)) / s_k), one row at a time."""
    gate = est.predict_gate_proba(X)
    means = est.predict_experts(X)
    scale = np.sqrt(est.experts_.noise_variance_)
    return np.array(
        [gate[i] @ norm.cdf(t[i], means[i], scale) for i in range(X.shape[0])]
    )


def test_std_of_a_single_expert_is_its_noise(fitted):
    X, y = make_mixture_regression(300, n_experts=1, random_state=0)
    est = MixtureOfExpertsRegressor(1).fit(X, y)
    mean, std = est.predict(X, return_std=True)
    np.testing.assert_array_equal(mean, est.predict(X))
    np.testing.assert_allclose(std, np.sqrt(est.experts_.noise_variance_[0]))


def test_std_is_the_mixture_moment(fitted):
    est, X, _ = fitted
    gate, means = est.predict_gate_proba(X), est.predict_experts(X)
    variance = est.experts_.noise_variance_
    mean = np.sum(gate * means, axis=1)
    expected = np.sqrt(np.sum(gate * (variance + means**2), axis=1) - mean**2)
    got_mean, got_std = est.predict(X, return_std=True)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(got_std, expected, rtol=1e-10)


def test_quantiles_solve_the_mixture_cdf(fitted):
    est, X, _ = fitted
    levels = [0.01, 0.05, 0.5, 0.95, 0.99]
    q = est.predict_quantiles(X[:200], levels)
    assert q.shape == (200, 5)
    assert np.all(np.diff(q, axis=1) > 0)
    for j, level in enumerate(levels):
        np.testing.assert_allclose(
            _mixture_cdf(est, X[:200], q[:, j]), level, atol=1e-9
        )


def test_quantiles_of_a_single_expert_are_normal_quantiles():
    X, y = make_mixture_regression(300, n_experts=1, random_state=0)
    est = MixtureOfExpertsRegressor(1).fit(X, y)
    q = est.predict_quantiles(X, [0.1, 0.9])
    expected = norm.ppf(
        [0.1, 0.9], est.predict(X)[:, None], np.sqrt(est.experts_.noise_variance_[0])
    )
    np.testing.assert_allclose(q, expected, rtol=1e-10, atol=1e-12)


def test_draws_follow_the_mixture(fitted):
    est, X, _ = fitted
    rows = X[[10, 200, 500]]
    draws = est.sample_y(rows, n_samples=40_000, random_state=1)
    assert draws.shape == (3, 40_000)
    mean, std = est.predict(rows, return_std=True)
    # Monte Carlo error of a mean of 40,000 draws is std / 200.
    np.testing.assert_allclose(draws.mean(axis=1), mean, atol=4 * std.max() / 200)
    np.testing.assert_allclose(draws.std(axis=1), std, rtol=0.02)
    # Empirical CDF at the predicted quantiles (binomial error < 0.003).
    q = est.predict_quantiles(rows, [0.1, 0.5, 0.9])
    empirical = (draws[:, :, None] <= q[:, None, :]).mean(axis=1)
    np.testing.assert_allclose(empirical, np.tile([0.1, 0.5, 0.9], (3, 1)), atol=0.01)


def test_draws_are_reproducible(fitted):
    est, X, _ = fitted
    a = est.sample_y(X[:5], n_samples=3, random_state=7)
    b = est.sample_y(X[:5], n_samples=3, random_state=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, est.sample_y(X[:5], n_samples=3, random_state=8))


def test_multi_output_shapes_and_std():
    X, Y = make_mixture_regression(400, n_outputs=2, random_state=0)
    est = MixtureOfExpertsRegressor(2, random_state=0).fit(X, Y)
    mean, std = est.predict(X, return_std=True)
    assert mean.shape == std.shape == (400, 2)
    assert est.sample_y(X[:7], n_samples=4).shape == (7, 2, 4)
    assert est.predict_quantiles(X[:7], [0.2, 0.8]).shape == (7, 2, 2)
    # Each output's std is that of its own marginal mixture.
    gate, means = est.predict_gate_proba(X), est.predict_experts(X)
    var = est.experts_.noise_variance_  # (K, m)
    second = np.einsum("nk,nkm->nm", gate, var[None] + means**2)
    np.testing.assert_allclose(std, np.sqrt(second - mean**2), rtol=1e-10)


def test_sparse_gate_predictive_std_uses_the_routed_experts():
    X, y = make_piecewise_linear(600, random_state=0)
    est = MixtureOfExpertsRegressor(4, top_k=1, random_state=0).fit(X, y)
    mean, std = est.predict(X, return_std=True)
    np.testing.assert_allclose(mean, est.predict(X), rtol=1e-12)
    chosen = est.predict_gate_proba(X).argmax(axis=1)
    np.testing.assert_allclose(std, np.sqrt(est.experts_.noise_variance_[chosen]))


def test_estimator_experts_have_a_predictive_distribution():
    X, y = make_piecewise_linear(600, noise=0.2, random_state=0)
    est = MixtureOfExpertsRegressor(
        2, expert=DecisionTreeRegressor(max_depth=4), random_state=0
    ).fit(X, y)
    low, high = est.predict_quantiles(X, [0.05, 0.95]).T
    assert 0.85 < np.mean((low <= y) & (y <= high)) < 0.97
    assert est.sample_y(X[:3], n_samples=2).shape == (3, 2)


@pytest.mark.parametrize("quantiles", [[0.0, 0.5], [1.2], []])
def test_bad_quantiles_are_refused(fitted, quantiles):
    est, X, _ = fitted
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        est.predict_quantiles(X, quantiles)


def test_bad_n_samples_is_refused(fitted):
    est, X, _ = fitted
    with pytest.raises(ValueError, match="n_samples"):
        est.sample_y(X, n_samples=0)


# ----------------------------------------------- a large offset of the targets
def _offset_models():
    """Fitted models whose predictive spread is small against offsets up to
    1e12: one output, two outputs, t experts and a top-2 gate."""
    X, y = make_piecewise_linear(400, noise=0.1, random_state=0)
    _, Y = make_mixture_regression(400, n_outputs=2, noise=0.1, random_state=0)
    return {
        "linear": (MixtureOfExpertsRegressor(3, random_state=0).fit(X, y), X),
        "two outputs": (MixtureOfExpertsRegressor(3, random_state=0).fit(X, Y), X),
        "t experts": (
            MixtureOfExpertsRegressor(3, expert=StudentTExpert(), random_state=0).fit(
                X, y
            ),
            X,
        ),
        "top-2": (MixtureOfExpertsRegressor(3, top_k=2, random_state=0).fit(X, y), X),
    }


OFFSET_MODELS = _offset_models()


def _shifted(est, offset):
    """The same model with every expert's intercept moved by ``offset``: its
    predictive distribution is the original one shifted by ``offset``."""
    moved = copy.deepcopy(est)
    moved.experts_.intercept_ = moved.experts_.intercept_ + offset
    return moved


@pytest.mark.parametrize("name", list(OFFSET_MODELS))
@settings(max_examples=25, deadline=None)
@given(offset=st.floats(-1e12, 1e12) | st.sampled_from([1e9, -1e12, 1e12]))
def test_spread_and_quantile_widths_ignore_a_target_offset(name, offset):
    est, X = OFFSET_MODELS[name]
    moved = _shifted(est, offset)
    # float64 resolves |offset| to spacing(offset); a few roundings of it.
    atol = 8 * np.spacing(abs(offset)) + 1e-12
    mean, std = est.predict(X, return_std=True)
    moved_mean, moved_std = moved.predict(X, return_std=True)
    np.testing.assert_allclose(moved_mean - offset, mean, rtol=0, atol=atol)
    np.testing.assert_allclose(moved_std, std, rtol=1e-9, atol=atol)
    levels = [0.05, 0.5, 0.95]
    q = est.predict_quantiles(X[:100], levels)
    moved_q = moved.predict_quantiles(X[:100], levels)
    np.testing.assert_allclose(moved_q - offset, q, rtol=0, atol=atol)
    np.testing.assert_allclose(
        np.diff(moved_q, axis=-1), np.diff(q, axis=-1), rtol=0, atol=2 * atol
    )
    draws = est.sample_y(X[:20], n_samples=5, random_state=3)
    moved_draws = moved.sample_y(X[:20], n_samples=5, random_state=3)
    np.testing.assert_allclose(moved_draws - offset, draws, rtol=0, atol=atol)


def test_fit_on_offset_targets_predicts_the_same_spread():
    X, y = make_piecewise_linear(500, noise=0.1, random_state=0)
    base = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    offset = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y + 1e9)
    mean, std = base.predict(X, return_std=True)
    offset_mean, offset_std = offset.predict(X, return_std=True)
    np.testing.assert_allclose(offset_mean - 1e9, mean, atol=1e-5)
    np.testing.assert_allclose(offset_std, std, rtol=1e-5)
