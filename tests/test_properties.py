"""Properties over random shapes, seeds and data (hypothesis), degenerate
training constructed on purpose, and a bounded fuzz of fit/predict."""

import contextlib
import copy
import warnings

import numpy as np
import pytest
from _helpers import fit_recording_reseeds
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsRegressor

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.datasets import make_local_classification, make_mixture_regression
from mixexp.experts import (
    EstimatorExpert,
    GaussianProcessExpert,
    LinearExpert,
    PoissonExpert,
    StudentTExpert,
)
from mixexp.gates import ConstantGate, GaussianGate

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples every run: CI is reproducible
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def problems(draw, classification=False):
    """Random data from a random mixture: shapes, seed, weights."""
    n = draw(st.integers(30, 120))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d)) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    regime = X[:, 0] > np.median(X[:, 0])
    if classification:
        y = (X @ rng.standard_normal(d) * np.where(regime, 1, -1) > 0).astype(int)
        if np.unique(y).size < 2:
            y[: n // 2] = 1 - y[: n // 2]
    else:
        y = X @ rng.standard_normal(d) + np.where(regime, 2.0, -2.0)
        y += rng.standard_normal(n) * draw(st.sampled_from([0.01, 0.3]))
    return X, y, seed


@contextlib.contextmanager
def _quiet():
    """No RuntimeWarning allowed; convergence and re-seeding notices muted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Expert.*re-seeded", UserWarning)
        warnings.simplefilter("error", RuntimeWarning)
        yield


MONOTONE = [
    lambda seed: MixtureOfExpertsRegressor(3, random_state=seed, tol=0, max_iter=15),
    lambda seed: MixtureOfExpertsRegressor(
        2, gate=GaussianGate(), random_state=seed, tol=0, max_iter=15
    ),
    lambda seed: MixtureOfExpertsRegressor(
        2, gate=ConstantGate(), random_state=seed, tol=0, max_iter=15
    ),
    lambda seed: MixtureOfExpertsRegressor(
        2, expert=StudentTExpert(), random_state=seed, tol=0, max_iter=15
    ),
    lambda seed: HierarchicalMixtureOfExpertsRegressor(
        depth=2, random_state=seed, tol=0, max_iter=15
    ),
    lambda seed: MixtureOfExpertsRegressor(
        2, expert=PoissonExpert(), random_state=seed, tol=0, max_iter=15
    ),
    # Leave-one-out densities in the E-step, Q-tested GP candidates.
    lambda seed: MixtureOfExpertsRegressor(
        2, expert=GaussianProcessExpert(), random_state=seed, tol=0, max_iter=8
    ),
    # Clones fitted on rows drawn or assigned by the responsibilities.
    lambda seed: MixtureOfExpertsRegressor(
        2, expert=KNeighborsRegressor(), random_state=seed, tol=0, max_iter=15
    ),
    lambda seed: MixtureOfExpertsRegressor(
        2,
        expert=EstimatorExpert(KNeighborsRegressor(), assignment="hard"),
        random_state=seed,
        tol=0,
        max_iter=15,
    ),
]


def _targets_for(model, y, seed):
    """y as the model's experts need it: counts for Poisson experts, drawn
    with the standardized y as log-mean (so the regimes stay)."""
    if not isinstance(getattr(model, "expert", None), PoissonExpert):
        return y
    z = np.clip((y - y.mean()) / (y.std() + 1e-12), -3.0, 3.0)
    return np.random.RandomState(seed).poisson(np.exp(1.0 + z))


@pytest.mark.parametrize("make", MONOTONE)
@SETTINGS
@given(problem=problems())
def test_em_never_lowers_the_likelihood(make, problem):
    """Re-seeding a dead expert restarts it where the mixture is worst and
    may lower the bound (as documented): those iterations are not checked."""
    X, y, seed = problem
    model = make(seed)
    with _quiet():
        model, reseeded = fit_recording_reseeds(model, X, _targets_for(model, y, seed))
    bounds = model.lower_bounds_
    checked = ~reseeded[1:]  # iteration i + 1 moved bounds[i] to bounds[i + 1]
    floor = -1e-9 * (1 + np.abs(bounds[:-1]))
    assert np.all(np.diff(bounds)[checked] >= floor[checked])


@st.composite
def multi_output_problems(draw):
    """Piecewise targets with one to three outputs, from noisy to nearly
    exact and nearly collinear (where the noise floor binds)."""
    n = draw(st.integers(40, 120))
    d = draw(st.integers(1, 2))
    n_outputs = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    noise = draw(st.sampled_from([1e-3, 0.05, 0.3]))
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, (n, d))
    base = np.where(X[:, 0] < 0, X @ rng.standard_normal(d), X[:, 0] ** 2)
    Y = np.outer(base, rng.uniform(0.5, 2, n_outputs))
    Y += noise * rng.standard_normal((n, n_outputs)) * rng.uniform(0.01, 1, n_outputs)
    return X, Y, seed


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
@pytest.mark.parametrize("kind", [LinearExpert, StudentTExpert])
@settings(SETTINGS, max_examples=40)
@given(
    problem=multi_output_problems(),
    degree=st.integers(1, 3),
    n_experts=st.integers(3, 4),
)
def test_em_never_lowers_the_likelihood_of_multi_output_experts(
    kind, covariance_type, problem, degree, n_experts
):
    """Covariance type x polynomial degree x number of outputs: the bound
    never decreases by more than rounding (1e-10 of its size), re-seeds
    aside (they restart an expert and may lower it)."""
    X, Y, seed = problem
    expert = kind(degree=degree, covariance_type=covariance_type)
    model = MixtureOfExpertsRegressor(
        n_experts, expert=expert, random_state=seed, tol=0, max_iter=30
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("always", UserWarning)
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(X, Y)
    # Re-seeds and pruning restart part of the model and may lower the bound.
    assume(not any(str(w.message).startswith("Expert") for w in caught))
    bounds = model.lower_bounds_
    assert np.all(np.diff(bounds) >= -1e-10 * (1 + np.abs(bounds[:-1])))


@SETTINGS
@given(problem=problems(classification=True))
def test_classifier_em_never_lowers_the_likelihood(problem):
    X, y, seed = problem
    with _quiet():
        model = MixtureOfExpertsClassifier(2, random_state=seed, tol=0, max_iter=15)
        model.fit(X, y)
    bounds = model.lower_bounds_
    assert np.all(np.diff(bounds) >= -1e-9 * (1 + np.abs(bounds[:-1])))


def _permuted(model, order):
    """The fitted model with its experts relabelled: every fitted array of
    the gate and the experts whose first axis is the experts'."""
    model = copy.deepcopy(model)
    n_experts = order.shape[0]
    for component in (model.gate_, model.experts_):
        for name, value in vars(component).items():
            if (
                name.endswith("_")
                and isinstance(value, np.ndarray)
                and value.ndim
                and value.shape[0] == n_experts
            ):
                setattr(component, name, value[order])
    return model


@pytest.mark.parametrize(
    "make",
    [
        lambda: MixtureOfExpertsRegressor(3, random_state=0),
        lambda: MixtureOfExpertsRegressor(3, top_k=2, random_state=0),
        lambda: MixtureOfExpertsRegressor(3, gate=GaussianGate(), random_state=0),
        lambda: MixtureOfExpertsRegressor(3, expert=StudentTExpert(), random_state=0),
    ],
)
@SETTINGS
@given(problem=problems(), permutation_seed=st.integers(0, 1000))
def test_permuting_the_experts_changes_no_prediction(make, problem, permutation_seed):
    X, y, _ = problem
    with _quiet():
        model = make().fit(X, y)
    order = np.random.RandomState(permutation_seed).permutation(model.n_experts_)
    permuted = _permuted(model, order)
    np.testing.assert_allclose(permuted.predict(X), model.predict(X), atol=1e-10)
    np.testing.assert_allclose(
        permuted.log_likelihood(X, y), model.log_likelihood(X, y), atol=1e-10
    )
    np.testing.assert_allclose(
        permuted.predict_gate_proba(X), model.predict_gate_proba(X)[:, order]
    )


@SETTINGS
@given(problem=problems(), weights_seed=st.integers(0, 1000))
def test_integer_weights_equal_repeated_rows(problem, weights_seed):
    X, y, seed = problem
    counts = np.random.RandomState(weights_seed).randint(0, 4, X.shape[0])
    counts[0] = max(counts[0], 1)
    with _quiet():
        weighted = MixtureOfExpertsRegressor(2, random_state=seed).fit(X, y, counts)
        repeated = MixtureOfExpertsRegressor(2, random_state=seed).fit(
            np.repeat(X, counts, axis=0), np.repeat(y, counts)
        )
    # Pruning counts rows, not weights: a row of weight 3 gives an expert no
    # more distinct points to fit than one (tests/test_prune.py).
    assume(weighted.n_experts_ == repeated.n_experts_ == 2)
    assert weighted.n_iter_ == repeated.n_iter_
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), atol=1e-7)


