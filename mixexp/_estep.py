"""The E-step: responsibilities in log space, vectorized over rows.

The posterior of expert k for sample i is

    h_ik = g_k(x_i) P_k(y_i | x_i) / sum_j g_j(x_i) P_j(y_i | x_i),

computed from ``log g + log P`` by subtracting the row maximum before the one
exponential, so nothing overflows or underflows before it is normalized.
"""

from functools import partial
from typing import NamedTuple

import numpy as np

from ._data import design_chunks


def responsibilities(log_gate, log_lik, out=None):
    """Posteriors of the experts and the log evidence of each sample.

    Works in log space up to the normalization: with
    ``a = log g + log P`` and ``m = max_k a``, ``h = exp(a - m) / sum exp(a - m)``
    and ``log p(y | x) = m + log sum exp(a - m)``; one exponential per entry,
    and nothing overflows. Arrays are expert-major so the reductions over
    experts are vectorized across samples.

    Parameters
    ----------
    log_gate : ndarray of shape (n_experts, n_rows)
        log g_k(x_i).
    log_lik : ndarray of shape (n_experts, n_rows)
        log P_k(y_i | x_i).
    out : ndarray of shape (n_experts, n_rows), optional
        Where to write the responsibilities.

    Returns
    -------
    resp : ndarray of shape (n_experts, n_rows)
        h_ik; columns sum to one.
    log_evidence : ndarray of shape (n_rows,)
        log p(y_i | x_i) = logsumexp_k (log g_ik + log P_ik).
    """
    joint = log_gate + log_lik
    top = joint.max(axis=0)
    top[~np.isfinite(top)] = 0.0
    joint -= top
    np.exp(joint, out=joint)
    total = joint.sum(axis=0)
    resp = np.divide(joint, total, out=out)
    with np.errstate(divide="ignore"):
        log_evidence = top + np.log(total)
    return resp, log_evidence


def log_sum_exp(values):
    """``log sum_k exp(values[k])`` of each column of (K, n_rows) values, as
    recent scipy's ``logsumexp`` computes it: the largest term is 1 after the
    shift, and ``log1p`` of the others' sum keeps their precision when it
    dominates. scipy's own spends about 0.2 ms per call on its array-API
    layer, a large part of a small prediction."""
    columns = np.arange(values.shape[1])
    top_row = values.argmax(axis=0)
    top = values[top_row, columns]
    finite = np.isfinite(top)  # else the column's answer is its top: -inf
    shift = np.where(finite, top, 0.0)
    others = np.exp(values - shift)
    others[top_row, columns] = 0.0
    return np.where(finite, shift + np.log1p(others.sum(axis=0)), top)


def top_k_threshold(logits, k):
    """The k-th largest value of each column, counting ties.

    Parameters
    ----------
    logits : ndarray of shape (n_experts, n_rows)
    k : int
        Between 1 and n_experts.

    Returns
    -------
    threshold : ndarray of shape (n_rows,)
        Entries ``>= threshold`` are the column's k largest, plus any entry
        tied with the k-th.
    """
    n_experts = logits.shape[0]
    top = np.max(logits, axis=0)
    if k == 1:
        return top
    if k > 2:
        return np.partition(logits, n_experts - k, axis=0)[n_experts - k]
    # k = 2 without a partition (twice as fast): the largest value below the
    # maximum, or the maximum itself when it is attained twice.
    at_top = logits >= top
    second = np.max(np.where(at_top, -np.inf, logits), axis=0)
    return np.where(np.count_nonzero(at_top, axis=0) > 1, top, second)


def top_k_mask(logits, k):
    """Which experts a top-k gate keeps: entries at least the column's k-th
    largest, shape (n_experts, n_rows); None when ``k`` keeps them all."""
    if k is None or k >= logits.shape[0]:
        return None
    return logits >= top_k_threshold(logits, k)


