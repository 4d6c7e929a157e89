"""Deep mixtures of experts (Eigen, Ranzato & Sutskever 2013) as estimators.

The network is ``mixexp._deep``'s; it is trained by the gradient solvers'
own loops (``_gradient.minibatch_descent`` for "adam" and "sgd",
``_gradient.lbfgs_descent`` for "gd"), with the flat estimators' input
validation and parameter constraints.
"""

from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _deep
from ._base import BaseMixtureOfExperts, atomic
from ._classifier import _refuse_mixed_labels
from ._data import FLOAT_DTYPES, check_magnitude
from ._docs import DEEP_CLASSIFIER_ATTRIBUTES, DEEP_REGRESSOR_ATTRIBUTES, document
from ._em import History
from ._estep import routing_share
from ._gradient import lbfgs_descent, minibatch_descent
from ._html_repr import DocLinkMixin
from ._params import Interval, ParamNamesOnce
from ._regressor import _numeric_targets
from ._solvers import TrainingSettings
from ._validation import (
    CheckedClassifierMixin,
    CheckedRegressorMixin,
    numeric_input,
    validate_training_input,
    warn_user,
)

_SHARED = (
    "balance_weight",
    "max_iter",
    "tol",
    "batch_size",
    "learning_rate_init",
    "shuffle",
    "early_stopping",
    "validation_fraction",
    "n_iter_no_change",
    "random_state",
    "verbose",
)


def _per_layer(value, n_layers, name, allow_none=False):
    """``value`` (one entry for every layer, or a sequence of one per layer)
    as a tuple of ``n_layers`` entries, each a positive int (or None when
    ``allow_none``); a ValueError says what is wrong."""
    scalar = value is None or isinstance(value, Integral | np.integer)
    entries = [value] * n_layers if scalar else list(np.asarray(value, dtype=object))
    if len(entries) != n_layers:
        raise ValueError(
            f"{name}={value!r} has {len(entries)} entries for {n_layers} layers; "
            f"give one value, or one per layer."
        )
    out = []
    for entry in entries:
        if entry is None and allow_none:
            out.append(None)
            continue
        if (
            isinstance(entry, bool | np.bool_)
            or not isinstance(entry, Integral | np.integer)
            or entry < 1
        ):
            none = " or None" if allow_none else ""
            raise ValueError(
                f"{name}={value!r}: each entry must be a positive int{none}, "
                f"got {entry!r}."
            )
        out.append(int(entry))
    return tuple(out)


