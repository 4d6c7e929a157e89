"""Hierarchical mixtures of experts: the tree gate against slow recursive
references, depth 1 against the flat mixture, EM's monotonicity, gradients,
and recovery of a known hierarchy."""

import tracemalloc
import warnings

import numpy as np
import pytest
from _helpers import fit_recording_reseeds
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks
from test_gradients import _prepared

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._gradient import _pack, _unpack, penalized_objective
from mixexp.datasets import (
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)
from mixexp.gates import GaussianGate, SoftmaxGate, TreeGate


def _softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum()


def _leaf_proba_reference(gate, x):
    """g(leaf | x) by walking the tree from the root, one sample at a time."""
    b, n_internal = gate.branching, gate.n_internal
    out = {}

    def walk(node, prob):
        if node >= n_internal:
            out[node - n_internal] = prob
            return
        p = _softmax(gate.coef_[node] @ x + gate.intercept_[node])
        for c in range(b):
            walk(node * b + c + 1, prob * p[c])

    walk(0, 1.0)
    return np.array([out[k] for k in range(gate.n_leaves)])


def _incidence(gate):
    """(n_internal * branching, K) incidence matrix of the edges on each
    leaf's path, found by climbing from every leaf to the root."""
    b = gate.branching
    matrix = np.zeros((gate.n_internal * b, gate.n_leaves))
    for leaf in range(gate.n_leaves):
        node = gate.n_internal + leaf
        while node > 0:
            parent, child = divmod(node - 1, b)
            matrix[parent * b + child, leaf] = 1.0
            node = parent
    return matrix


