"""Mixture of softmax experts for classification."""

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._base import (
    PARTIAL_FIT_DOC,
    BaseMixtureOfExperts,
    check_targets,
    routing_doc,
)
from ._dask import dask_rows
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


@routing_doc
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
    {component_params}
    solver : {"em", "gd", "sgd", "adam"}, default="em"
        Training algorithm: expectation-maximization (``"em"``), or gradient
        descent on ``loss`` as in Jacobs et al. (1991): full batch
        (``"gd"``: L-BFGS with analytic gradients) or minibatches
        (``"sgd"`` with Nesterov momentum, ``"adam"``).
    loss : {"likelihood", "competitive", "cooperative"}, default="likelihood"
        Objective of the gradient solvers (1991 eqs. 1.3, 1.2, 1.1):
        the negative log-likelihood of the mixture (with the experts' noise
        variances; EM's objective), the gate-weighted sum of each expert's
        own error ``sum_k g_k e_k`` (experts compete and specialize), or the
        error of the blended output ``||y - sum_k g_k o_k||^2`` (experts
        cooperate; regression only, so not available here). EM needs
        ``"likelihood"``.
    {routing_params}
    max_iter : int, default=200
        EM iterations, L-BFGS iterations or epochs at most per
        initialization (EM with ``top_k``: per phase, dense then sparse).
    tol : float, default=1e-4
        Convergence threshold on the change of the training objective (the
        mean penalized log-likelihood per sample for EM).
    n_init : int, default=1
        Initializations to run; the fit with the highest likelihood is kept.
    init : {"kmeans", "random"}, default="kmeans"
        Initial responsibilities: k-means clusters of the standardized inputs,
        or the nearest of ``n_experts`` randomly drawn samples.
    n_jobs : int, default=None
        Initializations to run in parallel (joblib; ``None`` means 1 unless
        in a ``joblib.parallel_config`` context, -1 means all processors).
        Each initialization has its own random seed drawn from
        ``random_state``, so the result is the same for every ``n_jobs``.
    batch_size : int or "auto", default="auto"
        Minibatch size of ``solver="sgd"`` and ``"adam"``; "auto" is
        ``min(200, n_samples)``, as in MLPRegressor.
    learning_rate_init : float, default=1e-3
        Step size of ``"sgd"`` and ``"adam"``.
    shuffle : bool, default=True
        Shuffle the samples every epoch (``"sgd"``, ``"adam"``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data and stop when
        its score has not improved by ``tol`` for ``n_iter_no_change``
        epochs (``"sgd"``, ``"adam"``).
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=10
        Iterations or epochs without an improvement of ``tol`` in the loss
        (or the validation score) after which the gradient solvers stop.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization (and the minibatches); an int makes every
        fit reproducible.
    warm_start : bool, default=False
        Start from the previous fit's parameters (``n_init`` is then 1).
        Settings such as ``expert__alpha`` may change in between; what
        shapes the parameters may not (the number of experts, the type of
        gate or expert, the expert's degree, the feature columns,
        the classes): ``fit`` then raises a ValueError
        naming the change, and ``warm_start=False`` refits from scratch.
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
    {expert_load}
    n_iter_ : int
        Iterations (EM or L-BFGS) or epochs of the kept initialization.
    n_iter_dense_ : int
        EM with ``top_k``: how many of them trained the dense gate first
        (see ``lower_bounds_``); 0 otherwise.
    converged_ : bool
        Whether it converged within ``max_iter``; False, with a
        ConvergenceWarning, when a minibatch solver diverged or ended above
        its start and kept earlier parameters.
    lower_bound_ : float
        Final mean penalized log-likelihood per sample: of y given x, or of
        (x, y) jointly with a :class:`~mixexp.gates.GaussianGate` (whose EM
        maximizes the joint likelihood; ``log_likelihood`` stays log p(y | x)).
    lower_bounds_ : ndarray of shape (n_iter_,) or (1,)
        Its value after each iteration. EM never lowers it, except right
        after re-seeding an expert that lost all responsibility (a warning
        says so). With ``top_k``, EM's first ``n_iter_dense_`` values are
        those of the dense gate, the rest of the top-k gate: each phase is
        non-decreasing, but the value drops at the switch to the sparse
        model. The minibatch solvers, and the losses other than the
        likelihood, record only the final value.
    loss_curve_ : list of float
        Training objective per iteration or epoch, lower is better: the
        negative of ``lower_bounds_`` for EM and L-BFGS on the likelihood;
        for ``"sgd"`` and ``"adam"`` the mean over each epoch's batches, at
        the parameters of each step.
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
        gate=None,
        expert=None,
        gate_features=None,
        expert_features=None,
        solver="em",
        loss="likelihood",
        top_k=None,
        gate_noise=False,
        balance_weight=0.0,
        max_iter=200,
        tol=1e-4,
        n_init=1,
        init="kmeans",
        n_jobs=None,
        batch_size="auto",
        learning_rate_init=1e-3,
        shuffle=True,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=None,
        warm_start=False,
        verbose=0,
    ):
        super().__init__(
            n_experts,
            gate=gate,
            expert=expert,
            gate_features=gate_features,
            expert_features=expert_features,
            solver=solver,
            loss=loss,
            top_k=top_k,
            gate_noise=gate_noise,
            balance_weight=balance_weight,
            max_iter=max_iter,
            tol=tol,
            n_init=n_init,
            init=init,
            n_jobs=n_jobs,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            shuffle=shuffle,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
        )

    def _check_loss(self):
        if self.loss == "cooperative":
            raise ValueError(
                'loss="cooperative" (the squared error of the blended output) is '
                'defined for regression; for classification use loss="likelihood" '
                '(the log-likelihood of sum_k g_k P_k) or "competitive".'
            )

    _task = "classification"
    _COMPONENT_DOC = {
        "experts": ":class:`~mixexp.experts.LogisticExpert`",
        "kind": "classifier",
        "default": "LogisticExpert",
    }

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

    partial_fit.__doc__ = PARTIAL_FIT_DOC.format(
        shape="n_samples,",
        classes=(
            "\nclasses : array-like of shape (n_classes,), default=None\n"
            "    Every class the stream may contain; required on the first call\n"
            "    (later calls may repeat it)."
        ),
        name="MixtureOfExpertsClassifier",
        maker="make_local_classification",
        k=4,
        extra=", classes=[0, 1]",
    )
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
        unseen = self.classes_[codes] != y
        if np.any(unseen):
            raise ValueError(
                f"y contains labels not seen during fit: "
                f"{np.unique(y[unseen])[:5].tolist()}; the fitted classes are "
                f"{self.classes_.tolist()}."
            )
        return codes.astype(np.intp)

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
        return self._mix(
            X,
            lambda Xg, Xe: (
                self.gate_.predict_proba(Xg),
                self.experts_.predict_proba(Xe),
            ),
        )

    @dask_rows
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
        """
        return self.experts_.predict_proba(self._split(self._validate_X(X))[1])
