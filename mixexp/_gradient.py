"""The gradient solvers: ``gd`` (L-BFGS) and ``sgd``/``adam`` (minibatches) on
the losses of Jacobs et al. (1991), with analytic gradients through the
parts' forward and backward passes ('gradient' capability).

They stop by ``ConvergenceMonitor``'s patience rule (MLPRegressor's), read
their options from a ``TrainingSettings`` and report a ``History``. The two
loops, ``lbfgs_descent`` and ``minibatch_descent``, work on a flat parameter
vector and an objective given as functions, so that the deep mixtures
(``mixexp._deep_estimators``) train by the same code.
"""

import numpy as np
from scipy.optimize import minimize

from ._em import ConvergenceMonitor, History
from ._estep import routed, routing_share
from ._losses import LOSSES, switch_balance


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
        Draws the gate's training noise (the estimator's ``gate_noise=True``).

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


def _loss_unit(data, settings):
    """The unit of the training loss: the target's variance for a squared
    error of a regressor, else 1 (a log-likelihood has none). The gradient
    solvers' stopping rule and the gate's penalty are measured in it, so
    neither depends on the units of the target."""
    if settings.loss == "likelihood" or settings.task != "regression":
        return 1.0
    variance = float(np.mean(data.target_moments()[1]))
    return variance if variance > 0 else 1.0


def _patience_monitor(settings, label):
    """The gradient solvers' stopping rule (MLPRegressor's): stop after
    ``n_iter_no_change`` iterations that do not lower the best loss by
    ``tol``, or at ``max_iter``."""
    return ConvergenceMonitor(
        settings.tol,
        settings.max_iter,
        settings.verbose,
        patience=settings.n_iter_no_change,
        label=label,
        quantity="loss",
    )


def lbfgs_descent(fun, start, settings, unit=1.0):
    """Full-batch L-BFGS with analytic gradients under the gradient solvers'
    stopping rule (``_patience_monitor``): stop after ``n_iter_no_change``
    iterations without an improvement of ``tol`` in ``unit``, or at
    ``max_iter``. Shared by ``fit_gd`` and the deep mixtures
    (``mixexp._deep_estimators``).

    Parameters
    ----------
    fun : callable
        ``fun(vector) -> (value, gradient)``, the objective to lower.
    start : ndarray of shape (n_parameters,)
        Where L-BFGS starts.
    settings : TrainingSettings
        Reads ``tol``, ``max_iter``, ``n_iter_no_change`` and ``verbose``.
    unit : float, default=1.0
        The objective's unit: L-BFGS and the stopping rule see ``fun / unit``
        (L-BFGS's ``gtol`` is absolute).

    Returns
    -------
    vector : ndarray of shape (n_parameters,)
    curve : list of float
        ``fun``'s value after each iteration (at least one value).
    converged : bool
    """
    curve = []
    monitor = _patience_monitor(settings, "Iteration")

    def scaled(vector):
        value, grad = fun(vector)
        return value / unit, grad / unit

    def record(intermediate_result):
        curve.append(float(intermediate_result.fun) * unit)
        if monitor.report(float(intermediate_result.fun), shown=curve[-1]):
            raise StopIteration

    result = minimize(
        scaled,
        start,
        jac=True,
        method="L-BFGS-B",
        callback=record,
        options={"maxiter": monitor.max_iter, "ftol": 0.0, "gtol": 1e-9},
    )
    if not curve:
        curve.append(float(result.fun) * unit)
    converged = monitor.converged or (
        bool(result.success) and result.nit < monitor.max_iter
    )
    return result.x, curve, converged


def fit_gd(gate, experts, data, settings):
    """Full-batch gradient descent (L-BFGS with analytic gradients) on one of
    the 1991 losses; an iteration is one L-BFGS step, one or a few passes.
    It stops after ``n_iter_no_change`` iterations without an improvement of
    ``tol`` in the loss's unit (``_loss_unit``), as MLPRegressor does, or at
    ``max_iter``.

    Returns
    -------
    History
    """
    loss = settings.loss
    like = (gate._theta(data), experts._theta(data))
    scale = 1.0 / data.total_weight
    loss_unit = _loss_unit(data, settings)

    def fun(vector):
        return penalized_objective(
            gate,
            experts,
            data,
            loss,
            _unpack(vector, like),
            data.joint_chunks,
            scale,
            loss_unit=loss_unit,
            balance_weight=settings.balance_weight,
        )

    # The rule compares L-BFGS's own values, in the loss's unit.
    vector, curve, converged = lbfgs_descent(
        fun, _pack(like[0] + like[1]), settings, loss_unit
    )
    gate_theta, expert_theta = _unpack(vector, like)
    gate._set_theta(gate_theta, data)
    experts._set_theta(expert_theta, data)
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


