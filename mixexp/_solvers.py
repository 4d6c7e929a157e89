"""Training algorithms, chosen by the estimators' ``solver`` parameter.

Every solver takes a gate and an expert component that have been prepared
for the data and initialized, and the estimator (for its settings), improves
the parameters in place and returns a ``History``. The estimators look them
up in ``SOLVERS``, as scipy's ``minimize`` looks up ``method``.
"""

import warnings
from functools import partial
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

from ._estep import e_step, routed, routing_share
from ._losses import LOSSES, switch_balance


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
    """

    loss_curve: list
    lower_bounds: list
    converged: bool
    n_iter_dense: int = 0
    warning: str = ""
    objective: float | None = None

    @property
    def final(self):
        """The training objective of the parameters kept."""
        return self.loss_curve[-1] if self.objective is None else self.objective


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
    warnings.warn(
        f"Expert(s) {dead.tolist()} lost all responsibility and were re-seeded "
        f"on the {block} worst-explained samples each. If this repeats, use "
        "fewer experts (n_experts).",
        UserWarning,
        stacklevel=4,
    )
    return dead


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


def fit_em(gate, experts, data, estimator):
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
    if top_k is None:
        lower_bounds, converged = _em_phase(gate, experts, data, estimator)
        return History([-v for v in lower_bounds], lower_bounds, converged)
    gate.top_k = None
    try:
        dense, _ = _em_phase(gate, experts, data, estimator)
    finally:
        gate.top_k = top_k
    sparse, converged = _em_phase(gate, experts, data, estimator)
    lower_bounds = dense + sparse
    return History([-v for v in lower_bounds], lower_bounds, converged, len(dense))


def _em_phase(gate, experts, data, estimator):
    """EM iterations until convergence or ``max_iter``; returns the
    objective after each iteration and whether it converged."""
    max_iter, tol, verbose = estimator.max_iter, estimator.tol, estimator.verbose
    components = {"gate": gate, "experts": experts}

    def penalties():  # of the current parameters, once per pass
        return {name: part._penalty() for name, part in components.items()}

    state, penalty = e_step(gate, experts, data), penalties()
    previous = _penalized(state.log_likelihood, penalty, data.total_weight)
    lower_bounds = []
    for n_iter in range(1, max_iter + 1):
        # A top-k gate may legitimately route no sample to an expert; such an
        # expert keeps its parameters (expert_load_ shows it) rather than be
        # re-seeded where a sparse gate would hand it whole regions untrained.
        reseeded = (
            gate.top_k is None
            and reseed_dead_experts(gate, data, state.resp_mass).size > 0
        )
        if reseeded:
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
        current = _penalized(state.log_likelihood, penalty, data.total_weight)
        lower_bounds.append(current)
        if verbose >= 2 or (verbose and n_iter % 10 == 0):
            print(f"  Iteration {n_iter}, log-likelihood = {current:.6f}")
        if not reseeded and abs(current - previous) < tol:
            return lower_bounds, True
        previous = current
    return lower_bounds, False


# ------------------------------------------------------- gradient descent
def loss_and_gradient(
    gate, experts, data, loss, theta, chunks, balance_weight=0.0, rng=None
):
    """A loss of Jacobs et al. (1991) summed over ``chunks`` of rows, plus the
    load-balancing loss when ``balance_weight`` > 0, with the gradient for
    the gate's and the experts' trainable arrays.

    Parameters
    ----------
    theta : tuple of two lists
        ``(gate._theta(data), experts._theta(data))``-shaped arrays.
    chunks : callable
        Returns an iterable of (rows, Xt_gate, Xt_experts): row indices (a
        slice or an index array) and their gate and expert design columns.
    balance_weight : float
        Strength of ``switch_balance`` over the rows of all chunks.
    rng : numpy.random.RandomState, optional
        Draws the gate's training noise (``SoftmaxGate(noise=True)``).

    Returns
    -------
    value : float
    gradient : tuple of two lists shaped like ``theta``
    """
    loss_fn = LOSSES[loss]
    gate_theta, expert_theta = theta
    gate_grad = [np.zeros_like(a) for a in gate_theta]
    expert_grad = [np.zeros_like(a) for a in expert_theta]
    weight = data.sample_weight
    forwards = (
        (rows, Xg, Xe, gate._train_forward(Xg, gate_theta, rng))
        for rows, Xg, Xe in chunks()
    )
    share = None
    if balance_weight > 0:  # the routing shares of the whole batch come first
        forwards = list(forwards)
        counts = sum(
            routed(log_gate, gate.top_k) @ weight[rows]
            for rows, _, _, (log_gate, _, _) in forwards
        )
        share = routing_share(counts)
    total = 0.0
    for rows, Xg, Xe, (log_gate, gate_prob, gate_cache) in forwards:
        cache = experts._forward(Xe, data.y[rows], expert_theta, data)
        value, d_log_gate, d_experts = loss_fn(
            weight[rows], log_gate, gate_prob, experts, cache
        )
        d_log_dense = None
        if share is not None:
            extra, d_log_dense = switch_balance(
                weight[rows], gate_cache["prob"], share, balance_weight
            )
            value += extra
        total += value
        if log_gate.shape[0] > 1:
            parts = gate._train_backward(Xg, gate_cache, d_log_gate, d_log_dense)
            for acc, part in zip(gate_grad, parts, strict=True):
                acc += part
        parts = experts._backward(Xe, cache, expert_theta, **d_experts)
        for acc, part in zip(expert_grad, parts, strict=True):
            acc += part
    return total, (gate_grad, expert_grad)


def penalized_objective(
    gate,
    experts,
    data,
    loss,
    theta,
    chunks,
    scale,
    penalty_scale=None,
    loss_unit=1.0,
    **options,
):
    """``loss * scale + penalties * penalty_scale`` (``penalty_scale``
    defaults to ``scale``) and its gradient, as one flat vector; ``options``
    go to ``loss_and_gradient``. The gate's penalty is multiplied by
    ``loss_unit``, the unit of a squared-error loss (``_loss_unit``), so that
    its weight against the loss does not depend on the target's units."""
    if penalty_scale is None:
        penalty_scale = scale
    if options.get("balance_weight"):  # a gate penalty too
        options["balance_weight"] = options["balance_weight"] * loss_unit
    value, (gate_grad, expert_grad) = loss_and_gradient(
        gate, experts, data, loss, theta, chunks, **options
    )
    gate_pen, gate_pen_grad = gate._theta_penalty(theta[0])
    gate_pen = gate_pen * loss_unit
    gate_pen_grad = [g * loss_unit for g in gate_pen_grad]
    expert_pen, expert_pen_grad = experts._theta_penalty(
        theta[1], by_variance=loss == "likelihood"
    )
    grads = [
        a * scale + b * penalty_scale
        for a, b in zip(
            gate_grad + expert_grad, gate_pen_grad + expert_pen_grad, strict=True
        )
    ]
    return value * scale + (gate_pen + expert_pen) * penalty_scale, _pack(grads)


