"""The estimators inside scikit-learn's tools, and the promises of their API."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import (
    load_vowels,
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)
from mixexp.gates import SoftmaxGate


@pytest.fixture(scope="module")
def regression_data():
    return make_piecewise_linear(400, random_state=0)


@pytest.fixture(scope="module")
def classification_data():
    return make_local_classification(400, random_state=0)


@pytest.fixture(scope="module")
def fitted_regressor(regression_data):
    return MixtureOfExpertsRegressor(3, random_state=0).fit(*regression_data)


@pytest.fixture(scope="module")
def fitted_classifier(classification_data):
    return MixtureOfExpertsClassifier(4, random_state=0).fit(*classification_data)


def test_score_is_r2_not_the_likelihood(fitted_regressor, regression_data):
    X, y = regression_data
    assert fitted_regressor.score(X, y) == pytest.approx(
        r2_score(y, fitted_regressor.predict(X))
    )
    assert fitted_regressor.score(X, y) != pytest.approx(
        fitted_regressor.log_likelihood(X, y).mean()
    )


def test_score_is_accuracy(fitted_classifier, classification_data):
    X, y = classification_data
    assert fitted_classifier.score(X, y) == accuracy_score(
        y, fitted_classifier.predict(X)
    )


def test_regressor_outputs_are_consistent(fitted_regressor, regression_data):
    X, y = regression_data
    gate = fitted_regressor.predict_gate_proba(X)
    experts = fitted_regressor.predict_experts(X)
    resp = fitted_regressor.responsibilities(X, y)
    assert gate.shape == experts.shape == resp.shape == (400, 3)
    np.testing.assert_allclose(gate.sum(axis=1), 1.0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    np.testing.assert_allclose(
        fitted_regressor.predict(X), np.sum(gate * experts, axis=1)
    )
    # The lower bound is the mean penalized log-likelihood on the training data.
    penalty = fitted_regressor.gate_._penalty() + fitted_regressor.experts_._penalty()
    mean_ll = fitted_regressor.log_likelihood(X, y).mean()
    assert fitted_regressor.lower_bound_ == pytest.approx(
        mean_ll - penalty / 400, rel=1e-9
    )


def test_classifier_outputs_are_consistent(fitted_classifier, classification_data):
    X, y = classification_data
    proba = fitted_classifier.predict_proba(X)
    experts = fitted_classifier.predict_experts(X)
    gate = fitted_classifier.predict_gate_proba(X)
    assert proba.shape == (400, 2) and experts.shape == (400, 4, 2)
    np.testing.assert_allclose(proba, np.einsum("nk,nkc->nc", gate, experts))
    np.testing.assert_allclose(np.exp(fitted_classifier.predict_log_proba(X)), proba)
    assert np.array_equal(
        fitted_classifier.predict(X), fitted_classifier.classes_[proba.argmax(axis=1)]
    )
    log_lik = fitted_classifier.log_likelihood(X, y)
    # log_likelihood works in log space, so it is the more accurate of the two
    np.testing.assert_allclose(log_lik, np.log(proba[np.arange(400), y]), atol=1e-12)


def test_information_criteria_count_parameters(fitted_regressor, regression_data):
    X, y = regression_data
    # gate: (K - 1)(d + 1) = 4; experts: K (d + 1) + K variances = 9
    assert fitted_regressor._n_parameters() == 13
    log_lik = fitted_regressor.log_likelihood(X, y).sum()
    assert fitted_regressor.bic(X, y) == pytest.approx(-2 * log_lik + 13 * np.log(400))
    assert fitted_regressor.aic(X, y) == pytest.approx(-2 * log_lik + 26)


def test_bic_prefers_the_true_number_of_experts():
    X, y = make_piecewise_linear(1500, random_state=0)
    bic = {
        k: MixtureOfExpertsRegressor(k, random_state=0).fit(X, y).bic(X, y)
        for k in (1, 2, 3)
    }
    assert min(bic, key=bic.get) == 3


def test_classifier_parameter_count(fitted_classifier):
    # gate (4 - 1) * 3 + experts 4 * (2 - 1) * 3
    assert fitted_classifier._n_parameters() == 9 + 12


def test_multi_output_regression_matches_single_outputs():
    X, y = make_mixture_regression(
        500, n_features=2, n_experts=1, n_outputs=2, random_state=0
    )
    both = MixtureOfExpertsRegressor(1).fit(X, y)
    assert both.predict(X).shape == (500, 2)
    assert both.experts_.coef_.shape == (1, 2, 2)
    for j in range(2):
        single = MixtureOfExpertsRegressor(1).fit(X, y[:, j])
        np.testing.assert_allclose(both.predict(X)[:, j], single.predict(X), rtol=1e-8)
        np.testing.assert_allclose(
            both.experts_.noise_variance_[:, j],
            single.experts_.noise_variance_,
            rtol=1e-8,
        )
    column = MixtureOfExpertsRegressor(1).fit(X, y[:, :1])
    assert column.predict(X).shape == (500, 1)


def test_multi_output_mixture_fits():
    X, y = make_mixture_regression(
        1500, n_features=2, n_experts=2, n_outputs=3, gate_scale=10, random_state=0
    )
    est = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    assert est.score(X, y) > 0.95
    assert est.predict_experts(X).shape == (1500, 2, 3)


def test_pipeline_grid_search_and_cross_validate():
    X, y = make_piecewise_linear(600, random_state=0)
    pipe = make_pipeline(
        StandardScaler(),
        MixtureOfExpertsRegressor(gate=SoftmaxGate(), random_state=0),
    )
    grid = GridSearchCV(
        pipe,
        {
            "mixtureofexpertsregressor__n_experts": [1, 3],
            "mixtureofexpertsregressor__gate__alpha": [1e-6, 1e-2],
        },
        cv=3,
    ).fit(X, y)
    assert grid.best_params_["mixtureofexpertsregressor__n_experts"] == 3
    assert grid.best_score_ > 0.95
    scores = cross_validate(
        make_pipeline(StandardScaler(), MixtureOfExpertsClassifier(4, random_state=0)),
        *make_local_classification(600, random_state=0),
        cv=3,
    )
    assert scores["test_score"].mean() > 0.9


def test_clone_and_pickle_round_trip(
    fitted_regressor, fitted_classifier, regression_data
):
    X, y = regression_data
    fresh = clone(fitted_regressor)
    assert not hasattr(fresh, "gate_")
    assert fresh.get_params() == fitted_regressor.get_params()
    for est, Xs in ((fitted_regressor, X), (fitted_classifier, X.repeat(2, axis=1))):
        copy = pickle.loads(pickle.dumps(est))
        method = "predict_proba" if hasattr(est, "predict_proba") else "predict"
        np.testing.assert_array_equal(
            getattr(copy, method)(Xs), getattr(est, method)(Xs)
        )
        assert copy.gate_ is not est.gate_


def test_pandas_input_keeps_feature_names():
    import pandas as pd

    bunch = load_vowels()
    frame = pd.DataFrame(bunch.data, columns=["F1", "F2"])
    est = MixtureOfExpertsClassifier(2, random_state=0).fit(frame, bunch.target)
    assert list(est.feature_names_in_) == ["F1", "F2"]
    with pytest.warns(UserWarning, match="fitted with feature names"):
        np.testing.assert_array_equal(est.predict(frame), est.predict(bunch.data))
    with pytest.warns(UserWarning, match="has feature names"):
        est.fit(bunch.data, bunch.target).predict(frame)
    reg = MixtureOfExpertsRegressor(2, random_state=0).fit(
        frame[["F1"]], pd.Series(bunch.data[:, 1])
    )
    assert list(reg.feature_names_in_) == ["F1"]


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_integer_sample_weight_equals_repeated_rows(kind):
    rng = np.random.RandomState(0)
    if kind == "regressor":
        X, y = make_piecewise_linear(200, random_state=1)
        est = MixtureOfExpertsRegressor(3, random_state=0)
        method = "predict"
    else:
        X, y = make_local_classification(200, random_state=1)
        est = MixtureOfExpertsClassifier(4, random_state=0)
        method = "predict_proba"
    weights = rng.randint(0, 4, size=200)
    weighted = clone(est).fit(X, y, sample_weight=weights)
    order = rng.permutation(int(weights.sum()))
    repeated = clone(est).fit(
        X.repeat(weights, axis=0)[order], y.repeat(weights)[order]
    )
    np.testing.assert_allclose(
        getattr(weighted, method)(X), getattr(repeated, method)(X), rtol=1e-6, atol=1e-8
    )
    doubled = clone(est).fit(X, y, sample_weight=np.full(200, 2.0))
    stacked = clone(est).fit(np.vstack([X, X]), np.concatenate([y, y]))
    np.testing.assert_allclose(
        getattr(doubled, method)(X), getattr(stacked, method)(X), rtol=1e-6, atol=1e-8
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fitted_model_holds_parameters_only():
    X, y = make_local_classification(40_000, random_state=0)  # large: row samples
    est = MixtureOfExpertsClassifier(2, random_state=0, max_iter=3).fit(X, y)
    for component in (est.gate_, est.experts_):
        arrays = {k for k, v in vars(component).items() if isinstance(v, np.ndarray)}
        # The inputs' variances: the units of the fitted objective's penalty.
        assert arrays == {"coef_", "intercept_", "_column_variance"}
        assert not hasattr(component, "_curvature_rows")
    assert len(pickle.dumps(est)) < 5_000


def test_permuting_the_experts_changes_no_prediction(fitted_regressor, regression_data):
    X, y = regression_data
    perm = np.array([2, 0, 1])
    permuted = pickle.loads(pickle.dumps(fitted_regressor))
    for component in (permuted.gate_, permuted.experts_):
        for name in ("coef_", "intercept_", "noise_variance_"):
            if hasattr(component, name):
                setattr(component, name, getattr(component, name)[perm])
    np.testing.assert_allclose(
        permuted.predict(X), fitted_regressor.predict(X), rtol=1e-12
    )
    np.testing.assert_allclose(
        permuted.log_likelihood(X, y), fitted_regressor.log_likelihood(X, y), rtol=1e-12
    )
    np.testing.assert_allclose(
        permuted.responsibilities(X, y),
        fitted_regressor.responsibilities(X, y)[:, perm],
        atol=1e-12,
    )


@pytest.mark.parametrize(
    "method",
    ["log_likelihood", "responsibilities", "predict", "predict_gate_proba"],
)
def test_methods_are_row_wise(fitted_regressor, regression_data, method):
    """Sample-order and subset invariance, also for the methods that need y
    (sklearn's own invariance checks call ``log_likelihood(X)`` without y)."""
    X, y = regression_data
    fn = getattr(fitted_regressor, method)
    args = (X, y) if method in ("log_likelihood", "responsibilities") else (X,)
    full = fn(*args)
    perm = np.random.RandomState(0).permutation(X.shape[0])
    permuted_args = tuple(a[perm] for a in args)
    np.testing.assert_allclose(fn(*permuted_args), full[perm], rtol=1e-12, atol=1e-15)
    subset_args = tuple(a[:37] for a in args)
    np.testing.assert_allclose(fn(*subset_args), full[:37], rtol=1e-12, atol=1e-15)


def test_classifier_string_labels_and_methods_are_row_wise():
    X, y = make_local_classification(300, random_state=0)
    labels = np.array(["left", "right"])[y]
    est = MixtureOfExpertsClassifier(4, random_state=0).fit(X, labels)
    assert set(est.predict(X)) <= {"left", "right"}
    perm = np.random.RandomState(1).permutation(300)
    np.testing.assert_allclose(
        est.log_likelihood(X[perm], labels[perm]), est.log_likelihood(X, labels)[perm]
    )
    np.testing.assert_allclose(
        est.responsibilities(X[:10], labels[:10]),
        est.responsibilities(X, labels)[:10],
    )


def test_show_versions_names_every_dependency_and_its_version(capsys):
    import sklearn

    import mixexp

    mixexp.show_versions()
    out = capsys.readouterr().out
    assert out.startswith("System:")
    assert f"numpy: {np.__version__}" in out
    assert f"scikit-learn: {sklearn.__version__}" in out
    assert f"mixexp: {mixexp.__version__}" in out
    assert "Threadpool libraries:" in out and "blas" in out


@pytest.mark.parametrize(
    "make, key, default, values",
    [
        (MixtureOfExpertsRegressor, "gate__alpha", "SoftmaxGate", [1e-3, 1e-2]),
        (MixtureOfExpertsRegressor, "expert__degree", "LinearExpert", [1, 2]),
        (MixtureOfExpertsClassifier, "expert__alpha", "LogisticExpert", [1e-3, 1e-2]),
    ],
)
def test_a_default_components_parameter_names_the_component_to_pass(
    make, key, default, values
):
    X, y = make_piecewise_linear(60, random_state=0)
    if make is MixtureOfExpertsClassifier:
        y = (y > np.median(y)).astype(int)
    name = key.split("__")[0]
    search = GridSearchCV(make(2), {key: values}, cv=2)
    with pytest.raises(ValueError, match=rf"{name}={default}\(") as caught:
        search.fit(X, y)
    assert f"{{'{name}': [{default}()]" in str(caught.value)
    # Passing the component, as the message says, works.
    component = type(make()._default_expert()) if name == "expert" else SoftmaxGate
    search = GridSearchCV(make(2, **{name: component()}), {key: values}, cv=2)
    search.fit(X, y)
    assert search.best_params_[key] in values
