"""Component options: separate gate/expert inputs, polynomial experts, no
intercept, full noise covariances, any scikit-learn estimator as expert, and
the parameter counts behind bic/aic."""

import pickle
import warnings

import numpy as np
import pytest
from _helpers import plain_em
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
)
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import (
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)
from mixexp.experts import (
    EstimatorExpert,
    LinearExpert,
    LogisticExpert,
    StudentTExpert,
)
from mixexp.gates import SoftmaxGate


def _concomitant_problem(n=1500, seed=0):
    """The regime is set by x0 (the gate's input); within a regime y is
    linear in x1 (the experts' input); x2 is noise for both."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 3))
    slope = np.where(X[:, 0] < 0, -1.5, 2.0)
    y = slope * X[:, 1] + np.where(X[:, 0] < 0, 1.0, -1.0) + 0.1 * rng.randn(n)
    return X, y


# ------------------------------------------------- gate and expert features
def test_gate_and_expert_features_use_only_their_columns():
    X, y = _concomitant_problem()
    est = MixtureOfExpertsRegressor(
        2, gate_features=[0], expert_features=[1], random_state=0
    ).fit(X, y)
    assert est.gate_.coef_.shape == (2, 1)
    assert est.experts_.coef_.shape == (2, 1)
    np.testing.assert_allclose(
        np.sort(est.experts_.coef_[:, 0]), [-1.5, 2.0], atol=0.02
    )
    assert est.score(X, y) > 0.99
    # Changing the columns a component does not see changes nothing of it.
    other = X.copy()
    other[:, 1:] = np.random.RandomState(1).uniform(-2, 2, size=(X.shape[0], 2))
    np.testing.assert_array_equal(
        est.predict_gate_proba(X), est.predict_gate_proba(other)
    )
    shuffled = X.copy()
    shuffled[:, [0, 2]] = other[:, [1, 2]]
    np.testing.assert_array_equal(est.predict_experts(X), est.predict_experts(shuffled))
    assert np.all(np.diff(est.lower_bounds_) >= -1e-10 * np.abs(est.lower_bounds_[1:]))


def test_all_features_in_order_is_the_default():
    X, y = _concomitant_problem(400)
    default = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    explicit = MixtureOfExpertsRegressor(
        2, gate_features=[0, 1, 2], expert_features=[0, 1, 2], random_state=0
    ).fit(X, y)
    np.testing.assert_array_equal(default.predict(X), explicit.predict(X))


def test_feature_names_with_pandas_equal_indices():
    pd = pytest.importorskip("pandas")
    X, y = _concomitant_problem(600)
    frame = pd.DataFrame(X, columns=["regime", "dose", "noise"])
    by_name = MixtureOfExpertsRegressor(
        2, gate_features=["regime"], expert_features=["dose"], random_state=0
    ).fit(frame, y)
    by_index = MixtureOfExpertsRegressor(
        2, gate_features=[0], expert_features=[1], random_state=0
    ).fit(X, y)
    np.testing.assert_allclose(by_name.predict(frame), by_index.predict(X), rtol=1e-12)
    np.testing.assert_array_equal(by_name.gate_features_, [0])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"gate_features": ["a"]}, "no column names"),
        ({"expert_features": [3]}, r"column indices in \[0, 3\)"),
        ({"gate_features": []}, "non-empty"),
    ],
)
def test_bad_features_are_refused(options, message):
    X, y = _concomitant_problem(100)
    with pytest.raises(ValueError, match=message):
        MixtureOfExpertsRegressor(2, **options).fit(X, y)


def test_unknown_feature_name_is_refused():
    pd = pytest.importorskip("pandas")
    X, y = _concomitant_problem(100)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"not among the columns.*\['z'\]"):
        MixtureOfExpertsRegressor(2, gate_features=["z"]).fit(frame, y)


def test_classifier_with_separate_features():
    X, y = make_local_classification(800, random_state=0)
    X = np.hstack([X, np.random.RandomState(0).randn(X.shape[0], 1)])
    est = MixtureOfExpertsClassifier(
        4, gate_features=[0, 1], expert_features=[0, 1], random_state=0
    ).fit(X, y)
    assert est.experts_.coef_.shape[-1] == 2
    assert est.score(X, y) > 0.9


# ------------------------------------------------------- linear expert options
def _standardized_ridge(alpha, Z, y, w, fit_intercept=True):
    """Ridge with ``alpha`` per unit of weight on the columns of Z divided by
    their weighted standard deviations; coefficients in Z's units and in
    the standardized units."""
    scale = StandardScaler().fit(Z, sample_weight=w).scale_
    ridge = Ridge(alpha=alpha * w.sum(), fit_intercept=fit_intercept)
    ridge.fit(Z / scale, y, sample_weight=w)
    return ridge.coef_ / scale, ridge.intercept_, ridge.coef_


def _standardized_monomials(X, w, degree=2):
    """The monomials of X standardized by its weighted mean and standard
    deviation: the polynomial experts' design."""
    z = StandardScaler().fit(X, sample_weight=w).transform(X)
    return PolynomialFeatures(degree, include_bias=False).fit_transform(z)


