"""What gates and experts share as components of a mixture.

A component is a scikit-learn estimator for its parameters (``clone``,
``set_params``) that the mixture's EM driver fits through a small protocol:

- ``_prepare(data)`` once per fit, ``_reset(data)`` for fresh parameters;
- ``_params(data)``: parameters in the design space of the fit's row chunks;
- per chunk, ``_log_proba`` (gate) or ``_log_likelihood`` (experts), then
  ``_accumulate(stats, ...)`` to add the chunk's sufficient statistics;
- ``_m_step(stats, data)``, which may leave a Newton step ``_pending`` for
  the next pass to verify, and ``_retreat(data)`` to halve it;
- ``_penalty()``, ``_n_parameters()`` and ``_end_fit()``, which drops
  fit-time scratch so a fitted model holds parameters only.

``mixexp._contract`` declares every hook, with its shapes, and the optional
capabilities (gradient training, online EM, ...) a part may declare.
"""

from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import StrOptions

from ._contract import Part
from ._data import add_stats, design_chunks
from ._linalg import weighted_grams
from ._multinomial import (
    bound_system,
    chunk_stats,
    curvature,
    curvature_rows,
    maximize,
    newton_direction,
    penalty,
)
from ._online import running_average
from ._params import Interval

# Newton's Hessian costs C (C - 1) / 2 weighted Gram products and its solve
# grows as ((C - 1)(d + 1))^3: above this many free parameters the block
# solver (C Gram products, C small solves) fits faster; L-BFGS paid a pass
# over the data per inner step. The bound solver needs many more EM
# iterations, so "auto" never picks it (tables:
# ``python benchmarks/bench_gate_solvers.py`` and ``bench_large_k.py`` in
# BENCHMARKS.md).
_NEWTON_MAX_PARAMS = 450

# Inner steps per M-step: one Newton step per EM iteration gives the fastest
# whole fits, at the same final likelihood as more; L-BFGS needs a few
# iterations to build its curvature estimate.
_INNER_STEPS = {"newton": 1, "block": 1, "bound": 1, "lbfgs": 10}


def check_component_fitted(component):
    """Raise NotFittedError unless the component holds fitted parameters.

    Components are fitted by a mixture estimator, not on their own, so
    ``sklearn.utils.validation.check_is_fitted`` (which wants ``fit``) does
    not apply to them.
    """
    if not hasattr(component, "coef_"):
        raise NotFittedError(
            f"This {type(component).__name__} is not fitted yet; it is fitted as "
            "part of a mixture estimator (MixtureOfExpertsRegressor or "
            "MixtureOfExpertsClassifier)."
        )


def map_chunks(X, fn, leading_shape):
    """Apply ``fn`` to the (uncentred) design chunks of validated ``X``.

    ``fn(Xt)`` returns an array of shape ``leading_shape + (n_rows,)``; the
    results are joined along the last axis.
    """
    out = np.empty(tuple(leading_shape) + (X.shape[0],))
    for rows, Xt in design_chunks(X, 0.0, 8192):
        out[..., rows] = fn(Xt)
    return out


