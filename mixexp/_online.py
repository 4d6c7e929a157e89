"""Online EM for ``partial_fit`` (Cappé & Moulines 2009).

Every batch gives, under the current parameters, the same additive
statistics a batch E-step gives (per unit of sample weight). Their running
average ``s <- s + gamma_t (s_batch - s)``, with ``gamma_t = t ** -DECAY``
(DECAY in (1/2, 1]: the Robbins-Monro conditions), replaces the full-data
sums in the M-step:

- linear experts: the averaged weighted Gram matrices, cross products and
  moments, scaled by the weight seen so far, go through the exact M-step;
- softmax gate and softmax experts, whose M-step has no closed form and no
  finite sufficient statistics: online IRLS. Each batch's Newton (IRLS)
  model of the M-step objective around the current parameters is folded
  into running averages of its curvature and its linear term, and the
  parameters maximize the averaged quadratic model: the sufficient
  statistics of the weighted least-squares problem IRLS solves.

Known limit: a gate that must become very sharp (experts separated by jumps)
moves by about one averaged Newton step per batch, so three passes of 20
batches leave it softer than batch EM's; soft gates match batch EM.

For the first ``BURN_IN`` batches the statistics are only averaged: an
M-step on one small batch would overwrite a model fitted earlier.

This module holds the statistics and the step the parts' ``_online_update``
hooks share; ``mixexp._em.online_em`` runs a batch around them.
"""

from ._estep import e_step

DECAY = 0.6
BURN_IN = 2


def new_state():
    """Online statistics of a model that has seen no batch yet."""
    return {"t": 0, "seen": 0.0, "gate": {}, "experts": {}}


def running_average(store, batch_stats, batch_weight, gamma, keys):
    """Fold per-unit-weight batch statistics into ``store`` with step gamma."""
    for key in keys:
        value = batch_stats[key] / batch_weight
        store[key] = (
            value if key not in store else store[key] + gamma * (value - store[key])
        )


def online_step(gate, experts, data, state):
    """One batch of online EM; returns the batch's mean negative
    log-likelihood under the parameters before the update."""
    state["t"] += 1
    gamma = state["t"] ** -DECAY
    estep = e_step(gate, experts, data)
    state["seen"] += data.total_weight
    update = state["t"] > BURN_IN
    experts._online_update(
        estep.expert_stats, data, state["experts"], gamma, state["seen"], update
    )
    gate._online_update(
        estep.gate_stats, data, state["gate"], gamma, state["seen"], update
    )
    return -estep.log_likelihood / data.total_weight
