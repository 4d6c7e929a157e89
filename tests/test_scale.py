"""One machine at scale: float32 kept, bounded chunks, restarts in parallel."""

import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import mixexp._component
from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._data import TrainingData, chunk_rows, design_chunks
from mixexp.datasets import (
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)


def _fit(model, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **kwargs)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MixtureOfExpertsRegressor(4, tol=1e-8, max_iter=500, random_state=0),
        lambda: HierarchicalMixtureOfExpertsRegressor(
            depth=2, tol=1e-8, max_iter=500, random_state=0
        ),
    ],
)
def test_float32_predictions_match_float64(make):
    X, y = make_mixture_regression(5000, 6, 4, random_state=0)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    # Both fit the same (float32-representable) data, so only the arithmetic
    # differs.
    fit64 = _fit(make(), X32.astype(np.float64), y32.astype(np.float64))
    fit32 = _fit(make(), X32, y32)
    pred64, pred32 = fit64.predict(X32), fit32.predict(X32)
    scale = np.abs(pred64).max()
    np.testing.assert_allclose(pred32, pred64, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(
        fit32.log_likelihood(X32, y32), fit64.log_likelihood(X32, y32), atol=1e-4
    )


def test_float32_classifier_matches_float64():
    X, y = make_local_classification(3000, random_state=0)
    X32 = X.astype(np.float32)

    # The objective is flat where the classes separate: at tol=1e-8 two fits
    # whose objectives agree to 1e-8 still differ by 1e-3 in probability.
    def make():
        return MixtureOfExpertsClassifier(3, tol=1e-10, max_iter=500, random_state=0)

    proba64 = _fit(make(), X32.astype(np.float64), y).predict_proba(X32)
    proba32 = _fit(make(), X32, y).predict_proba(X32)
    np.testing.assert_allclose(proba32, proba64, atol=1e-4)


def test_float32_input_is_not_copied_to_float64():
    """The fit of float32 data allocates less than a float64 copy of X."""
    X, y = make_mixture_regression(50_000, 100, 4, random_state=0)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    model = MixtureOfExpertsRegressor(4, max_iter=2, random_state=0)
    tracemalloc.start()
    tracemalloc.reset_peak()
    _fit(model, X32, y32)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # What a fit allocates: the float32 k-means features (X and y, about
    # X32.nbytes), the (4, n) float32 responsibilities and some vectors of
    # length n; a float64 copy of X would add 2 * X32.nbytes on top.
    assert peak < 2 * X32.nbytes, peak / X32.nbytes


def test_working_memory_bounds_the_chunks():
    with config_context(working_memory=1):
        assert chunk_rows(10**6, 100) == 2**20 // 800
    assert chunk_rows(10**6, 2000) == 16 * 2**20 // 16000
    assert chunk_rows(10**6, 10) == 4096  # the cap
    with config_context(working_memory=0.001):
        assert chunk_rows(10**6, 100) == 256  # the floor
    assert chunk_rows(100, 100) == 100


def test_chunk_size_does_not_change_the_fit():
    X, y = make_mixture_regression(3000, 4, 3, random_state=1)
    one = _fit(MixtureOfExpertsRegressor(3, random_state=0), X, y)
    with config_context(working_memory=0.001):  # 256-row chunks, 12 of them
        many = _fit(MixtureOfExpertsRegressor(3, random_state=0), X, y)
    assert one.n_iter_ == many.n_iter_
    np.testing.assert_allclose(many.lower_bounds_, one.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(many.predict(X), one.predict(X), rtol=1e-8, atol=1e-10)


def test_one_chunk_design_is_made_once_and_follows_the_offset():
    """Data that fit one chunk reuse its design across passes; a new offset
    gives a new design, and the shared one cannot be written to."""
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(300, 3)), rng.normal(size=300), rng.random(300)
    data = TrainingData(X, y, w, 2, 8)
    ((rows, first),) = data.chunks("gate")
    ((_, again),) = data.chunks("experts")  # same X and offset: the same array
    assert rows == slice(0, 300) and again is first
    np.testing.assert_array_equal(
        first, next(design_chunks(X, data.offset["gate"], 300))[1]
    )
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0] = 1.0
    data.set_offset("experts", np.zeros(3))
    ((_, moved),) = data.chunks("experts")
    np.testing.assert_array_equal(moved[:3], X.T)
    ((_, gate),) = data.chunks("gate")
    np.testing.assert_array_equal(gate, first)  # the gate's offset is unchanged
    with config_context(working_memory=0.001):  # 256-row chunks: nothing cached
        chunked = TrainingData(X, y, w, 2, 8)
        assert [c[0] for c in chunked.chunks("gate")] == [
            slice(0, 256),
            slice(256, 300),
        ]
        assert not chunked._designs