class MultinomialComponent(Part):
    """B multinomial logistic problems over C choices, fitted on weighted
    targets: the softmax gate (B = 1, the choices are the experts) and the
    softmax experts (B = K, the choices are the classes).

    Subclasses store ``coef_`` and ``intercept_`` in their public shapes and
    say, through ``_stacked``, ``_store``, ``_n_choices``, ``_n_problems``
    (B, 1 by default), ``_problem`` (weights and targets of the rows) and
    ``_bound_grams``, how their data enter the shared M-step.
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"auto", "newton", "block", "bound", "lbfgs"})],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    # Whether the Böhning bound's Gram matrices change with the
    # responsibilities (then the E-step pass sums them) or not (the gate).
    _bound_grams_in_pass = True

    def _prepare(self, data):
        """Check the parameters and choose the solver for this fit."""
        self._validate_params()
        n_choices, p = self._n_choices(data), data.width(self._role) + 1
        self.solver_ = self.solver
        if self.solver == "auto":
            free = (n_choices - 1) * p
            self.solver_ = "newton" if free <= _NEWTON_MAX_PARAMS else "block"
        # Rows of the Newton Hessian's sample, or None for all rows; the
        # sample is drawn at the first M-step, after the initialization's
        # k-means has freed its memory.
        size = curvature_rows(self._n_problems(data) * n_choices * p, data.n_samples)
        self._curvature_rows = size if self.solver_ == "newton" else None
        # The penalty is alpha / 2 per unit of sample weight on the weights
        # in standardized units (times each input's weighted variance).
        self._column_variance = data.column_scale(self._role) ** 2
        self._alpha_total = self.alpha * data.total_weight

    def _end_fit(self):
        """Drop fit-time scratch."""
        for name in ("_curvature_rows", "_pending"):
            self.__dict__.pop(name, None)

    def _n_problems(self, data):
        """B, the number of multinomial problems fitted together."""
        return 1

    def _mask(self):
        """The penalty's weight of each design column: the variance of the
        input (standardized units), 0 for the intercept."""
        return np.append(self._column_variance, 0.0)

    def _params(self, data=None):
        """Parameters on design rows ``[x - x_offset, 1]`` (the offset is zero
        outside a fit): shape (B, C, p)."""
        coef, intercept = self._stacked()
        if data is not None:
            intercept = intercept + coef @ data.offset[self._role]
        return np.concatenate([coef, intercept[:, :, None]], axis=2)

    def _set_params_design(self, V, offset):
        coef = V[:, :, :-1].copy()
        self._store(coef, V[:, :, -1] - coef @ offset)

    def _penalty(self):
        coef = self.coef_
        weighted = coef * self._column_variance
        return 0.5 * self._alpha_total * float(np.vdot(weighted, coef))

    def _n_parameters(self):
        coef, _ = self._stacked()
        n_problems, n_choices, n_features = coef.shape
        return n_problems * (n_choices - 1) * (n_features + 1)

    def _retreat(self, data):
        """Halve a pending Newton step the EM driver found to lower Q."""
        before, step = self._pending
        step = 0.5 * step
        if np.max(np.abs(step)) <= 1e-12 * (1.0 + np.max(np.abs(before))):
            self._pending = None  # back to the start, which is always safe
            self._set_params_design(before, data.offset[self._role])
            return
        self._pending = (before, step)
        self._set_params_design(before + step, data.offset[self._role])

    # ------------------------------------------------------- online EM
    def _prepare_online(self):
        """partial_fit's update needs each batch's exact Hessian."""
        self.solver_ = "newton"
        self._curvature_rows = None

    def _online_update(self, stats, data, store, gamma, seen, update):
        """Online IRLS: each batch's Newton model of its M-step objective,
        ``g_b + H_b (V - V_b)``, is folded into running averages of ``H_b``
        and ``H_b V_b + g_b`` (per unit weight), the sufficient statistics of
        the weighted least-squares problem that IRLS solves; the new
        parameters maximize the averaged quadratic model (with the penalty
        per unit of weight seen)."""
        if self._n_choices(data) == 1:
            return
        V = self._params(data)
        n_problems, n_choices, p = V.shape
        hess = stats["hess"]  # in the first C - 1 classes relative to the last
        relative = (V[:, :-1] - V[:, -1:]).reshape(n_problems, -1, 1)
        grad = stats["grad"][:, :-1].reshape(n_problems, -1)
        batch = {"hess": hess, "target": (hess @ relative)[..., 0] + grad}
        running_average(store, batch, data.total_weight, gamma, ("hess", "target"))
        if not update:
            return
        # argmax_V of b.V - V.H V / 2 - alpha ||D V||^2 / 2 (all per unit
        # weight): the same centred linear system as a Newton direction, with b
        # in place of the gradient (b is centred: its last class is minus the
        # sum of the others).
        rhs = store["target"].reshape(n_problems, n_choices - 1, p)
        rhs = np.concatenate([rhs, -rhs.sum(axis=1, keepdims=True)], axis=1)
        V_new = newton_direction(store["hess"], rhs, self.alpha, self._mask())
        self._set_params_design(V_new, data.offset[self._role])

    # -------------------------------------------- gradient-based training
    def _theta(self, data):
        """Trainable arrays in the fit's design space (for gradient solvers)."""
        return [self._params(data)]

    def _set_theta(self, theta, data):
        self._set_params_design(theta[0], data.offset[self._role])

    def _theta_penalty(self, theta, by_variance=False):
        """L2 penalty on the weights (not the intercepts) and its gradient."""
        V = theta[0]
        mask = self._mask()
        alpha = self._alpha_total
        return penalty(V, alpha, mask), [alpha * mask * V]

    def _accumulate_multinomial(self, stats, Xt, weights, targets, softmax_out, V):
        """Add a chunk's statistics for the first M-step iteration, from the
        softmax the E-step already computed: the first step costs no pass."""
        part = chunk_stats(
            Xt,
            V,
            weights,
            targets,
            hessian=self.solver_ == "newton" and self._curvature_rows is None,
            blocks=self.solver_ == "block",
            softmax_out=softmax_out,
        )
        if self.solver_ == "bound" and self._bound_grams_in_pass:
            part["grams"] = weighted_grams(Xt, weights)
        add_stats(stats, part)

    def _m_step(self, stats, data):
        self._pending = None
        if self._n_choices(data) == 1:
            return

        block = self.solver_ == "block"

        def pass_stats(W, curvature):
            return data.reduce(
                lambda part, rows, Xt: chunk_stats(
                    Xt,
                    W,
                    *self._problem(part.sample_weight[rows], part, rows),
                    hessian=curvature and not block,
                    blocks=curvature and block,
                ),
                self._role,
            )

        sample_curvature = None
        if self._curvature_rows is not None:
            key = data.curvature_sample(self._curvature_rows, self._role)

            def on_sample(W, part):
                rows, Xt_sample, weight_sample = part.cache[key]
                weights = self._problem(weight_sample, part, rows)[0]
                return {"hess": curvature(Xt_sample, W, weights)}

            def sample_curvature(W):
                return data.sum_parts(partial(on_sample, W))["hess"]

        bound = None
        if self.solver_ == "bound":
            grams = self._bound_grams(stats, data)
            bound = bound_system(grams, self._alpha_total, self._mask())
        V, self._pending = maximize(
            self._params(data),
            pass_stats,
            alpha=self._alpha_total,
            mask=self._mask(),
            solver=self.solver_,
            max_iter=self.max_iter or _INNER_STEPS[self.solver_],
            tol=self.tol,
            first=stats or None,
            bound_matrices=bound,
            curvature=sample_curvature,
            optimistic=True,
        )
        self._set_params_design(V, data.offset[self._role])
