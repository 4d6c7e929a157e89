"""The split path and the cross-validated estimators (mixexp._selection)."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import sklearn
from _helpers import plain_em
from sklearn.base import clone
from sklearn.datasets import make_circles, make_classification, make_friedman1
from sklearn.metrics import log_loss
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    ShuffleSplit,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsClassifierCV,
    MixtureOfExpertsRegressor,
    MixtureOfExpertsRegressorCV,
)
from mixexp import _selection as selection_module
from mixexp._init import kmeans_centres, nearest_centre
from mixexp._prune import parameters_per_expert
from mixexp._selection import (
    _race_losers,
    _split_start,
    grow,
    owned_misfit,
    paired_shortfall,
    split_leaves,
    split_responsibilities,
    walk_path,
)
from mixexp.datasets import make_local_classification, make_piecewise_linear
from mixexp.experts import LinearExpert, LogisticExpert
from mixexp.gates import ConstantGate, GaussianGate, SoftmaxGate, TreeGate


def _three_lines(n=600, seed=0):
    """y = three different lines of x on thirds of [-3, 3], small noise."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(-3, 3, n)
    piece = np.digitize(x, [-1, 1])
    slope, offset = np.array([2.0, -1.0, 3.0]), np.array([4.0, 0.0, -2.0])
    y = slope[piece] * x + offset[piece] + 0.1 * rng.standard_normal(n)
    return x[:, None], y, piece


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ------------------------------------------------------------ the split path
def test_a_split_divides_one_experts_responsibilities_between_two():
    X, y, _ = _three_lines()
    model = _quiet(MixtureOfExpertsRegressor(2, random_state=0).fit, X, y)
    weight = np.ones(len(y))
    parent = model.responsibilities(X, y).T
    resp = split_responsibilities(model, X, y, weight, 1, np.random.RandomState(0))
    assert resp.shape == (3, len(y))
    np.testing.assert_allclose(resp.sum(axis=0), 1.0)
    # The other expert is untouched; the split one's mass is shared out,
    # each row going whole to one of the two children.
    split = int(np.argmax(owned_misfit(model, X, y[:, None], weight, parent.T)))
    other = 1 - split
    np.testing.assert_array_equal(resp[other], parent[other])
    np.testing.assert_allclose(resp[split] + resp[2], parent[split])
    assert np.all((resp[split] == 0) | (resp[2] == 0))


def test_the_expert_split_is_the_one_that_explains_its_rows_worst():
    """Two experts on three lines: one covers a line exactly, the other two
    lines; the misfit is the squared error it owns, computed by hand."""
    X, y, piece = _three_lines()
    model = _quiet(MixtureOfExpertsRegressor(2, random_state=0).fit, X, y)
    resp = model.responsibilities(X, y)
    errors = (model.predict_experts(X) - y[:, None]) ** 2
    by_hand = (resp * errors).sum(axis=0) / np.var(y)
    misfit = owned_misfit(model, X, y[:, None], np.ones(len(y)), resp)
    np.testing.assert_allclose(misfit, by_hand, rtol=1e-10)
    assert misfit.max() > 10 * misfit.min()


def test_a_split_that_would_leave_a_degenerate_half_is_not_made():
    """Two rows far off a line (far in x and y, so that 2-means sets them
    apart from any seeds) would leave an expert on two rows, fewer than its
    parameters (what pruning removes): nothing is split and the path does
    not grow, where it used to fit a 2-expert mixture to prune it."""
    rng = np.random.RandomState(0)
    x = np.r_[rng.uniform(-1, 1, 200), 20.0, 20.1]
    y = np.r_[x[:200] + 0.05 * rng.standard_normal(200), -20.0, -20.5]
    X, weight = x[:, None], np.ones(202)
    line = _quiet(MixtureOfExpertsRegressor(1, random_state=0).fit, X, y)
    Z = _split_start(line, X, y, weight)[3]
    for seed in range(5):
        centres = kmeans_centres(Z, weight, 2, np.random.RandomState(seed))
        assert np.bincount(nearest_centre(Z, centres)).min() == 2
    need = parameters_per_expert(line.gate_, line.experts_, 1)
    assert 2 < need
    resp = split_responsibilities(line, X, y, weight, 1, np.random.RandomState(0))
    np.testing.assert_array_equal(resp, line.responsibilities(X, y).T)
    template = MixtureOfExpertsRegressor(random_state=0)
    assert grow(template, line, 2, (X, y, weight), np.random.RandomState(0)) is None


def _line_and_six_far_rows():
    """A line of 100 rows and six rows zigzagging far off it, and the
    two-expert mixture EM fits from one expert on each (k-means of the
    joint rows would rather group three far rows with the line)."""
    rng = np.random.RandomState(0)
    x = np.r_[rng.uniform(-1, 1, 100), np.linspace(2, 3, 6)]
    y = np.r_[x[:100] + 0.05 * rng.standard_normal(100), 5.0 * (-1) ** np.arange(6)]
    X, weight = x[:, None], np.ones(106)
    start = np.zeros((2, 106))
    start[0, :100] = start[1, 100:] = 1.0
    model = MixtureOfExpertsRegressor(2, random_state=0)
    _quiet(model._fit_from_responsibilities, X, y, weight, start)
    return X, y, weight, model


def test_a_worst_expert_too_small_to_split_gives_way_to_the_next():
    """Six rows far off a line misfit their own expert most, but cannot
    give two experts enough rows each; the line's expert is split instead,
    and both its halves keep an expert's worth of rows."""
    X, y, weight, model = _line_and_six_far_rows()
    parent = model.responsibilities(X, y).T
    small = int(np.argmax(parent[:, 100:].sum(axis=1)))
    assert parent[small].sum() == pytest.approx(6, abs=1e-3)
    misfit = owned_misfit(model, X, y[:, None], weight, parent.T)
    assert np.argmax(misfit) == small
    resp = split_responsibilities(model, X, y, weight, 1, np.random.RandomState(0))
    assert resp.shape == (3, 106)
    np.testing.assert_array_equal(resp[small], parent[small])
    need = parameters_per_expert(model.gate_, model.experts_, 2)
    assert np.all(resp.sum(axis=1) >= need)


