"""Mixture of softmax experts for classification."""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._base import BaseMixtureOfExperts
from .experts import LogisticExpert


class MixtureOfExpertsClassifier(ClassifierMixin, BaseMixtureOfExperts):
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
    n_experts : int, default=4
        Number of experts K.
    gate_alpha : float, default=1e-6
        L2 penalty on the gate weights (not the intercepts).
    expert_alpha : float, default=1e-2
        L2 penalty on each expert's weights. With one expert the model is
        ``LogisticRegression(C=1/expert_alpha)`` (``C=2/expert_alpha`` for two
        classes). It must be positive when an expert's region is linearly
        separable.
    solver : {"em"}, default="em"
        Training algorithm.
    max_iter : int, default=200
        EM iterations at most per initialization.
    tol : float, default=1e-4
        Convergence threshold on the change of the mean penalized
        log-likelihood per sample.
    n_init : int, default=1
        Initializations to run; the fit with the highest likelihood is kept.
    init : {"kmeans", "random"}, default="kmeans"
        Initial responsibilities: k-means clusters of the standardized inputs,
        or the nearest of ``n_experts`` randomly drawn samples.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization; an int makes every fit reproducible.
    warm_start : bool, default=False
        Start from the previous fit's parameters (``n_init`` is then 1).
    verbose : int, default=0
        1 prints each initialization and every tenth iteration, 2 every
        iteration.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    gate_ : :class:`~mixexp.gates.SoftmaxGate`
        Fitted gate.
    experts_ : :class:`~mixexp.experts.LogisticExpert`
        Fitted experts, with ``coef_`` of shape
        (n_experts, n_classes, n_features_in_) and ``intercept_`` of shape
        (n_experts, n_classes).
    n_iter_ : int
        EM iterations of the kept initialization.
    converged_ : bool
        Whether it converged within ``max_iter``.
    lower_bound_ : float
        Final mean penalized log-likelihood per sample.
    lower_bounds_ : ndarray of shape (n_iter_,)
        Its value after each iteration (non-decreasing).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

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

    def __init__(
        self,
        n_experts=4,
        *,
        gate_alpha=1e-6,
        expert_alpha=1e-2,
        solver="em",
        max_iter=200,
        tol=1e-4,
        n_init=1,
        init="kmeans",
        random_state=None,
        warm_start=False,
        verbose=0,
    ):
        super().__init__(
            n_experts,
            gate_alpha=gate_alpha,
            expert_alpha=expert_alpha,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            n_init=n_init,
            init=init,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
        )

    def _make_experts(self):
        return LogisticExpert(alpha=self.expert_alpha)

    def _encode_fit_targets(self, y, data_kwargs):
        y = column_or_1d(y, warn=True)
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

    def _encode_targets(self, y):
        y = column_or_1d(y)
        codes = np.searchsorted(self.classes_, y)
        codes = np.minimum(codes, self.classes_.shape[0] - 1)
        unseen = self.classes_[codes] != y
        if np.any(unseen):
            raise ValueError(
                f"y contains labels not seen during fit: "
                f"{np.unique(y[unseen])[:5].tolist()}; the fitted classes are "
                f"{self.classes_.tolist()}."
            )
        return codes.astype(np.intp)

    def _init_features(self, X, y):
        return X.copy()

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
        gate = self.gate_.predict_proba(X)
        return np.einsum("nk,nkc->nc", gate, self.experts_.predict_proba(X))

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Most probable class under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_experts(self, X):
        """Each expert's own class probabilities, ignoring the gate.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        expert_proba : ndarray of shape (n_samples, n_experts, n_classes)
        """
        return self.experts_.predict_proba(self._validate_X(X))
