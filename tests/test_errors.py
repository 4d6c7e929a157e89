# ruff: noqa: E501  (case tables read best one case per line)
"""Bad input gets a clear error that says what is wrong and what to do."""

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from sklearn.base import clone
from sklearn.exceptions import (
    ConvergenceWarning,
    NotFittedError,
    UndefinedMetricWarning,
)
from sklearn.utils._param_validation import InvalidParameterError

from mixexp import (
    DeepMixtureOfExpertsRegressor,
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
    MixtureOfExpertsRegressorCV,
)
from mixexp.datasets import make_mixture_regression, make_piecewise_linear
from mixexp.experts import LinearExpert, LogisticExpert, StudentTExpert
from mixexp.gates import GaussianGate, SoftmaxGate

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
        est.log_likelihood(X, Y[:-1])
    with pytest.raises(ValueError, match="output column"):
        est.log_likelihood(X, np.c_[Y, Y])
    clf = MixtureOfExpertsClassifier(2, random_state=0).fit(X, LABELS)
    with pytest.raises(ValueError, match="not seen during fit.*fitted classes"):
        clf.log_likelihood(X, LABELS + 5)


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


# ------------------------------------------------ issue 21: misleading errors
# Each case used to crash with the wrong exception (LinAlgError, numpy's
# DTypePromotionError, TypeError from a sort) or with a message about the
# wrong thing; each must say what is wrong and what to do.


RNG = np.random.RandomState(1)
X2 = RNG.standard_normal((60, 2))
Y2 = X2 @ [1.0, -1.0] + np.where(X2[:, 0] > 0, 2.0, -2.0) + 0.1 * RNG.randn(60)
L2 = (X2[:, 0] + X2[:, 1] > 0).astype(int)


def _quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def _fitted_state(model):
    """Every fitted attribute, as bytes: equal bytes mean an untouched model
    (also catches in-place changes of the fitted components)."""
    state = {k: v for k, v in vars(model).items() if k.endswith("_")}
    state["_online_state"] = getattr(model, "_online_state", None)
    return pickle.dumps(sorted(state.items(), key=lambda item: item[0]))


def _object_with(values, index, missing):
    out = np.array(values, dtype=object)
    out[index] = missing
    return out


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
@pytest.mark.parametrize(
    "model, y, index",
    [
        (MixtureOfExpertsRegressor(2, max_iter=5), Y2, 3),
        (MixtureOfExpertsRegressor(2, max_iter=5), np.c_[Y2, -Y2], (3, 1)),
        (MixtureOfExpertsClassifier(2, max_iter=5), L2, 3),
        (MixtureOfExpertsClassifier(2, max_iter=5), np.array(["a", "b"])[L2], 3),
        (HierarchicalMixtureOfExpertsClassifier(depth=1, max_iter=5), L2, 3),
    ],
    ids=["reg-1d", "reg-2d", "clf-int", "clf-str", "hme-clf"],
)
def test_missing_values_in_object_targets(model, y, index, missing):
    # Before: LinAlgError (regressor), "Unknown label type" or a TypeError
    # from sorting None among strings (classifier).
    with pytest.raises(
        ValueError, match=r"y has missing values.*row.*\b3\b.*(drop|impute)"
    ):
        _quiet_fit(clone(model), X2, _object_with(y, index, missing))


@pytest.mark.parametrize("value", ["abc", b"x", object()])
def test_non_numbers_in_a_regression_target(value):
    # Before: the message blamed X ("X must be numeric") for text in y.
    y = _object_with(Y2, 5, value)
    with pytest.raises(ValueError, match="numeric targets.*MixtureOfExpertsClassifier"):
        MixtureOfExpertsRegressor(2).fit(X2, y)


def test_text_targets_of_a_regressor_point_to_its_classifier():
    y = np.array(["a", "b"] * 25)
    for regressor, classifier in [
        (MixtureOfExpertsRegressorCV, "MixtureOfExpertsClassifierCV"),
        (
            HierarchicalMixtureOfExpertsRegressor,
            "HierarchicalMixtureOfExpertsClassifier",
        ),
    ]:
        with pytest.raises(ValueError, match=f"numeric targets.*use {classifier} for"):
            regressor().fit(X2[:50], y)


def test_labels_of_mixed_types():
    y = _object_with(L2, 5, "a")  # ints and a str
    with pytest.raises(
        ValueError, match=r"mixes labels of types.*int.*str.*of one type"
    ):
        MixtureOfExpertsClassifier(2).fit(X2, y)


