"""Softmax (multinomial logistic) experts for classification."""

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
from ..gates._softmax import default_inner_iter, resolve_multinomial_solver


class LogisticExpert(BaseEstimator):
    """K softmax experts ``P_k(c | x) = softmax(coef_[k] @ x + intercept_[k])_c``.

    Each expert is a multinomial logistic regression fitted with the
    responsibilities as sample weights; the M-step maximizes
    ``sum_i w_i h_ik log P_k(y_i | x_i) - alpha/2 ||coef_k||^2`` far enough to
    increase it. With one expert this is scikit-learn's
    ``LogisticRegression(C=1/alpha)`` (``C=2/alpha`` for two classes, which
    scikit-learn parametrizes by a single weight vector).

    Parameters
    ----------
    alpha : float, default=1e-2
        L2 penalty on the expert weights. It must be positive when an expert
        may see linearly separable data, or its weights grow without bound.
    solver : {"auto", "newton", "bound", "lbfgs"}, default="auto"
        M-step solver, as for :class:`~mixexp.gates.SoftmaxGate`.
    max_iter : int, default=None
        Solver steps per M-step (None: 1 for Newton and the bound, 10 for
        L-BFGS).
    tol : float, default=1e-12
        Inner steps stop once the relative gain falls below ``tol``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_experts, n_classes, n_features)
    intercept_ : ndarray of shape (n_experts, n_classes)
    solver_ : str
        The solver actually used.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(400, 2))
    >>> y = np.where(X[:, 0] < 0, X[:, 1] > 0, X[:, 1] < 0).astype(int)
    >>> moe = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    >>> moe.experts_.predict_proba(X).shape
    (400, 2, 2)
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"auto", "newton", "bound", "lbfgs"})],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, alpha=1e-2, solver="auto", max_iter=None, tol=1e-12):
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol

    # ----------------------------------------------------------------- public
    def predict_proba(self, X):
        """Each expert's class probabilities.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated input.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts, n_classes)
        """
        check_component_fitted(self)
        V = self._params()
        out = np.empty(V.shape[:2] + (X.shape[0],))
        for rows, Xt in design_chunks(X, 0.0, 8192):
            out[:, :, rows] = softmax(batch_logits(Xt, V))[1]
        return out.transpose(2, 0, 1)

    # ------------------------------------------------- protocol of the driver
    def _prepare(self, data):
        """Check the parameters and choose the solver for this fit."""
        self._validate_params()
        self.solver_ = resolve_multinomial_solver(
            self.solver, data.n_classes, data.X.shape[1] + 1
        )
        self._curvature_sample = None
        if self.solver_ == "newton":
            size = curvature_rows(data.n_classes, data.X.shape[1] + 1)
            self._curvature_sample = data.curvature_sample(size)

    def _reset(self, data):
        """Experts start uniform over the classes."""
        shape = (data.n_experts, data.n_classes)
        self.coef_ = np.zeros(shape + (data.X.shape[1],))
        self.intercept_ = np.zeros(shape)

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
        n_experts, n_classes, n_features = self.coef_.shape
        return n_experts * (n_classes - 1) * (n_features + 1)

    def _mask(self):
        mask = np.ones(self.coef_.shape[2] + 1)
        mask[-1] = 0.0
        return mask

    def _params(self, data=None):
        """Weights on design rows ``[x - x_offset, 1]``: shape (K, C, p)."""
        intercept = self.intercept_
        if data is not None:
            intercept = intercept + self.coef_ @ data.x_offset
        return np.concatenate([self.coef_, intercept[:, :, None]], axis=2)

    def _set_params_design(self, V, offset):
        self.coef_ = V[:, :, :-1].copy()
        self.intercept_ = V[:, :, -1] - self.coef_ @ offset

    def _penalty(self):
        return 0.5 * self.alpha * float(np.sum(self.coef_**2))

    def _log_likelihood(self, Xt, y, V):
        """log P_k(y_i | x_i) of shape (K, n_rows), and a cache for
        ``_accumulate``."""
        log_prob, prob = softmax(batch_logits(Xt, V))
        log_lik = np.take_along_axis(log_prob, y[None, None, :], axis=1)[:, 0, :]
        return log_lik, (log_prob, prob, y)

    @staticmethod
    def _one_hot(y, n_classes):
        out = np.zeros((1, n_classes, y.shape[0]))
        out[0, y, np.arange(y.shape[0])] = 1.0
        return out

    def _accumulate(self, stats, Xt, weights, cache, V):
        log_prob, prob, y = cache
        part = chunk_stats(
            Xt,
            V,
            weights,
            self._one_hot(y, V.shape[1]),
            hessian=self.solver_ == "newton" and self._curvature_sample is None,
            softmax_out=(log_prob, prob),
        )
        if self.solver_ == "bound":
            part["grams"] = weighted_grams(Xt, weights)
        add_stats(stats, part)

    def _m_step(self, stats, data):
        weight, resp, y = data.sample_weight, data.resp, data.y
        n_classes = data.n_classes
        solver = self.solver_

        def pass_stats(W, hessian):
            return data.reduce(
                lambda rows, Xt: chunk_stats(
                    Xt,
                    W,
                    weight[None, rows] * resp[:, rows],
                    self._one_hot(y[rows], n_classes),
                    hessian=hessian,
                )
            )

        bound = None
        if solver == "bound":
            bound = bound_system(stats.pop("grams"), self.alpha, self._mask())
        sample_curvature = None
        if self._curvature_sample is not None:
            rows, Xt_sample, weight_sample = self._curvature_sample

            def sample_curvature(W):
                return curvature(Xt_sample, W, weight_sample * resp[:, rows])

        V, self._pending = maximize(
            self._params(data),
            pass_stats,
            alpha=self.alpha,
            mask=self._mask(),
            solver=solver,
            max_iter=default_inner_iter(solver, self.max_iter),
            tol=self.tol,
            first=stats,
            bound_matrices=bound,
            curvature=sample_curvature,
            optimistic=True,
        )
        self._set_params_design(V, data.x_offset)
