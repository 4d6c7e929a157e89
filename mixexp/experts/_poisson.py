"""Poisson regression experts (log link) for count targets."""

from numbers import Real

import numpy as np
from scipy.special import gammaln, pdtr
from scipy.stats import poisson

from .._component import check_component_fitted, map_chunks
from .._contract import Expert, keep_experts
from .._data import add_stats
from .._information import column_variance, design, term_names
from .._linalg import psd_solve, weighted_grams
from .._online import running_average
from .._params import Interval

# The log-means are clipped to this range before the exponential: exp(300)
# is about 2e130, so the means and their squares (in the predictive
# variances) stay finite in float64, and the means stay positive (a Hessian
# of exact zeros would be singular). Counts near exp(300) are beyond any
# data: only a diverging step reaches the clip, and the EM driver halves a
# step that lowers the objective.
_ETA_LIMIT = 300.0

# Largest Newton step of an M-step, as the weighted root-mean-square change
# of the log-means on the expert's data: far from the optimum a full Newton
# step on exp() overshoots (from a mean of 1 towards counts near 100 it
# jumps by 99 in log-mean), which the driver would then halve step by step.
_MAX_STEP = 2.0


def _log_means(Xt, W):
    """Clipped log-means (K, n_rows) of design columns ``Xt`` (p, n_rows)."""
    return np.clip(W @ Xt, -_ETA_LIMIT, _ETA_LIMIT)


def _target_issues(part):
    """What is wrong with a part's targets: the number of columns, and up to
    three negative values."""
    return part.y.shape[1], part.y[part.y < 0][:3].tolist()


