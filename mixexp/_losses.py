"""The training objectives of Jacobs, Jordan, Nowlan & Hinton (1991).

Each loss takes one chunk of rows, expert-major as everywhere in mixexp:
the sample weights ``weight`` (n_rows,), the gate's ``log_gate`` and
``gate`` probabilities (K, n_rows), the expert component and its forward
``cache``. It returns the chunk's weighted loss, ``dE/dlog g`` (K, n_rows),
and the keyword arguments of ``experts._backward`` that carry the loss's
derivative with respect to what the experts produce. The gate turns
``dE/dlog g`` into the gradient of its own parameters (a flat softmax and a
tree of softmaxes differ there).
"""

import numpy as np

from ._estep import responsibilities


def likelihood(weight, log_gate, gate, experts, cache):
    """Eq. 1.3: E = -log sum_k g_k P_k(y | x), with the experts' own noise.

    dE/dlog P_k = dE/dlog g_k = -h_k, with h the posterior; the same
    optimum as EM.
    """
    resp, log_evidence = responsibilities(log_gate, experts._log_lik_from(cache))
    return -float(weight @ log_evidence), -weight * resp, {"d_logp": -weight * resp}


def competitive(weight, log_gate, gate, experts, cache):
    """Eq. 1.2: E = sum_k g_k e_k, each expert judged on its own error e_k
    (squared error for regression, cross-entropy for classification)."""
    error = experts._error(cache)
    expected = np.sum(gate * error, axis=0)
    return (
        float(weight @ expected),
        weight * gate * error,
        {"d_error": weight * gate},
    )


def cooperative(weight, log_gate, gate, experts, cache):
    """Eq. 1.1: E = ||y - sum_k g_k o_k||^2, the experts' blended output
    judged as one; the experts cooperate instead of specializing."""
    outputs, target = experts._outputs(cache)  # (K, m, n), (m, n)
    blend = np.einsum("kn,kmn->mn", gate, outputs)
    resid = target - blend
    d_gate = -2.0 * np.einsum("mn,kmn->kn", resid, outputs)  # dE/dg_k
    return (
        float(weight @ np.sum(resid * resid, axis=0)),
        weight * gate * d_gate,
        {"d_output": -2.0 * (weight * gate)[:, None, :] * resid[None]},
    )


def switch_balance(weight, prob, share, strength):
    """The Switch Transformer's load-balancing loss (Fedus et al. 2022),
    ``strength * K * sum_i f_i P_i``, for one chunk.

    ``f_i`` (``share``) is the fraction of the routing slots expert i got in
    the batch: a count, held constant. ``P_i`` is the mean dense gate
    probability of expert i over the batch, whose gradient pushes routing
    away from overloaded experts. The loss is smallest, ``strength``, when
    both are uniform. The chunk's part is ``sum_x w_x sum_i a_i p_i(x)``
    with ``a_i = strength * K * f_i``; the solvers divide by the batch
    weight. Returns the value and dE/dlog p (K, n_rows) for the dense p.
    """
    d_prob = (strength * share.shape[0]) * share[:, None] * weight
    return float(np.sum(d_prob * prob)), prob * d_prob


def importance_balance(weight, prob, importance, strength):
    """The importance loss of Shazeer et al. (2017) in the Switch form,
    ``strength * K * sum_i P_i^2``, for one chunk: ``CV(P)^2 + 1`` times
    ``strength``, smallest (``strength``) when every expert's mean gate
    probability ``P_i`` is ``1 / K``.

    It is ``switch_balance`` with the routed shares ``f_i`` replaced by
    ``P_i`` itself, so it is smooth in the gate's parameters (a count of
    routed rows jumps, which breaks L-BFGS's line search). ``importance``
    holds the ``P_i`` of the whole batch (K,); the chunk's part is ``sum_x
    w_x sum_i a_i p_i(x)`` with ``a_i = strength * K * P_i``, and its
    gradient counts both factors of ``P_i^2``. Returns the value and dE/dlog
    p (K, n_rows) for the dense p.
    """
    value, d_log_prob = switch_balance(weight, prob, importance, strength)
    return value, 2.0 * d_log_prob


LOSSES = {
    "likelihood": likelihood,
    "competitive": competitive,
    "cooperative": cooperative,
}
