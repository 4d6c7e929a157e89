"""The softmax gate of Jacobs et al. (1991) and Jordan & Jacobs (1994)."""

import numpy as np
from scipy.special import expit

from .._component import MultinomialComponent, check_component_fitted, map_chunks
from .._contract import Gate, keep_experts
from .._data import design_chunks
from .._estep import restrict_to_top_k, top_k_mask
from .._information import (
    column_variance,
    design,
    gate_scores,
    multinomial_curvature,
    multinomial_penalty,
    relative,
    term_names,
)
from .._linalg import weighted_grams
from .._multinomial import batch_logits, penalty, softmax


def _through_softmax(d_log_prob, prob):
    """dE/dlogits from dE/dlog p for p = softmax(logits) (renormalized over
    the kept experts for a top-k gate, whose other entries are zero in both)."""
    return d_log_prob - prob * np.sum(d_log_prob, axis=0)


class SoftmaxGate(MultinomialComponent, Gate):
    """Softmax gate: ``g(x) = softmax(coef_ @ x + intercept_)``.

    A multinomial logistic regression whose classes are the experts, fitted in
    the M-step on the responsibilities as soft targets (Jordan & Jacobs 1994).
    The M-step maximizes ``sum_i w_i sum_k h_ik log g_k(x_i)
    - alpha W / 2 sum_j Var(x_j) ||coef_[:, j]||^2`` with ``W = sum_i w_i``
    (the intercept is not penalized) far enough to increase it, which is all a
    generalized EM needs.

    Parameters
    ----------
    alpha : float, default=1e-8
        L2 penalty on the gate weights, per unit of sample weight and in
        standardized units (each weight times the weighted standard
        deviation of its input), so the gate depends neither on the units of
        the inputs nor on the scale of the sample weights. Keep it small: a
        sharp switch between experts needs large weights.
    solver : {"auto", "newton", "block", "bound", "lbfgs"}, default="auto"
        How the M-step improves the gate. ``"newton"``: full Newton steps with
        backtracking (cost grows as ``(n_experts * n_features)^2``).
        ``"block"``: a Newton step per expert on its own block of a bound on
        the curvature (``n_experts`` weighted Gram products per step).
        ``"bound"``: Böhning's (1992) fixed bound on the Hessian, factorized
        once per fit; each step is one gradient pass plus a small solve and
        never decreases the objective. ``"lbfgs"``: warm-started L-BFGS.
        ``"auto"`` uses Newton while ``(n_experts - 1) * (n_features + 1)
        <= 450`` and the block solver above (measured in
        benchmarks/bench_gate_solvers.py and bench_large_k.py).
    max_iter : int, default=None
        Solver steps per M-step; None means 1 for Newton, the block solver
        and the bound, 10 for L-BFGS.
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
    noise_coef_ : ndarray of shape (n_experts, n_features)
        Weights of the noise scale (only with the estimator's
        ``gate_noise=True``).
    noise_intercept_ : ndarray of shape (n_experts,)
        Intercepts of the noise scale (only with ``gate_noise=True``).

    See Also
    --------
    GaussianGate
        A localized gate with a closed-form M-step.
    ConstantGate
        A gate that ignores the inputs.

    Notes
    -----
    Routing is the estimator's: its ``top_k`` and ``gate_noise`` parameters
    are set on its own copy of the gate, as the attributes ``top_k`` and
    ``noise``, not passed here. With ``top_k`` (Shazeer et al. 2017) the gate
    keeps only the ``top_k`` largest logits of each sample and renormalizes
    the softmax over them; the other experts get probability zero (ties at
    the k-th logit are all kept). With ``noise`` (for the gradient solvers
    ``"sgd"`` and ``"adam"``) the logits get Gaussian noise during training,
    with a learned per-expert scale ``softplus(noise_coef_ @ x +
    noise_intercept_)``, which lets experts just outside the top k win
    samples and be trained; predictions use the noise-free logits.

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

    _parameter_constraints = MultinomialComponent._parameter_constraints

    def __init__(self, alpha=1e-8, solver="auto", max_iter=None, tol=1e-12):
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
            ``-inf`` for the experts a top-k gate leaves out.
        """
        check_component_fitted(self)
        V = self._params()
        n_experts = self._leaf_scores(np.zeros((V.shape[2], 1)), V).shape[0]
        return map_chunks(X, lambda Xt: self._log_proba(Xt, V)[0], (n_experts,)).T

    def predict_proba(self, X):
        """Gate probabilities g_k(x).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated input.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            Rows sum to one; with ``top_k``, each row has at most ``top_k``
            non-zero entries (more only on ties).
        """
        return np.exp(self.predict_log_proba(X))

    def route(self, X):
        """The experts each sample is sent to and their gate weights.

        Only the kept (sample, expert) pairs are returned, so a sparse gate
        lets the caller evaluate ``top_k`` experts per sample instead of all.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated input.

        Returns
        -------
        samples : ndarray of shape (n_pairs,)
            Row of each pair, non-decreasing; every row appears at least once.
        experts : ndarray of shape (n_pairs,)
            Expert of each pair.
        weights : ndarray of shape (n_pairs,)
            Gate probability of the pair; they sum to one per sample.
        """
        check_component_fitted(self)
        V = self._params()
        parts = []
        for rows, Xt in design_chunks(X, 0.0, 8192):
            logits = self._leaf_scores(Xt, V)  # (K, n_rows)
            keep = top_k_mask(logits, self.top_k)
            if keep is None:
                keep = np.ones(logits.shape, dtype=bool)
            samples, experts = np.nonzero(keep.T)  # sample-major order
            kept = logits[experts, samples] - np.max(logits, axis=0)[samples]
            np.exp(kept, out=kept)
            kept /= np.bincount(samples, kept, minlength=Xt.shape[1])[samples]
            parts.append((samples + rows.start, experts, kept))
        return tuple(np.concatenate(part) for part in zip(*parts, strict=True))

    @staticmethod
    def _leaf_scores(Xt, V):
        """Scores whose softmax is the dense gate, (K, n_rows): the logits."""
        return V[0] @ Xt

    # ------------------------------------------------- protocol of the driver
    capabilities = frozenset(
        {
            "em",
            "gradient",
            "online",
            "blockwise",
            "sparse_routing",
            "pruning",
            "information",
        }
    )
    _bound_grams_in_pass = False  # the bound's Gram matrix needs the weights only

    def _n_choices(self, data):
        return data.n_experts

    def _prepare(self, data):
        super()._prepare(data)
        if not self.noise:  # a warm start may have switched the noise off
            for name in ("noise_coef_", "noise_intercept_"):
                self.__dict__.pop(name, None)

    def _reset(self, data):
        """Start from the uniform gate."""
        self.coef_ = np.zeros((data.n_experts, data.width("gate")))
        self.intercept_ = np.zeros(data.n_experts)

    def _stacked(self):
        return self.coef_[None], self.intercept_[None]

    def _store(self, coef, intercept):
        self.coef_, self.intercept_ = coef[0], intercept[0]

    def _problem(self, weight, data, rows):
        return weight[None], data.resp[None, :, rows]

    def _bound_grams(self, stats, data):
        grams = data.cache.get("gate_bound_grams")
        if grams is None:  # depends on the sample weights only: once per fit
            grams = data.reduce(
                lambda part, rows, Xt: {
                    "A": weighted_grams(Xt, part.sample_weight[None, rows])
                },
                "gate",
            )["A"]
            data.cache["gate_bound_grams"] = grams
        return grams

    def _revive(self, experts):
        """Give re-seeded experts a neutral gate row (zero before re-centring)."""
        self.coef_[experts] = 0.0
        self.intercept_[experts] = 0.0
        self.coef_ -= self.coef_.mean(axis=0)
        self.intercept_ -= self.intercept_.mean()

    def _keep(self, experts):
        """The kept experts' rows; the softmax renormalizes over them."""
        keep_experts(
            self,
            ("coef_", "intercept_", "noise_coef_", "noise_intercept_"),
            experts,
        )

    def _log_proba(self, Xt, V):
        """log g on design columns, shape (K, n_rows) (top-k restricted), and
        a cache for ``_accumulate``: the dense softmax outputs, on which the
        M-step fits the gate to the responsibilities."""
        if V.shape[1] == 1:
            return np.zeros((1, Xt.shape[1])), None
        logits = batch_logits(Xt, V)
        log_prob, prob = softmax(logits)
        keep = top_k_mask(logits[0], self.top_k)
        return restrict_to_top_k(log_prob[0], prob[0], keep)[0], (log_prob, prob)

    def _accumulate(self, stats, Xt, weight, resp, cache, V):
        if V.shape[1] > 1:
            self._accumulate_multinomial(stats, Xt, weight[None], resp[None], cache, V)

    def _m_step(self, stats, data):
        """With ``top_k``, the M-step fits the dense softmax to the top-k
        responsibilities (zero outside each sample's kept experts, so the
        other logits are pushed down and the routing settles). That is a
        surrogate, so every step is left pending: the EM driver checks that
        it raised EM's Q-function of the top-k gate and halves it if not,
        which keeps the likelihood from decreasing."""
        before = self._params(data)
        super()._m_step(stats, data)
        if self.top_k is not None and self._pending is None:
            self._pending = (before, self._params(data) - before)

    def _retreat(self, data):
        """A rejected top-k step usually moved some sample's kept set off an
        expert that had its responsibility (Q = -inf); halving rarely helps
        and costs a pass each time, so the gate goes back to its start."""
        if self.top_k is None:
            return super()._retreat(data)
        self._set_params_design(self._pending[0], data.offset["gate"])
        self._pending = None

    # -------------------------------------------- gradient-based training
    def _noise_params(self, data):
        """Noise-scale parameters on design rows, shape (K, p)."""
        coef = getattr(self, "noise_coef_", None)
        if coef is None:
            coef = np.zeros_like(self.coef_)
            intercept = np.zeros_like(self.intercept_)
        else:
            intercept = self.noise_intercept_ + coef @ data.offset["gate"]
        return np.hstack([coef, intercept[:, None]])

    def _theta(self, data):
        theta = [self._params(data)]
        if self.noise:
            theta.append(self._noise_params(data))
        return theta

    def _set_theta(self, theta, data):
        self._set_params_design(theta[0], data.offset["gate"])
        if self.noise:
            U = theta[1]
            self.noise_coef_ = U[:, :-1].copy()
            self.noise_intercept_ = U[:, -1] - self.noise_coef_ @ data.offset["gate"]

    def _theta_penalty(self, theta, by_variance=False):
        value, grads = super()._theta_penalty(theta[:1])
        if self.noise:
            mask = self._mask()
            value += penalty(theta[1], self._alpha_total, mask)
            grads.append(self._alpha_total * mask * theta[1])
        return value, grads

    def _train_forward(self, Xt, theta, rng=None):
        """The gate of a gradient step: restricted log g and g (K, n_rows)
        and a cache for ``_train_backward`` and the balance loss (``"prob"``,
        the dense softmax). With ``noise`` and a ``rng``, the logits get
        noise ``eps * softplus(U x)``, eps standard normal (Shazeer et al.
        2017, eq. 4)."""
        V = theta[0]
        if V.shape[1] == 1:
            ones = np.ones((1, Xt.shape[1]))
            return np.zeros_like(ones), ones, {"prob": ones}
        logits = batch_logits(Xt, V)[0]
        cache = {}
        if self.noise and rng is not None:
            scale_logits = theta[1] @ Xt
            eps = rng.standard_normal(logits.shape)
            logits += eps * np.logaddexp(0.0, scale_logits)
            cache["d_noise"] = eps * expit(scale_logits)  # dlogits / d(U x)
        log_prob, prob = softmax(logits[None])
        log_gate, gate = restrict_to_top_k(
            log_prob[0], prob[0], top_k_mask(logits, self.top_k)
        )
        cache["prob"], cache["gate"] = prob[0], gate
        return log_gate, gate, cache

    def _train_backward(self, Xt, cache, d_log_gate, d_log_dense=None):
        """Gradient of the loss for the gate's trainable arrays from
        dE/dlog g (K, n_rows) of the (top-k restricted) gate and, for the
        balance loss, dE/dlog p of the dense softmax p."""
        d_logits = _through_softmax(d_log_gate, cache["gate"])
        if d_log_dense is not None:
            d_logits += _through_softmax(d_log_dense, cache["prob"])
        grads = [(d_logits @ Xt.T)[None]]
        if self.noise:
            d_noise = cache.get("d_noise")
            grads.append(
                np.zeros((d_logits.shape[0], Xt.shape[0]))
                if d_noise is None
                else (d_logits * d_noise) @ Xt.T
            )
        return grads

    # ------------------------------------------------------- information
    # In the parameters of every expert but the first relative to the
    # first's (flexmix's multinomial logit), on the design [1, x]:
    # (K - 1) blocks of 1 + d.
    def _info_design_params(self):
        """The gate's parameters on ``[1, x]``, shape (1, K, 1 + d)."""
        return np.column_stack([self.intercept_, self.coef_])[None]

    def _info_estimates(self, names):
        beta = relative(self._info_design_params())[0]
        terms = term_names(names)
        labels = [
            (k, 0, term, True) for k in range(1, beta.shape[0] + 1) for term in terms
        ]
        return beta.ravel(), labels

    def _info_proba(self, Z):
        """Dense gate probabilities (n, K) on the design ``Z``."""
        logits = Z @ self._info_design_params()[0].T
        return softmax(logits.T[None])[1][0].T

    def _info_scores(self, X, y):
        Z = design(X)
        return gate_scores(Z, self._info_proba(Z))

    def _info_curvature(self, X, y, weights):
        """The curvature of log g_k does not depend on k: one multinomial
        curvature under the total weight of each row."""
        Z = design(X)
        prob = self._info_proba(Z)
        return multinomial_curvature(Z, prob[:, None, :], weights.sum(axis=1)[:, None])[
            0
        ]

    def _info_penalty(self, X, sample_weight):
        mask = np.append(0.0, column_variance(X, sample_weight))
        alpha_total = self.alpha * float(sample_weight.sum())
        return multinomial_penalty(alpha_total, mask, self.coef_.shape[0])
