"""Training algorithms, chosen by the estimators' ``solver`` parameter.

Every solver takes a gate and an expert component that have been prepared
for the data and initialized, improves their parameters in place and returns
the objective history. The estimators look them up in ``SOLVERS``.
"""

import warnings

import numpy as np

from ._estep import e_step

# An expert whose total responsibility falls below this fraction of the total
# sample weight has no data left to fit and is re-seeded.
_DEAD_FRACTION = 1e-10


def objective(log_likelihood, gate, experts, total_weight):
    """Penalized log-likelihood per unit of sample weight (what EM increases)."""
    return (log_likelihood - gate._penalty() - experts._penalty()) / total_weight


def reseed_dead_experts(gate, data):
    """Hand the worst-explained samples to experts with no responsibility left.

    Each dead expert takes a disjoint block of the samples with the lowest
    log-evidence (hard responsibilities), so the next M-step fits it where the
    mixture is worst, and its gate row is reset to neutral so the gate can
    route to it again. Returns the indices of the re-seeded experts.
    """
    count = data.resp @ data.sample_weight
    dead = np.flatnonzero(count < _DEAD_FRACTION * data.total_weight)
    if dead.size == 0:
        return dead
    candidates = np.flatnonzero(data.sample_weight > 0)
    order = candidates[np.argsort(data.log_evidence[candidates], kind="stable")]
    block = max(1, order.size // (2 * data.n_experts))
    for i, k in enumerate(dead):
        rows = order[i * block : (i + 1) * block]
        if rows.size == 0:
            break
        data.resp[:, rows] = 0.0
        data.resp[k, rows] = 1.0
    gate._revive(dead)
    warnings.warn(
        f"Expert(s) {dead.tolist()} lost all responsibility and were re-seeded "
        f"on the {block} worst-explained samples each. If this repeats, use "
        "fewer experts (n_experts).",
        UserWarning,
        stacklevel=4,
    )
    return dead


def _q_slack(value):
    """Rounding allowance when comparing two sums over all samples."""
    return 1e-12 * (abs(value) + 1.0)


def fit_em(gate, experts, data, *, max_iter, tol, verbose=0):
    """Expectation-maximization from the current parameters.

    Each iteration is one pass over the data (the E-step, which also sums the
    statistics of the M-steps) followed by the M-steps of the experts and the
    gate. An M-step that takes an unverified Newton step is checked by the
    next pass: if its part of EM's Q-function (evaluated with the previous
    responsibilities) went down, the step is halved and the pass repeated.
    So the penalized log-likelihood never decreases, except right after an
    expert is re-seeded; convergence is declared when it changes by less
    than ``tol`` per unit of sample weight.

    Returns
    -------
    lower_bounds : list of float
        Objective after each iteration.
    converged : bool
    """
    components = {"gate": gate, "experts": experts}
    state = e_step(gate, experts, data)
    previous = objective(state.log_likelihood, gate, experts, data.total_weight)
    lower_bounds = []
    for n_iter in range(1, max_iter + 1):
        reseeded = reseed_dead_experts(gate, data).size > 0
        if reseeded:
            state = e_step(gate, experts, data, fixed_resp=True)
        before = {
            name: (state.q[name] - part._penalty(), part._params(data))
            for name, part in components.items()
        }
        experts._m_step(state.expert_stats, data)
        gate._m_step(state.gate_stats, data)
        old_params = None
        for _ in range(64):  # each retreat halves a step; 40 reach its start
            state = e_step(gate, experts, data, previous=old_params)
            rejected = [
                name
                for name, part in components.items()
                if part._pending is not None
                and state.q[name + "_cross"] - part._penalty()
                < before[name][0] - _q_slack(before[name][0])
            ]
            if not rejected:
                break
            for name in rejected:
                components[name]._retreat(data)
            old_params = (before["gate"][1], before["experts"][1])
        current = objective(state.log_likelihood, gate, experts, data.total_weight)
        lower_bounds.append(current)
        if verbose >= 2 or (verbose and n_iter % 10 == 0):
            print(f"  Iteration {n_iter}, log-likelihood = {current:.6f}")
        if not reseeded and abs(current - previous) < tol:
            return lower_bounds, True
        previous = current
    return lower_bounds, False


SOLVERS = {"em": fit_em}
