"""Degenerate experts: found after a solver's run, dropped, and the rest
retrained.

An expert is degenerate when its responsibilities add up to fewer rows of
data than it and its gate row have free parameters: it can then interpolate
the few rows it explains, its noise variance collapses onto them, and the
likelihood it adds is spurious (the singularity of mixture likelihoods).
``prune_degenerate`` drops such experts from a fit whose parts declare the
'pruning' capability, retrains the others with the same solver, and warns;
the fitted model reports its effective number of experts, ``n_experts_``.
"""

from dataclasses import replace
from functools import partial

import numpy as np

from ._em import History
from ._estep import e_step


class Abandoned(Exception):
    """A fit stopped because pruning would leave no more experts than its
    caller asked to exceed (``abandon_at``): retraining them is wasted."""


def parameters_per_expert(gate, experts, n_experts):
    """Free parameters of one expert and its share of the gate's (float);
    an expert without a parameter count (a wrapped estimator) counts one."""
    try:
        own = experts._n_parameters()
    except ValueError:
        own = n_experts
    return (own + gate._n_parameters()) / n_experts


def effective_rows(gate, experts, data, current=False):
    """Each expert's responsibilities summed over the rows of positive
    weight, shape (K,): the rows it explains, whatever their weights (a row
    of weight 3 gives an expert no more distinct points to fit than one).
    The responsibilities are made by an E-step, unless ``current`` says the
    data holds those of the parameters already."""
    if not current:
        e_step(gate, experts, data)
    return sum(
        data.map_parts(lambda part: part.resp[:, part.sample_weight > 0].sum(axis=1))
    )


def degenerate_experts(gate, experts, data, current=False):
    """Indices of the experts whose effective rows are fewer than their
    parameters (``parameters_per_expert``); never all of them: the expert
    with the most rows stays. Returns ``(indices, rows, parameters)``
    (``current``: see ``effective_rows``)."""
    rows = effective_rows(gate, experts, data, current)
    need = parameters_per_expert(gate, experts, data.n_experts)
    bad = rows < need
    bad[np.argmax(rows)] = False
    return np.flatnonzero(bad), rows, need


def _shrink_part(keep, part):
    part.resp = part.resp[keep]
    part.n_experts = keep.size


def prune_degenerate(gate, experts, data, settings, history, run, abandon_at=0):
    """Drop degenerate experts and retrain the others with ``run(gate,
    experts, data, settings)`` (the fit's solver), until none is left; raise
    ``Abandoned`` instead when that would leave ``abandon_at`` experts or
    fewer (the split path's step from a smaller model).

    Only parts that declare 'pruning' under a dense gate are pruned; a top-k
    gate may leave an expert without samples by design, and a tree of gates
    cannot drop a leaf: their degenerate experts are reported in a warning.
    ``data`` (the restart's own) shrinks with the model. Returns the runs'
    histories joined, its ``notes`` saying what was dropped.
    """
    dropped = []
    while data.n_experts > 1:
        bad, rows, need = degenerate_experts(
            gate, experts, data, current=history.resp_current
        )
        if not bad.size:
            break
        remaining = settings.max_iter - len(history.loss_curve)  # shared budget
        description = ", ".join(f"{rows[k]:.1f}" for k in bad)
        why = _why_kept(gate, experts, remaining)
        if why:
            note = (
                f"Expert(s) {bad.tolist()} explain fewer rows of data "
                f"({description}) than each expert has parameters ({need:.1f}, "
                f"with its share of the gate's): they are degenerate, and {why}"
            )
            history = history._replace(notes=history.notes + (note,))
            break
        keep = np.setdiff1d(np.arange(data.n_experts), bad)
        if keep.size <= abandon_at:
            raise Abandoned(f"{keep.size} experts would be left")
        dropped.append((bad.tolist(), description, need, data.n_experts))
        gate._keep(keep)
        experts._keep(keep)
        data.n_experts = keep.size
        data.map_parts(partial(_shrink_part, keep))
        more = run(gate, experts, data, replace(settings, max_iter=remaining))
        history = _joined(history, more)
    notes = tuple(
        f"Expert(s) {bad} of {n_experts} explained fewer rows of data "
        f"({description}) than each expert has parameters ({need:.1f}, with "
        "its share of the gate's), so they were removed and the others "
        f"retrained: the model has {data.n_experts} "
        f"expert{'s' if data.n_experts != 1 else ''} (n_experts_). Use "
        "fewer experts or more data."
        for bad, description, need, n_experts in dropped
    )
    return history._replace(notes=history.notes + notes)


def _why_kept(gate, experts, remaining):
    """Why degenerate experts stay in the model, or "" if they can go."""
    if gate.top_k is not None:
        return (
            "a top-k gate keeps them (it may route no sample to an expert). "
            "Use fewer experts."
        )
    for part in (gate, experts):
        if "pruning" not in part.capabilities:
            return f"{type(part).__name__} cannot drop experts. Use fewer experts."
    if remaining < 1:
        return (
            "max_iter was used up before they could be removed and the other "
            "experts retrained: increase max_iter, or use fewer experts."
        )
    return ""


def _joined(first, second):
    """One History of two successive runs (the second's convergence)."""
    return History(
        first.loss_curve + second.loss_curve,
        first.lower_bounds + second.lower_bounds,
        second.converged,
        first.n_iter_dense,
        second.warning,
        second.objective,
        first.notes,
        second.resp_current,
    )