def test_polynomial_expert_is_weighted_ridge_on_monomials():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 2)) + [5.0, -3.0]
    y = 1 + X[:, 0] - 2 * X[:, 1] ** 2 + X[:, 0] * X[:, 1] + 0.1 * rng.randn(300)
    w = rng.uniform(0.5, 2, size=300)
    est = MixtureOfExpertsRegressor(1, expert=LinearExpert(alpha=0.1, degree=2)).fit(
        X, y, sample_weight=w
    )
    Z = _standardized_monomials(X, w)
    coef, intercept, _ = _standardized_ridge(0.1, Z, y, w)
    np.testing.assert_allclose(est.experts_.coef_[0], coef, rtol=1e-7)
    assert est.experts_.intercept_[0] == pytest.approx(intercept, rel=1e-7)
    np.testing.assert_allclose(est.predict(X), Z @ coef + intercept, rtol=1e-7)


def test_polynomial_logistic_expert_is_logistic_regression_on_monomials():
    """One quadratic softmax expert is LogisticRegression(C = 1 / (alpha W))
    on the standardized monomials of the standardized inputs; predictions
    go through phi."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 2)) * [3.0, 0.5] + [10.0, -2.0]
    radius = ((X[:, 0] - 10) / 3) ** 2 + ((X[:, 1] + 2) / 0.5) ** 2
    y = (radius + 0.5 * rng.randn(300) > 1.2).astype(int) + (X[:, 0] > 12)
    w = rng.uniform(0.5, 2, size=300)
    alpha = 1e-2
    est = MixtureOfExpertsClassifier(
        1, expert=LogisticExpert(alpha=alpha, degree=2), tol=1e-12, max_iter=2000
    ).fit(X, y, sample_weight=w)
    Z = _standardized_monomials(X, w)
    scale = StandardScaler().fit(Z, sample_weight=w).scale_
    ref = LogisticRegression(C=1 / (alpha * w.sum()), tol=1e-12, max_iter=10_000)
    ref.fit(Z / scale, y, sample_weight=w)
    assert est.experts_.coef_.shape == (1, 3, 5)
    np.testing.assert_allclose(
        est.predict_proba(X), ref.predict_proba(Z / scale), atol=1e-6
    )
    np.testing.assert_allclose(
        est.predict_experts(X)[:, 0], ref.predict_proba(Z / scale), atol=1e-6
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: MixtureOfExpertsRegressor(1, expert=LinearExpert(degree=2)),
        lambda: MixtureOfExpertsRegressor(2, expert=LinearExpert(degree=3)),
        lambda: MixtureOfExpertsRegressor(2, expert=StudentTExpert(degree=2)),
        lambda: MixtureOfExpertsClassifier(2, expert=LogisticExpert(degree=2)),
    ],
    ids=["linear-1", "cubic-2", "student-2", "logistic-2"],
)
def test_polynomial_experts_ignore_the_units_and_origin_of_the_inputs(make):
    # Before: monomials of raw inputs; shifting yacht's inputs by 100 took a
    # single quadratic expert's test RMSE from 3.8 to 8.4.
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    y = 1 + X[:, 0] - 2 * X[:, 1] ** 2 + X[:, 0] * X[:, 1] + 0.3 * rng.randn(300)
    if isinstance(make(), MixtureOfExpertsClassifier):
        y = (y > np.median(y)).astype(int)
    moved = X * [1e-3, -50.0] + [1e4, 7.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        base = make().set_params(random_state=0).fit(X, y)
        other = make().set_params(random_state=0).fit(moved, y)
    predict = "predict_proba" if hasattr(base, "predict_proba") else "predict"
    np.testing.assert_allclose(
        getattr(other, predict)(moved), getattr(base, predict)(X), atol=1e-6
    )


def test_a_polynomial_expert_without_intercept_keeps_its_origin():
    """Without an intercept the inputs are scaled, not centred: the expert
    is weighted ridge without intercept on the monomials of x / rms(x), it
    passes through the origin, and the units of the inputs do not matter."""
    rng = np.random.RandomState(0)
    X = rng.uniform(1, 3, size=(200, 2))
    y = X[:, 0] ** 2 - X[:, 0] * X[:, 1] + 0.1 * rng.randn(200)
    w = rng.uniform(0.5, 2, size=200)
    make = lambda: MixtureOfExpertsRegressor(  # noqa: E731
        1, expert=LinearExpert(alpha=0.1, degree=2, fit_intercept=False)
    )
    est = make().fit(X, y, sample_weight=w)
    rms = np.sqrt(np.average(X**2, axis=0, weights=w))
    Z = PolynomialFeatures(2, include_bias=False).fit_transform(X / rms)
    coef, _, _ = _standardized_ridge(0.1, Z, y, w, fit_intercept=False)
    np.testing.assert_allclose(est.experts_.coef_[0], coef, rtol=1e-7)
    assert est.predict(np.zeros((1, 2)))[0] == 0.0
    scaled = make().fit(X * [10.0, 0.1], y, sample_weight=w)
    np.testing.assert_allclose(scaled.predict(X * [10.0, 0.1]), est.predict(X))


@pytest.mark.parametrize("continued", ["warm_start", "partial_fit"])
def test_a_polynomial_expert_keeps_its_standardization_when_continued(continued):
    """The coefficients are on the first fit's standardized inputs: a warm
    start or a later batch on rows from elsewhere continues them on it."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    y = X[:, 0] ** 2 - X[:, 1] + 0.1 * rng.randn(300)
    model = MixtureOfExpertsRegressor(
        2, expert=LinearExpert(degree=2), random_state=0, warm_start=True
    )
    fit = getattr(model, "fit" if continued == "warm_start" else continued)
    fit(X, y)
    mean, scale = model.experts_.input_mean_, model.experts_.input_scale_
    np.testing.assert_allclose(mean, np.average(X, axis=0))
    np.testing.assert_allclose(scale, np.std(X, axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit(3 * X + 5, y)
    assert np.array_equal(model.experts_.input_mean_, mean)
    assert np.array_equal(model.experts_.input_scale_, scale)
    if continued == "warm_start":  # EM converged on the new rows
        assert model.score(3 * X + 5, y) > 0.9


def test_no_intercept_expert_is_ridge_without_intercept():
    rng = np.random.RandomState(1)
    X = rng.standard_normal((200, 3)) + 2.0
    y = X @ [1.0, -1.0, 0.5] + 0.2 * rng.randn(200)
    w = rng.uniform(0.5, 2, size=200)
    est = MixtureOfExpertsRegressor(
        1, expert=LinearExpert(alpha=0.5, fit_intercept=False)
    ).fit(X, y, sample_weight=w)
    coef, _, standardized = _standardized_ridge(0.5, X, y, w, fit_intercept=False)
    np.testing.assert_allclose(est.experts_.coef_[0], coef, rtol=1e-8)
    assert est.experts_.intercept_[0] == 0.0
    resid = y - X @ coef
    expected = (w @ resid**2 + 0.5 * w.sum() * standardized @ standardized) / w.sum()
    assert est.experts_.noise_variance_[0] == pytest.approx(expected, rel=1e-8)


def test_no_intercept_with_gradient_solver_keeps_intercept_zero():
    X, y = make_piecewise_linear(300, random_state=0)
    est = MixtureOfExpertsRegressor(
        2, expert=LinearExpert(fit_intercept=False), solver="gd", max_iter=30
    )
    with pytest.warns(Warning):
        est.fit(X, y)
    np.testing.assert_array_equal(est.experts_.intercept_, 0.0)


def _correlated_outputs(n=3000, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    noise = rng.multivariate_normal([0, 0], [[0.04, 0.036], [0.036, 0.09]], size=n)
    left = X[:, 0] < 0
    Y = np.column_stack([np.where(left, X[:, 1], -X[:, 1]), np.where(left, 1, -1.0)])
    return X, Y + noise


def test_full_covariance_single_expert_matches_ridge_and_residual_covariance():
    X, Y = _correlated_outputs(500)
    w = np.random.RandomState(0).uniform(0.5, 2, size=500)
    est = MixtureOfExpertsRegressor(
        1, expert=LinearExpert(alpha=0.3, covariance_type="full")
    ).fit(X, Y, sample_weight=w)
    coef, intercept, standardized = _standardized_ridge(0.3, X, Y, w)
    np.testing.assert_allclose(est.experts_.coef_[0], coef, rtol=1e-8)
    resid = Y - X @ coef.T - intercept
    scatter = (w[:, None] * resid).T @ resid
    scatter += 0.3 * w.sum() * standardized @ standardized.T
    # The floor (1e-6 of the variance of y) is far below the residual
    # covariance's eigenvalues, so it does not bind.
    expected = scatter / w.sum()
    np.testing.assert_allclose(est.experts_.noise_covariance_[0], expected, rtol=1e-8)
    np.testing.assert_allclose(
        est.experts_.noise_variance_,
        np.diagonal(est.experts_.noise_covariance_, 0, 1, 2),
    )


def test_full_covariance_log_likelihood_matches_scipy():
    X, Y = _correlated_outputs(400)
    est = MixtureOfExpertsRegressor(
        2, expert=LinearExpert(covariance_type="full"), random_state=0
    ).fit(X, Y)
    gate = est.predict_gate_proba(X)
    means = est.predict_experts(X)
    density = sum(
        gate[:, k]
        * np.array(
            [
                multivariate_normal.pdf(
                    Y[i], means[i, k], est.experts_.noise_covariance_[k]
                )
                for i in range(X.shape[0])
            ]
        )
        for k in range(2)
    )
    np.testing.assert_allclose(est.log_likelihood(X, Y), np.log(density), rtol=1e-9)


def test_full_covariance_captures_correlated_noise():
    X, Y = _correlated_outputs()
    diag = MixtureOfExpertsRegressor(2, random_state=0).fit(X, Y)
    full = MixtureOfExpertsRegressor(
        2, expert=LinearExpert(covariance_type="full"), random_state=0
    ).fit(X, Y)
    assert np.all(
        np.diff(full.lower_bounds_) >= -1e-10 * np.abs(full.lower_bounds_[1:])
    )
    # The noise correlation is 0.036 / sqrt(0.04 * 0.09) = 0.6 in both regimes.
    cov = full.experts_.noise_covariance_
    corr = cov[:, 0, 1] / np.sqrt(cov[:, 0, 0] * cov[:, 1, 1])
    np.testing.assert_allclose(corr, 0.6, atol=0.05)
    assert full.log_likelihood(X, Y).mean() > diag.log_likelihood(X, Y).mean() + 0.1
    np.testing.assert_allclose(
        np.sort(full.experts_.coef_[:, 0, 1]), [-1.0, 1.0], atol=0.02
    )


def test_full_covariance_needs_em():
    X, Y = _correlated_outputs(200)
    est = MixtureOfExpertsRegressor(
        2, expert=LinearExpert(covariance_type="full"), solver="gd"
    )
    with pytest.raises(ValueError, match="solver='em'"):
        est.fit(X, Y)


# ------------------------------------------------------ scikit-learn experts
def test_tree_experts_fit_piecewise_data_and_never_lower_the_likelihood():
    X, y = make_piecewise_linear(1000, noise=0.1, random_state=0)
    est = MixtureOfExpertsRegressor(
        3, expert=DecisionTreeRegressor(max_depth=4, random_state=0), random_state=0
    ).fit(X, y)
    assert isinstance(est.experts_, EstimatorExpert)
    assert len(est.experts_.estimators_) == 3
    assert est.score(X, y) > 0.97
    bounds = est.lower_bounds_
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))


def test_ridge_estimator_expert_equals_linear_expert():
    X, y = make_mixture_regression(400, n_features=3, n_experts=1, random_state=0)
    w = np.random.RandomState(0).uniform(0.5, 2, size=400)
    wrapped = MixtureOfExpertsRegressor(1, expert=Ridge(alpha=1e-13)).fit(
        X, y, sample_weight=w
    )
    native = MixtureOfExpertsRegressor(1, expert=LinearExpert(alpha=1e-13)).fit(
        X, y, sample_weight=w
    )
    np.testing.assert_allclose(
        wrapped.predict(X), native.predict(X), rtol=1e-7, atol=1e-9
    )
    np.testing.assert_allclose(
        wrapped.experts_.noise_variance_, native.experts_.noise_variance_, rtol=1e-8
    )
    np.testing.assert_allclose(
        wrapped.log_likelihood(X, y), native.log_likelihood(X, y), atol=1e-8
    )


def test_estimator_experts_with_sample_weight_equal_repeated_rows():
    """Wrapped estimators see the weights divided by their mean (so their
    scale does not matter): an estimator with an absolute penalty, such as
    Ridge(alpha), then sees a weight-2 row and two copies of it against
    different totals, so the check uses one without."""
    X, y = make_piecewise_linear(200, random_state=1)
    w = np.random.RandomState(0).randint(0, 3, size=200)
    est = MixtureOfExpertsRegressor(2, expert=LinearRegression(), random_state=0)
    weighted = clone(est).fit(X, y, sample_weight=w)
    repeated = clone(est).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-7)