def test_split_leaves_gives_every_leaf_its_children_in_tree_order():
    X, y, _ = _three_lines()
    model = _quiet(MixtureOfExpertsRegressor(2, random_state=0).fit, X, y)
    parent = model.responsibilities(X, y).T
    resp = split_leaves(model, X, y, np.ones(len(y)), 2, np.random.RandomState(0))
    assert resp.shape == (4, len(y))
    # Leaf k's children are leaves 2k and 2k + 1 of the deeper tree, and each
    # row the leaf explains goes whole to one of them.
    np.testing.assert_allclose(resp[0] + resp[1], parent[0])
    np.testing.assert_allclose(resp[2] + resp[3], parent[1])
    for leaf in range(2):
        children = resp[2 * leaf : 2 * leaf + 2]
        explained = parent[leaf] > 1e-3
        assert np.all(np.count_nonzero(children[:, explained], axis=0) == 1)
        assert np.all(children.sum(axis=1) > 10)


def test_a_tree_grows_only_when_every_leaf_splits():
    """Six far rows own a leaf of the two-expert model: it cannot give two
    children an expert's worth of rows each, so the tree does not grow."""
    X, y, weight, model = _line_and_six_far_rows()
    rng = np.random.RandomState(0)
    assert split_leaves(model, X, y, weight, 2, rng) is None
    tree = HierarchicalMixtureOfExpertsRegressor(random_state=0)
    assert _quiet(grow, tree, model, 4, (X, y, weight), rng) is None
    # And a tree grows a level at a time: 2 leaves go to 4, not 3 or 8.
    X, y, _ = _three_lines()
    model = _quiet(MixtureOfExpertsRegressor(2, random_state=0).fit, X, y)
    train = (X, y, np.ones(len(y)))
    for size in (3, 8):
        assert _quiet(grow, tree, model, size, train, rng) is None
    deeper = _quiet(grow, tree, model, 4, train, rng)
    assert isinstance(deeper, HierarchicalMixtureOfExpertsRegressor)
    assert deeper.depth == 2 and deeper.n_experts_ == 4


def test_the_path_recovers_three_lines_and_stops_growing_when_it_cannot():
    X, y, piece = _three_lines()
    template = MixtureOfExpertsRegressor(random_state=0)
    models = _quiet(walk_path, template, [1, 2, 3], (X, y, np.ones(len(y))))
    assert [m.n_experts_ for m in models] == [1, 2, 3]
    final = models[-1]
    assert final.score(X, y) > 0.995
    # Each line has its own expert.
    owner = final.responsibilities(X, y).argmax(axis=1)
    for p in range(3):
        assert (
            np.mean(owner[piece == p] == np.bincount(owner[piece == p]).argmax()) > 0.95
        )
    # On 12 rows a path cannot grow far: pruning stops it, it never returns
    # a model with an expert that explains fewer rows than its parameters.
    small = _quiet(walk_path, template, [1, 2, 4, 8], (X[:12], y[:12], np.ones(12)))
    assert small[-1].n_experts_ < 8
    for model in small:
        rows = model.responsibilities(X[:12], y[:12]).sum(axis=0)
        per_expert = model._n_parameters() / model.n_experts_
        assert np.all(rows >= per_expert - 1e-9)


def test_the_path_fits_without_squarem(monkeypatch):
    """The walk's short fits run plain EM (SQUAREM's jumps postponed their
    stop at the search's tol); with it they would take other paths."""
    X, y, _ = _three_lines()
    template = MixtureOfExpertsRegressor(random_state=0, tol=1e-3)
    train = template._validate_training_input(X, y, None)

    def walk():
        return _quiet(walk_path, template, [1, 2, 3, 4, 6], train)

    path = walk()
    with monkeypatch.context() as patch:
        plain_em(patch)
        plain = walk()
    with monkeypatch.context() as patch:
        patch.setattr(selection_module, "_PATH_FIT", {"check_input": False})
        accelerated = walk()
    for model, reference in zip(path, plain, strict=True):
        np.testing.assert_array_equal(model.lower_bounds_, reference.lower_bounds_)
    assert [m.n_iter_ for m in accelerated] != [m.n_iter_ for m in path]


# ------------------------------------------------------- the selection rule
def test_paired_shortfall_is_the_mean_difference_and_its_standard_error():
    rng = np.random.RandomState(0)
    held_out = rng.standard_normal((3, 50))
    held_out[2, 7] = np.nan  # not reached on one row: no verdict
    weight = rng.uniform(0.5, 2.0, 50)
    gap, error = paired_shortfall(held_out, 0, weight)
    d = held_out[0] - held_out[1]
    mean = np.average(d, weights=weight)
    n_eff = weight.sum() ** 2 / (weight**2).sum()
    se = np.sqrt(np.average((d - mean) ** 2, weights=weight) / n_eff)
    assert gap[0] == 0 and error[0] == 0
    assert gap[1] == pytest.approx(mean) and error[1] == pytest.approx(se)
    assert np.isnan(gap[2]) and np.isnan(error[2])


