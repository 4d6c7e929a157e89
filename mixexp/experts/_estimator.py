"""Any scikit-learn regressor or classifier as the experts of a mixture."""

from numbers import Real

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import has_fit_parameter

from .._contract import Expert, LocationScaleMarginals, keep_experts
from .._data import add_stats
from .._params import Interval

_LOG_2PI = np.log(2.0 * np.pi)
# log of the probability floor of a class an expert gives probability zero.
_LOG_TINY = np.log(np.finfo(float).tiny)


class EstimatorExpert(LocationScaleMarginals, Expert):
    """K clones of a scikit-learn estimator as the experts (generalized EM).

    Each M-step fits a fresh clone per expert with the responsibilities
    times the sample weights as ``sample_weight`` (the sample weights
    divided by their mean, so the clones see the same weights whatever the
    scale of the user's). Every ``random_state`` parameter of a clone
    (nested ones too) is drawn from the mixture's ``random_state``, as
    scikit-learn's ensembles seed their members, so a fit is reproducible.
    A regressor becomes the Gaussian expert ``N(y; f_k(x), s_k^2)`` with
    the noise variances from its weighted residuals; a classifier's
    likelihood is its ``predict_proba`` of the observed class. A new clone
    is kept only if it raises the expert's part of EM's Q-function over the
    previous one (with its variance refitted), so the likelihood never
    decreases even when the estimator does not minimize the weighted error
    exactly (trees, SVR).

    The estimators pass this component to ``expert=``; it is created for you
    when ``expert`` is a plain scikit-learn estimator.

    Parameters
    ----------
    estimator : estimator object
        A regressor or classifier whose ``fit`` accepts ``sample_weight``;
        a classifier must also have ``predict_proba``.
    min_variance : float, default=1e-6
        Floor on each noise variance (regressors), relative to the weighted
        variance of the target.

    Attributes
    ----------
    estimators_ : list of estimators
        The K fitted clones.
    noise_variance_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        Noise variance of each expert (regressors).

    See Also
    --------
    LinearExpert
        Linear experts with closed-form M-steps.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(400, 1))
    >>> y = np.where(X[:, 0] < 0, -X[:, 0], 2 * X[:, 0]) + 0.1 * rng.randn(400)
    >>> moe = MixtureOfExpertsRegressor(
    ...     n_experts=2, expert=DecisionTreeRegressor(max_depth=3), random_state=0
    ... ).fit(X, y)
    >>> len(moe.experts_.estimators_)
    2
    >>> moe.score(X, y) > 0.95
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "min_variance": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, estimator, min_variance=1e-6):
        self.estimator = estimator
        self.min_variance = min_variance

    @property
    def _task(self):
        return "classification" if is_classifier(self.estimator) else "regression"

    @property
    def capabilities(self):
        """What the experts support (see ``mixexp._contract``).

        EM only, as the wrapped estimators have no gradients; M-steps refit
        on all rows in memory (not blockwise); noise models for regressors
        only.
        """
        if self._task == "regression":
            return frozenset({"em", "predictive_distribution", "pruning"})
        return frozenset({"em", "pruning"})

    # ----------------------------------------------------------------- public
    def predict(self, X):
        """Each regression expert's prediction.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated expert inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_experts) or \
                (n_samples, n_experts, n_outputs)
            Each expert's prediction.
        """
        out = self._predict_all(X).transpose(1, 0, 2)
        return out[:, :, 0] if self._single_output else out

    def predict_proba(self, X):
        """Each classification expert's class probabilities.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated expert inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts, n_classes)
            Each expert's class probabilities.
        """
        return self._predict_all(X).transpose(1, 0, 2)

    # ------------------------------------------------- protocol of the driver
    def _features(self, X):
        return X

    def _check_fitted(self):
        if not hasattr(self, "estimators_"):
            raise NotFittedError(
                "This EstimatorExpert is not fitted yet; it is fitted as part of "
                "a mixture estimator."
            )

    def _predict_one(self, estimator, X):
        """(n, m) predictions or (n, C) class probabilities of one expert,
        on the encoded targets (a constant model before the first fit)."""
        if estimator is None:
            return np.broadcast_to(self._constant, (X.shape[0], self._constant.size))
        if self._task == "regression":
            return np.asarray(estimator.predict(X), dtype=float).reshape(X.shape[0], -1)
        proba = np.zeros((X.shape[0], self._n_classes))
        proba[:, estimator.classes_] = estimator.predict_proba(X)
        return proba

    def _predict_all(self, X, estimators=None):
        self._check_fitted()
        estimators = self.estimators_ if estimators is None else estimators
        return np.stack([self._predict_one(est, X) for est in estimators])

    def _predict_pairs(self, X, samples, experts):
        """Outputs of the given (sample, expert) pairs only: (n_pairs, m)."""
        out = np.empty((samples.shape[0], self._constant.size))
        for k, est in enumerate(self.estimators_):  # a loop over experts
            pairs = np.flatnonzero(experts == k)
            if pairs.size:
                out[pairs] = self._predict_one(est, X[samples[pairs]])
        return out

    def _marginals(self, X):
        """Means (n, K, m), scales (K, m) and degrees of freedom (K,)."""
        means = self._predict_all(X).transpose(1, 0, 2)
        variance = self._variance()
        return means, np.sqrt(variance), np.full(variance.shape[0], np.inf)

    def _noise_draw(self, experts, rng):
        scale = np.sqrt(self._variance())[experts]
        return scale * rng.standard_normal(scale.shape)

    def _variance(self):
        variance = self.noise_variance_
        return variance[:, None] if self._single_output else variance

    def _prepare(self, data):
        """Check the estimator; the experts see uncentred inputs."""
        self._validate_params()
        self._check_estimator()
        self._rng = check_random_state(data.random_state)
        data.set_offset("experts", np.zeros(data.width("experts")))
        if self._task == "regression":
            self._single_output = data.single_output
            mean, var, _ = data.target_moments()
            self._floor = self.min_variance * np.where(var > 0, var, 1.0)
            self._start = (mean, np.maximum(var, self._floor))
        else:
            self._n_classes = data.n_classes
            prior = np.bincount(data.y, data.sample_weight, data.n_classes)
            self._start = (prior / prior.sum(), None)

    def _check_estimator(self):
        """Refuse estimators EM cannot use as experts, saying which can."""
        if not has_fit_parameter(self.estimator, "sample_weight"):
            raise TypeError(
                f"expert={self.estimator!r} cannot be an expert: its fit has no "
                "sample_weight, through which EM passes the responsibilities. "
                "Use an estimator whose fit accepts sample_weight (e.g. "
                "LinearRegression, Ridge, DecisionTreeRegressor, SVR, "
                "HistGradientBoostingRegressor)."
            )
        if self._task == "classification" and not hasattr(
            self.estimator, "predict_proba"
        ):
            raise TypeError(
                f"expert={self.estimator!r} cannot be a classification expert: "
                "it has no predict_proba, and the likelihood of an expert is its "
                "probability of the observed class. Use a classifier with "
                "predict_proba whose fit accepts sample_weight (e.g. "
                "LogisticRegression, DecisionTreeClassifier, GaussianNB, "
                "SGDClassifier(loss='log_loss'), SVC(probability=True)), or "
                "wrap it in CalibratedClassifierCV."
            )

    def _reset(self, data):
        """Every expert starts as the constant model of the whole target."""
        self._constant, variance = self._start
        self.estimators_ = [None] * data.n_experts
        if variance is not None:
            self._set_variance(np.tile(variance, (data.n_experts, 1)))

    def _set_variance(self, variance):
        self.noise_variance_ = variance[:, 0] if self._single_output else variance

    def _params(self, data=None):
        """A snapshot of the experts: the fitted clones and variances."""
        variance = self._variance() if self._task == "regression" else None
        return list(self.estimators_), variance

    def _log_likelihood(self, Xt, y, params):
        """log P_k(y_i | x_i) (K, n_rows) and, for ``_accumulate``, the
        squared residuals (K, m, n_rows) of a regressor or the
        log-likelihood of a classifier."""
        estimators, variance = params
        out = self._predict_all(Xt[:-1].T, estimators)  # (K, n, m or C)
        if variance is None:
            proba = np.take_along_axis(out, y[None, :, None], axis=2)[:, :, 0]
            with np.errstate(divide="ignore"):
                log_lik = np.maximum(np.log(proba), _LOG_TINY)
            return log_lik, {"log_lik": log_lik}
        sq = (y[None] - out).transpose(0, 2, 1) ** 2
        log_lik = -0.5 * np.sum(
            sq / variance[:, :, None] + (np.log(variance) + _LOG_2PI)[:, :, None],
            axis=1,
        )
        return log_lik, {"sq": sq}

    def _accumulate(self, stats, Xt, weights, cache, params):
        part = {"count": weights.sum(axis=1)}
        if "sq" in cache:
            part["sq"] = np.einsum("kn,kmn->km", weights, cache["sq"])
        else:
            part["q"] = np.sum(weights * cache["log_lik"], axis=1)
        add_stats(stats, part)

    def _penalty(self):
        return 0.0

    def _keep(self, experts):
        keep_experts(self, ("estimators_", "noise_variance_"), experts)

    def _n_parameters(self):
        raise ValueError(
            f"expert={self.estimator!r} has no parameter count, so bic and aic "
            "are undefined; compare models by cross-validation instead."
        )

    def _end_fit(self):
        for name in ("_floor", "_start", "_rng"):
            self.__dict__.pop(name, None)

    def _m_step(self, stats, data):
        """Fit a clone per expert on the weighted data; keep it if it raises
        the expert's Q-function."""
        X, y = data.inputs["experts"], data.y
        target = y[:, 0] if self._task == "regression" and self._single_output else y
        weights = data.resp * data.sample_weight
        # The clones see the user's weights times the responsibilities, as if
        # the user fitted them: a row of weight 2 is two copies of it to them
        # too. Weights far from unit scale stay divided by the fit's power of
        # two, where the clones' own sums (a tree's squared sums) cannot
        # overflow or underflow.
        exponent = data.weight_exponent
        fit_weights = (
            np.ldexp(weights, exponent) if abs(exponent) <= _RAW_EXPONENT else weights
        )
        estimators = list(self.estimators_)
        variance = self._variance().copy() if self._task == "regression" else None
        for k in range(len(estimators)):  # a loop over experts, not rows
            count = stats["count"][k]
            candidate = _seeded_clone(self.estimator, self._rng)
            if count <= 0:
                continue
            candidate.fit(X, target, sample_weight=fit_weights[k])
            if variance is None:
                if self._class_q(candidate, X, y, weights[k]) >= stats["q"][k]:
                    estimators[k] = candidate
                continue
            sq_new = weights[k] @ (y - self._predict_one(candidate, X)) ** 2
            new_var = np.maximum(sq_new / count, self._floor)
            old_var = np.maximum(stats["sq"][k] / count, self._floor)
            if _gaussian_q(sq_new, new_var, count) >= _gaussian_q(
                stats["sq"][k], old_var, count
            ):
                estimators[k], variance[k] = candidate, new_var
            else:
                variance[k] = old_var
        self.estimators_ = estimators
        if variance is not None:
            self._set_variance(variance)

    def _class_q(self, estimator, X, y, weights):
        """sum_i w_i log P(y_i | x_i) of one classification expert."""
        proba = self._predict_one(estimator, X)[np.arange(y.shape[0]), y]
        with np.errstate(divide="ignore"):
            return float(weights @ np.maximum(np.log(proba), _LOG_TINY))


# Largest binary exponent of the mean weight handed to the clones as is.
_RAW_EXPONENT = 64


def _seeded_clone(estimator, rng):
    """A clone whose ``random_state`` parameters (nested ones too) are drawn
    from ``rng``, as scikit-learn's ``BaseEnsemble`` seeds its members."""
    clone_ = clone(estimator)
    names = sorted(
        name
        for name in clone_.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    )
    seeds = rng.randint(np.iinfo(np.int32).max, size=len(names))
    return clone_.set_params(**dict(zip(names, seeds.tolist(), strict=True)))


def _gaussian_q(sq, variance, count):
    """Weighted Gaussian log-likelihood from the weighted squared residuals."""
    return float(-0.5 * np.sum(sq / variance + count * (np.log(variance) + _LOG_2PI)))
