"""Validation of the estimators' input, and the training data made from it.

Functions of explicit arguments, shared by ``fit`` on arrays in memory, ``fit``
on dask arrays (block by block, ``mixexp._dask``) and ``partial_fit``: the
estimator (``BaseMixtureOfExperts._prepare_fit``) calls them in one sequence,
and ``DataMaker`` makes the ``TrainingData`` of validated arrays the same
way on every path.
"""

import contextlib
import inspect
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
import sklearn
from scipy.sparse import issparse
from sklearn.base import ClassifierMixin, RegressorMixin, clone
from sklearn.utils.validation import _check_sample_weight, check_array, validate_data

from ._data import FLOAT_DTYPES, TrainingData, check_magnitude
from .experts import EstimatorExpert

# Frames of these packages are skipped when a warning looks for the user's line.
_INTERNAL_DIRS = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep
    for module in (sys.modules[__package__], sklearn, joblib)
)


def warn_user(message, category=UserWarning):
    """``warnings.warn`` attributed to the first caller outside mixexp,
    scikit-learn and joblib (the user's line that called ``fit``, or their
    ``GridSearchCV.fit``), however deep inside a fit the warning is raised."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL_DIRS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)


@contextlib.contextmanager
def numeric_input(X):
    """Say what to do when X holds text, dates or categories (scikit-learn
    only says it cannot convert them, or numpy that it cannot promote)."""
    _refuse_non_numbers(X)
    try:
        yield
    except ValueError as exc:
        if "could not convert" not in str(exc):
            raise
        raise ValueError(
            f"X must be numeric, but {exc}. Encode text and categorical columns "
            "as numbers first, e.g. with OneHotEncoder or OrdinalEncoder in a "
            "Pipeline (sklearn.compose.ColumnTransformer for some columns)."
        ) from exc
    except TypeError as exc:  # objects float() refuses: dates, intervals, ...
        if "float() argument" not in str(exc):
            raise
        raise TypeError(
            f"X must be numeric, but {exc}. Convert such values to numbers "
            "first (dates to days since a reference date, intervals to their "
            "midpoints, ...), by hand or in a Pipeline "
            "(sklearn.compose.ColumnTransformer)."
        ) from exc


def _refuse_non_numbers(X):
    """Refuse date, time, period and text-category inputs: numpy would turn
    dates into tick counts, or fail with a message about dtype promotion."""
    columns = getattr(X, "columns", None)
    dtypes = getattr(X, "dtypes", None)
    if columns is None or dtypes is None:  # not a DataFrame
        dtype = getattr(X, "dtype", None)
        if getattr(dtype, "kind", None) in ("M", "m"):
            raise ValueError(
                f"X must be numeric, but has dtype {dtype} (dates or durations): "
                "convert it first, e.g. to days since a reference date with "
                "(X - start) / np.timedelta64(1, 'D')."
            )
        if getattr(dtype, "kind", None) == "c":  # scikit-learn prints all of X
            raise ValueError(
                "Complex data not supported: X has complex values; give their "
                "real and imaginary parts as separate columns, np.c_[X.real, X.imag]."
            )
        return
    for name, dtype in zip(columns, dtypes, strict=True):
        categories = getattr(dtype, "categories", None)
        if categories is not None and categories.dtype.kind in "biuf":
            continue  # a categorical of numbers converts to them
        if categories is not None:
            what = "categories"
            advice = (
                "Encode it as numbers first, with OneHotEncoder or OrdinalEncoder "
                "for that column in a Pipeline (sklearn.compose.ColumnTransformer)."
            )
        elif getattr(dtype, "kind", None) in ("M", "m") or hasattr(dtype, "freq"):
            what = "dates, times or durations"
            advice = (
                "Convert it to numbers first (e.g. days since a reference date, "
                "or calendar features), by hand or in a Pipeline "
                "(sklearn.compose.ColumnTransformer), or drop it."
            )
        else:
            continue
        raise ValueError(
            f"X must be numeric, but its column {name!r} has dtype {dtype} "
            f"({what}). {advice}"
        )


def check_targets(y, numeric_for=None, name="y"):
    """Refuse sparse targets, missing ones (None, NaN) and, for the estimator
    named ``numeric_for``, non-numbers, saying what to do: scikit-learn turns
    None into NaN after its finiteness check, and labels cannot sort None."""
    if issparse(y):
        raise TypeError(
            "y is a sparse matrix; mixexp needs dense targets: pass y.toarray() "
            "(a target is one or a few values per sample, so it costs little)."
        )
    y = np.asarray(y)
    if y.ndim == 0:  # None or a scalar: validation says y must be an array
        return
    if y.dtype.kind == "O":
        missing = _is_missing(y).astype(bool)
    else:
        missing = np.isnan(y) if y.dtype.kind in "fc" else False
    if np.any(missing):
        rows = np.unique(np.nonzero(missing)[0])
        raise ValueError(
            f"{name} has missing values (None or NaN) in {rows.shape[0]} row(s): "
            f"{rows[:10].tolist()}{' ...' if rows.shape[0] > 10 else ''}. Drop "
            "those samples, or impute their targets, first."
        )
    if numeric_for is not None and y.dtype.kind == "c":
        raise ValueError(
            "Complex data not supported: y has complex values; fit their real "
            "part and imaginary part as two outputs, np.c_[y.real, y.imag]."
        )
    if numeric_for is not None and y.dtype.kind not in "biuf":
        try:
            y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            classifier = (
                numeric_for.replace("Regressor", "Classifier")
                if "Regressor" in numeric_for
                else "MixtureOfExpertsClassifier"
            )
            raise ValueError(
                f"{numeric_for} needs numeric targets, got values of dtype "
                f"{y.dtype} such as {y.ravel()[:3].tolist()}. Encode them as "
                f"numbers, or use {classifier} for class labels."
            ) from exc


def _missing_value(value):
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT differ from themselves
    except TypeError:  # pandas.NA is neither equal nor unequal to itself
        return True


_is_missing = np.frompyfunc(_missing_value, 1, 1)


def take(X, columns):
    """The given columns of X (X itself when they are all, in order)."""
    if columns.shape[0] == X.shape[1] and np.array_equal(
        columns, np.arange(X.shape[1])
    ):
        return X
    return X[:, columns]


def validate_training_input(estimator, X, y, sample_weight, reset, target_check):
    """X, y and the sample weights of ``fit`` or a ``partial_fit`` batch,
    validated by scikit-learn's ``validate_data`` (which sets the
    ``estimator``'s ``n_features_in_`` when ``reset``), with advice where it
    gives none; ``target_check``: its keyword arguments for y
    (``y_numeric``, ``multi_output``)."""
    numeric = target_check.get("y_numeric", False)
    check_targets(y, type(estimator).__name__ if numeric else None)
    with numeric_input(X):
        X, y = validate_data(
            estimator,
            X,
            y,
            reset=reset,
            dtype=FLOAT_DTYPES,
            ensure_min_samples=2 if reset else 1,
            **target_check,
        )
    check_magnitude(X, "X")
    return X, y, check_weights(sample_weight, X)


def check_warm_features(estimator, X):
    """Refuse a warm start on X whose columns differ from the fitted ones."""
    try:
        validate_data(estimator, X, reset=False, ensure_2d=True, dtype=None)
    except ValueError as exc:
        raise ValueError(
            f"warm_start=True but X does not match the previous "
            f"fit: {exc} Set warm_start=False to fit from scratch."
        ) from exc


def expert_component(expert, task, owner):
    """A new expert component from the ``expert`` parameter of the estimator
    named ``owner``: a clone of a mixexp expert, or K clones of a
    scikit-learn estimator in :class:`~mixexp.experts.EstimatorExpert`,
    refused unless it is a ``task`` ("regression", ...) expert."""
    if getattr(expert, "_role", None) == "experts":
        component = clone(expert)
    elif hasattr(expert, "fit") and not hasattr(expert, "_m_step"):
        component = EstimatorExpert(clone(expert))
    else:
        raise TypeError(
            f"expert={expert!r} is neither a mixexp expert nor a "
            "scikit-learn estimator with fit."
        )
    if component._task != task:
        raise ValueError(
            f"expert={expert!r} is not a {task} expert, which {owner} needs."
        )
    return component


def check_weights(sample_weight, X):
    """The sample weights of validated X as float64, refused (saying what to
    do) when they are not numbers, negative, or all zero."""
    weights = None if sample_weight is None else np.asarray(sample_weight)
    if weights is not None and weights.dtype.kind in "USO":
        try:
            weights = weights.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"sample_weight must be numeric, got {exc}; pass one "
                "non-negative number per sample."
            ) from exc
    if weights is not None and weights.ndim == 1 and weights.shape[0] != X.shape[0]:
        raise ValueError(
            f"sample_weight has {weights.shape[0]} values but X has "
            f"{X.shape[0]} rows; give one weight per row of X."
        )
    if weights is not None and weights.dtype.kind in "biuf":
        if np.any(weights < 0):
            raise ValueError(
                "sample_weight has negative values; weights must be >= 0 "
                "(a weight of 0 leaves the row out)."
            )
        if weights.size and not np.any(weights):
            raise ValueError(
                "sample_weight is zero for every sample; give some samples a "
                "positive weight."
            )
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    if not np.any(sample_weight > 0):
        raise ValueError(
            "sample_weight is zero for every sample; give some samples a "
            "positive weight."
        )
    return sample_weight


def feature_columns(gate_features, expert_features, n_features, names=None):
    """Column indices of the gate's and the experts' inputs that
    ``gate_features`` and ``expert_features`` ask for, among ``n_features``
    columns (with their ``names``, from a DataFrame, or None)."""
    columns = []
    for name, spec in (
        ("gate_features", gate_features),
        ("expert_features", expert_features),
    ):
        columns.append(
            np.arange(n_features)
            if spec is None
            else _feature_indices(np.asarray(spec), name, n_features, names)
        )
    return tuple(columns)


def _feature_indices(spec, name, n_features, names):
    if spec.ndim != 1 or spec.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty list of column indices or names, "
            f"got {spec.tolist()!r}."
        )
    if spec.dtype.kind in "OUS":
        if names is None:
            raise ValueError(
                f"{name} names columns ({spec.tolist()}) but X has no column "
                "names; pass a pandas DataFrame or give column indices."
            )
        missing = [c for c in spec.tolist() if c not in set(names.tolist())]
        if missing:
            raise ValueError(
                f"{name} has names not among the columns of X: {missing}; "
                f"the columns are {names.tolist()}."
            )
        lookup = {c: i for i, c in enumerate(names.tolist())}
        return np.array([lookup[c] for c in spec.tolist()], dtype=np.intp)
    if spec.dtype.kind not in "iu" or np.any((spec < 0) | (spec >= n_features)):
        raise ValueError(
            f"{name}={spec.tolist()} must hold column indices in "
            f"[0, {n_features}) or column names."
        )
    return spec.astype(np.intp)


def _structure(gate, experts, n_experts, gate_columns, expert_columns, design):
    """What the shapes of a model's fitted arrays follow: a dict of readable
    values, the number of experts, the gate (its type, and a tree's shape),
    the experts (their type and, with ``design``, the width of their design
    after their own feature map, such as a degree) and the columns each
    sees. Continuing a fit needs it unchanged."""
    gate_name = type(gate).__name__
    if hasattr(gate, "depth"):  # a tree of gates
        gate_name += f"(depth={gate.depth}, branching={gate.branching})"
    expert_name = type(experts).__name__
    if design:
        width = experts._n_design_features(expert_columns.shape[0])
        expert_name += f" on {width} design features"
    return {
        "n_experts": n_experts,
        "the gate": gate_name,
        "the expert": expert_name,
        "gate_features": gate_columns.tolist(),
        "expert_features": expert_columns.tolist(),
    }


def check_same_structure(fitted, new, caller):
    """Refuse to continue a fitted model with parameters that change its
    structure; ``fitted`` and ``new`` are each ``(gate, experts, n_experts,
    gate_columns, expert_columns)``, ``caller`` "warm_start" or
    "partial_fit"."""
    # Experts of the same settings have the same design: skip making one
    # (a polynomial expansion costs more than the rest of the check).
    old_experts, new_experts = fitted[1], new[1]
    design = type(new_experts) is not type(old_experts) or (
        new_experts.get_params(deep=False) != old_experts.get_params(deep=False)
    )
    old, new = _structure(*fitted, design), _structure(*new, design)
    changes = [
        f"{k} changed from {old[k]} to {new[k]}" for k in old if old[k] != new[k]
    ]
    if not changes:
        return
    changed = "; ".join(changes)
    if caller == "warm_start":
        raise ValueError(
            f"warm_start=True but {changed} since the last fit; set "
            "warm_start=False to fit from scratch."
        )
    raise ValueError(
        f"partial_fit continues the fitted model, but {changed} since it "
        "was fitted; set the parameters back, or call fit to "
        "start from scratch."
    )


# A dask block may have zero weight everywhere (the fit checks the total);
# scikit-learn >= 1.7 refuses that unless told.
_ZERO_BLOCK_OK = (
    {"allow_all_zero_weights": True}
    if "allow_all_zero_weights" in inspect.signature(_check_sample_weight).parameters
    else {}
)


@dataclass(frozen=True)
class DataMaker:
    """How a fit makes the ``TrainingData`` of validated arrays, settled
    once by the validation of ``fit`` or ``partial_fit``: in memory for all
    the rows, on dask workers for each row block (``block``)."""

    n_features: int
    n_experts: int
    gate_columns: np.ndarray
    expert_columns: np.ndarray
    #: The expert component whose ``_features`` maps its inputs: the new
    #: one, its map fitted (``_fit_features``), or the fitted one continued.
    experts: Any
    #: Facts of the targets' encoding (``n_classes``, ...) the data carries.
    data_kwargs: dict
    #: The estimator's ``_encode_targets``, for the targets of a block.
    encode_targets: Callable
    #: A weight per class code that multiplies the sample weights, or None.
    class_weight: Any = None

    def __call__(self, X, y_encoded, sample_weight):
        """The TrainingData of validated X, encoded y and sample weights."""
        if self.class_weight is not None:
            sample_weight = sample_weight * self.class_weight[y_encoded]
        n_targets = self.data_kwargs.get("n_classes", y_encoded.shape[-1])
        gate_X = take(X, self.gate_columns)
        expert_X = self.experts._features(take(X, self.expert_columns))
        width = max(gate_X.shape[1], expert_X.shape[1])
        data = TrainingData(
            X,
            y_encoded,
            sample_weight,
            self.n_experts,
            row_width=self.n_experts * (width + 2 + n_targets),
            inputs={"gate": gate_X, "experts": expert_X},
        )
        for key, value in self.data_kwargs.items():
            setattr(data, key, value)
        return data

    def block(self, X, y, sample_weight):
        """Validate and encode one row block of a dask fit, and make its
        TrainingData."""
        X = check_magnitude(check_array(X, dtype=FLOAT_DTYPES), "X")
        if X.shape[1] != self.n_features:
            raise ValueError(
                f"A block of X has {X.shape[1]} columns, not {self.n_features}."
            )
        y = self.encode_targets(y)
        sample_weight = _check_sample_weight(
            sample_weight,
            X,
            dtype=np.float64,
            ensure_non_negative=True,
            **_ZERO_BLOCK_OK,
        )
        return self(X, y, sample_weight)


class CheckedRegressorMixin(RegressorMixin):
    """scikit-learn's RegressorMixin whose ``score`` checks the targets
    first, so missing, sparse or text targets get mixexp's message rather
    than r2_score's."""

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R² of :meth:`predict` on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R² of the predictions (a mixture's mean), as in
            ``RegressorMixin.score``.
        """
        check_targets(y, numeric_for=type(self).__name__)
        return super().score(X, y, sample_weight=sample_weight)


class CheckedClassifierMixin(ClassifierMixin):
    """scikit-learn's ClassifierMixin whose ``score`` checks the labels
    first (missing or sparse labels get mixexp's message), and the
    ``predict_log_proba`` every mixexp classifier derives from its
    ``predict_proba``."""

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The logarithm of ``predict_proba``; columns follow ``classes_``.
        """
        # As MLPClassifier: the log of predict_proba, -inf where it is 0.
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            True labels; a label not among ``classes_`` counts as an error.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Fraction of correctly classified samples.
        """
        check_targets(y)
        return super().score(X, y, sample_weight=sample_weight)