def test_one_standard_error_rule_prefers_the_simpler_of_two_close_models():
    """The held-out scores of 1..4 experts on three lines plateau at 3; the
    rule never takes more than the plateau's first size, "best" may."""
    X, y, _ = _three_lines(400)
    kwargs = dict(n_experts=(1, 2, 3, 4, 6), experts=[LinearExpert()], cv=3)
    simple = _quiet(MixtureOfExpertsRegressorCV(random_state=0, **kwargs).fit, X, y)
    assert simple.best_params_["n_experts"] == 3
    best = _quiet(
        MixtureOfExpertsRegressorCV(random_state=0, selection="best", **kwargs).fit,
        X,
        y,
    )
    assert best.best_params_["n_experts"] >= 3
    assert best.best_score_ >= simple.best_score_


# ------------------------------------------------------------ the estimators
def test_cv_results_are_consistent_and_the_best_model_is_refitted():
    X, y = make_piecewise_linear(300, random_state=0)
    model = _quiet(
        MixtureOfExpertsRegressorCV(n_experts=(1, 2, 3, 4), cv=3, random_state=0).fit,
        X,
        y,
    )
    results = model.cv_results_
    rows = len(results["params"])
    # Linear and quadratic experts (300 rows, one input), softmax and
    # Gaussian gates.
    assert rows == 4 * 2 * 2
    for key, value in results.items():
        assert len(value) == rows, key
    splits = np.column_stack([results[f"split{i}_test_score"] for i in range(3)])
    reached = ~np.isnan(results["mean_test_score"])
    np.testing.assert_allclose(
        results["mean_test_score"][reached], splits[reached].mean(1)
    )
    assert results["rank_test_score"][np.nanargmax(results["mean_test_score"])] == 1
    chosen = results["params"][model.best_index_]
    assert chosen == model.best_params_
    assert model.best_score_ == results["mean_test_score"][model.best_index_]
    # The refit on all rows starts from the chosen form's best fold model.
    best = model.best_estimator_
    assert isinstance(best, MixtureOfExpertsRegressor)
    assert best.n_experts_ == model.n_experts_ <= chosen["n_experts"]
    assert type(best.expert) is type(chosen["expert"])
    np.testing.assert_array_equal(model.predict(X), best.predict(X))
    mean, std = model.predict(X, return_std=True)
    np.testing.assert_array_equal(std, best.predict(X, return_std=True)[1])
    np.testing.assert_array_equal(
        model.predict_gate_proba(X), best.predict_gate_proba(X)
    )
    np.testing.assert_array_equal(model.log_likelihood(X, y), best.log_likelihood(X, y))
    assert model.predict_quantiles(X).shape == (300, 3)
    assert model.score(X, y) == best.score(X, y)


def test_the_classifier_chooses_and_predicts_like_its_best_mixture():
    X, y = make_local_classification(400, random_state=0)
    labels = np.array(["left", "right"])[y]
    model = _quiet(
        MixtureOfExpertsClassifierCV(n_experts=(1, 2, 4), cv=3, random_state=0).fit,
        X,
        labels,
    )
    best = model.best_estimator_
    assert isinstance(best, MixtureOfExpertsClassifier)
    np.testing.assert_array_equal(model.classes_, ["left", "right"])
    np.testing.assert_array_equal(model.predict(X), best.predict(X))
    np.testing.assert_array_equal(model.predict_proba(X), best.predict_proba(X))
    assert model.score(X, labels) > 0.9
    assert model.best_params_["n_experts"] > 1  # one logistic cannot do it


def test_it_works_in_a_pipeline_and_in_cross_validation_and_clones_clean():
    X, y = make_piecewise_linear(240, random_state=1)
    model = MixtureOfExpertsRegressorCV(n_experts=(1, 2, 3), cv=3, random_state=0)
    pipe = make_pipeline(StandardScaler(), model)
    scores = _quiet(
        cross_val_score, pipe, X, y, cv=KFold(3, shuffle=True, random_state=0)
    )
    assert np.all(scores > 0.8)
    fitted = _quiet(clone(pipe).fit, X, y)
    assert not hasattr(clone(fitted[-1]), "best_estimator_")
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"backend": "loky"},
        {"backend": "loky", "max_nbytes": "1K"},
        {"backend": "threading"},
    ],
    ids=["default", "loky", "loky-memory-mapped", "threading"],
)
def test_parallel_walks_give_the_sequential_result(config):
    """In worker processes a fold's walk is a copy: its steps' outcomes
    come back to the parent, which used to keep none of them under a
    process backend (every step then restarted from scratch and the refit
    failed). Any backend gives the sequential search's results exactly."""
    X, y = make_piecewise_linear(240, random_state=1)
    make = lambda **kw: MixtureOfExpertsRegressorCV(  # noqa: E731
        n_experts=(1, 2, 3, 4),
        gates=[SoftmaxGate(), GaussianGate(covariance_type="full"), TreeGate()],
        cv=3,
        random_state=0,
        **kw,
    )
    sequential = _quiet(make().fit, X, y)
    with joblib.parallel_config(**config):
        parallel = _quiet(make(n_jobs=2).fit, X, y)
    for name in ("mean_test_score", "split0_test_score", "mean_n_experts_fitted"):
        np.testing.assert_array_equal(
            parallel.cv_results_[name], sequential.cv_results_[name]
        )
    assert parallel.best_index_ == sequential.best_index_
    np.testing.assert_array_equal(parallel.predict(X), sequential.predict(X))


def test_gates_are_candidates_too():
    X, y, _ = _three_lines(300)
    model = _quiet(
        MixtureOfExpertsRegressorCV(
            n_experts=(1, 3),
            experts=[LinearExpert()],
            gates=[SoftmaxGate(), GaussianGate()],
            cv=3,
            random_state=0,
        ).fit,
        X,
        y,
    )
    gates = [type(p["gate"]).__name__ for p in model.cv_results_["params"]]
    assert gates == ["SoftmaxGate", "SoftmaxGate", "GaussianGate", "GaussianGate"]
    assert isinstance(model.best_estimator_.gate_, type(model.best_params_["gate"]))


