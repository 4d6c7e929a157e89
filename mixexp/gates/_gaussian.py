"""The localized (Gaussian) gate of Xu, Jordan & Hinton (1995)."""

from numbers import Real

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import StrOptions

from .._component import map_chunks
from .._contract import Gate, keep_experts
from .._data import add_stats
from .._estep import log_sum_exp
from .._information import (
    gate_scores,
    multinomial_curvature,
    relative,
    term_names,
)
from .._linalg import weighted_grams
from .._online import running_average
from .._params import Interval

_LOG_2PI = np.log(2.0 * np.pi)

# The covariance type of stored covariances (or precision factors), read
# off their number of dimensions: fitted arrays describe themselves.
_KIND = {3: "full", 2: "diag", 1: "spherical"}

# Components whose responsibility mass is below this fraction of the total
# have no data to estimate a mean or a covariance from: they keep theirs (as
# GaussianMixture adds 10 eps to every mass).
_EMPTY_FRACTION = 10 * np.finfo(float).eps


# ------------------------------------------------------ moments and M-step
# The statistics are weighted moments of the design rows, i.e. about the
# fit's design offset (the weighted mean of the gate inputs), so they are
# additive over chunks and batches: count (B,), first (B, d) and second,
# (B, d, d) full, (B, d) diagonal or (B,) trace for a spherical covariance.
def _moments(Xt, weights, covariance_type):
    """Weighted count, first and second moments of the design columns
    ``Xt`` (p, n_rows; the last row is the constant) under each row of
    ``weights`` (B, n_rows)."""
    d = Xt.shape[0] - 1
    if covariance_type == "full":
        grams = weighted_grams(Xt, weights)  # all three blocks in one product
        return {
            "count": grams[:, d, d],
            "first": grams[:, :d, d],
            "second": grams[:, :d, :d],
        }
    sums = weights @ Xt.T
    second = weights @ (Xt[:d] * Xt[:d]).T
    if covariance_type == "spherical":
        second = second.sum(axis=1)
    return {"count": sums[:, d], "first": sums[:, :d], "second": second}


def _gaussians_from_moments(stats, covariance_type, reg_covar):
    """Means (B, d) and covariances (+ ``reg_covar`` (d,) on the diagonal)
    in the moments' coordinates; rows of zero mass come out meaningless, for
    the caller to discard."""
    count = np.where(stats["count"] > 0, stats["count"], 1.0)
    means = stats["first"] / count[:, None]
    d = means.shape[1]
    if covariance_type == "full":
        outer = means[:, :, None] * means[:, None, :]
        cov = stats["second"] / count[:, None, None] - outer
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))  # rounding breaks symmetry
        cov[:, np.arange(d), np.arange(d)] += reg_covar
        return means, cov
    if covariance_type == "diag":
        cov = stats["second"] / count[:, None] - means * means
    else:  # spherical: the mean of the per-feature variances
        cov = (stats["second"] / count - np.sum(means * means, axis=1)) / d
        reg_covar = np.mean(reg_covar)
    # E[x^2] - E[x]^2 may round below zero for a constant feature.
    return means, np.maximum(cov, 0.0) + reg_covar


def _precisions_cholesky(covariances, covariance_type):
    """Factors of the precisions as GaussianMixture keeps them: P (K, d, d)
    with ``inv(S_k) = P_k P_k^T`` (full), or ``1 / sqrt(S_k)`` (diag,
    spherical)."""
    message = (
        "GaussianGate failed: some gate components have an ill-defined "
        "covariance (too few or collapsed samples in their region). Use "
        "fewer experts, increase reg_covar, or scale the gate inputs."
    )
    if not np.all(np.isfinite(covariances)):
        raise ValueError(message)
    if covariance_type != "full":
        if np.any(covariances <= 0.0):
            raise ValueError(message)
        return 1.0 / np.sqrt(covariances)
    try:
        chol = np.linalg.cholesky(covariances)  # all K at once
    except np.linalg.LinAlgError:
        raise ValueError(message) from None
    eye = np.broadcast_to(np.eye(covariances.shape[-1]), covariances.shape)
    return np.swapaxes(np.linalg.solve(chol, eye), 1, 2)


