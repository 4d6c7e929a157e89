"""The training algorithms, chosen by the estimators' ``solver`` parameter.

Every solver is a function ``fit_x(gate, experts, data, settings) ->
History``: it takes a gate and an expert component prepared for the data
and initialized, and the fit's ``TrainingSettings``, improves the parameters
in place and reports a ``History``. The estimators look them up in
``SOLVERS``, as scipy's ``minimize`` looks up ``method``; ``_TABLE`` says in
one place which function each name runs and what it needs of the parts.
"""

from collections.abc import Callable
from dataclasses import dataclass

from ._em import fit_em
from ._gradient import fit_gd, fit_minibatch


@dataclass(frozen=True)
class TrainingSettings:
    """What the solvers read of the estimator, made once per fit (from its
    parameters of the same names; ``task`` is "regression" or
    "classification"). EM reads ``max_iter``, ``tol``, ``verbose`` and
    ``accelerate``."""

    solver: str
    loss: str
    task: str
    max_iter: int
    tol: float
    verbose: int
    n_iter_no_change: int
    balance_weight: float
    learning_rate_init: float
    batch_size: int | str
    shuffle: bool
    early_stopping: bool
    validation_fraction: float
    #: ``score(gate, experts, X, y)``: the estimator's score of a model still
    #: in training, on validated X and encoded y (early stopping).
    score: Callable
    #: SQUAREM between EM iterations; off for the split path's short fits
    #: (``mixexp._selection``), where at the search's loose ``tol`` an
    #: accepted jump postpones the stop more than it saves.
    accelerate: bool = True


# Solver name -> (function, the capabilities, from
# mixexp._contract.CAPABILITIES, it needs of both the gate and the experts).
_TABLE = {
    "em": (fit_em, frozenset({"em"})),
    "gd": (fit_gd, frozenset({"gradient"})),
    "sgd": (fit_minibatch, frozenset({"gradient"})),
    "adam": (fit_minibatch, frozenset({"gradient"})),
}
SOLVERS = {name: function for name, (function, _) in _TABLE.items()}
REQUIRES = {name: needs for name, (_, needs) in _TABLE.items()}


def solvers_for(capabilities):
    """The solvers that can train a part with these capabilities, in the
    order of ``SOLVERS``."""
    return [name for name in SOLVERS if REQUIRES[name] <= capabilities]


def check_options(
    solver, gate, experts, *, loss, top_k, n_experts, gate_noise, balance_weight
):
    """Refuse parts and option combinations ``solver`` cannot honour, saying
    what to change."""
    for name, component in (("gate", gate), ("expert", experts)):
        missing = REQUIRES[solver] - component.capabilities
        if missing:
            allowed = solvers_for(component.capabilities)
            hint = (
                "use " + " or ".join(f"solver={s!r}" for s in allowed)
                if allowed
                else "no solver can train it"
            )
            raise ValueError(
                f"{name}={type(component).__name__}(...) cannot be trained "
                f"by solver={solver!r}, which needs the capabilities "
                f"{sorted(missing)} it does not declare (it declares "
                f"{sorted(component.capabilities)}); {hint}."
            )
    if top_k is not None and top_k > n_experts:
        raise ValueError(
            f"top_k={top_k} is larger than n_experts={n_experts}; "
            "use top_k <= n_experts, or top_k=None for the dense gate."
        )
    if solver == "em" and loss != "likelihood":
        raise ValueError(
            f"loss={loss!r} needs a gradient solver (solver='gd'); EM "
            "maximizes the likelihood, so use loss='likelihood' with "
            "solver='em'."
        )
    if gate_noise and solver not in ("sgd", "adam"):
        raise ValueError(
            "gate_noise=True needs a stochastic gradient solver, not "
            f"solver={solver!r}: use solver='adam' or 'sgd', or set "
            "gate_noise=False."
        )
    if balance_weight > 0 and solver == "em":
        raise ValueError(
            f"balance_weight={balance_weight} is a penalty of the "
            "gradient solvers, not of EM: use solver='gd', 'sgd' or 'adam', "
            "or set balance_weight=0."
        )
