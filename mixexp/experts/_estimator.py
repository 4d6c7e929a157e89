"""Any scikit-learn regressor or classifier as the experts of a mixture."""

from numbers import Real

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import has_fit_parameter

from .._contract import Expert, LocationScaleMarginals, keep_experts
from .._data import add_stats
from .._params import Interval

_LOG_2PI = np.log(2.0 * np.pi)
# log of the probability floor of a class an expert gives probability zero.
_LOG_TINY = np.log(np.finfo(float).tiny)


class EstimatorExpert(LocationScaleMarginals, Expert):
    """K clones of a scikit-learn estimator as the experts (generalized EM).

    Each M-step fits a fresh clone per expert, in one of two ways
    (``assignment``):

    - **weights** (estimators whose ``fit`` takes ``sample_weight``): on all
      rows, with the responsibilities times the sample weights as
      ``sample_weight`` (the sample weights divided by their mean, so the
      clones see the same weights whatever the scale of the user's);
    - **rows** (any estimator): on the rows assigned to the expert, each row
      to its most responsible expert (``"hard"``: the C-step of
      classification EM, Celeux & Govaert 1992) or to an expert drawn with
      probability its responsibility (``"sample"``: the S-step of stochastic
      EM, Celeux & Diebolt 1985).

    Every ``random_state`` parameter of a clone (nested ones too) is drawn
    from the mixture's ``random_state``, as scikit-learn's ensembles seed
    their members, and so are the draws of ``"sample"``, so a fit is
    reproducible. A regressor becomes the Gaussian expert
    ``N(y; f_k(x), s_k^2)`` with the noise variances from its residuals,
    weighted by the responsibilities; a classifier's likelihood is its
    ``predict_proba`` of the observed class, a probability of zero counted
    as the smallest positive float.

    A new clone is kept only if it raises the expert's part of EM's
    Q-function over the previous one (with its variance refitted), with the
    soft responsibilities of the last E-step. So the likelihood never
    decreases (Dempster, Laird & Rubin's generalized EM; except right after
    the fit re-seeds an expert that lost all its rows), even when the
    estimator does not minimize the weighted error exactly (trees, SVR) or
    was fitted on rows rather than weights, and the fit's ``lower_bounds_``
    and convergence test mean what they mean for exact EM.

    This is not exact EM, whose M-step maximizes the Q-function: with
    assigned rows no clone is fitted to the responsibilities themselves,
    and a candidate that does not raise Q is discarded, so the fit may stop
    where exact EM would not (at a point where no refit on assigned rows
    improves the likelihood, not at a stationary point of it). Plain
    stochastic EM, which keeps every draw, has no monotone likelihood: its
    iterates form a Markov chain whose stationary distribution concentrates
    near a maximum of the likelihood as the sample grows (Nielsen 2000); and
    plain classification EM increases
    the classification likelihood only when each fit maximizes its
    expert's likelihood on its rows, which k-nearest neighbours do not. The
    acceptance test here trades their exploration for monotonicity, and the
    parameters of the last iteration are the best the run saw.
    ``"sample"`` is the default for estimators without ``sample_weight``:
    where experts overlap, a row half explained by each goes to either, so
    an expert is fitted on its share of the shared region, while
    ``"hard"`` gives all such rows to one expert, which biases both
    (classification EM is known to bias the estimates of overlapping
    components, Celeux & Govaert 1992); on well separated experts both
    agree.

    With rows, sample weights are counts: a row of integer weight ``w``
    enters ``w`` times (so a weight-2 row is two copies of it, and a row of
    weight zero none), and a fractional weight ``w`` enters ``floor(w)``
    times and once more with probability ``w - floor(w)`` (its expected
    count is ``w``). Weights much smaller than 1 therefore leave most rows
    out of the clones' fits; pass weights on the scale of counts. An expert
    whose rows are too few for the estimator (fewer than a
    ``KNeighborsRegressor``'s ``n_neighbors``) keeps its current model for
    that step (the constant model of the target before its first fit).

    The in-sample likelihood of an estimator that interpolates its rows
    (``n_neighbors=1``, an unpruned tree) is infinite in the limit, so the
    responsibilities freeze on the first assignment: use smoothing
    estimators (k-nearest neighbours with more than a few neighbours,
    shallow trees). Fitting is in memory (not on dask arrays), and
    ``mixexp.io.load`` trusts the estimators but not the compiled helpers
    some of them hold (a ``KDTree``): name those in ``trusted``, or use
    ``algorithm="brute"``.

    The estimators pass this component to ``expert=``; it is created for you
    when ``expert`` is a plain scikit-learn estimator.

    Parameters
    ----------
    estimator : estimator object
        A regressor or a classifier with ``predict_proba``.
    min_variance : float, default=1e-6
        Floor on each noise variance (regressors), relative to the weighted
        variance of the target.
    assignment : {"auto", "weights", "hard", "sample"}, default="auto"
        How the M-step hands the rows to the clones: ``"weights"`` passes
        the responsibilities as ``sample_weight``; ``"hard"`` fits each
        clone on the rows most responsible to it and ``"sample"`` on rows
        drawn by the responsibilities. ``"auto"`` is ``"weights"`` when the
        estimator's ``fit`` takes ``sample_weight``, else ``"sample"``.

    Attributes
    ----------
    estimators_ : list of estimators
        The K fitted clones (None for an expert still at the constant
        model).
    noise_variance_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        Noise variance of each expert (regressors).

    See Also
    --------
    LinearExpert
        Linear experts with closed-form M-steps.

    References
    ----------
    G. Celeux and J. Diebolt (1985). The SEM algorithm: a probabilistic
    teacher algorithm derived from the EM algorithm for the mixture problem.
    Computational Statistics Quarterly 2, 73-82.

    G. Celeux and G. Govaert (1992). A classification EM algorithm for
    clustering and two stochastic versions. Computational Statistics & Data
    Analysis 14(3), 315-332.

    S. F. Nielsen (2000). The stochastic EM algorithm: estimation and
    asymptotic results. Bernoulli 6(3), 457-489.

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

    Experts without ``sample_weight``, fitted on the rows drawn to them:

    >>> from sklearn.neighbors import KNeighborsRegressor
    >>> knn = MixtureOfExpertsRegressor(
    ...     n_experts=2, expert=KNeighborsRegressor(n_neighbors=10), random_state=0
    ... ).fit(X, y)
    >>> knn.score(X, y) > 0.95
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "min_variance": [Interval(Real, 0, None, closed="neither")],
        "assignment": [StrOptions({"auto", "weights", "hard", "sample"})],
    }

    def __init__(self, estimator, min_variance=1e-6, assignment="auto"):
        self.estimator = estimator
        self.min_variance = min_variance
        self.assignment = assignment

    @property
    def _task(self):
        return "classification" if is_classifier(self.estimator) else "regression"

    @property
    def capabilities(self):
        """What the experts support (see ``mixexp._contract``).

        EM only, as the wrapped estimators have no gradients; M-steps refit
        on rows in memory (not blockwise); noise models for regressors
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
        self._mode = self._resolved_assignment()
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

    def _resolved_assignment(self):
        """How the M-step hands rows to the clones: "weights", "hard" or
        "sample" (``assignment="auto"`` resolved for the estimator)."""
        if self.assignment != "auto":
            return self.assignment
        if has_fit_parameter(self.estimator, "sample_weight"):
            return "weights"
        return _DEFAULT_ASSIGNMENT

    def _check_estimator(self):
        """Refuse estimators EM cannot use as experts, saying which can."""
        if self.assignment == "weights" and not has_fit_parameter(
            self.estimator, "sample_weight"
        ):
            raise TypeError(
                f"expert={self.estimator!r} cannot be fitted with "
                "assignment='weights': its fit has no sample_weight, through "
                "which EM passes the responsibilities. Use assignment='auto', "
                "'hard' or 'sample' (the clones are fitted on the rows assigned "
                "to them), or an estimator whose fit accepts sample_weight (e.g. "
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
        for name in ("_floor", "_start", "_rng", "_mode"):
            self.__dict__.pop(name, None)

    def _m_step(self, stats, data):
        """Fit a clone per expert on the weighted data, or on the rows
        assigned to it; keep it if it raises the expert's Q-function."""
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
        rows = None if self._mode == "weights" else self._assign_rows(data)
        failure, fitted = None, False
        estimators = list(self.estimators_)
        variance = self._variance().copy() if self._task == "regression" else None
        for k in range(len(estimators)):  # a loop over experts, not rows
            count = stats["count"][k]
            candidate = _seeded_clone(self.estimator, self._rng)
            if count <= 0:
                continue
            out = None
            if rows is None:
                candidate.fit(X, target, sample_weight=fit_weights[k])
                out = self._predict_one(candidate, X)
            elif rows[k].size:
                try:
                    candidate.fit(X[rows[k]], target[rows[k]])
                    out = self._predict_one(candidate, X)
                except ValueError as exc:
                    # Too few rows for the estimator (fewer than a kNN's
                    # n_neighbors): the expert keeps its model this step.
                    failure = failure or exc
            fitted = fitted or out is not None
            if variance is None:
                if (
                    out is not None
                    and self._class_q(out, y, weights[k]) >= stats["q"][k]
                ):
                    estimators[k] = candidate
                continue
            old_var = np.maximum(stats["sq"][k] / count, self._floor)
            variance[k] = old_var
            if out is None:
                continue
            sq_new = weights[k] @ (y - out) ** 2
            new_var = np.maximum(sq_new / count, self._floor)
            if _gaussian_q(sq_new, new_var, count) >= _gaussian_q(
                stats["sq"][k], old_var, count
            ):
                estimators[k], variance[k] = candidate, new_var
        # Only when no clone could be fitted: a fitted clone that did not
        # raise Q leaves its expert at the constant model, which is no error.
        if failure is not None and not fitted and all(e is None for e in estimators):
            sizes = max(part.size for part in rows)
            raise ValueError(
                f"expert={self.estimator!r} could not be fitted on the rows "
                f"assigned to any of the {len(rows)} experts (at most {sizes} "
                f"rows each): {failure} Use fewer experts (n_experts) or an "
                "estimator that fits on fewer rows."
            ) from failure
        self.estimators_ = estimators
        if variance is not None:
            self._set_variance(variance)

    def _assign_rows(self, data):
        """The rows (K index arrays, repeated by weight) each clone is fitted
        on: each row to its most responsible expert ("hard") or to an expert
        drawn with probability its responsibility ("sample")."""
        resp = data.resp
        raw = np.ldexp(data.sample_weight, data.weight_exponent)
        if raw.sum() > _MAX_COPIES:
            raise ValueError(
                f"assignment={self._mode!r} fits the clones on copies of the "
                f"rows, as many as their sample weights: these weights sum to "
                f"{raw.sum():.3g}, more than {_MAX_COPIES} copies. Divide the "
                "weights by a constant, or use an estimator whose fit accepts "
                "sample_weight."
            )
        copies = np.floor(raw)
        frac = raw - copies
        if np.any(frac > 0):
            copies += self._rng.uniform(size=raw.shape) < frac
        row = np.repeat(np.arange(raw.shape[0]), copies.astype(np.intp))
        if row.size == 0:
            raise ValueError(
                f"assignment={self._mode!r} fits the clones on copies of the "
                "rows, as many as their sample weights (a weight below 1 is a "
                "row drawn with that probability), and none was drawn: these "
                f"weights sum to {raw.sum():.3g}. Pass weights on the scale of "
                "counts (multiply them by a constant)."
            )
        if self._mode == "hard":
            expert = np.argmax(resp, axis=0)[row]
        else:
            cum = np.cumsum(resp[:, row], axis=0)
            u = self._rng.uniform(size=row.shape[0]) * cum[-1]
            expert = np.minimum(np.sum(cum <= u, axis=0), resp.shape[0] - 1)
        order = np.argsort(expert, kind="stable")
        bounds = np.searchsorted(expert[order], np.arange(resp.shape[0] + 1))
        return [row[order[a:b]] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def _class_q(self, proba, y, weights):
        """sum_i w_i log P(y_i | x_i) of one classification expert, from its
        class probabilities (n, C)."""
        proba = proba[np.arange(y.shape[0]), y]
        with np.errstate(divide="ignore"):
            return float(weights @ np.maximum(np.log(proba), _LOG_TINY))


# Largest binary exponent of the mean weight handed to the clones as is.
_RAW_EXPONENT = 64
# Most copies of the rows the clones of assignment="hard" or "sample" are
# fitted on (the weights are counts), so that a weight scale cannot exhaust
# memory.
_MAX_COPIES = 2**24
# What assignment="auto" means for an estimator whose fit has no sample_weight.
_DEFAULT_ASSIGNMENT = "sample"


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
