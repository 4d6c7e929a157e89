"""Linear-Gaussian experts: all K ridge regressions solved together."""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import StrOptions

from .._component import check_component_fitted, map_chunks
from .._contract import Expert, LocationScaleMarginals, keep_experts
from .._data import add_stats
from .._information import (
    LocationScale,
    column_variance,
    location_scale_layout,
    location_scale_penalty,
    scale_pairs,
    term_names,
)
from .._linalg import psd_solve, weighted_grams
from .._online import running_average
from .._params import Interval
from ._polynomial import PolynomialDesign

_LOG_2PI = np.log(2.0 * np.pi)


def _precision_cholesky(covariance):
    """Factors P (K, m, m) with ``inv(S_k) = P_k P_k^T``, as GaussianMixture
    keeps them: the inverse transpose of the Cholesky factor of S_k."""
    chol = np.linalg.cholesky(covariance)
    eye = np.broadcast_to(np.eye(covariance.shape[-1]), covariance.shape)
    return np.swapaxes(np.linalg.solve(chol, eye), 1, 2)


def _floored_covariance(covariance, floor):
    """The covariances S (K, m, m) that maximize the Gaussian likelihood of
    sample covariances ``covariance`` subject to ``S - diag(floor)`` being
    positive semi-definite: in the floor's whitened coordinates, the sample
    covariance with its eigenvalues raised to at least one.

    This is the exact maximizer (with ``P = S^-1`` the problem is concave on
    ``0 < P <= diag(floor)^-1``, and the clipped eigenvalues satisfy its KKT
    conditions), which EM's monotonicity needs; adding the floor to the
    diagonal, as a regularizer, is not the maximizer of any fixed objective.
    """
    root = np.sqrt(floor)
    white = covariance / root[:, None] / root[None, :]
    values, vectors = np.linalg.eigh(white)
    clipped = (vectors * np.maximum(values, 1.0)[:, None, :]) @ np.swapaxes(
        vectors, 1, 2
    )
    clipped = 0.5 * (clipped + np.swapaxes(clipped, 1, 2))
    return clipped * root[:, None] * root[None, :]


# alpha="evidence": each ridge stays within these multiples of the total
# sample weight (the default alpha's, which keeps rank-deficient designs
# solvable, and a constant expert's), a fit's first search starts from a
# typical one, and stops when no log ridge moves by more than the
# tolerance; a Newton step moves none by more than the largest step.
_EVIDENCE_FLOOR = 1e-6
_EVIDENCE_START = 1e-3
_EVIDENCE_CEILING = 1e6
_EVIDENCE_TOL = 1e-3
_EVIDENCE_MAX_STEP = 2.0
_EVIDENCE_BEYOND = 1e3
_EVIDENCE_STEPS = 50
_TINY = np.finfo(float).tiny


def evidence_ridge(values, projected, square, mass, start, bounds, steps=None):
    """The ridge penalties that maximize the evidence of Bayesian ridge
    regressions with the noise variance profiled out.

    With ``S(l) = y^T W y - sum_j q_j / (e_j + l)`` (the penalized residual
    sum of squares at penalty ``l``) and ``gamma(l) = sum_j e_j / (e_j + l)``
    (the effective number of coefficients), the log evidence is
    ``-n/2 log S(l) - 1/2 sum_j log(1 + e_j / l)``; its stationary points
    are MacKay's fixed points ``l = gamma S / (n ||b||^2)``. They are found
    by Newton's method in ``log l`` where the evidence is concave there,
    else by MacKay's step; every problem at once.

    Each problem is given in the eigenbasis of its (centred, weighted) Gram
    matrix, so a step costs a few array operations for all of them.

    Parameters
    ----------
    values : ndarray of shape (K, p)
        Eigenvalues ``e_j`` of the Gram matrices (non-negative).
    projected : ndarray of shape (K, p, m)
        The cross products ``X^T W y`` on their eigenvectors (``q_j`` is
        their square), per output.
    square : ndarray of shape (K, m)
        The weighted sums of squares ``y^T W y``.
    mass : ndarray of shape (K,)
        The weight of each problem's rows, ``n``.
    start : ndarray of shape (K, m)
        The penalties to start from.
    bounds : tuple of float
        Lowest and highest penalty.
    steps : int, default=None
        Take this many steps; None: until no log penalty moves by more than
        the tolerance (at most ``_EVIDENCE_STEPS``).

    Returns
    -------
    penalty : ndarray of shape (K, m)
    """
    low, high = math.log(bounds[0]), math.log(bounds[1])
    values = values[:, :, None]
    power = projected * projected
    rows = mass[:, None]
    far = _EVIDENCE_BEYOND * values.max(axis=1)
    log_penalty = np.minimum(np.maximum(np.log(start), low), high)
    # Empty or exactly fitted problems divide by zero; their step is then
    # set to zero or to a bound below.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(steps or _EVIDENCE_STEPS):
            penalty = np.exp(log_penalty)
            inverse = 1.0 / (values + penalty[:, None, :])
            fitted = power * inverse
            squares = fitted * inverse  # the coefficients' squares
            share = values * inverse
            # gamma, y^T W y - S, ||b||^2 and two sums of the derivatives.
            gamma, explained, norm, d_share, cubic = np.stack(
                [share, fitted, squares, share * inverse, squares * inverse]
            ).sum(axis=2)
            total = np.maximum(square - explained, _TINY)
            shrinkage = penalty * norm  # l ||b||^2
            # The slope is twice the evidence's derivative in u = log l; the
            # curve is the slope's own derivative.
            slope = gamma - rows * shrinkage / total
            d_shrinkage = shrinkage - 2.0 * penalty**2 * cubic
            curve = (
                -penalty * d_share
                - rows * (d_shrinkage * total - shrinkage**2) / total**2
            )
            newton = np.minimum(
                np.maximum(-slope / curve, -_EVIDENCE_MAX_STEP), _EVIDENCE_MAX_STEP
            )
            # MacKay's step is the fixed-point iteration's own and needs no
            # bound.
            mackay = np.log(gamma * total / (rows * norm)) - log_penalty
            step = np.where(curve < 0, newton, mackay)
            step[np.isnan(step)] = 0.0
            new = np.minimum(np.maximum(log_penalty + step, low), high)
            # Far above every eigenvalue the slope's sign no longer changes:
            # a rising evidence rises to a constant expert's.
            new[(penalty > far) & (slope > 0)] = high
            settled = np.abs(new - log_penalty).max() <= _EVIDENCE_TOL
            log_penalty = new
            if settled:
                break
    return np.exp(log_penalty)