def test_logistic_estimator_expert_equals_logistic_regression():
    rng = np.random.RandomState(4)
    X = rng.standard_normal((300, 3))
    y = (X @ [1.0, -1.0, 0.5] + rng.logistic(size=300) > 0).astype(int)
    est = MixtureOfExpertsClassifier(
        1, expert=LogisticRegression(C=1.0, tol=1e-10)
    ).fit(X, y)
    ref = LogisticRegression(C=1.0, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), atol=1e-8)


def test_tree_classifier_experts():
    X, y = make_local_classification(800, random_state=0)
    est = MixtureOfExpertsClassifier(
        3, expert=DecisionTreeClassifier(max_depth=3, random_state=0), random_state=0
    ).fit(X, y)
    assert est.score(X, y) > 0.9
    assert est.predict_experts(X).shape == (800, 3, 2)
    assert np.all(np.diff(est.lower_bounds_) >= -1e-10 * np.abs(est.lower_bounds_[1:]))


def test_sparse_routing_with_estimator_experts_equals_masked_dense():
    X, y = make_piecewise_linear(600, random_state=0)
    est = MixtureOfExpertsRegressor(
        4, top_k=2, expert=DecisionTreeRegressor(max_depth=3), random_state=0
    ).fit(X, y)
    dense = np.einsum("nk,nk->n", est.predict_gate_proba(X), est.predict_experts(X))
    np.testing.assert_allclose(est.predict(X), dense, rtol=1e-12)