def test_sampled_newton_hessian_reaches_the_exact_hessians_optimum(
    monkeypatch, hessian_rows
):
    """From twice its size (here 2,500 of 10,000 rows) the gate's Newton
    Hessian is estimated on a row sample; it only shapes the steps, so the
    fit reaches the optimum of the fit with the exact Hessian on all rows."""
    X, y = make_mixture_regression(10_000, 4, 4, random_state=3)
    assert mixexp._component.curvature_rows(4 * 5, 10_000) == 2500

    def fit():
        return MixtureOfExpertsRegressor(
            4, tol=1e-12, max_iter=1000, random_state=0
        ).fit(X, y)

    sampled = fit()
    assert hessian_rows and max(hessian_rows) <= 2500
    monkeypatch.setattr(mixexp._component, "curvature_rows", lambda *args: None)
    hessian_rows.clear()
    exact = fit()
    # Each exact Hessian is summed over the row chunks of all 10,000 rows.
    assert max(hessian_rows) > 2500 and sum(hessian_rows) % 10_000 == 0
    assert sampled.converged_ and exact.converged_
    np.testing.assert_allclose(
        sampled.lower_bound_, exact.lower_bound_, rtol=0, atol=1e-9
    )
    for a, b in [
        (sampled.gate_.coef_, exact.gate_.coef_),
        (sampled.experts_.coef_, exact.experts_.coef_),
    ]:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


# ------------------------------------------------ units and weight scale
def _scale_problem(seed, classification):
    rng = np.random.RandomState(seed)
    n = 200
    X = rng.uniform(-2, 2, (n, 2))
    if classification:
        y = ((X[:, 0] > 0) ^ (X[:, 1] > 0.3 * X[:, 0])).astype(int)
    else:
        y = np.where(X[:, 0] < 0, -X[:, 0], 2 * X[:, 0]) + 0.5 * X[:, 1]
        y = y + 0.1 * rng.standard_normal(n)
    return X, y, rng.uniform(0.5, 2.0, n)


def _scale_models():
    from sklearn.tree import DecisionTreeRegressor

    from mixexp.experts import LinearExpert
    from mixexp.gates import GaussianGate

    return {
        "regressor": lambda: MixtureOfExpertsRegressor(3, random_state=0),
        "gaussian_gate": lambda: MixtureOfExpertsRegressor(
            2, gate=GaussianGate(), random_state=0
        ),
        "polynomial": lambda: MixtureOfExpertsRegressor(
            2, expert=LinearExpert(degree=2), random_state=0
        ),
        "tree": lambda: MixtureOfExpertsRegressor(
            2,
            expert=DecisionTreeRegressor(max_depth=3, min_weight_fraction_leaf=0.02),
            random_state=0,
        ),
        "classifier": lambda: MixtureOfExpertsClassifier(2, random_state=0),
    }


def _outputs(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.predict(X)


SCALE_SETTINGS = settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("name", list(_scale_models()))
@SCALE_SETTINGS
@given(seed=st.integers(0, 1000), factor=st.sampled_from([1e-9, 1e-3, 1e3, 1e200]))
def test_predictions_do_not_depend_on_the_scale_of_the_weights(name, seed, factor):
    """Multiplying every sample weight by a constant changes nothing: not the
    predictions, nor the mean log-likelihood per unit weight."""
    X, y, w = _scale_problem(seed, name == "classifier")
    make = _scale_models()[name]
    reference = _fit(make(), X, y, sample_weight=w)
    scaled = _fit(make(), X, y, sample_weight=w * factor)
    np.testing.assert_allclose(
        _outputs(scaled, X), _outputs(reference, X), rtol=1e-6, atol=1e-6
    )
    assert scaled.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-8)


