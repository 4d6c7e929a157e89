"""mixexp.metrics: the held-out log-likelihood as a scikit-learn scorer."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import make_piecewise_linear
from mixexp.metrics import log_likelihood_scorer


@pytest.fixture(scope="module")
def data():
    X, y = make_piecewise_linear(400, noise=0.2, random_state=0)
    return X * 50.0 + 3.0, y  # a scale the pipeline's scaler must undo


def test_scorer_is_the_mean_log_likelihood(data):
    X, y = data
    moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    assert log_likelihood_scorer(moe, X, y) == pytest.approx(
        moe.log_likelihood(X, y).mean(), rel=1e-12
    )
    weight = np.random.RandomState(0).uniform(size=y.shape[0])
    assert log_likelihood_scorer(moe, X, y, sample_weight=weight) == pytest.approx(
        np.average(moe.log_likelihood(X, y), weights=weight), rel=1e-12
    )


def test_scorer_sees_x_through_the_pipeline(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(3, random_state=0))
    pipe.fit(X, y)
    scaled = pipe[0].transform(X)
    expected = pipe[-1].log_likelihood(scaled, y).mean()
    assert log_likelihood_scorer(pipe, X, y) == pytest.approx(expected, rel=1e-12)
    # Unscaled inputs would give another value: the transform was applied.
    assert pipe[-1].log_likelihood(X, y).mean() != pytest.approx(expected)


def test_grid_search_and_cross_validate_use_it(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(random_state=0))
    folds = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        pipe,
        {"mixtureofexpertsregressor__n_experts": [1, 3]},
        scoring=log_likelihood_scorer,
        cv=folds,
    ).fit(X, y)
    # Three linear pieces: three experts explain the held-out targets better.
    assert search.best_params_ == {"mixtureofexpertsregressor__n_experts": 3}
    # The search's fold scores are the scorer on each held-out fold.
    train, test = next(folds.split(X))
    refit = make_pipeline(
        StandardScaler(), MixtureOfExpertsRegressor(3, random_state=0)
    ).fit(X[train], y[train])
    assert search.cv_results_["split0_test_score"][1] == pytest.approx(
        log_likelihood_scorer(refit, X[test], y[test]), rel=1e-10
    )
    # A fitted search scores through its best estimator.
    assert log_likelihood_scorer(search, X, y) == pytest.approx(
        log_likelihood_scorer(search.best_estimator_, X, y), rel=1e-12
    )
    scores = cross_validate(
        pipe, X, y, cv=folds, scoring={"ll": log_likelihood_scorer, "r2": "r2"}
    )
    assert np.all(np.isfinite(scores["test_ll"]))
    assert np.all(scores["test_r2"] > 0.9)


def test_classifier_scores_the_probability_of_the_observed_class():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    moe = MixtureOfExpertsClassifier(4, random_state=0).fit(X, y)
    proba = moe.predict_proba(X)[np.arange(y.shape[0]), y]
    assert log_likelihood_scorer(moe, X, y) == pytest.approx(
        np.log(proba).mean(), rel=1e-8
    )


def test_other_estimators_are_refused_with_a_reason(data):
    X, y = data
    with pytest.raises(TypeError, match="has no log_likelihood"):
        log_likelihood_scorer(Ridge().fit(X, y), X, y)
    with pytest.raises(TypeError, match="Pipeline ending in one"):
        log_likelihood_scorer(make_pipeline(StandardScaler(), Ridge()).fit(X, y), X, y)