@pytest.mark.parametrize(
    "estimator, options, error, message",
    [
        (
            EstimatorExpert(KNeighborsRegressor(), assignment="weights"),
            {},
            TypeError,
            "sample_weight",
        ),
        (DecisionTreeClassifier(), {}, ValueError, "not a regression expert"),
        (DecisionTreeRegressor(), {"solver": "gd"}, ValueError, "solver='em'"),
        (LogisticExpert(), {}, ValueError, "not a regression expert"),
        (SoftmaxGate(), {}, TypeError, "neither a mixexp expert"),
    ],
)
def test_unusable_experts_are_refused(estimator, options, error, message):
    X, y = make_piecewise_linear(100, random_state=0)
    with pytest.raises(error, match=message):
        MixtureOfExpertsRegressor(2, expert=estimator, **options).fit(X, y)


def test_estimator_experts_are_not_shared_between_fits():
    X, y = make_piecewise_linear(300, random_state=0)
    tree = DecisionTreeRegressor(max_depth=2)
    est = MixtureOfExpertsRegressor(2, expert=tree, random_state=0).fit(X, y)
    assert not hasattr(tree, "tree_")  # the user's estimator stays unfitted
    first = est.experts_.estimators_
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    est.fit(X[:150], y[:150])
    assert all(a is not b for a, b in zip(first, est.experts_.estimators_, strict=True))


