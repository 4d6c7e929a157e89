"""Experts without sample_weight: EstimatorExpert fits each clone on the rows
assigned to it (classification EM's C-step, "hard") or drawn for it
(stochastic EM's S-step, "sample"), keeping a clone only if it raises Q."""

import pickle
import types
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import make_local_classification, make_piecewise_linear
from mixexp.experts import EstimatorExpert


def _two_regimes(n, seed, noise=0.3):
    """A latent regime the inputs do not reveal: y follows 1 + sin(2x) or
    -1 + x / 2, so a mixture's experts overlap wherever the curves cross."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(-3, 3, n)
    first = rng.uniform(size=n) < 0.5
    y = np.where(first, 1 + np.sin(2 * x), -1 + 0.5 * x)
    return x[:, None], y + noise * rng.standard_normal(n)


def _assigner(mode, seed=0):
    expert = EstimatorExpert(KNeighborsRegressor(), assignment=mode)
    expert._mode, expert._rng = mode, np.random.RandomState(seed)
    return expert


def _data(resp, weights):
    """The fields of TrainingData that the assignment reads."""
    return types.SimpleNamespace(
        resp=np.asarray(resp, dtype=float),
        sample_weight=np.asarray(weights, dtype=float),
        weight_exponent=0,
    )


# ------------------------------------------------------------ the assignment
def test_hard_assignment_gives_each_row_to_its_most_responsible_expert():
    rng = np.random.RandomState(0)
    resp = rng.dirichlet(np.ones(4), size=300).T
    weights = rng.randint(0, 4, 300)
    rows = _assigner("hard")._assign_rows(_data(resp, weights))
    for k in range(4):  # the reference: row i, weights[i] times, if k is its argmax
        expected = [
            i
            for i in range(300)
            for _ in range(weights[i])
            if k == max(range(4), key=lambda j: resp[j, i])
        ]
        np.testing.assert_array_equal(rows[k], expected)


def test_sampled_assignment_draws_by_the_responsibilities():
    """Each copy of a row goes to expert k with probability its
    responsibility: 40,000 copies of one row split as a multinomial."""
    resp = np.array([[0.2], [0.3], [0.5]])
    rows = _assigner("sample")._assign_rows(_data(resp, [40_000]))
    counts = np.array([part.size for part in rows])
    assert counts.sum() == 40_000
    expected = 40_000 * resp[:, 0]
    sd = np.sqrt(expected * (1 - resp[:, 0]))
    assert np.all(np.abs(counts - expected) < 5 * sd)


def test_integer_weights_are_copies_and_fractional_ones_are_counts_in_expectation():
    resp = np.tile([[1.0], [0.0]], 5000)
    weights = np.r_[np.full(2500, 2.0), np.zeros(2500)]
    rows = _assigner("sample")._assign_rows(_data(resp, weights))[0]
    np.testing.assert_array_equal(rows, np.repeat(np.arange(2500), 2))
    weights = np.full(5000, 1.3)
    rows = _assigner("hard")._assign_rows(_data(resp, weights))[0]
    copies = np.bincount(rows, minlength=5000)
    assert set(np.unique(copies)) == {1, 2}
    assert abs(copies.mean() - 1.3) < 5 * np.sqrt(0.3 * 0.7 / 5000)


def test_integer_weights_equal_repeated_rows():
    """A row of weight w is w copies of it, for either assignment."""
    X, y = make_piecewise_linear(200, random_state=0)
    w = np.random.RandomState(1).randint(0, 3, 200)
    for mode in ("hard", "sample"):
        est = MixtureOfExpertsRegressor(
            2,
            expert=EstimatorExpert(KNeighborsRegressor(), assignment=mode),
            random_state=0,
        )
        weighted = clone(est).fit(X, y, sample_weight=w)
        repeated = clone(est).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
        np.testing.assert_allclose(weighted.predict(X), repeated.predict(X))


# ---------------------------------------------------------- k-nearest experts
def test_knn_experts_beat_one_knn_where_the_regimes_jump():
    """Near the jumps of the piecewise-linear target one kNN averages both
    sides; experts on the rows of one side do not."""
    X, y = make_piecewise_linear(1500, random_state=0)
    X_test, y_test = make_piecewise_linear(3000, random_state=1)
    knn = KNeighborsRegressor(n_neighbors=15)
    moe = MixtureOfExpertsRegressor(3, expert=knn, random_state=0).fit(X, y)
    assert moe.experts_._resolved_assignment() == "sample"
    single = clone(knn).fit(X, y)
    assert mean_squared_error(y_test, moe.predict(X_test)) < 0.9 * mean_squared_error(
        y_test, single.predict(X_test)
    )
    one_expert = MixtureOfExpertsRegressor(1, expert=knn).fit(X, y)
    assert (
        moe.log_likelihood(X_test, y_test).mean()
        > one_expert.log_likelihood(X_test, y_test).mean()
    )


@pytest.mark.parametrize("mode", ["hard", "sample"])
def test_the_likelihood_never_decreases_and_the_fit_converges(mode):
    """Overlapping regimes, where a clone fitted on assigned rows can lower
    Q: the acceptance test keeps the history monotone, and the fit stops by
    the usual rule (no ConvergenceWarning)."""
    X, y = _two_regimes(600, 0)
    for seed in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            moe = MixtureOfExpertsRegressor(
                2,
                expert=EstimatorExpert(KNeighborsRegressor(15), assignment=mode),
                random_state=seed,
            ).fit(X, y)
        bounds = moe.lower_bounds_
        assert np.all(np.diff(bounds) >= -1e-12 * (1 + np.abs(bounds[:-1])))
        assert moe.converged_
        assert moe.lower_bound_ == pytest.approx(moe.log_likelihood(X, y).mean())


def test_sampled_rows_fit_overlapping_regimes_better_than_hard_ones():
    """Why "sample" is the default: where the regimes overlap, hard
    assignment biases both experts and its held-out likelihood is lower."""
    X, y = _two_regimes(1500, 0)
    X_test, y_test = _two_regimes(3000, 1)

    def held_out(mode):
        scores = [
            MixtureOfExpertsRegressor(
                2,
                expert=EstimatorExpert(KNeighborsRegressor(15), assignment=mode),
                random_state=seed,
            )
            .fit(X, y)
            .log_likelihood(X_test, y_test)
            .mean()
            for seed in range(3)
        ]
        return np.mean(scores)

    assert held_out("sample") > held_out("hard")


def test_knn_classifier_experts_are_sensible():
    X, y = make_local_classification(1000, random_state=0)
    X_test, y_test = make_local_classification(2000, random_state=1)
    knn = KNeighborsClassifier(n_neighbors=15)
    moe = MixtureOfExpertsClassifier(3, expert=knn, random_state=0).fit(X, y)
    single = clone(knn).fit(X, y).score(X_test, y_test)
    assert moe.score(X_test, y_test) > single - 0.02
    proba = moe.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(np.diff(moe.lower_bounds_) >= -1e-12)


@pytest.mark.parametrize("mode", ["hard", "sample"])
def test_a_fit_is_reproducible_and_survives_clone_and_pickle(mode):
    X, y = _two_regimes(400, 0)
    est = MixtureOfExpertsRegressor(
        2,
        expert=EstimatorExpert(KNeighborsRegressor(10), assignment=mode),
        random_state=3,
    )
    first = clone(est).fit(X, y)
    second = clone(est).fit(X, y)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    np.testing.assert_array_equal(first.lower_bounds_, second.lower_bounds_)
    assert clone(est).get_params()["expert__assignment"] == mode
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(restored.predict(X), first.predict(X))
    np.testing.assert_array_equal(
        restored.predict(X, return_std=True)[1], first.predict(X, return_std=True)[1]
    )


def test_different_seeds_draw_different_rows():
    """The draws come from random_state (a reference for the test above:
    were they fixed, every seed would give the same fit)."""
    X, y = _two_regimes(400, 0)
    fits = [
        MixtureOfExpertsRegressor(
            2, expert=KNeighborsRegressor(10), init="random", random_state=seed
        ).fit(X, y)
        for seed in (0, 1)
    ]
    assert not np.array_equal(fits[0].predict(X), fits[1].predict(X))


def test_estimators_with_sample_weight_may_take_rows_too():
    """assignment='hard' on Ridge fits each clone on its argmax rows; the
    default for Ridge stays the weighted fit."""
    X, y = make_piecewise_linear(600, random_state=0)
    weighted = MixtureOfExpertsRegressor(3, expert=Ridge(), random_state=0).fit(X, y)
    assert weighted.experts_._resolved_assignment() == "weights"
    hard = MixtureOfExpertsRegressor(
        3, expert=EstimatorExpert(Ridge(), assignment="hard"), random_state=0
    ).fit(X, y)
    assert np.all(np.diff(hard.lower_bounds_) >= -1e-12)
    assert hard.score(X, y) > 0.9


def test_too_few_rows_for_every_expert_is_refused_clearly():
    X, y = make_piecewise_linear(60, random_state=0)
    est = MixtureOfExpertsRegressor(
        3, expert=KNeighborsRegressor(n_neighbors=40), random_state=0
    )
    with pytest.raises(ValueError, match="could not be fitted.*fewer experts"):
        est.fit(X, y)


def test_an_expert_with_too_few_rows_keeps_its_model():
    """One cluster smaller than n_neighbors: that expert stays the constant
    model of the target (its clone cannot predict), the others are fitted."""
    rng = np.random.RandomState(0)
    X = np.r_[rng.uniform(0, 1, (200, 1)), rng.uniform(50, 51, (4, 1))]
    y = np.r_[X[:200, 0], np.full(4, 100.0)]
    moe = MixtureOfExpertsRegressor(
        2, expert=KNeighborsRegressor(n_neighbors=5), random_state=0
    ).fit(X, y)
    fitted = [est for est in moe.experts_.estimators_ if est is not None]
    assert len(fitted) >= 1
    assert np.all(np.isfinite(moe.predict(X)))


@pytest.mark.parametrize(
    "scale, message", [(1e-9, "none was drawn"), (1e6, "more than")]
)
def test_weights_far_from_counts_are_refused_clearly(scale, message):
    """Weights are counts for the clones: a scale that draws no row, or
    that would copy the rows millions of times, is an error saying so, and
    a fitted model is left as it was."""
    X, y = make_piecewise_linear(200, random_state=0)
    est = MixtureOfExpertsRegressor(
        2, expert=KNeighborsRegressor(), random_state=0
    ).fit(X, y)
    before = est.predict(X)
    with pytest.raises(ValueError, match=f"sample weights.*{message}"):
        est.fit(X, y, sample_weight=np.full(200, scale))
    np.testing.assert_array_equal(est.predict(X), before)
