"""Mixture of softmax experts for classification."""

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._base import BaseMixtureOfExperts
from ._dask import dask_rows, sharded_class_counts
from ._data import is_dask_collection
from ._docs import CLASSIFIER_ATTRIBUTES, PARTIAL_FIT_DOC, document
from ._params import check_class_weight, init_with
from ._validation import CheckedClassifierMixin, check_targets
from .experts import LogisticExpert


def _refuse_mixed_labels(y, name="y"):
    """Refuse labels of several types (ints and strings, say), which numpy
    cannot sort and scikit-learn calls of an "unknown" type."""
    if y.dtype.kind != "O":
        return
    kinds = np.unique(_type_name(y).astype(str))
    if kinds.shape[0] > 1:
        raise ValueError(
            f"{name} mixes labels of types {kinds.tolist()}; give labels of one "
            "type, e.g. all strings with y.astype(str)."
        )


_type_name = np.frompyfunc(lambda value: type(value).__name__, 1, 1)


def _unique_classes(classes):
    """The sorted distinct labels of ``partial_fit``'s ``classes``, refusing
    missing and mixed labels (as objects first: numpy would turn [0, 1, "a"]
    into the strings "0", "1", "a")."""
    labels = np.asarray(classes, dtype=object).ravel()
    check_targets(labels, name="classes")
    _refuse_mixed_labels(labels, "classes")
    return np.unique(np.asarray(labels.tolist()))