class PoissonExpert(Expert):
    """K Poisson regression experts, for count targets.

    ``y | x, k ~ Poisson(exp(coef_[k] @ x + intercept_[k]))``: each expert
    is a Poisson generalized linear model with the log link,

        log P_k(y | x) = y eta_k - exp(eta_k) - log(y!),
        eta_k = coef_[k] @ x + intercept_[k],

    fitted with the responsibilities as sample weights. Targets are one
    non-negative column; as for ``PoissonRegressor``, non-integer values
    (rates) are allowed and fit the Poisson quasi-likelihood, with
    ``log Gamma(y + 1)`` in place of ``log(y!)``. The M-step is one
    Newton (IRLS) step per expert from the statistics the E-step sums (so
    fits run block by block on dask arrays); the EM driver checks each step
    at its next pass and halves it if it lowered the objective

        sum_i w_i h_ik log P_k(y_i | x_i)
            - alpha W / 2 sum_j Var(x_j) coef_[k, j]^2

    with ``W = sum_i w_i`` and ``Var(x_j)`` the weighted variance of input
    j: a ridge penalty per unit of sample weight on the coefficients in
    standardized units, the intercept left free. EM therefore never lowers
    the penalized likelihood. With one expert the fit is
    :class:`~sklearn.linear_model.PoissonRegressor` with the same ``alpha``
    on the standardized inputs. Trained by EM, by the gradient solvers and
    online by ``partial_fit``. The mixture's predictive distribution
    (``predict(return_std=True)``, ``predict_quantiles``, ``sample_y``) is a
    mixture of Poisson distributions, whose quantiles are integers.

    Parameters
    ----------
    alpha : float, default=1e-6
        Ridge penalty on the expert coefficients, per unit of sample weight
        and in standardized units (each coefficient times the weighted
        standard deviation of its input), so the fit depends neither on the
        units of the inputs nor on the scale of the weights. It keeps the
        coefficients finite when an expert's counts are all zero on one
        side of an input.

    Attributes
    ----------
    coef_ : ndarray of shape (n_experts, n_expert_features)
        Coefficients of each expert's log-mean, on the inputs' own scale.
    intercept_ : ndarray of shape (n_experts,)
        Intercepts of the log-means.

    See Also
    --------
    sklearn.linear_model.PoissonRegressor : One Poisson regression.
    LinearExpert : Gaussian experts for real-valued targets.

    References
    ----------
    Wang, P., Cockburn, I. M. & Puterman, M. L. (1998). Analysis of patent
    data: a mixed-Poisson-regression-model approach. Journal of Business &
    Economic Statistics 16(1), 27-41.

    Grün, B. & Leisch, F. (2008). FlexMix version 2: finite mixtures with
    concomitant variables and varying and constant parameters. Journal of
    Statistical Software 28(4).

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.experts import PoissonExpert
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(2000, 1))
    >>> log_mean = np.where(X[:, 0] < 0, 2 - X[:, 0], 2 + 2 * X[:, 0])
    >>> y = rng.poisson(np.exp(log_mean))
    >>> moe = MixtureOfExpertsRegressor(
    ...     2, expert=PoissonExpert(), random_state=0
    ... ).fit(X, y)
    >>> np.sort(moe.experts_.coef_[:, 0]).round(1)
    array([-1.,  2.])
    >>> moe.predict_quantiles([[0.5]], [0.1, 0.9])  # counts, around exp(3)
    array([[15., 26.]])
    """

    _parameter_constraints = {"alpha": [Interval(Real, 0, None, closed="left")]}
    _task = "regression"
    _target_tags = {"positive_only": True, "multi_output": False}

    def __init__(self, alpha=1e-6):
        self.alpha = alpha

    # ----------------------------------------------------------------- public
    def predict(self, X):
        """Each expert's mean count ``exp(coef_[k] @ x + intercept_[k])``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated expert inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_experts) or \
                (n_samples, n_experts, 1)
            The second form when the targets were a single column.
        """
        check_component_fitted(self)
        W = self._params()
        out = map_chunks(X, lambda Xt: np.exp(_log_means(Xt, W)), W.shape[:1]).T
        return out if self._single_output else out[:, :, None]

    # ------------------------------------------------- protocol of the driver
    capabilities = frozenset(
        {
            "em",
            "gradient",
            "online",
            "blockwise",
            "predictive_distribution",
            "pruning",
            "information",
        }
    )
    _integer_support = True

    @staticmethod
    def _features(X):
        """The design features of the inputs: the inputs themselves."""
        return X

    def _prepare(self, data):
        """Check the parameters and that the targets are non-negative."""
        self._validate_params()
        issues = data.map_parts(_target_issues)
        columns = max(issue[0] for issue in issues)
        negative = [v for issue in issues for v in issue[1]][:3]
        if columns != 1:
            raise ValueError(
                f"PoissonExpert models one count per sample, but y has {columns} "
                "columns; pass a 1-D y (or a single column), and fit one model "
                "per column for several counts."
            )
        if negative:
            raise ValueError(
                f"PoissonExpert needs non-negative targets (counts, or rates), "
                f"but y has negative values such as {negative}. Use "
                "LinearExpert (the default expert) for real-valued targets."
            )
        self._single_output = data.single_output
        # The ridge penalty per unit of sample weight, on the coefficients in
        # standardized units: alpha times each input's variance.
        self._ridge_unit = self.alpha * data.column_scale("experts") ** 2
        self._ridge = self._ridge_unit * data.total_weight

    def _reset(self, data):
        """Every expert starts as the constant model of the mean count."""
        mean = float(data.target_moments()[0][0])
        # All-zero counts have no finite maximum-likelihood log-mean.
        intercept = np.log(max(mean, np.exp(-_ETA_LIMIT / 10)))
        self.coef_ = np.zeros((data.n_experts, data.width("experts")))
        self.intercept_ = np.full(data.n_experts, intercept)

    def _params(self, data=None):
        """Coefficients W (K, p) on design rows ``[x - x_offset, 1]`` (the
        offset is zero outside a fit)."""
        intercept = self.intercept_
        if data is not None:
            intercept = intercept + self.coef_ @ data.offset["experts"]
        return np.column_stack([self.coef_, intercept])

    def _set_design(self, W, data):
        """Store coefficients W (K, p) of the fit's design space."""
        self.coef_ = W[:, :-1].copy()
        self.intercept_ = W[:, -1] - self.coef_ @ data.offset["experts"]

    def _penalty(self):
        return 0.5 * float(np.sum(self._ridge * self.coef_**2))

    def _keep(self, experts):
        keep_experts(self, ("coef_", "intercept_"), experts)

    def _n_parameters(self):
        return self.coef_.size + self.intercept_.size

    def _end_fit(self):
        """Drop fit-time scratch (``_ridge`` stays: ``_penalty`` needs it)."""
        for name in ("_pending", "_ridge_unit"):
            self.__dict__.pop(name, None)

    def _predict_pairs(self, X, samples, experts):
        """Mean counts of the given (sample, expert) pairs only: (n_pairs, 1)."""
        eta = np.einsum("id,id->i", X[samples], self.coef_[experts])
        eta += self.intercept_[experts]
        return np.exp(np.clip(eta, -_ETA_LIMIT, _ETA_LIMIT))[:, None]

    @staticmethod
    def _log_pmf(y, eta):
        """log P(y | eta) (K, n_rows) of targets y (n_rows,); for a
        non-integer y, the quasi-likelihood with log Gamma(y + 1)."""
        if np.any(y < 0):  # met only when scoring: a fit refuses them first
            # -inf in every expert would leave the responsibilities 0 / 0.
            raise ValueError(
                "PoissonExpert scores non-negative targets, but y has values "
                f"such as {y[y < 0][:3].tolist()}."
            )
        return y * eta - np.exp(eta) - gammaln(y + 1.0)

    def _log_likelihood(self, Xt, y, W):
        """log P_k(y_i | x_i) of shape (K, n_rows), and a cache for
        ``_accumulate`` (the log-means and the counts)."""
        eta = _log_means(Xt, W)
        y = y[:, 0]
        return self._log_pmf(y, eta), (eta, y)

    def _accumulate(self, stats, Xt, weights, cache, W):
        """Gradient and negative Hessian of each expert's weighted data term
        in W, the IRLS statistics: sum w h (y - mu) x and sum w h mu x x^T."""
        eta, y = cache
        mu = np.exp(eta)
        add_stats(
            stats,
            {
                "grad": (weights * (y - mu)) @ Xt.T,
                "hess": weighted_grams(Xt, weights * mu),
                "count": weights.sum(axis=1),
            },
        )

    def _m_step(self, stats, data):
        """One Newton step per expert on its penalized term of Q, left
        pending for the driver to verify."""
        W = self._params(data)
        ridge = np.append(self._ridge, 0.0)
        hess = stats["hess"]
        grad = stats["grad"] - ridge * W
        step = psd_solve(hess + np.diag(ridge), grad[:, :, None])[:, :, 0]
        # The weighted mean square change of the log-means, step' H step / sum
        # w h mu (the Hessian's intercept entry), capped at _MAX_STEP ** 2.
        mass = hess[:, -1, -1]
        spread = np.maximum(np.einsum("kp,kpq,kq->k", step, hess, step), 0.0)
        spread = np.sqrt(spread / np.where(mass > 0, mass, 1.0))
        step *= np.minimum(1.0, _MAX_STEP / np.maximum(spread, 1e-300))[:, None]
        step[~(stats["count"] > 0)] = 0.0  # an expert with no data keeps its place
        self._pending = (W, step)
        self._set_design(W + step, data)

    def _retreat(self, data):
        """Halve a pending Newton step the EM driver found to lower Q."""
        before, step = self._pending
        step = 0.5 * step
        if np.max(np.abs(step)) <= 1e-12 * (1.0 + np.max(np.abs(before))):
            self._pending = None  # back to the start, which is always safe
            self._set_design(before, data)
            return
        self._pending = (before, step)
        self._set_design(before + step, data)

    # ------------------------------------------------------- online EM
    def _prepare_online(self):
        """Each batch's E-step sums its IRLS statistics already."""

    def _online_update(self, stats, data, store, gamma, seen, update):
        """Online IRLS (as the softmax parts): each batch's Newton model of
        its M-step objective, ``g_b + H_b (W - W_b)``, is folded into running
        averages of ``H_b`` and ``H_b W_b + g_b`` per unit weight; the new
        coefficients maximize the averaged quadratic model with the penalty
        per unit weight."""
        W = self._params(data)
        batch = {
            "hess": stats["hess"],
            "target": (stats["hess"] @ W[:, :, None])[:, :, 0] + stats["grad"],
            "count": stats["count"],
        }
        keys = ("hess", "target", "count")
        running_average(store, batch, data.total_weight, gamma, keys)
        if not update:
            return
        ridge = np.append(self._ridge_unit, 0.0)
        new = psd_solve(store["hess"] + np.diag(ridge), store["target"][:, :, None])
        alive = store["count"] > 0
        W[alive] = new[alive, :, 0]
        self._set_design(W, data)

    # -------------------------------------------- gradient-based training
    def _theta(self, data):
        return [self._params(data)]

    def _set_theta(self, theta, data):
        self._set_design(theta[0], data)

    def _theta_penalty(self, theta, by_variance=False):
        """Ridge penalty on the slopes (not the intercepts) and its gradient;
        Poisson experts have no noise scale, so ``by_variance`` changes
        nothing."""
        W = theta[0]
        grad = np.zeros_like(W)
        grad[:, :-1] = self._ridge * W[:, :-1]
        return 0.5 * float(np.sum(grad[:, :-1] * W[:, :-1])), [grad]

    def _forward(self, Xt, y, theta, data):
        eta = _log_means(Xt, theta[0])
        y = y[:, 0]
        return {"log_lik": self._log_pmf(y, eta), "mean": np.exp(eta), "y": y}

    @staticmethod
    def _log_lik_from(cache):
        return cache["log_lik"]

    @staticmethod
    def _error(cache):
        """Each expert's own error: its negative log-likelihood (the Poisson
        deviance over two, up to a term of y only)."""
        return -cache["log_lik"]

    @staticmethod
    def _outputs(cache):
        """Expert means (K, 1, n) and the counts (1, n)."""
        return cache["mean"][:, None, :], cache["y"][None, :]

    def _backward(self, Xt, cache, theta, d_logp=None, d_error=None, d_output=None):
        """Gradient in W from dE/dlog P_k, dE/d error_k (K, n) and dE/d o_k
        (K, 1, n): d log P / d eta = y - mu and d mu / d eta = mu."""
        mean = cache["mean"]
        d_eta = np.zeros_like(mean)
        if d_logp is not None:
            d_eta += d_logp * (cache["y"] - mean)
        if d_error is not None:
            d_eta -= d_error * (cache["y"] - mean)  # error = -log P
        if d_output is not None:
            d_eta += d_output[:, 0, :] * mean
        return [d_eta @ Xt.T]

    # ------------------------------------------ predictive distribution
    def _marginals(self, X):
        """Each expert's mean count (n, K, 1): it is the whole Poisson law."""
        means = self.predict(X)
        return (means.reshape(X.shape[0], self.coef_.shape[0], 1),)

    def _marginal_variance(self, marginals):
        """A Poisson variance is its mean."""
        return marginals[0]

    def _marginal_cdf(self, marginals, t):
        """P_k(Y <= t) (n, K, 1) at integers t (n, 1), 0 below 0."""
        t = t[:, None]
        return np.where(t < 0, 0.0, pdtr(np.maximum(t, 0.0), marginals[0]))

    def _marginal_quantile(self, marginals, q):
        """Each expert's own q-quantile (n, K, 1), an integer."""
        return poisson.ppf(q, marginals[0])

    def _marginal_draw(self, marginals, rows, experts, rng):
        """Poisson counts (n_draws, 1) with the drawn experts' means."""
        return rng.poisson(marginals[0][rows, experts]).astype(float)

    # ------------------------------------------------------- information
    # Each expert's log-mean coefficients on the design [1, x].
    def _info_design_params(self):
        """(K, 1 + d) coefficients of ``[1, x]``."""
        return np.column_stack([self.intercept_, self.coef_])

    def _info_estimates(self, names):
        W = self._info_design_params()
        terms = term_names(names)
        labels = [(k, 0, term, True) for k in range(W.shape[0]) for term in terms]
        return W.ravel(), labels

    def _info_means(self, Z):
        eta = np.clip(Z @ self._info_design_params().T, -_ETA_LIMIT, _ETA_LIMIT)
        return np.exp(eta)  # (n, K)

    def _info_scores(self, X, y):
        """``(y - mu_k) z``, shape (n, K, 1 + d)."""
        Z = design(X)
        return (y[:, :1] - self._info_means(Z))[:, :, None] * Z[:, None, :]

    def _info_curvature(self, X, y, weights):
        """``sum_i weights_ik mu_ik z_i z_i^T``, (K, 1 + d, 1 + d)."""
        Z = design(X)
        return weighted_grams(Z.T, (weights * self._info_means(Z)).T)

    def _info_penalty(self, X, sample_weight):
        """The ridge on the slopes: ``alpha W Var(x_j)`` on the diagonal."""
        ridge = (
            self.alpha * float(sample_weight.sum()) * column_variance(X, sample_weight)
        )
        block = np.diag(np.append(0.0, ridge))
        return np.broadcast_to(block, (self.coef_.shape[0],) + block.shape).copy()