class LinearExpert(PolynomialDesign, LocationScaleMarginals, Expert):
    """K linear-Gaussian experts ``y | x, k ~ N(W_k^T [phi(x), 1], S_k)``.

    The M-step is one weighted ridge regression per expert, all solved
    together from stacked weighted Gram matrices, followed by the noise
    covariances from the weighted residuals. It maximizes

        sum_i w_i h_ik log N(y_i; W_k^T phi(x_i), S_k)
            - alpha W tr(S_k^-1 C_k D C_k^T) / 2

    exactly (the ridge penalty on the coefficients ``C_k`` scaled by the
    noise, a conjugate prior), with ``W = sum_i w_i`` and ``D`` the diagonal
    of the weighted variances of the columns of ``phi(x)``: the penalty is
    per unit of sample weight, on the coefficients in standardized units, so
    the fit depends neither on the units of the features nor on the scale
    of the weights. ``coef_`` equals :class:`~sklearn.linear_model.Ridge`
    with ``alpha * sum_i w_i`` fitted, with sample weights ``w_i h_ik``, to
    the columns of ``phi(x)`` divided by their weighted standard deviations
    (and mapped back); the intercept is not penalized.

    Parameters
    ----------
    alpha : float or "evidence", default=1e-6
        Ridge penalty on the expert coefficients, per unit of sample weight
        and in standardized units (each coefficient times the weighted
        standard deviation of its feature). ``"evidence"`` chooses one
        penalty per expert (and output) at every other M-step, the one that
        maximizes the evidence (marginal likelihood) of a Bayesian ridge
        regression on the expert's responsibility-weighted rows, as
        :class:`~sklearn.linear_model.BayesianRidge` does without its
        hyperpriors (MacKay 1992): an expert with little signal or few rows
        is shrunk hard, a well-determined one hardly at all. The penalties
        are then part of the fit (``alpha_``), the sample weights count as
        rows (the fit depends on their scale), and EM's objective is the
        penalized likelihood under the current penalties, so it rises
        monotonically only once they settle. Needs ``solver="em"`` and
        diagonal noise.
    degree : int, default=1
        Polynomial experts: ``phi(x)`` holds the monomials up to this degree
        of the expert's inputs standardized by their training mean and
        standard deviation (``input_mean_``, ``input_scale_``), in the
        order of :class:`~sklearn.preprocessing.PolynomialFeatures` without
        the bias column (the "p" of the meteorits package's MoE models); so
        the fit depends neither on the units nor on the origin of the inputs.
        Without an intercept the inputs are only divided by their root mean
        square, so that the experts still pass through the origin.
    fit_intercept : bool, default=True
        Whether each expert has an intercept. Without one the inputs and
        targets are not centred.
    covariance_type : {"diag", "full"}, default="diag"
        Noise covariance of each expert for 2-D targets: independent
        outputs, or a full covariance matrix (``solver="em"`` and
        ``partial_fit`` only). The same for 1-D targets.
    min_variance : float, default=1e-6
        Floor on each noise variance, relative to the weighted variance of
        the target; it stops an expert from collapsing onto a few points.
        A full covariance ``S`` is kept above the diagonal matrix ``F`` of
        the floors (``S - F`` positive semi-definite): the M-step gives the
        most likely such ``S``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_experts, n_expert_features) or \
            (n_experts, n_outputs, n_expert_features)
        Expert coefficients (the second form for 2-D targets), one column
        per feature of ``phi(x)``.
    intercept_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
    noise_variance_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        Noise variance of each expert (and output): the diagonal of
        ``noise_covariance_`` when it is full.
    noise_covariance_ : ndarray of shape (n_experts, n_outputs, n_outputs)
        Noise covariance of each expert (only with ``covariance_type="full"``).
    alpha_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        The ridge penalty of each expert (and output), in ``alpha``'s units:
        ``alpha`` itself, or the evidence's choice.
    input_mean_ : ndarray of shape (n_expert_inputs,)
        Weighted mean of each expert input over the training rows, the
        origin of the polynomial's standardized inputs (degree 2 and up;
        zero without an intercept).
    input_scale_ : ndarray of shape (n_expert_inputs,)
        Their weighted standard deviations (root mean squares without an
        intercept; 1 for a constant input).

    See Also
    --------
    StudentTExpert
        Linear experts with robust t noise.
    EstimatorExpert
        Any scikit-learn regressor as the experts.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.experts import LinearExpert
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.where(X[:, 0] < 0, -X[:, 0], 2 * X[:, 0]) + 0.1 * rng.randn(300)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> np.sort(moe.experts_.coef_[:, 0]).round(1)
    array([-1.,  2.])
    >>> quadratic = MixtureOfExpertsRegressor(
    ...     n_experts=2, expert=LinearExpert(degree=2), random_state=0
    ... ).fit(X, y)
    >>> quadratic.experts_.coef_.shape
    (2, 2)
    >>> chosen = MixtureOfExpertsRegressor(
    ...     n_experts=2, expert=LinearExpert(alpha="evidence"), random_state=0
    ... ).fit(X, y)
    >>> chosen.experts_.alpha_.shape  # one penalty per expert
    (2,)
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"evidence"})],
        "degree": [Interval(Integral, 1, None, closed="left")],
        "fit_intercept": ["boolean"],
        "covariance_type": [StrOptions({"diag", "full"})],
        "min_variance": [Interval(Real, 0, None, closed="neither")],
    }
    _task = "regression"

    def __init__(
        self,
        alpha=1e-6,
        degree=1,
        fit_intercept=True,
        covariance_type="diag",
        min_variance=1e-6,
    ):
        self.alpha = alpha
        self.degree = degree
        self.fit_intercept = fit_intercept
        self.covariance_type = covariance_type
        self.min_variance = min_variance

    # ----------------------------------------------------------------- public
    def predict(self, X):
        """Each expert's mean prediction.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated expert inputs (before the polynomial expansion).

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_experts) or \
                (n_samples, n_experts, n_outputs)
            Each expert's mean.
        """
        check_component_fitted(self)
        W = self._params()[0]
        out = map_chunks(self._features(X), lambda Xt: self._mean(Xt, W), W.shape[:2])
        out = out.transpose(2, 0, 1)
        return out[:, :, 0] if self._single_output else out

    # ------------------------------------------------- protocol of the driver
    @property
    def capabilities(self):
        """What the experts support (see ``mixexp._contract``).

        The gradient passes train diagonal noise only, so full covariances
        are EM's.
        """
        supported = {
            "em",
            "online",
            "blockwise",
            "predictive_distribution",
            "pruning",
            "information",
        }
        if self.covariance_type != "full" and self.alpha != "evidence":
            supported.add("gradient")
        return frozenset(supported)

    def _predict_pairs(self, X, samples, experts):
        """Means of the given (sample, expert) pairs only: (n_pairs, m)."""
        coef, intercept = self._arrays()[:2]
        Z = self._features(X[samples])
        return np.einsum("id,imd->im", Z, coef[experts]) + intercept[experts]

    def _marginals(self, X):
        """Per-output predictive marginals of every expert: means
        (n, K, m), scales (K, m) and degrees of freedom (K,) (inf: normal)."""
        means = self.predict(X).reshape(X.shape[0], self._arrays()[2].shape[0], -1)
        variance = self._arrays()[2]
        return means, np.sqrt(variance), np.full(variance.shape[0], np.inf)

    def _noise_draw(self, experts, rng):
        """Noise draws (n, m) of the given experts."""
        noise = rng.standard_normal((experts.shape[0], self._arrays()[2].shape[1]))
        return np.einsum("nij,nj->ni", self._cholesky()[experts], noise)

    def _cholesky(self):
        """Cholesky factors (K, m, m) of the noise covariances."""
        if self.covariance_type == "full":
            return np.linalg.cholesky(self._covariance())
        variance = self._arrays()[2]
        return np.sqrt(variance)[:, :, None] * np.eye(variance.shape[1])

    def _prepare(self, data):
        """Check the parameters; centre and floor the targets of this fit
        (unless partial_fit carries them over from its first batch)."""
        self._validate_params()
        self._single_output = data.single_output
        if not self.fit_intercept:  # no intercept, no centring
            data.set_offset("experts", np.zeros(data.width("experts")))
        if "expert_y_offset" not in data.cache:
            y_mean, y_var, y_square = data.target_moments()
            floor = self.min_variance * np.where(y_var > 0, y_var, 1.0)
            if not self.fit_intercept:
                y_var = y_square
                y_mean = np.zeros_like(y_mean)
            data.cache["expert_y_offset"] = y_mean
            data.cache["expert_y_var"] = y_var
            data.cache["expert_floor"] = floor
        self._floor = data.cache["expert_floor"]
        evidence = self.alpha == "evidence"
        if evidence and self.covariance_type == "full":
            raise ValueError(
                "alpha='evidence' chooses a ridge per expert and output, which "
                "needs covariance_type='diag'; give alpha a number for 'full'."
            )
        # The ridge penalty per unit of sample weight, on the coefficients in
        # standardized units: alpha times each design column's variance.
        self._column_var = data.column_scale("experts") ** 2
        alpha = _EVIDENCE_FLOOR if evidence else self.alpha
        self._ridge_unit = alpha * self._column_var
        self._ridge = self._ridge_unit * data.total_weight
        self._evidence_start = None  # each search's ridges start the next's
        self._evidence_turn = False
        self._column_scale = np.sqrt(self._column_var)
        self._column_outer = np.outer(self._column_scale, self._column_scale)

    def _reset(self, data):
        """Every expert starts as the constant model of the whole target."""
        y_mean, y_var = data.cache["expert_y_offset"], data.cache["expert_y_var"]
        floor = data.cache["expert_floor"]
        n_experts = data.n_experts
        variance = np.tile(np.maximum(y_var, floor), (n_experts, 1))
        if self.covariance_type == "full":
            variance = variance[:, :, None] * np.eye(y_mean.shape[0])
        self._set_arrays(
            np.zeros((n_experts, y_mean.shape[0], data.width("experts"))),
            np.tile(y_mean, (n_experts, 1)),
            variance,
        )

    def _set_arrays(self, coef, intercept, noise):
        """Store (K, m, d), (K, m) and (K, m) variances or (K, m, m)
        covariances in the public shapes."""
        if self.covariance_type == "full":
            self.noise_covariance_ = noise
            noise = np.diagonal(noise, axis1=1, axis2=2).copy()
        else:
            self.__dict__.pop("noise_covariance_", None)
        if self._single_output:
            coef, intercept, noise = coef[:, 0], intercept[:, 0], noise[:, 0]
        self.coef_, self.intercept_, self.noise_variance_ = coef, intercept, noise

    def _arrays(self):
        """(K, m, d) coefficients, (K, m) intercepts and (K, m) variances."""
        coef, intercept, variance = self.coef_, self.intercept_, self.noise_variance_
        if self._single_output:
            coef, intercept, variance = (
                coef[:, None],
                intercept[:, None],
                variance[:, None],
            )
        return coef, intercept, variance

    def _covariance(self):
        """(K, m, m) noise covariances, diagonal or full."""
        if self.covariance_type == "full":
            return self.noise_covariance_
        variance = self._arrays()[2]
        return variance[:, :, None] * np.eye(variance.shape[1])

    #: Fitted attributes indexed by expert (``_keep``).
    _per_expert = (
        "coef_",
        "intercept_",
        "noise_variance_",
        "noise_covariance_",
        "alpha_",
    )

    def _keep(self, experts):
        keep_experts(self, self._per_expert, experts)
        if np.ndim(getattr(self, "_ridge", None)) == 3:  # alpha="evidence"
            self._ridge = self._ridge[experts]
            if getattr(self, "_evidence_start", None) is not None:
                self._evidence_start = self._evidence_start[experts]

    def _n_parameters(self):
        coef = self._arrays()[0]
        n_experts, n_outputs, n_features = coef.shape
        weights = n_outputs * (n_features + int(self.fit_intercept))
        if self.covariance_type == "full":
            return n_experts * (weights + n_outputs * (n_outputs + 1) // 2)
        return n_experts * (weights + n_outputs)

    def _params(self, data=None):
        """Parameters on design rows: during a fit the rows are ``[x - x_offset, 1]``
        and the targets ``y - y_offset``; at prediction both offsets are zero.

        Returns ``(W, y_offset, variance, precision_cholesky)`` with W of
        shape (K, m, p), the variances (K, m) and, for a full covariance,
        the (K, m, m) factors P with ``S_k^-1 = P_k P_k^T`` (else None).
        """
        coef, intercept, variance = self._arrays()
        y_offset = np.zeros(coef.shape[1])
        if data is not None:
            y_offset = data.cache["expert_y_offset"]
            intercept = intercept + coef @ data.offset["experts"] - y_offset
        W = np.concatenate([coef, intercept[:, :, None]], axis=2)
        precision = None
        if self.covariance_type == "full":
            precision = _precision_cholesky(self.noise_covariance_)
        return W, y_offset, variance, precision

    def _penalty(self):
        coef = self._arrays()[0] * np.sqrt(self._ridge)
        if self.covariance_type == "full":
            precision = _precision_cholesky(self.noise_covariance_)
            scaled = np.swapaxes(precision, 1, 2) @ coef  # P^T C
            return 0.5 * float(np.sum(scaled * scaled))
        variance = self._arrays()[2]
        return 0.5 * float(((coef**2).sum(axis=2) / variance).sum())

    @staticmethod
    def _mean(Xt, W):
        """(K, m, n_rows) predictions on design columns."""
        n_experts, n_outputs, p = W.shape
        return (W.reshape(n_experts * n_outputs, p) @ Xt).reshape(
            n_experts, n_outputs, Xt.shape[1]
        )

    def _mahalanobis(self, Xt, y, params):
        """Squared Mahalanobis distances of the residuals (K, n_rows), half
        the log-determinants of the noise covariances (K,), and the centred
        targets (m, n_rows)."""
        W, y_offset, variance, precision = params
        y = y.T - y_offset[:, None]
        resid = self._mean(Xt, W)
        np.subtract(y[None], resid, out=resid)
        if precision is None:
            resid *= resid
            resid /= variance[:, :, None]
            half_logdet = 0.5 * np.log(variance).sum(axis=1)
        else:
            resid = np.swapaxes(precision, 1, 2) @ resid
            resid *= resid
            half_logdet = -np.sum(np.log(np.diagonal(precision, 0, 1, 2)), axis=1)
        # One output: its squared distance as it is, not summed into a copy.
        maha = resid[:, 0] if resid.shape[1] == 1 else resid.sum(axis=1)
        return maha, half_logdet, y

    def _log_likelihood(self, Xt, y, params):
        """log N(y_i; mean_ik, S_k) of shape (K, n_rows), and a cache for
        ``_accumulate`` (the centred targets, (m, n_rows))."""
        log_lik, half_logdet, y = self._mahalanobis(Xt, y, params)
        log_lik *= -0.5  # in place: the distances are this pass's own
        log_lik -= (half_logdet + 0.5 * y.shape[0] * _LOG_2PI)[:, None]
        return log_lik, y

    def _accumulate(self, stats, Xt, weights, cache, params):
        self._add_moments(stats, Xt, weights, weights, cache)

    def _add_moments(self, stats, Xt, weights, count_weights, y):
        """Stacked Gram matrices, cross products and target moments under
        ``weights`` (K, n_rows), and the responsibility mass under
        ``count_weights``."""
        p = Xt.shape[0]
        # One Gram of [x, y] gives all three: x x^T, x y^T and y y^T.
        products = weighted_grams(np.vstack([Xt, y]), weights)
        yty = products[:, p:, p:]
        if self.covariance_type != "full":
            yty = np.diagonal(yty, axis1=1, axis2=2)
        add_stats(
            stats,
            {
                "gram": products[:, :p, :p],
                "xty": products[:, :p, p:],
                "yty": yty,
                "count": count_weights.sum(axis=1),
            },
        )

    # ------------------------------------------------------- online EM
    _STAT_KEYS = ("gram", "xty", "yty", "count")

    def _prepare_online(self):
        """The exact M-step works on averaged statistics as they are."""

    def _online_update(self, stats, data, store, gamma, seen, update):
        """Exact M-step on the running averages, scaled to the weight seen."""
        running_average(store, stats, data.total_weight, gamma, self._STAT_KEYS)
        if update:
            self._ridge = self._ridge_unit * seen
            self._m_step({key: store[key] * seen for key in self._STAT_KEYS}, data)

    # -------------------------------------------- gradient-based training
    # Gradient solvers train W (design space) and eta with variance
    # floor + exp(eta), which keeps every variance above its floor.
    def _theta(self, data):
        W, _, variance, _ = self._params(data)
        floor = data.cache["expert_floor"]
        excess = np.maximum(variance - floor, 1e-300)
        return [W, np.log(excess)]

    def _theta_units(self, data):
        """W in units of each output's standard deviation too (the
        log-variances are unit-free)."""
        features, eta = super()._theta_units(data)
        y_var = data.cache["expert_y_var"]
        y_scale = np.sqrt(np.where(y_var > 0, y_var, 1.0))
        return [features / y_scale[:, None], eta]

    def _set_theta(self, theta, data):
        W, eta = theta
        coef = W[:, :, :-1].copy()
        intercept = (
            W[:, :, -1] - coef @ data.offset["experts"] + data.cache["expert_y_offset"]
        )
        self._set_arrays(coef, intercept, data.cache["expert_floor"] + np.exp(eta))

    def _forward(self, Xt, y, theta, data):
        W, eta = theta
        variance = data.cache["expert_floor"] + np.exp(eta)
        target = y.T - data.cache["expert_y_offset"][:, None]
        mean = self._mean(Xt, W)
        return {
            "resid": target[None] - mean,
            "mean": mean,
            "y": target,
            "variance": variance,
            "excess": np.exp(eta),
        }

    @staticmethod
    def _log_lik_from(cache):
        resid, variance = cache["resid"], cache["variance"]
        scaled = (resid * resid) / variance[:, :, None]
        return -0.5 * (
            scaled.sum(axis=1) + np.sum(np.log(variance) + _LOG_2PI, axis=1)[:, None]
        )

    @staticmethod
    def _error(cache):
        """Each expert's own error: its squared error ||y - o_k||^2."""
        resid = cache["resid"]
        return np.sum(resid * resid, axis=1)

    @staticmethod
    def _outputs(cache):
        """Expert outputs and the target, on the fit's centred target scale."""
        return cache["mean"], cache["y"]

    def _backward(self, Xt, cache, theta, d_logp=None, d_error=None, d_output=None):
        """Parameter gradients from dE/dlog P_k (K, n), dE/d||y - o_k||^2 (K, n)
        and dE/do_k (K, m, n)."""
        resid, variance = cache["resid"], cache["variance"][:, :, None]
        d_mean = np.zeros_like(resid)
        d_eta = np.zeros(variance.shape[:2])
        if d_logp is not None:
            d_mean += d_logp[:, None, :] * resid / variance
            # d log N / d s^2 = (r^2 / s^2 - 1) / (2 s^2); d s^2 / d eta = exp(eta)
            d_var = (
                0.5 * d_logp[:, None, :] * (resid * resid / variance - 1.0) / variance
            )
            d_eta = d_var.sum(axis=2) * cache["excess"]
        if d_error is not None:
            d_mean -= 2.0 * d_error[:, None, :] * resid
        if d_output is not None:
            d_mean += d_output
        n_experts, n_outputs, n_rows = d_mean.shape
        d_W = (d_mean.reshape(n_experts * n_outputs, n_rows) @ Xt.T).reshape(
            n_experts, n_outputs, Xt.shape[0]
        )
        if not self.fit_intercept:
            d_W[:, :, -1] = 0.0
        return [d_W, d_eta]

    def _refit_noise(self, gate, data):
        """Noise variances from the gate-weighted residuals (after training on
        a loss without a noise model), floored as in the M-step."""
        W, y_offset, old, _ = self._params(data)
        gate_params = gate._params(data)
        weight = data.sample_weight
        stats = {}
        for rows, Xg, Xe in data.joint_chunks():
            share = np.exp(gate._log_proba(Xg, gate_params)[0]) * weight[rows]
            resid = (data.y[rows].T - y_offset[:, None])[None] - self._mean(Xe, W)
            part = {
                "sq": np.einsum("kn,kmn->km", share, resid * resid),
                "count": share.sum(axis=1),
            }
            add_stats(stats, part)
        count = stats["count"][:, None]
        variance = np.where(
            count > 0, stats["sq"] / np.where(count > 0, count, 1.0), old
        )
        coef, intercept, _ = self._arrays()
        self._set_arrays(
            coef, intercept, np.maximum(variance, data.cache["expert_floor"])
        )

    def _theta_penalty(self, theta, by_variance=False):
        """Ridge penalty and its gradient: alpha ||w_k||^2 / (2 s_k^2) with the
        likelihood (EM's objective), alpha ||w_k||^2 / 2 with losses that
        have no variance."""
        W, eta = theta
        weights = W[:, :, :-1]
        ridge = self._ridge
        sq_norms = np.sum(ridge * weights * weights, axis=2)
        d_W = np.zeros_like(W)
        if not by_variance:
            d_W[:, :, :-1] = ridge * weights
            return 0.5 * float(sq_norms.sum()), [d_W, np.zeros_like(eta)]
        variance = self._floor + np.exp(eta)
        d_W[:, :, :-1] = ridge * weights / variance[:, :, None]
        d_eta = -0.5 * sq_norms / variance**2 * np.exp(eta)
        return 0.5 * float(np.sum(sq_norms / variance)), [d_W, d_eta]

    def _end_fit(self):
        """Drop fit-time scratch (``_ridge`` stays: the fitted objective's
        penalty, ``_penalty``, needs it)."""
        scratch = ("_floor", "_ridge_unit", "_column_var", "_evidence_start")
        for name in (*scratch, "_evidence_turn", "_column_scale", "_column_outer"):
            self.__dict__.pop(name, None)
        if self.alpha != "evidence" or not hasattr(self, "alpha_"):
            alpha = _EVIDENCE_FLOOR if self.alpha == "evidence" else self.alpha
            self.alpha_ = np.full(self.noise_variance_.shape, float(alpha))

    def _m_step(self, stats, data):
        offset, y_offset = data.offset["experts"], data.cache["expert_y_offset"]
        floor = data.cache["expert_floor"]
        gram, xty, count = stats["gram"], stats["xty"], stats["count"]
        if self.alpha == "evidence":
            W = self._evidence_solve(gram, xty, stats["yty"], count)
        elif self.fit_intercept:
            ridge = np.append(self._ridge, 0.0)
            W = psd_solve(gram + np.diag(ridge)[None], xty)
        else:  # the intercept row of the design stays at zero
            W = np.zeros_like(xty)
            ridge = np.diag(self._ridge)
            W[:, :-1] = psd_solve(gram[:, :-1, :-1] + ridge, xty[:, :-1])
        # RSS + alpha C C^T = Y'HY - W'X'HY at the ridge solution.
        alive = count > 0
        mass = np.where(alive, count, 1.0)
        if self.covariance_type == "full":
            scatter = stats["yty"] - np.swapaxes(xty, 1, 2) @ W
            scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
            noise = _floored_covariance(scatter / mass[:, None, None], floor)
        else:
            scatter = np.maximum(stats["yty"] - (W * xty).sum(axis=1), 0.0)
            noise = np.maximum(scatter / mass[:, None], floor)
        coef, intercept = self._arrays()[:2]
        noise[~alive] = (
            self._covariance()[~alive]
            if noise.ndim == 3
            else (self._arrays()[2][~alive])
        )
        new_coef = W[:, :-1, :].transpose(0, 2, 1).copy()
        new_intercept = W[:, -1, :] - new_coef @ offset + y_offset
        new_coef[~alive] = coef[~alive]
        new_intercept[~alive] = intercept[~alive]
        self._set_arrays(new_coef, new_intercept, noise)

    def _evidence_solve(self, gram, xty, yty, count):
        """Ridge solutions W (K, p + 1, m) whose penalty, one per expert and
        output, maximizes the evidence of a Bayesian ridge regression on the
        expert's weighted rows (MacKay 1992, as in BayesianRidge). The
        intercept is profiled out unpenalized; the prior is isotropic on the
        standardized coefficients. Sets ``_ridge`` (K, m, p) and ``alpha_``.

        A fit's first search runs until the penalties settle; later ones
        take one step from the previous penalties, at every other M-step
        (those in between keep them): EM's iterations finish the search as
        they finish the fit, at a fraction of a search's cost each."""
        p = gram.shape[1] - 1
        self._evidence_turn = not self._evidence_turn
        if not self._evidence_turn and self._ridge.shape[:2] == yty.shape:
            return self._fixed_ridge_solve(gram, xty)
        mass = np.where(count > 0, count, 1.0)
        scale = self._column_scale
        design, cross, square = gram[:, :p, :p], xty[:, :p], yty
        if self.fit_intercept:
            mean = gram[:, :p, p] / mass[:, None]  # (K, p)
            design = design - mean[:, :, None] * gram[:, None, :p, p]
            cross = cross - mean[:, :, None] * xty[:, None, p]
            square = square - xty[:, p] ** 2 / mass[:, None]
        design = design / self._column_outer
        values, vectors = np.linalg.eigh(design)
        values = np.maximum(values, 0.0)
        projected = np.swapaxes(vectors, 1, 2) @ (cross / scale[:, None])
        total = float(count.sum())
        start, steps = self._evidence_start, 1
        if start is None or start.shape != square.shape:
            start, steps = np.full(square.shape, _EVIDENCE_START * total), None
        penalty = evidence_ridge(
            values,
            projected,
            square,
            mass,
            start,
            (_EVIDENCE_FLOOR * total, _EVIDENCE_CEILING * total),
            steps,
        )
        self._evidence_start = penalty
        coef = vectors @ (projected / (values[:, :, None] + penalty[:, None, :]))
        W = np.zeros_like(xty)
        W[:, :p] = coef / scale[:, None]
        if self.fit_intercept:
            W[:, p] = xty[:, p] - (gram[:, None, p, :p] @ W[:, :p])[:, 0]
            W[:, p] /= mass[:, None]
        self._set_ridges(penalty, total)
        return W

    def _fixed_ridge_solve(self, gram, xty):
        """Ridge solutions W (K, p + 1, m) under the (K, m, p) ``_ridge``."""
        n_experts, size, n_outputs = xty.shape
        # Without an intercept its row of the design stays at zero.
        width = size if self.fit_intercept else size - 1
        system = np.repeat(gram[:, None, :width, :width], n_outputs, axis=1)
        diagonal = np.arange(self._ridge.shape[2])
        system[:, :, diagonal, diagonal] += self._ridge
        solved = psd_solve(
            system.reshape(-1, width, width),
            np.swapaxes(xty[:, :width], 1, 2).reshape(-1, width, 1),
        )
        W = np.zeros_like(xty)
        W[:, :width] = np.swapaxes(solved.reshape(n_experts, n_outputs, width), 1, 2)
        return W

    def _set_ridges(self, penalty, total):
        """Store the (K, m) penalties as ``_ridge`` and ``alpha_``."""
        self._ridge = penalty[:, :, None] * self._column_var
        alpha = penalty / total
        self.alpha_ = alpha[:, 0] if self._single_output else alpha

    # ------------------------------------------------------- information
    # Per expert and output: the coefficients of [1, phi(x)] (no 1 without
    # an intercept), then the noise variance; with a full covariance, its
    # entries below the diagonal follow, "cov(y_j,y_i)" for (i, j), i > j
    # (the ``_info_*_general`` hooks below, which the t experts use too).
    def _info_design(self, X):
        """The design ``[1, phi(x)]`` (or ``phi(x)``), shape (n, q)."""
        Z = self._features(X)
        if self.fit_intercept:
            Z = np.column_stack([np.ones(Z.shape[0]), Z])
        return Z

    def _info_coef(self):
        """Coefficients on the design (K, m, q) and variances (K, m)."""
        coef, intercept, variance = self._arrays()
        if self.fit_intercept:
            coef = np.concatenate([intercept[:, :, None], coef], axis=2)
        return coef, variance

    def _info_estimates(self, names):
        if self._info_is_general():
            return self._info_estimates_general(names)
        coef, variance = self._info_coef()
        n_experts, n_outputs, _ = coef.shape
        terms = self._info_terms(names)
        estimates = np.concatenate([coef, variance[:, :, None]], axis=2)
        labels = [
            (k, o, term, wald)
            for k in range(n_experts)
            for o in range(n_outputs)
            for term, wald in [*((t, True) for t in terms), ("variance", False)]
        ]
        return estimates.ravel(), labels

    def _info_residuals(self, X, y):
        Z = self._info_design(X)
        coef, variance = self._info_coef()
        resid = y[:, None, :] - np.einsum("nq,kmq->nkm", Z, coef)
        return Z, resid, variance

    def _info_scores(self, X, y):
        """``r z / v`` and ``(r^2 / v - 1) / (2 v)``: (n, K, m (q + 1))."""
        if self._info_is_general():
            return self._info_scores_general(X, y)
        Z, resid, variance = self._info_residuals(X, y)
        scaled = resid / variance
        scores = np.concatenate(
            [
                scaled[..., None] * Z[:, None, None, :],
                (0.5 * (scaled * resid - 1.0) / variance)[..., None],
            ],
            axis=3,
        )
        return scores.reshape(scores.shape[0], scores.shape[1], -1)

    def _info_curvature(self, X, y, weights):
        if self._info_is_general():
            return self._info_curvature_general(X, y, weights)
        Z, resid, variance = self._info_residuals(X, y)
        n_experts, n_outputs = variance.shape
        q = Z.shape[1]
        block = np.zeros((n_experts, n_outputs, q + 1, q + 1))
        gram = weighted_grams(Z.T, weights.T)
        block[:, :, :q, :q] = gram[:, None] / variance[:, :, None, None]
        weighted = (weights[:, :, None] * resid).reshape(Z.shape[0], -1)
        cross = (weighted.T @ Z).reshape(n_experts, n_outputs, q)
        cross /= variance[..., None] ** 2
        block[:, :, :q, q] = block[:, :, q, :q] = cross
        square = np.einsum("nk,nkm->km", weights, resid * resid)
        mass = weights.sum(axis=0)[:, None]
        block[:, :, q, q] = square / variance**3 - 0.5 * mass / variance**2
        return _block_diagonal(block)

    def _info_penalty(self, X, sample_weight):
        """Hessian of ``sum_j ridge_j c_j^2 / (2 v)`` in (c, v), the ridge
        ``alpha W Var(phi_j)`` on the slopes only (each expert's and
        output's ``alpha_``, held fixed)."""
        if self._info_is_general():
            return self._info_penalty_general(X, sample_weight)
        coef, variance = self._info_coef()
        n_experts, n_outputs, q = coef.shape
        features = self._features(X)
        alpha = np.reshape(self.alpha_, (n_experts, n_outputs, 1))
        ridge = alpha * float(sample_weight.sum())
        ridge = ridge * column_variance(features, sample_weight)
        if self.fit_intercept:
            ridge = np.concatenate([np.zeros((n_experts, n_outputs, 1)), ridge], axis=2)
        block = np.zeros((n_experts, n_outputs, q + 1, q + 1))
        v = variance[..., None]
        block[:, :, np.arange(q), np.arange(q)] = ridge / v
        cross = -ridge * coef / v**2
        block[:, :, :q, q] = block[:, :, q, :q] = cross
        block[:, :, q, q] = np.sum(ridge * coef**2, axis=2) / variance**3
        return _block_diagonal(block)

    def _info_terms(self, names):
        """Names of the design columns ``[1, phi(x)]``."""
        return term_names(self._feature_names(names), self.fit_intercept)

    # The general pieces (mixexp._information.LocationScale): a full noise
    # covariance, and the t experts' scale matrices and degrees of freedom.
    def _info_is_general(self):
        return self.covariance_type == "full"

    def _info_df(self):
        """``(df, free)``: the t's degrees of freedom (K,) (None for normal
        noise) and whether they are parameters."""
        return None, False

    def _info_df_derivatives(self, maha):
        """First and second derivatives in nu of the log-densities (K, n)."""
        raise NotImplementedError

    def _info_general_parts(self):
        """Coefficients (K, m, q), scale matrices (K, m, m), their free
        entries, the degrees of freedom (or None) and the table's order."""
        coef = self._info_coef()[0]
        n_outputs, q = coef.shape[1:]
        pairs = scale_pairs(n_outputs, self.covariance_type == "full")
        df, free = self._info_df()
        layout = location_scale_layout(n_outputs, q, pairs, free)
        return coef, self._covariance(), pairs, (df, free), layout

    def _info_estimates_general(self, names):
        coef, cov, pairs, (df, free), layout = self._info_general_parts()
        n_experts, n_outputs, _ = coef.shape
        entries = np.stack([cov[:, i, j] for i, j in pairs], axis=1)
        blocks = [coef.reshape(n_experts, -1), entries]
        if free:
            blocks.append(df[:, None])
        estimates = np.concatenate(blocks, axis=1)[:, layout]
        terms = self._info_terms(names)
        one = []
        for o in range(n_outputs):
            one += [(o, term, True) for term in terms] + [(o, "variance", False)]
        one += [(i, f"cov(y{j},y{i})", False) for i, j in pairs if i != j]
        if free:
            one.append((0, "df", False))
        labels = [(k, *label) for k in range(n_experts) for label in one]
        return estimates.ravel(), labels

    def _info_pieces(self, X, y):
        coef, cov, pairs, (df, free), layout = self._info_general_parts()
        pieces = LocationScale(self._info_design(X), y, coef, cov, pairs, df)
        derivatives = None
        if free:
            derivatives = self._info_df_derivatives(pieces.d.T)
        return pieces, derivatives, layout

    def _info_scores_general(self, X, y):
        pieces, derivatives, layout = self._info_pieces(X, y)
        first = None if derivatives is None else derivatives[0]
        return pieces.scores(first)[:, :, layout]

    def _info_curvature_general(self, X, y, weights):
        pieces, derivatives, layout = self._info_pieces(X, y)
        second = None if derivatives is None else derivatives[1]
        return pieces.curvature(weights, second)[:, layout][:, :, layout]

    def _info_penalty_general(self, X, sample_weight):
        coef, cov, pairs, (_, free), layout = self._info_general_parts()
        ridge = self.alpha * float(sample_weight.sum())
        ridge *= column_variance(self._features(X), sample_weight)
        if self.fit_intercept:
            ridge = np.append(0.0, ridge)
        hess = location_scale_penalty(coef, cov, pairs, ridge, free)
        return hess[:, layout][:, :, layout]


def _block_diagonal(blocks):
    """(K, m, s, s) blocks as K block-diagonal matrices (K, m s, m s)."""
    n_experts, n_outputs, size, _ = blocks.shape
    out = np.zeros((n_experts, n_outputs, size, n_outputs, size))
    outputs = np.arange(n_outputs)
    out[:, outputs, :, outputs, :] = blocks.transpose(1, 0, 2, 3)
    return out.reshape(n_experts, n_outputs * size, n_outputs * size)
