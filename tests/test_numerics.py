"""Numerical kernels against slow, obviously correct references."""

import math
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn import config_context
from sklearn.metrics import log_loss

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp._data import design_chunks
from mixexp._estep import e_step, expected_log, log_sum_exp, responsibilities
from mixexp._init import _cluster_sums, _nearest, _seed, kmeans_centres, kmeans_labels
from mixexp._linalg import monomials, psd_solve, weighted_grams
from mixexp._multinomial import (
    batch_logits,
    bound_system,
    chunk_stats,
    maximize,
    newton_direction,
    penalty,
    softmax,
)
from mixexp._sampling import canonical_order
from mixexp.datasets import make_local_classification, make_mixture_regression


def _centred(rng, shape):
    V = rng.standard_normal(shape)
    return V - V.mean(axis=1, keepdims=True)


def _problem(rng, n_rows=40, p=4, n_problems=2, n_classes=3, soft=True):
    Xt = np.vstack([rng.standard_normal((p - 1, n_rows)), np.ones(n_rows)])
    weights = rng.uniform(0.1, 2.0, (n_problems, n_rows))
    if soft:
        targets = rng.dirichlet(np.ones(n_classes), size=(1, n_rows)).transpose(0, 2, 1)
    else:
        labels = rng.randint(n_classes, size=n_rows)
        targets = np.zeros((1, n_classes, n_rows))
        targets[0, labels, np.arange(n_rows)] = 1.0
    return Xt, weights, targets


def _value(Xt, V, weights, targets):
    """The data term, written out sample by sample."""
    total = 0.0
    for b in range(V.shape[0]):
        for i in range(Xt.shape[1]):
            logits = V[b] @ Xt[:, i]
            log_prob = logits - logsumexp(logits)
            total += weights[b, i] * float(targets[0, :, i] @ log_prob)
    return total


# ----------------------------------------------------------------- E-step
def test_responsibilities_match_per_sample_loop():
    rng = np.random.RandomState(0)
    log_gate = np.log(rng.dirichlet(np.ones(5), size=30).T)
    log_lik = rng.standard_normal((5, 30)) * 30 - 500  # far below exp's range
    resp, log_evidence = responsibilities(log_gate, log_lik)
    for i in range(30):
        joint = [log_gate[k, i] + log_lik[k, i] for k in range(5)]
        top = max(joint)
        total = sum(math.exp(a - top) for a in joint)
        assert log_evidence[i] == pytest.approx(top + math.log(total), rel=1e-12)
        for k in range(5):
            assert resp[k, i] == pytest.approx(
                math.exp(joint[k] - top) / total, abs=1e-12
            )


def test_log_sum_exp_matches_scipy_with_infinite_entries():
    rng = np.random.default_rng(1)
    values = rng.standard_normal((4, 40)) * 300 - 800  # exp underflows
    values[2, ::5] = -np.inf  # a top-k gate's left-out experts
    values[:, 7] = -np.inf  # no expert at all
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = log_sum_exp(values)
    np.testing.assert_allclose(result, logsumexp(values, axis=0), rtol=1e-13)
    assert result[7] == -np.inf


