"""Linear-Gaussian experts: all K ridge regressions solved together."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from .._component import check_component_fitted, map_chunks
from .._data import add_stats
from .._linalg import psd_solve, weighted_grams
from .._online import running_average

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
    def _predict_pairs(self, X, samples, experts):
        """Means of the given (sample, expert) pairs only: (n_pairs, m)."""
        coef, intercept, _ = self._arrays()
        return np.einsum("id,imd->im", X[samples], coef[experts]) + intercept[experts]

    def _prepare(self, data):
        """Check the parameters; centre and floor the targets of this fit
        (unless partial_fit carries them over from its first batch)."""
        self._validate_params()
        self._single_output = data.single_output
        if "expert_y_offset" not in data.cache:
            y, w = data.y, data.sample_weight
            y_mean = (w @ y) / data.total_weight
            y_var = (w @ (y - y_mean) ** 2) / data.total_weight
            data.cache["expert_y_offset"] = y_mean
            data.cache["expert_y_var"] = y_var
            floor = self.min_variance * np.where(y_var > 0, y_var, 1.0)
            data.cache["expert_floor"] = floor
        self._floor = data.cache["expert_floor"]

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

    # ------------------------------------------------------- online EM
    _STAT_KEYS = ("gram", "xty", "yty", "count")

    def _prepare_online(self):
        """The exact M-step works on averaged statistics as they are."""

    def _online_update(self, stats, data, store, gamma, seen, update):
        """Exact M-step on the running averages, scaled to the weight seen."""
        running_average(store, stats, data.total_weight, gamma, self._STAT_KEYS)
        if update:
            self._m_step({key: store[key] * seen for key in self._STAT_KEYS}, data)

    # -------------------------------------------- gradient-based training
    # Gradient solvers train W (design space) and eta with variance
    # floor + exp(eta), which keeps every variance above its floor.
    def _theta(self, data):
        W, _, variance = self._params(data)
        floor = data.cache["expert_floor"]
        excess = np.maximum(variance - floor, 1e-300)
        return [W, np.log(excess)]

    def _set_theta(self, theta, data):
        W, eta = theta
        coef = W[:, :, :-1].copy()
        intercept = W[:, :, -1] - coef @ data.x_offset + data.cache["expert_y_offset"]
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
        return [d_W, d_eta]

    def _refit_noise(self, gate, data):
        """Noise variances from the gate-weighted residuals (after training on
        a loss without a noise model), floored as in the M-step."""
        W, y_offset, old = self._params(data)
        gate_params = gate._params(data)
        weight = data.sample_weight

        def part(rows, Xt):
            share = np.exp(gate._log_proba(Xt, gate_params)[0]) * weight[rows]
            resid = (data.y[rows].T - y_offset[:, None])[None] - self._mean(Xt, W)
            return {
                "sq": np.einsum("kn,kmn->km", share, resid * resid),
                "count": share.sum(axis=1),
            }

        stats = data.reduce(part)
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
        sq_norms = np.sum(weights * weights, axis=2)
        d_W = np.zeros_like(W)
        if not by_variance:
            d_W[:, :, :-1] = self.alpha * weights
            return 0.5 * self.alpha * float(sq_norms.sum()), [d_W, np.zeros_like(eta)]
        variance = self._floor + np.exp(eta)
        d_W[:, :, :-1] = self.alpha * weights / variance[:, :, None]
        d_eta = -0.5 * self.alpha * sq_norms / variance**2 * np.exp(eta)
        return 0.5 * self.alpha * float(np.sum(sq_norms / variance)), [d_W, d_eta]

    # The closed-form M-step is exact: there is never a step to verify.
    _pending = None

    def _end_fit(self):
        """Drop fit-time scratch."""
        self.__dict__.pop("_floor", None)

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