def test_grid_search_over_nested_component_parameters():
    X, y = make_piecewise_linear(400, random_state=0)
    grid = GridSearchCV(
        MixtureOfExpertsRegressor(3, expert=DecisionTreeRegressor(), random_state=0),
        {"expert__max_depth": [1, 4]},
        cv=3,
    ).fit(X, y)
    assert grid.best_params_ == {"expert__max_depth": 4}


def test_a_gate_is_not_an_expert_and_an_expert_not_a_gate():
    X, y = make_piecewise_linear(100, random_state=0)
    with pytest.raises(TypeError, match="not a mixexp gate"):
        MixtureOfExpertsRegressor(2, gate=LinearExpert()).fit(X, y)


def test_bic_needs_a_parameter_count():
    X, y = make_piecewise_linear(200, random_state=0)
    est = MixtureOfExpertsRegressor(2, expert=DecisionTreeRegressor(max_depth=2))
    with pytest.raises(ValueError, match="no parameter count"):
        est.fit(X, y).bic(X, y)


# --------------------------------------------------------- parameter counts
@pytest.mark.parametrize(
    "expert, n_outputs, expected",
    [
        # gate (K - 1)(d + 1) = 2 * 4; experts K (d + 1 + 1) = 3 * 5
        (LinearExpert(), 1, 8 + 15),
        # experts K m (d + 1 + 1) = 3 * 2 * 5
        (LinearExpert(), 2, 8 + 30),
        # experts K (m (d + 1) + m (m + 1) / 2) = 3 * (8 + 3)
        (LinearExpert(covariance_type="full"), 2, 8 + 33),
        # degree 2 in 3 inputs: 9 monomials; experts K (9 + 1 + 1)
        (LinearExpert(degree=2), 1, 8 + 33),
        # no intercept: experts K (d + 1)
        (LinearExpert(fit_intercept=False), 1, 8 + 12),
    ],
)
def test_regressor_parameter_count_by_hand(expert, n_outputs, expected):
    X, y = make_mixture_regression(
        300, n_features=3, n_experts=3, n_outputs=n_outputs, random_state=0
    )
    est = MixtureOfExpertsRegressor(3, expert=expert, random_state=0).fit(X, y)
    assert est._n_parameters() == expected
    log_lik = est.log_likelihood(X, y).sum()
    assert est.bic(X, y) == pytest.approx(-2 * log_lik + expected * np.log(300))
    assert est.aic(X, y) == pytest.approx(-2 * log_lik + 2 * expected)


def test_classifier_and_feature_subset_parameter_counts_by_hand():
    X, y = make_local_classification(400, random_state=0)
    X = np.hstack([X, X[:, :1] ** 2])  # 3 features
    y3 = np.where(X[:, 2] > 1, 2, y)  # 3 classes
    est = MixtureOfExpertsClassifier(2, random_state=0).fit(X, y3)
    # gate (K - 1)(d + 1) = 4; experts K (C - 1)(d + 1) = 2 * 2 * 4
    assert est._n_parameters() == 4 + 16
    sub = MixtureOfExpertsRegressor(
        3, gate_features=[0], expert_features=[1, 2], random_state=0
    ).fit(X, X[:, 0] * X[:, 1])
    # gate (K - 1)(1 + 1) = 4; experts K (2 + 2) = 12
    assert sub._n_parameters() == 4 + 12


def test_full_covariance_online_matches_batch():
    X, Y = make_mixture_regression(3000, n_outputs=2, random_state=0)
    expert = LinearExpert(covariance_type="full")
    online = MixtureOfExpertsRegressor(2, expert=expert, random_state=0)
    for _ in range(3):
        for batch in np.array_split(np.arange(3000), 20):
            online.partial_fit(X[batch], Y[batch])
    batch_fit = MixtureOfExpertsRegressor(2, expert=expert, random_state=0).fit(X, Y)
    assert online.log_likelihood(X, Y).mean() == pytest.approx(
        batch_fit.log_likelihood(X, Y).mean(), abs=0.01
    )


