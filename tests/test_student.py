"""StudentTExpert: the t mixture of experts (Chamroukhi 2016) fitted by ECM."""

import inspect
import pickle
import re
import warnings

import numpy as np
import pytest
from _helpers import fit_recording_reseeds, plain_em
from scipy import stats
from scipy.special import digamma, polygamma
from sklearn.base import clone

import mixexp.experts._student as student
from mixexp import MixtureOfExpertsRegressor
from mixexp.experts import LinearExpert, StudentTExpert


def _lines(n=400, seed=0, outliers=0.0, df=None):
    """Two regimes, y = 1 - x left of 0 and y = 1 + 2 x right of it, with
    normal (or t with ``df``) noise and a fraction of gross outliers."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    noise = rng.standard_t(df, n) if df else rng.randn(n)
    y = np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + 2 * X[:, 0]) + 0.3 * noise
    bad = rng.rand(n) < outliers
    y[bad] += rng.choice([-1, 1], bad.sum()) * rng.uniform(10, 20, bad.sum())
    return X, y


def _two_outputs(n=300, seed=0):
    """Two correlated outputs per regime, with 5% gross outliers."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    left = X[:, 0] < 0
    Y = np.c_[np.where(left, -X[:, 0], 2 * X[:, 0]), np.where(left, 1.0, X[:, 0])]
    Y += rng.standard_t(5, (n, 1)) * [0.2, 0.1] + 0.1 * rng.randn(n, 2)
    Y[rng.rand(n) < 0.05] += 8.0
    return X, Y


def _sorted_lines(moe):
    """(intercept, slope) of each expert, sorted by slope."""
    lines = np.c_[moe.experts_.intercept_, moe.experts_.coef_[:, 0]]
    return lines[np.argsort(lines[:, 1])]


# ------------------------------------------------------------ log-density
@pytest.mark.parametrize(
    "covariance_type, n_outputs", [("diag", 1), ("diag", 2), ("full", 2)]
)
def test_log_likelihood_matches_scipy(covariance_type, n_outputs):
    """log_likelihood = log sum_k g_k t_k(y), with t_k from scipy.stats."""
    X, y = _lines(200, outliers=0.05) if n_outputs == 1 else _two_outputs(200)
    expert = StudentTExpert(covariance_type=covariance_type)
    moe = MixtureOfExpertsRegressor(2, expert=expert, random_state=0).fit(X, y)
    fitted = moe.experts_
    gate = moe.predict_gate_proba(X)
    means = moe.predict_experts(X).reshape(X.shape[0], 2, n_outputs)
    Y = y.reshape(X.shape[0], n_outputs)
    density = np.zeros(X.shape[0])
    for k in range(2):  # the slow reference: one scipy call per expert
        if n_outputs == 1:
            scale = np.sqrt(fitted.noise_variance_[k])
            log_t = stats.t.logpdf(Y[:, 0], fitted.df_[k], means[:, k, 0], scale)
        else:
            shape = (
                fitted.noise_covariance_[k]
                if covariance_type == "full"
                else np.diag(fitted.noise_variance_[k])
            )
            log_t = stats.multivariate_t(
                np.zeros(n_outputs), shape, df=fitted.df_[k]
            ).logpdf(Y - means[:, k])
        density += gate[:, k] * np.exp(log_t)
    np.testing.assert_allclose(moe.log_likelihood(X, y), np.log(density), rtol=1e-10)


def test_df_derivatives_match_finite_differences():
    maha = np.array([[0.01, 0.7, 3.0, 80.0], [0.2, 1.0, 9.0, 1e4]])
    df = np.array([0.8, 12.0])
    for m in (1, 3):
        first, second = student.df_derivatives(maha, df, m)
        step, wide = 1e-5 * df, 1e-3 * df  # wide: less rounding in 2nd differences

        def log_t(nu, m=m):
            return student.t_log_density(maha, np.zeros(2), nu, m)

        np.testing.assert_allclose(
            first,
            (log_t(df + step) - log_t(df - step)) / (2 * step[:, None]),
            rtol=1e-6,
            atol=1e-10,
        )
        np.testing.assert_allclose(
            second,
            (log_t(df + wide) - 2 * log_t(df) + log_t(df - wide)) / wide[:, None] ** 2,
            rtol=1e-5,
            atol=1e-9,
        )