@SETTINGS
@given(
    problem=problems(),
    scale=st.sampled_from([-3.0, -1.0, 0.01, 2.5, 1000.0]),
    shift=st.sampled_from([0.0, -7.0, 1e4]),
)
def test_affine_targets_give_affine_predictions(problem, scale, shift):
    X, y, seed = problem
    with _quiet():
        base = MixtureOfExpertsRegressor(2, random_state=seed).fit(X, y)
        moved = MixtureOfExpertsRegressor(2, random_state=seed).fit(
            X, scale * y + shift
        )
    expected = scale * base.predict(X) + shift
    tolerance = 1e-6 * (abs(scale) * np.abs(y).max() + abs(shift) + 1)
    np.testing.assert_allclose(moved.predict(X), expected, atol=tolerance)
    np.testing.assert_allclose(
        moved.predict(X, return_std=True)[1],
        abs(scale) * base.predict(X, return_std=True)[1],
        atol=tolerance,
    )


@pytest.mark.parametrize("n_experts", [3, 6])
def test_accelerated_em_ignores_the_units_of_the_target(n_experts):
    # Before: SQUAREM's step length weighed the experts' coefficients in the
    # target's units against the gate's, so 1000 y + 5 took another path
    # (26 iterations against 20, predictions apart by 1.3 at K = 6).
    X, y = make_mixture_regression(2000, 5, 4, noise=0.3, random_state=0)
    base = MixtureOfExpertsRegressor(n_experts, random_state=0).fit(X, y)
    moved = MixtureOfExpertsRegressor(n_experts, random_state=0).fit(X, 1000 * y + 5)
    assert moved.n_iter_ == base.n_iter_
    np.testing.assert_allclose(
        (moved.predict(X) - 5) / 1000, base.predict(X), rtol=0, atol=1e-8
    )


