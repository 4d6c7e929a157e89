"""Mixture of linear-Gaussian experts for regression."""

from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array

from ._base import BaseMixtureOfExperts
from ._dask import dask_rows
from ._data import check_magnitude
from ._docs import PARTIAL_FIT_DOC, REGRESSOR_ATTRIBUTES, document
from ._validation import CheckedRegressorMixin, check_targets
from .experts import LinearExpert

# Bisection halves the bracket of a quantile each step: 60 steps take the
# spread of the experts' own quantiles down to rounding.
_BISECTIONS = 60


def _continuous_quantile(cdf, q, low, high):
    """The t in [low, high] (n, m) where the increasing ``cdf(t)`` crosses
    q, by bisection."""
    for _ in range(_BISECTIONS):
        mid = 0.5 * (low + high)
        below = cdf(mid) < q
        low = np.where(below, mid, low)
        high = np.where(below, high, mid)
    return 0.5 * (low + high)


def _integer_quantile(cdf, q, low, high):
    """The smallest integer t with ``cdf(t) >= q`` (n, m), exactly: a
    bisection over the integers of a bracket from the experts' own
    quantiles (``low - 1`` below q, ``high`` at or above it), each bound
    checked and widened if rounding left it on the wrong side."""
    low = np.maximum(low - 1.0, -1.0)
    low = np.where(cdf(low) < q, low, -1.0)  # the CDF is 0 below 0
    for _ in range(2100):  # doubling reaches any float in about 1100 steps
        short = cdf(high) < q
        if not short.any():
            break
        high = np.where(short, 2.0 * high + 1.0, high)
    while True:  # invariant: cdf(low) < q <= cdf(high)
        mid = np.floor(0.5 * (low + high))
        # Past 2**53 the floats have no integer between low and high.
        open_ = (high - low > 1) & (mid > low) & (mid < high)
        if not open_.any():
            return high
        below = cdf(mid) < q
        low = np.where(open_ & below, mid, low)
        high = np.where(open_ & ~below, mid, high)


def _numeric_targets(y, name):
    """y as float64, or a ValueError that says what to do instead."""
    check_targets(y, numeric_for=name)
    return check_magnitude(np.asarray(y).astype(np.float64, copy=False), "y")