class _BaseDeepMixture(DocLinkMixin, ParamNamesOnce, BaseEstimator, metaclass=ABCMeta):
    """Shared machinery of the deep mixtures: validation, the network's
    architecture, training and the fitted API.

    Not for direct use: use :class:`~mixexp.DeepMixtureOfExpertsClassifier`
    or :class:`~mixexp.DeepMixtureOfExpertsRegressor`.
    """

    _parameter_constraints = {
        "layers": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "hidden_units": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "top_k": [Interval(Integral, 1, None, closed="left"), "array-like", None],
        "solver": [StrOptions({"adam", "sgd", "gd"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        **{name: BaseMixtureOfExperts._parameter_constraints[name] for name in _SHARED},
    }

    def __init__(
        self,
        layers=(4, 4),
        *,
        hidden_units=32,
        top_k=None,
        balance_weight=0.1,
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        tol=1e-4,
        shuffle=True,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=None,
        verbose=0,
    ):
        self.layers = layers
        self.hidden_units = hidden_units
        self.top_k = top_k
        self.balance_weight = balance_weight
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------ subclass hooks
    _task = None

    @abstractmethod
    def _encode_fit_targets(self, y, sample_weight):
        """Validate ``y`` at fit, set the target attributes, and return the
        network's targets and its number of outputs."""

    @abstractmethod
    def _score_output(self, output, y):
        """The estimator's score of network outputs against encoded y."""

    def _target_check(self):
        return {}

    # ---------------------------------------------------------- structure
    def _architecture(self, n_features, n_outputs):
        """The network the parameters ask for, checked."""
        layers = self.layers
        if not isinstance(layers, Integral | np.integer):
            layers = np.asarray(layers, dtype=object).ravel()
            if layers.size == 0:
                raise ValueError(
                    f"layers={self.layers!r} has no layer; give the experts of "
                    "at least one layer, e.g. layers=(4, 4)."
                )
        layers = _per_layer(layers, np.size(layers), "layers")
        units = _per_layer(self.hidden_units, len(layers), "hidden_units")
        top_k = _per_layer(self.top_k, len(layers), "top_k", allow_none=True)
        # Keeping every expert is the dense gate.
        top_k = tuple(
            None if k is None or k >= n else k
            for k, n in zip(top_k, layers, strict=True)
        )
        return _deep.Architecture(
            n_features, layers, units, top_k, n_outputs, self._task
        )

    def _fitted_architecture(self):
        check_is_fitted(self)
        return _deep.Architecture(
            self.n_features_in_,
            tuple(b.shape[0] for b in self.expert_intercepts_),
            tuple(b.shape[1] for b in self.expert_intercepts_),
            tuple(self.top_k_),
            self.intercept_.shape[0],
            self._task,
        )

    def _fitted_parameters(self):
        params = []
        for layer in zip(
            self.expert_coefs_,
            self.expert_intercepts_,
            self.gate_coefs_,
            self.gate_intercepts_,
            strict=True,
        ):
            params.extend(layer)
        return [*params, self.coef_, self.intercept_]

    def _set_parameters(self, params):
        hidden = params[:-2]
        self.expert_coefs_ = [p.copy() for p in hidden[0::4]]
        self.expert_intercepts_ = [p.copy() for p in hidden[1::4]]
        self.gate_coefs_ = [p.copy() for p in hidden[2::4]]
        self.gate_intercepts_ = [p.copy() for p in hidden[3::4]]
        self.coef_, self.intercept_ = params[-2].copy(), params[-1].copy()

    # ---------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network by gradient descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (class labels for the classifier).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the loss is their weighted mean, so an
            integer weight counts as that many copies of the row.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return atomic(self, self._fit, X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        X, y, sample_weight = validate_training_input(
            self, X, y, sample_weight, True, self._target_check()
        )
        n_weighted = int(np.count_nonzero(sample_weight))
        if n_weighted < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples with positive "
                f"weight, got {n_weighted}."
            )
        targets, n_outputs = self._encode_fit_targets(y, sample_weight)
        arch = self._architecture(X.shape[1], n_outputs)
        rng = check_random_state(self.random_state)
        start = _deep.pack(_deep.initial_parameters(arch, rng))
        total_weight = float(sample_weight.sum())
        settings = self._training_settings()

        def objective(vector, rows, scale):
            value, grads = _deep.objective(
                _deep.unpack(vector, arch),
                arch,
                X[rows],
                targets[rows],
                sample_weight[rows],
                scale,
                1.0 / total_weight,  # the penalty per unit of all the weight
                self.alpha,
                self.balance_weight,
            )
            return value, _deep.pack(grads)

        if self.solver == "gd":
            every = slice(None)
            vector, curve, converged = lbfgs_descent(
                lambda v: objective(v, every, 1.0 / total_weight), start, settings
            )
            history = History(curve, [], converged)
        else:

            def score(vector, rows):
                output, _ = _deep.predict_chunks(
                    _deep.unpack(vector, arch), arch, X[rows]
                )
                return self._score_output(output, targets[rows])

            vector, history = minibatch_descent(
                start,
                step=lambda v, rows, scale, _: objective(v, rows, scale),
                full=lambda v, rows, scale: objective(v, rows, scale)[0],
                score=score,
                sample_weight=sample_weight,
                settings=settings,
                rng=rng,
                loss_unit=1.0,  # a log-likelihood, or standardized targets
                advice="or standardize X (e.g. with StandardScaler)",
            )
        params = _deep.unpack(vector, arch)
        self._set_parameters(params)
        self.top_k_ = arch.top_k
        self.n_parameters_ = arch.n_parameters
        _, gates = _deep.predict_chunks(params, arch, X)
        # Each sample's top-k experts, or its most probable one.
        self.expert_load_ = [
            routing_share(sample_weight @ (gate > 0 if k else _is_top(gate)))
            for gate, k in zip(gates, arch.top_k, strict=True)
        ]
        self.loss_curve_ = list(history.loss_curve)
        self.n_iter_ = len(history.loss_curve)
        self.converged_ = history.converged
        if not history.converged:
            warn_user(
                history.warning
                or f"solver={self.solver!r} did not converge in {self.max_iter} "
                f"iterations; the training objective still improved by more "
                f"than tol={self.tol}. Increase max_iter, raise tol, or "
                "standardize the inputs.",
                ConvergenceWarning,
            )
        return self

    def _training_settings(self):
        """What the solvers' loops read of the estimator. The loss name sets
        their divergence rule: on the log scale for a log-likelihood."""
        loss = "likelihood" if self._task == "classification" else "squared_error"
        return TrainingSettings(
            solver=self.solver,
            loss=loss,
            task=self._task,
            max_iter=self.max_iter,
            tol=self.tol,
            verbose=self.verbose,
            n_iter_no_change=self.n_iter_no_change,
            balance_weight=self.balance_weight,
            learning_rate_init=self.learning_rate_init,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            score=None,  # the loops take the score as a function instead
        )

    # -------------------------------------------------------- fitted API
    def _validate_X(self, X):
        check_is_fitted(self)
        with numeric_input(X):
            X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        return check_magnitude(X, "X")

    def _network(self, X):
        """Outputs and per-layer gate probabilities of validated X."""
        return _deep.predict_chunks(
            self._fitted_parameters(), self._fitted_architecture(), X
        )

    def predict_gate_proba(self, X, layer=None):
        """Gate probabilities of every layer: which experts each input uses.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        layer : int or None, default=None
            A layer's index (0 for the first; negative counts from the
            last), or None for all of them.

        Returns
        -------
        gate_proba : list of ndarray, or ndarray
            Per layer, an array of shape (n_samples, n_experts) of the
            gate's probabilities (zero for the experts a ``top_k`` layer
            leaves out); each row sums to one. With ``layer``, that
            layer's array.
        """
        X = self._validate_X(X)
        n_layers = len(self.gate_intercepts_)
        if layer is not None and (
            isinstance(layer, bool | np.bool_)
            or not isinstance(layer, Integral | np.integer)
            or not -n_layers <= layer < n_layers
        ):
            raise ValueError(
                f"layer={layer!r} is not a layer index of this {n_layers}-layer "
                f"model; use an int in [{-n_layers}, {n_layers}) or None."
            )
        gates = self._network(X)[1]
        return gates if layer is None else gates[layer]


def _is_top(gate):
    """Each row's most probable experts, as a mask (n_rows, n_experts)."""
    return gate >= np.max(gate, axis=1, keepdims=True)


@document(
    "deep",
    "deep_classification",
    "classification",
    attributes=DEEP_CLASSIFIER_ATTRIBUTES,
)
class DeepMixtureOfExpertsClassifier(CheckedClassifierMixin, _BaseDeepMixture):
    """Deep mixture of experts for classification (Eigen et al. 2013).

    A stack of mixture-of-experts layers, each a softmax gate over small
    expert networks (a linear map and a rectifier), then a softmax:

        z^0 = x,   z^l = sum_i g_i^l(z^(l-1)) max(0, W_i^l z^(l-1) + b_i^l),
        g^l(z) = softmax(V^l z + c^l),   P(c | x) = softmax(U z^L + a)_c,

    trained jointly on the cross-entropy by the gradient solvers of the
    flat mixtures (Adam, minibatches, early stopping). Each layer's gate may
    keep only its ``top_k`` experts per sample (Shazeer et al. 2017), and a
    load-balancing loss keeps every expert in use. With K_1 experts in the
    first layer and K_2 in the second, an input picks one of K_1 K_2
    combinations: on digits placed at random positions, Eigen et al. found
    the first layer's experts specialising by where a digit is and the
    second's by which digit it is.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    DeepMixtureOfExpertsRegressor : The same network for regression.
    MixtureOfExpertsClassifier : One layer of softmax experts, fitted by EM.
    sklearn.neural_network.MLPClassifier : A network without gates.

    References
    ----------
    Eigen, Ranzato & Sutskever (2013). Learning factored representations in
    a deep mixture of experts. arXiv:1312.4314 (ICLR 2014 workshop).

    Shazeer et al. (2017). Outrageously large neural networks: the
    sparsely-gated mixture-of-experts layer. ICLR.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from mixexp import DeepMixtureOfExpertsClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> dmoe = DeepMixtureOfExpertsClassifier(
    ...     layers=(2, 2), hidden_units=8, solver="gd", random_state=0
    ... ).fit(X, y)
    >>> bool(dmoe.score(X, y) > 0.95)
    True
    >>> [gate.shape for gate in dmoe.predict_gate_proba(X[:5])]
    [(5, 2), (5, 2)]
    """

    _task = "classification"

    def _encode_fit_targets(self, y, sample_weight):
        y = column_or_1d(y, warn=True)
        _refuse_mixed_labels(y)
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                f"the data, but the data contain only one class: {classes[0]!r}."
            )
        self.classes_ = classes
        return codes.astype(np.intp), classes.shape[0]

    def _score_output(self, output, y):
        return float(np.mean(np.argmax(output, axis=1) == y))

    def predict_proba(self, X):
        """Class probabilities of the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; rows sum to one.
        """
        return softmax(self._network(self._validate_X(X))[0], axis=1)

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The most probable class of each sample.
        """
        output = self._network(self._validate_X(X))[0]
        return self.classes_[np.argmax(output, axis=1)]


@document(
    "deep",
    "deep_regression",
    "regression",
    attributes=DEEP_REGRESSOR_ATTRIBUTES,
)
class DeepMixtureOfExpertsRegressor(CheckedRegressorMixin, _BaseDeepMixture):
    """Deep mixture of experts for regression (Eigen et al. 2013).

    A stack of mixture-of-experts layers, each a softmax gate over small
    expert networks (a linear map and a rectifier), then a linear output:

        z^0 = x,   z^l = sum_i g_i^l(z^(l-1)) max(0, W_i^l z^(l-1) + b_i^l),
        g^l(z) = softmax(V^l z + c^l),   y = U z^L + a,

    trained jointly on the squared error by the gradient solvers of the
    flat mixtures (Adam, minibatches, early stopping), with optional
    ``top_k`` gates per layer and a load-balancing loss. The network is
    trained on standardized targets (``target_mean_``, ``target_scale_``),
    so the learning rate and ``tol`` do not depend on their units;
    standardize X too (e.g. with StandardScaler), as for any network.
    Unlike :class:`MixtureOfExpertsRegressor` it has no noise model: it
    predicts a mean, not a distribution.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    DeepMixtureOfExpertsClassifier : The same network for classification.
    MixtureOfExpertsRegressor : One layer of linear experts, fitted by EM.
    sklearn.neural_network.MLPRegressor : A network without gates.

    References
    ----------
    Eigen, Ranzato & Sutskever (2013). Learning factored representations in
    a deep mixture of experts. arXiv:1312.4314 (ICLR 2014 workshop).

    Examples
    --------
    >>> from mixexp import DeepMixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_piecewise_linear
    >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
    >>> dmoe = DeepMixtureOfExpertsRegressor(
    ...     layers=(3, 3), hidden_units=8, solver="gd", random_state=0
    ... ).fit(X, y)
    >>> bool(dmoe.score(X, y) > 0.95)
    True
    >>> dmoe.predict_gate_proba(X[:4], layer=0).shape
    (4, 3)
    """

    _task = "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _target_check(self):
        return {"multi_output": True, "y_numeric": True}

    def _encode_fit_targets(self, y, sample_weight):
        y = _numeric_targets(y, type(self).__name__)
        self._single_output_ = y.ndim == 1
        y = y.reshape(y.shape[0], -1)
        self.n_outputs_ = y.shape[1]
        mean = np.average(y, axis=0, weights=sample_weight)
        spread = np.sqrt(np.average((y - mean) ** 2, axis=0, weights=sample_weight))
        # A constant column is left unscaled; a tiny spread is still a spread.
        spread = np.where(spread > 0, spread, 1.0)
        self.target_mean_, self.target_scale_ = mean, spread
        return (y - mean) / spread, y.shape[1]

    def _score_output(self, output, y):
        return r2_score(y, output)

    def predict(self, X):
        """The network's prediction of the targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted targets.
        """
        output = self._network(self._validate_X(X))[0]
        y = output * self.target_scale_ + self.target_mean_
        return y[:, 0] if self._single_output_ else y