@pytest.mark.parametrize("n_samples", [600, 9000])
def test_negated_moved_and_reordered_input_columns_change_no_fit(n_samples):
    """The same fit, up to rounding, after negating, shifting, rescaling and
    reordering the input columns: the initialization's row order depends on
    none of them. (9,000 rows: k-means on a sample and the gate's Newton
    Hessian on another, both drawn in that order.)"""
    X, y = make_mixture_regression(n_samples, 4, 6, noise=0.3, random_state=0)
    moved = (X * [-1.0, 1e3, -0.01, 1.0] + [0.0, 5e3, 2.0, -1.0])[:, [2, 0, 3, 1]]
    with _quiet():
        base = MixtureOfExpertsRegressor(6, random_state=0).fit(X, y)
        other = MixtureOfExpertsRegressor(6, random_state=0).fit(moved, y)
    assert other.n_iter_ == base.n_iter_
    np.testing.assert_allclose(other.predict(moved), base.predict(X), atol=1e-6)


def test_a_classifier_ignores_the_signs_and_order_of_input_columns():
    X, y = make_local_classification(500, random_state=0)
    moved = -X[:, ::-1]
    with _quiet():
        base = MixtureOfExpertsClassifier(5, random_state=0).fit(X, y)
        other = MixtureOfExpertsClassifier(5, random_state=0).fit(moved, y)
    assert other.n_iter_ == base.n_iter_
    np.testing.assert_allclose(
        other.predict_proba(moved), base.predict_proba(X), atol=1e-8
    )


@SETTINGS
@given(problem=problems(), rows_seed=st.integers(0, 1000))
def test_predictions_are_finite_and_row_wise(problem, rows_seed):
    X, y, seed = problem
    with _quiet():
        model = MixtureOfExpertsRegressor(3, random_state=seed).fit(X, y)
    rows = np.random.RandomState(rows_seed).choice(X.shape[0], 7, replace=False)
    for method in ("predict", "predict_gate_proba", "predict_experts"):
        full = getattr(model, method)(X)
        assert np.all(np.isfinite(full))
        np.testing.assert_allclose(getattr(model, method)(X[rows]), full[rows])


