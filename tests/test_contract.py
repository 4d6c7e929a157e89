"""The declared contract of gates and experts (mixexp._contract): every
public part derives from its role's base, overrides the hooks every part
needs and those of each capability it declares, and the solvers' needs are
checked against the declared capabilities."""

import inspect
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, experts, gates
from mixexp._contract import CAPABILITIES, Expert, Gate, Part
from mixexp._solvers import REQUIRES, SOLVERS, solvers_for
from mixexp.datasets import make_local_classification, make_piecewise_linear
from mixexp.experts import (
    EstimatorExpert,
    GaussianProcessExpert,
    LinearExpert,
    LogisticExpert,
    PoissonExpert,
    StudentTExpert,
)
from mixexp.gates import ConstantGate, GaussianGate, SoftmaxGate, TreeGate

ALL = frozenset(CAPABILITIES)
NO_GRADIENT = ALL - {"gradient", "sparse_routing"}

# Each public part, in the settings its capabilities depend on, and what it
# supports today.
PARTS = [
    (SoftmaxGate(), ALL - {"predictive_distribution"}),
    (TreeGate(), ALL - {"predictive_distribution", "pruning"}),
    (GaussianGate(), {"em", "online", "blockwise", "pruning", "information"}),
    (ConstantGate(), {"em", "online", "blockwise", "pruning", "information"}),
    (LinearExpert(), ALL - {"sparse_routing"}),
    (LinearExpert(covariance_type="full"), NO_GRADIENT),
    (
        StudentTExpert(),
        {"em", "blockwise", "predictive_distribution", "pruning", "information"},
    ),
    (
        LogisticExpert(),
        {"em", "gradient", "online", "blockwise", "pruning", "information"},
    ),
    (PoissonExpert(), ALL - {"sparse_routing"}),
    (EstimatorExpert(Ridge()), {"em", "predictive_distribution", "pruning"}),
    (EstimatorExpert(LogisticRegression()), {"em", "pruning"}),
    (
        EstimatorExpert(KNeighborsRegressor()),
        {"em", "predictive_distribution", "pruning"},
    ),
    (GaussianProcessExpert(), {"em", "predictive_distribution", "pruning"}),
]
IDS = [repr(part) for part, _ in PARTS]


def _base(part):
    return Gate if part._role == "gate" else Expert


def test_every_public_part_is_covered():
    covered = {type(part).__name__ for part, _ in PARTS}
    assert covered == set(gates.__all__) | set(experts.__all__)


@pytest.mark.parametrize("name", gates.__all__)
def test_gates_derive_from_gate(name):
    cls = getattr(gates, name)
    assert issubclass(cls, Gate) and not issubclass(cls, Expert)


@pytest.mark.parametrize("name", experts.__all__)
def test_experts_derive_from_expert(name):
    cls = getattr(experts, name)
    assert issubclass(cls, Expert) and not issubclass(cls, Gate)


@pytest.mark.parametrize(("part", "expected"), PARTS, ids=IDS)
def test_declared_capabilities(part, expected):
    assert part.capabilities == frozenset(expected)
    assert part.capabilities <= ALL
    # Persistence and cloning keep what a part declares.
    assert pickle.loads(pickle.dumps(part)).capabilities == part.capabilities
    assert clone(part).capabilities == part.capabilities


def _overridden(part, hook):
    """Whether the part has the hook, other than its base's declaration."""
    own = inspect.getattr_static(type(part), hook, None)
    declared = inspect.getattr_static(_base(part), hook, None)
    return own is not None and own is not declared


@pytest.mark.parametrize(("part", "expected"), PARTS, ids=IDS)
def test_parts_implement_their_hooks(part, expected):
    base = _base(part)
    missing = [hook for hook in base._required_hooks if not _overridden(part, hook)]
    assert not missing, f"{type(part).__name__} lacks required hooks {missing}"
    for capability in part.capabilities:
        hooks = base._capability_hooks.get(capability, ())
        missing = [hook for hook in hooks if not _overridden(part, hook)]
        assert not missing, f"{type(part).__name__} lacks {capability} hooks {missing}"


@pytest.mark.parametrize("base", [Gate, Expert])
def test_hook_lists_name_every_declared_hook(base):
    """Every hook the base declares as missing is listed, as required or
    under a capability, so the checks above cover it."""
    listed = set(base._required_hooks).union(*base._capability_hooks.values())
    assert set(base._capability_hooks) <= ALL
    raising = {
        name
        for name, member in inspect.getmembers(base)
        if name != "_missing" and "self._missing(" in _source(member)
    }
    assert raising  # the scan found the declarations
    assert raising <= listed, raising - listed


