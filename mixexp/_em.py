"""EM: the training loop, its convergence monitor, and ``partial_fit``'s
online EM.

``fit_em`` iterates E-steps and M-steps over a fit's ``TrainingData``, from
the parts ``start_from_clusters`` fits to the initial clusters;
``ConvergenceMonitor`` says when an iterative solver stops (EM's rule here,
the gradient solvers' in ``mixexp._gradient``) and keeps the objective's
history; ``online_em`` runs one batch of a stream (its statistics are
``mixexp._online``'s). Every solver reports a ``History``.
"""

import copy
from functools import partial
from typing import NamedTuple

import numpy as np

from ._accelerate import squarem
from ._estep import e_step, routed
from ._init import initialize_responsibilities
from ._online import new_state, online_step


class History(NamedTuple):
    """What a solver reports.

    ``loss_curve`` is the training objective per iteration or epoch (mean
    per unit of sample weight, penalties included, lower is better);
    ``lower_bounds`` the penalized mean log-likelihood per iteration when
    the solver tracks it (EM, and gradient descent on the likelihood), else
    empty. ``n_iter_dense`` counts the leading iterations of a dense warm-up
    (EM with a top-k gate), whose objective is the dense gate's. ``warning``
    replaces the estimator's generic ConvergenceWarning when the solver knows
    better why it did not converge. ``objective`` is the training objective
    of the parameters kept, when they are not those of the last iteration
    (a minibatch run that kept earlier ones); restarts are compared on it.
    ``notes`` are warnings for the user about the run (experts pruned),
    given by the fit if the run is the one kept. ``resp_current`` says that
    the data's responsibilities are those of the parameters kept (EM's last
    pass made them), so the pruning that follows need not make them again.
    """

    loss_curve: list
    lower_bounds: list
    converged: bool
    n_iter_dense: int = 0
    warning: str = ""
    objective: float | None = None
    notes: tuple = ()
    resp_current: bool = False

    @property
    def final(self):
        """The training objective of the parameters kept."""
        return self.loss_curve[-1] if self.objective is None else self.objective


class ConvergenceMonitor:
    """When an iterative solver stops, and the history of its objective.

    In the spirit of hmmlearn's ``ConvergenceMonitor``: the solver
    ``report``s the objective after every iteration (an epoch, a batch); the
    monitor keeps it in ``history``, prints the verbose line and says whether
    the run has ``converged``, by one of two rules:

    - ``patience=None`` (EM): the objective changed by less than ``tol``
      since the previous iteration (``start`` gives the value before the
      first); an iteration reported as not ``comparable`` (EM right after a
      re-seed) does not converge;
    - ``patience=n`` (the gradient solvers, MLPRegressor's rule): ``n``
      iterations in a row did not lower the best objective (lower is
      better) by ``tol``; ``start`` gives a starting best.

    With ``tol=None`` there is no rule (a ``partial_fit`` stream never
    converges) and the monitor only keeps the history, which may continue
    an earlier one (``history``). ``max_iter`` bounds the solver's loop.
    """

    def __init__(
        self,
        tol,
        max_iter,
        verbose=0,
        *,
        patience=None,
        label="Iteration",
        quantity="log-likelihood",
        history=(),
    ):
        self.tol, self.max_iter, self.verbose = tol, max_iter, verbose
        self.patience, self.label, self.quantity = patience, label, quantity
        self.history = list(history)
        self.iter = 0
        self.best, self.count = np.inf, 0  # the patience rule's state
        self._previous = None
        self._converged = False

    @property
    def converged(self):
        """Whether the last report met the rule."""
        return self._converged

    def start(self, value):
        """The objective before the first iteration (not one itself)."""
        self._previous = self.best = value

    def improves(self, value):
        """Whether ``value`` would lower the best by at least ``tol``."""
        return value < self.best - self.tol

    def report(self, value, shown=None, comparable=True):
        """Record the objective ``value`` of one more iteration, print it
        (or ``shown``, the number the user knows, such as the training loss
        next to a validation one) and return ``converged``."""
        self.iter += 1
        self.history.append(value)
        if self.verbose >= 2 or (self.verbose and self.iter % 10 == 0):
            number = value if shown is None else shown
            print(f"  {self.label} {self.iter}, {self.quantity} = {number:.6f}")
        if self.tol is None:
            return False
        if self.patience is None:
            self._converged = (
                comparable
                and self._previous is not None
                and abs(value - self._previous) < self.tol
            )
            self._previous = value
        else:
            self.count = self.count + 1 if value > self.best - self.tol else 0
            self.best = min(self.best, value)
            self._converged = self.count >= self.patience
        return self._converged