def _rows_trailing(base, errors, rng):
    """``base`` less a paired difference of mean ``errors`` standard errors."""
    noise = rng.standard_normal(base.size)
    noise = (noise - noise.mean()) / noise.std()
    return base - (errors / np.sqrt(base.size) + noise)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_refit_keeps_the_start_with_the_higher_training_likelihood(
    task, monkeypatch
):
    """A classifier's refit runs EM from the best fold's model and from a
    fresh k-means start and keeps the fit whose rows' mean log p(y | x) is
    higher; a regressor's runs only the first."""
    if task == "classification":
        X, y = make_local_classification(400, random_state=0)
        search, mixture = MixtureOfExpertsClassifierCV(), MixtureOfExpertsClassifier
    else:
        X, y, _ = _three_lines(400)
        search, mixture = MixtureOfExpertsRegressorCV(), MixtureOfExpertsRegressor
    weight = np.linspace(0.5, 1.5, len(y))
    folds = [
        _quiet(mixture(3, max_iter=3, random_state=seed).fit, X[seed::2], y[seed::2])
        for seed in (0, 1)
    ]
    fits = []
    fit_from = mixture._fit_from_responsibilities

    def spy(model, X, y, sample_weight, resp, **kwargs):
        fitted = fit_from(model, X, y, sample_weight, resp, **kwargs)
        fits.append((resp, fitted))
        return fitted

    monkeypatch.setattr(mixture, "_fit_from_responsibilities", spy)
    refit = search._refit(folds, [0.0, 1.0], (X, y, weight))
    starts = [start for start, _ in fits]
    assert len(starts) == (2 if task == "classification" else 1)
    # From the best fold's model (the second), then from k-means.
    np.testing.assert_array_equal(starts[0], folds[1].responsibilities(X, y).T)
    assert all(start is None for start in starts[1:])
    scores = [np.average(fit.log_likelihood(X, y), weights=weight) for _, fit in fits]
    assert refit is fits[int(np.argmax(scores))][1]
    if task == "classification":
        # The check has a choice to make: the two starts end apart.
        assert abs(scores[0] - scores[1]) > 1e-6


def test_race_losers_trail_the_same_experts_by_two_errors_others_by_four():
    """Four forms, gate-major (two expert forms x two gates): a form is out
    when its best row trails the best row of the other gate with the same
    experts by more than two standard errors, or any form's best by more
    than four; not when its own experts lead it by less than its latest
    size gained."""
    rng = np.random.RandomState(0)
    base = rng.standard_normal(400)
    weight = np.ones(400)
    best = {c: c for c in range(4)}
    still = dict.fromkeys(range(4), 0.0)  # no form gained at its latest size
    held_out = np.vstack(
        [
            _rows_trailing(base, 3, rng),  # form 0: 3 errors behind form 1
            base,  # form 1: the leader
            _rows_trailing(base, 3.5, rng),  # form 2: trails form 0 by ~0.5
            _rows_trailing(base, 2.5, rng),  # form 3: 2.5 behind its sibling 1
        ]
    )
    gap, error = paired_shortfall(held_out, 1, weight)
    np.testing.assert_allclose(gap[[0, 2, 3]] / error[[0, 2, 3]], [3, 3.5, 2.5])
    # Other experts' 3 errors are inside the wider margin; the sibling gates'
    # 2.5 are not.
    assert _race_losers([0, 1, 2, 3], best, held_out, weight, 2, still) == [3]
    held_out[0] = _rows_trailing(base, 5, rng)
    held_out[2] = _rows_trailing(base, 5.5, rng)
    assert _race_losers([0, 1, 2, 3], best, held_out, weight, 2, still) == [0, 2, 3]
    # A sibling that stopped walking races no more; any form's best does.
    assert _race_losers([0, 3], best, held_out, weight, 2, still) == [0]
    # Only active forms lose; a form not reached yet has no best row.
    assert _race_losers([1], best, held_out, weight, 2, still) == []
    unreached = {0: 0, 1: None, 2: None, 3: 3}
    assert _race_losers([0, 3], unreached, held_out, weight, 2, still) == []
    # A form whose latest size gained more than its sibling gate leads it by
    # may overtake; a lead of other experts (form 1 over forms 0 and 2) is
    # no such case.
    gap = paired_shortfall(held_out, 1, weight)[0]
    climbing = {0: 2 * gap[0], 1: 0.0, 2: 2 * gap[2], 3: 1.01 * gap[3]}
    assert _race_losers([0, 1, 2, 3], best, held_out, weight, 2, climbing) == [0, 2]
    climbing[3] = 0.99 * gap[3]
    assert _race_losers([0, 1, 2, 3], best, held_out, weight, 2, climbing) == [
        0,
        2,
        3,
    ]


def test_a_form_still_climbing_is_not_raced_out():
    """Four quadrants, each its own linear boundary: a softmax gate needs
    four experts and trails a full Gaussian gate at three, but its third
    size gained more than it trails by, so it walks on to four and wins
    (raced out at three, the search took 24 Gaussian-gated experts)."""
    X, y = make_local_classification(1000, random_state=0)
    gates = [SoftmaxGate(), GaussianGate(covariance_type="full")]
    search = MixtureOfExpertsClassifierCV(gates=gates, random_state=0).fit(X, y)
    assert isinstance(search.best_params_["gate"], SoftmaxGate)
    assert search.n_experts_ == 4


def _gaussian_clusters(
    n_train, n_test, n_features, n_informative, n_redundant, n_clusters
):
    """make_classification's two classes of Gaussian clusters, its first
    ``n_train`` rows for training and the next ``n_test`` for testing."""
    X, y = make_classification(
        n_train + n_test,
        n_features,
        n_informative=n_informative,
        n_redundant=n_redundant,
        n_clusters_per_class=n_clusters,
        random_state=0,
    )
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _test_log_loss(search, X, y):
    return log_loss(y, search.predict_proba(X))


