"""Gaussian-process experts: K local GPs, each on the rows it is responsible
for, their noise divided by the responsibilities (Tresp 2001)."""

from numbers import Integral, Real

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky, solve_triangular
from scipy.linalg.lapack import dpotri
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    Exponentiation,
    Kernel,
    KernelOperator,
    WhiteKernel,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions

from .._contract import Expert, LocationScaleMarginals, keep_experts
from .._data import add_stats
from .._params import Interval

_LOG_2PI = np.log(2.0 * np.pi)
# Rows of new inputs per block at prediction: a (rows, m) cross-kernel and
# its triangular solve stay near 16 MiB for an expert of 1,000 rows.
_PREDICT_ROWS = 2048
# Bounds of the noise variance, relative to the target's variance, above the
# floor ``min_noise_variance``: a local expert noisier than ten times the
# whole target is no expert.
_MAX_NOISE = 10.0


def _default_kernel(n_features):
    """An amplitude times an RBF with one length scale per input, for
    standardized inputs and targets."""
    return ConstantKernel(1.0, (1e-3, 1e3)) * RBF(
        np.ones(n_features), length_scale_bounds=(1e-2, 1e3)
    )


def _has_white(kernel):
    """Whether a WhiteKernel appears anywhere in the kernel's expression."""
    if isinstance(kernel, WhiteKernel):
        return True
    if isinstance(kernel, KernelOperator):
        return _has_white(kernel.k1) or _has_white(kernel.k2)
    if isinstance(kernel, Exponentiation):
        return _has_white(kernel.kernel)
    return False


# ------------------------------------------------------------------ mathematics
# Everything below works in standardized units (inputs and target); ``c`` are
# an expert's row weights, sample weight (as a count) times responsibility.


def weighted_log_marginal_likelihood(kernel, noise, X, y, c, eval_gradient=False):
    """log of the GP marginal of ``prod_i N(y_i; f(x_i), noise)^c_i``.

    With per-row noise ``noise / c_i`` (``A = K + diag(noise / c)``),

        log N(y; 0, A) + (m - sum c) / 2 log(2 pi noise) - sum log(c) / 2,

    the second and third terms being what turns the likelihood of ``y_i``
    with noise ``noise / c_i`` into the ``c_i``-th power of its likelihood
    with noise ``noise`` (for integer ``c_i``, exactly the marginal
    likelihood of ``c_i`` copies of the row).

    Parameters
    ----------
    kernel : Kernel
    noise : float
    X : ndarray of shape (m, d)
    y : ndarray of shape (m,)
        Targets, minus the prior mean.
    c : ndarray of shape (m,)
        Positive row weights.
    eval_gradient : bool
        Also return the gradient in ``(kernel.theta, log(noise))``.

    Returns
    -------
    value : float
        -inf where ``A`` is not numerically positive definite.
    gradient : ndarray of shape (n_theta + 1,)
        Only with ``eval_gradient``.
    """
    if eval_gradient:
        K, dK = kernel(X, eval_gradient=True)
    else:
        K = kernel(X)
    row_noise = noise / c
    K[np.diag_indices_from(K)] += row_noise
    m = y.shape[0]
    try:
        L = cholesky(K, lower=True, check_finite=False)
    except LinAlgError:
        return (-np.inf, np.zeros(len(kernel.theta) + 1)) if eval_gradient else -np.inf
    a = cho_solve((L, True), y, check_finite=False)
    value = _log_marginal_from_factor(L, a, y, noise, c)
    if not eval_gradient:
        return value
    excess = m - c.sum()
    inverse = _cholesky_inverse(L)
    inner = np.outer(a, a) - inverse
    grad_kernel = 0.5 * np.einsum("ij,ijk->k", inner, dK)
    grad_noise = 0.5 * np.diag(inner) @ row_noise + 0.5 * excess
    return value, np.append(grad_kernel, grad_noise)


