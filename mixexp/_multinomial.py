"""Weighted multinomial logistic regression on soft targets, for a batch of problems.

The softmax gate (one problem whose "classes" are the experts and whose targets
are the responsibilities) and the softmax experts (one problem per expert, hard
class targets, weighted by the responsibilities) both maximize

    f(V) = sum_i sum_b w_ib sum_c t_ibc log softmax(x_i V_b)_c
           - alpha / 2 * sum_b ||D V_b||_F^2

over ``V`` of shape (B, C, p), where ``D`` weights the penalized columns (the
intercept column is not penalized). Parameters are kept centred over the
classes (every column of every ``V_b`` sums to zero), the symmetric
parametrization of scikit-learn's multinomial LogisticRegression.

Four maximizers share the statistics computed here:

- ``"newton"``: full Newton steps with backtracking. Its Hessian costs
  C(C-1)/2 weighted Gram products per problem, so it is for small C * p.
  Newton's step does not depend on the coordinates (it is affine
  invariant), so it is computed in the cheapest ones: the first C - 1
  classes' parameters relative to the last class's, a Hessian of
  ((C-1) p)^2 entries instead of (C p)^2 (and 4 times smaller for the
  binary nodes of a tree gate); the step is then centred again.
- ``"block"``: a Newton step per class on its own block of curvature,
  ``sum_i w_ib pi_ic x_i x_i^T``, which bounds the Hessian at the current
  parameters: C weighted Gram products per problem and C solves of p
  unknowns, so it stays cheap for many classes (``block_step``).
- ``"bound"``: Böhning's (1992) fixed curvature bound
  -Hessian <= 1/2 (I - 11^T/C) (x) sum_i w_ib x_i x_i^T. On centred parameters
  the bound step is one p x p solve with C right-hand sides, and every step is
  guaranteed to increase f (a minorize-maximize step).
- ``"lbfgs"``: scipy's L-BFGS-B warm-started at the current parameters.

Each accepts only steps that do not decrease f, so an EM M-step built on them
is a generalized M-step and EM's monotonicity holds.
"""

import functools

import numpy as np
from scipy.optimize import minimize

from ._data import chunk_rows
from ._linalg import psd_solve, weighted_grams

# The block step keeps every class's gate mass above this fraction of the
# total weight (see ``block_step``).
_MASS_FLOOR = 1e-6


