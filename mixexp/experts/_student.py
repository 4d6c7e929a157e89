"""Robust experts: linear regressions with multivariate t noise, fitted by ECM."""

import math
from numbers import Real

import numpy as np
from scipy.optimize import brentq
from scipy.special import digamma, gammaln, zeta

from .._data import add_stats
from .._params import Interval
from ._linear import LinearExpert

# Degrees of freedom every expert starts from: tails heavy enough that
# outliers are down-weighted from the first E-step (started near normal, EM
# fits them as normal experts do and stays there), light enough that normal
# data raise nu from it within a few iterations.
_DF_START = 10.0

# Largest change of log(nu) per Newton step: a factor e, so nu crosses its
# default range in a few iterations without trusting a far extrapolation.
_MAX_LOG_STEP = 1.0


def t_log_density(maha, half_logdet, df, n_outputs):
    """log t(y; mu, S, nu) of each expert and row, (K, n_rows), from the
    squared Mahalanobis distances (K, n_rows), ``log|S| / 2`` (K,) and the
    degrees of freedom (K,)."""
    df = df[:, None]
    const = (
        gammaln(0.5 * (df + n_outputs))
        - gammaln(0.5 * df)
        - 0.5 * n_outputs * np.log(df * np.pi)
        - half_logdet[:, None]
    )
    return const - 0.5 * (df + n_outputs) * np.log1p(maha / df)


def latent_scales(maha, df, n_outputs):
    """E-step of the scale mixture: ``E[u | y]`` and ``E[log u | y]``, (K, n_rows).

    Given y, the latent precision scale of a t variable is
    Gamma((nu + m) / 2, rate (nu + d2) / 2) (Peel & McLachlan 2000).
    """
    shape = 0.5 * (df + n_outputs)[:, None]
    u = (df[:, None] + n_outputs) / (df[:, None] + maha)
    return u, np.log(u) + digamma(shape) - np.log(shape)


def solve_df(mean_term, min_df, max_df):
    """The CM-step for the degrees of freedom: one root per expert.

    Solves ``log(nu / 2) - digamma(nu / 2) + 1 + c_k = 0`` with ``c_k`` the
    responsibility-weighted mean of ``E[log u] - E[u]`` (K,). The left side
    decreases in nu (``1/x - trigamma(x) < 0``), so the root is unique and
    the expected complete-data log-likelihood is concave in nu: clipping
    the root to [min_df, max_df] (a bound when there is no root inside)
    is the constrained maximizer, which keeps ECM monotone.
    """

    def equation(log_nu, c):
        half = 0.5 * math.exp(log_nu)
        return math.log(half) - digamma(half) + 1.0 + c

    low, high = math.log(min_df), math.log(max_df)
    df = np.empty(len(mean_term))
    for k, c in enumerate(mean_term.tolist()):  # K scalar root-findings
        if equation(low, c) <= 0.0:
            df[k] = min_df
        elif equation(high, c) >= 0.0:
            df[k] = max_df
        else:
            df[k] = math.exp(brentq(equation, low, high, args=(c,), xtol=1e-13))
    return df


def df_derivatives(maha, df, n_outputs):
    """First and second derivatives in nu of ``log t(y; mu, S, nu)`` at
    fixed residuals, (K, n_rows) each (Liu & Rubin 1994)."""
    m, nu = n_outputs, df[:, None]
    ratio = maha / (nu + maha)
    first = 0.5 * (
        digamma(0.5 * (nu + m))
        - digamma(0.5 * nu)
        - m / nu
        - np.log1p(maha / nu)
        + (nu + m) / nu * ratio
    )
    second = (
        0.25 * (zeta(2, 0.5 * (nu + m)) - zeta(2, 0.5 * nu))
        + 0.5 * m / nu**2
        + 0.5 * ratio / nu
        - 0.5 * ratio * (nu**2 + 2.0 * m * nu + m * maha) / (nu**2 * (nu + maha))
    )
    return first, second