def _log_marginal_from_factor(L, dual, y, noise, c):
    """``weighted_log_marginal_likelihood`` from the factor of ``A`` and
    ``dual = A^-1 y``."""
    m = y.shape[0]
    return float(
        -0.5 * (y @ dual)
        - np.log(np.diag(L)).sum()
        - 0.5 * m * _LOG_2PI
        + 0.5 * (m - c.sum()) * (_LOG_2PI + np.log(noise))
        - 0.5 * np.log(c).sum()
    )


def _cholesky_inverse(L):
    """A^-1 (symmetric, full) from the lower Cholesky factor of A."""
    inverse, info = dpotri(L, lower=1)
    if info:  # pragma: no cover - L is a successful factor
        raise LinAlgError(f"dpotri failed ({info})")
    return np.tril(inverse) + np.tril(inverse, -1).T


def factor(kernel, noise, X, y, c):
    """One expert's GP on its rows: ``(L, dual, inverse_diag)``.

    ``L`` is the lower Cholesky factor of ``A = K + diag(noise / c)``,
    ``dual = A^-1 y`` and ``inverse_diag = diag(A^-1)`` (from ``L^-1``,
    no explicit inverse of ``A``), which give the leave-one-out predictive
    (``loo_predictive``). Raises LinAlgError if ``A`` is not numerically
    positive definite.
    """
    A = kernel(X)
    A[np.diag_indices_from(A)] += noise / c
    L = cholesky(A, lower=True, check_finite=False)
    dual = cho_solve((L, True), y, check_finite=False)
    L_inv = solve_triangular(L, np.eye(L.shape[0]), lower=True, check_finite=False)
    return L, dual, np.einsum("ij,ij->j", L_inv, L_inv)


def loo_predictive(y, dual, inverse_diag, row_noise, noise):
    """Leave-one-out predictive of each row's target from the others.

    Rasmussen & Williams (2006, section 5.4.2): with ``A = K + diag(row
    noise)``, the mean of ``y_i`` given the other rows is
    ``y_i - [A^-1 y]_i / [A^-1]_ii`` and its variance with row i's own
    noise ``1 / [A^-1]_ii``; the latent variance is that minus the row's
    noise, and the predictive of an observation of this expert adds the
    expert's ``noise`` (not the row's ``noise / c_i``, which says how much
    the row counts, not how noisy the expert is).

    Returns
    -------
    mean, variance : ndarray of shape (m,)
    """
    mean = y - dual / inverse_diag
    latent = np.maximum(1.0 / inverse_diag - row_noise, 0.0)
    return mean, latent + noise


def predictive(kernel, X_train, L, dual, X, noise):
    """Predictive mean (minus the prior mean) and variance, latent plus
    ``noise``, of a GP at new inputs ``X`` (n, d), in row blocks."""
    n = X.shape[0]
    mean, variance = np.empty(n), np.empty(n)
    for start in range(0, n, _PREDICT_ROWS):
        block = slice(start, start + _PREDICT_ROWS)
        prior = kernel.diag(X[block])
        if X_train.shape[0] == 0:
            mean[block], variance[block] = 0.0, prior + noise
            continue
        cross = kernel(X[block], X_train)
        mean[block] = cross @ dual
        v = solve_triangular(L, cross.T, lower=True, check_finite=False)
        latent = prior - np.einsum("ij,ij->j", v, v)
        variance[block] = np.maximum(latent, 0.0) + noise
    return mean, variance


def _normal_log_pdf(y, mean, variance):
    return -0.5 * ((y - mean) ** 2 / variance + np.log(variance) + _LOG_2PI)


def kept_rows(c, min_responsibility, max_rows, rng):
    """Indices (increasing) of the rows an expert is fitted on: weight above
    ``min_responsibility`` times the largest, at most ``max_rows`` of them
    (the heaviest, ties in a random order drawn from ``rng``)."""
    top = c.max(initial=0.0)
    if not top > 0:
        return np.empty(0, dtype=np.intp)
    rows = np.flatnonzero(c > max(min_responsibility * top, 0.0))
    if max_rows is not None and rows.size > max_rows:
        # Ties are common (hard clusters at the start, responsibilities that
        # round to one): in row order they would be a contiguous block of a
        # sorted input, in a random order they are a sample of the region.
        heaviest = np.lexsort((rng.uniform(size=rows.size), -c[rows]))[:max_rows]
        rows = np.sort(rows[heaviest])
    return rows


