# ruff: noqa: E501  (the case table reads best one case per line)
"""Hostile inputs: every estimator against the same table of bad data.

Each case either fits and predicts finite values of the right shape with no
RuntimeWarning from numpy, or raises a ValueError/TypeError whose message
names the problem, and leaves the estimator as it was (unfitted, or with its
previous model). A new component is covered by adding it to ``ESTIMATORS``.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.validation import check_is_fitted

from mixexp import (
    DeepMixtureOfExpertsClassifier,
    DeepMixtureOfExpertsRegressor,
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsClassifierCV,
    MixtureOfExpertsRegressor,
    MixtureOfExpertsRegressorCV,
)
from mixexp.experts import (
    GaussianProcessExpert,
    LinearExpert,
    PoissonExpert,
    StudentTExpert,
)
from mixexp.gates import ConstantGate, GaussianGate

FAST = dict(max_iter=10, random_state=0)
ESTIMATORS = {
    "em": MixtureOfExpertsRegressor(2, **FAST),
    "gd": MixtureOfExpertsRegressor(2, solver="gd", **FAST),
    "sgd": MixtureOfExpertsRegressor(2, solver="sgd", **FAST),
    "adam, noisy top-1": MixtureOfExpertsRegressor(
        3, solver="adam", top_k=1, gate_noise=True, balance_weight=0.1, **FAST
    ),
    "top-2 em": MixtureOfExpertsRegressor(3, top_k=2, **FAST),
    "gaussian gate": MixtureOfExpertsRegressor(2, gate=GaussianGate(), **FAST),
    "constant gate": MixtureOfExpertsRegressor(2, gate=ConstantGate(), **FAST),
    "t experts": MixtureOfExpertsRegressor(2, expert=StudentTExpert(), **FAST),
    "poisson experts": MixtureOfExpertsRegressor(2, expert=PoissonExpert(), **FAST),
    "gp experts": MixtureOfExpertsRegressor(2, expert=GaussianProcessExpert(), **FAST),
    "quadratic experts": MixtureOfExpertsRegressor(
        2, expert=LinearExpert(degree=2, alpha=1e-3), **FAST
    ),
    "tree experts": MixtureOfExpertsRegressor(
        2, expert=DecisionTreeRegressor(max_depth=2), **FAST
    ),
    "knn experts": MixtureOfExpertsRegressor(
        2, expert=KNeighborsRegressor(n_neighbors=3), **FAST
    ),
    "hierarchical": HierarchicalMixtureOfExpertsRegressor(depth=2, **FAST),
    # Its walk's fits trust the input it checked once.
    "cv": MixtureOfExpertsRegressorCV(n_experts=(1, 2), cv=2, **FAST),
    "classifier em": MixtureOfExpertsClassifier(2, **FAST),
    "classifier cv": MixtureOfExpertsClassifierCV(n_experts=(1, 2), cv=2, **FAST),
    "classifier adam": MixtureOfExpertsClassifier(2, solver="adam", **FAST),
    "classifier gd": MixtureOfExpertsClassifier(2, solver="gd", **FAST),
    "classifier gaussian gate": MixtureOfExpertsClassifier(
        2, gate=GaussianGate(), **FAST
    ),
    "classifier tree experts": MixtureOfExpertsClassifier(
        2, expert=DecisionTreeClassifier(max_depth=2), **FAST
    ),
    "classifier knn experts": MixtureOfExpertsClassifier(
        2, expert=KNeighborsClassifier(n_neighbors=3), **FAST
    ),
    "hierarchical classifier": HierarchicalMixtureOfExpertsClassifier(depth=2, **FAST),
}
# The deep mixtures have no likelihood of a regression target (no noise
# model) and no responsibilities: they take the fit and predict cases.
DEEP_ESTIMATORS = {
    "deep regressor": DeepMixtureOfExpertsRegressor(top_k=(2, None), **FAST),
    "deep regressor gd": DeepMixtureOfExpertsRegressor(solver="gd", **FAST),
    "deep classifier": DeepMixtureOfExpertsClassifier(**FAST),
    "deep classifier sgd": DeepMixtureOfExpertsClassifier(
        solver="sgd", early_stopping=True, **FAST
    ),
}
ALL_ESTIMATORS = {**ESTIMATORS, **DEEP_ESTIMATORS}

N, D = 40, 3


def _clean(classifier, counts=False):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((N, D))
    if classifier:
        y = (X[:, 0] + 0.3 * rng.standard_normal(N) > 0).astype(int)
    elif counts:  # float counts, so the cases treat them as regression targets
        y = rng.poisson(np.exp(1.0 + 0.5 * X[:, 0] * np.sign(X[:, 1]))).astype(float)
    else:
        y = X @ [1.0, -2.0, 0.5] + np.where(X[:, 0] > 0, 3.0, -3.0)
        y = y + 0.1 * rng.standard_normal(N)
    return X, y, None


def _clean_for(estimator):
    """Clean data of the estimator's kind: labels, counts or real targets."""
    counts = isinstance(estimator.get_params().get("expert"), PoissonExpert)
    return _clean(is_classifier(estimator), counts)