def fit_minibatch(gate, experts, data, settings):
    """Minibatch stochastic gradient descent (``"sgd"``) or Adam (``"adam"``)
    on one of the 1991 losses, with MLPRegressor's conventions: per-sample
    mean loss plus the penalties divided by the number of samples, shuffled
    batches, and stopping on the training loss or, with ``early_stopping``,
    on the score of a held-out validation split. The loop, its divergence
    rule and what it keeps are ``minibatch_descent``'s. An iteration is an
    epoch.

    Returns
    -------
    History
    """
    loss = settings.loss
    like = (gate._theta(data), experts._theta(data))
    loss_unit = _loss_unit(data, settings)
    # The parts' penalties are totals over all the fit's weight (validation
    # rows included): per unit of weight, as in EM.
    penalty_scale = 1.0 / data.total_weight

    def set_params(v):
        gate_theta, expert_theta = _unpack(v, like)
        gate._set_theta(gate_theta, data)
        experts._set_theta(expert_theta, data)

    def objective(v, chunks, scale, rng):
        return penalized_objective(
            gate,
            experts,
            data,
            loss,
            _unpack(v, like),
            chunks,
            scale,
            penalty_scale,
            loss_unit=loss_unit,
            balance_weight=settings.balance_weight,
            rng=rng,
        )

    def step(v, rows, scale, rng):
        chunk = next(data.joint_rows(rows))
        return objective(v, lambda: [chunk], scale, rng)

    def full(v, rows, scale):
        """A full pass over ``rows``; a noisy gate's noise is the same at
        every call, so two parameter vectors are compared fairly."""

        def chunks():  # made chunk by chunk, not held all at once
            for begin in range(0, rows.size, data.rows):
                yield next(data.joint_rows(rows[begin : begin + data.rows]))

        return objective(v, chunks, scale, np.random.RandomState(0))[0]

    def score(v, rows):
        set_params(v)
        return settings.score(gate, experts, data.X[rows], data.y[rows])

    inputs = "y and X" if settings.task == "regression" else "X"
    vector, history = minibatch_descent(
        _pack(like[0] + like[1]),
        step=step,
        full=full,
        score=score,
        sample_weight=data.sample_weight,
        settings=settings,
        rng=data.random_state,
        loss_unit=loss_unit,
        advice=f"standardize {inputs} (e.g. with StandardScaler), or use solver='em'",
    )
    set_params(vector)
    if loss != "likelihood":
        _final_noise(gate, experts, data)
    return history