def test_classifier_defaults_draw_tilted_gaussian_clusters():
    """make_classification's classes are Gaussian clusters of correlated
    inputs: the default search takes the full-covariance Gaussian gate, and
    its held-out log-loss is under half that of a search with the softmax
    and diagonal gates alone (0.088 against 0.215)."""
    X, y, X_test, y_test = _gaussian_clusters(750, 750, 6, 5, 1, n_clusters=2)
    default = MixtureOfExpertsClassifierCV(random_state=0).fit(X, y)
    chosen = default.best_params_["gate"]
    assert isinstance(chosen, GaussianGate) and chosen.covariance_type == "full"
    axis_aligned = MixtureOfExpertsClassifierCV(
        gates=[SoftmaxGate(), GaussianGate(covariance_type="diag")], random_state=0
    ).fit(X, y)
    losses = [_test_log_loss(s, X_test, y_test) for s in (default, axis_aligned)]
    assert losses[0] < 0.5 * losses[1]


def test_classifier_defaults_ridge_the_gate_on_many_inputs():
    """On a hundred inputs an unpenalized softmax gate grows overconfident as
    experts are added; the default search also offers a ridged one and takes
    it, at a held-out log-loss well under the unpenalized gates' (0.224
    against 0.367)."""
    X, y, X_test, y_test = _gaussian_clusters(10000, 5000, 100, 20, 10, n_clusters=3)
    unpenalized = [
        SoftmaxGate(),
        GaussianGate(covariance_type="diag"),
        GaussianGate(covariance_type="full"),
    ]
    fits = _default_takes_the_ridged_gate(
        MixtureOfExpertsClassifierCV, X, y, unpenalized
    )
    losses = [_test_log_loss(s, X_test, y_test) for s in fits]
    assert losses[0] < 0.75 * losses[1]


def _default_takes_the_ridged_gate(search, X, y, unpenalized_gates):
    """The default ``search`` on (X, y), checked to choose the ridged softmax
    gate, and the search over ``unpenalized_gates`` alone."""
    grid = (1, 2, 4, 8)
    default = search(n_experts=grid, random_state=0).fit(X, y)
    gate = default.best_params_["gate"]
    assert isinstance(gate, SoftmaxGate) and gate.alpha == 1e-3
    sharp = search(n_experts=grid, gates=unpenalized_gates, random_state=0)
    return default, sharp.fit(X, y)