def test_expected_log_matches_loop_with_zero_times_log_zero():
    rng = np.random.default_rng(3)
    weights = rng.random((4, 50))
    log_values = np.log(rng.random((4, 50)))
    weights[1, ::3] = 0.0  # left out by a top-k gate: weight 0, log g = -inf
    log_values[1, ::3] = -np.inf
    expected = math.fsum(
        w * v for w, v in zip(weights.ravel(), log_values.ravel(), strict=True) if w > 0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value" warning either
        assert expected_log(weights, log_values) == pytest.approx(expected, rel=1e-13)
        finite = np.where(np.isfinite(log_values), log_values, 0.0)
        assert expected_log(weights, finite) == pytest.approx(expected, rel=1e-13)


def test_fitted_regressor_e_step_matches_slow_loop():
    X, y = make_mixture_regression(60, n_features=3, n_experts=3, random_state=1)
    moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    gate, experts = moe.gate_, moe.experts_
    resp = moe.responsibilities(X, y)
    log_lik = moe.log_likelihood(X, y)
    for i in range(X.shape[0]):
        logits = gate.coef_ @ X[i] + gate.intercept_
        log_gate = logits - logsumexp(logits)
        means = experts.coef_ @ X[i] + experts.intercept_
        log_expert = norm.logpdf(y[i], means, np.sqrt(experts.noise_variance_))
        joint = log_gate + log_expert
        assert log_lik[i] == pytest.approx(logsumexp(joint), rel=1e-10)
        np.testing.assert_allclose(
            resp[i], np.exp(joint - logsumexp(joint)), atol=1e-12
        )


def test_certain_experts_give_probabilities_within_the_unit_interval():
    # Experts sure of their classes: the gate's weighted sum of their ones
    # rounded to 1 + 2e-16 on some rows, which log_loss refused.
    X, y = make_local_classification(200, random_state=2)
    moe = MixtureOfExpertsClassifier(3, random_state=0).fit(X, y)
    moe.experts_.coef_ *= 1e3
    moe.experts_.intercept_ *= 1e3
    X_new = np.random.default_rng(0).normal(size=(2000, X.shape[1])) * 3
    proba = moe.predict_proba(X_new)
    assert proba.min() >= 0.0 and proba.max() <= 1.0
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert moe.predict_log_proba(X_new).max() <= 0.0
    assert np.isfinite(log_loss(moe.predict(X_new), proba, labels=moe.classes_))


def test_fitted_classifier_e_step_matches_slow_loop():
    X, y = make_local_classification(80, random_state=2)
    moe = MixtureOfExpertsClassifier(3, random_state=0).fit(X, y)
    gate, experts = moe.gate_, moe.experts_
    resp = moe.responsibilities(X, y)
    log_lik = moe.log_likelihood(X, y)
    proba = moe.predict_proba(X)
    for i in range(X.shape[0]):
        logits = gate.coef_ @ X[i] + gate.intercept_
        log_gate = logits - logsumexp(logits)
        expert_logits = experts.coef_ @ X[i] + experts.intercept_  # (K, C)
        log_expert = expert_logits - logsumexp(expert_logits, axis=1, keepdims=True)
        joint = log_gate + log_expert[:, y[i]]
        assert log_lik[i] == pytest.approx(logsumexp(joint), rel=1e-10)
        np.testing.assert_allclose(
            resp[i], np.exp(joint - logsumexp(joint)), atol=1e-12
        )
        mixture = np.exp(log_gate) @ np.exp(log_expert)
        np.testing.assert_allclose(proba[i], mixture, atol=1e-12)


def test_e_step_sums_over_chunks_and_the_experts_only_pass():
    """Over several row chunks: the E-step's responsibility mass is
    sum_i w_i h_ik, and the initialization's experts-only pass sums the same
    expert statistics as the full pass."""
    X, y = make_mixture_regression(700, 3, 3, random_state=4)
    weight = np.random.default_rng(0).uniform(0.5, 2.0, 700)
    model = MixtureOfExpertsRegressor(3, random_state=0)
    with config_context(working_memory=0.001):  # 256-row chunks
        data, gate, experts = model._prepare_fit(X, y, weight, False, True)
        data = data.restart(np.random.RandomState(0))
        assert len(list(data.chunks("gate"))) == 3
        model._initialize(*model._prepare_parts(gate, experts, data), data)
        full = e_step(gate, experts, data, fixed_resp=True)
        only = e_step(gate, experts, data, fixed_resp=True, gate_pass=False)
        # The fit's weights are the user's over a power of two, averaging
        # between 1 and 2 (``normalize_weights``).
        unit = data.sample_weight
        ratio = weight / unit
        assert np.all(ratio == ratio[0]) and np.log2(ratio[0]).is_integer()
        assert 1 <= unit.mean() < 2
        np.testing.assert_allclose(full.resp_mass, data.resp @ unit, rtol=1e-12)
        state = e_step(gate, experts, data)
    assert set(only.expert_stats) == set(full.expert_stats)
    for key, value in full.expert_stats.items():
        np.testing.assert_allclose(only.expert_stats[key], value, rtol=1e-12)
    assert only.gate_stats == {} and only.q == {}
    np.testing.assert_allclose(state.resp_mass, data.resp @ unit, rtol=1e-12)
    assert not np.allclose(state.resp_mass, full.resp_mass)  # resp were updated
    with pytest.raises(ValueError, match="fixed_resp"):
        e_step(gate, experts, data, gate_pass=False)


# ------------------------------------------------------------ multinomial
@pytest.mark.parametrize("soft", [True, False])
def test_multinomial_value_and_gradient_match_finite_differences(soft):
    rng = np.random.RandomState(3)
    Xt, weights, targets = _problem(rng, soft=soft)
    V = _centred(rng, (2, 3, 4))
    stats = chunk_stats(Xt, V, weights, targets, hessian=True)
    assert stats["value"] == pytest.approx(_value(Xt, V, weights, targets), rel=1e-12)
    eps = 1e-6
    numeric = np.zeros_like(V)
    for idx in np.ndindex(V.shape):
        step = np.zeros_like(V)
        step[idx] = eps
        numeric[idx] = (
            _value(Xt, V + step, weights, targets)
            - _value(Xt, V - step, weights, targets)
        ) / (2 * eps)
    np.testing.assert_allclose(stats["grad"], numeric, rtol=1e-6, atol=1e-7)


def _full_curvature(Xt, V, weights):
    """Negative Hessian of the data term in all C p parameters of each
    problem, summed row by row: sum_i w_i (diag(pi_i) - pi_i pi_i^T) (x) x_i x_i^T."""
    n_problems, n_classes, p = V.shape
    hess = np.zeros((n_problems, n_classes * p, n_classes * p))
    for b in range(n_problems):
        for i in range(Xt.shape[1]):
            logits = V[b] @ Xt[:, i]
            pi = np.exp(logits - logsumexp(logits))
            x = Xt[:, i]
            curvature = np.diag(pi) - np.outer(pi, pi)
            hess[b] += weights[b, i] * np.kron(curvature, np.outer(x, x))
    return hess


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_multinomial_hessian_matches_finite_differences_of_gradient(n_classes):
    # The Hessian is in the first C - 1 classes' parameters (the last held
    # fixed): the top-left block of the full one.
    rng = np.random.RandomState(4)
    Xt, weights, targets = _problem(rng, n_classes=n_classes)
    V = _centred(rng, (2, n_classes, 4))
    hess = chunk_stats(Xt, V, weights, targets, hessian=True)["hess"]
    free = (n_classes - 1) * 4
    assert hess.shape == (2, free, free)
    eps = 1e-6
    for b in range(2):
        numeric = np.zeros((free, free))
        for col, (c, j) in enumerate(np.ndindex(n_classes - 1, 4)):
            step = np.zeros_like(V)
            step[b, c, j] = eps
            up = chunk_stats(Xt, V + step, weights, targets)["grad"][b, :-1]
            down = chunk_stats(Xt, V - step, weights, targets)["grad"][b, :-1]
            numeric[:, col] = -((up - down) / (2 * eps)).ravel()
        np.testing.assert_allclose(hess[b], numeric, rtol=1e-5, atol=1e-6)
    full = _full_curvature(Xt, V, weights)
    np.testing.assert_allclose(hess, full[:, :free, :free], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_newton_direction_is_the_newton_step_on_centred_parameters(n_classes, alpha):
    # Reference: the penalized quadratic model in all C p parameters,
    # maximized over the centred subspace by a projected pseudo-inverse.
    rng = np.random.RandomState(7)
    Xt, weights, targets = _problem(rng, n_classes=n_classes)
    V = _centred(rng, (2, n_classes, 4))
    mask = np.array([1.0, 1.0, 1.0, 0.0])
    stats = chunk_stats(Xt, V, weights, targets, hessian=True)
    grad = stats["grad"] - alpha * mask * V
    step = newton_direction(stats["hess"], grad, alpha, mask)
    np.testing.assert_allclose(step.sum(axis=1), 0.0, atol=1e-12)
    size = n_classes * 4
    centre = np.kron(np.eye(n_classes) - 1.0 / n_classes, np.eye(4))
    for b, hess in enumerate(_full_curvature(Xt, V, weights)):
        system = centre @ (hess + alpha * np.diag(np.tile(mask, n_classes))) @ centre
        expected = centre @ np.linalg.pinv(system, rcond=1e-10) @ grad[b].ravel()
        assert expected.shape == (size,)
        np.testing.assert_allclose(step[b].ravel(), expected, rtol=1e-8, atol=1e-10)


def test_bohning_bound_dominates_the_curvature():
    rng = np.random.RandomState(5)
    for n_classes in (2, 3, 5, 8):
        for _ in range(50):
            pi = rng.dirichlet(np.full(n_classes, rng.uniform(0.1, 3)))
            curvature = np.diag(pi) - np.outer(pi, pi)
            bound = 0.5 * (np.eye(n_classes) - np.full((n_classes,) * 2, 1 / n_classes))
            assert np.linalg.eigvalsh(bound - curvature).min() > -1e-12


@pytest.mark.parametrize("solver", ["newton", "block", "bound", "lbfgs"])
def test_maximizers_never_decrease_and_reach_the_optimum(solver):
    rng = np.random.RandomState(6)
    Xt, weights, targets = _problem(rng, n_rows=200, soft=True)
    alpha = 0.5
    mask = np.array([1.0, 1.0, 1.0, 0.0])

    def pass_stats(W, curvature):  # Newton's and the block solver's curvature
        return chunk_stats(Xt, W, weights, targets, hessian=curvature, blocks=curvature)

    def objective(W):
        return pass_stats(W, False)["value"] - penalty(W, alpha, mask)

    bound = bound_system(weighted_grams(Xt, weights), alpha, mask)
    V = np.zeros((2, 3, 4))
    values = [objective(V)]
    for _ in range(60):
        V, pending = maximize(
            V,
            pass_stats,
            alpha=alpha,
            mask=mask,
            solver=solver,
            max_iter=1,
            tol=0.0,
            bound_matrices=bound,
        )
        values.append(objective(V))
    assert np.all(np.diff(values) >= -1e-10 * abs(values[-1]))
    # Converged Newton from the same start is the reference optimum.
    assert pending is None
    reference, _ = maximize(
        np.zeros((2, 3, 4)),
        pass_stats,
        alpha=alpha,
        mask=mask,
        solver="newton",
        max_iter=50,
        tol=0.0,
    )
    assert values[-1] == pytest.approx(objective(reference), rel=1e-6)
    grad = pass_stats(reference, False)["grad"] - alpha * mask * reference
    assert np.abs(grad).max() < 1e-6


def test_softmax_is_stable_for_huge_logits():
    logits = np.array([[[1000.0], [-1000.0], [999.0]]])
    log_prob, prob = softmax(logits)
    np.testing.assert_allclose(prob[0, :, 0], [1 / (1 + np.exp(-1)), 0, 1 / (1 + np.e)])
    assert np.all(np.isfinite(log_prob))


def test_batch_logits_matches_loop():
    rng = np.random.RandomState(7)
    Xt = rng.standard_normal((4, 9))
    V = rng.standard_normal((3, 2, 4))
    expected = np.stack([V[b] @ Xt for b in range(3)])
    np.testing.assert_allclose(batch_logits(Xt, V), expected)


# ---------------------------------------------------------------- linalg
def test_weighted_grams_match_loop():
    rng = np.random.RandomState(8)
    Xt = rng.standard_normal((4, 50))
    weights = rng.uniform(size=(3, 50))
    right = rng.standard_normal((2, 50))
    out = weighted_grams(Xt, weights, right)
    for b in range(3):
        np.testing.assert_allclose(out[b], (Xt * weights[b]) @ right.T)
    np.testing.assert_allclose(weighted_grams(Xt, weights)[1], (Xt * weights[1]) @ Xt.T)


@pytest.mark.parametrize(
    "n_mats, p, low",
    [(3, 4, 0), (8, 5, 0), (32, 15, 0), (20, 1, 0), (3, 45, 0), (3, 45, -1)],
)
def test_weighted_grams_without_right_factor_match_loop(n_mats, p, low):
    # Covers the three ways of computing Gram matrices (many weightings use
    # the rows' products, wide designs the root weights unless a weight is
    # negative) against a sum over the rows.
    rng = np.random.RandomState(n_mats + p)
    Xt = rng.standard_normal((p, 60))
    weights = rng.uniform(low, 1, size=(n_mats, 60))
    weights[:, :5] = 0.0
    out = weighted_grams(Xt, weights)
    expected = np.einsum("bi,ji,ki->bjk", weights, Xt, Xt)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_features", [1, 2, 5])
@pytest.mark.parametrize("degree", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_monomials_are_polynomial_features_without_bias(n_features, degree, dtype):
    from sklearn.preprocessing import PolynomialFeatures

    X = np.random.RandomState(degree).standard_normal((9, n_features)).astype(dtype)
    expected = PolynomialFeatures(degree, include_bias=False).fit_transform(X)
    out = monomials(X, degree)
    assert out.dtype == expected.dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_psd_solve_falls_back_to_least_squares_on_singular_systems():
    rng = np.random.RandomState(9)
    B = rng.standard_normal((5, 2))
    A = B @ B.T  # rank 2
    rhs = A @ rng.standard_normal((5, 3))
    out = psd_solve(A[None], rhs[None])[0]
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(A @ out, rhs, atol=1e-8)
    np.testing.assert_allclose(out, np.linalg.pinv(A) @ rhs, atol=1e-8)


def test_numerics_use_numpys_lapack_only():
    """scipy's wheels bring their own OpenBLAS, whose worker threads spin
    after every call next to numpy's: one scipy.linalg solve per EM
    iteration made fits two to three times slower (benchmarks/
    bench_scaling.py). So no module of the package may import scipy.linalg
    (scipy.optimize's L-BFGS, used by the lbfgs and gd solvers only, does).

    Except the Gaussian-process experts (experts/_gp.py), whose Cholesky
    factors, triangular solves and inverses from a factor numpy lacks, and
    whose kernels come from sklearn.gaussian_process, which imports
    scipy.linalg itself; not yet timed against a numpy-only version."""
    import ast
    import pathlib

    import mixexp

    offenders = []
    for path in pathlib.Path(mixexp.__file__).parent.rglob("*.py"):
        if path.name == "_gp.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module + "." + alias.name for alias in node.names]
            offenders += [f"{path.name}: {n}" for n in names if "scipy.linalg" in n]
    assert not offenders, offenders


@pytest.mark.parametrize("n_systems, size", [(3, 7), (40, 3)])
def test_psd_solve_matches_numpy_and_falls_back_per_stack(n_systems, size):
    """A few large systems or many small ones give numpy's solution, and one
    singular system sends the whole stack to the least-squares fallback."""
    rng = np.random.RandomState(3)
    M = rng.standard_normal((n_systems, size, 3 * size))
    A = M @ np.swapaxes(M, 1, 2)
    rhs = rng.standard_normal((n_systems, size, 2))
    np.testing.assert_allclose(psd_solve(A, rhs), np.linalg.solve(A, rhs), rtol=1e-10)
    A[-1] = 0.0
    A[-1, 0, 0] = 2.0
    out = psd_solve(A, rhs)
    np.testing.assert_allclose(out[:-1], np.linalg.solve(A[:-1], rhs[:-1]), rtol=1e-10)
    np.testing.assert_allclose(out[-1], np.linalg.pinv(A[-1]) @ rhs[-1], atol=1e-12)


def test_design_chunks_cover_rows_with_intercept():
    X = np.arange(12.0).reshape(6, 2)
    seen = []
    for rows, Xt in design_chunks(X, np.array([1.0, 2.0]), 4):
        np.testing.assert_allclose(Xt[:2].T, X[rows] - [1.0, 2.0])
        np.testing.assert_allclose(Xt[2], 1.0)
        seen.extend(range(rows.start, rows.stop))
    assert seen == list(range(6))


# ----------------------------------------------------------------- k-means
def test_nearest_centres_and_cluster_sums_match_brute_force():
    """The batched k-means kernels against per-run loops over all pairs, on
    more rows than one block and with float32 rows."""
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((70_000, 3)).astype(np.float32)
    weight = rng.random(Z.shape[0])
    centers = rng.standard_normal((4, 5, 3))  # 4 runs of 5 centres
    Z64 = Z.astype(float)
    labels, closest = _nearest(Z, np.einsum("ij,ij->i", Z64, Z64), centers)
    sums, mass = _cluster_sums(Z, weight, labels, 5)
    for run in range(4):
        dist = ((Z64[:, None, :] - centers[run][None]) ** 2).sum(axis=2)
        expected = np.argmin(dist, axis=1)
        # exact ties aside, the nearest centre; distances to rounding
        decided = np.sort(dist, axis=1)[:, 1] - dist.min(axis=1) > 1e-9
        assert decided.mean() > 0.999
        np.testing.assert_array_equal(labels[run][decided], expected[decided])
        np.testing.assert_allclose(closest[run], dist.min(axis=1), atol=1e-9)
        for k in range(5):
            members = labels[run] == k
            np.testing.assert_allclose(mass[run, k], weight[members].sum())
            np.testing.assert_allclose(sums[run, k], weight[members] @ Z64[members])


def _seed_one_run(Z, weight, order, n_clusters, rng):
    """Reference k-means++ seeding of one run, row by row: the D^2 draw is
    the first row (in ``order``) whose cumulative mass exceeds u * total."""
    centres = []
    for _ in range(n_clusters):
        if centres:
            dist = np.min([((Z - c) ** 2).sum(axis=1) for c in centres], axis=0)
            mass = weight * dist
            if not mass.sum() > 0:
                mass = weight
        else:
            mass = weight
        cumulative = np.cumsum(mass[order])
        position = np.searchsorted(cumulative, rng.uniform() * cumulative[-1], "right")
        centres.append(Z[order[min(position, order.size - 1)]])
    return np.array(centres)


def test_seeding_runs_together_equals_one_run_at_a_time():
    """The S seedings drawn together are S independent k-means++ runs taking
    their uniforms in turn, including rows of weight zero and a point mass
    (every weighted row a centre before the last draw)."""
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((300, 3))
    Z[:100] = Z[0]
    weight = rng.random(300) * (rng.random(300) > 0.2)
    order = np.argsort(Z[:, 0], kind="stable")
    sq_norms = np.einsum("ij,ij->i", Z, Z)
    runs = _seed(Z, sq_norms, weight, order, 6, 5, np.random.RandomState(7))
    reference = np.random.RandomState(7)
    for run in range(5):
        expected = _seed_one_run(Z, weight, order, 6, reference)
        np.testing.assert_array_equal(runs[run], expected)
    Z = rng.standard_normal((300, 3))  # distinct rows
    sq_norms = np.einsum("ij,ij->i", Z, Z)
    point = np.zeros(300)
    point[[3, 150]] = 1.0  # two weighted rows, three centres
    runs = _seed(Z, sq_norms, point, order, 3, 6, np.random.RandomState(8))
    reference = np.random.RandomState(8)
    for run in range(6):
        expected = _seed_one_run(Z, point, order, 3, reference)
        np.testing.assert_array_equal(runs[run], expected)
        assert {tuple(c) for c in expected} == {tuple(Z[3]), tuple(Z[150])}


def test_kmeans_is_invariant_to_row_order_and_integer_weights():
    rng = np.random.RandomState(10)
    Z = np.vstack(
        [rng.standard_normal((30, 2)) + shift for shift in ([0, 0], [6, 0], [0, 6])]
    )
    counts = rng.randint(0, 4, size=Z.shape[0])
    counts[:3] = 1
    labels_w = kmeans_labels(Z, counts.astype(float), 3, np.random.RandomState(0))
    repeated = np.repeat(Z, counts, axis=0)
    perm = rng.permutation(repeated.shape[0])
    labels_r = kmeans_labels(
        repeated[perm], np.ones(repeated.shape[0]), 3, np.random.RandomState(0)
    )
    expected = np.repeat(labels_w, counts)[perm]
    assert np.array_equal(labels_r, expected)
    # and the clusters are the three blobs
    assert len(set(labels_w[:30])) == len(set(labels_w[30:60])) == 1
    assert len({labels_w[0], labels_w[30], labels_w[60]}) == 3


def test_the_canonical_order_ignores_the_columns_signs_order_and_units():
    """The same rows in the same order after negating, reordering, shifting
    and rescaling the columns; rows of weight zero change nothing for the
    others; any row order gives the same sequence of rows."""
    rng = np.random.RandomState(0)
    Z = rng.standard_normal((500, 4))
    weight = rng.uniform(0.5, 2.0, size=500)
    order = canonical_order(Z, weight)
    assert np.array_equal(np.sort(order), np.arange(500))
    moved = -Z[:, [2, 0, 3, 1]] * [1.0, 4.0, 1e-3, 0.5] + [0.0, 8.0, 1e3, -4.0]
    assert np.array_equal(canonical_order(moved, weight), order)
    extra = np.vstack([Z, 50 * rng.standard_normal((20, 4))])
    with_zeros = canonical_order(extra, np.r_[weight, np.zeros(20)])
    assert np.array_equal(with_zeros[with_zeros < 500], order)
    perm = rng.permutation(500)
    assert np.array_equal(Z[perm][canonical_order(Z[perm], weight[perm])], Z[order])


def test_the_canonical_order_breaks_ties_between_discrete_rows_alike():
    """Discrete rows tie on their distance from the middle of the range: the
    tie-break still gives one sequence for any row order and any origin and
    unit of the columns, with identical rows adjacent."""
    rng = np.random.RandomState(0)
    Z = rng.randint(0, 3, size=(500, 4)).astype(float)
    weight = rng.uniform(0.5, 2.0, size=500)
    order = canonical_order(Z, weight)
    perm = rng.permutation(500)
    moved = Z[perm] * [1.0, 4.0, 1e-3, 0.5] + [0.0, 8.0, 1e3, -4.0]
    again = canonical_order(moved, weight[perm])
    assert np.array_equal(Z[perm][again], Z[order])
    rows = Z[order]
    changes = np.count_nonzero(np.any(rows[1:] != rows[:-1], axis=1))
    assert changes == np.unique(Z, axis=0).shape[0] - 1


def test_kmeans_on_a_row_sample_is_invariant_to_row_order_and_integer_weights():
    """Above twice ``max_rows`` rows k-means clusters a weighted draw of
    rows, in the canonical order: the same centres for a row of weight 3
    and three copies of it, in any order."""
    rng = np.random.RandomState(11)
    Z = np.vstack(
        [rng.standard_normal((60, 2)) + shift for shift in ([0, 0], [6, 0], [0, 6])]
    )
    counts = rng.randint(1, 4, size=Z.shape[0])
    weighted = kmeans_centres(
        Z, counts.astype(float), 3, np.random.RandomState(0), max_rows=40
    )
    repeated = np.repeat(Z, counts, axis=0)
    repeated = repeated[rng.permutation(repeated.shape[0])]
    copies = kmeans_centres(
        repeated, np.ones(repeated.shape[0]), 3, np.random.RandomState(0), max_rows=40
    )
    np.testing.assert_allclose(copies, weighted, rtol=0, atol=1e-12)
    # a sample: other centres than k-means on all the rows, still the blobs
    every_row = kmeans_centres(Z, counts.astype(float), 3, np.random.RandomState(0))
    assert not np.allclose(weighted, every_row)
    assert np.allclose(
        np.sort(np.round(weighted / 6.0), axis=0), [[0, 0], [0, 0], [1, 1]]
    )