def minibatch_descent(
    vector, *, step, full, score, sample_weight, settings, rng, loss_unit, advice
):
    """The minibatch loop of ``"sgd"`` and ``"adam"``, on a flat parameter
    vector; shared by ``fit_minibatch`` and the deep mixtures.

    Each epoch shuffles the training rows (``shuffle``) and takes one step
    of the optimizer per batch of ``batch_size`` rows. Training stops by the
    patience rule on the training loss (in ``loss_unit``) or, with
    ``early_stopping``, on the score of a held-out ``validation_fraction``
    of the rows with positive weight, whose best parameters (the starting
    ones included) are kept.

    An epoch's loss is the mean over its batches, each at the parameters of
    its step. When it is not finite or far above the lowest seen (that of
    the starting parameters, from a full pass, or of an epoch), training
    has diverged: it stops and keeps the parameters that had the lowest.
    Without early stopping, parameters whose training objective (a full
    pass) ends above the starting one are replaced by the starting ones.
    Either way the run is reported as not converged, with a warning that
    says what to change; ``loss_curve`` still holds every epoch run.

    Parameters
    ----------
    vector : ndarray of shape (n_parameters,)
        The starting parameters.
    step : callable
        ``step(vector, rows, scale, rng) -> (value, gradient)``: the
        objective of a batch of ``rows``, its loss multiplied by ``scale``
        (one over the batch's weight) plus the penalties, and its gradient.
    full : callable
        ``full(vector, rows, scale) -> value``: the same objective over all
        the training ``rows``, deterministic.
    score : callable
        ``score(vector, rows) -> float``: the estimator's score (higher is
        better) on the validation ``rows`` (``early_stopping``).
    sample_weight : ndarray of shape (n_samples,)
    settings : TrainingSettings
    rng : numpy.random.RandomState
        Draws the validation split and the batches; ``step`` gets it too.
    loss_unit : float
        The loss's unit (``_loss_unit``).
    advice : str
        What to change besides the learning rate, for the warning of a run
        that diverged or ended above its start.

    Returns
    -------
    vector : ndarray of shape (n_parameters,)
        The parameters kept.
    history : History
    """
    loss = settings.loss
    optimizer = {"adam": _Adam, "sgd": _NesterovSGD}[settings.solver](
        vector.size, settings.learning_rate_init
    )
    weight = sample_weight
    train = np.flatnonzero(weight > 0)
    validation = None
    if settings.early_stopping:
        order = rng.permutation(train)
        # R^2 needs two rows; sklearn's MLP refuses fewer too.
        n_val = max(2, int(round(settings.validation_fraction * train.size)))
        if train.size - n_val < 1:
            raise ValueError(
                f"early_stopping=True holds out {n_val} of the {train.size} "
                "samples with positive weight for validation and leaves none "
                "to train on; fit more samples or set early_stopping=False."
            )
        validation, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    batch = 200 if settings.batch_size == "auto" else settings.batch_size
    batch = min(batch, train.size)
    train_weight = float(weight[train].sum())
    # On the validation loss with early stopping, else on the training loss
    # in its unit; the verbose line shows the epoch's training loss.
    monitor = _patience_monitor(settings, "Epoch")
    curve, start = [], vector.copy()

    def training_objective(v):
        with np.errstate(all="ignore"):
            value = full(v, train, 1.0 / train_weight)
        return value if np.isfinite(value) else np.inf

    # The parameters of the lowest training loss seen, and their epoch.
    lowest, lowest_vector, lowest_epoch = training_objective(start), start, 0
    start_value = lowest
    best_vector = start  # of the best validation score
    if validation is not None:
        monitor.start(-score(start, validation))
    diverged = False
    for _ in range(monitor.max_iter):
        order = rng.permutation(train) if settings.shuffle else train
        epoch_loss = 0.0
        for begin in range(0, order.size, batch):
            rows = order[begin : begin + batch]
            batch_weight = float(weight[rows].sum())
            if batch_weight <= 0:
                continue
            with np.errstate(all="ignore"):  # divergence is reported below
                value, grad = step(vector, rows, 1.0 / batch_weight, rng)
                epoch_loss += value * batch_weight
                vector = vector + optimizer.step(grad)
        curve.append(epoch_loss / train_weight)
        diverged = _diverged(curve[-1], lowest, loss, loss_unit) or not np.all(
            np.isfinite(vector)
        )
        if diverged:  # no improvement, and the end of training
            monitor.report(np.inf, shown=curve[-1])
            break
        if curve[-1] < lowest:
            lowest, lowest_vector, lowest_epoch = curve[-1], vector.copy(), len(curve)
        if validation is not None:
            tracked = -score(vector, validation)
            if monitor.improves(tracked):
                best_vector = vector.copy()
        else:
            tracked = curve[-1] / loss_unit
        if monitor.report(tracked, shown=curve[-1]):
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
        warning = (
            f"solver={settings.solver!r} {what}; the parameters of {where} are "
            f"kept. Lower learning_rate_init (now {settings.learning_rate_init}), "
            f"{advice}."
        )
    # An epoch's loss averages over moving parameters: not a likelihood trace.
    kept_objective = min(final_value, start_value) if validation is None else None
    return kept, History(
        curve,
        [],
        monitor.converged and not warning,
        warning=warning,
        objective=kept_objective,
    )
