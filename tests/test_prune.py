"""Degenerate experts (mixexp._prune): an expert that explains fewer rows
than it has parameters is removed, the others retrained, and the user told;
the fitted model reports its own number of experts, ``n_experts_``."""

import copy
import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._prune import effective_rows
from mixexp.datasets import (
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)
from mixexp.experts import (
    EstimatorExpert,
    LinearExpert,
    LogisticExpert,
    PoissonExpert,
    StudentTExpert,
)
from mixexp.gates import ConstantGate, GaussianGate, SoftmaxGate

PRUNED = "Expert.*removed"


def _small():
    """28 rows, two regimes: four experts are more than the data support."""
    return make_piecewise_linear(28, random_state=0)


def _rows_per_expert(model, X, y):
    """Each expert's responsibilities summed over the rows, by hand."""
    return model.responsibilities(X, y).sum(axis=0)


def _parameters_per_expert(model):
    gate, experts = model.gate_._n_parameters(), model.experts_._n_parameters()
    return (gate + experts) / model.n_experts_


def test_degenerate_experts_are_removed_with_a_warning_that_says_so():
    X, y = _small()
    with pytest.warns(UserWarning, match=PRUNED) as caught:
        model = MixtureOfExpertsRegressor(6, random_state=0).fit(X, y)
    message = str(next(w.message for w in caught if "removed" in str(w.message)))
    assert f"the model has {model.n_experts_} experts (n_experts_)" in message
    assert "Use fewer experts or more data" in message
    assert 1 <= model.n_experts_ < 6
    # Every fitted array, the load and the predictions have the pruned size.
    K = model.n_experts_
    assert model.expert_load_.shape == (K,)
    assert model.gate_.coef_.shape[0] == K
    assert model.experts_.coef_.shape[0] == K
    assert model.predict_gate_proba(X).shape == (28, K)
    assert model.predict_experts(X).shape == (28, K)
    # No expert left explains fewer rows than it has parameters.
    rows = _rows_per_expert(model, X, y)
    assert np.all(rows >= _parameters_per_expert(model)), rows


def test_the_warning_counts_one_expert_in_the_singular():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(8, 3))
    y = X @ [1.0, 2.0, 3.0] + rng.normal(size=8)
    with pytest.warns(UserWarning, match=r"the model has 1 expert \(n_experts_\)"):
        model = MixtureOfExpertsRegressor(4, random_state=0).fit(X, y)
    assert model.n_experts_ == 1


