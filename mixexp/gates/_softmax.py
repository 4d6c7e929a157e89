"""The softmax gate of Jacobs et al. (1991) and Jordan & Jacobs (1994)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from .._component import check_component_fitted
from .._data import add_stats, design_chunks
from .._linalg import weighted_grams
from .._multinomial import (
    batch_logits,
    bound_system,
    chunk_stats,
    curvature,
    curvature_rows,
    maximize,
    softmax,
)

# benchmarks/bench_gate_solvers.py: one Newton step per EM iteration gives the
# fastest whole fits while K (d + 1) stays below a few hundred (its Hessian
# costs K (K + 1) / 2 weighted Gram products on a row sample, and its solve
# grows as (K (d + 1))^3); above that, warm-started L-BFGS wins. Böhning's
# bound is the cheapest per iteration but needs several times more EM
# iterations, so "auto" never picks it.
_NEWTON_MAX_PARAMS = 256


def resolve_multinomial_solver(solver, n_classes, p):
    """Pick the multinomial M-step solver for ``solver="auto"``."""
    if solver != "auto":
        return solver
    return "newton" if n_classes * p <= _NEWTON_MAX_PARAMS else "lbfgs"


def default_inner_iter(solver, max_iter):
    """Inner steps per M-step (benchmarks/bench_gate_solvers.py): one Newton
    step per EM iteration gives the fastest whole fits, at the same final
    likelihood as more steps; L-BFGS needs a few iterations to build its
    curvature estimate."""
    if max_iter is not None:
        return max_iter
    return {"newton": 1, "bound": 1, "lbfgs": 10}[solver]


class SoftmaxGate(BaseEstimator):
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

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"auto", "newton", "bound", "lbfgs"})],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

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
        out = np.empty((V.shape[1], X.shape[0]))
        for rows, Xt in design_chunks(X, 0.0, 8192):
            out[:, rows] = self._log_proba(Xt, V)[0]
        return out.T

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
    def _prepare(self, data):
        """Check the parameters and choose the solver for this fit."""
        self._validate_params()
        self.solver_ = resolve_multinomial_solver(
            self.solver, data.n_experts, data.X.shape[1] + 1
        )
        self._curvature_sample = None
        if self.solver_ == "newton":
            size = curvature_rows(data.n_experts, data.X.shape[1] + 1)
            self._curvature_sample = data.curvature_sample(size)

    def _reset(self, data):
        """Start from the uniform gate."""
        self.coef_ = np.zeros((data.n_experts, data.X.shape[1]))
        self.intercept_ = np.zeros(data.n_experts)

    def _revive(self, experts):
        """Give re-seeded experts a neutral gate row (zero before re-centring)."""
        self.coef_[experts] = 0.0
        self.intercept_[experts] = 0.0
        self.coef_ -= self.coef_.mean(axis=0)
        self.intercept_ -= self.intercept_.mean()

    def _retreat(self, data):
        """Halve a pending Newton step the EM driver found to lower Q."""
        before, step = self._pending
        step = 0.5 * step
        if np.max(np.abs(step)) <= 1e-12 * (1.0 + np.max(np.abs(before))):
            self._pending = None  # back to the start, which is always safe
            self._set_params_design(before, data.x_offset)
            return
        self._pending = (before, step)
        self._set_params_design(before + step, data.x_offset)

    def _n_parameters(self):
        n_experts, n_features = self.coef_.shape
        return (n_experts - 1) * (n_features + 1)

    def _mask(self):
        mask = np.ones(self.coef_.shape[1] + 1)
        mask[-1] = 0.0
        return mask

    def _params(self, data=None):
        """Parameters on design rows ``[x - x_offset, 1]`` (the offset is zero
        outside a fit), as one multinomial problem: shape (1, K, p)."""
        intercept = self.intercept_
        if data is not None:
            intercept = intercept + self.coef_ @ data.x_offset
        return np.hstack([self.coef_, intercept[:, None]])[None]

    def _set_params_design(self, V, offset):
        self.coef_ = V[0, :, :-1].copy()
        self.intercept_ = V[0, :, -1] - self.coef_ @ offset

    def _penalty(self):
        return 0.5 * self.alpha * float(np.sum(self.coef_**2))

    def _log_proba(self, Xt, V):
        """log g on design columns, shape (K, n_rows), and a cache for
        ``_accumulate`` (the softmax outputs)."""
        if V.shape[1] == 1:
            return np.zeros((1, Xt.shape[1])), None
        log_prob, prob = softmax(batch_logits(Xt, V))
        return log_prob[0], (log_prob, prob)

    def _accumulate(self, stats, Xt, weight, resp, cache, V):
        """Add this chunk's statistics for the first M-step iteration.

        Computed during the E-step pass, so one bound step costs no extra pass.
        """
        if V.shape[1] == 1:
            return
        part = chunk_stats(
            Xt,
            V,
            weight[None, :],
            resp[None],
            hessian=self.solver_ == "newton" and self._curvature_sample is None,
            softmax_out=cache,
        )
        add_stats(stats, part)

    def _m_step(self, stats, data):
        self._pending = None
        if data.n_experts == 1:
            return
        weight, resp = data.sample_weight, data.resp
        solver = self.solver_

        def pass_stats(W, hessian):
            return data.reduce(
                lambda rows, Xt: chunk_stats(
                    Xt, W, weight[None, rows], resp[None, :, rows], hessian=hessian
                )
            )

        bound = None
        if solver == "bound":
            bound = data.cache.get("gate_bound")
            if bound is None:  # depends on the weights only: once per fit
                grams = data.reduce(
                    lambda rows, Xt: {"A": weighted_grams(Xt, weight[None, rows])}
                )["A"]
                bound = bound_system(grams, self.alpha, self._mask())
                data.cache["gate_bound"] = bound
        sample_curvature = None
        if self._curvature_sample is not None:
            _, Xt_sample, weight_sample = self._curvature_sample

            def sample_curvature(W):
                return curvature(Xt_sample, W, weight_sample[None])

        V, self._pending = maximize(
            self._params(data),
            pass_stats,
            alpha=self.alpha,
            mask=self._mask(),
            solver=solver,
            max_iter=default_inner_iter(solver, self.max_iter),
            tol=self.tol,
            first=stats or None,
            bound_matrices=bound,
            curvature=sample_curvature,
            optimistic=True,
        )
        self._set_params_design(V, data.x_offset)