class GaussianProcessExpert(LocationScaleMarginals, Expert):
    """K Gaussian-process experts, each a local GP on its own rows.

    Expert k is the GP regression ``y = f_k(x) + e``, ``f_k ~ GP(b_k,
    kernel_k)``, ``e ~ N(0, s_k^2)`` (Tresp 2001; Rasmussen & Ghahramani
    2002). In the M-step, expert k is fitted to the rows with weights
    ``c_ik = w_i h_ik`` (the sample weight, as a count, times the
    responsibility): a GP whose row i has noise variance ``s_k^2 / c_ik``,
    which for integer weights is exactly the GP of ``c_ik`` copies of the
    row. Its kernel hyperparameters and ``s_k^2`` improve the weighted
    marginal likelihood

        log N(y; b_k, K + diag(s_k^2 / c)) + (m - sum c) / 2 log(2 pi s_k^2)
            - sum log(c) / 2

    (the log of the marginal of ``prod_i N(y_i; f(x_i), s_k^2)^c_ik``) by
    L-BFGS, warm-started from the current values, and ``b_k`` is the
    weighted mean of the expert's targets. Rows whose weight is below
    ``min_responsibility`` times the expert's largest are left out, and at
    most ``max_rows_per_expert`` of the heaviest are kept, so a fit costs K
    GPs of about n/K rows (at most ``max_rows_per_expert``) instead of one
    of n.

    **The likelihood EM improves.** A GP interpolates its own rows, so an
    expert's in-sample predictive density at its training rows grows
    without bound as its noise shrinks, and EM would freeze the first
    assignment. The E-step therefore uses each expert's leave-one-out
    predictive ``P_k(y_i | x_i, rows other than i)`` (closed form,
    Rasmussen & Williams 2006, section 5.4.2), the ordinary predictive for
    rows the expert leaves out, both with the expert's own noise
    ``s_k^2``. A candidate M-step for an expert is kept only if it raises
    the expert's part of EM's Q-function with these densities, so the fit's
    objective, the leave-one-out (pseudo-)log-likelihood

        sum_i w_i log sum_k g_k(x_i) P_k(y_i | x_i, rows other than i),

    never decreases (``lower_bounds_``). It is a cross-validated log score,
    lower than the in-sample ``log_likelihood(X, y)`` of the fitted model
    on its own training rows, where each expert predicts with all its rows.
    The M-step is Tresp's, not a maximizer of the Q-function, so the fit
    stops where no candidate raises it: at a fixed point of this
    generalized EM, not necessarily a stationary point of the objective.
    The marginal likelihood is multimodal in the hyperparameters;
    ``n_restarts_optimizer`` adds random starts to the first M-step.

    A row of sample weight 2 enters every expert's M-step exactly as two
    copies of it; its leave-one-out density leaves out the whole row,
    where two copies would each see the other, so a fit with weights
    matches one with repeated rows in its M-steps but not in its E-steps.
    Sample weights are counts: scaling them all changes the fit (more
    copies of every row make the GPs surer), as it does a GP's. Prediction
    costs ``O(K m^2)`` per input for experts of m rows, and so does every
    E-step per training row: a fit is linear in n for a fixed number of
    experts and ``max_rows_per_expert``. Targets are one column; inputs and targets
    are standardized before the kernels see them. Fitting is in memory
    (not on dask arrays); bic and aic are undefined (a GP has no parameter
    count): compare models by cross-validation.

    The estimators pass this component to ``expert=``.

    Parameters
    ----------
    kernel : kernel instance, default=None
        The kernel of every expert, on standardized inputs and target (each
        expert gets its own copy and hyperparameters). None means
        ``ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.ones(n_features),
        (1e-2, 1e3))``: an amplitude and one length scale per input. Do not
        add a ``WhiteKernel``: the noise is the expert's own ``s_k^2``,
        divided by the responsibilities.
    noise_variance : float, default=0.1
        Starting noise variance of every expert, relative to the target's
        variance; the fixed value when ``optimizer=None``.
    min_noise_variance : float, default=1e-6
        Lower bound of each expert's noise variance, relative to the
        target's variance (the upper bound is 10).
    optimizer : "fmin_l_bfgs_b" or None, default="fmin_l_bfgs_b"
        How the hyperparameters and noise variances are improved in the
        M-step; None keeps them fixed (the kernel's values and
        ``noise_variance``).
    n_restarts_optimizer : int, default=0
        Extra starts of the first M-step's optimization, drawn log-uniformly
        within the hyperparameters' bounds (which must be finite).
    max_optimizer_iter : int, default=10
        L-BFGS iterations per expert per M-step, warm-started from the
        current hyperparameters (a generalized M-step improves, it need not
        maximize).
    max_rows_per_expert : int or None, default=1000
        Most rows one expert is fitted on (those of largest weight); None
        for no cap.
    min_responsibility : float, default=1e-3
        Rows whose weight is below this fraction of the expert's largest
        are left out of its GP.

    Attributes
    ----------
    kernels_ : list of kernel instances
        The fitted kernel of each expert, on standardized inputs and target.
    noise_variance_ : ndarray of shape (n_experts,)
        Each expert's noise variance ``s_k^2``, in target units.
    prior_mean_ : ndarray of shape (n_experts,)
        Each expert's constant prior mean ``b_k``, in target units.
    X_train_ : list of ndarray of shape (n_rows_k, n_features)
        The rows each expert is fitted on.
    y_train_ : list of ndarray of shape (n_rows_k,)
        Their targets.
    train_weight_ : list of ndarray of shape (n_rows_k,)
        Their weights ``c_ik`` (the row's noise is ``s_k^2 / c_ik``).
    L_ : list of ndarray of shape (n_rows_k, n_rows_k)
        Lower Cholesky factors of ``K + diag(s_k^2 / c)``, standardized.
    alpha_ : list of ndarray of shape (n_rows_k,)
        Dual coefficients ``(K + diag(s_k^2 / c))^-1 (y - b_k)``,
        standardized.
    log_marginal_likelihood_value_ : ndarray of shape (n_experts,)
        Each expert's weighted log marginal likelihood, standardized.
    x_mean_, x_scale_ : ndarray of shape (n_features,)
        The inputs' standardization.
    y_mean_, y_scale_ : float
        The target's standardization.

    See Also
    --------
    sklearn.gaussian_process.GaussianProcessRegressor : One GP on all rows.
    EstimatorExpert : Any scikit-learn regressor as the experts.

    References
    ----------
    V. Tresp (2001). Mixtures of Gaussian processes. Advances in Neural
    Information Processing Systems 13, 654-660.

    C. E. Rasmussen and Z. Ghahramani (2002). Infinite mixtures of Gaussian
    process experts. Advances in Neural Information Processing Systems 14.

    C. E. Rasmussen and C. K. I. Williams (2006). Gaussian Processes for
    Machine Learning. MIT Press.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.experts import GaussianProcessExpert
    >>> rng = np.random.RandomState(0)
    >>> X = np.sort(rng.uniform(-3, 3, size=(200, 1)), axis=0)
    >>> noise = np.where(X[:, 0] < 0, 0.05, 0.5)
    >>> y = np.sin(2 * X[:, 0]) + noise * rng.randn(200)
    >>> moe = MixtureOfExpertsRegressor(
    ...     n_experts=2, expert=GaussianProcessExpert(), random_state=0
    ... ).fit(X, y)
    >>> np.sort(np.sqrt(moe.experts_.noise_variance_)).round(2)  # 0.05 and 0.5
    array([0.05, 0.49])
    >>> mean, std = moe.predict([[-1.5], [1.5]], return_std=True)
    >>> std.round(2)  # the noise of each side, plus a little latent variance
    array([0.05, 0.5 ])
    """

    _parameter_constraints = {
        "kernel": [Kernel, None],
        "noise_variance": [Interval(Real, 0, None, closed="neither")],
        "min_noise_variance": [Interval(Real, 0, _MAX_NOISE, closed="neither")],
        "optimizer": [StrOptions({"fmin_l_bfgs_b"}), None],
        "n_restarts_optimizer": [Interval(Integral, 0, None, closed="left")],
        "max_optimizer_iter": [Interval(Integral, 1, None, closed="left")],
        "max_rows_per_expert": [Interval(Integral, 1, None, closed="left"), None],
        "min_responsibility": [Interval(Real, 0, 1, closed="left")],
    }
    _task = "regression"
    _target_tags = {"multi_output": False}
    capabilities = frozenset({"em", "predictive_distribution", "pruning"})

    def __init__(
        self,
        kernel=None,
        *,
        noise_variance=0.1,
        min_noise_variance=1e-6,
        optimizer="fmin_l_bfgs_b",
        n_restarts_optimizer=0,
        max_optimizer_iter=10,
        max_rows_per_expert=1000,
        min_responsibility=1e-3,
    ):
        self.kernel = kernel
        self.noise_variance = noise_variance
        self.min_noise_variance = min_noise_variance
        self.optimizer = optimizer
        self.n_restarts_optimizer = n_restarts_optimizer
        self.max_optimizer_iter = max_optimizer_iter
        self.max_rows_per_expert = max_rows_per_expert
        self.min_responsibility = min_responsibility

    # ----------------------------------------------------------------- public
    def predict(self, X):
        """Each expert's predictive mean.

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
        means = self._moments(X, variance=False)[0]
        return means if self._single_output else means[:, :, None]

    # ------------------------------------------------- protocol of the driver
    @staticmethod
    def _features(X):
        """The design features of the inputs: the inputs themselves."""
        return X

    def _check_fitted(self):
        if not hasattr(self, "kernels_"):
            raise NotFittedError(
                "This GaussianProcessExpert is not fitted yet; it is fitted as "
                "part of a mixture estimator."
            )

    def _prepare(self, data):
        """Check the parameters and the target; standardize (a new fit)."""
        self._validate_params()
        if self.kernel is not None and _has_white(self.kernel):
            raise ValueError(
                f"kernel={self.kernel!r} has a WhiteKernel, a noise shared by "
                "all the rows. GaussianProcessExpert has its own noise variance "
                "per expert, divided by the responsibilities in the M-step: "
                "remove the WhiteKernel (set noise_variance and "
                "min_noise_variance instead)."
            )
        if data.y.shape[1] != 1:
            raise ValueError(
                f"GaussianProcessExpert models one target per sample, but y has "
                f"{data.y.shape[1]} columns; pass a 1-D y, and fit one model "
                "per column for several targets."
            )
        self._single_output = data.single_output
        self._rng = check_random_state(data.random_state)
        offset = np.asarray(data.offset["experts"], dtype=float)
        if not hasattr(self, "kernels_"):  # a warm start keeps its units
            mean, var, _ = data.target_moments()
            self.x_mean_ = offset.copy()
            self.x_scale_ = np.asarray(data.column_scale("experts"), dtype=float)
            self.y_mean_ = float(mean[0])
            self.y_scale_ = float(np.sqrt(var[0])) if var[0] > 0 else 1.0
        # The experts read their rows from ``data.inputs`` (see ``_table``).
        data.set_offset("experts", np.zeros(data.width("experts")))
        self._data = data
        # Rows of this data each expert was fitted on; None: fitted on other
        # data (a warm start), whose rows it cannot leave out.
        self._rows = [None] * len(getattr(self, "kernels_", ()))
        self._table = None
        self._first = False

    def _reset(self, data):
        """Every expert starts as its GP prior: no rows, the initial kernel
        and noise variance, the target's mean."""
        K, d = data.n_experts, data.width("experts")
        base = _default_kernel(d) if self.kernel is None else self.kernel
        self.kernels_ = [clone(base) for _ in range(K)]
        noise = min(max(self.noise_variance, self.min_noise_variance), _MAX_NOISE)
        self.noise_variance_ = np.full(K, noise * self.y_scale_**2)
        self.prior_mean_ = np.full(K, self.y_mean_)
        self.X_train_ = [np.empty((0, d)) for _ in range(K)]
        self.y_train_ = [np.empty(0) for _ in range(K)]
        self.train_weight_ = [np.empty(0) for _ in range(K)]
        self.L_ = [np.empty((0, 0)) for _ in range(K)]
        self.alpha_ = [np.empty(0) for _ in range(K)]
        self.log_marginal_likelihood_value_ = np.zeros(K)
        self._rows = [np.empty(0, dtype=np.intp) for _ in range(K)]
        self._table = None
        self._first = True

    def _params(self, data=None):
        """On the fit's data: the (K, n) log-likelihood table of its rows
        (leave-one-out on each expert's own rows) and the data, to find the
        rows of a chunk; else the fitted GPs for new rows."""
        if data is None:
            return None, None
        if self._table is None:
            self._table = np.stack(
                [
                    self._training_log_lik(*self._gp(k), self._rows[k])
                    for k in range(len(self._rows))
                ]
            )
        return self._table, data

    def _gp(self, k):
        """Expert k's fitted pieces, standardized: kernel, noise, prior mean,
        rows, targets, weights, factor and dual coefficients."""
        return (
            self.kernels_[k],
            self.noise_variance_[k] / self.y_scale_**2,
            (self.prior_mean_[k] - self.y_mean_) / self.y_scale_,
            self._standardize(self.X_train_[k]),
            (self.y_train_[k] - self.y_mean_) / self.y_scale_,
            self.train_weight_[k],
            self.L_[k],
            self.alpha_[k],
        )

    def _standardize(self, X):
        return (np.asarray(X, dtype=float) - self.x_mean_) / self.x_scale_

    def _training_log_lik(
        self, kernel, noise, b, X_k, y_k, c, L, dual, rows, inverse_diag=None
    ):
        """log P_k(y_i | x_i) (n,) of every row of the fit's data under an
        expert: leave-one-out on its ``rows`` (given ``inverse_diag``, or
        from ``L``), the ordinary predictive elsewhere."""
        data = self._data
        y = (data.y[:, 0] - self.y_mean_) / self.y_scale_
        mean, var = np.empty_like(y), np.empty_like(y)
        others = np.ones(y.shape[0], dtype=bool)
        if rows is not None:
            others[rows] = False
        X = self._standardize(data.inputs["experts"][others])
        mean[others], var[others] = predictive(kernel, X_k, L, dual, X, noise)
        mean[others] += b
        if rows is not None and rows.size:
            if inverse_diag is None:
                L_inv = solve_triangular(L, np.eye(L.shape[0]), lower=True)
                inverse_diag = np.einsum("ij,ij->j", L_inv, L_inv)
            mean[rows], var[rows] = loo_predictive(
                y[rows], dual, inverse_diag, noise / c, noise
            )
        return _normal_log_pdf(y, mean, var) - np.log(self.y_scale_)

    def _log_likelihood(self, Xt, y, params):
        """log P_k(y_i | x_i) (K, n_rows): looked up in the fit's table for
        the fit's rows, the predictive density for new rows."""
        table, data = params
        rows = None if table is None else _locate(Xt, y, data)
        if rows is not None:
            log_lik = table[:, rows]
        else:
            means, variances = self._moments(Xt[:-1].T)
            log_lik = _normal_log_pdf(y[:, 0], means.T, variances.T)
        return log_lik, {"log_lik": log_lik}

    def _accumulate(self, stats, Xt, weights, cache, params):
        add_stats(
            stats,
            {
                "count": weights.sum(axis=1),
                "q": np.sum(weights * cache["log_lik"], axis=1),
            },
        )

    def _m_step(self, stats, data):
        """Fit each expert's GP on its weighted rows and keep it if it
        raises the expert's Q-function (its leave-one-out densities)."""
        X = self._standardize(data.inputs["experts"])
        y = (data.y[:, 0] - self.y_mean_) / self.y_scale_
        counts = np.ldexp(data.sample_weight, data.weight_exponent)
        table = self._table.copy()
        for k in range(len(self.kernels_)):  # a loop over experts, not rows
            c_all = counts * data.resp[k]
            rows = kept_rows(
                c_all, self.min_responsibility, self.max_rows_per_expert, self._rng
            )
            if rows.size == 0:
                continue
            candidate = self._fit_expert(k, X[rows], y[rows], c_all[rows])
            if candidate is None:
                continue
            kernel, noise, b, L, dual, inverse_diag, lml = candidate
            log_lik = self._training_log_lik(
                kernel, noise, b, X[rows], y[rows], c_all[rows], L, dual, rows,
                inverse_diag,
            )  # fmt: skip
            q = float((data.sample_weight * data.resp[k]) @ log_lik)
            old = stats["q"][k]
            # An expert fitted on other data (a warm start) has no
            # leave-one-out densities here to compare with: take the step.
            if self._rows[k] is not None and q < old - 1e-12 * (abs(old) + 1.0):
                continue
            self.kernels_[k] = kernel
            self.noise_variance_[k] = noise * self.y_scale_**2
            self.prior_mean_[k] = self.y_mean_ + b * self.y_scale_
            inputs = data.inputs["experts"][rows]
            self.X_train_[k] = np.array(inputs, dtype=float)
            self.y_train_[k] = data.y[rows, 0].astype(float)
            self.train_weight_[k] = c_all[rows]
            self.L_[k], self.alpha_[k] = L, dual
            self.log_marginal_likelihood_value_[k] = lml
            self._rows[k] = rows
            table[k] = log_lik
        self._table = table
        self._first = False

    def _fit_expert(self, k, X, y, c):
        """A candidate GP for expert k on its rows (standardized): the
        kernel, noise, prior mean, factor pieces and weighted log marginal
        likelihood; None if no hyperparameters give a positive definite
        matrix."""
        b = float(c @ y / c.sum())
        y = y - b
        kernel = self.kernels_[k]
        noise = self.noise_variance_[k] / self.y_scale_**2
        if self.optimizer is not None:
            kernel, noise = self._optimize(kernel, noise, X, y, c)
        try:
            L, dual, inverse_diag = factor(kernel, noise, X, y, c)
        except LinAlgError:
            return None
        lml = _log_marginal_from_factor(L, dual, y, noise, c)
        return kernel, noise, b, L, dual, inverse_diag, lml

    def _noise_bounds(self):
        return np.log([self.min_noise_variance, _MAX_NOISE])

    def _optimize(self, kernel, noise, X, y, c):
        """Improve (kernel.theta, log noise) on the weighted marginal
        likelihood by L-BFGS-B from the current values (and, in a fit's
        first M-step, from ``n_restarts_optimizer`` random starts)."""
        bounds = np.vstack([kernel.bounds, self._noise_bounds()[None]])

        def objective(theta):
            value, grad = weighted_log_marginal_likelihood(
                kernel.clone_with_theta(theta[:-1]),
                np.exp(theta[-1]),
                X,
                y,
                c,
                eval_gradient=True,
            )
            if not np.isfinite(value):
                return np.inf, np.zeros_like(theta)
            return -value, -grad

        start = np.clip(np.append(kernel.theta, np.log(noise)), *bounds.T)
        starts = [start]
        if self._first and self.n_restarts_optimizer:
            if not np.all(np.isfinite(bounds)):
                raise ValueError(
                    "n_restarts_optimizer > 0 draws starts within the "
                    "hyperparameters' bounds, which must be finite; give the "
                    "kernel finite bounds."
                )
            starts += list(
                self._rng.uniform(
                    bounds[:, 0], bounds[:, 1], (self.n_restarts_optimizer, len(start))
                )
            )
        best, best_value = start, np.inf
        for theta0 in starts:
            # L-BFGS-B's line search only accepts decreases, so its result
            # is no worse than its start.
            result = minimize(
                objective,
                theta0,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": self.max_optimizer_iter},
            )
            if result.fun < best_value:
                best, best_value = result.x, result.fun
        return kernel.clone_with_theta(best[:-1]), float(np.exp(best[-1]))

    def _moments(self, X, variance=True):
        """Every expert's predictive means and variances (n, K) at validated
        inputs, in target units (variances None unless asked)."""
        self._check_fitted()
        Z = self._standardize(X)
        K = len(self.kernels_)
        means = np.empty((Z.shape[0], K))
        variances = np.empty_like(means) if variance else None
        for k in range(K):  # a loop over experts
            kernel, noise, b, X_k, _, _, L, dual = self._gp(k)
            if variance:
                mean, var = predictive(kernel, X_k, L, dual, Z, noise)
                variances[:, k] = var * self.y_scale_**2
            else:
                mean = _predictive_mean(kernel, X_k, dual, Z)
            means[:, k] = self.y_mean_ + (mean + b) * self.y_scale_
        return means, variances

    def _predict_pairs(self, X, samples, experts):
        """Means (n_pairs, 1) of the given (sample, expert) pairs only."""
        self._check_fitted()
        out = np.empty((samples.shape[0], 1))
        for k in range(len(self.kernels_)):  # a loop over experts
            pairs = np.flatnonzero(experts == k)
            if pairs.size:
                kernel, _, b, X_k, _, _, _, dual = self._gp(k)
                Z = self._standardize(X[samples[pairs]])
                mean = _predictive_mean(kernel, X_k, dual, Z)
                out[pairs, 0] = self.y_mean_ + (mean + b) * self.y_scale_
        return out

    def _marginals(self, X):
        """Means and scales (n, K, 1), latent plus noise variance at each
        input, and degrees of freedom (K,), all infinite."""
        means, variances = self._moments(X)
        df = np.full(means.shape[1], np.inf)
        return means[:, :, None], np.sqrt(variances)[:, :, None], df

    def _marginal_draw(self, marginals, rows, experts, rng):
        means, scales, _ = marginals
        noise = rng.standard_normal((rows.shape[0], means.shape[2]))
        return means[rows, experts] + scales[rows, experts] * noise

    def _penalty(self):
        return 0.0

    def _n_parameters(self):
        raise ValueError(
            "GaussianProcessExpert has no parameter count (a GP is "
            "nonparametric), so bic and aic are undefined; compare models by "
            "cross-validation instead."
        )

    def _keep(self, experts):
        keep_experts(
            self,
            (
                "kernels_", "noise_variance_", "prior_mean_", "X_train_",
                "y_train_", "train_weight_", "L_", "alpha_",
                "log_marginal_likelihood_value_", "_rows",
            ),
            experts,
        )  # fmt: skip
        if getattr(self, "_table", None) is not None:
            self._table = self._table[experts]

    def _end_fit(self):
        for name in ("_data", "_rows", "_table", "_first", "_rng"):
            self.__dict__.pop(name, None)


def _predictive_mean(kernel, X_train, dual, X):
    """``k(X, X_train) @ dual`` in row blocks (zero without rows)."""
    mean = np.zeros(X.shape[0])
    if X_train.shape[0]:
        for start in range(0, X.shape[0], _PREDICT_ROWS):
            block = slice(start, start + _PREDICT_ROWS)
            mean[block] = kernel(X[block], X_train) @ dual
    return mean


def _locate(Xt, y, data):
    """The rows (a slice) of the fit's data that a design chunk ``Xt`` and
    its targets ``y`` are, or None for other rows.

    The E-step hands the experts the data's row chunks in order, at
    multiples of ``data.rows``, with the design offset zero (``_prepare``),
    so a chunk is found by comparing it with the data's rows there: a few
    comparisons of n numbers per pass, against the GPs' O(n m^2). Two
    chunks equal in every input and target would be taken for the first.
    """
    X, Y = data.inputs["experts"], data.y
    n_rows = Xt.shape[1]
    for start in range(0, data.n_samples, data.rows):
        stop = min(start + data.rows, data.n_samples)
        if stop - start == n_rows and np.array_equal(y, Y[start:stop]):
            if np.array_equal(Xt[:-1], X[start:stop].T):
                return slice(start, stop)
    return None