def test_a_form_whose_experts_trail_far_stops_after_three_sizes():
    """Quadratic experts fit a parabola with one expert; linear experts
    approach it piece by piece, still trailing by far at three sizes: they
    stop there, racing the quadratic form that already stopped walking
    (patience). Without the race they walk on."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (400, 1))
    y = X[:, 0] ** 2 + 0.05 * rng.standard_normal(400)
    kwargs = dict(
        n_experts=(1, 2, 3, 4, 5, 6),
        experts=[LinearExpert(), LinearExpert(degree=2)],
        gates=[SoftmaxGate()],
        cv=3,
        random_state=0,
    )
    raced = _quiet(MixtureOfExpertsRegressorCV(**kwargs).fit, X, y)
    reached = ~np.isnan(raced.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(reached[:6], [True] * 3 + [False] * 3)
    assert raced.best_params_["expert"].degree == 2
    assert raced.n_experts_ == 1
    kwargs["patience"] = None
    full = _quiet(MixtureOfExpertsRegressorCV(**kwargs).fit, X, y)
    assert not np.isnan(full.cv_results_["mean_test_score"]).any()


def test_a_gate_that_trails_stops_walking_unless_patience_is_none():
    """A constant gate cannot tell three lines apart: its form stops at the
    race's first count (the third), the softmax form goes on; patience=None
    walks both along the whole grid."""
    X, y, _ = _three_lines(400)
    kwargs = dict(
        n_experts=(1, 2, 3, 4, 5, 6, 7),
        patience=10,  # only the race stops a form
        experts=[LinearExpert()],
        gates=[SoftmaxGate(), ConstantGate()],
        cv=3,
        random_state=0,
    )
    raced = _quiet(MixtureOfExpertsRegressorCV(**kwargs).fit, X, y)
    reached = ~np.isnan(raced.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(reached[7:], [True] * 3 + [False] * 4)
    assert reached[:7].all()
    assert isinstance(raced.best_params_["gate"], SoftmaxGate)
    kwargs["patience"] = None
    full = _quiet(MixtureOfExpertsRegressorCV(**kwargs).fit, X, y)
    assert not np.isnan(full.cv_results_["mean_test_score"]).any()


@pytest.mark.parametrize("selection", ["best", "one_standard_error"])
def test_folds_that_hold_out_only_some_rows_compare_on_those(selection):
    """A ShuffleSplit leaves rows in no test set: candidates are compared on
    the rows held out, and "best" takes the best mean held-out score."""
    X, y, _ = _three_lines(400)
    model = _quiet(
        MixtureOfExpertsRegressorCV(
            n_experts=(1, 2, 3, 4),
            experts=[LinearExpert()],
            gates=[SoftmaxGate()],
            cv=ShuffleSplit(3, test_size=0.2, random_state=0),
            selection=selection,
            random_state=0,
        ).fit,
        X,
        y,
    )
    mean = model.cv_results_["mean_test_score"]
    if selection == "best":
        assert model.best_index_ == np.nanargmax(mean)
    assert model.best_params_["n_experts"] >= 3
    assert model.score(X, y) > 0.99


@pytest.mark.parametrize("n_samples, n_folds", [(499, 5), (500, 3), (5000, 2)])
def test_default_folds_depend_on_the_rows(n_samples, n_folds):
    X, y = make_piecewise_linear(n_samples, random_state=0)
    model = _quiet(
        MixtureOfExpertsRegressorCV(
            n_experts=(1,), experts=[LinearExpert()], gates=[SoftmaxGate()]
        ).fit,
        X,
        y,
    )
    splits = [k for k in model.cv_results_ if k.startswith("split")]
    assert len(splits) == n_folds


def test_a_tree_form_walks_balanced_trees_and_is_refitted_as_one():
    X, y, _ = _three_lines(400)
    model = _quiet(
        MixtureOfExpertsRegressorCV(
            n_experts=(1, 2, 3, 4, 6, 8),
            experts=[LinearExpert()],
            gates=[TreeGate()],
            random_state=0,
        ).fit,
        X,
        y,
    )
    results = model.cv_results_
    sizes = results["param_n_experts"]
    # The tree walks its root (one expert) and one level per step.
    assert np.all(np.isnan(results["mean_test_score"][np.isin(sizes, (3, 6))]))
    assert not np.isnan(results["mean_test_score"][sizes == 4]).any()
    chosen = model.best_estimator_
    assert isinstance(chosen, HierarchicalMixtureOfExpertsRegressor)
    assert chosen.n_experts_ == chosen.branching**chosen.depth == 4
    assert model.score(X, y) > 0.99
    # Its leaves all explain an expert's worth of rows.
    rows = chosen.responsibilities(X, y).sum(axis=0)
    assert rows.min() >= parameters_per_expert(chosen.gate_, chosen.experts_, 4)


def test_a_tree_forms_root_is_a_single_expert():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, 2))
    y = X @ [1.0, -2.0] + 0.1 * rng.standard_normal(200)
    model = _quiet(
        MixtureOfExpertsRegressorCV(
            n_experts=(1, 2, 4), experts=[LinearExpert()], gates=[TreeGate()]
        ).fit,
        X,
        y,
    )
    assert model.best_params_["n_experts"] == 1
    assert type(model.best_estimator_) is MixtureOfExpertsRegressor
    assert model.n_experts_ == 1


def test_a_tree_races_only_once_it_has_walked_three_sizes():
    """On three lines a tree of two leaves trails three softmax experts by
    far; the tree's third size is 4, which it still walks (it reaches the
    softmax form's score there)."""
    X, y, _ = _three_lines(400)
    model = _quiet(
        MixtureOfExpertsRegressorCV(
            n_experts=(1, 2, 3, 4, 6, 8),
            patience=10,  # only the race stops a form
            experts=[LinearExpert()],
            gates=[SoftmaxGate(), TreeGate()],
            cv=3,
            random_state=0,
        ).fit,
        X,
        y,
    )
    results = model.cv_results_
    score = dict(
        zip(
            zip(
                [type(g).__name__ for g in results["param_gate"]],
                results["param_n_experts"],
                strict=True,
            ),
            results["mean_test_score"],
            strict=True,
        )
    )
    assert score["TreeGate", 2] < score["SoftmaxGate", 3] - 0.5
    assert score["TreeGate", 4] > score["SoftmaxGate", 3] - 0.01


def test_trees_race_beside_flat_gates_and_classify():
    X, y = make_local_classification(400, random_state=0)
    model = _quiet(
        MixtureOfExpertsClassifierCV(
            n_experts=(3, 4, 6), gates=[SoftmaxGate(), TreeGate()], random_state=0
        ).fit,
        X,
        y,
    )
    results = model.cv_results_
    tree = np.array([isinstance(g, TreeGate) for g in results["param_gate"]])
    # A grid that starts at 3 starts the tree at 4, from k-means clusters.
    assert np.isnan(
        results["mean_test_score"][tree & (results["param_n_experts"] == 3)]
    )
    assert not np.isnan(
        results["mean_test_score"][tree & (results["param_n_experts"] == 4)]
    )
    assert model.predict_proba(X).shape == (400, 2)
    assert model.score(X, y) > 0.9
    # A grid without the branching's powers leaves the tree nothing to walk.
    model = _quiet(
        MixtureOfExpertsClassifierCV(
            n_experts=(3, 6), gates=[SoftmaxGate(), TreeGate()], random_state=0
        ).fit,
        X,
        y,
    )
    tree = np.array([isinstance(g, TreeGate) for g in model.cv_results_["param_gate"]])
    assert np.all(np.isnan(model.cv_results_["mean_test_score"][tree]))
    assert isinstance(model.best_params_["gate"], SoftmaxGate)


def _recorded_folds(monkeypatch):
    """The (train, test) rows of every fold the CV estimators walk."""
    folds = []

    class Recording(selection_module._FoldWalk):
        def __init__(self, template, train, test, *args):
            folds.append((train, test))
            super().__init__(template, train, test, *args)

    monkeypatch.setattr(selection_module, "_FoldWalk", Recording)
    return folds


@pytest.mark.parametrize(
    "make, n_groups, n_folds",
    [
        (MixtureOfExpertsRegressorCV, 12, 5),
        (MixtureOfExpertsClassifierCV, 12, 5),
        (MixtureOfExpertsRegressorCV, 3, 3),  # at most one fold per group
    ],
)
def test_groups_are_never_split_between_training_and_held_out_rows(
    monkeypatch, make, n_groups, n_folds
):
    X, y = make_local_classification(300, random_state=0)
    if make is MixtureOfExpertsRegressorCV:
        y = X[:, 0] + np.where(X[:, 1] > 0, 1.0, -1.0)
    groups = np.random.RandomState(0).randint(n_groups, size=len(y))
    folds = _recorded_folds(monkeypatch)
    model = make(n_experts=(1, 2), gates=[SoftmaxGate()], random_state=0)
    _quiet(model.fit, X, y, groups=groups)
    assert len({tuple(test) for _, test in folds}) == n_folds
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    held_out = np.concatenate([test for _, test in folds[:n_folds]])
    assert np.array_equal(np.sort(held_out), np.arange(len(y)))


