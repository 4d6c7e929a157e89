"""Bad input gets a clear error that says what is wrong and what to do."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import make_mixture_regression, make_piecewise_linear

X, Y = make_piecewise_linear(50, random_state=0)
LABELS = (X[:, 0] > 0).astype(int)


def _with(value, row=3, col=0):
    out = X.copy()
    out[row, col] = value
    return out


@pytest.mark.parametrize(
    "kwargs, fit_args, match",
    [
        ({}, (_with(np.nan), Y), "NaN.*imputer"),
        ({}, (_with(np.inf), Y), "infinity"),
        ({}, (X, np.where(np.arange(50) == 3, np.nan, Y)), "NaN"),
        ({}, (np.empty((0, 1)), np.empty(0)), "0 sample"),
        ({}, (X[:1], Y[:1]), "minimum of 2 is required"),
        ({}, (X, Y[:-1]), "inconsistent numbers of samples"),
        ({"n_experts": 0}, (X, Y), "n_experts.*range"),
        (
            {"n_experts": 51},
            (X, Y),
            "n_experts=51 is larger than the number of samples",
        ),
        (
            {},
            (X, np.array(["a", "b"] * 25)),
            "numeric targets.*MixtureOfExpertsClassifier",
        ),
        ({"tol": -1.0}, (X, Y), "tol"),
        ({"init": "spectral"}, (X, Y), "init"),
    ],
)
def test_regressor_fit_errors(kwargs, fit_args, match):
    with pytest.raises(ValueError, match=match):
        MixtureOfExpertsRegressor(**{"n_experts": 2, **kwargs}).fit(*fit_args)


def test_sample_weight_errors():
    est = MixtureOfExpertsRegressor(2)
    with pytest.raises(ValueError, match="negative"):
        est.fit(X, Y, sample_weight=-np.ones(50))
    with pytest.raises(ValueError, match="zero|non-zero"):
        est.fit(X, Y, sample_weight=np.zeros(50))
    with pytest.raises(ValueError, match="number of samples with positive weight"):
        weights = np.zeros(50)
        weights[:2] = 1.0
        MixtureOfExpertsRegressor(3).fit(X, Y, sample_weight=weights)


def test_classifier_fit_errors():
    with pytest.raises(ValueError, match="at least 2 classes"):
        MixtureOfExpertsClassifier(2).fit(X, np.zeros(50))
    with pytest.raises(ValueError, match="Unknown label type"):
        MixtureOfExpertsClassifier(2).fit(X, Y)  # continuous targets


def test_predict_errors():
    with pytest.raises(NotFittedError):
        MixtureOfExpertsRegressor().predict(X)
    with pytest.raises(NotFittedError):
        MixtureOfExpertsClassifier().predict_proba(X)
    est = MixtureOfExpertsRegressor(2, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 1"):
        est.predict(np.hstack([X, X]))
    with pytest.raises(ValueError, match="NaN"):
        est.predict(_with(np.nan))
    with pytest.raises(ValueError, match="X has 50 samples but y has 49"):
        est.score_samples(X, Y[:-1])
    with pytest.raises(ValueError, match="output column"):
        est.score_samples(X, np.c_[Y, Y])
    clf = MixtureOfExpertsClassifier(2, random_state=0).fit(X, LABELS)
    with pytest.raises(ValueError, match="not seen during fit.*fitted classes"):
        clf.score_samples(X, LABELS + 5)


def test_warm_start_with_changed_data_is_refused():
    est = MixtureOfExpertsRegressor(2, random_state=0, warm_start=True).fit(X, Y)
    with pytest.raises(
        ValueError, match="warm_start=True but X does not match.*2 features"
    ):
        est.fit(np.hstack([X, X]), Y)
    with pytest.raises(ValueError, match="n_experts changed"):
        est.set_params(n_experts=3).fit(X, Y)
    clf = MixtureOfExpertsClassifier(2, random_state=0, warm_start=True).fit(X, LABELS)
    with pytest.raises(ValueError, match="classes changed"):
        clf.fit(X, LABELS + 1)


def test_failed_fit_leaves_the_previous_model_intact():
    est = MixtureOfExpertsRegressor(2, random_state=0).fit(X, Y)
    before = est.predict(X)
    with pytest.raises(ValueError):
        est.fit(_with(np.nan), Y)
    np.testing.assert_array_equal(est.predict(X), before)


def test_fit_that_fails_late_restores_the_fitted_attributes():
    est = MixtureOfExpertsRegressor(2, random_state=0).fit(X, Y)
    before = est.predict(X)
    wide = np.hstack([X, X])[:3]
    with pytest.raises(ValueError, match="n_experts"):
        est.set_params(n_experts=4).fit(wide, Y[:3])  # fails after validation
    assert est.n_features_in_ == 1
    np.testing.assert_array_equal(est.predict(X), before)


def test_warm_start_with_a_different_number_of_outputs_is_refused():
    X, y = make_mixture_regression(300, 3, 2, n_outputs=2, random_state=0)
    model = MixtureOfExpertsRegressor(2, warm_start=True, random_state=0).fit(X, y)
    before = model.predict(X)
    with pytest.raises(ValueError, match="shape of y changed"):
        model.fit(X, np.c_[y, y[:, 0]])
    np.testing.assert_array_equal(model.predict(X), before)
    assert model.n_outputs_ == 2