@pytest.mark.parametrize(
    "model, names",
    [
        (
            MixtureOfExpertsRegressor(2),
            ["n_experts", "n_init", "max_iter", "top_k", "n_jobs", "batch_size",
             "n_iter_no_change", "tol", "balance_weight", "learning_rate_init"],
        ),
        (MixtureOfExpertsClassifier(2), ["n_experts", "max_iter", "top_k", "tol"]),
        (HierarchicalMixtureOfExpertsRegressor(), ["depth", "branching", "n_init", "top_k"]),
    ],
)  # fmt: skip
def test_a_bool_is_not_a_number_parameter(model, names):
    # sklearn's Interval(Integral, ...) takes True for 1 (and Interval(Real,
    # ...) for 1.0): n_experts=True used to fail deep inside with "an integer
    # is required"; n_init=True, tol=True and depth=True fitted.
    y = L2 if model._task == "classification" else Y2
    for name in names:
        for value in (True, np.True_):
            with pytest.raises(
                InvalidParameterError, match=f"'{name}'.*(int|float).*Got (np.)?True"
            ):
                clone(model).set_params(**{name: value}).fit(X2, y)


def test_verbose_still_takes_a_bool():
    # scikit-learn's convention for verbose: True means 1.
    model = _quiet_fit(MixtureOfExpertsRegressor(2, max_iter=2, verbose=False), X2, Y2)
    assert model.n_iter_ == 2


def _frame(**extra):
    frame = pd.DataFrame(X2, columns=["a", "b"])
    for name, column in extra.items():
        frame[name] = column
    return frame


DATES = pd.date_range("2020-01-01", periods=60, freq="D")
ODD_COLUMNS = {
    "datetime": DATES,
    "datetime with a time zone": DATES.tz_localize("UTC"),
    "timedelta": pd.to_timedelta(np.arange(60), unit="s"),
    "period": pd.period_range("2020-01", periods=60, freq="M"),
    "categorical of strings": pd.Categorical(["u", "v"] * 30),
}


@pytest.mark.parametrize("kind", list(ODD_COLUMNS))
def test_pandas_columns_that_are_not_numbers(kind):
    # Before: DTypePromotionError or "float() argument must be ...".
    frame = _frame(when=ODD_COLUMNS[kind])
    with pytest.raises(
        ValueError, match="numeric.*column .when.*(Convert|Encode).*ColumnTransformer"
    ):
        MixtureOfExpertsRegressor(2).fit(frame, Y2)
    numeric = _frame(when=np.arange(60.0))
    model = _quiet_fit(
        MixtureOfExpertsRegressor(2, max_iter=5, random_state=0), numeric, Y2
    )
    before = _fitted_state(model)
    with pytest.raises(ValueError, match="numeric.*column .when.*(Convert|Encode)"):
        model.predict(frame)
    assert _fitted_state(model) == before


def test_datetime64_arrays_are_refused():
    # A bare numpy datetime64 array used to be fitted on its raw tick count.
    X = np.arange(60).astype("datetime64[D]").reshape(-1, 1)
    with pytest.raises(ValueError, match="datetime64.*convert"):
        MixtureOfExpertsRegressor(2).fit(X, Y2)


@pytest.fixture(scope="module")
def fitted_classifiers():
    ints = _quiet_fit(
        MixtureOfExpertsClassifier(2, max_iter=10, random_state=0), X2, L2
    )
    strings = _quiet_fit(
        MixtureOfExpertsClassifier(2, max_iter=10, random_state=0),
        X2,
        np.array(["no", "yes"])[L2],
    )
    return {"int": (ints, L2), "str": (strings, np.array(["no", "yes"])[L2])}


@pytest.mark.parametrize(
    "method", ["score", "log_likelihood", "responsibilities", "bic", "aic"]
)
@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize("missing", [None, np.nan])
def test_missing_labels_at_score_time(fitted_classifiers, method, labels, missing):
    # Before: TypeError "'<' not supported between 'NoneType' and 'int'".
    model, y = fitted_classifiers[labels]
    before = _fitted_state(model)
    with pytest.raises(
        ValueError, match=r"y has missing values.*row.*\b7\b.*(drop|impute)"
    ):
        getattr(model, method)(X2, _object_with(y, 7, missing))
    assert _fitted_state(model) == before