def _half_log_det_precision(precisions_chol, d):
    """``log det(P_k)`` = half the log-determinant of each precision (K,)."""
    kind = _KIND[precisions_chol.ndim]
    if kind == "full":
        return np.sum(np.log(np.diagonal(precisions_chol, 0, 1, 2)), axis=1)
    if kind == "diag":
        return np.sum(np.log(precisions_chol), axis=1)
    return d * np.log(precisions_chol)


def _log_gaussian_density(Xt, means, precisions_chol):
    """log N(x_i; m_k, S_k) of shape (K, n_rows) on design columns ``Xt``
    (p, n_rows), from the precision factors (of any covariance type): no
    inverse, no determinant. One vectorized pass over the rows per
    component."""
    d = means.shape[1]
    covariance_type = _KIND[precisions_chol.ndim]
    X = Xt[:d]
    maha = np.empty((means.shape[0], Xt.shape[1]))
    for k, mean in enumerate(means):
        diff = X - mean[:, None]
        if covariance_type == "full":
            diff = precisions_chol[k].T @ diff
        elif covariance_type == "diag":
            diff *= precisions_chol[k][:, None]
        else:
            diff *= precisions_chol[k]
        maha[k] = np.einsum("ij,ij->j", diff, diff)
    log_det = _half_log_det_precision(precisions_chol, d)
    return log_det[:, None] - 0.5 * (d * _LOG_2PI + maha)


def _to_full(covariances, d):
    """(K, d, d) matrices of covariances stored in any of the three shapes."""
    if covariances.ndim == 3:
        return covariances
    variances = covariances if covariances.ndim == 2 else covariances[:, None]
    return np.broadcast_to(variances, (covariances.shape[0], d))[:, :, None] * np.eye(d)


def _from_full(covariances, covariance_type):
    """Covariances (K, d, d) in the shape of ``covariance_type``."""
    if covariance_type == "full":
        return covariances.copy()
    variances = np.diagonal(covariances, 0, 1, 2)
    return variances.copy() if covariance_type == "diag" else variances.mean(axis=1)


