"""Softmax (multinomial logistic) experts for classification."""

from numbers import Integral

import numpy as np

from .._component import MultinomialComponent, check_component_fitted, map_chunks
from .._contract import Expert, keep_experts
from .._information import (
    column_variance,
    design,
    multinomial_curvature,
    multinomial_penalty,
    multinomial_scores,
    relative,
    term_names,
)
from .._multinomial import batch_logits, softmax
from .._params import Interval
from ._polynomial import PolynomialDesign


class LogisticExpert(PolynomialDesign, MultinomialComponent, Expert):
    """K softmax experts ``P_k(c | x) = softmax(coef_[k] @ phi(x) + intercept_[k])_c``.

    Each expert is a multinomial logistic regression on ``phi(x)``, the
    inputs (``degree=1``) or the monomials of their standardization, fitted
    with the responsibilities as sample weights; the M-step maximizes
    ``sum_i w_i h_ik log P_k(y_i | x_i) - alpha W / 2 sum_j Var(phi_j)
    ||coef_k[:, j]||^2`` far enough to increase it, with ``W = sum_i w_i``
    and ``Var(phi_j)`` the weighted variance of design column j: a penalty
    per unit of sample weight on the weights in standardized units. With one
    expert this is scikit-learn's ``LogisticRegression(C=1/(alpha W))`` on
    the standardized columns of ``phi(x)`` (``C=2/(alpha W)`` for two
    classes, which scikit-learn parametrizes by a single weight vector).

    Parameters
    ----------
    alpha : float, default=1e-4
        L2 penalty on the expert weights, per unit of sample weight and in
        standardized units (so the fit depends neither on the units of the
        inputs nor on the scale of the weights). It must be positive when an
        expert may see linearly separable data, or its weights grow without
        bound.
    degree : int, default=1
        Polynomial experts: ``phi(x)`` holds the monomials up to this degree
        of the inputs standardized as in :class:`LinearExpert`; degree 2
        draws quadratic class boundaries, as
        :class:`~sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis`.
    solver : {"auto", "newton", "block", "bound", "lbfgs"}, default="auto"
        M-step solver, as for :class:`~mixexp.gates.SoftmaxGate`.
    max_iter : int, default=None
        Solver steps per M-step (None: 1 for Newton and the bound, 10 for
        L-BFGS).
    tol : float, default=1e-12
        Inner steps stop once the relative gain falls below ``tol``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_experts, n_classes, n_expert_features)
        One column per feature of ``phi(x)``.
    intercept_ : ndarray of shape (n_experts, n_classes)
    input_mean_, input_scale_ : ndarray of shape (n_expert_inputs,)
        The standardization of the inputs (degree 2 and up), as in
        :class:`LinearExpert`.
    solver_ : str
        The solver actually used.

    See Also
    --------
    mixexp.MixtureOfExpertsClassifier
        The mixture these experts are the default of.

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
    >>> from mixexp.experts import LogisticExpert
    >>> quadratic = MixtureOfExpertsClassifier(
    ...     n_experts=1, expert=LogisticExpert(degree=2), random_state=0
    ... ).fit(X, y)
    >>> quadratic.experts_.coef_.shape  # x0, x1, x0^2, x0 x1, x1^2
    (1, 2, 5)
    """

    _parameter_constraints = {
        **MultinomialComponent._parameter_constraints,
        "degree": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, alpha=1e-4, degree=1, solver="auto", max_iter=None, tol=1e-12):
        self.alpha = alpha
        self.degree = degree
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol

    # ----------------------------------------------------------------- public
    def predict_proba(self, X):
        """Each expert's class probabilities.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated expert inputs (before the polynomial expansion).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts, n_classes)
            Each expert's class probabilities.
        """
        check_component_fitted(self)
        V = self._params()
        proba = map_chunks(
            self._features(X), lambda Xt: softmax(batch_logits(Xt, V))[1], V.shape[:2]
        )
        return proba.transpose(2, 0, 1)

    # ------------------------------------------------- protocol of the driver
    capabilities = frozenset(
        {"em", "gradient", "online", "blockwise", "pruning", "information"}
    )

    def _keep(self, experts):
        keep_experts(self, ("coef_", "intercept_"), experts)

    _task = "classification"

    def _predict_pairs(self, X, samples, experts):
        """Class probabilities of the given (sample, expert) pairs only:
        (n_pairs, n_classes)."""
        Z = self._features(X[samples])
        logits = np.einsum("id,icd->ic", Z, self.coef_[experts])
        logits += self.intercept_[experts]
        return softmax(logits.T[None])[1][0].T

    def _n_choices(self, data):
        return data.n_classes

    def _n_problems(self, data):
        return data.n_experts

    def _reset(self, data):
        """Experts start uniform over the classes."""
        shape = (data.n_experts, data.n_classes)
        self.coef_ = np.zeros(shape + (data.width("experts"),))
        self.intercept_ = np.zeros(shape)

    def _stacked(self):
        return self.coef_, self.intercept_

    def _store(self, coef, intercept):
        self.coef_, self.intercept_ = coef, intercept

    def _problem(self, weight, data, rows):
        return weight * data.resp[:, rows], self._one_hot(data.y[rows], data.n_classes)

    def _bound_grams(self, stats, data):
        return stats.pop("grams")

    @staticmethod
    def _one_hot(y, n_classes):
        out = np.zeros((1, n_classes, y.shape[0]))
        out[0, y, np.arange(y.shape[0])] = 1.0
        return out

    def _log_likelihood(self, Xt, y, V):
        """log P_k(y_i | x_i) of shape (K, n_rows), and a cache for
        ``_accumulate``."""
        log_prob, prob = softmax(batch_logits(Xt, V))
        log_lik = np.take_along_axis(log_prob, y[None, None, :], axis=1)[:, 0, :]
        return log_lik, (log_prob, prob, y)

    # -------------------------------------------- gradient-based training
    def _forward(self, Xt, y, theta, data):
        log_prob, prob = softmax(batch_logits(Xt, theta[0]))
        log_lik = np.take_along_axis(log_prob, y[None, None, :], axis=1)[:, 0, :]
        return {"log_lik": log_lik, "prob": prob, "y": y}

    @staticmethod
    def _log_lik_from(cache):
        return cache["log_lik"]

    @staticmethod
    def _error(cache):
        """Each expert's own error: its cross-entropy -log P_k(y | x)."""
        return -cache["log_lik"]

    @staticmethod
    def _outputs(cache):
        raise ValueError(
            'loss="cooperative" (the squared error of the blended output) is '
            'defined for regression only; use loss="likelihood" or "competitive".'
        )

    def _backward(self, Xt, cache, theta, d_logp=None, d_error=None, d_output=None):
        """Parameter gradient from dE/dlog P_k(y) and dE/d(error_k), (K, n_rows)."""
        coeff = 0.0
        if d_logp is not None:
            coeff = coeff + d_logp
        if d_error is not None:
            coeff = coeff - d_error  # error = -log P
        prob = cache["prob"]
        d_logits = -coeff[:, None, :] * prob
        rows = np.arange(prob.shape[2])
        d_logits[:, cache["y"], rows] += coeff
        n_experts, n_classes, n_rows = d_logits.shape
        grad = d_logits.reshape(n_experts * n_classes, n_rows) @ Xt.T
        return [grad.reshape(n_experts, n_classes, Xt.shape[0])]

    def _accumulate(self, stats, Xt, weights, cache, V):
        log_prob, prob, y = cache
        targets = self._one_hot(y, V.shape[1])
        self._accumulate_multinomial(stats, Xt, weights, targets, (log_prob, prob), V)

    # ------------------------------------------------------- information
    # Each expert's parameters of every class but the first relative to the
    # first's, on the design [1, phi(x)]: (C - 1) blocks of 1 + q per expert,
    # the output index being the class's (into the estimator's ``classes_``).
    # The hooks get the expert inputs before the polynomial expansion.
    def _info_design_params(self):
        """The experts' parameters on ``[1, phi(x)]``, shape (K, C, 1 + q)."""
        return np.concatenate([self.intercept_[:, :, None], self.coef_], axis=2)

    def _info_estimates(self, names):
        beta = relative(self._info_design_params())
        terms = term_names(self._feature_names(names))
        labels = [
            (k, c, term, True)
            for k in range(beta.shape[0])
            for c in range(1, beta.shape[1] + 1)
            for term in terms
        ]
        return beta.ravel(), labels

    def _info_proba(self, Z):
        """Class probabilities (n, K, C) on the design ``Z``."""
        logits = np.einsum("np,kcp->nkc", Z, self._info_design_params())
        return softmax(logits.transpose(1, 2, 0))[1].transpose(2, 0, 1)

    def _info_scores(self, X, y):
        Z = design(self._features(X))
        prob = self._info_proba(Z)
        indicator = np.zeros_like(prob)
        indicator[np.arange(Z.shape[0]), :, y] = 1.0
        return multinomial_scores(Z, indicator, prob)

    def _info_curvature(self, X, y, weights):
        Z = design(self._features(X))
        return multinomial_curvature(Z, self._info_proba(Z), weights)

    def _info_penalty(self, X, sample_weight):
        mask = np.append(0.0, column_variance(self._features(X), sample_weight))
        alpha_total = self.alpha * float(sample_weight.sum())
        block = multinomial_penalty(alpha_total, mask, self.coef_.shape[1])
        return np.broadcast_to(block, (self.coef_.shape[0],) + block.shape).copy()