@pytest.mark.parametrize(
    "depth, branching", [(1, 3), (2, 2), (3, 2), (2, 3), (3, 4), (6, 2)]
)
def test_tree_passes_match_the_dense_incidence_formulas(depth, branching):
    """Leaf log-probabilities (sums down the paths), edge and node posteriors
    (sums up the tree), the gradient's backward pass and the re-opening of
    paths against the dense incidence products, for several trees."""
    gate = TreeGate(depth=depth, branching=branching)
    M = _incidence(gate)
    n_nodes, n, p = gate.n_internal, 9, 3
    rng = np.random.RandomState(depth * 10 + branching)
    logits = 3 * rng.standard_normal((n_nodes, branching, n))
    log_node = logits - logsumexp(logits, axis=1, keepdims=True)
    log_leaf = gate._leaf_log_proba(log_node)
    np.testing.assert_allclose(
        log_leaf, M.T @ log_node.reshape(-1, n), rtol=1e-12, atol=1e-12
    )
    resp = rng.dirichlet(np.ones(gate.n_leaves), size=n).T
    resp[0, :3] = 0.0  # exact zeros, as a top-k gate leaves
    edges, nodes = gate._posteriors(resp)
    dense = (M @ resp).reshape(n_nodes, branching, n)
    np.testing.assert_allclose(edges, dense, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(nodes[1:], dense.sum(axis=1)[1:], rtol=1e-12)
    np.testing.assert_array_equal(nodes[0], 1.0)
    # Backward pass: dlog g_l / dz_(j, c) = [(j, c) on l's path] - [j on it] p_jc.
    Xt = rng.standard_normal((p, n))
    gate_proba = np.exp(log_leaf)
    d_log_gate = rng.standard_normal((gate.n_leaves, n))
    cache = {"gate": gate_proba, "node": np.exp(log_node)}
    (grad,) = gate._train_backward(Xt, cache, d_log_gate)
    d_leaf = d_log_gate - gate_proba * d_log_gate.sum(axis=0)
    on_edge = (M @ d_leaf).reshape(n_nodes, branching, n)
    d_logits = on_edge - np.exp(log_node) * on_edge.sum(axis=1, keepdims=True)
    reference = (d_logits.reshape(-1, n) @ Xt.T).reshape(n_nodes, branching, p)
    np.testing.assert_allclose(grad, reference, rtol=1e-10, atol=1e-12)
    # Re-opening leaves zeroes the logits of the edges on their paths.
    gate.coef_ = rng.standard_normal((n_nodes, branching, p - 1))
    gate.intercept_ = rng.standard_normal((n_nodes, branching))
    revived = [0, gate.n_leaves - 1]
    on_path = M[:, revived].any(axis=1).reshape(n_nodes, branching)
    coef = np.where(on_path[..., None], 0.0, gate.coef_)
    intercept = np.where(on_path, 0.0, gate.intercept_)
    gate._revive(np.array(revived))
    np.testing.assert_allclose(gate.coef_, coef - coef.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(
        gate.intercept_, intercept - intercept.mean(axis=1, keepdims=True)
    )


def test_tree_passes_take_memory_linear_in_the_nodes():
    """No (edges x leaves) array: at depth 12 that would be 268 MB, while a
    pass over 4 samples needs a few (nodes x 4) arrays."""
    gate = TreeGate(depth=12, branching=2)
    n, p = 4, 3
    rng = np.random.RandomState(0)
    log_node = np.log(np.full((gate.n_internal, 2, n), 0.5))
    resp = rng.dirichlet(np.ones(gate.n_leaves), size=n).T
    gate.coef_ = np.zeros((gate.n_internal, 2, p - 1))
    gate.intercept_ = np.zeros((gate.n_internal, 2))
    one_pass = gate.n_internal * 2 * n * 8  # bytes of one (B, C, n) array
    tracemalloc.start()
    try:
        log_leaf = gate._leaf_log_proba(log_node)
        gate._posteriors(resp)
        cache = {"gate": np.exp(log_leaf), "node": np.exp(log_node)}
        gate._train_backward(rng.standard_normal((p, n)), cache, resp)
        gate._revive(np.arange(10))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * one_pass, f"peak of {peak} bytes"


def test_a_deep_hierarchy_fits():
    """The issue's case: depth 12 (4096 experts) on 5,000 rows x 2 features."""
    X, y = make_mixture_regression(5000, n_features=2, n_experts=4, random_state=0)
    hme = HierarchicalMixtureOfExpertsRegressor(12, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        hme.fit(X, y)
    assert hme.gate_.coef_.shape == (4095, 2, 2)
    assert np.all(np.diff(hme.lower_bounds_) >= -1e-10 * np.abs(hme.lower_bounds_[1:]))
    nodes = hme.predict_node_proba(X[:50], y[:50])
    np.testing.assert_allclose(nodes[:, 1:3].sum(axis=1), 1.0, rtol=1e-12)
    leaves = hme.responsibilities(X[:50], y[:50])
    np.testing.assert_allclose(nodes[:, 4095:], leaves)


@pytest.mark.parametrize("depth, branching", [(2, 2), (3, 2), (2, 3)])
def test_tree_gate_matches_a_recursive_reference(depth, branching):
    X, y = make_mixture_regression(300, n_features=2, random_state=0)
    hme = HierarchicalMixtureOfExpertsRegressor(
        depth, branching, max_iter=5, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        hme.fit(X, y)
    gate = hme.gate_
    rng = np.random.RandomState(1)
    gate.coef_ = rng.standard_normal(gate.coef_.shape)  # a generic tree
    gate.intercept_ = rng.standard_normal(gate.intercept_.shape)
    proba = hme.predict_gate_proba(X[:40])
    reference = np.array([_leaf_proba_reference(gate, x) for x in X[:40]])
    np.testing.assert_allclose(proba, reference, rtol=1e-12)
    # Posteriors: leaf h = g P / sum g P; a node's is the sum over its leaves.
    means = hme.predict_experts(X[:40])
    scale = np.sqrt(hme.experts_.noise_variance_)
    joint = reference * norm.pdf(y[:40, None], means, scale)
    leaves = joint / joint.sum(axis=1, keepdims=True)
    nodes = hme.predict_node_proba(X[:40], y[:40])
    n_internal = gate.n_internal
    np.testing.assert_allclose(nodes[:, n_internal:], leaves, rtol=1e-10, atol=1e-300)
    for node in range(n_internal):
        children = [node * branching + c + 1 for c in range(branching)]
        np.testing.assert_allclose(
            nodes[:, node], nodes[:, children].sum(axis=1), rtol=1e-12
        )
    np.testing.assert_allclose(nodes[:, 0], 1.0)
    prior = hme.predict_node_proba(X[:40])
    np.testing.assert_allclose(prior[:, n_internal:], reference, rtol=1e-12)
    # log_likelihood is log sum_leaves g P.
    np.testing.assert_allclose(
        hme.log_likelihood(X[:40], y[:40]), np.log(joint.sum(axis=1)), rtol=1e-10
    )


@pytest.mark.parametrize("solver", ["em", "gd"])
def test_depth_one_is_the_flat_mixture(solver):
    X, y = make_piecewise_linear(500, random_state=0)
    options = dict(solver=solver, random_state=0, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        hme = HierarchicalMixtureOfExpertsRegressor(1, 3, **options).fit(X, y)
        flat = MixtureOfExpertsRegressor(3, **options).fit(X, y)
    # EM takes the same steps to the last bit; the tree's gradient sums the
    # same terms in another order, and 50 L-BFGS steps amplify the rounding.
    rtol = 1e-9 if solver == "em" else 1e-6
    np.testing.assert_allclose(hme.predict(X), flat.predict(X), rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(hme.loss_curve_, flat.loss_curve_, rtol=rtol)
    np.testing.assert_allclose(hme.gate_.coef_[0], flat.gate_.coef_, atol=1e3 * rtol)


def test_depth_one_classifier_is_the_flat_mixture():
    X, y = make_local_classification(500, random_state=0)
    hme = HierarchicalMixtureOfExpertsClassifier(1, 4, random_state=0).fit(X, y)
    flat = MixtureOfExpertsClassifier(4, random_state=0).fit(X, y)
    np.testing.assert_allclose(hme.predict_proba(X), flat.predict_proba(X), rtol=1e-9)


@pytest.mark.parametrize("seed", range(10))
def test_em_never_lowers_the_likelihood_on_hierarchies(seed):
    """As for flat mixtures, the iterations that re-seed a dead expert (which
    may lower the bound, as documented) are not checked."""
    rng = np.random.RandomState(seed)
    depth, branching = [(2, 2), (3, 2), (2, 3), (4, 2), (3, 3)][seed % 5]
    if seed % 2:
        X, y = make_local_classification(rng.randint(200, 500), random_state=seed)
        est = HierarchicalMixtureOfExpertsClassifier(
            depth, branching, max_iter=40, tol=0, random_state=seed
        )
    else:
        X, y = make_mixture_regression(
            rng.randint(200, 500), n_features=2, n_experts=3, random_state=seed
        )
        est = HierarchicalMixtureOfExpertsRegressor(
            depth, branching, max_iter=40, tol=0, random_state=seed
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est, reseeded = fit_recording_reseeds(est, X, y)
    bounds = est.lower_bounds_
    assert np.all(np.isfinite(bounds))
    checked = ~reseeded[1:]  # iteration i + 1 moved bounds[i] to bounds[i + 1]
    floor = -1e-10 * np.abs(bounds[1:])
    assert np.all(np.diff(bounds)[checked] >= floor[checked])


@pytest.mark.parametrize("top_k", [None, 2])
@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_tree_gate_gradient_matches_finite_differences(kind, top_k):
    if kind == "regression":
        X, y = make_mixture_regression(40, n_features=2, random_state=1)
        est = HierarchicalMixtureOfExpertsRegressor(
            2, 2, top_k=top_k, gate=SoftmaxGate(alpha=0.2), max_iter=2
        )
    else:
        X, y = make_local_classification(40, random_state=1)
        est = HierarchicalMixtureOfExpertsClassifier(
            2, 2, top_k=top_k, gate=SoftmaxGate(alpha=0.2), max_iter=2
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gate, experts, data, theta = _prepared(est, X, y)

    def f(vector):
        return penalized_objective(
            gate,
            experts,
            data,
            "likelihood",
            _unpack(vector, theta),
            data.joint_chunks,
            1.0,
            balance_weight=0.3 if top_k else 0.0,
        )

    x0 = _pack(theta[0] + theta[1])
    value, grad = f(x0)
    eps = 1e-6
    numeric = np.array(
        [(f(x0 + eps * e)[0] - f(x0 - eps * e)[0]) / (2 * eps) for e in np.eye(x0.size)]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def _true_hierarchy(n, seed):
    """Data from a known depth-2 binary hierarchy in 2-D: the root splits on
    x0, each child on x1, four linear experts."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    root = 8.0 * X[:, 0]
    child = np.stack([6.0 * X[:, 1], -6.0 * X[:, 1]])
    p_root = 1 / (1 + np.exp(-root))
    p_child = 1 / (1 + np.exp(-child))
    # Leaves in breadth-first order: (left, left), (left, right), ...
    gate = np.stack(
        [
            (1 - p_root) * (1 - p_child[0]),
            (1 - p_root) * p_child[0],
            p_root * (1 - p_child[1]),
            p_root * p_child[1],
        ],
        axis=1,
    )
    W = np.array([[1.0, 2.0], [-2.0, 1.0], [0.5, -1.5], [3.0, 0.0]])
    b = np.array([1.0, -1.0, 2.0, 0.0])
    means = X @ W.T + b
    noise = 0.3
    leaf = (rng.uniform(size=(n, 1)) > np.cumsum(gate, axis=1)).sum(axis=1)
    y = means[np.arange(n), leaf] + noise * rng.standard_normal(n)
    log_lik = logsumexp(np.log(gate) + norm.logpdf(y[:, None], means, noise), axis=1)
    return X, y, log_lik


def test_recovers_a_known_hierarchy():
    X, y, _ = _true_hierarchy(4000, seed=0)
    X_test, y_test, true_log_lik = _true_hierarchy(4000, seed=1)
    hme = HierarchicalMixtureOfExpertsRegressor(2, 2, n_init=3, random_state=0)
    hme.fit(X, y)
    fitted = hme.log_likelihood(X_test, y_test).mean()
    truth = true_log_lik.mean()
    assert fitted >= truth - 0.02 * abs(truth)


def test_gradient_descent_fits_a_hierarchy():
    X, y = make_piecewise_linear(800, noise=0.2, random_state=0)
    em = HierarchicalMixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    gd = HierarchicalMixtureOfExpertsRegressor(
        2, solver="gd", max_iter=300, random_state=0
    ).fit(X, y)
    assert gd.score(X, y) > em.score(X, y) - 0.02


def test_sparse_leaves_and_online_updates():
    X, y = make_piecewise_linear(1200, random_state=0)
    hme = HierarchicalMixtureOfExpertsRegressor(2, top_k=1, random_state=0).fit(X, y)
    gate = hme.predict_gate_proba(X)
    assert np.all(np.count_nonzero(gate, axis=1) == 1)
    dense = np.sum(gate * hme.predict_experts(X), axis=1)
    np.testing.assert_allclose(hme.predict(X), dense, rtol=1e-12)
    online = HierarchicalMixtureOfExpertsRegressor(2, random_state=0)
    for _ in range(3):
        for batch in np.array_split(np.arange(1200), 12):
            online.partial_fit(X[batch], y[batch])
    assert online.score(X, y) > 0.9


def test_parameters_and_errors():
    X, y = make_piecewise_linear(300, random_state=0)
    hme = HierarchicalMixtureOfExpertsRegressor(3, 2, random_state=0).fit(X, y)
    assert hme.n_experts == 8 and hme.gate_.coef_.shape == (7, 2, 1)
    # every node: (branching - 1)(d + 1); every expert: d + 2
    assert hme._n_parameters() == 7 * 1 * 2 + 8 * 3
    assert isinstance(hme.gate_, TreeGate)
    with pytest.raises(TypeError, match="softmax gates"):
        HierarchicalMixtureOfExpertsRegressor(gate=GaussianGate()).fit(X, y)
    with pytest.raises(ValueError, match="larger than n_experts=4"):
        HierarchicalMixtureOfExpertsRegressor(2, top_k=5).fit(X, y)
    assert "gate_noise" not in hme.get_params()
    again = clone(hme).set_params(depth=1)
    assert again.n_experts == 2


def _fitted_state(est, X, y):
    return (
        est.gate_.coef_.copy(),
        est.predict(X),
        est.predict_node_proba(X, y),
        est.bic(X, y),
    )


def _assert_same_state(before, after):
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize(
    "change",
    [dict(depth=4, branching=2), dict(depth=3), dict(branching=3), dict(depth=1)],
)
def test_warm_start_refuses_a_new_tree_shape(change):
    """Continuing a fit on another tree (even one with as many leaves, 4**2
    against 2**4) is refused, saying how, and the fitted model is intact."""
    X, y = make_piecewise_linear(300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        hme = HierarchicalMixtureOfExpertsRegressor(2, 4, max_iter=3, random_state=0)
        hme.fit(X, y)
    before = _fitted_state(hme, X, y)
    hme.set_params(warm_start=True, **change)
    with pytest.raises(ValueError, match="TreeGate.*warm_start=False"):
        hme.fit(X, y)
    with pytest.raises(ValueError, match="TreeGate.*call fit"):
        hme.partial_fit(X, y)
    hme.set_params(depth=2, branching=4)  # back to the fitted shape
    _assert_same_state(before, _fitted_state(hme, X, y))


@pytest.mark.parametrize("change", [dict(depth=3), dict(branching=3), dict(depth=1)])
def test_fitted_methods_keep_the_fitted_tree(change):
    """set_params(depth=...) without a refit changes nothing fitted: every
    method still answers for the fitted tree."""
    X, y = make_local_classification(200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        hme = HierarchicalMixtureOfExpertsClassifier(2, 2, max_iter=3, random_state=0)
        hme.fit(X, y)
    methods = ("predict_proba", "predict_gate_proba", "predict_experts")
    with_y = ("predict_node_proba", "responsibilities", "log_likelihood")
    with_y += ("bic", "aic", "score")
    before = [getattr(hme, m)(X) for m in methods]
    before += [getattr(hme, m)(X, y) for m in with_y]
    before.append(hme.predict_node_proba(X))
    hme.set_params(**change)
    after = [getattr(hme, m)(X) for m in methods]
    after += [getattr(hme, m)(X, y) for m in with_y]
    after.append(hme.predict_node_proba(X))
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("cls", [MixtureOfExpertsRegressor, MixtureOfExpertsClassifier])
def test_a_tree_gate_in_a_flat_mixture_points_to_the_hierarchy(cls):
    X, y = make_local_classification(200, random_state=0)
    with pytest.raises(TypeError, match=f"Hierarchical{cls.__name__}"):
        cls(4, gate=TreeGate(depth=2)).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(depth=True), "depth"),
        (dict(depth=np.True_), "depth"),
        (dict(depth=2.0), "depth"),
        (dict(branching=np.True_), "branching"),
        (dict(branching=2.5), "branching"),
        (dict(depth=10**8, branching=3), "depth"),  # 3**(10**8) would take hours
        (dict(depth=9), r"depth=9 and branching=2 .* at most 8"),
        (dict(depth=2, branching=20), r"branching=20 .* 400 experts"),
        (dict(gate=TreeGate(depth=3)), "depth and branching"),
    ],
)
def test_bad_tree_parameters_say_what_to_do(params, match):
    X, y = make_piecewise_linear(300, random_state=0)
    with pytest.raises((TypeError, ValueError), match=match):
        HierarchicalMixtureOfExpertsRegressor(**params).fit(X, y)


def test_n_experts_of_a_hierarchy_points_to_depth_and_branching():
    hme = HierarchicalMixtureOfExpertsRegressor()
    with pytest.raises(ValueError, match="n_experts.*depth and branching"):
        hme.set_params(n_experts=8)
    with pytest.raises(ValueError, match="n_experts.*depth and branching"):
        GridSearchCV(hme, {"n_experts": [2, 4]}).fit(*make_piecewise_linear(60))


def test_grid_search_over_depth_and_node_penalty():
    X, y = make_piecewise_linear(400, random_state=0)
    grid = GridSearchCV(
        HierarchicalMixtureOfExpertsRegressor(gate=SoftmaxGate(), random_state=0),
        {"depth": [1, 2], "gate__alpha": [1e-6, 1e-2]},
        cv=3,
    ).fit(X, y)
    assert grid.best_params_["depth"] == 2


@parametrize_with_checks(
    [
        HierarchicalMixtureOfExpertsRegressor(),
        HierarchicalMixtureOfExpertsClassifier(2, 2, max_iter=50),
    ],
)
def test_sklearn_compatible_hierarchy(estimator, check):
    check(estimator)


def test_a_branching_wider_than_the_data_says_to_narrow_it():
    X, y = make_piecewise_linear(5, random_state=0)
    model = HierarchicalMixtureOfExpertsRegressor(depth=1, branching=8)
    with pytest.raises(ValueError, match="branching at most 5 with depth=1"):
        model.fit(X, y)