def test_unseen_labels_at_score_time(fitted_classifiers):
    model, y = fitted_classifiers["str"]
    for unseen in ([3] * 60, ["maybe"] * 60):
        with pytest.raises(ValueError, match="not seen during fit.*fitted classes"):
            model.log_likelihood(X2, unseen)
    # score is accuracy: a label the model never predicts only counts as wrong.
    assert model.score(X2, np.array(["maybe"] * 60)) == 0.0


@pytest.mark.parametrize(
    "model, y",
    [
        (MixtureOfExpertsRegressor(2, max_iter=5), Y2),
        (MixtureOfExpertsClassifier(2, max_iter=5), L2),
    ],
)
def test_a_sparse_target(model, y):
    # Before (regressor): "needs numeric targets, got values of dtype object
    # such as [<Compressed Sparse Row sparse matrix ...>]".
    sparse = scipy.sparse.csr_matrix(y.reshape(-1, 1).astype(float))
    with pytest.raises(TypeError, match=r"[Ss]parse.*toarray"):
        clone(model).fit(X2, sparse)
    with pytest.raises(TypeError, match=r"[Ss]parse.*toarray"):
        clone(model).partial_fit(
            X2,
            sparse,
            **({"classes": [0, 1]} if np.ndim(y) == 1 and y.dtype.kind == "i" else {}),
        )
    fitted = _quiet_fit(clone(model).set_params(random_state=0), X2, y)
    before = _fitted_state(fitted)
    for method in ("log_likelihood", "score"):
        with pytest.raises(TypeError, match=r"[Ss]parse.*toarray"):
            getattr(fitted, method)(X2, sparse)
    assert _fitted_state(fitted) == before


WARM_CHANGES = [
    ("expert degree", MixtureOfExpertsRegressor(2), dict(expert=LinearExpert(degree=2)), "expert"),
    ("expert degree 2 -> 3", MixtureOfExpertsRegressor(2, expert=LinearExpert(degree=2)), dict(expert=LinearExpert(degree=3)), "expert"),
    ("expert type", MixtureOfExpertsRegressor(2), dict(expert=StudentTExpert()), "expert"),
    ("gate type", MixtureOfExpertsRegressor(2), dict(gate=GaussianGate()), "gate"),
    ("n_experts", MixtureOfExpertsRegressor(2), dict(n_experts=3), "n_experts"),
    ("gate_features", MixtureOfExpertsRegressor(2), dict(gate_features=[0]), "gate_features"),
    ("expert_features", MixtureOfExpertsRegressor(2), dict(expert_features=[1]), "expert_features"),
    ("tree depth", HierarchicalMixtureOfExpertsRegressor(depth=1, branching=4), dict(depth=2, branching=2), "gate"),
    ("classifier n_experts", MixtureOfExpertsClassifier(2), dict(n_experts=3), "n_experts"),
]  # fmt: skip


@pytest.mark.parametrize(
    "name, model, change, what", WARM_CHANGES, ids=[c[0] for c in WARM_CHANGES]
)
def test_warm_start_after_a_change_of_structure(name, model, change, what):
    # Before: numpy shape errors ("matmul: Input operand 1 has a mismatch")
    # for a new degree; one policy now: a ValueError naming the change.
    y = L2 if model._task == "classification" else Y2
    model = _quiet_fit(clone(model).set_params(max_iter=5, random_state=0), X2, y)
    before, predictions = _fitted_state(model), model.predict(X2)
    model.set_params(warm_start=True, **change)
    with pytest.raises(
        ValueError, match=f"warm_start=True but .*{what}.*changed.*warm_start=False"
    ):
        model.fit(X2, y)
    assert _fitted_state(model) == before
    np.testing.assert_array_equal(model.predict(X2), predictions)
    if hasattr(model, "partial_fit"):
        with pytest.raises(ValueError, match=f"partial_fit.*{what}.*changed.*call fit"):
            model.partial_fit(X2, y)
        assert _fitted_state(model) == before
    # Refitting from scratch is what the message asks for, and works.
    _quiet_fit(model.set_params(warm_start=False), X2, y)


def test_warm_start_after_a_change_of_targets():
    model = _quiet_fit(
        MixtureOfExpertsClassifier(2, max_iter=5, random_state=0, warm_start=True),
        X2,
        L2,
    )
    before = _fitted_state(model)
    with pytest.raises(
        ValueError, match="warm_start=True but the classes changed.*warm_start=False"
    ):
        model.fit(X2, L2 + 1)
    assert _fitted_state(model) == before