def newton_df(df, gradient, curvature, min_df, max_df):
    """One Newton step in ``log(nu)`` on a weighted sum of t log-densities,
    from its derivatives in nu (K,); where the sum is not concave, a step
    of the largest length uphill."""
    gradient_log = df * gradient
    curvature_log = df * df * curvature + gradient_log
    concave = curvature_log < 0
    step = np.where(
        concave,
        -gradient_log / np.where(concave, curvature_log, -1.0),
        np.sign(gradient_log) * _MAX_LOG_STEP,
    )
    step = np.clip(step, -_MAX_LOG_STEP, _MAX_LOG_STEP)
    return np.clip(df * np.exp(step), min_df, max_df)


class StudentTExpert(LinearExpert):
    """K robust linear experts ``y | x, k ~ t(W_k^T [phi(x), 1], S_k, nu_k)``.

    The t mixture of experts (TMoE) of Chamroukhi (2016): each expert's noise
    is a multivariate t distribution with scale matrix ``S_k`` and
    ``nu_k`` degrees of freedom, so samples far from an expert's line
    (outliers) are down-weighted instead of dragging it; as ``nu_k`` grows
    the expert becomes :class:`LinearExpert`. Its log-density is

        lgamma((nu + m) / 2) - lgamma(nu / 2) - m/2 log(nu pi) - 1/2 log|S|
        - (nu + m) / 2 log(1 + d2 / nu)

    with ``d2`` the squared Mahalanobis distance of the residual.

    Fitted by ECM (Peel & McLachlan 2000; Chamroukhi 2016): the t is a
    scale mixture ``y | u ~ N(mu, S / u)``, ``u ~ Gamma(nu / 2, nu / 2)``.
    Besides the responsibilities ``h_ik``, the E-step computes
    ``u_ik = (nu_k + m) / (nu_k + d2_ik)`` and ``E[log u_ik]``; the CM-steps
    solve a weighted ridge regression with weights ``w_i h_ik u_ik``, set
    ``S_k = sum_i w_i h_ik u_ik r_ik r_ik^T / sum_i w_i h_ik`` (the
    :class:`LinearExpert` M-step with these weights), and update ``nu_k``.
    ECM's own nu-step (the root of ``log(nu/2) - digamma(nu/2) + 1 +
    mean(E[log u] - u) = 0``) crawls when the tails are light, taking
    hundreds of iterations for nu to reach its optimum, so nu first tries
    a Newton step on ``sum_i w_i h_ik log t_k(y_i)`` itself, as ECME does
    (Liu & Rubin 1994); if the next E-step finds that it lowered EM's
    objective, nu falls back to ECM's root. Either way the log-likelihood
    never decreases. Only ``solver="em"`` trains it, and ``partial_fit`` is
    not available.

    Parameters
    ----------
    alpha : float, default=1e-6
        Ridge penalty on the expert coefficients, per unit of sample weight
        and in standardized units, scaled by the scale matrix as in
        :class:`LinearExpert`.
    degree : int, default=1
        Polynomial experts on standardized inputs, as in
        :class:`LinearExpert` (the "p" of the meteorits package).
    fit_intercept : bool, default=True
        Whether each expert has an intercept.
    covariance_type : {"diag", "full"}, default="diag"
        Scale matrix of each expert for 2-D targets: diagonal or full. The
        outputs share one ``u`` per sample, so even a diagonal scale matrix
        does not make them independent.
    min_variance : float, default=1e-6
        Floor on each scale variance, relative to the weighted variance of
        the target.
    min_df : float, default=0.5
        Smallest degrees of freedom. Gross outliers can call for nu below 1
        (about 0.7 on the tone data with outliers), where the t has no mean
        and ``predict`` uses its centre; the bound keeps nu off zero, where
        every density vanishes.
    max_df : float, default=200.0
        Largest degrees of freedom. Normal data pull ``nu`` to infinity
        (the likelihood keeps rising, ever more slowly); at 200 the t's
        excess kurtosis is 0.03, as good as normal for any sample a mixture
        is fitted to, and the bound keeps ``nu`` finite.

    Attributes
    ----------
    coef_ : ndarray of shape (n_experts, n_expert_features) or \
            (n_experts, n_outputs, n_expert_features)
        Expert coefficients (the second form for 2-D targets).
    intercept_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
    noise_variance_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        Diagonal of each expert's scale matrix ``S_k`` (the t's squared
        scale, not its variance, which is ``S_k nu_k / (nu_k - 2)``).
    noise_covariance_ : ndarray of shape (n_experts, n_outputs, n_outputs)
        Scale matrix of each expert (only with ``covariance_type="full"``).
    df_ : ndarray of shape (n_experts,)
        Degrees of freedom ``nu_k`` of each expert.
    input_mean_, input_scale_ : ndarray of shape (n_expert_inputs,)
        The standardization of the inputs (degree 2 and up), as in
        :class:`LinearExpert`.

    See Also
    --------
    LinearExpert : The same experts with normal noise.

    References
    ----------
    Chamroukhi, F. (2016). Robust mixture of experts modeling using the t
    distribution. Neural Networks 79, 20-36.

    Peel, D. & McLachlan, G. J. (2000). Robust mixture modelling using the
    t distribution. Statistics and Computing 10, 339-348.

    Liu, C. & Rubin, D. B. (1994). The ECME algorithm: a simple extension of
    EM and ECM with faster monotone convergence. Biometrika 81, 633-648.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.experts import StudentTExpert
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.where(X[:, 0] < 0, -X[:, 0], 2 * X[:, 0]) + 0.1 * rng.randn(300)
    >>> y[:15] = 20.0  # gross outliers
    >>> moe = MixtureOfExpertsRegressor(
    ...     n_experts=2, expert=StudentTExpert(), random_state=0
    ... ).fit(X, y)
    >>> np.sort(moe.experts_.coef_[:, 0]).round(1)
    array([-1.,  2.])
    >>> bool(moe.experts_.df_.min() < 1)  # heavy tails absorb the outliers
    True
    """

    _parameter_constraints = {
        **LinearExpert._parameter_constraints,
        # The evidence's closed forms are the normal experts'.
        "alpha": [Interval(Real, 0, None, closed="left")],
        "min_df": [Interval(Real, 0, None, closed="neither")],
        "max_df": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        alpha=1e-6,
        degree=1,
        fit_intercept=True,
        covariance_type="diag",
        min_variance=1e-6,
        min_df=0.5,
        max_df=200.0,
    ):
        super().__init__(
            alpha=alpha,
            degree=degree,
            fit_intercept=fit_intercept,
            covariance_type=covariance_type,
            min_variance=min_variance,
        )
        self.min_df = min_df
        self.max_df = max_df

    # ------------------------------------------------- protocol of the driver
    # No "gradient": the gradient solvers have no t likelihood. No
    # "online": the inherited online M-step would leave nu at its start.
    capabilities = frozenset(
        {"em", "blockwise", "predictive_distribution", "pruning", "information"}
    )
    _per_expert = (*LinearExpert._per_expert, "df_")

    def _prepare(self, data):
        super()._prepare(data)
        if self.min_df > self.max_df:
            raise ValueError(
                f"min_df={self.min_df} is larger than max_df={self.max_df}; "
                "use min_df <= max_df."
            )
        if hasattr(self, "df_"):  # a warm start under new bounds
            self.df_ = np.clip(self.df_, self.min_df, self.max_df)

    def _reset(self, data):
        """Constant experts, as LinearExpert's, with moderately heavy tails."""
        super()._reset(data)
        start = min(max(_DF_START, self.min_df), self.max_df)
        self.df_ = np.full(data.n_experts, float(start))

    def _end_fit(self):
        """Drop fit-time scratch."""
        super()._end_fit()
        for name in ("_pending", "_df_fallback"):
            self.__dict__.pop(name, None)

    def _n_parameters(self):
        return super()._n_parameters() + self.df_.shape[0]

    def _params(self, data=None):
        """LinearExpert's parameters plus the degrees of freedom (K,)."""
        return (*super()._params(data), self.df_.copy())

    def _marginals(self, X):
        """Means (n, K, m), t scales (K, m) and degrees of freedom (K,)."""
        means, scales, _ = super()._marginals(X)
        return means, scales, self.df_.copy()

    def _noise_draw(self, experts, rng):
        """t noise draws (n, m): normal draws over the root of a
        Gamma(nu / 2, rate nu / 2) scale."""
        normal = super()._noise_draw(experts, rng)
        df = self.df_[experts]
        return normal / np.sqrt(rng.gamma(0.5 * df, 2.0 / df))[:, None]

    def _log_likelihood(self, Xt, y, params):
        """log t(y_i; mean_ik, S_k, nu_k) of shape (K, n_rows), and a cache
        for ``_accumulate``: the centred targets, E[u], E[log u] and the
        squared Mahalanobis distances."""
        df = params[4]
        maha, half_logdet, y = self._mahalanobis(Xt, y, params[:4])
        n_outputs = y.shape[0]
        log_lik = t_log_density(maha, half_logdet, df, n_outputs)
        return log_lik, (y, *latent_scales(maha, df, n_outputs), maha)

    def _accumulate(self, stats, Xt, weights, cache, params):
        """The normal expert's statistics with the rows weighted by
        ``h u`` (the responsibility mass stays ``h``), the sums of
        ``h (E[log u] - u)`` of ECM's nu-step, and the derivatives in nu of
        the weighted t log-likelihood for the Newton step."""
        y, u, log_u, maha = cache
        self._add_moments(stats, Xt, weights * u, weights, y)
        first, second = df_derivatives(maha, params[4], y.shape[0])
        add_stats(
            stats,
            {
                "df_term": np.sum(weights * (log_u - u), axis=1),
                "df_gradient": np.sum(weights * first, axis=1),
                "df_curvature": np.sum(weights * second, axis=1),
            },
        )

    def _m_step(self, stats, data):
        count = stats["count"]
        alive = count > 0
        ecm = solve_df(
            stats["df_term"] / np.where(alive, count, 1.0), self.min_df, self.max_df
        )
        newton = newton_df(
            self.df_,
            stats["df_gradient"],
            stats["df_curvature"],
            self.min_df,
            self.max_df,
        )
        super()._m_step(stats, data)
        # The Newton step is taken at the previous coefficients and scales:
        # the next pass checks it, and ECM's root is the safe fallback.
        self._df_fallback = np.where(alive, ecm, self.df_)
        self.df_ = np.where(alive, newton, self.df_)
        self._pending = None if np.array_equal(self.df_, self._df_fallback) else "df"

    def _retreat(self, data):
        """Back to ECM's nu, which never lowers EM's objective."""
        self.df_ = self._df_fallback
        self._pending = None

    # ------------------------------------------------------- information
    # LinearExpert's general layout (per output the coefficients and the
    # scale matrix's diagonal entry, then its entries below the diagonal
    # with covariance_type="full"), the entries of S_k (not of the t's
    # covariance), then nu_k ("df") unless min_df == max_df fixes it. A nu
    # on its bound is not at a stationary point: its row is the curvature
    # there (see _info_caveat).
    def _info_is_general(self):
        return True

    def _info_df(self):
        return self.df_, bool(self.min_df < self.max_df)

    def _info_df_derivatives(self, maha):
        return df_derivatives(maha, self.df_, self._arrays()[0].shape[1])

    def _info_caveat(self):
        if not self._info_df()[1]:
            return None
        bound = (self.df_ <= self.min_df) | (self.df_ >= self.max_df)
        if not np.any(bound):
            return None
        return (
            f"the degrees of freedom of expert(s) {np.flatnonzero(bound).tolist()} "
            f"are on their bound (min_df={self.min_df}, max_df={self.max_df}), "
            "where the likelihood still changes: their standard errors describe "
            "the curvature there, not a sampling distribution (widen the bounds, "
            "or read max_df as normal noise)"
        )