def _with(index, value, array):
    array = np.array(array, dtype=float)
    array[index] = value
    return array


def _object_with(values, index, value):
    out = np.array(values, dtype=object)
    out[index] = value
    return out


def _frame(X, **columns):
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    for name, column in columns.items():
        frame[name] = column
    return frame


# name -> (make(X, y) -> (X, y, sample_weight), error or None, tasks)
# error is (exception type, regex the message must match), or a dict of such
# per estimator name for a case where only some estimators must refuse.
BOTH, REG, CLF = ("regression", "classification"), ("regression",), ("classification",)
FIT_CASES = {
    # non-finite values
    "nan in X": (lambda X, y: (_with((3, 1), np.nan, X), y, None), (ValueError, "NaN"), BOTH),
    "inf in X": (lambda X, y: (_with((3, 1), np.inf, X), y, None), (ValueError, "infinity"), BOTH),
    "-inf in X": (lambda X, y: (_with((0, 0), -np.inf, X), y, None), (ValueError, "infinity"), BOTH),
    "nan in y": (lambda X, y: (X, _with(5, np.nan, y), None), (ValueError, "NaN"), BOTH),
    "inf in y": (lambda X, y: (X, _with(5, np.inf, y), None), (ValueError, "infinity"), REG),
    "nan weight": (lambda X, y: (X, y, _with(2, np.nan, np.ones(N))), (ValueError, "NaN"), BOTH),
    "inf weight": (lambda X, y: (X, y, _with(2, np.inf, np.ones(N))), (ValueError, "infinity"), BOTH),
    # weights
    "negative weight": (lambda X, y: (X, y, _with(2, -1.0, np.ones(N))), (ValueError, "negative"), BOTH),
    "all-zero weights": (lambda X, y: (X, y, np.zeros(N)), (ValueError, "zero for every sample"), BOTH),
    "weights of the wrong length": (lambda X, y: (X, y, np.ones(N - 1)), (ValueError, f"sample_weight has {N - 1} values but X has {N} rows"), BOTH),
    "2-D weights": (lambda X, y: (X, y, np.ones((N, 2))), (ValueError, "1D|1-D|dimension"), BOTH),
    "one weighted row": (lambda X, y: (X, y, _with(0, 1.0, np.zeros(N))), (ValueError, "positive weight"), BOTH),
    # shapes
    "empty": (lambda X, y: (X[:0], y[:0], None), (ValueError, "0 sample"), BOTH),
    "no features": (lambda X, y: (X[:, :0], y, None), (ValueError, "0 feature"), BOTH),
    "one row": (lambda X, y: (X[:1], y[:1], None), (ValueError, "minimum of 2"), BOTH),
    "3-D X": (lambda X, y: (X[:, :, None], y, None), (ValueError, "dim 3"), BOTH),
    "1-D X": (lambda X, y: (X[:, 0], y, None), (ValueError, "2D array"), BOTH),
    "X and y of different lengths": (lambda X, y: (X, y[:-1], None), (ValueError, "inconsistent numbers of samples"), BOTH),
    "2-D y for a classifier": (lambda X, y: (X, np.c_[y, y], None), (ValueError, "1d|shape"), CLF),
    # types
    "strings in X": (lambda X, y: (X.astype(str).astype(object) + "a", y, None), (ValueError, "must be numeric.*OneHotEncoder"), BOTH),
    "complex X": (lambda X, y: (X + 1j, y, None), (ValueError, r"Complex.*np.c_\[X.real"), BOTH),
    "sparse X": (lambda X, y: (scipy.sparse.csr_matrix(X), y, None), (TypeError, "dense data is required"), BOTH),
    "categorical column": (lambda X, y: (_frame(X, c=pd.Categorical(["u", "v"] * (N // 2))), y, None), (ValueError, "must be numeric"), BOTH),
    "missing values in pandas": (lambda X, y: (_frame(X, m=_with(4, np.nan, np.ones(N))), y, None), (ValueError, "NaN"), BOTH),
    "string targets": (lambda X, y: (X, np.array(["a", "b"] * (N // 2)), None), (ValueError, "numeric targets"), REG),
    "a string among numeric targets": (lambda X, y: (X, _object_with(y, 4, "abc"), None), (ValueError, "numeric targets"), REG),
    "None in an object y": (lambda X, y: (X, _object_with(y, 4, None), None), (ValueError, "missing values.*Drop"), BOTH),
    "NaN in an object y": (lambda X, y: (X, _object_with(y, 4, np.nan), None), (ValueError, "missing values.*Drop"), BOTH),
    "labels of mixed types": (lambda X, y: (X, _object_with(y, 4, "a"), None), (ValueError, "mixes labels of types"), CLF),
    "sparse y": (lambda X, y: (X, scipy.sparse.csr_matrix(y.reshape(-1, 1).astype(float)), None), (TypeError, "sparse.*toarray"), BOTH),
    "datetime column": (lambda X, y: (_frame(X, d=pd.date_range("2020", periods=N)), y, None), (ValueError, "column 'd'.*Convert"), BOTH),
    "timedelta column": (lambda X, y: (_frame(X, d=pd.to_timedelta(np.arange(N), unit="h")), y, None), (ValueError, "column 'd'.*Convert"), BOTH),
    "period column": (lambda X, y: (_frame(X, d=pd.period_range("2020", periods=N, freq="D")), y, None), (ValueError, "column 'd'.*Convert"), BOTH),
    "a single class": (lambda X, y: (X, np.zeros(N, dtype=int), None), (ValueError, "only one class"), CLF),
    # magnitudes
    "X near 1e300": (lambda X, y: (X * 1e300, y, None), (ValueError, "squares overflow"), BOTH),
    "y near 1e300": (lambda X, y: (X, y * 1e300, None), (ValueError, "squares overflow"), REG),
    "X near 1e-300": (lambda X, y: (X * 1e-300, y, None), None, BOTH),
    "y near 1e-300": (lambda X, y: (X, y * 1e-300, None), None, REG),
    # degenerate but valid
    "one feature": (lambda X, y: (X[:, :1], y, None), None, BOTH),
    "constant column": (lambda X, y: (np.c_[X, np.ones(N)], y, None), None, BOTH),
    "duplicated columns": (lambda X, y: (np.c_[X, X], y, None), None, BOTH),
    "collinear columns": (lambda X, y: (np.c_[X, X[:, 0] - 2 * X[:, 1]], y, None), None, BOTH),
    "duplicated rows": (lambda X, y: (np.r_[X, X], np.r_[y, y], None), None, BOTH),
    # plain SGD's steps scale with 1 / (the variance floor) on constant targets:
    # it diverges, keeps its starting parameters and warns
    "all rows identical": (lambda X, y: (np.tile(X[:1], (N, 1)), np.tile(y[:1], N), None), None, REG),
    "one distinct input, two classes": (lambda X, y: (np.tile(X[:1], (N, 1)), np.arange(N) % 2, None), None, CLF),
    "two distinct points": (lambda X, y: (np.repeat(X[:2], N // 2, axis=0), np.repeat([y[0], 1 - y[0]] if y.dtype.kind == "i" else y[:2], N // 2), None), None, BOTH),
    "all X zero": (lambda X, y: (np.zeros_like(X), y, None), None, BOTH),
    "constant y": (lambda X, y: (X, np.full(N, 7.0), None), None, REG),
    # a fold's training rows would miss the class: the search says so
    "one sample of a class": (lambda X, y: (X, _with(0, 1, np.zeros(N)).astype(int), None), {"classifier cv": (ValueError, "every fold must train on every class")}, CLF),
    "separable classes": (lambda X, y: (X, (X[:, 0] > 0).astype(int), None), None, CLF),
    # input types
    "int X": (lambda X, y: (np.round(X * 10).astype(int), y, None), None, BOTH),
    "bool X": (lambda X, y: (X > 0, y, None), None, BOTH),
    "object X of numbers": (lambda X, y: (X.astype(object), y, None), None, BOTH),
    "float16 X": (lambda X, y: (X.astype(np.float16), y, None), None, BOTH),
    "float32 X": (lambda X, y: (X.astype(np.float32), y, None), None, BOTH),
    "Python lists": (lambda X, y: (X.tolist(), y.tolist(), None), None, BOTH),
    "numeric DataFrame": (lambda X, y: (_frame(X), pd.Series(y), None), None, BOTH),
    "bool targets": (lambda X, y: (X, y.astype(bool) if y.dtype.kind == "i" else y > 0, None), None, BOTH),
    "numbers as text": (lambda X, y: (X, y.astype(str), None), None, REG),
    "string labels": (lambda X, y: (X, np.array(["no", "yes"])[y], None), None, CLF),
    "weights as a list": (lambda X, y: (X, y, [1.0, 2.0] * (N // 2)), None, BOTH),
}  # fmt: skip

PREDICT_CASES = {
    "nan at predict": (lambda X: _with((1, 1), np.nan, X), (ValueError, "NaN")),
    # {name}: the estimator's own class, not a mixture it wraps
    "wrong number of features": (
        lambda X: X[:, :2],
        (ValueError, "X has 2 features, but {name} is expecting 3"),
    ),
    "complex at predict": (lambda X: X + 1j, (ValueError, r"Complex.*np.c_\[X.real")),
    "X near 1e300 at predict": (lambda X: X * 1e300, (ValueError, "squares overflow")),
    "strings at predict": (
        lambda X: X.astype(str).astype(object) + "a",
        (ValueError, "must be numeric"),
    ),
    "empty at predict": (lambda X: X[:0], (ValueError, "0 sample")),
    "datetime column at predict": (
        lambda X: _frame(X[:, :2], x2=pd.date_range("2020", periods=N)),
        (ValueError, "column 'x2'.*Convert"),
    ),
}


@pytest.mark.parametrize("est_name", list(ALL_ESTIMATORS))
def test_a_dataframe_missing_a_column_at_predict(est_name):
    estimator = clone(ALL_ESTIMATORS[est_name])
    X, y, _ = _clean_for(estimator)
    frame = _frame(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(frame, y)
    before = estimator.predict(frame)
    with pytest.raises(ValueError, match="x1"):
        estimator.predict(frame.drop(columns="x1"))
    np.testing.assert_array_equal(estimator.predict(frame), before)


def _task(estimator):
    return "classification" if is_classifier(estimator) else "regression"


def _fit_cases():
    for est_name, estimator in ALL_ESTIMATORS.items():
        for case_name, (_, _, tasks) in FIT_CASES.items():
            if _task(estimator) in tasks:
                yield pytest.param(est_name, case_name, id=f"{est_name}-{case_name}")


def _check_predictions(model, X):
    X = np.asarray(X)
    outputs = []
    if is_classifier(model):
        assert np.isin(model.predict(X), model.classes_).all()
        outputs.append(model.predict_proba(X))
    elif hasattr(model, "layers"):  # a deep mixture predicts a mean only
        outputs.append(model.predict(X))
    else:
        outputs.extend(model.predict(X, return_std=True))
    gates = model.predict_gate_proba(X)
    outputs.extend(gates if isinstance(gates, list) else [gates])
    for output in outputs:
        assert output.shape[0] == X.shape[0]
        assert np.all(np.isfinite(output))


@pytest.mark.parametrize("est_name, case_name", list(_fit_cases()))
def test_fit_on_hostile_data(est_name, case_name):
    make, error, _ = FIT_CASES[case_name]
    if isinstance(error, dict):
        error = error.get(est_name)
    estimator = clone(ALL_ESTIMATORS[est_name])
    X, y, sample_weight = make(*_clean_for(estimator)[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Expert.*re-seeded", UserWarning)
        if error is not None:
            with pytest.raises(error[0], match=error[1]):
                estimator.fit(X, y, sample_weight=sample_weight)
            with pytest.raises(NotFittedError):
                check_is_fitted(estimator)
            return
        estimator.fit(X, y, sample_weight=sample_weight)
        X_check = np.asarray(X, dtype=float) if not isinstance(X, pd.DataFrame) else X
        _check_predictions(estimator, X_check)


@pytest.mark.parametrize("case_name", list(PREDICT_CASES))
@pytest.mark.parametrize("est_name", list(ALL_ESTIMATORS))
def test_predict_on_hostile_data(est_name, case_name):
    make, (kind, message) = PREDICT_CASES[case_name]
    estimator = clone(ALL_ESTIMATORS[est_name])
    X, y, _ = _clean_for(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    before = estimator.predict(X)
    with pytest.raises(kind, match=message.format(name=type(estimator).__name__)):
        estimator.predict(make(X))
    np.testing.assert_array_equal(estimator.predict(X), before)


@pytest.mark.parametrize(
    "est_name", [name for name in ESTIMATORS if "classifier" in name]
)
def test_unseen_label_at_score_time(est_name):
    estimator = clone(ESTIMATORS[est_name])
    X, y, _ = _clean(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    with pytest.raises(ValueError, match="not seen during fit"):
        estimator.log_likelihood(X, np.full(N, 7))


@pytest.mark.parametrize("est_name", list(ESTIMATORS))
def test_missing_targets_at_score_time(est_name):
    estimator = clone(ESTIMATORS[est_name])
    X, y, _ = _clean_for(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    for missing in (None, np.nan):
        for method in ("log_likelihood", "responsibilities"):
            with pytest.raises(ValueError, match=r"missing values.*\[6\].*Drop"):
                getattr(estimator, method)(X, _object_with(y, 6, missing))


@pytest.mark.parametrize(
    "est_name",
    [n for n in ESTIMATORS if "hierarchical" not in n and not n.endswith("cv")],
)
def test_a_single_expert(est_name):
    estimator = clone(ESTIMATORS[est_name]).set_params(n_experts=1, top_k=None)
    X, y, _ = _clean_for(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    _check_predictions(estimator, X)
    np.testing.assert_allclose(estimator.predict_gate_proba(X), 1.0)


def test_a_failed_refit_keeps_the_previous_model():
    estimator = clone(ESTIMATORS["em"])
    X, y, _ = _clean(False)
    estimator.fit(X, y)
    before = estimator.predict(X)
    with pytest.raises(ValueError, match="NaN"):
        estimator.fit(_with((0, 0), np.nan, X), y)
    np.testing.assert_array_equal(estimator.predict(X), before)
