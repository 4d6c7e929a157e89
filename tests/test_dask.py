"""Fitting and predicting on dask arrays, locally and on a dask.distributed cluster."""

import warnings

import dask
import dask.array as da
import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsRegressor

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._dask import ShardedData
from mixexp.datasets import (
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)
from mixexp.experts import LinearExpert
from mixexp.gates import GaussianGate


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _regression(n=4000, chunks=1000):
    """Few enough rows (K = 3, d = 4) for the gate's exact Newton Hessian,
    so a dask fit takes the in-memory fit's path step by step."""
    X, y = make_mixture_regression(n, 4, 3, random_state=0)
    w = np.random.RandomState(0).uniform(0.5, 2.0, n)
    dask_arrays = [da.from_array(a, chunks=chunks) for a in (X, y, w)]
    return (X, y, w), dask_arrays


def _coefficients(model):
    gate, experts = model.gate_, model.experts_
    gate_arrays = [gate.means_] if hasattr(gate, "means_") else [gate.coef_]
    design = [getattr(experts, name, 0.0) for name in ("input_mean_", "input_scale_")]
    return gate_arrays + [experts.coef_, experts.intercept_] + design


def _assert_same_fit(in_memory, distributed):
    assert distributed.n_iter_ == in_memory.n_iter_
    np.testing.assert_allclose(
        distributed.lower_bounds_, in_memory.lower_bounds_, rtol=0, atol=1e-6
    )
    for a, b in zip(_coefficients(distributed), _coefficients(in_memory), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


MODELS = {
    "flat": lambda: MixtureOfExpertsRegressor(3, tol=1e-8, random_state=0),
    "hierarchical": lambda: HierarchicalMixtureOfExpertsRegressor(
        depth=2, tol=1e-8, max_iter=60, random_state=0
    ),
    "gaussian gate": lambda: MixtureOfExpertsRegressor(
        3, gate=GaussianGate(), tol=1e-8, random_state=0
    ),
    "restarts": lambda: MixtureOfExpertsRegressor(
        3, init="random", n_init=3, tol=1e-8, random_state=0
    ),
    "k-means restarts": lambda: MixtureOfExpertsRegressor(
        3, n_init=3, tol=1e-8, random_state=0
    ),
    # In memory in worker processes; on dask in threads, beside the client.
    "parallel restarts": lambda: MixtureOfExpertsRegressor(
        3, init="random", n_init=3, n_jobs=2, tol=1e-8, random_state=0
    ),
    # The inputs' standardization is reduced over all the blocks first.
    "quadratic": lambda: MixtureOfExpertsRegressor(
        3, expert=LinearExpert(degree=2), tol=1e-8, random_state=0
    ),
    # Each expert's ridge from its evidence, on statistics summed over blocks.
    "evidence ridges": lambda: MixtureOfExpertsRegressor(
        3, expert=LinearExpert(alpha="evidence"), tol=1e-8, random_state=0
    ),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_distributed_fit_equals_in_memory_fit(client, name):
    (X, y, w), (Xd, yd, wd) = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_memory = MODELS[name]().fit(X, y, sample_weight=w)
        distributed = MODELS[name]().fit(Xd, yd, sample_weight=wd)
    _assert_same_fit(in_memory, distributed)
    assert isinstance(distributed.gate_, type(in_memory.gate_))


def test_distributed_fit_prunes_degenerate_experts_as_in_memory(client):
    X, y = make_piecewise_linear(28, random_state=0)
    make = lambda: MixtureOfExpertsRegressor(6, random_state=0)  # noqa: E731
    with pytest.warns(UserWarning, match="removed"):
        in_memory = make().fit(X, y)
    with pytest.warns(UserWarning, match="removed"):
        distributed = make().fit(da.from_array(X, 10), da.from_array(y, 10))
    assert distributed.n_experts_ == in_memory.n_experts_ < 6
    _assert_same_fit(in_memory, distributed)


def test_distributed_classifier_equals_in_memory(client):
    X, y = make_local_classification(4000, random_state=0)
    labels = np.array(["a", "b", "c", "d"])[y]
    make = lambda: MixtureOfExpertsClassifier(3, tol=1e-8, random_state=0)  # noqa: E731
    in_memory = make().fit(X, labels)
    distributed = make().fit(da.from_array(X, 700), da.from_array(labels, 700))
    _assert_same_fit(in_memory, distributed)
    assert np.array_equal(distributed.classes_, in_memory.classes_)


def test_local_dask_fit_without_a_client_equals_in_memory():
    (X, y, w), (Xd, yd, wd) = _regression(chunks=1500)
    in_memory = MixtureOfExpertsRegressor(3, tol=1e-8, random_state=0).fit(X, y, w)
    with dask.config.set(scheduler="synchronous"):
        local = MixtureOfExpertsRegressor(3, tol=1e-8, random_state=0).fit(Xd, yd, wd)
    _assert_same_fit(in_memory, local)


def test_no_rows_come_to_the_client(client, monkeypatch):
    """Above 80,000 rows only sums and a bounded initialization sample of
    20,000 rows leave the workers; parts hold 25,000 rows each."""
    X, y = make_mixture_regression(100_000, 3, 2, random_state=1)
    Xd, yd = da.from_array(X, chunks=25_000), da.from_array(y, chunks=25_000)
    longest = []

    def largest_rows(value):
        if isinstance(value, np.ndarray):
            return value.shape[0] if value.ndim else 0
        if isinstance(value, dict | list | tuple):
            items = value.values() if isinstance(value, dict) else value
            return max([largest_rows(v) for v in items] + [0])
        return 0

    original = ShardedData.map_parts

    def recording(self, fn):
        results = original(self, fn)
        # the sample drawn for the k-means initialization is 20,000 rows at
        # most in total; everything else is sums.
        longest.append(sum(largest_rows(r) for r in results))
        return results

    monkeypatch.setattr(ShardedData, "map_parts", recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MixtureOfExpertsRegressor(2, max_iter=3, random_state=0).fit(Xd, yd)
    assert len(longest) > 10
    assert max(longest) <= 20_000
    assert np.isfinite(model.lower_bound_)


@pytest.mark.parametrize("zero_block", [False, True])
def test_large_fits_sample_newtons_hessian_and_reach_the_in_memory_optimum(
    client, hessian_rows, zero_block
):
    """At 40,000 rows the gate's Newton Hessian is estimated on a weighted
    sample of 8,192 rows, in memory and, drawn part by part, on
    dask. The Hessian only shapes the steps, so both fits converge to the
    same optimum; also when a whole block has zero weight (it gets no share
    of the sample)."""
    (X, y, w), (Xd, yd, wd) = _regression(n=40_000, chunks=10_000)
    if zero_block:
        w[10_000:20_000] = 0.0
        wd = da.from_array(w, chunks=10_000)

    def fit(X, y, w):
        return MixtureOfExpertsRegressor(
            3, tol=1e-12, max_iter=500, random_state=0
        ).fit(X, y, w)

    in_memory = fit(X, y, w)
    hessian_rows.clear()
    distributed = fit(Xd, yd, wd)
    assert distributed.converged_ and in_memory.converged_
    # every Hessian the dask fit computed was on a part's share of the sample
    assert hessian_rows and max(hessian_rows) <= 8192
    assert sum(hessian_rows[:4]) <= 8192  # one M-step: the four parts' shares
    if zero_block:
        assert 0 in hessian_rows[:4]
    np.testing.assert_allclose(
        distributed.lower_bound_, in_memory.lower_bound_, rtol=0, atol=1e-8
    )
    for a, b in zip(_coefficients(distributed), _coefficients(in_memory), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)


def test_a_zero_weight_block_above_the_sampling_sizes(client):
    """A block whose weights are all zero is valid data (those rows are left
    out): it gets no share of the k-means sample nor of the Hessian sample."""
    X, y = make_mixture_regression(100_000, 3, 2, random_state=1)
    w = np.ones(len(X))
    w[:25_000] = 0.0
    Xd, yd, wd = (da.from_array(a, chunks=25_000) for a in (X, y, w))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MixtureOfExpertsRegressor(2, max_iter=3, random_state=0)
        model.fit(Xd, yd, wd)
    assert np.isfinite(model.lower_bound_)
    assert np.all(np.isfinite(model.predict(X[:100])))


def test_predictions_on_dask_arrays(client):
    (X, y, _), (Xd, yd, _) = _regression()
    model = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    for method, args in [
        ("predict", (X,)),
        ("predict_gate_proba", (X,)),
        ("predict_experts", (X,)),
        ("log_likelihood", (X, y)),
        ("responsibilities", (X, y)),
    ]:
        lazy = getattr(model, method)(*[da.from_array(a, 1000) for a in args])
        assert isinstance(lazy, da.Array)
        np.testing.assert_allclose(
            lazy.compute(), getattr(model, method)(*args), rtol=1e-12, atol=1e-12
        )
    mean, std = model.predict(Xd, return_std=True)
    np.testing.assert_allclose(std.compute(), model.predict(X, return_std=True)[1])
    Xc, yc = make_local_classification(2000, random_state=0)
    clf = MixtureOfExpertsClassifier(2, random_state=0).fit(Xc, yc)
    proba = clf.predict_proba(da.from_array(Xc, 300))
    np.testing.assert_allclose(proba.compute(), clf.predict_proba(Xc), atol=1e-14)
    assert np.array_equal(
        clf.predict(da.from_array(Xc, 300)).compute(), clf.predict(Xc)
    )


def test_partial_fit_streams_the_blocks(client):
    (X, y, w), (Xd, yd, wd) = _regression(chunks=1000)
    streamed = MixtureOfExpertsRegressor(3, random_state=0).partial_fit(Xd, yd, wd)
    by_hand = MixtureOfExpertsRegressor(3, random_state=0)
    for start in range(0, X.shape[0], 1000):
        rows = slice(start, start + 1000)
        by_hand.partial_fit(X[rows], y[rows], w[rows])
    assert streamed.n_iter_ == by_hand.n_iter_ == 4  # one step per block
    np.testing.assert_array_equal(streamed.predict(X), by_hand.predict(X))


def test_grid_search_on_the_dask_joblib_backend(client):
    (X, y, _), _ = _regression(n=1500)
    grid = {"n_experts": [1, 3], "expert__alpha": [1e-6, 10.0]}
    make = lambda: GridSearchCV(  # noqa: E731
        MixtureOfExpertsRegressor(
            3, expert=MixtureOfExpertsRegressor(1)._default_expert(), random_state=0
        ),
        grid,
        cv=3,
    )
    sequential = make().fit(X, y)
    with joblib.parallel_config(backend="dask"):
        distributed = make().set_params(n_jobs=2).fit(X, y)
    assert distributed.best_params_ == sequential.best_params_
    np.testing.assert_allclose(
        distributed.cv_results_["mean_test_score"],
        sequential.cv_results_["mean_test_score"],
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(solver="adam"), "solver='adam' is not available on dask"),
        (dict(expert=Ridge()), "EstimatorExpert cannot be fitted on dask"),
        (
            dict(expert=KNeighborsRegressor()),
            "EstimatorExpert cannot be fitted on dask",
        ),
    ],
)
def test_unsupported_options_are_refused(client, change, message):
    _, (Xd, yd, _) = _regression(n=600, chunks=200)
    with pytest.raises(ValueError, match=message):
        MixtureOfExpertsRegressor(2, **change).fit(Xd, yd)


def test_bad_blocks_are_refused_and_the_model_is_untouched(client):
    (X, y, _), _ = _regression(n=600)
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    before = model.predict(X)
    bad = X.copy()
    bad[450, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(da.from_array(bad, 200), da.from_array(y, 200))
    with pytest.raises(ValueError, match="rows"):
        model.fit(da.from_array(X, 200), da.from_array(y[:-1], 200))
    np.testing.assert_array_equal(model.predict(X), before)


def test_warm_start_on_dask_arrays_continues_the_in_memory_fit(client):
    (X, y, _), (Xd, yd, _) = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_memory = MixtureOfExpertsRegressor(3, max_iter=3, random_state=0)
        in_memory.fit(X, y).set_params(warm_start=True, max_iter=4).fit(X, y)
        distributed = MixtureOfExpertsRegressor(3, max_iter=3, random_state=0)
        distributed.fit(X, y).set_params(warm_start=True, max_iter=4).fit(Xd, yd)
    _assert_same_fit(in_memory, distributed)


def _unknown_chunks(array, chunks=200):
    """The array behind a boolean mask: dask no longer knows its row chunks."""
    lazy = da.from_array(array, chunks)
    return lazy[lazy.sum(axis=tuple(range(1, lazy.ndim))) > -np.inf]


def test_unknown_chunk_sizes_are_refused_with_the_fix():
    # Before: "X has nan rows but y or sample_weight has a different number"
    # at fit, a rechunk error at predict; dask's own remedy is
    # compute_chunk_sizes().
    (X, y, w), (Xd, yd, wd) = _regression(n=600, chunks=200)
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    before = model.predict(X)
    assert np.isnan(_unknown_chunks(X).shape[0])
    cases = [
        (model.fit, (_unknown_chunks(X), yd), "X"),
        (model.fit, (Xd, _unknown_chunks(y)), "y"),
        (model.fit, (Xd, yd, _unknown_chunks(w)), "sample_weight"),
        (model.partial_fit, (_unknown_chunks(X), yd), "X"),
        (model.predict, (_unknown_chunks(X),), "X"),
        (model.log_likelihood, (Xd, _unknown_chunks(y)), "y"),
    ]
    for method, args, name in cases:
        match = f"{name} has unknown chunk sizes.*{name}.compute_chunk_sizes()"
        with pytest.raises(ValueError, match=match):
            method(*args)
    np.testing.assert_array_equal(model.predict(X), before)
    # The remedy works.
    fixed = _unknown_chunks(X).compute_chunk_sizes()
    np.testing.assert_allclose(model.predict(fixed).compute(), before)


def test_distributed_balanced_class_weights_equal_in_memory(client):
    X, y = make_local_classification(4000, random_state=0)
    keep = (y == 0) | (np.arange(y.shape[0]) % 3 == 0)  # class 1 made rare
    X, y = X[keep], y[keep]
    make = lambda: MixtureOfExpertsClassifier(  # noqa: E731
        3, class_weight="balanced", tol=1e-8, random_state=0
    )
    in_memory = make().fit(X, y)
    distributed = make().fit(da.from_array(X, 700), da.from_array(y, 700))
    _assert_same_fit(in_memory, distributed)
