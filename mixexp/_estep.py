"""The E-step: responsibilities in log space, vectorized over rows.

The posterior of expert k for sample i is

    h_ik = g_k(x_i) P_k(y_i | x_i) / sum_j g_j(x_i) P_j(y_i | x_i),

computed from ``log g + log P`` by subtracting the row maximum before the one
exponential, so nothing overflows or underflows before it is normalized.
"""

import numpy as np


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
    top = np.max(joint, axis=0)
    top[~np.isfinite(top)] = 0.0
    joint -= top
    np.exp(joint, out=joint)
    total = np.sum(joint, axis=0)
    resp = np.divide(joint, total, out=out)
    with np.errstate(divide="ignore"):
        log_evidence = top + np.log(total)
    return resp, log_evidence


def e_step(gate, experts, data, *, fixed_resp=False):
    """One pass over the data: responsibilities and the M-step statistics.

    Fills ``data.resp`` and ``data.log_evidence`` (unless ``fixed_resp``, when
    the responsibilities already in ``data.resp`` are used, as at
    initialization and after re-seeding an expert) and accumulates the
    sufficient statistics of the gate and the experts from the same chunks.

    Returns
    -------
    log_likelihood : float or None
        sum_i w_i log p(y_i | x_i) under the current parameters (None with
        ``fixed_resp``).
    gate_stats, expert_stats : dict
        Additive statistics for ``gate._m_step`` and ``experts._m_step``.
    """
    gate_params = gate._params(data)
    expert_params = experts._params(data)
    gate_stats, expert_stats = {}, {}
    weight = data.sample_weight
    for rows, Xt in data.chunks():
        log_gate, gate_cache = gate._log_proba(Xt, gate_params)
        log_lik, expert_cache = experts._log_likelihood(Xt, data.y[rows], expert_params)
        if not fixed_resp:
            _, data.log_evidence[rows] = responsibilities(
                log_gate, log_lik, out=data.resp[:, rows]
            )
        resp = data.resp[:, rows]
        gate._accumulate(gate_stats, Xt, weight[rows], resp, gate_cache, gate_params)
        experts._accumulate(
            expert_stats, Xt, weight[rows] * resp, expert_cache, expert_params
        )
    log_likelihood = None if fixed_resp else float(weight @ data.log_evidence)
    return log_likelihood, gate_stats, expert_stats