STALE_CHANGES = {
    "n_experts": dict(n_experts=5),
    "top_k": dict(top_k=1),
    "dense": dict(top_k=None),
    "gate_features": dict(gate_features=[0]),
    "expert_features": dict(expert_features=[1]),
    "degree": dict(expert=LinearExpert(degree=3)),
    "gate": dict(gate=GaussianGate(), top_k=None),
}
STALE_MODELS = {
    "regressor": (
        MixtureOfExpertsRegressor(3, top_k=2, max_iter=5, random_state=0),
        Y2,
    ),
    "classifier": (
        MixtureOfExpertsClassifier(3, top_k=2, max_iter=5, random_state=0),
        L2,
    ),
    "hierarchy": (
        HierarchicalMixtureOfExpertsRegressor(depth=2, max_iter=5, random_state=0),
        Y2,
    ),
}


def _all_outputs(model, y):
    outputs = {
        name: getattr(model, name)(X2)
        for name in ("predict", "predict_gate_proba", "predict_experts")
    }
    for name in ("log_likelihood", "responsibilities", "bic", "aic", "score"):
        outputs[name] = getattr(model, name)(X2, y)
    if model._task == "classification":
        outputs["predict_proba"] = model.predict_proba(X2)
    else:
        outputs["std"] = model.predict(X2, return_std=True)[1]
        outputs["sample_y"] = model.sample_y(X2, 3, random_state=0)
        outputs["quantiles"] = model.predict_quantiles(X2)
    return outputs


# A hierarchy's gate and size are its tree's depth and branching.
HIERARCHY_CHANGES = {"gate": dict(depth=3), "n_experts": dict(branching=3)}


@pytest.mark.parametrize(
    "kind, change",
    [(kind, change) for kind in STALE_MODELS for change in STALE_CHANGES],
)
def test_set_params_without_refitting_keeps_the_fitted_model(kind, change):
    # Before: log_likelihood & co. sized their arrays by the new n_experts
    # ("could not broadcast input array from shape (3,60) into (5,60)").
    model, y = STALE_MODELS[kind]
    params = STALE_CHANGES[change]
    if kind == "hierarchy":
        params = HIERARCHY_CHANGES.get(change, params)
    if kind == "classifier" and change == "degree":
        params = dict(expert=LogisticExpert(degree=3))
    model = _quiet_fit(clone(model), X2, y)
    reference = _all_outputs(model, y)
    before = _fitted_state(model)
    model.set_params(**params)
    after = _all_outputs(model, y)
    for name, value in reference.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    assert _fitted_state(model) == before


def test_expert_usage_display_uses_the_fitted_experts():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from mixexp.inspection import ExpertRegionDisplay

    model = _quiet_fit(MixtureOfExpertsRegressor(3, max_iter=5, random_state=0), X2, Y2)
    model.set_params(n_experts=5)
    display = ExpertRegionDisplay.from_estimator(model, X2, grid_resolution=10)
    assert display.gate_proba.shape[-1] == 3
    assert len(display.region_labels) == 3


FAILING_REFITS = {
    "nan in X": (dict(), lambda X, y: (np.where(np.arange(60)[:, None] == 3, np.nan, X), y)),
    "None in y": (dict(), lambda X, y: (X, _object_with(y, 3, None))),
    "too many experts": (dict(n_experts=70), lambda X, y: (X, y)),
    "bad option": (dict(solver="em", loss="cooperative"), lambda X, y: (X, y)),
    "datetime column": (dict(), lambda X, y: (_frame(when=DATES), y)),
    "sparse y": (dict(), lambda X, y: (X, scipy.sparse.csr_matrix(y.reshape(-1, 1)))),
    "warm start, new degree": (dict(warm_start=True, expert=LinearExpert(degree=2)), lambda X, y: (X, y)),
    "warm start, more features": (dict(warm_start=True), lambda X, y: (np.c_[X, X], y)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FAILING_REFITS))
def test_a_failed_fit_leaves_every_fitted_attribute(case):
    params, make = FAILING_REFITS[case]
    model = _quiet_fit(MixtureOfExpertsRegressor(2, max_iter=5, random_state=0), X2, Y2)
    model.partial_fit(X2, Y2)  # online state too
    before = copy.deepcopy(_fitted_state(model))
    model.set_params(**params)
    with pytest.raises((ValueError, TypeError)):
        model.fit(*make(X2, Y2))
    assert _fitted_state(model) == before