def test_partial_fit_refuses_estimator_experts():
    X, y = make_piecewise_linear(100, random_state=0)
    est = MixtureOfExpertsRegressor(2, expert=DecisionTreeRegressor())
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError, match="no attribute 'partial_fit'") as info:
        est.partial_fit(X, y)
    assert "has no online update; use fit" in str(info.value.__cause__)


def test_full_covariance_with_one_output_is_the_diagonal_model(monkeypatch):
    plain_em(monkeypatch)  # full covariances are not accelerated
    X, y = make_piecewise_linear(500, random_state=0)
    diag = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y[:, None])
    full = MixtureOfExpertsRegressor(
        3, expert=LinearExpert(covariance_type="full"), random_state=0
    ).fit(X, y[:, None])
    # With one output the floor is a lower bound in both: the same model.
    np.testing.assert_allclose(full.predict(X), diag.predict(X), rtol=1e-7)
    np.testing.assert_allclose(
        full.experts_.noise_covariance_[:, 0, 0],
        diag.experts_.noise_variance_[:, 0],
        rtol=1e-9,
    )
    np.testing.assert_allclose(full.lower_bounds_, diag.lower_bounds_, rtol=1e-9)


@pytest.mark.parametrize(
    "estimator",
    [
        pytest.param("SVR", id="SVR"),
        pytest.param("KernelRidge", id="KernelRidge"),
        pytest.param("HistGradientBoostingRegressor", id="HistGradientBoosting"),
    ],
)
def test_common_sklearn_regressors_as_experts(estimator):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.svm import SVR

    expert = {
        "SVR": SVR(C=10.0),
        "KernelRidge": KernelRidge(alpha=0.1, kernel="rbf"),
        "HistGradientBoostingRegressor": HistGradientBoostingRegressor(max_iter=30),
    }[estimator]
    X, y = make_piecewise_linear(400, noise=0.2, random_state=0)
    est = MixtureOfExpertsRegressor(2, expert=expert, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.score(X, y) > 0.9
    bounds = est.lower_bounds_
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))


def test_warm_start_refuses_a_changed_component_type_and_features():
    X, y = make_piecewise_linear(300, random_state=0)
    est = MixtureOfExpertsRegressor(2, warm_start=True, random_state=0).fit(X, y)
    before = est.predict(X)
    est.set_params(expert=DecisionTreeRegressor())
    with pytest.raises(ValueError, match="expert changed from LinearExpert"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict(X), before)
    X2 = np.hstack([X, X])
    est = MixtureOfExpertsRegressor(2, warm_start=True, random_state=0).fit(X2, y)
    est.set_params(gate_features=[0])
    with pytest.raises(ValueError, match="gate_features changed from"):
        est.fit(X2, y)
    # A changed setting of the same component is applied.
    est = MixtureOfExpertsRegressor(
        2, expert=LinearExpert(), warm_start=True, random_state=0
    ).fit(X, y)
    est.set_params(expert__alpha=5.0).fit(X, y)
    assert est.experts_.alpha == 5.0