@pytest.mark.parametrize("name", list(_scale_models()))
@SCALE_SETTINGS
@given(
    seed=st.integers(0, 1000),
    column=st.integers(0, 1),
    factor=st.sampled_from([1e-4, 1e4]),
)
def test_predictions_do_not_depend_on_the_units_of_a_feature(
    name, seed, column, factor
):
    """Expressing one feature in other units (a column times a constant)
    changes no prediction: penalties and floors are in standardized units."""
    # scikit-learn's trees treat feature values closer than 1e-7 as equal
    # (FEATURE_THRESHOLD in sklearn/tree/_partitioner.pxd), so shrinking a
    # feature to 1e-4 of its size changes the tree itself, not the mixture.
    assume(not (name == "tree" and factor < 1))
    X, y, w = _scale_problem(seed, name == "classifier")
    X_scaled = X.copy()
    X_scaled[:, column] *= factor
    make = _scale_models()[name]
    reference = _fit(make(), X, y, sample_weight=w)
    scaled = _fit(make(), X_scaled, y, sample_weight=w)
    np.testing.assert_allclose(
        _outputs(scaled, X_scaled), _outputs(reference, X), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("factor", [1e-8, 1e-3, 1e3])
def test_full_batch_squared_errors_are_measured_in_the_target_units(factor):
    # L-BFGS's stopping rule and the gate's penalty read the squared error in
    # units of the target's variance: before, cooperative gd on y * 1e-8
    # "converged" at R^2 -4e4 (its gate penalty dwarfed a loss of 1e-16).
    X, y = make_piecewise_linear(500, random_state=0)
    model = MixtureOfExpertsRegressor(
        4, solver="gd", loss="cooperative", random_state=0
    )
    assert _fit(model, X, y * factor).score(X, y * factor) > 0.9


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_minibatch_squared_errors_are_measured_in_the_target_units(solver):
    # Their stopping rule reads the loss in units of the target's variance:
    # before, competitive sgd on y * 1e-8 "converged" after 11 epochs at
    # R^2 0.67 (every change was below tol in y's squared units).
    X, y = make_mixture_regression(400, 3, 3, noise=0.3, random_state=0)
    model = MixtureOfExpertsRegressor(
        3, solver=solver, loss="competitive", max_iter=40, random_state=0
    )
    reference = _fit(model, X, y).score(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        scaled = clone(model).fit(X, y * 1e-8)
    # Steps stay in the parameters' units, so a fit this far from unit scale
    # may fail, but never silently.
    if scaled.score(X, y * 1e-8) < reference - 0.05:
        assert not scaled.converged_
        assert any(w.category is ConvergenceWarning for w in caught)


def test_wrapped_estimators_see_the_users_weights():
    """A wrapped estimator is fitted with the user's weights times the
    responsibilities, as if the user fitted it: one expert is the estimator
    itself, whose absolute penalty weighs against the weights' scale as in
    scikit-learn. Weights whose mean is beyond 2**64 (or below 2**-64) reach
    it divided by a power of two, so its sums stay finite."""
    from sklearn.linear_model import Ridge

    X, y = make_mixture_regression(300, 2, 2, random_state=0)
    weight = np.random.RandomState(0).uniform(0.5, 2.0, y.shape[0])
    for factor in (1.0, 3.0, 1e-3):
        one = _fit(
            MixtureOfExpertsRegressor(1, expert=Ridge(alpha=10.0)),
            X,
            y,
            sample_weight=factor * weight,
        )
        alone = Ridge(alpha=10.0).fit(X, y, sample_weight=factor * weight)
        np.testing.assert_allclose(one.predict(X), alone.predict(X), rtol=1e-10)
    extreme = _fit(
        MixtureOfExpertsRegressor(1, expert=Ridge(alpha=10.0)),
        X,
        y,
        sample_weight=1e200 * weight,
    )
    _, exponent = np.frexp(1e200 * weight.mean())
    shifted = Ridge(alpha=10.0).fit(
        X, y, sample_weight=np.ldexp(1e200 * weight, 1 - exponent)
    )
    np.testing.assert_allclose(extreme.predict(X), shifted.predict(X), rtol=1e-8)
