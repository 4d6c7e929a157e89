"""Linear-Gaussian experts: all K ridge regressions solved together."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from .._component import check_component_fitted, map_chunks
from .._data import add_stats
from .._linalg import psd_solve, weighted_grams

_LOG_2PI = np.log(2.0 * np.pi)


class LinearExpert(BaseEstimator):
    """K linear-Gaussian experts ``y | x, k ~ N(W_k^T [x, 1], diag(s_k^2))``.

    The M-step is one weighted ridge regression per expert, all solved
    together from stacked weighted Gram matrices, followed by the noise
    variances from the weighted residuals. It maximizes

        sum_i w_i h_ik log N(y_i; W_k^T x_i, s_k^2) - alpha ||coef_k||^2 / (2 s_k^2)

    exactly (the ridge penalty scaled by the noise, a conjugate prior), so
    ``coef_`` equals :class:`~sklearn.linear_model.Ridge` fitted with sample
    weights ``w_i h_ik``; the intercept is not penalized.

    Parameters
    ----------
    alpha : float, default=1e-6
        Ridge penalty on the expert coefficients (as in ``Ridge(alpha)``).
    min_variance : float, default=1e-6
        Floor on each noise variance, relative to the weighted variance of
        the target; it stops an expert from collapsing onto a few points.

    Attributes
    ----------
    coef_ : ndarray of shape (n_experts, n_features) or \
            (n_experts, n_outputs, n_features)
        Expert coefficients (the second form for 2-D targets).
    intercept_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
    noise_variance_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        Noise variance of each expert (and output).

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.where(X[:, 0] < 0, -X[:, 0], 2 * X[:, 0]) + 0.1 * rng.randn(300)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> np.sort(moe.experts_.coef_[:, 0]).round(1)
    array([-1.,  2.])
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "min_variance": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, alpha=1e-6, min_variance=1e-6):
        self.alpha = alpha
        self.min_variance = min_variance

    # ----------------------------------------------------------------- public
    def predict(self, X):
        """Each expert's mean prediction.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated input.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_experts) or \
                (n_samples, n_experts, n_outputs)
        """
        check_component_fitted(self)
        W = self._params()[0]
        out = map_chunks(X, lambda Xt: self._mean(Xt, W), W.shape[:2])
        out = out.transpose(2, 0, 1)
        return out[:, :, 0] if self._single_output else out

    # ------------------------------------------------- protocol of the driver
    def _prepare(self, data):
        """Check the parameters; centre and floor the targets of this fit."""
        self._validate_params()
        self._single_output = data.single_output
        y, w = data.y, data.sample_weight
        y_mean = (w @ y) / data.total_weight
        y_var = (w @ (y - y_mean) ** 2) / data.total_weight
        data.cache["expert_y_offset"] = y_mean
        data.cache["expert_y_var"] = y_var
        data.cache["expert_floor"] = self.min_variance * np.where(y_var > 0, y_var, 1.0)

    def _reset(self, data):
        """Every expert starts as the constant model of the whole target."""
        y_mean, y_var = data.cache["expert_y_offset"], data.cache["expert_y_var"]
        floor = data.cache["expert_floor"]
        n_experts = data.n_experts
        self._set_arrays(
            np.zeros((n_experts, y_mean.shape[0], data.X.shape[1])),
            np.tile(y_mean, (n_experts, 1)),
            np.tile(np.maximum(y_var, floor), (n_experts, 1)),
        )

    def _set_arrays(self, coef, intercept, variance):
        """Store (K, m, d), (K, m), (K, m) arrays in the public shapes."""
        if self._single_output:
            coef, intercept, variance = coef[:, 0], intercept[:, 0], variance[:, 0]
        self.coef_, self.intercept_, self.noise_variance_ = coef, intercept, variance

    def _arrays(self):
        coef, intercept, variance = self.coef_, self.intercept_, self.noise_variance_
        if self._single_output:
            coef, intercept, variance = (
                coef[:, None],
                intercept[:, None],
                variance[:, None],
            )
        return coef, intercept, variance

    def _n_parameters(self):
        coef, _, variance = self._arrays()
        n_experts, n_outputs, n_features = coef.shape
        return n_experts * n_outputs * (n_features + 2)

    def _params(self, data=None):
        """Parameters on design rows: during a fit the rows are ``[x - x_offset, 1]``
        and the targets ``y - y_offset``; at prediction both offsets are zero.

        Returns ``(W, y_offset, variance)`` with W of shape (K, m, p).
        """
        coef, intercept, variance = self._arrays()
        y_offset = np.zeros(coef.shape[1])
        if data is not None:
            y_offset = data.cache["expert_y_offset"]
            intercept = intercept + coef @ data.x_offset - y_offset
        return np.concatenate([coef, intercept[:, :, None]], axis=2), y_offset, variance

    def _penalty(self):
        coef, _, variance = self._arrays()
        return 0.5 * self.alpha * float(np.sum(np.sum(coef**2, axis=2) / variance))

    @staticmethod
    def _mean(Xt, W):
        """(K, m, n_rows) predictions on design columns."""
        n_experts, n_outputs, p = W.shape
        return (W.reshape(n_experts * n_outputs, p) @ Xt).reshape(
            n_experts, n_outputs, Xt.shape[1]
        )

    def _log_likelihood(self, Xt, y, params):
        """log N(y_i; mean_ik, s_k^2) of shape (K, n_rows), and a cache for
        ``_accumulate`` (the centred targets, (m, n_rows))."""
        W, y_offset, variance = params
        y = y.T - y_offset[:, None]
        resid = y[None] - self._mean(Xt, W)
        resid *= resid
        resid *= (-0.5 / variance)[:, :, None]
        log_lik = resid.sum(axis=1)
        log_lik -= 0.5 * np.sum(np.log(variance) + _LOG_2PI, axis=1)[:, None]
        return log_lik, y

    def _accumulate(self, stats, Xt, weights, cache, params):
        """Stacked Gram matrices, cross products and target moments."""
        y = cache
        products = weighted_grams(Xt, weights, np.vstack([Xt, y]))
        p = Xt.shape[0]
        add_stats(
            stats,
            {
                "gram": products[:, :, :p],
                "xty": products[:, :, p:],
                "yty": weights @ (y * y).T,
                "count": weights.sum(axis=1),
            },
        )

    # The closed-form M-step is exact: there is never a step to verify.
    _pending = None

    def _end_fit(self):
        """Nothing fit-time to drop (offsets and floors live in the data)."""

    def _m_step(self, stats, data):
        offset, y_offset = data.x_offset, data.cache["expert_y_offset"]
        floor = data.cache["expert_floor"]
        gram, xty, count = stats["gram"], stats["xty"], stats["count"]
        p = gram.shape[-1]
        ridge = np.full(p, self.alpha)
        ridge[-1] = 0.0
        W = psd_solve(gram + np.diag(ridge)[None], xty)
        # RSS + alpha ||coef||^2 = y'Hy - W'X'Hy at the ridge solution.
        scatter = np.maximum(stats["yty"] - np.sum(W * xty, axis=1), 0.0)
        alive = count > 0
        variance = np.empty_like(scatter)
        variance[alive] = np.maximum(scatter[alive] / count[alive, None], floor)
        coef, intercept, old_variance = self._arrays()
        variance[~alive] = old_variance[~alive]
        new_coef = W[:, :-1, :].transpose(0, 2, 1).copy()
        new_intercept = W[:, -1, :] - new_coef @ offset + y_offset
        new_coef[~alive] = coef[~alive]
        new_intercept[~alive] = intercept[~alive]
        self._set_arrays(new_coef, new_intercept, variance)