@pytest.mark.parametrize(
    ("n_experts", "n_features", "expected"),
    [(16, 29, "newton"), (16, 30, "block"), (31, 14, "newton"), (32, 14, "block")],
)
def test_auto_gate_solver_is_newton_up_to_450_free_parameters(
    n_experts, n_features, expected
):
    # (K - 1)(d + 1): 15 * 30 = 450, 15 * 31 = 465, 30 * 15 = 450, 31 * 15 = 465
    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((200, n_features)), rng.standard_normal(200)
    model = MixtureOfExpertsRegressor(n_experts, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    assert model.gate_.solver_ == expected


# ------------------------------------- reproducibility of wrapped estimators
def _random_estimators():
    from sklearn.ensemble import BaggingRegressor, RandomForestRegressor
    from sklearn.tree import ExtraTreeRegressor

    return {
        "tree": DecisionTreeRegressor(max_features=0.5, max_depth=4),
        "extra_tree": ExtraTreeRegressor(max_depth=4),
        "forest": RandomForestRegressor(n_estimators=5, max_depth=3),
        # A nested random_state too (estimator__random_state).
        "bagging": BaggingRegressor(ExtraTreeRegressor(max_depth=4), n_estimators=3),
    }


@pytest.mark.parametrize("name", list(_random_estimators()))
def test_random_estimator_experts_are_seeded_from_random_state(name):
    """Two fits with the same random_state give the same model, whatever the
    global numpy state; another random_state gives another model."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (300, 4))
    y = np.where(X[:, 0] < 0, X[:, 1], -X[:, 2]) + 0.1 * rng.randn(300)

    def fit(random_state, global_seed):
        np.random.seed(global_seed)  # noqa: NPY002 (the legacy global state is the point)
        expert = clone(_random_estimators()[name])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return MixtureOfExpertsRegressor(
                2, expert=expert, random_state=random_state, max_iter=5
            ).fit(X, y)

    first, again, other = fit(0, 1), fit(0, 2), fit(1, 1)
    np.testing.assert_array_equal(again.predict(X), first.predict(X))
    assert not np.allclose(other.predict(X), first.predict(X))


# ---------------------------------------------------- experts it cannot use
@pytest.mark.parametrize(
    "make",
    [
        lambda: LinearSVC(),
        lambda: SGDClassifier(loss="hinge"),
        lambda: SVC(),
    ],
    ids=["LinearSVC", "SGDClassifier-hinge", "SVC-no-probability"],
)
def test_classifier_experts_without_predict_proba_are_refused(make):
    """The likelihood of a classification expert is its predict_proba: one
    without it is refused before any fitting, naming estimators that
    qualify, and a fitted model is left as it was."""
    X, y = make_local_classification(200, random_state=0)
    est = MixtureOfExpertsClassifier(2, random_state=0).fit(X, y)
    before = est.predict_proba(X)
    est.set_params(expert=make())
    with pytest.raises(TypeError, match="predict_proba.*LogisticRegression"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), before)


def test_regressor_experts_without_sample_weight_name_those_that_qualify():
    X, y = make_piecewise_linear(100, random_state=0)
    est = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    before = est.predict(X)
    est.set_params(expert=EstimatorExpert(KNeighborsRegressor(), assignment="weights"))
    with pytest.raises(
        TypeError, match="sample_weight.*assignment='auto'.*DecisionTreeRegressor"
    ):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict(X), before)


@pytest.mark.parametrize("degree, scale", [(2, 1e80), (3, 1e52), (8, 1e20)])
def test_polynomial_features_that_overflow_are_refused(degree, scale):
    """Inputs are standardized before their monomials, so large ones fit as
    small ones do; but at predict time z ** degree of inputs far outside the
    training rows must not overflow: the error says so, and the fitted model
    is left intact."""
    rng = np.random.RandomState(0)
    X, y = rng.uniform(-1, 1, (100, 2)), rng.standard_normal(100)
    est = MixtureOfExpertsRegressor(
        2, expert=LinearExpert(degree=degree), random_state=0
    ).fit(X, y)
    before = est.predict(X)
    scaled = clone(est).fit(X * scale, y)
    np.testing.assert_allclose(scaled.predict(X * scale), before, rtol=1e-6)
    with pytest.raises(ValueError, match="polynomial.*standard deviations"):
        est.predict(X * scale)
    np.testing.assert_array_equal(est.predict(X), before)


def test_degree_must_be_an_integer_not_a_bool():
    X, y = make_piecewise_linear(100, random_state=0)
    with pytest.raises(ValueError, match="degree"):
        MixtureOfExpertsRegressor(2, expert=LinearExpert(degree=True)).fit(X, y)


@pytest.mark.parametrize("weight", [1e308, np.finfo(float).max])
def test_weights_whose_sum_overflows_fit_like_unit_weights(weight):
    X, y = make_piecewise_linear(200, random_state=0)
    unit = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    huge = MixtureOfExpertsRegressor(2, random_state=0).fit(
        X, y, sample_weight=np.full(200, weight)
    )
    np.testing.assert_allclose(huge.predict(X), unit.predict(X), rtol=1e-9)
    assert huge.lower_bound_ == pytest.approx(unit.lower_bound_, rel=1e-10)


# ------------------------------------------------ evidence-chosen ridges
def _log_evidence(X, y, weights, penalty):
    """Log evidence (up to a constant) of a Bayesian ridge regression on the
    rows weighted by ``weights``, the intercept flat, the noise variance
    profiled out: written from the determinant, the slow way."""
    n = weights.sum()
    Xc = X - weights @ X / n
    yc = y - weights @ y / n
    gram = Xc.T @ (weights[:, None] * Xc)
    cross = Xc.T @ (weights * yc)
    system = gram + penalty * np.eye(X.shape[1])
    rss = weights @ yc**2 - cross @ np.linalg.solve(system, cross)
    logdet = np.linalg.slogdet(system)[1] - X.shape[1] * np.log(penalty)
    return -0.5 * n * np.log(rss) - 0.5 * logdet


def _standardized(X, weights):
    mean = weights @ X / weights.sum()
    std = np.sqrt(weights @ (X - mean) ** 2 / weights.sum())
    return (X - mean) / std


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_evidence_ridge_of_one_expert_is_bayesian_ridge(n_outputs):
    """With one expert the evidence M-step is BayesianRidge without its
    Gamma hyperpriors, on each output; integer weights count as rows."""
    from sklearn.linear_model import BayesianRidge

    rng = np.random.RandomState(0)
    weights = rng.randint(1, 4, size=120)
    X = _standardized(rng.normal(size=(120, 5)), weights.astype(float))
    Y = X @ rng.normal(scale=0.3, size=(5, n_outputs)) + rng.normal(
        size=(120, n_outputs)
    )
    est = MixtureOfExpertsRegressor(1, expert=LinearExpert(alpha="evidence"))
    est.fit(X, Y[:, 0] if n_outputs == 1 else Y, sample_weight=weights)
    coef = est.experts_.coef_.reshape(n_outputs, 5)
    alpha = est.experts_.alpha_.reshape(n_outputs)
    for output in range(n_outputs):
        reference = BayesianRidge(
            alpha_1=0, alpha_2=0, lambda_1=0, lambda_2=0, tol=1e-12, max_iter=10_000
        ).fit(X.repeat(weights, axis=0), Y[:, output].repeat(weights))
        np.testing.assert_allclose(coef[output], reference.coef_, rtol=1e-6)
        np.testing.assert_allclose(
            alpha[output] * weights.sum(),
            reference.lambda_ / reference.alpha_,
            rtol=1e-6,
        )


def test_each_experts_ridge_maximizes_the_evidence_of_its_rows():
    X, y = make_piecewise_linear(600, random_state=0)
    X = np.column_stack([X, np.random.RandomState(1).normal(size=(600, 3))])
    X = _standardized(X, np.ones(600))
    est = MixtureOfExpertsRegressor(
        2,
        expert=LinearExpert(alpha="evidence"),
        random_state=0,
        tol=1e-12,
        max_iter=2000,
    ).fit(X, y)
    assert est.converged_
    resp = est.responsibilities(X, y)
    grid = np.exp(np.linspace(np.log(1e-3), np.log(1e4), 4001))
    for k in range(2):
        chosen = est.experts_.alpha_[k] * 600
        curve = [_log_evidence(X, y, resp[:, k], penalty) for penalty in grid]
        best = grid[int(np.argmax(curve))]
        assert chosen == pytest.approx(best, rel=0.01)
        assert _log_evidence(X, y, resp[:, k], chosen) >= max(curve) - 1e-9
        # The coefficients are the weighted ridge at that penalty (the inputs
        # are standardized over all rows, the units the prior is set in).
        ridge = Ridge(alpha=chosen).fit(X, y, sample_weight=resp[:, k])
        np.testing.assert_allclose(est.experts_.coef_[k], ridge.coef_, rtol=1e-5)
        assert est.experts_.intercept_[k] == pytest.approx(ridge.intercept_, rel=1e-5)


def test_evidence_ridge_weights_equal_repeated_rows():
    rng = np.random.RandomState(0)
    X, y = make_piecewise_linear(200, random_state=1)
    est = MixtureOfExpertsRegressor(
        3, expert=LinearExpert(alpha="evidence", degree=2), random_state=0
    )
    weights = rng.randint(0, 4, size=200)
    weighted = clone(est).fit(X, y, sample_weight=weights)
    order = rng.permutation(int(weights.sum()))
    repeated = clone(est).fit(
        X.repeat(weights, axis=0)[order], y.repeat(weights)[order]
    )
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6)
    np.testing.assert_allclose(
        weighted.experts_.alpha_, repeated.experts_.alpha_, rtol=1e-6
    )


def test_evidence_ridge_shrinks_an_expert_without_signal_to_a_constant():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    y = rng.normal(size=300)  # nothing to explain
    est = MixtureOfExpertsRegressor(1, expert=LinearExpert(alpha="evidence")).fit(X, y)
    assert est.experts_.alpha_[0] > 1e3
    assert np.abs(est.experts_.coef_).max() < 1e-3


@pytest.mark.parametrize(
    "options, error, message",
    [
        (
            {"expert": LinearExpert(alpha="evidence", covariance_type="full")},
            ValueError,
            "covariance_type='diag'",
        ),
        (
            {"expert": LinearExpert(alpha="evidence"), "solver": "gd"},
            ValueError,
            "solver",
        ),
        ({"expert": StudentTExpert(alpha="evidence")}, ValueError, "alpha"),
    ],
)
def test_evidence_ridge_needs_em_and_diagonal_noise(options, error, message):
    X, Y = _correlated_outputs(100)
    with pytest.raises(error, match=message):
        MixtureOfExpertsRegressor(2, **options).fit(X, Y)


def test_evidence_ridge_keeps_its_penalties_through_pruning_and_inference():
    from mixexp.inference import coef_table

    X, y = make_piecewise_linear(300, random_state=0)
    evidence = MixtureOfExpertsRegressor(
        1, expert=LinearExpert(alpha="evidence"), tol=1e-12, max_iter=500
    ).fit(X, y)
    fixed = MixtureOfExpertsRegressor(
        1, expert=LinearExpert(alpha=float(evidence.experts_.alpha_[0])), tol=1e-12
    ).fit(X, y)
    np.testing.assert_allclose(
        coef_table(evidence, X, y)["std_error"],
        coef_table(fixed, X, y)["std_error"],
        rtol=1e-6,
    )
    many = MixtureOfExpertsRegressor(
        8, expert=LinearExpert(alpha="evidence"), random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        many.fit(X[:40], y[:40])
    assert many.experts_.alpha_.shape == (many.n_experts_,)
    assert np.all(np.isfinite(many.predict(X)))
    online = MixtureOfExpertsRegressor(
        2, expert=LinearExpert(alpha="evidence"), random_state=0
    )
    for rows in np.array_split(np.arange(300), 3):
        online.partial_fit(X[rows], y[rows])
    assert online.experts_.alpha_.shape == (2,)
    assert online.score(X, y) > 0.5