@document("regression", attributes=REGRESSOR_ATTRIBUTES)
class MixtureOfExpertsRegressor(CheckedRegressorMixin, BaseMixtureOfExperts):
    """Mixture of linear experts with a softmax gate, fitted by EM.

    The adaptive mixture of local experts (Jacobs, Jordan, Nowlan & Hinton
    1991) trained by expectation-maximization (Jordan & Jacobs 1994):

        p(y | x) = sum_k g_k(x) N(y; W_k^T [x, 1], diag(s_k^2)),
        g(x) = softmax(V^T [x, 1]).

    The E-step computes each expert's responsibility for each sample in log
    space; the M-step solves all K weighted ridge regressions together and
    improves the gate as a multinomial logistic regression on the
    responsibilities. The penalized log-likelihood never decreases.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    MixtureOfExpertsClassifier : The same model with softmax experts.
    sklearn.mixture.GaussianMixture : Unconditional mixtures fitted by EM.

    References
    ----------
    Jacobs, Jordan, Nowlan & Hinton (1991). Adaptive mixtures of local
    experts. Neural Computation 3(1), 79-87.

    Jordan & Jacobs (1994). Hierarchical mixtures of experts and the EM
    algorithm. Neural Computation 6(2), 181-214.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(500, 1))
    >>> y = np.where(X[:, 0] < 0, 1 - X[:, 0], 2 * X[:, 0]) + 0.1 * rng.randn(500)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> np.sort(moe.experts_.coef_[:, 0]).round(1)
    array([-1.,  2.])
    >>> moe.predict_gate_proba([[-2.0], [2.0]]).round(2)
    array([[1., 0.],
           [0., 1.]])
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        # An expert may narrow the targets it models (PoissonExpert: one
        # non-negative column).
        for name, value in getattr(self.expert, "_target_tags", {}).items():
            setattr(tags.target_tags, name, value)
        return tags

    def _target_check(self):
        tags = getattr(self.expert, "_target_tags", {})
        return {"multi_output": tags.get("multi_output", True), "y_numeric": True}

    _task = "regression"

    def _default_expert(self):
        return LinearExpert()

    def _encode_fit_targets(self, y, data_kwargs):
        y = _numeric_targets(y, type(self).__name__)
        data_kwargs["single_output"] = y.ndim == 1
        data_kwargs["fitted_outputs"] = getattr(self, "n_outputs_", None)
        y = y.reshape(y.shape[0], -1)
        self.n_outputs_ = y.shape[1]
        return y

    def _check_warm_components(self, gate, experts, data):
        super()._check_warm_components(gate, experts, data)
        if experts._single_output != data.single_output or (
            getattr(data, "fitted_outputs", None) not in (None, self.n_outputs_)
        ):
            raise ValueError(
                "warm_start=True but the shape of y changed since the last fit; "
                "set warm_start=False to fit from scratch."
            )

    @document(
        "partial_fit",
        "regression",
        template=PARTIAL_FIT_DOC,
        name="MixtureOfExpertsRegressor",
        maker="make_piecewise_linear",
        k=3,
        extra="",
    )
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        return self._atomic(self._partial_fit, X, y, sample_weight)

    partial_fit = available_if(BaseMixtureOfExperts._online_possible)(partial_fit)

    def _encode_first_batch(self, y, classes, data_kwargs):
        return self._encode_fit_targets(y, data_kwargs)

    def _target_kwargs(self, data_kwargs):
        data_kwargs["single_output"] = self.experts_._single_output

    def _encode_targets(self, y):
        y = check_array(
            _numeric_targets(y, type(self).__name__), ensure_2d=False, dtype=np.float64
        )
        y = y.reshape(y.shape[0], -1)
        if y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} output column(s) but the model was fitted on "
                f"{self.n_outputs_}."
            )
        return y

    def _score_components(self, gate, experts, X, y):
        gate_X, expert_X = self._split(X)
        means = experts.predict(expert_X).reshape(X.shape[0], self.n_experts, -1)
        pred = np.einsum("nk,nkm->nm", gate.predict_proba(gate_X), means)
        return r2_score(y, pred)

    def _init_features(self, X, y):
        return np.hstack([X, y.astype(X.dtype, copy=False)])

    @dask_rows
    def predict(self, X, return_std=False):
        """Mixture mean: sum_k g_k(x) times expert k's prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        return_std : bool, default=False
            Also return the standard deviation of the predictive mixture
            distribution, as GaussianProcessRegressor does: the square root
            of ``sum_k g_k (v_k + (mu_k - mu)^2)`` (the law of total variance
            in centred form, so an offset of the targets cannot cancel it
            away) with ``v_k`` expert k's variance: its noise variance
            (``s_k^2 nu_k / (nu_k - 2)`` for a t expert, infinite when
            ``nu_k <= 2``), or its mean for a Poisson expert.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The mean of the predictive mixture distribution.
        y_std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Its standard deviation; only with ``return_std=True``, per
            output for 2-D targets.

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> mean, std = moe.predict(X[:2], return_std=True)
        >>> std.shape
        (2,)
        """
        X = self._validate_X(X)
        if return_std:
            gate, marginals = self._predictive(X)
            means = marginals[0]
            mean = np.einsum("nk,nkm->nm", gate, means)
            # Terms with zero gate weight must not turn an infinite variance
            # into NaN (0 * inf).
            variance = self.experts_._marginal_variance(marginals)
            noise = np.where(gate[:, :, None] > 0, variance, 0.0)
            spread = (means - mean[:, None, :]) ** 2
            std = np.sqrt(np.einsum("nk,nkm->nm", gate, noise + spread))
            return self._shape_output(mean), self._shape_output(std)
        return self._predict_mean(X)

    def _predict_mean(self, X):
        """``predict`` of validated X."""
        mean = self._mix(
            X, lambda Xg, Xe: (self.gate_.predict_proba(Xg), self.experts_.predict(Xe))
        )
        return self._shape_output(mean.reshape(X.shape[0], -1))

    def _shape_output(self, values):
        """(n, m) arrays as (n,) for a 1-D target."""
        return values[:, 0] if self.experts_._single_output else values

    def _predictive(self, X):
        """Gate (n, K) and the experts' per-output predictive marginals (see
        ``Expert._marginals``: a tuple whose first entry is the means
        (n, K, m))."""
        gate_X, expert_X = self._split(X)
        return self.gate_.predict_proba(gate_X), self.experts_._marginals(expert_X)

    def sample_y(self, X, n_samples=1, random_state=0):
        """Draw targets from the predictive mixture distribution.

        Each draw picks an expert with the gate's probabilities, then draws
        from that expert: its prediction plus its noise (Gaussian, or t), or
        a Poisson count with its mean.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Inputs.
        n_samples : int, default=1
            Draws per input.
        random_state : int, RandomState instance or None, default=0
            Seeds the draws, as in GaussianProcessRegressor.sample_y.

        Returns
        -------
        y_samples : ndarray of shape (n_samples_X, n_samples) or \
                (n_samples_X, n_outputs, n_samples)
            Draws from ``p(y | x)``, ``n_samples`` for each input.

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> moe.sample_y(X[:4], n_samples=10).shape
        (4, 10)
        """
        if isinstance(n_samples, bool | np.bool_):  # an Integral, but a typo
            raise TypeError(f"n_samples must be a positive int, got {n_samples!r}.")
        check_scalar(n_samples, "n_samples", Integral, min_val=1)
        X = self._validate_X(X)
        rng = check_random_state(random_state)
        gate, marginals = self._predictive(X)
        n = X.shape[0]
        # Expert of every draw: one uniform per draw against the gate's CDF.
        cumulative = np.cumsum(gate, axis=1)
        draws = rng.uniform(size=(n, n_samples)) * cumulative[:, -1:]
        experts = np.minimum(
            (draws[:, :, None] >= cumulative[:, None, :]).sum(axis=2),
            gate.shape[1] - 1,
        )
        rows = np.repeat(np.arange(n), n_samples)
        experts = experts.ravel()
        values = self.experts_._marginal_draw(marginals, rows, experts, rng)
        values = values.reshape(n, n_samples, -1).transpose(0, 2, 1)
        return values[:, 0] if self.experts_._single_output else values

    def predict_quantiles(self, X, quantiles=(0.05, 0.5, 0.95)):
        """Compute quantiles of the predictive mixture distribution.

        The q-quantile solves ``sum_k g_k(x) F_k(t | x) = q`` (per output for
        2-D targets), found by bisection between the smallest and the
        largest of the experts' own q-quantiles, which bracket it. For count
        experts (:class:`~mixexp.experts.PoissonExpert`) the mixture is
        discrete, and the q-quantile is exactly the smallest integer t with
        ``sum_k g_k(x) F_k(t | x) >= q``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        quantiles : array-like of shape (n_quantiles,), default=(0.05, 0.5, 0.95)
            Probabilities in (0, 1).

        Returns
        -------
        y_quantiles : ndarray of shape (n_samples, n_quantiles) or \
                (n_samples, n_outputs, n_quantiles)
            The quantiles of ``p(y | x)``, in the order of ``quantiles``.

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> low, high = moe.predict_quantiles(X, [0.05, 0.95]).T
        >>> bool(0.85 < ((low <= y) & (y <= high)).mean() < 0.95)
        True
        """
        quantiles = np.asarray(quantiles, dtype=float).reshape(-1)
        if quantiles.size == 0 or not np.all((quantiles > 0) & (quantiles < 1)):
            raise ValueError(
                f"quantiles must be probabilities strictly between 0 and 1, got "
                f"{quantiles.tolist()}."
            )
        X = self._validate_X(X)
        gate, marginals = self._predictive(X)
        experts = self.experts_
        means = marginals[0]
        search = _integer_quantile if experts._integer_support else _continuous_quantile

        def cdf(t):  # the mixture's CDF at t (n, m)
            return np.einsum("nk,nkm->nm", gate, experts._marginal_cdf(marginals, t))

        out = np.empty(means.shape[:1] + means.shape[2:] + quantiles.shape)
        for j, q in enumerate(quantiles):  # a loop over the requested levels
            # Each expert's own q-quantile; the mixture's lies between them.
            own = experts._marginal_quantile(marginals, q)
            out[..., j] = search(cdf, q, own.min(axis=1), own.max(axis=1))
        return out[:, 0] if self.experts_._single_output else out

    @dask_rows
    def predict_experts(self, X):
        """Each expert's own prediction, ignoring the gate.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        expert_predictions : ndarray of shape (n_samples, n_experts) or \
                (n_samples, n_experts, n_outputs)
            Each expert's own prediction (its mean), whatever the gate says.
        """
        return self.experts_.predict(self._split(self._validate_X(X))[1])