def restrict_to_top_k(log_prob, prob, keep):
    """Renormalize the gate over the kept experts (Shazeer et al. 2017).

    Renormalizing log-probabilities only subtracts ``log sum_{kept} p``, so
    no exponential is recomputed.

    Parameters
    ----------
    log_prob, prob : ndarray of shape (n_experts, n_rows)
        Dense log-softmax and softmax of the gate logits.
    keep : ndarray of bool, shape (n_experts, n_rows), or None
        ``top_k_mask`` of the logits; None keeps every expert.

    Returns
    -------
    log_kept : ndarray of shape (n_experts, n_rows)
        Renormalized log-probabilities, ``-inf`` for the experts left out.
    kept : ndarray of shape (n_experts, n_rows)
        Their exponentials; columns sum to one.
    """
    if keep is None:
        return log_prob, prob
    kept = np.where(keep, prob, 0.0)
    total = np.sum(kept, axis=0)
    kept /= total
    log_kept = np.where(keep, log_prob - np.log(total), -np.inf)
    return log_kept, kept


def routed(log_gate, k):
    """Which experts each sample is routed to, shape (n_experts, n_rows):
    those the top-k gate kept, or the most probable one when ``k`` is None."""
    if k is None:
        return log_gate >= np.max(log_gate, axis=0)
    return np.isfinite(log_gate)


def routing_share(counts):
    """Fractions of the routing slots, from per-expert routed weight."""
    return counts / max(float(np.sum(counts)), np.finfo(float).tiny)


def expected_log(weights, log_values):
    """``sum(weights * log_values)`` with 0 * log 0 = 0 (the top-k gate's
    left-out experts have log-probability -inf and zero responsibility).

    One BLAS dot product, which raises no floating-point warnings: on a
    fit's small chunks it takes a quarter of the time of a product and a sum.
    """
    value = float(np.vdot(weights, log_values))
    if np.isnan(value):
        with np.errstate(invalid="ignore"):
            value = float(np.sum(np.where(weights > 0, weights * log_values, 0.0)))
    return value


class EStep(NamedTuple):
    """What one pass over the data gives the M-steps and the EM driver.

    ``q`` holds the two parts of EM's Q-function, sum_i w_i sum_k h_ik log g_k
    (``"gate"``) and sum_i w_i sum_k h_ik log P_k (``"experts"``), under the
    current parameters, both with the responsibilities of this pass and
    (``"gate_cross"``, ``"experts_cross"``) with those of the previous pass:
    the latter tell whether the last M-step increased Q, which is what keeps
    the likelihood from decreasing.
    """

    log_likelihood: float | None
    gate_stats: dict
    expert_stats: dict
    q: dict
    resp_mass: np.ndarray | None = None  # sum_i w_i h_ik, shape (K,)
    params: dict | None = None  # the gate's and experts' ``_params`` it used


def e_step(gate, experts, data, *, fixed_resp=False, previous=None, gate_pass=True):
    """One pass over the data: responsibilities, M-step statistics, Q-values.

    Fills ``resp`` and ``log_evidence`` of every part of the data (unless
    ``fixed_resp``, when the responsibilities already there are used, as at
    initialization and after re-seeding an expert) and accumulates the
    sufficient statistics of the gate and the experts from the same chunks.

    Parameters
    ----------
    gate_pass : bool, default=True
        If False (only with ``fixed_resp``), only the experts' statistics are
        summed: the gate is not evaluated and the Q-values are left out.
    previous : tuple, optional
        ``(gate_params, expert_params)`` of the previous E-step, to recompute
        its responsibilities for the cross Q-values when ``resp`` no longer
        holds them (a repeated pass after a rejected M-step).

    Returns
    -------
    EStep
    """
    if not gate_pass:
        if not fixed_resp:
            raise ValueError("gate_pass=False needs fixed_resp=True")
        params = experts._params(data)
        total = data.sum_parts(partial(_expert_stats_part, experts, params))
        return EStep(None, {}, total.get("experts", {}), {})
    params = (gate._params(data), experts._params(data))
    total = data.sum_parts(
        partial(_e_step_part, gate, experts, params, previous, fixed_resp)
    )
    return EStep(
        None if fixed_resp else float(total["log_likelihood"]),
        total.get("gate", {}),
        total.get("experts", {}),
        total["q"],
        total["resp_mass"],
        dict(zip(("gate", "experts"), params, strict=True)),
    )