# An expert whose total responsibility falls below this fraction of the total
# sample weight has no data left to fit and is re-seeded.
_DEAD_FRACTION = 1e-10


def objective(log_likelihood, gate, experts, total_weight):
    """Penalized log-likelihood per unit of sample weight (what EM increases)."""
    return _penalized(
        log_likelihood,
        {"gate": gate._penalty(), "experts": experts._penalty()},
        total_weight,
    )


def _penalized(log_likelihood, penalty, total_weight):
    """``objective`` from the components' penalties already computed."""
    return (log_likelihood - penalty["gate"] - penalty["experts"]) / total_weight


def reseed_dead_experts(gate, data, count):
    """Hand the worst-explained samples to experts with no responsibility left.

    Each dead expert takes a disjoint block of the samples with the lowest
    log-evidence (hard responsibilities), so the next M-step fits it where the
    mixture is worst, and its gate row is reset to neutral so the gate can
    route to it again. ``count`` is each expert's responsibility mass,
    sum_i w_i h_ik (the E-step's ``resp_mass``). Returns the indices of the
    re-seeded experts.
    """
    dead = np.flatnonzero(count < _DEAD_FRACTION * data.total_weight)
    if dead.size == 0:
        return dead
    n_candidates = sum(
        data.map_parts(lambda part: int(np.count_nonzero(part.sample_weight > 0)))
    )
    block = max(1, n_candidates // (2 * data.n_experts))
    need = min(block * dead.size, n_candidates)
    worst = data.map_parts(partial(_worst_rows, need))
    values = np.concatenate([part[0] for part in worst])
    index = np.concatenate([part[1] for part in worst])
    chosen = index[np.lexsort((index, values))[:need]]
    data.map_parts(partial(_hand_rows, chosen, dead[np.arange(need) // block]))
    gate._revive(dead)
    return dead


def _reseed_note(reseeded):
    """The fit's one warning about the experts it re-seeded, from the
    number of times each was (``{expert: times}``); None if none was."""
    if not reseeded:
        return None
    times = sum(reseeded.values())
    return (
        f"Expert(s) {sorted(reseeded)} lost all responsibility during the fit "
        f"and were re-seeded on the worst-explained samples ({times} "
        f"re-seeding{'s' if times > 1 else ''} in all). If this repeats, use "
        "fewer experts (n_experts)."
    )


def _worst_rows(count, part):
    """Log-evidence and (global) index of the part's ``count`` weighted rows
    with the lowest log-evidence, ties in row order."""
    candidates = np.flatnonzero(part.sample_weight > 0)
    values = part.log_evidence[candidates]
    order = np.lexsort((candidates, values))[:count]
    return values[order], candidates[order] + part.start


def _hand_rows(rows, experts, part):
    """Give each of the (global) ``rows`` that lie in the part to its expert."""
    local = rows - part.start
    inside = (local >= 0) & (local < part.n_samples)
    local = local[inside]
    part.resp[:, local] = 0.0
    part.resp[experts[inside], local] = 1.0


def _q_slack(value):
    """Rounding allowance when comparing two sums over all samples."""
    return 1e-12 * (abs(value) + 1.0)


def start_from_clusters(gate, experts, data, init, arrange, solver, resp=None):
    """Reset new, prepared parts and fit them to ``data``'s initial clusters
    (``initialize_responsibilities``: ``init`` and ``arrange``), for a run of
    ``solver``: one M-step on the one-hot responsibilities. Given ``resp``
    (K, n_samples), soft responsibilities of a fitted parent model (the
    split path), the gate and the experts take one M-step on them instead."""
    gate._reset(data)
    experts._reset(data)
    if resp is not None:
        data.map_parts(partial(_set_resp, resp))
        state = e_step(gate, experts, data, fixed_resp=True)
        experts._m_step(state.expert_stats, data)
        gate._m_step(state.gate_stats, data)
        gate._pending = None
        return
    initialize_responsibilities(data, init, data.random_state, arrange)
    # For EM only the experts learn from the clusters; the gate stays
    # uniform so the first E-step assigns samples by how well each expert
    # fits them (a gate fitted to hard cluster labels is so sharp that EM
    # would never move samples between experts again). Gradient solvers
    # weight each expert's updates by the gate itself, so a uniform gate
    # would drag every expert towards the global fit: their gate takes
    # one M-step towards the clusters.
    # A top-k gate cannot start uniform either: every sample would go to
    # the same k experts.
    gate_learns = solver != "em" or gate.top_k is not None
    state = e_step(gate, experts, data, fixed_resp=True, gate_pass=gate_learns)
    experts._m_step(state.expert_stats, data)
    if gate_learns:
        gate._m_step(state.gate_stats, data)
        gate._pending = None


def _set_resp(resp, part):
    part.resp[...] = resp[:, part.start : part.start + part.n_samples]


def fit_em(gate, experts, data, settings):
    """Expectation-maximization from the current parameters.

    Each iteration is one pass over the data (the E-step, which also sums the
    statistics of the M-steps) followed by the M-steps of the experts and the
    gate. An M-step that takes an unverified Newton step is checked by the
    next pass: if its part of EM's Q-function (evaluated with the previous
    responsibilities) went down, the step is halved and the pass repeated.
    So the penalized log-likelihood never decreases, except right after an
    expert is re-seeded; convergence is declared when it changes by less
    than ``tol`` per unit of sample weight.

    A top-k gate is trained dense to sparse: EM first converges with the
    dense gate, then continues with the top-k gate (up to ``max_iter``
    iterations each). The history holds both phases, the dense one first
    (``n_iter_dense`` iterations); each never decreases, but the objective
    drops at the switch, from the dense gate's likelihood to the top-k
    gate's, a different model. Started sparse, EM locks samples to their
    first k experts, since an expert outside a sample's top k gets no
    responsibility for it, hence no reason for the gate to route it there;
    with k = 1 the posterior is the routing itself and nothing moves.

    Returns
    -------
    History
    """
    top_k = gate.top_k
    reseeded = {}  # expert -> how many times it was re-seeded
    if top_k is None:
        lower_bounds, converged, current = _em_phase(
            gate, experts, data, settings, reseeded
        )
        n_dense = 0
    else:
        gate.top_k = None
        try:
            dense = _em_phase(gate, experts, data, settings, reseeded)[0]
        finally:
            gate.top_k = top_k
        sparse, converged, current = _em_phase(gate, experts, data, settings, reseeded)
        lower_bounds, n_dense = dense + sparse, len(dense)
    note = _reseed_note(reseeded)
    return History(
        [-v for v in lower_bounds],
        lower_bounds,
        converged,
        n_dense,
        notes=() if note is None else (note,),
        resp_current=current,
    )


def _em_phase(gate, experts, data, settings, reseeded):
    """EM iterations until convergence or ``max_iter``; returns the
    objective after each iteration, whether it converged and whether the
    responsibilities are those of the final parameters. Counts each
    re-seeded expert in ``reseeded``."""
    monitor = ConvergenceMonitor(settings.tol, settings.max_iter, settings.verbose)
    components = {"gate": gate, "experts": experts}

    def penalties():  # of the current parameters, once per pass
        return {name: part._penalty() for name, part in components.items()}

    def objective_of(state):
        return _penalized(state.log_likelihood, penalties(), data.total_weight)

    state, penalty = e_step(gate, experts, data), penalties()
    fresh = True  # the responsibilities are those of the current parameters
    current = _penalized(state.log_likelihood, penalty, data.total_weight)
    monitor.start(current)
    accelerator = squarem(gate, experts, data) if settings.accelerate else None
    if accelerator is not None:
        accelerator.restart(current)
    while monitor.iter < monitor.max_iter:
        if accelerator is not None and accelerator.ready():
            # A jump is no EM step: EM's own next step decides convergence.
            jumped = accelerator.extrapolate(state, current, objective_of)
            if jumped is not None:
                state, current = jumped
                penalty = penalties()
                monitor.report(current, comparable=False)
                fresh = True
                continue
        # A top-k gate may legitimately route no sample to an expert; such an
        # expert keeps its parameters (expert_load_ shows it) rather than be
        # re-seeded where a sparse gate would hand it whole regions untrained.
        dead = (
            ()
            if gate.top_k is not None
            else reseed_dead_experts(gate, data, state.resp_mass)
        )
        for expert in dead:
            reseeded[int(expert)] = reseeded.get(int(expert), 0) + 1
        revived = len(dead) > 0
        if revived:
            state, penalty = e_step(gate, experts, data, fixed_resp=True), penalties()
        # Q and the parameters of the pass just made, before the M-steps.
        before = {
            name: (state.q[name] - penalty[name], state.params[name])
            for name in components
        }
        experts._m_step(state.expert_stats, data)
        gate._m_step(state.gate_stats, data)
        old_params = None
        for _ in range(64):  # each retreat halves a step; 40 reach its start
            state = e_step(gate, experts, data, previous=old_params)
            penalty = penalties()
            rejected = [
                name
                for name, part in components.items()
                if part._pending is not None
                and state.q[name + "_cross"] - penalty[name]
                < before[name][0] - _q_slack(before[name][0])
            ]
            if not rejected:
                break
            for name in rejected:
                components[name]._retreat(data)
            old_params = (before["gate"][1], before["experts"][1])
        fresh = not rejected  # else a step was halved after the last pass
        current = _penalized(state.log_likelihood, penalty, data.total_weight)
        if accelerator is not None:
            accelerator.record(current, comparable=not revived)
        if monitor.report(current, comparable=not revived):
            return monitor.history, True, fresh
    return monitor.history, False, fresh


def online_em(data, state, parts, start=None, previous=None):
    """One ``partial_fit`` batch of online EM on ``data``.

    ``state`` holds the stream's running statistics (None for a new stream;
    it is copied, so a failed batch leaves it as it was); ``parts(data)``
    returns the gate and the experts prepared for the batch, new ones or the
    fitted ones continued; ``start(gate, experts, data)``, for new parts,
    fits them to the batch's clusters; ``previous`` is the History so far.

    The stream's design offsets are its first batch's, and so are the
    ``data.cache`` entries the parts set in ``_prepare`` (their units, see
    ``mixexp._contract.Part._prepare``); what they cache later belongs to
    one batch and is not carried over.

    Returns
    -------
    gate, experts, history, state
        The updated parts (``_end_fit`` done), the History with this
        batch's mean negative log-likelihood appended (never converged),
        and the new state, whose ``"load"`` sums the routed weight.
    """
    if state is None:
        state = new_state()
        state["offset"] = dict(data.offset)
    else:
        state = copy.deepcopy(state)
        data.offset.update(state["offset"])
        data.cache.update(state["cache"])
    gate, experts = parts(data)
    state["cache"] = dict(data.cache)
    if start is not None:
        start(gate, experts, data)
    for component in (gate, experts):
        component._prepare_online()
    previous = previous or History([], [], False)
    monitor = ConvergenceMonitor(
        None, None, quantity="loss", history=previous.loss_curve
    )
    monitor.report(online_step(gate, experts, data, state))
    gate._end_fit()
    experts._end_fit()
    state["load"] = state.get("load", 0.0) + routed_weight(gate, data)
    curve = monitor.history
    history = History(curve, [-v for v in curve], False, previous.n_iter_dense)
    return gate, experts, history, state


def routed_weight(gate, data):
    """Sample weight routed to each expert (see ``expert_load_``)."""
    params = gate._params(data)
    return data.reduce(
        lambda part, rows, Xt: {
            "load": routed(gate._log_proba(Xt, params)[0], gate.top_k)
            @ part.sample_weight[rows]
        },
        "gate",
    )["load"]