def test_a_model_the_data_support_is_not_touched():
    X, y = make_piecewise_linear(600, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    assert model.n_experts_ == 3


def _with_a_starved_expert(model, X, y):
    """The fitted model with a fourth expert, copied from expert 0, that the
    gate never routes to: removing it must change nothing."""
    starved = copy.deepcopy(model)
    gate, experts = starved.gate_, starved.experts_
    order = np.array([0, 1, 2, 0])
    for part in (gate, experts):
        for name, value in list(vars(part).items()):
            if name.endswith("_") and not name.startswith("_"):
                if isinstance(value, list):
                    setattr(part, name, [copy.deepcopy(value[k]) for k in order])
                elif isinstance(value, np.ndarray) and value.shape[:1] == (3,):
                    setattr(part, name, value[order].copy())
    if hasattr(gate, "intercept_"):
        gate.intercept_[3] = -1e4
    elif hasattr(gate, "weights_"):
        gate.weights_ = np.append(model.gate_.weights_, 1e-300)
    else:
        gate.proportions_ = np.append(model.gate_.proportions_, 1e-300)
    starved.expert_load_ = np.append(model.expert_load_, 0.0)
    return starved


@pytest.mark.parametrize(
    "gate, expert",
    [
        (SoftmaxGate(), LinearExpert()),
        (GaussianGate(), LinearExpert(degree=2)),
        (ConstantGate(), StudentTExpert()),
        (SoftmaxGate(), PoissonExpert()),
        (SoftmaxGate(), EstimatorExpert(Ridge())),
    ],
    ids=repr,
)
def test_keep_drops_an_expert_without_changing_the_model(gate, expert):
    """``_keep`` of every prunable gate and expert, against the model that
    never had the dropped expert: the same predictions and likelihoods."""
    X, y = make_mixture_regression(300, 2, 3, random_state=0)
    if isinstance(expert, PoissonExpert):
        y = np.random.RandomState(0).poisson(np.exp(0.5 * X[:, 0]))
    model = MixtureOfExpertsRegressor(3, gate=gate, expert=expert, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    starved = _with_a_starved_expert(model, X, y)
    assert starved.predict_gate_proba(X).shape == (300, 4)
    starved.gate_._keep(np.arange(3))
    starved.experts_._keep(np.arange(3))
    starved.expert_load_ = starved.expert_load_[:3]
    np.testing.assert_allclose(starved.predict(X), model.predict(X), rtol=1e-10)
    np.testing.assert_allclose(
        starved.log_likelihood(X, y), model.log_likelihood(X, y), rtol=1e-10
    )


def test_classifier_experts_are_pruned_too():
    X, y = make_local_classification(60, random_state=0)
    for expert in (LogisticExpert(), EstimatorExpert(LogisticRegression())):
        with pytest.warns(UserWarning, match=PRUNED):
            model = MixtureOfExpertsClassifier(8, expert=expert, random_state=0).fit(
                X, y
            )
        assert model.n_experts_ < 8
        assert model.predict_proba(X).shape == (60, 2)
        rows = _rows_per_expert(model, X, y)
        if isinstance(expert, LogisticExpert):
            assert np.all(rows >= _parameters_per_expert(model))


def test_rows_are_counted_whatever_their_weights():
    """A row of weight 100 gives an expert one point to fit, not 100."""
    X, y = _small()
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    kwargs = {}
    encoded = model._encode_fit_targets(y, kwargs)
    data = model._data_maker(model._make_experts(), kwargs, True)(
        X, encoded, np.where(np.arange(28) == 0, 100.0, 1.0)
    )
    data = data.restart(np.random.RandomState(0))
    gate, experts = model._continue_parts(
        data, model._make_gate(), model._make_experts()
    )
    rows = effective_rows(gate, experts, data)
    np.testing.assert_allclose(rows, _rows_per_expert(model, X, y), rtol=1e-10)
    assert rows.sum() == pytest.approx(28)


def test_the_likelihood_never_goes_down_apart_from_the_pruning():
    X, y = _small()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from _helpers import fit_recording_reseeds

        model, restarted = fit_recording_reseeds(
            MixtureOfExpertsRegressor(6, random_state=0, tol=1e-8), X, y
        )
    assert model.n_experts_ < 6 and restarted.any()
    lb = model.lower_bounds_
    steps = np.diff(lb)[~restarted[1:]]
    assert np.all(steps >= -1e-10 * np.abs(lb).max())
    # The bound reported is the pruned model's own.
    assert model.lower_bound_ == pytest.approx(
        np.mean(model.log_likelihood(X, y))
        - (model.gate_._penalty() + model.experts_._penalty()) / 28,
        rel=1e-9,
    )


def test_warm_start_and_refit_continue_the_pruned_model():
    X, y = _small()
    with pytest.warns(UserWarning, match=PRUNED):
        model = MixtureOfExpertsRegressor(6, random_state=0).fit(X, y)
    K = model.n_experts_
    model.set_params(warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(X, y)
    assert model.n_experts_ == K
    # A new request is a new structure: warm start refuses it, as ever.
    model.set_params(n_experts=5)
    with pytest.raises(ValueError, match="n_experts changed from"):
        model.fit(X, y)
    model.set_params(warm_start=False, n_experts=2)
    assert model.fit(X, y).n_experts_ == 2


def test_fitting_twice_gives_the_same_pruned_model():
    X, y = _small()
    model = MixtureOfExpertsRegressor(6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = model.fit(X, y).predict(X)
        K = model.n_experts_
        second = model.fit(X, y).predict(X)
    assert model.n_experts_ == K
    np.testing.assert_array_equal(first, second)


def test_restarts_are_compared_after_pruning():
    X, y = _small()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixtureOfExpertsRegressor(
            6, n_init=4, init="random", random_state=0
        ).fit(X, y)
    rows = _rows_per_expert(model, X, y)
    assert np.all(rows >= _parameters_per_expert(model))


def test_a_hierarchy_keeps_its_leaves_and_says_they_are_degenerate():
    X, y = _small()
    model = HierarchicalMixtureOfExpertsRegressor(depth=2, branching=3, random_state=0)
    with pytest.warns(UserWarning, match="degenerate.*TreeGate cannot drop experts"):
        model.fit(X, y)
    assert model.n_experts_ == 9


def test_a_top_k_gate_keeps_its_experts_and_says_so():
    X, y = _small()
    model = MixtureOfExpertsRegressor(6, top_k=2, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    messages = [str(w.message) for w in caught]
    assert model.n_experts_ == 6
    assert any(re.search("degenerate.*top-k gate keeps them", m) for m in messages)


def test_no_budget_left_keeps_the_experts_and_says_why():
    X, y = _small()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = MixtureOfExpertsRegressor(6, max_iter=3, random_state=0).fit(X, y)
    assert model.n_iter_ <= 3
    messages = [str(w.message) for w in caught]
    assert any("max_iter was used up" in m for m in messages), messages
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)


def test_a_fit_that_pruning_would_shrink_to_abandon_at_is_abandoned():
    """The split path's step abandons a fit whose pruning would undo the
    split, before retraining; below that it prunes as any fit does."""
    from mixexp._prune import Abandoned

    X, y = _small()
    rng = np.random.RandomState(0)
    resp = rng.dirichlet(np.ones(2), size=28).T
    # A third expert that starts on two rows: too few for its parameters.
    resp = np.vstack([resp, np.zeros(28)])
    resp[:, :2] = [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    weight = np.ones(28)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = MixtureOfExpertsRegressor(3, random_state=0)
        pruned._fit_from_responsibilities(X, y, weight, resp, abandon_at=1)
    assert pruned.n_experts_ == 2
    model = MixtureOfExpertsRegressor(3, random_state=0)
    with pytest.raises(Abandoned):
        model._fit_from_responsibilities(X, y, weight, resp, abandon_at=2)
    assert not hasattr(model, "gate_")  # left unfitted