def _pack(arrays):
    return np.concatenate([a.ravel() for a in arrays])


def _unpack(vector, like):
    """Split a flat vector into two lists of arrays shaped like ``like``."""
    out, start = [], 0
    for group in like:
        arrays = []
        for a in group:
            arrays.append(vector[start : start + a.size].reshape(a.shape))
            start += a.size
        out.append(arrays)
    return tuple(out)


def _final_noise(gate, experts, data):
    """Losses without a noise model leave the experts' variances to be set
    from their gate-weighted residuals, so the fit is still a density."""
    experts._refit_noise(gate, data)


class _Stall:
    """MLP's stopping rule: ``n_iter_no_change`` iterations in a row without
    the loss improving on its best by at least ``tol``."""

    def __init__(self, tol, patience):
        self.tol, self.patience = tol, patience
        self.best, self.count, self.stalled = np.inf, 0, False

    def update(self, value):
        self.count = self.count + 1 if value > self.best - self.tol else 0
        self.best = min(self.best, value)
        self.stalled = self.count >= self.patience
        return self.stalled


def _loss_unit(data, estimator):
    """The unit of the training loss: the target's variance for a squared
    error of a regressor, else 1 (a log-likelihood has none). The gradient
    solvers' stopping rule and the gate's penalty are measured in it, so
    neither depends on the units of the target."""
    if estimator.loss == "likelihood" or estimator._task != "regression":
        return 1.0
    variance = float(np.mean(data.target_moments()[1]))
    return variance if variance > 0 else 1.0