def test_a_group_splitter_gets_the_groups(monkeypatch):
    X, y, piece = _three_lines(300)
    folds = _recorded_folds(monkeypatch)
    model = MixtureOfExpertsRegressorCV(
        n_experts=(1, 2, 3), gates=[SoftmaxGate()], cv=GroupKFold(3)
    )
    _quiet(model.fit, X, y, groups=piece)
    # Each fold holds out one line, which the others cannot predict.
    for train, test in folds:
        assert np.unique(piece[test]).size == 1
        assert piece[test[0]] not in piece[train]


def test_metadata_routing_brings_the_groups_to_the_inner_search(monkeypatch):
    X, y, _ = _three_lines(300)
    groups = np.random.RandomState(0).randint(10, size=len(y))
    fits = []  # each inner search's groups and folds
    check_groups = selection_module._MixtureCV._check_groups

    def recording(groups, n_samples):
        fits.append((groups, []))
        return check_groups(groups, n_samples)

    class Recording(selection_module._FoldWalk):
        def __init__(self, template, train, test, *args):
            fits[-1][1].append((train, test))
            super().__init__(template, train, test, *args)

    monkeypatch.setattr(
        selection_module._MixtureCV, "_check_groups", staticmethod(recording)
    )
    monkeypatch.setattr(selection_module, "_FoldWalk", Recording)
    with sklearn.config_context(enable_metadata_routing=True):
        search = MixtureOfExpertsRegressorCV(
            n_experts=(1, 2), gates=[SoftmaxGate()], random_state=0
        ).set_fit_request(groups=True, sample_weight=False)
        scores = _quiet(
            cross_validate, search, X, y, cv=GroupKFold(2), params={"groups": groups}
        )["test_score"]
    assert np.all(scores > 0.9)
    assert len(fits) == 2
    for inner_groups, folds in fits:
        assert inner_groups is not None and len(folds) > 0
        for train, test in folds:
            assert not set(inner_groups[train]) & set(inner_groups[test])


@pytest.mark.parametrize(
    "groups, message",
    [(np.zeros(5), "one group label per row"), (np.zeros(300), "single group")],
)
def test_unusable_groups_are_refused_with_the_fix(groups, message):
    X, y, _ = _three_lines(300)
    with pytest.raises(ValueError, match=message):
        MixtureOfExpertsRegressorCV(n_experts=(1, 2)).fit(X, y, groups=groups)


