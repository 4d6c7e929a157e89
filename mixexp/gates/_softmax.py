"""The softmax gate of Jacobs et al. (1991) and Jordan & Jacobs (1994)."""

import numpy as np

from .._component import MultinomialComponent, check_component_fitted, map_chunks
from .._linalg import weighted_grams
from .._multinomial import batch_logits, softmax


class SoftmaxGate(MultinomialComponent):
    """Softmax gate: ``g(x) = softmax(coef_ @ x + intercept_)``.

    A multinomial logistic regression whose classes are the experts, fitted in
    the M-step on the responsibilities as soft targets (Jordan & Jacobs 1994).
    The M-step maximizes ``sum_i w_i sum_k h_ik log g_k(x_i) - alpha/2 ||coef_||^2``
    (the intercept is not penalized) far enough to increase it, which is all a
    generalized EM needs.

    Parameters
    ----------
    alpha : float, default=1e-6
        L2 penalty on the gate weights. Keep it small: a sharp switch between
        experts needs large weights.
    solver : {"auto", "newton", "bound", "lbfgs"}, default="auto"
        How the M-step improves the gate. ``"newton"``: full Newton steps with
        backtracking (cost grows as ``(n_experts * n_features)^2``).
        ``"bound"``: Böhning's (1992) fixed bound on the Hessian, factorized
        once per fit; each step is one gradient pass plus a small solve and
        never decreases the objective. ``"lbfgs"``: warm-started L-BFGS.
        ``"auto"`` uses Newton while ``n_experts * (n_features + 1) <= 256``
        and L-BFGS above (measured in benchmarks/bench_gate_solvers.py).
    max_iter : int, default=None
        Solver steps per M-step; None means 1 for Newton and the bound, 10
        for L-BFGS.
    tol : float, default=1e-12
        Inner steps stop once the relative gain falls below ``tol``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_experts, n_features)
        Gate weights.
    intercept_ : ndarray of shape (n_experts,)
        Gate intercepts. Rows of ``[coef_, intercept_]`` sum to zero over
        experts (the symmetric parametrization).
    solver_ : str
        The solver actually used.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.where(X[:, 0] < 0, -X[:, 0], 2 * X[:, 0]) + 0.1 * rng.randn(300)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> moe.gate_.predict_proba(X).shape
    (300, 2)
    """

    def __init__(self, alpha=1e-6, solver="auto", max_iter=None, tol=1e-12):
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol

    # ----------------------------------------------------------------- public
    def predict_log_proba(self, X):
        """Log gate probabilities.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated input.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_experts)
        """
        check_component_fitted(self)
        V = self._params()
        return map_chunks(X, lambda Xt: self._log_proba(Xt, V)[0], V.shape[1:2]).T

    def predict_proba(self, X):
        """Gate probabilities g_k(x).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated input.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            Rows sum to one.
        """
        return np.exp(self.predict_log_proba(X))

    # ------------------------------------------------- protocol of the driver
    _bound_grams_in_pass = False  # the bound's Gram matrix needs the weights only

    def _n_choices(self, data):
        return data.n_experts

    def _reset(self, data):
        """Start from the uniform gate."""
        self.coef_ = np.zeros((data.n_experts, data.X.shape[1]))
        self.intercept_ = np.zeros(data.n_experts)

    def _stacked(self):
        return self.coef_[None], self.intercept_[None]

    def _store(self, coef, intercept):
        self.coef_, self.intercept_ = coef[0], intercept[0]

    def _problem_weights(self, weight, data, rows):
        return weight[None]

    def _targets(self, data, rows):
        return data.resp[None, :, rows]

    def _bound_grams(self, stats, data):
        grams = data.cache.get("gate_bound_grams")
        if grams is None:  # depends on the sample weights only: once per fit
            weight = data.sample_weight
            grams = data.reduce(
                lambda rows, Xt: {"A": weighted_grams(Xt, weight[None, rows])}
            )["A"]
            data.cache["gate_bound_grams"] = grams
        return grams

    def _revive(self, experts):
        """Give re-seeded experts a neutral gate row (zero before re-centring)."""
        self.coef_[experts] = 0.0
        self.intercept_[experts] = 0.0
        self.coef_ -= self.coef_.mean(axis=0)
        self.intercept_ -= self.intercept_.mean()

    def _log_proba(self, Xt, V):
        """log g on design columns, shape (K, n_rows), and a cache for
        ``_accumulate`` (the softmax outputs)."""
        if V.shape[1] == 1:
            return np.zeros((1, Xt.shape[1])), None
        log_prob, prob = softmax(batch_logits(Xt, V))
        return log_prob[0], (log_prob, prob)

    @staticmethod
    def _backward(Xt, d_logits):
        """Gradient of the loss for the gate's parameters from dE/dlogits."""
        return [(d_logits @ Xt.T)[None]]

    def _accumulate(self, stats, Xt, weight, resp, cache, V):
        if V.shape[1] > 1:
            self._accumulate_multinomial(stats, Xt, weight[None], resp[None], cache, V)