def fit_gd(gate, experts, data, estimator):
    """Full-batch gradient descent (L-BFGS with analytic gradients) on one of
    the 1991 losses; an iteration is one L-BFGS step, one or a few passes.
    It stops after ``n_iter_no_change`` iterations without an improvement of
    ``tol`` in the loss's unit (``_loss_unit``), as MLPRegressor does, or at
    ``max_iter``.

    Returns
    -------
    History
    """
    loss = estimator.loss
    like = (gate._theta(data), experts._theta(data))
    scale = 1.0 / data.total_weight
    loss_unit = _loss_unit(data, estimator)
    curve = []
    stall = _Stall(estimator.tol, estimator.n_iter_no_change)

    def fun(vector):  # in the loss's unit, as L-BFGS's gtol is absolute
        value, grad = penalized_objective(
            gate,
            experts,
            data,
            loss,
            _unpack(vector, like),
            data.joint_chunks,
            scale,
            loss_unit=loss_unit,
            balance_weight=estimator.balance_weight,
        )
        return value / loss_unit, grad / loss_unit

    def record(intermediate_result):
        curve.append(float(intermediate_result.fun) * loss_unit)
        if estimator.verbose >= 2 or (estimator.verbose and len(curve) % 10 == 0):
            print(f"  Iteration {len(curve)}, loss = {curve[-1]:.6f}")
        if stall.update(float(intermediate_result.fun)):
            raise StopIteration

    result = minimize(
        fun,
        _pack(like[0] + like[1]),
        jac=True,
        method="L-BFGS-B",
        callback=record,
        options={"maxiter": estimator.max_iter, "ftol": 0.0, "gtol": 1e-9},
    )
    gate_theta, expert_theta = _unpack(result.x, like)
    gate._set_theta(gate_theta, data)
    experts._set_theta(expert_theta, data)
    if not curve:
        curve.append(float(result.fun) * loss_unit)
    converged = stall.stalled or (
        bool(result.success) and result.nit < estimator.max_iter
    )
    if loss != "likelihood":
        _final_noise(gate, experts, data)
        return History(curve, [], converged)
    return History(curve, [-v for v in curve], converged)