class GaussianGate(Gate):
    """Localized gate: ``g_k(x)`` proportional to ``a_k N(x; m_k, S_k)``.

    The alternative model of Xu, Jordan & Hinton (1995): each expert owns a
    Gaussian region of input space, and the gate is the posterior of the
    regions, ``g_k(x) = a_k N(x; m_k, S_k) / sum_j a_j N(x; m_j, S_j)``.
    EM then maximizes the joint likelihood of inputs and targets,
    ``p(x, y) = sum_k a_k N(x; m_k, S_k) P_k(y | x)``, whose posterior over
    the experts is the same as the conditional model's; the gate's M-step
    is closed-form (weighted Gaussian moments, as in
    :class:`~sklearn.mixture.GaussianMixture`), with no inner iterations:

        a_k = N_k / sum_j N_j,  m_k = S1_k / N_k,
        S_k = S2_k / N_k - m_k m_k^T + reg_covar * diag(Var(x)),

    from the responsibility-weighted moments ``N_k = sum_i w_i h_ik``,
    ``S1_k = sum_i w_i h_ik x_i``, ``S2_k = sum_i w_i h_ik x_i x_i^T``.
    A component whose responsibility is all but zero keeps its mean and
    covariance. So with this gate the estimator's ``lower_bounds_`` trace
    the mean joint log-likelihood of (x, y), while ``log_likelihood``
    stays the conditional ``log p(y | x)``. Trained by ``solver="em"``
    only, and online by ``partial_fit`` (the moments are additive).

    Parameters
    ----------
    covariance_type : {"full", "diag", "spherical"}, default="full"
        Shape of each region's covariance, as in
        :class:`~sklearn.mixture.GaussianMixture`: a full matrix, a diagonal
        one, or a single variance.
    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of every
        covariance, so that they stay positive definite, relative to the
        weighted variance of each gate input (``reg_covar * Var(x_j)`` on
        the j-th diagonal entry; their mean for "spherical"): the gate does
        not depend on the units of its inputs.

    Attributes
    ----------
    weights_ : ndarray of shape (n_experts,)
        Mixing weights ``a_k``; they sum to one.
    means_ : ndarray of shape (n_experts, n_features)
        Centres ``m_k`` of the regions, in the coordinates of the gate
        inputs.
    covariances_ : ndarray
        Covariances ``S_k`` of the regions: shape (n_experts, n_features,
        n_features) for "full", (n_experts, n_features) for "diag" and
        (n_experts,) for "spherical".
    precisions_cholesky_ : ndarray
        Cholesky factors of the precision matrices, shaped like
        ``covariances_``, as in :class:`~sklearn.mixture.GaussianMixture`.

    See Also
    --------
    SoftmaxGate : The softmax gate of Jordan & Jacobs (1994).
    sklearn.mixture.GaussianMixture : The same Gaussians without experts.

    References
    ----------
    Xu, Jordan & Hinton (1995). An alternative model for mixtures of
    experts. Advances in Neural Information Processing Systems 7, 633-640.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.gates import GaussianGate
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(-3, 1, (300, 1)), rng.normal(3, 1, (300, 1))])
    >>> y = np.where(X[:, 0] < 0, -X[:, 0], 2 * X[:, 0]) + 0.1 * rng.randn(600)
    >>> moe = MixtureOfExpertsRegressor(
    ...     n_experts=2, gate=GaussianGate(), random_state=0
    ... ).fit(X, y)
    >>> np.sort(moe.gate_.means_[:, 0]).round()
    array([-3.,  3.])
    >>> moe.predict_gate_proba([[-3.0], [3.0]]).round(2).max(axis=1)
    array([1., 1.])
    """

    _parameter_constraints = {
        "covariance_type": [StrOptions({"full", "diag", "spherical"})],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, covariance_type="full", reg_covar=1e-6):
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar

    # ----------------------------------------------------------------- public
    def predict_log_proba(self, X):
        """Log gate probabilities.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated gate inputs.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_experts)
            The log gate probabilities ``log g_k(x)``: each row's
            exponentials sum to one.
        """
        self._check_fitted()
        params = self._params()
        log_weights = map_chunks(
            X, lambda Xt: self._log_proba(Xt, params)[0], params[0].shape
        )
        return (log_weights - log_sum_exp(log_weights)).T

    def predict_proba(self, X):
        """Gate probabilities g_k(x).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated gate inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            Rows sum to one.
        """
        return np.exp(self.predict_log_proba(X))

    # ------------------------------------------------- protocol of the driver
    # No gradient training (the gate has no gradient passes) and no top-k
    # routing; the closed-form M-step is exact, so nothing is ever pending.
    capabilities = frozenset({"em", "online", "blockwise", "pruning", "information"})

    def _check_fitted(self):
        if not hasattr(self, "means_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; it is fitted as "
                "part of a mixture estimator (MixtureOfExpertsRegressor or "
                "MixtureOfExpertsClassifier)."
            )

    def _prepare(self, data):
        """Check the parameters; a warm start whose ``covariance_type``
        changed converts the fitted covariances to the new shape."""
        self._validate_params()
        self._reg = self.reg_covar * data.column_scale("gate") ** 2
        if hasattr(self, "covariances_"):
            d = self.means_.shape[1]
            if _KIND[self.covariances_.ndim] != self.covariance_type:
                full = _to_full(self.covariances_, d)
                self._set_gaussians(
                    self.weights_, self.means_, _from_full(full, self.covariance_type)
                )

    def _set_gaussians(self, weights, means, covariances):
        """Store parameters (means in input coordinates) and their factors."""
        precisions = _precisions_cholesky(covariances, self.covariance_type)
        self.weights_, self.means_, self.covariances_ = weights, means, covariances
        self.precisions_cholesky_ = precisions

    def _reset(self, data):
        """Start from a gate that is uniform in x: every component is the
        weighted Gaussian fit of all the inputs, with equal weights, so EM's
        first E-step assigns the samples by how well the experts fit them."""
        stats = data.reduce(
            lambda part, rows, Xt: _moments(
                Xt, part.sample_weight[None, rows], self.covariance_type
            ),
            "gate",
        )
        mean, cov = _gaussians_from_moments(stats, self.covariance_type, self._reg)
        n_experts = data.n_experts
        self._set_gaussians(
            np.full(n_experts, 1.0 / n_experts),
            np.repeat(mean + data.offset["gate"], n_experts, axis=0),
            np.repeat(cov, n_experts, axis=0),
        )

    def _keep(self, experts):
        """The kept components, their weights renormalized."""
        keep_experts(
            self,
            ("weights_", "means_", "covariances_", "precisions_cholesky_"),
            experts,
        )
        self.weights_ = self.weights_ / self.weights_.sum()

    def _revive(self, experts):
        """Give re-seeded experts a neutral region: the mean weight, and the
        mean and covariance of the whole mixture of Gaussians, so that the
        next M-step refits them from their new responsibilities."""
        weights, means = self.weights_, self.means_
        d = means.shape[1]
        centre = weights @ means / weights.sum()
        spread = means - centre
        full = _to_full(self.covariances_, d)
        pooled = np.einsum("k,kij->ij", weights, full) + np.einsum(
            "k,ki,kj->ij", weights, spread, spread
        )
        pooled /= weights.sum()
        weights = weights.copy()
        weights[experts] = weights.mean()
        means = means.copy()
        means[experts] = centre
        covariances = _to_full(self.covariances_, d).copy()
        covariances[experts] = pooled
        self._set_gaussians(
            weights / weights.sum(),
            means,
            _from_full(covariances, self.covariance_type),
        )

    def _params(self, data=None):
        """``(log_weights (K,), means (K, d), precisions_cholesky)`` with the
        means on the design rows ``x - x_offset`` (the offset is zero outside
        a fit)."""
        means = self.means_
        if data is not None:
            means = means - data.offset["gate"]
        with np.errstate(divide="ignore"):  # an emptied component has weight 0
            log_weights = np.log(self.weights_)
        return log_weights, means, self.precisions_cholesky_

    def _log_proba(self, Xt, params):
        """Unnormalized log gate ``log a_k + log N(x_i; m_k, S_k)`` of shape
        (K, n_rows), and no cache. Normalizing it over k gives log g; left
        as it is, the E-step's log-evidence is the joint ``log p(x, y)``,
        the likelihood whose EM has this closed-form M-step."""
        log_weights, means, precisions = params
        log_density = _log_gaussian_density(Xt, means, precisions)
        return log_density + log_weights[:, None], None

    def _accumulate(self, stats, Xt, weight, resp, cache, params):
        add_stats(stats, _moments(Xt, weight * resp, self.covariance_type))

    def _m_step(self, stats, data):
        count = stats["count"]
        total = count.sum()
        means, covariances = _gaussians_from_moments(
            stats, self.covariance_type, self._reg
        )
        empty = count <= _EMPTY_FRACTION * total
        means += data.offset["gate"]
        means[empty] = self.means_[empty]
        covariances[empty] = self.covariances_[empty]
        self._set_gaussians(count / total, means, covariances)

    def _penalty(self):
        return 0.0

    def _n_parameters(self):
        n_experts, d = self.means_.shape
        n_covariance = {
            "full": d * (d + 1) // 2,
            "diag": d,
            "spherical": 1,
        }[_KIND[self.covariances_.ndim]]
        return (n_experts - 1) + n_experts * (d + n_covariance)

    def _end_fit(self):
        """Drop fit-time scratch."""
        self.__dict__.pop("_reg", None)

    # ------------------------------------------------------- online EM
    _STAT_KEYS = ("count", "first", "second")

    def _prepare_online(self):
        """The exact M-step works on averaged moments as they are."""

    def _online_update(self, stats, data, store, gamma, seen, update):
        """Exact M-step on the running averages of the moments (per unit
        weight; ``partial_fit`` keeps the first batch's design offset, so
        the moments of all batches share one origin), scaled to the weight
        seen."""
        running_average(store, stats, data.total_weight, gamma, self._STAT_KEYS)
        if update:
            self._m_step({key: store[key] * seen for key in self._STAT_KEYS}, data)

    # ------------------------------------------------------- information
    # The conditional likelihood p(y | x) sees the gate only through
    # log g_k - log g_0 = log(a_k N(x; m_k, S_k)) - log(a_0 N(x; m_0, S_0)),
    # a quadratic function of x: weights, means and covariances are not
    # identified by it (shifting every precision by the same matrix, say,
    # changes none of the g_k), so their information is singular at a
    # stationary point and can be indefinite elsewhere. The
    # identified parameters, reported here, are the coefficients of these
    # log-odds on [1, x, quadratic monomials of x]: x_i x_j (i <= j) for
    # "full", x_j^2 for "diag", |x|^2 for "spherical". The gate is then a
    # softmax of those features, whose information pieces it shares.
    def _info_precisions(self):
        """Precision matrices (K, d, d)."""
        factors = self.precisions_cholesky_
        d = self.means_.shape[1]
        kind = _KIND[factors.ndim]
        if kind == "full":
            return factors @ np.swapaxes(factors, 1, 2)
        return _to_full(factors**2, d)

    def _info_quadratic(self):
        """Index pairs (i, j) of the quadratic features (all of them summed
        into one for "spherical")."""
        d = self.means_.shape[1]
        kind = _KIND[self.precisions_cholesky_.ndim]
        if kind == "full":
            return [(i, j) for i in range(d) for j in range(i, d)]
        return [(j, j) for j in range(d)]

    def _info_features(self, X):
        """``[1, x, quadratic monomials]`` (n, p)."""
        pairs = self._info_quadratic()
        quad = np.stack([X[:, i] * X[:, j] for i, j in pairs], axis=1)
        if _KIND[self.precisions_cholesky_.ndim] == "spherical":
            quad = quad.sum(axis=1, keepdims=True)
        return np.column_stack([np.ones(X.shape[0]), X, quad])

    def _info_natural(self):
        """Coefficients (K, p) of ``log a_k + log N(x; m_k, S_k)`` on the
        features of ``_info_features``."""
        P = self._info_precisions()
        means = self.means_
        d = means.shape[1]
        Pm = np.einsum("kij,kj->ki", P, means)
        with np.errstate(divide="ignore"):
            constant = (
                np.log(self.weights_)
                - 0.5 * d * _LOG_2PI
                + _half_log_det_precision(self.precisions_cholesky_, d)
                - 0.5 * np.sum(means * Pm, axis=1)
            )
        pairs = self._info_quadratic()
        quad = np.stack(
            [-0.5 * P[:, i, i] if i == j else -P[:, i, j] for i, j in pairs], axis=1
        )
        if _KIND[self.precisions_cholesky_.ndim] == "spherical":
            quad = quad[:, :1]
        return np.column_stack([constant, Pm, quad])

    def _info_estimates(self, names):
        beta = relative(self._info_natural()[None])[0]
        names = [str(name) for name in names]
        if _KIND[self.precisions_cholesky_.ndim] == "spherical" and len(names) > 1:
            quad = ["|x|^2"]
        else:
            quad = [
                f"{names[i]}^2" if i == j else f"{names[i]} {names[j]}"
                for i, j in self._info_quadratic()
            ]
        terms = term_names(names) + quad
        labels = [
            (k, 0, term, True) for k in range(1, beta.shape[0] + 1) for term in terms
        ]
        return beta.ravel(), labels

    def _info_proba(self, Z):
        logits = Z @ self._info_natural().T
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        return prob / prob.sum(axis=1, keepdims=True)

    def _info_scores(self, X, y):
        Z = self._info_features(X)
        return gate_scores(Z, self._info_proba(Z))

    def _info_curvature(self, X, y, weights):
        Z = self._info_features(X)
        prob = self._info_proba(Z)
        total = weights.sum(axis=1)[:, None]
        return multinomial_curvature(Z, prob[:, None, :], total)[0]

    def _info_penalty(self, X, sample_weight):
        """The fit's regularization (reg_covar) is no penalty of the
        conditional likelihood: zeros."""
        size = (self.means_.shape[0] - 1) * self._info_features(X[:1]).shape[1]
        return np.zeros((size, size))

    def _info_caveat(self):
        if self.means_.shape[0] == 1:
            return None  # one expert: g = 1 has no parameters
        return (
            "its regions were fitted by EM on the joint likelihood of x and y "
            "(with reg_covar), so its rows (the log-odds of each expert against "
            "expert 0 on x and its squares, the parameters of g that p(y | x) "
            "identifies) are not at a stationary point of the conditional "
            "log-likelihood whose curvature the information is"
        )