def _source(member):
    target = member.fget if isinstance(member, property) else member
    try:
        return inspect.getsource(target)
    except (TypeError, OSError):
        return ""


def test_base_hooks_raise_a_clear_error():
    with pytest.raises(NotImplementedError, match="Gate must implement _log_proba"):
        Gate()._log_proba(None, None)
    with pytest.raises(NotImplementedError, match="'gradient' capability"):
        Expert()._forward(None, None, None, None)
    assert isinstance(Gate(), Part)


def test_solver_table():
    assert set(REQUIRES) == set(SOLVERS)
    assert all(need <= ALL for need in REQUIRES.values())
    assert solvers_for(ALL) == list(SOLVERS)
    assert solvers_for(frozenset({"em", "online"})) == ["em"]
    assert solvers_for(frozenset()) == []


def _estimator(part, solver):
    if part._role == "gate":
        return MixtureOfExpertsRegressor(gate=part, solver=solver)
    if part._task == "classification":
        return MixtureOfExpertsClassifier(expert=part, solver=solver)
    return MixtureOfExpertsRegressor(expert=part, solver=solver)


CHECKED = [(part, cap) for part, cap in PARTS if not isinstance(part, TreeGate)]


@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize(
    ("part", "expected"), CHECKED, ids=[repr(part) for part, _ in CHECKED]
)
def test_solver_needs_are_derived_from_capabilities(part, expected, solver):
    estimator = _estimator(part, solver)
    missing = REQUIRES[solver] - frozenset(expected)
    if not missing:
        estimator._check_training_options()
        return
    with pytest.raises(ValueError) as info:
        estimator._check_training_options()
    message = str(info.value)
    assert f"{type(part).__name__}(...)" in message
    assert f"solver={solver!r}" in message
    assert all(repr(capability) in message for capability in missing)
    for allowed in solvers_for(frozenset(expected)):
        assert f"solver={allowed!r}" in message


def test_fit_names_the_missing_capability():
    X, y = make_piecewise_linear(60, random_state=0)
    with pytest.raises(ValueError, match=r"needs the capabilities \['gradient'\]"):
        MixtureOfExpertsRegressor(gate=GaussianGate(), solver="gd").fit(X, y)


class _NoCapabilities(LinearExpert):
    capabilities = frozenset()


def test_a_part_no_solver_trains_is_refused():
    X, y = make_piecewise_linear(60, random_state=0)
    with pytest.raises(ValueError, match="no solver can train it"):
        MixtureOfExpertsRegressor(expert=_NoCapabilities()).fit(X, y)


class _BareExpert(Expert):
    """A custom expert that declares EM but implements no hook."""

    capabilities = frozenset({"em"})
    _task = "regression"


class _NoLikelihood(LinearExpert):
    """LinearExpert without its likelihood: the E-step's first need."""

    _log_likelihood = Expert._log_likelihood


class _NoLogProba(GaussianGate):
    _log_proba = Gate._log_proba


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"expert": _BareExpert()},
            r"_BareExpert must implement _\w+, which every mixexp expert has",
        ),
        (
            {"expert": _NoLikelihood()},
            "_NoLikelihood must implement _log_likelihood, which every mixexp "
            "expert has",
        ),
        (
            {"gate": _NoLogProba()},
            "_NoLogProba must implement _log_proba, which every mixexp gate has",
        ),
    ],
)
def test_a_missing_required_hook_fails_clearly(kwargs, message):
    X, y = make_piecewise_linear(60, random_state=0)
    with pytest.raises(NotImplementedError, match=message):
        MixtureOfExpertsRegressor(n_experts=2, random_state=0, **kwargs).fit(X, y)


def test_partial_fit_follows_the_online_capability():
    X, y = make_local_classification(80, random_state=0)
    assert hasattr(MixtureOfExpertsClassifier(2), "partial_fit")
    est = MixtureOfExpertsRegressor(2, expert=StudentTExpert())
    with pytest.raises(AttributeError) as info:
        est.partial_fit(*make_piecewise_linear(60, random_state=0))
    assert "'online' capability" in str(info.value.__cause__)
    online = MixtureOfExpertsClassifier(2, random_state=0).partial_fit(
        X, y, classes=np.unique(y)
    )
    assert online.n_iter_ == 1
