"""The gate without inputs: constant mixing proportions."""

import numpy as np
from sklearn.exceptions import NotFittedError

from .._contract import Gate
from .._data import add_stats
from .._information import multinomial_curvature, multinomial_scores
from .._online import running_average

# Proportions are kept at or above this (the smallest normal float), so that
# log g stays finite: an expert this rare has no responsibility left, and the
# driver re-seeds it (``_em.reseed_dead_experts``) long before.
_FLOOR = np.finfo(float).tiny


class ConstantGate(Gate):
    """Constant gate: ``g_k(x) = pi_k`` for every input.

    The gate of a finite mixture: the share of each expert does not depend
    on the input. With linear experts the model is the mixture of linear
    regressions (clusterwise regression, De Veaux 1989), which R's mixtools
    (``regmixEM``) and flexmix fit by default. The M-step is closed-form
    and exact, the weighted mean responsibility of each expert:

        pi_k = sum_i w_i h_ik / sum_i w_i,

    floored at the smallest normal float so that ``log pi_k`` is finite (an
    expert left with no responsibility is re-seeded by the estimator). EM
    therefore never lowers the likelihood. Trained by ``solver="em"``, on
    dask arrays block by block, and online by ``partial_fit``. The gate
    inputs (``gate_features``) are not read.

    Attributes
    ----------
    proportions_ : ndarray of shape (n_experts,)
        Mixing proportions ``pi_k``; they sum to one.

    See Also
    --------
    SoftmaxGate : Proportions that depend on the input through a softmax.
    GaussianGate : Proportions that depend on the input through Gaussian
        regions.

    References
    ----------
    De Veaux, R. D. (1989). Mixtures of linear regressions. Computational
    Statistics & Data Analysis 8, 227-245.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.gates import ConstantGate
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(0, 1, size=(400, 1))
    >>> line = rng.uniform(size=400) < 0.3
    >>> y = np.where(line, 2.0, 3.0 * X[:, 0]) + 0.05 * rng.randn(400)
    >>> moe = MixtureOfExpertsRegressor(
    ...     n_experts=2, gate=ConstantGate(), n_init=3, random_state=0
    ... ).fit(X, y)
    >>> np.sort(moe.gate_.proportions_).round(1)
    array([0.3, 0.7])
    >>> proba = moe.predict_gate_proba([[0.0], [1.0]])
    >>> bool(np.all(proba == moe.gate_.proportions_))
    True
    """

    _parameter_constraints = {}

    def __init__(self):
        pass

    # ----------------------------------------------------------------- public
    def predict_proba(self, X):
        """Gate probabilities g_k(x) = pi_k, the same for every row.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated gate inputs; only their number is used.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            Every row is ``proportions_``.
        """
        self._check_fitted()
        return np.tile(self.proportions_, (len(X), 1))

    # ------------------------------------------------- protocol of the driver
    # No gradient training and no top-k routing: nothing to route by. The
    # closed-form M-step is exact, so nothing is ever pending.
    capabilities = frozenset({"em", "online", "blockwise", "pruning", "information"})

    def _check_fitted(self):
        if not hasattr(self, "proportions_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; it is fitted as "
                "part of a mixture estimator (MixtureOfExpertsRegressor or "
                "MixtureOfExpertsClassifier)."
            )

    def _prepare(self, data):
        """Check the (absent) parameters."""
        self._validate_params()

    def _reset(self, data):
        """Start from equal proportions."""
        self.proportions_ = np.full(data.n_experts, 1.0 / data.n_experts)

    def _set_proportions(self, proportions):
        """Store proportions floored at ``_FLOOR`` and renormalized."""
        proportions = np.maximum(proportions, _FLOOR)
        self.proportions_ = proportions / proportions.sum()

    def _keep(self, experts):
        """The kept proportions, renormalized."""
        self._set_proportions(self.proportions_[experts])

    def _revive(self, experts):
        """Give re-seeded experts the mean proportion, so the next M-step
        refits their share from their new responsibilities."""
        proportions = self.proportions_.copy()
        proportions[experts] = proportions.mean()
        self._set_proportions(proportions)

    def _params(self, data=None):
        """log pi (K,); the design rows do not matter."""
        return np.log(self.proportions_)

    def _log_proba(self, Xt, params):
        """log pi_k repeated over the rows, shape (K, n_rows), and no cache."""
        return np.repeat(params[:, None], Xt.shape[1], axis=1), None

    def _accumulate(self, stats, Xt, weight, resp, cache, params):
        add_stats(stats, {"count": resp @ weight})

    def _m_step(self, stats, data):
        count = stats["count"]
        self._set_proportions(count / count.sum())

    def _penalty(self):
        return 0.0

    def _n_parameters(self):
        return self.proportions_.size - 1

    def _end_fit(self):
        """Nothing to drop: the gate keeps no scratch."""

    # ------------------------------------------------------- online EM
    def _prepare_online(self):
        """The exact M-step works on the averaged counts as they are."""

    def _online_update(self, stats, data, store, gamma, seen, update):
        """Exact M-step on the running average of the counts per unit
        weight (the scale cancels in the proportions)."""
        running_average(store, stats, data.total_weight, gamma, ("count",))
        if update:
            self._m_step({"count": store["count"]}, data)

    # ------------------------------------------------------- information
    # The log-odds of every expert against the first, log(pi_k / pi_0) for
    # k = 1..K-1: the intercept-only multinomial logit.
    def _info_estimates(self, names):
        log_odds = np.log(self.proportions_[1:] / self.proportions_[0])
        labels = [(k, 0, "intercept", True) for k in range(1, log_odds.shape[0] + 1)]
        return log_odds, labels

    def _info_scores(self, X, y):
        n, n_experts = X.shape[0], self.proportions_.shape[0]
        indicator = np.broadcast_to(np.eye(n_experts), (n, n_experts, n_experts))
        prob = np.broadcast_to(self.proportions_, indicator.shape)
        return multinomial_scores(np.ones((n, 1)), indicator, prob)

    def _info_curvature(self, X, y, weights):
        n = X.shape[0]
        prob = np.broadcast_to(self.proportions_, (n, 1, self.proportions_.shape[0]))
        total = weights.sum(axis=1)[:, None]
        return multinomial_curvature(np.ones((n, 1)), prob, total)[0]

    def _info_penalty(self, X, sample_weight):
        """No penalty: zeros."""
        n_free = self.proportions_.shape[0] - 1
        return np.zeros((n_free, n_free))