def test_ecm_df_step_solves_its_equation():
    """The bisection finds the root of ECM's nu equation, or the bound."""
    mean_term = np.array([-1.05, -1.3, -3.0, -1.0 - 1e-9, -40.0])
    df = student.solve_df(mean_term, 0.5, 200.0)
    half = df / 2
    residual = np.log(half) - digamma(half) + 1 + mean_term
    inside = (df > 0.5) & (df < 200.0)
    np.testing.assert_allclose(residual[inside], 0.0, atol=1e-12)
    assert df[3] == 200.0 and df[4] == 0.5


# ------------------------------------------------------------------ ECM
@pytest.mark.parametrize("seed", range(4))
def test_ecm_never_decreases_the_likelihood(seed):
    """The penalized log-likelihood never goes down on random problems:
    1-D and 2-D targets, diagonal and full scales, weighted rows, K = 2-3."""
    rng = np.random.RandomState(seed)
    if seed % 2:
        X, y = _two_outputs(250, seed)
    else:
        X, y = _lines(250, seed, outliers=0.05, df=3)
    moe = MixtureOfExpertsRegressor(
        n_experts=2 + seed % 2,
        expert=StudentTExpert(
            degree=1 + seed % 2, covariance_type=("diag", "full")[seed // 2]
        ),
        init=("kmeans", "random")[seed % 2],
        tol=1e-10,
        max_iter=150,
        random_state=seed,
    )
    weight = rng.uniform(0.5, 2.0, X.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        moe, restarted = fit_recording_reseeds(moe, X, y, sample_weight=weight)
    # Re-seeds and pruning restart part of the model and may lower it.
    steps = np.diff(moe.lower_bounds_)[~restarted[1:]]
    assert steps.min() >= -1e-12 * np.abs(moe.lower_bounds_).max()


def test_rejected_df_step_falls_back_to_ecm(monkeypatch):
    """A nu proposal that lowers EM's objective is caught by the next pass
    and undone: from a converged fit, proposals of nu = max_df (these tails
    need nu near 1) are all rejected, and the fit stays where it was."""
    X, y = _lines(300, outliers=0.05, df=3)
    moe = MixtureOfExpertsRegressor(
        2, expert=StudentTExpert(), tol=1e-10, max_iter=400, random_state=0
    ).fit(X, y)
    converged = moe.log_likelihood(X, y).sum()
    assert moe.experts_.df_.max() < 5
    retreats = []
    original = StudentTExpert._retreat

    def counting(self, data):
        retreats.append(self.df_.copy())
        original(self, data)

    monkeypatch.setattr(StudentTExpert, "_retreat", counting)
    monkeypatch.setattr(student, "newton_df", lambda df, g, c, low, high: df * 0 + high)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moe.set_params(warm_start=True, max_iter=10, tol=0.0).fit(X, y)
    assert len(retreats) == 10 and np.all(np.array(retreats) == 200.0)
    assert np.diff(moe.lower_bounds_).min() >= -1e-12
    assert moe.experts_.df_.max() < 5
    np.testing.assert_allclose(moe.log_likelihood(X, y).sum(), converged, atol=1e-6)


def test_df_recovered_on_a_large_sample():
    """K = 1, nu = 4, n = 20000: the estimate is within 4 asymptotic
    standard errors of the truth. The error comes from the t location-scale
    Fisher information (Lange, Little & Taylor 1989), with the scale
    estimated too (the coefficients are orthogonal to nu)."""
    nu, scale, n = 4.0, 0.5, 20000
    rng = np.random.RandomState(0)
    X = rng.randn(n, 2)
    y = 1 + X @ [2.0, -1.0] + scale * rng.standard_t(nu, n)
    expert = StudentTExpert()
    moe = MixtureOfExpertsRegressor(1, expert=expert, tol=1e-10, random_state=0)
    moe.fit(X, y)
    info_nu = 0.25 * (polygamma(1, nu / 2) - polygamma(1, (nu + 1) / 2)) - (nu + 5) / (
        2 * nu * (nu + 1) * (nu + 3)
    )
    info_cross = -2 / (scale * (nu + 1) * (nu + 3))
    info_scale = 2 * nu / (scale**2 * (nu + 3))
    std_error = 1 / np.sqrt(n * (info_nu - info_cross**2 / info_scale))  # 0.117
    assert abs(moe.experts_.df_[0] - nu) < 4 * std_error
    assert abs(np.sqrt(moe.experts_.noise_variance_[0]) - scale) < 0.02
    np.testing.assert_allclose(moe.experts_.coef_[0], [2.0, -1.0], atol=0.02)
    assert moe.n_iter_ < 60  # the Newton nu-step; plain ECM needs ~3x more


def test_normal_data_push_df_up():
    X, y = _lines(2000, seed=1)
    moe = MixtureOfExpertsRegressor(
        2, expert=StudentTExpert(), tol=1e-8, random_state=0
    ).fit(X, y)
    assert np.all(moe.experts_.df_ > 30)


def test_huge_df_is_the_normal_expert(monkeypatch):
    """With nu pinned at 1e8 every u is 1: the fit is LinearExpert's."""
    plain_em(monkeypatch)  # Student-t experts are not accelerated
    X, Y = _two_outputs(300)
    for covariance_type in ("diag", "full"):
        fits = [
            MixtureOfExpertsRegressor(
                2, expert=expert, tol=1e-10, max_iter=500, random_state=0
            ).fit(X, Y)
            for expert in (
                StudentTExpert(covariance_type=covariance_type, min_df=1e8, max_df=1e8),
                LinearExpert(covariance_type=covariance_type),
            )
        ]
        t, normal = (fit.experts_ for fit in fits)
        np.testing.assert_allclose(t.coef_, normal.coef_, atol=1e-5)
        np.testing.assert_allclose(t.intercept_, normal.intercept_, atol=1e-5)
        np.testing.assert_allclose(t.noise_variance_, normal.noise_variance_, rtol=1e-5)


def test_outliers_do_not_capture_an_expert():
    """5% gross outliers: the t experts stay on the two lines, the normal
    experts do not (one bends towards the outliers)."""
    X, y = _lines(400, seed=0, outliers=0.05)
    truth = np.array([[1.0, -1.0], [1.0, 2.0]])
    errors = {}
    for expert in (StudentTExpert(), LinearExpert()):
        moe = MixtureOfExpertsRegressor(2, expert=expert, n_init=3, random_state=0)
        errors[type(expert).__name__] = np.abs(_sorted_lines(moe.fit(X, y)) - truth)
    assert errors["StudentTExpert"].max() < 0.1
    assert errors["LinearExpert"].max() > 1.0


# ----------------------------------------------------- predictive interface
def test_marginals_and_noise_draws():
    X, y = _lines(300, outliers=0.05)
    moe = MixtureOfExpertsRegressor(2, expert=StudentTExpert(), random_state=0).fit(
        X, y
    )
    fitted = moe.experts_
    means, scales, df = fitted._marginals(X[:5])
    assert means.shape == (5, 2, 1) and scales.shape == (2, 1)
    np.testing.assert_array_equal(df, fitted.df_)
    np.testing.assert_allclose(scales[:, 0] ** 2, fitted.noise_variance_)
    # Each expert's standardized draws follow its t (Kolmogorov-Smirnov).
    rng = np.random.RandomState(0)
    for k in range(2):
        draws = fitted._noise_draw(np.full(4000, k), rng)[:, 0] / scales[k, 0]
        assert stats.kstest(draws, stats.t(df[k]).cdf).pvalue > 1e-3


def test_predict_quantiles_uses_the_t():
    """One expert: the predictive quantiles are the t's."""
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 1)
    y = X[:, 0] + 0.5 * rng.standard_t(3, 3000)
    moe = MixtureOfExpertsRegressor(1, expert=StudentTExpert(), random_state=0)
    moe.fit(X, y)
    quantiles = moe.predict_quantiles(X[:3], [0.05, 0.5, 0.95])
    expected = stats.t.ppf(
        [0.05, 0.5, 0.95],
        moe.experts_.df_[0],
        moe.predict(X[:3])[:, None],
        np.sqrt(moe.experts_.noise_variance_[0]),
    )
    np.testing.assert_allclose(quantiles, expected, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------- estimator API
@pytest.mark.parametrize("solver", ["gd", "sgd", "adam"])
def test_gradient_solvers_are_refused(solver):
    X, y = _lines(100)
    moe = MixtureOfExpertsRegressor(2, expert=StudentTExpert(), solver=solver)
    with pytest.raises(ValueError, match="solver='em'"):
        moe.fit(X, y)


def test_partial_fit_is_refused():
    X, y = _lines(100)
    moe = MixtureOfExpertsRegressor(2, expert=StudentTExpert())
    assert not hasattr(moe, "partial_fit")
    with pytest.raises(AttributeError, match="no attribute 'partial_fit'") as info:
        moe.partial_fit(X, y)
    assert "has no online update; use fit" in str(info.value.__cause__)


def test_invalid_df_bounds():
    X, y = _lines(100)
    with pytest.raises(ValueError, match="min_df"):
        MixtureOfExpertsRegressor(2, expert=StudentTExpert(min_df=5, max_df=2)).fit(
            X, y
        )
    with pytest.raises(ValueError, match="min_df"):
        MixtureOfExpertsRegressor(2, expert=StudentTExpert(min_df=0)).fit(X, y)


def test_clone_pickle_and_parameters():
    expert = StudentTExpert(degree=2, min_df=1.0, max_df=50.0)
    assert clone(expert).get_params() == expert.get_params()
    X, y = _lines(200, outliers=0.05)
    moe = MixtureOfExpertsRegressor(2, expert=expert, random_state=0).fit(X, y)
    assert moe.experts_ is not expert and not hasattr(expert, "df_")
    assert np.all((moe.experts_.df_ >= 1.0) & (moe.experts_.df_ <= 50.0))
    # Fit-time scratch is dropped: a fitted model holds parameters only.
    assert not {"_pending", "_df_fallback", "_floor"} & set(vars(moe.experts_))
    restored = pickle.loads(pickle.dumps(moe))
    np.testing.assert_array_equal(restored.predict(X), moe.predict(X))
    np.testing.assert_array_equal(restored.experts_.df_, moe.experts_.df_)
    # K nu's on top of LinearExpert's count (2 x (3 coefficients + variance))
    # and the gate's (K - 1) x 2.
    assert moe._n_parameters() == 2 * (3 + 1) + 2 + 2
    moe.set_params(expert__max_df=20.0, warm_start=True).fit(X, y)
    assert np.all(moe.experts_.df_ <= 20.0)


def test_sample_weight_two_equals_duplicated_rows():
    X, y = _lines(150, seed=3, outliers=0.05)
    weight = np.where(np.arange(150) % 3 == 0, 2.0, 1.0)
    repeat = weight.astype(int)
    settings = dict(expert=StudentTExpert(), tol=1e-10, max_iter=300, random_state=0)
    weighted = MixtureOfExpertsRegressor(2, **settings).fit(X, y, sample_weight=weight)
    duplicated = MixtureOfExpertsRegressor(2, **settings).fit(
        np.repeat(X, repeat, axis=0), np.repeat(y, repeat)
    )
    for name in ("coef_", "intercept_", "noise_variance_", "df_"):
        np.testing.assert_allclose(
            getattr(weighted.experts_, name),
            getattr(duplicated.experts_, name),
            rtol=1e-6,
        )
    np.testing.assert_allclose(weighted.lower_bound_, duplicated.lower_bound_)


def test_docstring_documents_the_signature():
    doc = inspect.getdoc(StudentTExpert)
    section = re.search(r"^Parameters\n-+\n(.*?)^Attributes", doc, re.S | re.M)
    documented = re.findall(r"^(\w+) :", section.group(1), re.M)
    assert documented == list(inspect.signature(StudentTExpert).parameters)
    assert re.search(r"^Examples\n-+\n\s*>>>", doc, re.M)