class _Adam:
    """Adam (Kingma & Ba 2014) with MLPRegressor's defaults."""

    def __init__(self, size, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.rate, self.beta_1, self.beta_2, self.epsilon = (
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
        )
        self.first, self.second, self.t = np.zeros(size), np.zeros(size), 0

    def step(self, grad):
        self.t += 1
        self.first = self.beta_1 * self.first + (1 - self.beta_1) * grad
        self.second = self.beta_2 * self.second + (1 - self.beta_2) * grad * grad
        rate = self.rate * np.sqrt(1 - self.beta_2**self.t) / (1 - self.beta_1**self.t)
        return -rate * self.first / (np.sqrt(self.second) + self.epsilon)


class _NesterovSGD:
    """SGD with Nesterov momentum 0.9, as MLPRegressor's default "sgd"."""

    def __init__(self, size, learning_rate, momentum=0.9):
        self.rate, self.momentum, self.velocity = (
            learning_rate,
            momentum,
            np.zeros(size),
        )

    def step(self, grad):
        self.velocity = self.momentum * self.velocity - self.rate * grad
        return self.momentum * self.velocity - self.rate * grad


# An epoch whose mean loss is non-finite or rises this far above the best
# seen has diverged: a tenfold squared error, or a likelihood per unit of
# weight a tenth of the best one (the loss, its negative log, up log 10).
_DIVERGENCE_FACTOR = 10.0
# ... plus this fraction of the target's variance for a squared error, so
# that a near-exact fit (lowest loss close to 0) does not trip it on noise.
_DIVERGENCE_MARGIN = 0.1


def _diverged(value, best, loss, loss_unit):
    """Whether the epoch loss ``value`` is far above the ``best`` seen."""
    if not np.isfinite(value):
        return True
    if loss == "likelihood":
        return value - best > np.log(_DIVERGENCE_FACTOR)
    # The margin keeps a near-exact fit (best close to 0) from tripping it.
    return value > _DIVERGENCE_FACTOR * best + _DIVERGENCE_MARGIN * loss_unit


def fit_minibatch(gate, experts, data, estimator):
    """Minibatch stochastic gradient descent (``"sgd"``) or Adam (``"adam"``)
    on one of the 1991 losses, with MLPRegressor's conventions: per-sample
    mean loss plus the penalties divided by the number of samples, shuffled
    batches, and stopping on the training loss or, with ``early_stopping``,
    on the score of a held-out validation split (whose best parameters,
    the starting ones included, are kept). An iteration is an epoch.

    An epoch's loss is the mean over its batches, each at the parameters of
    its step. When it is not finite or far above the lowest seen (that of
    the starting parameters, from a full pass, or of an epoch), training
    has diverged: it stops and keeps the parameters that had the lowest.
    Without early stopping, parameters whose training objective (a full
    pass) ends above the starting one are replaced by the starting ones.
    Either way the fit is reported as not converged, with a warning that
    says what to change; ``loss_curve`` still holds every epoch run.

    Returns
    -------
    History
    """
    rng = data.random_state
    loss = estimator.loss
    like = (gate._theta(data), experts._theta(data))
    vector = _pack(like[0] + like[1])
    loss_unit = _loss_unit(data, estimator)
    optimizer = {"adam": _Adam, "sgd": _NesterovSGD}[estimator.solver](
        vector.size, estimator.learning_rate_init
    )
    train = np.flatnonzero(data.sample_weight > 0)
    validation = None
    if estimator.early_stopping:
        order = rng.permutation(train)
        n_val = max(1, int(round(estimator.validation_fraction * train.size)))
        validation, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    batch = 200 if estimator.batch_size == "auto" else estimator.batch_size
    batch = min(batch, train.size)
    weight = data.sample_weight
    train_weight = float(weight[train].sum())
    # The parts' penalties are totals over all the fit's weight (validation
    # rows included): per unit of weight, as in EM.
    penalty_scale = 1.0 / data.total_weight
    stall = _Stall(estimator.tol, estimator.n_iter_no_change)
    curve, start = [], vector.copy()

    def set_params(v):
        gate_theta, expert_theta = _unpack(v, like)
        gate._set_theta(gate_theta, data)
        experts._set_theta(expert_theta, data)

    def training_objective(v):
        """A full pass over the training rows; a noisy gate's noise is the same
        at every call, so two parameter vectors are compared fairly."""

        def chunks():  # made chunk by chunk, not held all at once
            for begin in range(0, train.size, data.rows):
                yield next(data.joint_rows(train[begin : begin + data.rows]))

        with np.errstate(all="ignore"):
            value = penalized_objective(
                gate,
                experts,
                data,
                loss,
                _unpack(v, like),
                chunks,
                1.0 / train_weight,
                penalty_scale,
                loss_unit=loss_unit,
                balance_weight=estimator.balance_weight,
                rng=np.random.RandomState(0),
            )[0]
        return value if np.isfinite(value) else np.inf

    def validation_score():
        return estimator._score_components(
            gate, experts, data.X[validation], data.y[validation]
        )

    # The parameters of the lowest training loss seen, and their epoch.
    lowest, lowest_vector, lowest_epoch = training_objective(start), start, 0
    start_value = lowest
    best_vector = start  # of the best validation score
    if validation is not None:
        stall.best = -validation_score()
    diverged = False
    for epoch in range(estimator.max_iter):
        order = rng.permutation(train) if estimator.shuffle else train
        epoch_loss = 0.0
        for begin in range(0, order.size, batch):
            rows = order[begin : begin + batch]
            chunk = next(data.joint_rows(rows))
            theta = _unpack(vector, like)
            batch_weight = float(weight[rows].sum())
            if batch_weight <= 0:
                continue
            with np.errstate(all="ignore"):  # divergence is reported below
                value, grad = penalized_objective(
                    gate,
                    experts,
                    data,
                    loss,
                    theta,
                    lambda: [chunk],  # noqa: B023 (called right here)
                    1.0 / batch_weight,
                    penalty_scale,
                    loss_unit=loss_unit,
                    balance_weight=estimator.balance_weight,
                    rng=rng,
                )
                epoch_loss += value * batch_weight
                vector = vector + optimizer.step(grad)
        curve.append(epoch_loss / train_weight)
        if estimator.verbose >= 2 or (estimator.verbose and epoch % 10 == 9):
            print(f"  Epoch {epoch + 1}, loss = {curve[-1]:.6f}")
        if _diverged(curve[-1], lowest, loss, loss_unit) or not np.all(
            np.isfinite(vector)
        ):
            diverged = True
            break
        if curve[-1] < lowest:
            lowest, lowest_vector, lowest_epoch = curve[-1], vector.copy(), epoch + 1
        if validation is not None:
            set_params(vector)
            score = validation_score()
            if -score < stall.best - stall.tol:
                best_vector = vector.copy()
            if stall.update(-score):
                break
        elif stall.update(curve[-1] / loss_unit):
            break
    kept, kept_epoch = vector, len(curve)
    if validation is not None:
        kept, kept_epoch = best_vector, None
    elif diverged:
        kept, kept_epoch = lowest_vector, lowest_epoch
    final_value = start_value
    if validation is None and kept_epoch != 0:
        final_value = training_objective(kept)
    worse = final_value > start_value
    if worse:
        kept, kept_epoch = start, 0
    set_params(kept)
    if loss != "likelihood":
        _final_noise(gate, experts, data)
    warning = ""
    if diverged or worse:
        where = {None: "the best validation score", 0: "the start"}.get(
            kept_epoch, f"epoch {kept_epoch}"
        )
        if not diverged:
            what = (
                f"ended with a training objective of {final_value:.6g}, above "
                f"the {start_value:.6g} it started from"
            )
        elif np.all(np.isfinite(vector)):
            what = (
                f"diverged: the mean loss of epoch {len(curve)} was "
                f"{curve[-1]:.6g}, up from {lowest:.6g}"
            )
        else:
            what = f"diverged: its parameters overflowed in epoch {len(curve)}"
        inputs = "y and X" if estimator._task == "regression" else "X"
        warning = (
            f"solver={estimator.solver!r} {what}; the parameters of {where} are "
            f"kept. Lower learning_rate_init (now {estimator.learning_rate_init}), "
            f"standardize {inputs} (e.g. with StandardScaler), or use solver='em'."
        )
    # An epoch's loss averages over moving parameters: not a likelihood trace.
    kept_objective = min(final_value, start_value) if validation is None else None
    return History(
        curve,
        [],
        stall.stalled and not warning,
        warning=warning,
        objective=kept_objective,
    )


SOLVERS = {"em": fit_em, "gd": fit_gd, "sgd": fit_minibatch, "adam": fit_minibatch}

# The capabilities (mixexp._contract.CAPABILITIES) a solver needs of both the
# gate and the experts; the estimators refuse a part that lacks one.
REQUIRES = {
    "em": frozenset({"em"}),
    "gd": frozenset({"gradient"}),
    "sgd": frozenset({"gradient"}),
    "adam": frozenset({"gradient"}),
}


def solvers_for(capabilities):
    """The solvers that can train a part with these capabilities, in the
    order of ``SOLVERS``."""
    return [name for name in SOLVERS if REQUIRES[name] <= capabilities]