# ------------------------------------------------------ degenerate training
def test_an_expert_with_no_data_is_reseeded_with_a_warning():
    """Three experts, data from one line: with random init two experts
    start on the same rows and one loses them all."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, 1))
    y = 2 * X[:, 0] + 0.01 * rng.standard_normal(200)
    model = MixtureOfExpertsRegressor(3, random_state=0, max_iter=50)
    # A gate that routes nothing to expert 2: after one EM iteration its
    # responsibility is zero and it must be re-seeded, not left NaN.
    model.set_params(max_iter=1).fit(X, y)
    model.gate_.intercept_[:] = [0.0, 0.0, -1000.0]
    model.set_params(warm_start=True, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match=r"Expert\(s\) \[2\].*re-seeded"):
            model.fit(X, y)
    assert np.all(np.isfinite(model.experts_.coef_))
    assert model.predict_gate_proba(X)[:, 2].max() > 1e-6


def test_singular_gram_matrices_are_solved_by_the_ridge_floor():
    rng = np.random.RandomState(0)
    x = rng.standard_normal((100, 1))
    X = np.hstack([x, x, 2 * x, np.zeros((100, 1))])  # rank 1 plus a zero column
    y = 3 * x[:, 0] + 0.1 * rng.standard_normal(100)
    model = MixtureOfExpertsRegressor(
        2, expert=LinearExpert(alpha=0.0), random_state=0
    ).fit(X, y)
    assert np.all(np.isfinite(model.experts_.coef_))
    np.testing.assert_allclose(model.predict(X), 3 * x[:, 0], atol=0.1)


def test_variances_never_collapse_on_duplicated_points():
    """Each expert can fit its few distinct points exactly; the variance
    stays at the documented floor (min_variance times the variance of y)."""
    X = np.repeat([[0.0], [1.0], [2.0], [3.0]], 25, axis=0)
    y = np.repeat([0.0, 1.0, 5.0, 2.0], 25)
    expert = LinearExpert(min_variance=1e-4)
    model = MixtureOfExpertsRegressor(4, expert=expert, random_state=0).fit(X, y)
    floor = 1e-4 * y.var()
    assert np.all(model.experts_.noise_variance_ >= floor * (1 - 1e-12))
    assert np.all(np.isfinite(model.log_likelihood(X, y)))


def test_separable_gate_stays_finite():
    """Regimes split by a clean threshold: the best gate is a step, whose
    logits would grow without bound; the ridge penalty keeps them finite."""
    X = np.linspace(-1, 1, 400)[:, None]
    y = np.where(X[:, 0] > 0, 5.0, -5.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MixtureOfExpertsRegressor(2, random_state=0, max_iter=500).fit(X, y)
        gate = model.predict_gate_proba(X)
    assert np.all(np.isfinite(model.gate_.coef_))
    assert np.all(np.isfinite(model.lower_bounds_))
    away = np.abs(X[:, 0]) > 0.05  # the gate's slope at 0 is finite
    assert np.abs(model.predict(X) - y)[away].max() < 0.1
    assert gate.max(axis=1)[away].min() > 0.9


def test_softmax_gate_does_not_overflow_on_huge_logits():
    X = np.linspace(-1, 1, 200)[:, None]
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    model.gate_.coef_ *= 1e6  # logits of order 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = model.predict_gate_proba(X * 1e3)
        scores = model.log_likelihood(X, y)
    assert np.all(np.isfinite(proba)) and np.all(np.isfinite(scores))


# ------------------------------------------------------------------ fuzz
DOCUMENTED = (ValueError, TypeError)
SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-300, 1e300, np.nan, np.inf, -np.inf, 1e150]


@st.composite
def fuzz_inputs(draw):
    n = draw(st.integers(0, 12))
    d = draw(st.integers(0, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, bool, object]))
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    for array in (X, y):
        if array.size and draw(st.booleans()):
            flat = array.reshape(-1)
            flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from(SPECIAL))
    with np.errstate(all="ignore"):
        X = X.astype(dtype) if dtype is not object else X.astype(object)
    weight = None
    if draw(st.booleans()):
        weight = np.abs(rng.standard_normal(n))
        if n and draw(st.booleans()):
            weight[0] = draw(st.sampled_from([0.0, -1.0, np.nan, np.inf]))
    k = draw(st.integers(1, 4))
    classify = draw(st.booleans())
    return X, y, weight, k, classify


@settings(max_examples=300, deadline=None, derandomize=True)
@given(case=fuzz_inputs())
def test_fuzz_fit_predict(case):
    X, y, weight, k, classify = case
    if classify:
        with np.errstate(invalid="ignore"):
            y = np.where(np.isfinite(y), y > 0, y)
        model = MixtureOfExpertsClassifier(k, max_iter=5, random_state=0)
    else:
        model = MixtureOfExpertsRegressor(k, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Expert.*re-seeded", UserWarning)
        try:
            model.fit(X, y, sample_weight=weight)
        except DOCUMENTED as exc:
            assert str(exc)  # says what is wrong
            return
        output = model.predict_proba(X) if classify else model.predict(X)
    assert np.all(np.isfinite(output))