def softmax(logits):
    """Log-probabilities and probabilities over axis 1 (the classes), with
    one exponential per entry.

    Parameters
    ----------
    logits : ndarray of shape (B, C, n_rows)

    Returns
    -------
    log_prob, prob : ndarrays shaped like ``logits``
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(shifted)
    total = prob.sum(axis=1, keepdims=True)
    prob /= total
    shifted -= np.log(total)
    return shifted, prob


def batch_logits(Xt, V):
    """Logits of every problem: (B, C, p) x (p, n_rows) -> (B, C, n_rows)."""
    n_problems, n_classes, p = V.shape
    return (V.reshape(n_problems * n_classes, p) @ Xt).reshape(
        n_problems, n_classes, Xt.shape[1]
    )


def chunk_stats(
    Xt, V, weights, targets, *, hessian=False, blocks=False, softmax_out=None
):
    """Objective, gradient and (optionally) curvature of the data term on rows.

    Parameters
    ----------
    Xt : ndarray of shape (p, n_rows)
        Design, one column per sample.
    V : ndarray of shape (B, C, p)
    weights : ndarray of shape (B, n_rows)
    targets : ndarray of shape (B or 1, C, n_rows)
        Columns sum to one over classes.
    hessian : bool
        Also return the negative Hessian of shape (B, (C-1) p, (C-1) p) in
        the parameters of the first C - 1 classes (see ``_curvature``).
    blocks : bool
        Also return ``blocks`` (B, C, p, p), the Gram matrices
        ``sum_i w_bi pi_ci x_i x_i^T`` of the block solver (``block_step``).
    softmax_out : tuple of two ndarrays of shape (B, C, n_rows), optional
        ``softmax(batch_logits(Xt, V))`` when the caller already has it.

    Returns
    -------
    stats : dict with ``value`` (float), ``grad`` (B, C, p) and maybe ``hess``.
    """
    if softmax_out is None:
        softmax_out = softmax(batch_logits(Xt, V))
    log_prob, prob = softmax_out
    weighted_targets = weights[:, None, :] * targets
    value = float(np.vdot(weighted_targets, log_prob))
    resid = weighted_targets - weights[:, None, :] * prob
    n_problems, n_classes, n_rows = resid.shape
    grad = (resid.reshape(n_problems * n_classes, n_rows) @ Xt.T).reshape(
        n_problems, n_classes, Xt.shape[0]
    )
    stats = {"value": value, "grad": grad}
    if hessian:
        stats["hess"] = _curvature(Xt, weights, prob)
    if blocks:
        weighted = weights[:, None, :] * prob
        flat = weighted.reshape(n_problems * n_classes, n_rows)
        stats["moment"] = (flat @ Xt.T).reshape(n_problems, n_classes, -1)
        weighted *= _block_curvature(prob)
        stats["blocks"] = weighted_grams(
            Xt, weighted.reshape(n_problems * n_classes, n_rows)
        ).reshape(n_problems, n_classes, Xt.shape[0], Xt.shape[0])
    return stats


def _block_curvature(prob):
    """Factors ``d`` with ``diag(pi) - pi pi^T <= diag(pi * d)`` in every row:
    1, or 2 (1 - pi) in the rows one class dominates.

    Both bound the softmax's curvature (``Var_pi(v) <= sum_c pi_c v_c^2``;
    and its matrix is diagonally dominant, so at most twice its diagonal),
    and the second is far smaller for the dominant class, whose true
    curvature pi (1 - pi) vanishes as the gate sharpens: with the first
    alone the block step slows to a crawl on sharp gates.
    """
    dominated = prob.max(axis=1, keepdims=True) > 0.5
    return np.where(dominated, 2.0 * (1.0 - prob), 1.0)


def curvature_rows(n_parameters, n_samples):
    """Rows of the sample on which Newton's Hessian is estimated, or None
    when ``n_samples`` is small enough for the exact Hessian.

    The gradient and the line search always use every row; the Hessian only
    shapes the step (sub-sampled Newton, Byrd et al. 2011), and at ((C-1) p)^2 / 2
    products per row it is most of a pass's cost on all rows. The sample,
    20 to 40 rows per parameter and a quarter of the rows in between, is
    the smallest that leaves the number of EM iterations about unchanged
    (``python benchmarks/bench_gate_solvers.py``, second table).

    ``n_parameters`` counts those of all B problems (C p each, the centred
    parameters, though the Hessian has (C-1) p rows), since each (a node of
    a tree gate, an expert's classes) sees only its share of the sampled
    rows: sized for one node, a tree's Hessians were too noisy.
    """
    least = max(2048, 20 * n_parameters)
    size = max(least, min(n_samples // 4, max(8192, 40 * n_parameters)))
    return None if n_samples <= 2 * size else size


def curvature(Xt, V, weights):
    """Negative Hessian of the data term at ``V`` on the given rows (a row
    sample's), summed over row chunks: its temporaries take (C-1) p floats
    per row, more than the data when p is large."""
    n_rows = Xt.shape[1]
    step = chunk_rows(n_rows, V.size)
    hess = 0.0
    for start in range(0, max(n_rows, 1), step):  # an empty part gives zeros
        rows = slice(start, start + step)
        prob = softmax(batch_logits(Xt[:, rows], V))[1]
        hess = hess + _curvature(Xt[:, rows], weights[:, rows], prob)
    return hess


def _curvature(Xt, weights, prob):
    """Negative Hessian sum_i w_bi (diag(q_i) - q_i q_i^T) (x) x_i x_i^T of
    the data term in the parameters of the first C - 1 classes, with q_i the
    first C - 1 of the probabilities pi_i (the last class's parameters held
    fixed: the data term only depends on differences between classes).

    Layout (B, (C-1) p, (C-1) p) with index ``c * p + j``. For two classes
    it is one weighted Gram matrix per problem, weights w pi (1 - pi).

    The diagonal blocks could be had from the row sums of the full (C p)^2
    product (the pi_i sum to one), but on the data of scikit-learn's
    sample-weight check that made the fits with weights and with repeated
    rows part ways on more seeds, so they are weighted Grams of their own.
    """
    p, n_rows = Xt.shape
    n_problems = prob.shape[0]
    n_free = prob.shape[1] - 1
    q = prob[:, :n_free]
    weighted_q = weights[:, None, :] * q
    if n_free == 1:
        weighted_q *= 1.0 - q
        return weighted_grams(Xt, weighted_q[:, 0])
    diag = weighted_grams(Xt, weighted_q.reshape(n_problems * n_free, n_rows))
    hess = np.zeros((n_problems, n_free, p, n_free, p))
    free = np.arange(n_free)
    hess[:, free, :, free, :] = diag.reshape(n_problems, n_free, p, p).transpose(
        1, 0, 2, 3
    )
    root_w = np.sqrt(weights)
    for b in range(n_problems):  # one BLAS product on all rows per problem
        Z = (root_w[b] * q[b])[:, None, :] * Xt[None, :, :]
        Z = Z.reshape(n_free * p, n_rows)
        hess[b] -= (Z @ Z.T).reshape(n_free, p, n_free, p)
    return hess.reshape(n_problems, n_free * p, n_free * p)


def penalty(V, alpha, mask):
    """alpha / 2 * sum_j mask_j ||V_j||^2 over the columns j of every problem."""
    return 0.5 * alpha * float(np.vdot(mask * V, V))


@functools.cache
def _reduced_penalty(n_classes, p):
    """(n_free p, n_free p) matrix of the penalty ||D V||^2 / 2 written in the
    first n_free = C - 1 classes' parameters U relative to the last's, for
    unit alpha and ``mask`` of ones: V is [U, 0] centred over the C classes,
    which makes the penalty U^T ((I - 11^T / C) (x) I_p) U / 2. The caller
    multiplies its columns by the mask."""
    n_free = n_classes - 1
    classes = np.eye(n_free) - 1.0 / n_classes
    matrix = np.kron(classes, np.eye(p))
    matrix.setflags(write=False)  # cached, hence shared
    return matrix


def newton_direction(hess, grad, alpha, mask):
    """Newton ascent direction for the penalized objective, centred.

    Parameters
    ----------
    hess : ndarray of shape (B, (C-1) p, (C-1) p)
        Negative Hessian of the data term from ``_curvature``.
    grad : ndarray of shape (B, C, p)
        Gradient of the penalized objective at centred parameters (so it is
        centred too); only its first C - 1 classes are read.
    alpha : float
    mask : ndarray of shape (p,)

    Returns
    -------
    step : ndarray of shape (B, C, p), centred over classes

    The step solves the Newton system in the first C - 1 classes'
    parameters relative to the last class's (the objective only sees those
    differences), then is centred. Being affine invariant, it is the Newton
    step on the centred parameters themselves.
    """
    n_problems, n_classes, p = grad.shape
    n_free = n_classes - 1
    penalized = alpha * np.concatenate([mask] * n_free)  # np.tile costs 4 times more
    system = hess + _reduced_penalty(n_classes, p) * penalized
    rhs = grad[:, :n_free].reshape(n_problems, n_free * p, 1)
    free = psd_solve(system, rhs).reshape(n_problems, n_free, p)
    # Centre [free, 0] over the classes.
    shift = free.sum(axis=1, keepdims=True) / n_classes
    step = np.empty_like(grad)
    np.subtract(free, shift, out=step[:, :n_free])
    np.negative(shift, out=step[:, n_free:])
    return step


def block_step(blocks, grad, alpha, mask, moment):
    """The block solver's ascent step, centred over classes.

    Each class's parameters take a Newton step on its own block of a bound
    on the curvature, ``sum_i w_i pi_ci d_ci x_i x_i^T`` (``_block_curvature``
    gives ``d``): the negative Hessian is at most that block-diagonal matrix
    at the current parameters, so the step is a damped Newton step. It costs
    C weighted Gram matrices of p columns and C solves of p unknowns, where
    Newton's Hessian costs C (C - 1) / 2 Grams and a solve of (C - 1) p
    unknowns.

    A class's step is then shortened so that its gate mass ``sum_i w_i
    pi_ci`` falls at most to ``_MASS_FLOOR`` of the total, to first order
    (the pi-weighted mean change of its logits, by Jensen's inequality a
    lower bound on the change of its log mass): the gate does not kill an
    expert on its own, which a block step, blind to the classes it competes
    with, otherwise did in a few dozen iterations to the redundant experts
    of a mixture with more experts than regimes. Shortening one class's
    step keeps the whole an ascent direction.

    Parameters
    ----------
    blocks : ndarray of shape (B, C, p, p)
        The curvature blocks.
    grad : ndarray of shape (B, C, p)
        Gradient of the penalized objective (centred).
    alpha : float
    mask : ndarray of shape (p,)
    moment : ndarray of shape (B, C, p)
        ``sum_i w_i pi_ci x_i``; its last column (the intercept's) is the
        gate mass of each class.

    Returns
    -------
    step : ndarray of shape (B, C, p)
    """
    p = grad.shape[-1]
    system = blocks + alpha * np.diag(mask)
    jitter = 1e-10 * np.trace(system, axis1=-2, axis2=-1) / p + 1e-300
    system = system + jitter[..., None, None] * np.eye(p)
    step = psd_solve(system, grad[..., None])[..., 0]
    mass = np.maximum(moment[..., -1], 1e-300)
    floor = _MASS_FLOOR * mass.sum(axis=-1, keepdims=True)
    change = np.einsum("bcp,bcp->bc", step, moment) / mass
    allowed = np.minimum(np.log(floor / mass), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(change < allowed, allowed / change, 1.0)
    step *= np.clip(scale, 0.0, 1.0)[..., None]
    return step - step.mean(axis=1, keepdims=True)


def bound_system(grams, alpha, mask):
    """The p x p matrices 1/2 A_b + alpha D of Böhning's bound, made definite.

    A small multiple of the identity keeps them invertible on collinear data;
    enlarging the bound keeps every step an ascent step.
    """
    p = grams.shape[-1]
    system = 0.5 * grams + alpha * np.diag(mask)[None]
    jitter = 1e-10 * np.trace(system, axis1=1, axis2=2) / p + 1e-300
    return system + jitter[:, None, None] * np.eye(p)[None]


def bound_step(bound_matrices, grad):
    """Böhning's step: solve (1/2 A_b + alpha D) step_b^T = grad_b^T."""
    return psd_solve(bound_matrices, grad.transpose(0, 2, 1)).transpose(0, 2, 1)


def maximize(
    V,
    pass_stats,
    *,
    alpha,
    mask,
    solver,
    max_iter,
    tol,
    first=None,
    bound_matrices=None,
    curvature=None,
    optimistic=False,
):
    """Increase the penalized multinomial objective from ``V``.

    Parameters
    ----------
    V : ndarray of shape (B, C, p)
        Starting point (centred over classes).
    pass_stats : callable
        ``pass_stats(V, hessian)`` returns ``chunk_stats`` summed over all rows.
    alpha : float
        L2 penalty, with column weights ``mask``.
    mask : ndarray of shape (p,)
        Penalty weight of each column (the input's variance, so the
        penalty is in standardized units), 0 for the intercept column.
    solver : {"newton", "block", "bound", "lbfgs"}
    max_iter : int
        Number of steps (passes over the data) at most.
    tol : float
        Stop when the increase of the objective is below ``tol`` times its size.
    first : dict, optional
        Statistics at ``V`` already computed (by the E-step pass).
    bound_matrices : ndarray of shape (B, p, p), optional
        ``bound_system(...)`` for the bound solver.
    curvature : callable, optional
        ``curvature(V)`` returns the negative Hessian (B, C p, C p) for
        Newton, for example estimated on a row sample; by default the exact
        Hessian comes with ``pass_stats(V, True)``. The line search on the
        exact objective keeps every step an ascent step either way.
    optimistic : bool, default=False
        Take the last Newton step without the line search's pass over the
        data and return it as pending: the caller (the EM driver) checks it
        at its next pass and halves it if the objective went down.

    Returns
    -------
    V : ndarray of shape (B, C, p)
        Parameters whose objective is at least that of the input, unless a
        step is pending.
    pending : tuple or None
        ``(V_before, step)`` of an unverified last Newton step.
    """
    if solver == "lbfgs":
        return _maximize_lbfgs(V, pass_stats, alpha, mask, max_iter, tol), None
    hessian = solver in ("newton", "block") and curvature is None
    stats = first if first is not None else pass_stats(V, hessian)
    value = stats["value"] - penalty(V, alpha, mask)
    for it in range(max_iter):
        grad = stats["grad"] - alpha * mask * V
        if solver == "bound":
            step = bound_step(bound_matrices, grad)
            V = V + step
            gain = float(np.vdot(grad, step))
            if gain <= tol * (abs(value) + 1.0) or it == max_iter - 1:
                break
            stats = pass_stats(V, False)
            value = stats["value"] - penalty(V, alpha, mask)
            continue
        if solver == "block":
            step = block_step(stats["blocks"], grad, alpha, mask, stats["moment"])
        else:
            hess = stats["hess"] if curvature is None else curvature(V)
            step = newton_direction(hess, grad, alpha, mask)
        predicted = float(np.vdot(grad, step))
        if not predicted > tol * (abs(value) + 1.0):
            break
        if optimistic and it == max_iter - 1:
            return V + step, (V, step)
        accepted = False
        last = it == max_iter - 1  # no further step needs the trial's Hessian
        for _ in range(30):  # backtracking keeps every accepted step an ascent
            trial = V + step
            trial_stats = pass_stats(trial, hessian and not last)
            trial_value = trial_stats["value"] - penalty(trial, alpha, mask)
            if trial_value >= value:
                accepted = True
                break
            step = 0.5 * step
        if not accepted:
            break
        gain = trial_value - value
        V, stats, value = trial, trial_stats, trial_value
        if gain <= tol * (abs(value) + 1.0):
            break
    return V, None


def _maximize_lbfgs(V, pass_stats, alpha, mask, max_iter, tol):
    shape = V.shape
    # L-BFGS is not affine invariant: it works on the weights in the units
    # of the penalty (standardized inputs), so a feature's units do not
    # change its path.
    unit = np.where(mask > 0, np.sqrt(mask), 1.0)

    def negative(flat):
        W = flat.reshape(shape) / unit
        stats = pass_stats(W, False)
        value = stats["value"] - penalty(W, alpha, mask)
        grad = stats["grad"] - alpha * mask * W
        return -value, -(grad / unit).ravel()

    start_value, _ = negative((V * unit).ravel())
    result = minimize(
        negative,
        (V * unit).ravel(),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-10},
    )
    if not np.all(np.isfinite(result.x)) or result.fun > start_value:
        return V
    W = result.x.reshape(shape) / unit
    # L-BFGS does not keep the parameters centred over classes; centring
    # leaves the data term unchanged and can only lower the penalty.
    return W - W.mean(axis=1, keepdims=True)