def test_a_class_that_grouped_folds_hold_out_whole_is_refused_with_the_fix():
    """Stratified folds train on a class of two samples in every fold; a
    class living in one group cannot be trained on where that group is held
    out, and its fold's mixture could not score it."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((120, 2))
    y = (X[:, 0] > 0).astype(int)
    groups = np.repeat(np.arange(6), 20)
    two = y.copy()
    two[[0, 1]] = 2  # two samples, in the same group
    model = MixtureOfExpertsClassifierCV(n_experts=(1, 2), cv=3, random_state=0)
    _quiet(clone(model).fit, X, two)  # by row: each fold trains on one
    grouped = clone(model)
    with pytest.raises(ValueError, match=r"hold no sample .* class\(es\) \[2\]"):
        _quiet(grouped.fit, X, two, groups=groups)
    assert not hasattr(grouped, "n_features_in_")  # the failed fit left nothing


@pytest.mark.parametrize(
    "n_samples, n_features, quadratic_offered",
    [(139, 6, False), (140, 6, True), (1755, 25, True), (1890, 26, False)],
)
def test_the_default_forms_depend_on_the_inputs_and_rows_per_coefficient(
    n_samples, n_features, quadratic_offered
):
    """A quadratic in d inputs has (d + 1)(d + 2) / 2 coefficients, 28 in 6
    inputs (140 rows at five per coefficient), 351 in 25 and 378 in 26: on
    more than 25 inputs no quadratic experts are offered however many the
    rows. Without them, a ridged softmax gate joins."""
    X = np.random.RandomState(0).standard_normal((n_samples, n_features))
    y = X[:, 0]
    model = _quiet(
        MixtureOfExpertsRegressorCV(n_experts=(1,), cv=2, random_state=0).fit, X, y
    )
    forms = [(repr(p["expert"]), repr(p["gate"])) for p in model.cv_results_["params"]]
    linear = "LinearExpert(alpha='evidence')"
    quadratic = "LinearExpert(alpha='evidence', degree=2)"
    if quadratic_offered:
        gates = ["SoftmaxGate()", "GaussianGate()"]
        assert forms == [(e, g) for g in gates for e in (linear, quadratic)]
    else:
        gates = ["SoftmaxGate()", "SoftmaxGate(alpha=0.001)", "GaussianGate()"]
        assert forms == [(linear, gate) for gate in gates]


def test_regressor_defaults_ridge_the_gate_on_many_inputs():
    """On 30 inputs and 2,000 rows (too few for quadratic experts) linear
    pieces under an unpenalized softmax gate overfit; the default search
    also offers a ridged gate and takes it, at two thirds of the held-out
    squared error of the search without it (2.01 against 3.03)."""
    X, y = make_friedman1(2500, n_features=30, noise=1.0, random_state=0)
    X, X_test, y, y_test = X[:2000], X[2000:], y[:2000], y[2000:]
    unpenalized = [SoftmaxGate(), GaussianGate(covariance_type="full")]
    fits = _default_takes_the_ridged_gate(
        MixtureOfExpertsRegressorCV, X, y, unpenalized
    )
    errors = [np.mean((s.predict(X_test) - y_test) ** 2) for s in fits]
    assert errors[0] < 0.75 * errors[1]


def test_the_search_ignores_the_units_and_origins_of_inputs_and_target():
    """The whole search (walks, SQUAREM's jumps, quadratic candidates, the
    gates' race) is the same in other units, origins and signs of the inputs
    and target and another order of the inputs: the same choice, held-out
    scores in the target's squared units, affine predictions."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    y = np.where(X[:, 0] > 0, X[:, 1] ** 2, 2 * X[:, 1]) + 0.1 * rng.randn(300)
    moved_X, moved_y = (X * [-1e3, 0.01] + [5e3, 2.0])[:, ::-1], -100 * y - 7
    search = MixtureOfExpertsRegressorCV(n_experts=(1, 2, 3, 4), cv=3, random_state=0)
    base = _quiet(clone(search).fit, X, y)
    moved = _quiet(clone(search).fit, moved_X, moved_y)
    assert repr(moved.best_params_) == repr(base.best_params_)
    np.testing.assert_allclose(
        moved.cv_results_["mean_test_score"],
        1e4 * base.cv_results_["mean_test_score"],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        (moved.predict(moved_X) + 7) / -100, base.predict(X), rtol=0, atol=1e-6
    )


def test_the_classifier_search_ignores_the_units_and_origins_of_inputs():
    X, y = make_circles(300, noise=0.1, factor=0.5, random_state=0)
    moved = (X * [-1e3, 0.01] + [5e3, 2.0])[:, ::-1]
    experts = [LogisticExpert(), LogisticExpert(degree=2)]
    search = MixtureOfExpertsClassifierCV(
        n_experts=(1, 2, 3), experts=experts, cv=3, random_state=0
    )
    base = _quiet(clone(search).fit, X, y)
    other = _quiet(clone(search).fit, moved, y)
    assert repr(other.best_params_) == repr(base.best_params_)
    np.testing.assert_allclose(
        other.cv_results_["mean_test_score"], base.cv_results_["mean_test_score"]
    )
    np.testing.assert_allclose(
        other.predict_proba(moved), base.predict_proba(X), rtol=0, atol=1e-6
    )


def test_a_round_class_boundary_is_one_quadratic_expert():
    """Concentric circles: one quadratic logistic expert draws the boundary
    that linear experts approximate piece by piece."""
    X, y = make_circles(400, noise=0.1, factor=0.5, random_state=0)
    X_test, y_test = make_circles(2000, noise=0.1, factor=0.5, random_state=1)
    # Quadratic experts are searched on request: by default (linear experts
    # only) the vowels' new speakers were classified better.
    experts = [LogisticExpert(), LogisticExpert(degree=2)]
    model = MixtureOfExpertsClassifierCV(experts=experts, random_state=0)
    model = _quiet(model.fit, X, y)
    assert model.best_params_["expert"].degree == 2
    assert model.n_experts_ == 1
    assert model.score(X_test, y_test) > 0.98


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_experts": (2, 1)}, "increasing positive integers"),
        ({"n_experts": (0, 1)}, "increasing positive integers"),
        ({"n_experts": (1.5, 2)}, "increasing positive integers"),
        ({"experts": []}, "experts is empty"),
        ({"gates": []}, "gates is empty"),
    ],
)
def test_bad_settings_say_what_to_do(params, match):
    X, y = make_piecewise_linear(60, random_state=0)
    with pytest.raises(ValueError, match=match):
        MixtureOfExpertsRegressorCV(**params).fit(X, y)


def test_unfitted_predict_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MixtureOfExpertsRegressorCV().predict(np.zeros((2, 1)))


def test_per_sample_scores_are_what_they_say():
    from mixexp._selection import per_sample_score

    X, y, _ = _three_lines(200)
    model = _quiet(MixtureOfExpertsRegressor(3, random_state=0).fit, X, y)
    np.testing.assert_allclose(
        per_sample_score(model, X, y, "squared_error"), -((model.predict(X) - y) ** 2)
    )
    np.testing.assert_array_equal(
        per_sample_score(model, X, y, "log_likelihood"), model.log_likelihood(X, y)
    )
    Xc, yc = make_local_classification(200, random_state=0)
    clf = _quiet(MixtureOfExpertsClassifier(2, random_state=0).fit, Xc, yc)
    np.testing.assert_array_equal(
        per_sample_score(clf, Xc, yc, "accuracy"), clf.predict(Xc) == yc
    )
    proba = clf.predict_proba(Xc)[np.arange(200), yc]
    np.testing.assert_allclose(
        per_sample_score(clf, Xc, yc, "log_likelihood"),
        np.log(proba),
        rtol=1e-9,
        atol=1e-12,
    )


def test_a_score_of_the_other_task_is_refused():
    X, y = make_local_classification(60, random_state=0)
    with pytest.raises(
        ValueError, match="not available for MixtureOfExpertsClassifierCV"
    ):
        MixtureOfExpertsClassifierCV(scoring="squared_error").fit(X, y)


@pytest.mark.parametrize("verbose", [0, 1])
def test_verbose_prints_a_progress_line_per_size_and_nothing_at_zero(capsys, verbose):
    X, y = make_piecewise_linear(200, random_state=0)
    MixtureOfExpertsRegressorCV((1, 2, 3), cv=3, verbose=verbose, random_state=0).fit(
        X, y
    )
    lines = capsys.readouterr().out.splitlines()
    if not verbose:
        assert lines == []
        return
    assert [line.split(" (")[0] for line in lines] == [
        "n_experts=1",
        "n_experts=2",
        "n_experts=3",
    ]
    assert all("s so far; best mean held-out score" in line for line in lines)