def _expert_stats_part(experts, params, part):
    """The experts' statistics under the responsibilities a part holds."""
    stats = {}
    for rows, Xe in part.chunks("experts"):
        cache = experts._log_likelihood(Xe, part.y[rows], params)[1]
        weighted = part.sample_weight[rows] * part.resp[:, rows]
        experts._accumulate(stats, Xe, weighted, cache, params)
    return {"experts": stats}


def _e_step_part(gate, experts, params, previous, fixed_resp, part):
    """``e_step`` on the rows of one part; returns its sums."""
    gate_params, expert_params = params
    gate_stats, expert_stats = {}, {}
    q = dict.fromkeys(("gate", "experts", "gate_cross", "experts_cross"), 0.0)
    resp_mass = 0.0
    weight = part.sample_weight
    for rows, Xg, Xe in part.joint_chunks():
        y = part.y[rows]
        log_gate, gate_cache = gate._log_proba(Xg, gate_params)
        log_lik, expert_cache = experts._log_likelihood(Xe, y, expert_params)
        if previous is None:
            old = weight[rows] * part.resp[:, rows]
        else:
            old = responsibilities(
                gate._log_proba(Xg, previous[0])[0],
                experts._log_likelihood(Xe, y, previous[1])[0],
            )[0]
            old *= weight[rows]
        q["gate_cross"] += expected_log(old, log_gate)
        q["experts_cross"] += expected_log(old, log_lik)
        if not fixed_resp:
            _, part.log_evidence[rows] = responsibilities(
                log_gate, log_lik, out=part.resp[:, rows]
            )
        resp = part.resp[:, rows]
        weighted = weight[rows] * resp
        resp_mass = resp_mass + weighted.sum(axis=1)
        q["gate"] += expected_log(weighted, log_gate)
        q["experts"] += expected_log(weighted, log_lik)
        gate._accumulate(gate_stats, Xg, weight[rows], resp, gate_cache, gate_params)
        experts._accumulate(expert_stats, Xe, weighted, expert_cache, expert_params)
    result = {
        "gate": gate_stats,
        "experts": expert_stats,
        "q": q,
        "resp_mass": resp_mass,
    }
    if not fixed_resp:
        result["log_likelihood"] = float(weight @ part.log_evidence)
    return result


# ------------------------------------------------------- fitted models
# Rows per block when a fitted model evaluates new inputs.
_PREDICT_ROWS = 8192


def log_joint(gate, experts, gate_X, expert_X, y, n_experts):
    """log g_k(x_i) and log P_k(y_i | x_i), each (n_experts, n_samples), of
    fitted parts on their inputs (the experts' before their feature map)
    and encoded targets."""
    gate_params, expert_params = gate._params(), experts._params()
    expert_X = experts._features(expert_X)
    log_gate = np.empty((n_experts, gate_X.shape[0]))
    log_lik = np.empty_like(log_gate)
    for (rows, Xg), (_, Xe) in zip(
        design_chunks(gate_X, 0.0, _PREDICT_ROWS),
        design_chunks(expert_X, 0.0, _PREDICT_ROWS),
        strict=True,
    ):
        log_gate[:, rows] = gate._log_proba(Xg, gate_params)[0]
        log_lik[:, rows] = experts._log_likelihood(Xe, y[rows], expert_params)[0]
    # A generative gate's log weights carry log p(x): normalize them.
    log_gate -= log_sum_exp(log_gate)
    return log_gate, log_lik


def mix(gate, experts, gate_X, expert_X, dense):
    """sum_k g_k(x) v_k(x) of fitted parts, for expert outputs v (the means
    or class probabilities). A sparse gate evaluates only each sample's
    ``top_k`` experts; ``dense(gate_X, expert_X)`` gives (gate, values)
    otherwise."""
    if gate.top_k is None:
        weights, values = dense(gate_X, expert_X)
        return np.einsum("nk,nk...->n...", weights, values)
    parts = []
    for start in range(0, gate_X.shape[0], _PREDICT_ROWS):
        block = slice(start, start + _PREDICT_ROWS)
        samples, chosen, weights = gate.route(gate_X[block])
        values = experts._predict_pairs(expert_X[block], samples, chosen)
        starts = np.flatnonzero(np.diff(samples, prepend=-1))
        parts.append(np.add.reduceat(values * weights[:, None], starts, axis=0))
    return np.concatenate(parts)