@pytest.mark.parametrize(
    "classes, match",
    [
        ([0, 1, None], r"classes has missing values"),
        ([0, 1, "a"], r"classes mixes labels of types.*int.*str"),
    ],
)
def test_partial_fit_classes_with_missing_or_mixed_labels(classes, match):
    # Before: a TypeError from sorting None, or [0, 1, "a"] silently became
    # the strings ["0", "1", "a"] and the int labels were "not seen".
    with pytest.raises(ValueError, match=match):
        MixtureOfExpertsClassifier(2).partial_fit(X2, L2, classes=classes)


@pytest.mark.parametrize(
    "column, name",
    [
        (pd.Series(DATES.to_pydatetime(), dtype=object), "Timestamp|datetime"),
        (pd.interval_range(0, 60), "Interval"),
    ],
    ids=["datetime objects", "intervals"],
)
def test_objects_that_are_not_numbers_in_X(column, name):
    # Before: "float() argument must be a string or a real number, not
    # 'Timestamp'", which says nothing about X or what to do.
    with pytest.raises(TypeError, match=f"X must be numeric.*({name}).*numbers first"):
        MixtureOfExpertsRegressor(2).fit(_frame(when=column), Y2)


def test_sample_weight_of_text():
    # Before: "could not convert string to float: np.str_('a')".
    with pytest.raises(
        ValueError,
        match="sample_weight must be numeric.*one non-negative number per sample",
    ):
        MixtureOfExpertsRegressor(2).fit(X2, Y2, sample_weight=np.array(["a"] * 60))


@pytest.mark.parametrize("missing", [None, "abc"])
def test_regressor_score_with_missing_or_text_targets(missing):
    # Before: r2_score's "Input contains NaN" or a float() conversion error.
    model = _quiet_fit(MixtureOfExpertsRegressor(2, random_state=0, max_iter=5), X, Y)
    y = Y.astype(object)
    y[3] = missing
    with pytest.raises(ValueError, match="missing values|numeric targets"):
        model.score(X, y)


def test_sample_y_refuses_a_bool_count():
    model = _quiet_fit(MixtureOfExpertsRegressor(2, random_state=0, max_iter=5), X, Y)
    with pytest.raises(TypeError, match="n_samples must be a positive int"):
        model.sample_y(X[:2], n_samples=True)
    assert model.sample_y(X[:2], n_samples=3).shape == (2, 3)


@pytest.mark.parametrize(
    "component, name",
    [
        (LinearExpert(alpha=True), "alpha"),
        (LinearExpert(min_variance=True), "min_variance"),
        (LinearExpert(degree=True), "degree"),
        (GaussianGate(reg_covar=True), "reg_covar"),
        (SoftmaxGate(max_iter=True), "max_iter"),
        (SoftmaxGate(alpha=np.True_), "alpha"),
    ],
)
def test_a_bool_is_not_a_number_parameter_of_a_part(component, name):
    # Before: alpha=True fitted with alpha 1.0, max_iter=True with one step.
    role = "gate" if "Gate" in type(component).__name__ else "expert"
    model = MixtureOfExpertsRegressor(2, max_iter=5, **{role: component})
    with pytest.raises(ValueError, match=f"{name}.*(True.*bool|Got (np.)?True)"):
        model.fit(X, Y)


@pytest.mark.parametrize("degree", [True, 1.5, 0])
@pytest.mark.parametrize("task", ["regression", "classification"])
def test_an_expert_degree_is_a_positive_int(degree, task):
    # Before: degree=0 failed building the data ("could not broadcast").
    if task == "regression":
        model, y = MixtureOfExpertsRegressor(2, expert=LinearExpert(degree=degree)), Y2
    else:
        model, y = (
            MixtureOfExpertsClassifier(2, expert=LogisticExpert(degree=degree)),
            L2,
        )
    with pytest.raises(ValueError, match=f"degree={degree}.*int >= 1"):
        model.fit(X2, y)
    with pytest.raises(ValueError, match=f"degree={degree}.*int >= 1"):
        model.partial_fit(
            X2, y, **({"classes": np.unique(L2)} if task != "regression" else {})
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda: MixtureOfExpertsRegressor(2, solver="adam", early_stopping=True),
        lambda: DeepMixtureOfExpertsRegressor(
            layers=(2,), hidden_units=4, early_stopping=True
        ),
    ],
)
def test_early_stopping_validates_on_at_least_two_rows(make):
    rng = np.random.RandomState(0)
    X, y = rng.randn(12, 2), rng.randn(12)
    # A tenth of 12 rows rounds to one, on which R^2 is undefined.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        make().set_params(max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="early_stopping=True holds out 2 of the 2"):
        make().fit(X[:2], y[:2])