@document("classification", attributes=CLASSIFIER_ATTRIBUTES)
class MixtureOfExpertsClassifier(CheckedClassifierMixin, BaseMixtureOfExperts):
    """Mixture of softmax (multinomial logistic) experts with a softmax gate.

    Each expert is a linear classifier that is only responsible for part of
    the input space (Jacobs, Jordan, Nowlan & Hinton 1991):

        P(c | x) = sum_k g_k(x) softmax(U_k^T [x, 1])_c,
        g(x) = softmax(V^T [x, 1]),

    fitted by EM (Jordan & Jacobs 1994). Different linear problems in
    different regions (an XOR of linear problems, say) are solved by
    different experts.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    MixtureOfExpertsRegressor : The same model with linear-Gaussian experts.
    sklearn.linear_model.LogisticRegression : A single softmax expert.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(600, 2))
    >>> y = np.where(X[:, 0] < 0, X[:, 1] > 0, X[:, 1] < 0).astype(int)
    >>> moe = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    >>> moe.score(X, y) > 0.95
    True
    >>> moe.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        **BaseMixtureOfExperts._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    __init__ = init_with(BaseMixtureOfExperts.__init__, "max_iter", class_weight=None)

    def _class_weights(self, y, stream=False):
        """``class_weight`` as a weight per class code, as LogisticRegression
        reads it: a dict's classes get their weight and the others 1;
        "balanced" gives n_samples / (n_classes * count) from the class
        counts of y, unweighted."""
        class_weight = self.class_weight
        if class_weight is None:
            return None
        check_class_weight(class_weight)
        classes = self.classes_
        if isinstance(class_weight, str):  # "balanced"
            if stream:
                raise ValueError(
                    'class_weight="balanced" needs the class counts of all the '
                    "data, which partial_fit does not see; pass a dict, e.g. "
                    "from sklearn.utils.class_weight.compute_class_weight on a "
                    "sample."
                )
            if is_dask_collection(y):
                counts = sharded_class_counts(y, classes)
            else:
                counts = np.bincount(y, minlength=classes.shape[0])
            return counts.sum() / (classes.shape[0] * counts.astype(float))
        weights = np.ones(classes.shape[0])
        for label, weight in class_weight.items():
            index = np.flatnonzero(classes.astype(object) == label)
            if index.size == 0:
                raise ValueError(
                    f"class_weight has a weight for {label!r}, which is not one "
                    f"of the classes {classes.tolist()}."
                )
            weights[index] = weight
        if not np.any(weights > 0):
            raise ValueError(
                "class_weight gives every class a weight of zero; give some "
                "class a positive weight."
            )
        return weights

    def _check_loss(self):
        if self.loss == "cooperative":
            raise ValueError(
                'loss="cooperative" (the squared error of the blended output) is '
                'defined for regression; for classification use loss="likelihood" '
                '(the log-likelihood of sum_k g_k P_k) or "competitive".'
            )

    _task = "classification"

    def _default_expert(self):
        return LogisticExpert()

    def _encode_fit_targets(self, y, data_kwargs):
        y = column_or_1d(y, warn=True)
        _refuse_mixed_labels(y)
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                f"the data, but the data contain only one class: {classes[0]!r}."
            )
        if self.warm_start and hasattr(self, "classes_"):
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "warm_start=True but the classes changed since the last fit; "
                    "set warm_start=False to fit from scratch."
                )
        self.classes_ = classes
        data_kwargs["n_classes"] = classes.shape[0]
        return codes.astype(np.intp)

    @document(
        "partial_fit",
        "classification",
        template=PARTIAL_FIT_DOC,
        name="MixtureOfExpertsClassifier",
        maker="make_local_classification",
        k=4,
        extra=", classes=[0, 1]",
    )
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        if classes is not None and hasattr(self, "classes_"):
            if not np.array_equal(_unique_classes(classes), self.classes_):
                raise ValueError(
                    f"classes={_unique_classes(classes).tolist()} differ from the "
                    f"classes of the first partial_fit call "
                    f"({self.classes_.tolist()}); pass the same classes or call fit."
                )
        return self._atomic(self._partial_fit, X, y, sample_weight, classes)

    partial_fit = available_if(BaseMixtureOfExperts._online_possible)(partial_fit)

    def _encode_first_batch(self, y, classes, data_kwargs):
        if classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: give "
                "every label the stream may contain."
            )
        classes = _unique_classes(classes)
        if classes.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes, got "
                f"{classes.tolist()}."
            )
        self.classes_ = classes
        data_kwargs["n_classes"] = classes.shape[0]
        return self._encode_targets(y)

    def _target_kwargs(self, data_kwargs):
        data_kwargs["n_classes"] = self.classes_.shape[0]

    def _encode_targets(self, y):
        y = column_or_1d(y)
        try:
            codes = np.searchsorted(self.classes_, y)
        except TypeError:  # labels that do not compare with the classes
            _refuse_mixed_labels(np.concatenate([self.classes_, y]), "y and classes_")
            raise
        codes = np.minimum(codes, self.classes_.shape[0] - 1)
        # As objects: numpy < 2 does not compare numbers with strings elementwise.
        unseen = self.classes_[codes].astype(object) != y.astype(object)
        if np.any(unseen):
            raise ValueError(
                f"y contains labels not seen during fit: "
                f"{np.unique(y[unseen])[:5].tolist()}; the fitted classes are "
                f"{self.classes_.tolist()}."
            )
        return codes.astype(np.intp)

    def _score_components(self, gate, experts, X, y):
        gate_X, expert_X = self._split(X)
        proba = np.einsum(
            "nk,nkc->nc", gate.predict_proba(gate_X), experts.predict_proba(expert_X)
        )
        return float(np.mean(proba.argmax(axis=1) == y))

    def _init_features(self, X, y):
        return X.copy()

    @dask_rows
    def predict_proba(self, X):
        """Class probabilities of the mixture: sum_k g_k(x) P_k(c | x).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; rows sum to one.
        """
        X = self._validate_X(X)
        proba = self._mix(
            X,
            lambda Xg, Xe: (
                self.gate_.predict_proba(Xg),
                self.experts_.predict_proba(Xe),
            ),
        )
        # Rounding in the weighted sum can leave a certain class at 1 + 2e-16,
        # which scikit-learn's log_loss refuses and whose log is positive.
        return np.clip(proba, 0.0, 1.0, out=proba)

    predict_log_proba = dask_rows(CheckedClassifierMixin.predict_log_proba)

    @dask_rows
    def predict(self, X):
        """Most probable class under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The most probable class of each sample.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    @dask_rows
    def predict_experts(self, X):
        """Each expert's own class probabilities, ignoring the gate.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        expert_proba : ndarray of shape (n_samples, n_experts, n_classes)
            Each expert's own class probabilities, whatever the gate says.
        """
        return self.experts_.predict_proba(self._split(self._validate_X(X))[1])
