"""mixexp.inference: standard errors against closed forms, a finite-difference
Hessian of the log-likelihood, flexmix's patent example; the bootstrap and
the likelihood-ratio test on planted problems."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from _helpers import Terminal
from scipy.special import expit, softmax

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
    MixtureOfExpertsRegressorCV,
)
from mixexp.datasets import load_patent
from mixexp.experts import LinearExpert, LogisticExpert, PoissonExpert, StudentTExpert
from mixexp.gates import ConstantGate, GaussianGate, SoftmaxGate, TreeGate
from mixexp.inference import (
    bootstrap_lrt,
    coef_table,
    observed_information,
    summary,
)

COLUMNS = {
    "part",
    "expert",
    "output",
    "term",
    "estimate",
    "std_error",
    "z",
    "p_value",
    "ci_low",
    "ci_high",
}


def _two_linear_experts(n=400, seed=0):
    """Two lines, a soft gate on x."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    first = rng.uniform(size=n) < expit(2.0 * X[:, 0])
    y = np.where(first, 1.0 + 2.0 * X[:, 0], -1.0 + 0.5 * X[:, 0])
    return X, y + 0.4 * rng.randn(n)


def _two_poisson_experts(n=400, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    first = rng.uniform(size=n) < expit(3.0 * X[:, 0])
    log_mean = np.where(first, 2.0 + X[:, 0], 0.5 - X[:, 0])
    return X, rng.poisson(np.exp(log_mean)).astype(float)


def _two_t_experts(n=400, seed=0):
    """Two lines with t noise (4 degrees of freedom)."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    first = rng.uniform(size=n) < expit(2.0 * X[:, 0])
    y = np.where(first, 1.0 + 2.0 * X[:, 0], -1.0 + 0.5 * X[:, 0])
    return X, y + 0.4 * rng.standard_t(4, size=n)


def _two_t_outputs(n=400, seed=0):
    X, y = _two_t_experts(n, seed)
    rng = np.random.RandomState(seed + 1)
    noise = 0.3 * rng.standard_t(5, size=n)
    return X, np.column_stack([y, 0.5 * y + X[:, 0] + noise])


def _four_leaves(n=600, seed=0):
    """Four lines at the leaves of a soft two-level tree of gates on x."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    x = X[:, 0]
    right = rng.uniform(size=n) < expit(1.5 * x)
    inner = np.where(right, expit(2 * (x - 1.5)), expit(2 * (x + 1.5)))
    leaf = 2 * right + (rng.uniform(size=n) < inner)
    lines = np.array([[2.0, 1.0], [-1.0, -1.0], [0.0, 2.0], [3.0, -1.0]])
    return X, lines[leaf, 0] + lines[leaf, 1] * x + 0.3 * rng.randn(n)


def _three_regimes(n=600, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    regime = np.digitize(X[:, 0] + 0.5 * rng.randn(n), [-0.7, 0.7])
    y = np.choose(regime, [2 + X[:, 0], -X[:, 0], 1 + 3 * X[:, 0]])
    return X, y + 0.3 * rng.randn(n)


def _two_regions(n=400, seed=0, d=2):
    """Two overlapping Gaussian clouds of inputs, a line on each."""
    rng = np.random.RandomState(seed)
    first = rng.uniform(size=n) < 0.4
    centre = np.where(first[:, None], -0.7, 0.7) * np.ones(d)
    X = centre + rng.normal(size=(n, d)) * np.where(first[:, None], 1.0, 0.6)
    y = np.where(first, 1.0 + 2.0 * X[:, 0], -1.0 + 0.5 * X[:, 0] - X[:, -1])
    return X, y + 0.3 * rng.randn(n)


def _tight(model):
    return model.set_params(tol=1e-12, max_iter=5000, random_state=0)


# -------------------------------------------------------- closed forms, K = 1
def test_one_linear_expert_is_ols_with_the_mle_variance():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 2))
    y = 0.5 + X @ [1.5, -2.0] + 0.7 * rng.randn(150)
    model = _tight(MixtureOfExpertsRegressor(1, expert=LinearExpert(alpha=0.0)))
    table = coef_table(model.fit(X, y), X, y)
    Z = np.column_stack([np.ones(150), X])
    beta = np.linalg.solve(Z.T @ Z, Z.T @ y)
    resid = y - Z @ beta
    variance = resid @ resid / 150  # the MLE, not RSS / (n - p)
    se = np.sqrt(np.diag(variance * np.linalg.inv(Z.T @ Z)))
    assert list(table["term"]) == ["intercept", "x0", "x1", "variance"]
    np.testing.assert_allclose(table["estimate"][:3], beta, rtol=1e-8)
    np.testing.assert_allclose(table["std_error"][:3], se, rtol=1e-6)
    # The variance's information n / (2 s^4), uncorrelated with the coefficients.
    np.testing.assert_allclose(table["estimate"][3], variance, rtol=1e-8)
    np.testing.assert_allclose(table["std_error"][3], variance * np.sqrt(2 / 150))
    assert np.isnan(table["z"][3]) and np.isnan(table["p_value"][3])
    # Wald columns.
    np.testing.assert_allclose(table["z"][:3], beta / se, rtol=1e-6)
    np.testing.assert_allclose(
        table["ci_high"][:3] - table["estimate"][:3],
        1.959963984540054 * table["std_error"][:3],
    )
    # The variance's interval on the log scale (delta method): positive.
    spread = np.exp(1.959963984540054 * np.sqrt(2 / 150))
    np.testing.assert_allclose(
        [table["ci_low"][3], table["ci_high"][3]],
        [variance / spread, variance * spread],
        rtol=1e-6,
    )


def test_one_logistic_expert_is_the_logistic_information():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(300, 2))
    y = (rng.uniform(size=300) < expit(0.3 + X @ [1.0, -0.5])).astype(int)
    model = _tight(MixtureOfExpertsClassifier(1, expert=LogisticExpert(alpha=0.0)))
    table = coef_table(model.fit(X, y), X, y)
    beta = table["estimate"]
    Z = np.column_stack([np.ones(300), X])
    p = expit(Z @ beta)
    # At the MLE the score vanishes; the information is Z' diag(p (1 - p)) Z.
    np.testing.assert_allclose(Z.T @ (y - p), 0.0, atol=1e-6)
    se = np.sqrt(np.diag(np.linalg.inv(Z.T @ (Z * (p * (1 - p))[:, None]))))
    np.testing.assert_allclose(table["std_error"], se, rtol=1e-6)
    assert set(table["output"]) == {1}  # class 1 against class 0
    assert list(table["part"]) == ["expert"] * 3  # one expert: no gate rows


def test_one_full_covariance_expert_is_multivariate_ols():
    """Multivariate regression: Cov(B) = S (x) (Z'Z)^-1 at the MLE S."""
    rng = np.random.RandomState(2)
    X = rng.normal(size=(200, 2))
    noise = rng.multivariate_normal([0, 0], [[1.0, 0.6], [0.6, 0.5]], size=200)
    Y = np.column_stack([1 + X @ [1.0, -1.0], -0.5 + X @ [0.3, 2.0]]) + noise
    expert = LinearExpert(alpha=0.0, covariance_type="full")
    model = _tight(MixtureOfExpertsRegressor(1, expert=expert)).fit(X, Y)
    table = coef_table(model, X, Y)
    Z = np.column_stack([np.ones(200), X])
    B = np.linalg.lstsq(Z, Y, rcond=None)[0]  # (q, m)
    S = (Y - Z @ B).T @ (Y - Z @ B) / 200
    se = np.sqrt(np.outer(np.diag(S), np.diag(np.linalg.inv(Z.T @ Z))))  # (m, q)
    coef = np.isin(table["term"], ["intercept", "x0", "x1"])
    np.testing.assert_allclose(table["estimate"][coef], B.T.ravel(), rtol=1e-7)
    np.testing.assert_allclose(table["std_error"][coef], se.ravel(), rtol=1e-6)
    # The covariance entries: Var(s_ij) = (s_ii s_jj + s_ij^2) / n.
    assert list(table["term"][~coef]) == ["variance", "variance", "cov(y0,y1)"]
    entries = [S[0, 0], S[1, 1], S[1, 0]]
    np.testing.assert_allclose(table["estimate"][~coef], entries, rtol=1e-7)
    var = [2 * S[0, 0] ** 2, 2 * S[1, 1] ** 2, S[0, 0] * S[1, 1] + S[1, 0] ** 2]
    np.testing.assert_allclose(table["std_error"][~coef], np.sqrt(np.array(var) / 200))
    assert np.all(np.isnan(table["z"][~coef]))


def test_student_degrees_of_freedom_rows():
    X, y = _two_t_experts(300)
    fixed = StudentTExpert(alpha=0.0, min_df=4.0, max_df=4.0)
    model = _tight(MixtureOfExpertsRegressor(2, expert=fixed)).fit(X, y)
    table = coef_table(model, X, y)  # nu fixed: not a parameter
    assert "df" not in set(table["term"])
    assert np.all(np.isfinite(table["std_error"]))
    # nu on its bound: a warning, and the rows still the curvature there.
    bounded = StudentTExpert(alpha=0.0, max_df=3.0)
    model = _tight(MixtureOfExpertsRegressor(2, expert=bounded)).fit(X, y)
    assert np.any(model.experts_.df_ == 3.0)
    with pytest.warns(RuntimeWarning, match="on their bound"):
        table = coef_table(model, X, y)
    assert list(table["term"]).count("df") == 2


# ------------------------------------- K = 2: a finite-difference Hessian
def _set_parameters(model, table, theta):
    """Write the table's parameters ``theta`` into the fitted attributes
    (the gate with expert 0's parameters at zero; a logistic expert with
    class 0's at zero). The features of a (part, expert, output) block are
    its non-intercept terms in their order. A tree gate's row of child
    node c of node j is entry (j, c - j b - 1), each node's first child's
    at zero."""
    gate, experts = model.gate_, model.experts_
    nodes = table.get("node", np.full(len(theta), -1))
    if isinstance(gate, TreeGate):
        gate.coef_[:, 0], gate.intercept_[:, 0] = 0.0, 0.0
    elif isinstance(gate, SoftmaxGate):
        gate.coef_[0], gate.intercept_[0] = 0.0, 0.0
    if isinstance(experts, LogisticExpert):
        experts.coef_[:, 0], experts.intercept_[:, 0] = 0.0, 0.0
    multi = isinstance(experts, LinearExpert) and experts.coef_.ndim == 3
    log_odds = np.zeros(model.n_experts_)
    features, gaussian = {}, {}
    for part, k, out, term, node, value in zip(
        table["part"],
        table["expert"],
        table["output"],
        table["term"],
        nodes,
        theta,
        strict=True,
    ):
        owner = gate if part == "gate" else experts
        two_axes = owner is experts and (multi or isinstance(owner, LogisticExpert))
        where = (k, out) if two_axes else (k,)
        if owner is gate and isinstance(gate, TreeGate):
            where = (node, k - node * gate.branching - 1)
            part = (part, node)
        if isinstance(owner, GaussianGate):
            gaussian.setdefault(k, []).append(value)
        elif isinstance(owner, ConstantGate):
            log_odds[k] = value
        elif term == "intercept":
            owner.intercept_[where] = value
        elif term == "variance":
            owner.noise_variance_[where] = value
            if getattr(owner, "noise_covariance_", None) is not None:
                owner.noise_covariance_[k, out, out] = value
        elif term.startswith("cov(y"):  # "cov(yj,yi)": entries (i, j), (j, i)
            i, j = out, int(term[5 : term.index(",")])
            owner.noise_covariance_[k, i, j] = owner.noise_covariance_[k, j, i] = value
        elif term == "df":
            owner.df_[k] = value
        else:
            j = features.setdefault((part, k, out), 0)
            features[(part, k, out)] += 1
            owner.coef_[(*where, j)] = value
    if isinstance(gate, ConstantGate):
        gate.proportions_ = softmax(log_odds)
    if isinstance(gate, GaussianGate):
        _set_gaussian_gate(gate, gaussian)


def _full_covariances(gate):
    cov, d = gate.covariances_, gate.means_.shape[1]
    if cov.ndim == 3:
        return cov
    diag = cov if cov.ndim == 2 else np.repeat(cov[:, None], d, axis=1)
    return np.stack([np.diag(row) for row in diag])


def _set_gaussian_gate(gate, rows):
    """Gaussian regions whose log-odds against region 0 (kept) have the
    coefficients ``rows[k]`` on [1, x, x_i x_j (i <= j) | x_j^2 | |x|^2]:
    from log a + log N(x; m, S) = c + (P m)'x - x'P x / 2, with P = S^-1 and
    c = log a - d log(2 pi) / 2 + log|P| / 2 - m'P m / 2."""
    kind = {3: "full", 2: "diag", 1: "spherical"}[gate.covariances_.ndim]
    d = gate.means_.shape[1]
    cov = _full_covariances(gate)
    P0, m0 = np.linalg.inv(cov[0]), gate.means_[0]
    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    if kind != "full":
        pairs = [(j, j) for j in range(d)]

    def natural(P, m, log_a):
        c = log_a - d / 2 * np.log(2 * np.pi) + np.linalg.slogdet(P)[1] / 2
        quad = [-P[i, i] / 2 if i == j else -P[i, j] for i, j in pairs]
        return np.r_[
            c - m @ P @ m / 2, P @ m, quad[:1] if kind == "spherical" else quad
        ]

    base = natural(P0, m0, np.log(gate.weights_[0]))
    log_a, means, covs = [np.log(gate.weights_[0])], [m0], [cov[0]]
    for k in sorted(rows):
        V = base + np.asarray(rows[k])
        quad = V[1 + d :]
        P = np.zeros((d, d))
        if kind == "spherical":
            P = -2 * quad[0] * np.eye(d)
        for (i, j), q in zip(pairs, quad, strict=False):
            if kind != "spherical":
                P[i, j] = P[j, i] = -2 * q if i == j else -q
        m = np.linalg.solve(P, V[1 : 1 + d])
        log_a.append(
            V[0]
            + d / 2 * np.log(2 * np.pi)
            - np.linalg.slogdet(P)[1] / 2
            + m @ P @ m / 2
        )
        means.append(m)
        covs.append(np.linalg.inv(P))
    covs = np.array(covs)
    stored = {
        "full": covs,
        "diag": np.diagonal(covs, 0, 1, 2).copy(),
        "spherical": covs[:, 0, 0].copy(),
    }[kind]
    gate._set_gaussians(softmax(np.array(log_a)), np.array(means), stored)


def _two_outputs(n=400, seed=0):
    X, y = _two_linear_experts(n, seed)
    rng = np.random.RandomState(seed + 1)
    return X, np.column_stack([y, 0.5 * y + X[:, 0] ** 2 + 0.3 * rng.randn(n)])


def _fd_information(model, X, y, table, sample_weight=None, steps=None):
    """Minus the central finite-difference Hessian of the total weighted
    log-likelihood, steps of 1e-3 standard errors by default."""
    if steps is None:
        steps = 1e-3 * np.asarray(table["std_error"], dtype=float)
    weight = np.ones(len(y)) if sample_weight is None else sample_weight
    work = copy.deepcopy(model)

    def total(point):
        _set_parameters(work, table, point)
        return float(weight @ work.log_likelihood(X, y))

    return -_fd_hessian(total, table["estimate"], steps)


def _fd_hessian(function, theta, steps):
    """The central finite-difference Hessian of ``function`` at ``theta``."""
    theta = np.asarray(theta, dtype=float)
    size = theta.shape[0]
    hess = np.empty((size, size))
    for i in range(size):
        for j in range(i, size):
            ei = np.zeros(size)
            ej = np.zeros(size)
            ei[i], ej[j] = steps[i], steps[j]
            value = (
                function(theta + ei + ej)
                - function(theta + ei - ej)
                - function(theta - ei + ej)
                + function(theta - ei - ej)
            ) / (4 * steps[i] * steps[j])
            hess[i, j] = hess[j, i] = value
    return hess


CASES = {
    "linear-softmax": (
        _two_linear_experts,
        MixtureOfExpertsRegressor(
            2, gate=SoftmaxGate(alpha=0.0), expert=LinearExpert(alpha=0.0)
        ),
    ),
    "poisson-softmax": (
        _two_poisson_experts,
        MixtureOfExpertsRegressor(
            2, gate=SoftmaxGate(alpha=0.0), expert=PoissonExpert(alpha=0.0)
        ),
    ),
    "quadratic-two-outputs": (
        _two_outputs,
        MixtureOfExpertsRegressor(
            2, gate=SoftmaxGate(alpha=0.0), expert=LinearExpert(alpha=0.0, degree=2)
        ),
    ),
    "no-intercept": (
        _two_linear_experts,
        MixtureOfExpertsRegressor(
            2,
            gate=SoftmaxGate(alpha=0.0),
            expert=LinearExpert(alpha=0.0, fit_intercept=False),
        ),
    ),
    "full-covariance-two-outputs": (
        _two_outputs,
        MixtureOfExpertsRegressor(
            2,
            gate=SoftmaxGate(alpha=0.0),
            expert=LinearExpert(alpha=0.0, covariance_type="full"),
        ),
    ),
    "student": (
        _two_t_experts,
        MixtureOfExpertsRegressor(
            2, gate=SoftmaxGate(alpha=0.0), expert=StudentTExpert(alpha=0.0)
        ),
    ),
    "student-full-two-outputs": (
        _two_t_outputs,
        MixtureOfExpertsRegressor(
            2,
            gate=SoftmaxGate(alpha=0.0),
            expert=StudentTExpert(alpha=0.0, covariance_type="full"),
        ),
    ),
    "student-diag-two-outputs": (
        _two_t_outputs,
        MixtureOfExpertsRegressor(
            2, gate=SoftmaxGate(alpha=0.0), expert=StudentTExpert(alpha=0.0)
        ),
    ),
    "hierarchy-depth-2": (
        _four_leaves,
        HierarchicalMixtureOfExpertsRegressor(
            depth=2, gate=SoftmaxGate(alpha=0.0), expert=LinearExpert(alpha=0.0)
        ),
    ),
    "hierarchy-branching-3": (
        _three_regimes,
        HierarchicalMixtureOfExpertsRegressor(
            depth=1,
            branching=3,
            gate=SoftmaxGate(alpha=0.0),
            expert=LinearExpert(alpha=0.0),
        ),
    ),
    **{
        f"gaussian-{kind}": (
            _two_regions,
            MixtureOfExpertsRegressor(
                2,
                gate=GaussianGate(covariance_type=kind),
                expert=LinearExpert(alpha=0.0),
            ),
        )
        for kind in ("full", "diag", "spherical")
    },
    "linear-constant": (
        _two_linear_experts,
        MixtureOfExpertsRegressor(
            2, gate=ConstantGate(), expert=LinearExpert(alpha=0.0)
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_observed_information_is_the_fd_hessian(case):
    make, model = CASES[case]
    X, y = make()
    model = _tight(copy.deepcopy(model)).fit(X, y)
    if isinstance(model.gate, GaussianGate):  # fitted on p(x, y): a caveat
        with pytest.warns(RuntimeWarning, match="joint likelihood of x and y"):
            table = coef_table(model, X, y)
    else:
        table = coef_table(model, X, y)
    expected = _fd_information(model, X, y, table)
    # Same order as the table: experts first.
    order = np.argsort(np.asarray(table["part"]) == "expert", kind="stable")
    information = observed_information(model, X, y)[0]
    undo = np.argsort(order)
    information = information[np.ix_(undo, undo)]
    np.testing.assert_allclose(
        information, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max()
    )
    se = np.sqrt(np.diag(np.linalg.inv(expected)))
    np.testing.assert_allclose(table["std_error"], se, rtol=1e-4)


@pytest.mark.parametrize("degree", [1, 2])
def test_logistic_experts_fd_hessian(degree):
    """Two logistic experts with three classes, away from the optimum too
    (Louis' identity is the Hessian at any parameters)."""
    rng = np.random.RandomState(3)
    X = rng.normal(size=(300, 1))
    y = np.where(X[:, 0] < 0, rng.randint(0, 2, 300), rng.randint(1, 3, 300))
    model = MixtureOfExpertsClassifier(
        2,
        gate=SoftmaxGate(alpha=0.0),
        expert=LogisticExpert(alpha=0.0, degree=degree),
        max_iter=3,
    )
    with pytest.warns(Warning):
        model.fit(X, y)  # not converged: the Hessian holds anywhere
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # maybe indefinite away from the optimum
        table = coef_table(model, X, y)
    terms = ["intercept", "x0"] if degree == 1 else ["intercept", "z(x0)", "z(x0)^2"]
    expert_terms = np.asarray(table["term"])[np.asarray(table["part"]) == "expert"]
    assert list(expert_terms) == terms * 2 * 2  # 2 experts x 2 classes
    steps = 1e-4 * np.maximum(1.0, np.abs(table["estimate"]))
    expected = _fd_information(model, X, y, table, steps=steps)
    order = np.argsort(np.asarray(table["part"]) == "expert", kind="stable")
    undo = np.argsort(order)
    information = observed_information(model, X, y)[0][np.ix_(undo, undo)]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(information, expected, rtol=1e-4, atol=1e-5 * scale)


def test_penalty_curvature_is_added():
    """With strong penalties the information is the FD Hessian of the
    penalized log-likelihood, its penalties written here from the
    docstrings: alpha W / 2 sum_j Var(x_j) ||V[:, j]||^2 on the centred
    gate, alpha W sum_j Var(x_j) c_kj^2 / (2 s_k^2) on each linear expert."""
    X, y = _two_linear_experts(300)
    model = _tight(
        MixtureOfExpertsRegressor(
            2, gate=SoftmaxGate(alpha=0.05), expert=LinearExpert(alpha=0.2)
        )
    ).fit(X, y)
    table = coef_table(model, X, y)
    var_x = X[:, 0].var()
    work = copy.deepcopy(model)

    def objective(point):
        _set_parameters(work, table, point)
        V = work.gate_.coef_[:, 0] - work.gate_.coef_[:, 0].mean()
        gate_pen = 0.05 * 300 / 2 * var_x * np.sum(V**2)
        c, s2 = work.experts_.coef_[:, 0], work.experts_.noise_variance_
        expert_pen = np.sum(0.2 * 300 * var_x * c**2 / (2 * s2))
        return work.log_likelihood(X, y).sum() - gate_pen - expert_pen

    hess = _fd_hessian(objective, table["estimate"], 1e-3 * table["std_error"])
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    np.testing.assert_allclose(table["std_error"], se, rtol=1e-4)
    # The penalty matters here: without it the information is another matrix
    # (indefinite, even: these penalties pull the fit far from the MLE).
    unpenalized = copy.deepcopy(model)
    unpenalized.gate_.alpha = unpenalized.experts_.alpha = 0.0
    unpenalized.experts_.alpha_ = np.zeros_like(model.experts_.alpha_)
    free = observed_information(unpenalized, X, y)[0]
    penalized = observed_information(model, X, y)[0]
    assert np.abs(free - penalized).max() > 0.1 * np.abs(penalized).max()


def test_quadratic_logistic_penalty_curvature():
    """One quadratic softmax expert, three classes: the information is the
    FD Hessian of the log-likelihood less the docstring's penalty,
    alpha W / 2 sum_j Var(phi_j) ||V[:, j]||^2 on the class-centred
    coefficients V of phi(x) = (z, z^2), z the standardized input."""
    rng = np.random.RandomState(4)
    X = rng.normal(size=(300, 1))
    y = np.digitize(X[:, 0] ** 2 + 0.3 * X[:, 0] + 0.5 * rng.randn(300), [0.4, 1.5])
    model = _tight(
        MixtureOfExpertsClassifier(1, expert=LogisticExpert(alpha=0.05, degree=2))
    ).fit(X, y)
    table = coef_table(model, X, y)
    assert list(table["term"][:3]) == ["intercept", "z(x0)", "z(x0)^2"]
    z = (X[:, 0] - X[:, 0].mean()) / X[:, 0].std()
    var_phi = np.column_stack([z, z**2]).var(axis=0)
    work = copy.deepcopy(model)

    def objective(point):
        _set_parameters(work, table, point)
        V = work.experts_.coef_[0]
        V = V - V.mean(axis=0)
        penalty = 0.05 * 300 / 2 * np.sum(var_phi * V**2)
        return work.log_likelihood(X, y).sum() - penalty

    expected = -_fd_hessian(objective, table["estimate"], 1e-3 * table["std_error"])
    information = observed_information(model, X, y)[0]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(information, expected, rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.parametrize(
    "expert",
    [
        LinearExpert(alpha=0.2, covariance_type="full"),
        StudentTExpert(alpha=0.2, covariance_type="full", min_df=5.0, max_df=5.0),
    ],
    ids=["linear-full", "student-full-fixed-df"],
)
def test_penalty_curvature_with_full_scale_matrices(expert):
    """The ridge alpha W sum_j Var(x_j) c_kj^T S_k^-1 c_kj / 2 of the
    docstrings (c_kj: the outputs' coefficients of feature j) on two
    outputs: the information is the FD Hessian of the penalized
    log-likelihood."""
    X, y = _two_t_outputs(300)
    model = _tight(MixtureOfExpertsRegressor(2, gate=SoftmaxGate(alpha=0.0)))
    model = model.set_params(expert=expert).fit(X, y)
    table = coef_table(model, X, y)
    var_x = X[:, 0].var()
    work = copy.deepcopy(model)

    def objective(point):
        _set_parameters(work, table, point)
        c = work.experts_.coef_[:, :, 0]  # (K, m)
        precision = np.linalg.inv(work.experts_.noise_covariance_)
        quad = np.einsum("ki,kij,kj->k", c, precision, c)
        return work.log_likelihood(X, y).sum() - 0.2 * 300 * var_x * quad.sum() / 2

    theta = table["estimate"].astype(float)
    steps = 1e-3 * table["std_error"]
    size = theta.shape[0]
    hess = np.empty((size, size))
    for i in range(size):
        for j in range(i, size):
            ei, ej = np.eye(size)[i] * steps[i], np.eye(size)[j] * steps[j]
            hess[i, j] = hess[j, i] = (
                objective(theta + ei + ej)
                - objective(theta + ei - ej)
                - objective(theta - ei + ej)
                + objective(theta - ei - ej)
            ) / (4 * steps[i] * steps[j])
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    np.testing.assert_allclose(table["std_error"], se, rtol=1e-4)


# ----------------------------------------------------- flexmix's anchor
# /work/shared/data/patent/README.md (flexmix 2.3.18, refit()).
FLEXMIX_EXPERTS = {  # intercept, lgRD: (estimate, SE)
    "A": [(1.962, 0.176), (0.672, 0.046)],
    "B": [(-2.637, 0.627), (1.587, 0.134)],
    "C": [(0.508, 0.161), (0.880, 0.040)],
}
FLEXMIX_GATE = {  # against expert A: intercept, RDS
    "B": [(0.214, 0.524), (-0.746, 1.018)],
    "C": [(3.107, 0.875), (-41.0, 16.1)],
}


@pytest.fixture(scope="module")
def patent_fit():
    """The concomitant model on a DataFrame: gate on RDS, experts on lgRD.
    k-means starts end at -199.599; 20 random starts reach flexmix's
    optimum (see test_poisson)."""
    X, y = load_patent(return_X_y=True)
    frame = pd.DataFrame(X, columns=["RDS", "lgRD"])
    for seed in range(3):
        model = MixtureOfExpertsRegressor(
            3,
            expert=PoissonExpert(),
            gate_features=["RDS"],
            expert_features=["lgRD"],
            init="random",
            n_init=20,
            random_state=seed,
            tol=1e-10,
            max_iter=2000,
        ).fit(frame, y)
        if abs(model.log_likelihood(frame, y).sum() + 197.675) < 1e-2:
            return model, frame, y
    pytest.fail("no start reached flexmix's log-likelihood -197.675")


def _as_flexmix(model):
    """A copy with the experts in flexmix's order A, B, C (matched on the
    lgRD slope), so that the gate's reference is A."""
    slopes = model.experts_.coef_[:, 0]
    order = [
        int(np.argmin(np.abs(slopes - ref[1][0]))) for ref in FLEXMIX_EXPERTS.values()
    ]
    assert sorted(order) == [0, 1, 2]
    model = copy.deepcopy(model)
    model.gate_._keep(np.array(order))
    model.experts_._keep(np.array(order))
    return model


def test_patent_standard_errors_match_flexmix(patent_fit):
    model, X, y = patent_fit
    table = coef_table(_as_flexmix(model), X, y)
    part, expert, term = table["part"], table["expert"], table["term"]
    assert set(term[part == "expert"]) == {"intercept", "lgRD"}
    assert set(term[part == "gate"]) == {"intercept", "RDS"}
    for k, (name, reference) in enumerate(FLEXMIX_EXPERTS.items()):
        rows = np.flatnonzero((part == "expert") & (expert == k))
        for row, (estimate, se) in zip(rows, reference, strict=True):
            assert abs(table["estimate"][row] - estimate) <= 0.05 * se, name
            assert table["std_error"][row] == pytest.approx(se, rel=0.05), name
    for k, (name, reference) in enumerate(FLEXMIX_GATE.items(), start=1):
        rows = np.flatnonzero((part == "gate") & (expert == k))
        for row, (estimate, se) in zip(rows, reference, strict=True):
            assert abs(table["estimate"][row] - estimate) <= 0.05 * se, name
            assert table["std_error"][row] == pytest.approx(se, rel=0.05), name


def test_summary_blocks(patent_fit):
    model, X, y = patent_fit
    text = summary(coef_table(_as_flexmix(model), X, y), title="patents")
    blocks = text.split("\n\n")
    assert blocks[0].startswith("patents\nExpert 0")
    assert [b.splitlines()[0] for b in blocks[1:]] == [
        "Expert 1",
        "Expert 2",
        "Gate (log-odds against expert 0)",
    ]
    assert "expert 2: RDS" in blocks[-1] and "[0.025" in blocks[-1]


# ----------------------------------------------- weights and permutations
def test_integer_weights_equal_repeated_rows():
    X, y = _two_linear_experts(200)
    weight = np.random.RandomState(0).randint(0, 4, size=200).astype(float)
    model = _tight(MixtureOfExpertsRegressor(2)).fit(X, y, sample_weight=weight)
    weighted = coef_table(model, X, y, sample_weight=weight)
    rows = np.repeat(np.arange(200), weight.astype(int))
    repeated = coef_table(model, X[rows], y[rows])
    for name in ("estimate", "std_error", "p_value"):
        np.testing.assert_allclose(weighted[name], repeated[name], rtol=1e-9)
    # The weights matter: unweighted, the same model has other SEs.
    plain = coef_table(model, X, y)
    assert not np.allclose(plain["std_error"], weighted["std_error"], rtol=1e-2)


def _permuted(model, order):
    model = copy.deepcopy(model)
    model.gate_._keep(np.asarray(order))
    model.experts_._keep(np.asarray(order))
    return model


def test_permuting_experts_permutes_the_table():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(600, 1))
    regime = np.digitize(X[:, 0], [-0.7, 0.7])
    y = np.choose(regime, [2 + X[:, 0], -X[:, 0], 1 + 3 * X[:, 0]])
    y = y + 0.2 * rng.randn(600)
    model = _tight(MixtureOfExpertsRegressor(3)).fit(X, y)
    table = coef_table(model, X, y)
    other = coef_table(_permuted(model, [0, 2, 1]), X, y)  # reference kept
    relabel = np.array([0, 2, 1])
    # Permuting reorders the sums and the solve: the tables agree to the
    # rounding the information's conditioning allows (the jumps make the
    # gate sharp, and its condition number about 1e10).
    condition = np.linalg.cond(observed_information(model, X, y)[0])
    rtol = 100 * np.finfo(float).eps * condition
    assert rtol < 1e-3
    for part in ("expert", "gate"):
        for k in range(3):
            mine = (table["part"] == part) & (table["expert"] == k)
            theirs = (other["part"] == part) & (other["expert"] == relabel[k])
            for name in ("estimate", "std_error"):
                np.testing.assert_allclose(
                    table[name][mine], other[name][theirs], rtol=rtol
                )


def test_swapping_two_experts_negates_the_gate():
    X, y = _two_linear_experts(300)
    model = _tight(MixtureOfExpertsRegressor(2)).fit(X, y)
    table = coef_table(model, X, y)
    swapped = coef_table(_permuted(model, [1, 0]), X, y)
    gate = table["part"] == "gate"
    np.testing.assert_allclose(swapped["estimate"][gate], -table["estimate"][gate])
    np.testing.assert_allclose(swapped["std_error"][gate], table["std_error"][gate])
    experts = ~gate
    back = np.r_[np.flatnonzero(experts)[3:], np.flatnonzero(experts)[:3]]
    np.testing.assert_allclose(
        swapped["std_error"][experts], table["std_error"][back], rtol=1e-8
    )


# ------------------------------------------------- estimators and errors
def test_cv_estimator_uses_its_best_estimator():
    X, y = _two_linear_experts(200)
    cv = MixtureOfExpertsRegressorCV(n_experts=(1, 2), cv=3, random_state=0)
    cv.fit(X, y)
    table = coef_table(cv, X, y)
    direct = coef_table(cv.best_estimator_, X, y)
    np.testing.assert_array_equal(table["std_error"], direct["std_error"])


def test_pipeline_uses_its_transformed_inputs():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _two_linear_experts(200)
    pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(2, random_state=0))
    pipe.fit(3.0 * X + 1.0, y)
    table = coef_table(pipe, 3.0 * X + 1.0, y)
    direct = coef_table(pipe[-1], pipe[0].transform(3.0 * X + 1.0), y)
    np.testing.assert_array_equal(table["std_error"], direct["std_error"])


def test_table_shape_and_columns():
    X, y = _two_poisson_experts(300)
    model = _tight(MixtureOfExpertsRegressor(2, expert=PoissonExpert())).fit(X, y)
    table = coef_table(model, X, y, alpha=0.1)
    assert set(table) == COLUMNS
    assert {len(column) for column in table.values()} == {6}
    assert list(table["part"]) == ["expert"] * 4 + ["gate"] * 2
    assert list(table["expert"]) == [0, 0, 1, 1, 1, 1]
    np.testing.assert_allclose(
        table["ci_high"] - table["estimate"], 1.6448536269514722 * table["std_error"]
    )
    assert pd.DataFrame(table).shape == (6, 10)


class _OpaqueGate(GaussianGate):
    """A gate without the 'information' capability."""

    capabilities = GaussianGate.capabilities - {"information"}


def test_parts_without_information_point_to_the_bootstrap():
    from sklearn.linear_model import LinearRegression

    from mixexp.experts import EstimatorExpert

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(150, 1))
    y = 2 * X[:, 0] + 0.3 * rng.standard_t(3, size=150)
    expert = EstimatorExpert(LinearRegression())
    model = MixtureOfExpertsRegressor(2, expert=expert, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="EstimatorExpert does not declare.*bootstrap"):
        coef_table(model, X, y)
    table = coef_table(model, X, y, method="bootstrap", n_boot=5, random_state=0)
    assert np.all(np.isfinite(table["std_error"]))
    # A gate without the capability: its own parameters, not log-odds.
    model = MixtureOfExpertsRegressor(1, gate=_OpaqueGate()).fit(X, y)
    with pytest.raises(ValueError, match="_OpaqueGate does not declare"):
        coef_table(model, X, y)
    table = coef_table(model, X, y, method="bootstrap", n_boot=5, random_state=0)
    assert "means_[0]" in set(table["term"][table["part"] == "gate"])
    assert "\n\nGate\n" in summary(table)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "hessian"}, "method='hessian'"),
        ({"alpha": 1.5}, "alpha=1.5"),
        ({"method": "bootstrap", "n_boot": 1}, "n_boot=1"),
    ],
)
def test_bad_arguments(kwargs, match):
    X, y = _two_linear_experts(100)
    model = MixtureOfExpertsRegressor(1).fit(X, y)
    with pytest.raises(ValueError, match=match):
        coef_table(model, X, y, **kwargs)


def test_unfitted_and_foreign_estimators():
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LinearRegression

    X, y = _two_linear_experts(50)
    with pytest.raises(NotFittedError):
        coef_table(MixtureOfExpertsRegressor(), X, y)
    with pytest.raises(TypeError, match="mixexp mixture"):
        coef_table(LinearRegression().fit(X, y), X, y)


# ------------------------------------------------------------ bootstrap
def test_bootstrap_standard_errors_near_the_observed():
    X, y = _two_linear_experts(600, seed=2)
    model = _tight(MixtureOfExpertsRegressor(2)).fit(X, y)
    observed = coef_table(model, X, y)
    boot = coef_table(
        model, X, y, method="bootstrap", n_boot=40, n_jobs=1, random_state=0
    )
    np.testing.assert_array_equal(boot["estimate"], observed["estimate"])
    ratio = boot["std_error"] / observed["std_error"]
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


def test_bootstrap_matches_relabelled_refits():
    """A replicate whose experts come back in the other order is matched:
    refitting the swapped model from the original's warm start still gives
    the original's labels."""
    from mixexp.inference import _bootstrap_replicate, _estimates

    X, y = _two_linear_experts(400, seed=4)
    model = _tight(MixtureOfExpertsRegressor(2)).fit(X, y)
    reference = model.responsibilities(X, y)
    swapped = _permuted(model, [1, 0])
    estimates = _bootstrap_replicate(swapped, X, y, np.ones(400), 0, reference)
    original = _estimates(model)[0]
    # Close to the original's parameters, not to the swapped ones.
    assert (
        np.abs(estimates - original).max()
        < np.abs(estimates - _estimates(swapped)[0]).max()
    )


# ---------------------------------------------------- likelihood ratio
def test_bootstrap_lrt_rejects_a_planted_second_expert():
    X, y = _two_linear_experts(200, seed=5)
    test = bootstrap_lrt(
        MixtureOfExpertsRegressor(random_state=0), X, y, n_boot=19, random_state=0
    )
    assert test.statistic > test.boot_statistics.max()
    assert test.p_value == pytest.approx(0.05)
    assert test.log_likelihoods[1] > test.log_likelihoods[0]


def test_bootstrap_lrt_under_the_null():
    """On one-expert data the observed statistic is typical of the bootstrap
    distribution (size: benchmarks/bench_inference.py)."""
    p_values = []
    for seed in range(4):
        rng = np.random.RandomState(seed)
        X = rng.uniform(-1, 1, size=(150, 1))
        y = 1 + X[:, 0] + 0.3 * rng.randn(150)
        test = bootstrap_lrt(
            MixtureOfExpertsRegressor(random_state=0),
            X,
            y,
            n_boot=9,
            random_state=seed,
        )
        p_values.append(test.p_value)
        assert test.boot_statistics.shape == (9,)
    assert np.mean(p_values) > 0.2, p_values


def test_bootstrap_lrt_classifier_and_errors():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 1))
    y = (X[:, 0] + 0.5 * rng.randn(150) > 0).astype(int)
    test = bootstrap_lrt(
        MixtureOfExpertsClassifier(random_state=0), X, y, n_boot=3, random_state=0
    )
    assert np.isfinite(test.statistic) and test.boot_statistics.shape == (3,)
    with pytest.raises(ValueError, match="K0 < K1"):
        bootstrap_lrt(MixtureOfExpertsClassifier(), X, y, n_experts=(2, 2))


# -------------------------------------------------------- the forest plot
def test_coefficient_display_draws_the_table():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mixexp.inspection import CoefficientDisplay

    X, y = _two_linear_experts(300)
    model = _tight(MixtureOfExpertsRegressor(2)).fit(X, y)
    display = CoefficientDisplay.from_estimator(model, X, y)
    table = coef_table(model, X, y)
    assert display.row_labels_ == ["intercept", "x0", "gate: intercept", "gate: x0"]
    assert display.ax_ is display.figure_.axes[0]
    # Expert 0: its intercept and slope; expert 1: those and the gate's two.
    for k, count in ((0, 2), (1, 4)):
        line = display.errorbars_[k].lines[0]
        rows = (table["expert"] == k) & (table["term"] != "variance")
        np.testing.assert_allclose(line.get_xdata(), table["estimate"][rows])
        assert len(line.get_ydata()) == count
    # Experts side by side on the shared lines, the first line on top.
    first = display.errorbars_[0].lines[0].get_ydata()
    second = display.errorbars_[1].lines[0].get_ydata()[:2]
    assert np.all(first < second) and np.all(np.abs(first - second) < 0.5)
    assert display.ax_.get_ylim()[0] > display.ax_.get_ylim()[1]
    with_variance = CoefficientDisplay(table=table).plot(include_variance=True)
    assert "variance" in with_variance.row_labels_
    _, ax = plt.subplots()
    assert CoefficientDisplay(table=table).plot(ax=ax).ax_ is ax
    with pytest.raises(ValueError, match="lacks the columns"):
        CoefficientDisplay(table={"estimate": [1.0]}).plot()
    plt.close("all")


def test_bootstrap_is_reproducible_across_n_jobs():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(200, 1))
    y = 1 + 2 * X[:, 0] + 0.3 * rng.randn(200)
    model = MixtureOfExpertsRegressor(1).fit(X, y)
    tables = [
        coef_table(
            model, X, y, method="bootstrap", n_boot=4, n_jobs=n_jobs, random_state=0
        )
        for n_jobs in (1, 2)
    ]
    np.testing.assert_array_equal(tables[0]["std_error"], tables[1]["std_error"])
    other = coef_table(model, X, y, method="bootstrap", n_boot=4, random_state=1)
    assert not np.array_equal(other["std_error"], tables[0]["std_error"])


@pytest.mark.parametrize("verbose, tty", [(0, True), (1, False), (1, True)])
def test_bootstrap_progress(monkeypatch, verbose, tty):
    X, y = _two_linear_experts(200, seed=2)
    model = _tight(MixtureOfExpertsRegressor(2)).fit(X, y)
    out = Terminal(tty)
    monkeypatch.setattr("sys.stdout", out)
    coef_table(
        model, X, y, method="bootstrap", n_boot=20, random_state=0, verbose=verbose
    )
    bootstrap_lrt(
        model, X, y, n_experts=(1, 2), n_boot=5, random_state=0, verbose=verbose
    )
    if not verbose:
        assert out.text == ""
    elif tty:  # one line rewritten in place, erased at the end
        assert "\rbootstrap refits: 20 of 20" in out.text
        assert "\rbootstrap replicates: 5 of 5" in out.text
        assert "\n" not in out.text
    else:  # a line at every tenth
        lines = out.text.splitlines()
        assert lines[:10] == [f"bootstrap refits: {k} of 20" for k in range(2, 21, 2)]
        assert lines[10:] == [f"bootstrap replicates: {k} of 5" for k in range(1, 6)]


# ------------------------------------------------------------ hierarchies
@pytest.fixture(scope="module")
def hierarchy_fit():
    X, y = _four_leaves()
    model = HierarchicalMixtureOfExpertsRegressor(
        depth=2, tol=1e-10, max_iter=2000, random_state=0
    ).fit(X, y)
    return model, X, y


def test_hierarchy_table_names_the_nodes(hierarchy_fit):
    model, X, y = hierarchy_fit
    table = coef_table(model, X, y)
    gate = table["part"] == "gate"
    assert set(table) == COLUMNS | {"node"}
    assert np.all(table["node"][~gate] == -1)
    # Each internal node: its second child's (node 2 j + 2) log-odds.
    assert list(table["node"][gate]) == [0, 0, 1, 1, 2, 2]
    assert list(table["expert"][gate]) == [2, 2, 4, 4, 6, 6]
    # The root's rows are those of a two-expert softmax between its
    # subtrees: log g_2 + log g_3 - log(g_0 + g_1) is linear in x.
    X0 = np.array([[0.0], [1.0]])
    proba = model.predict_gate_proba(X0)
    odds = np.log(proba[:, 2:].sum(axis=1) / proba[:, :2].sum(axis=1))
    root = table["estimate"][gate][:2]
    np.testing.assert_allclose([root[0], root[0] + root[1]], odds, rtol=1e-8)
    text = summary(table)
    assert "Gate node 0 (log-odds against node 1)" in text
    assert "Gate node 2 (log-odds against node 5 (expert 2))" in text
    assert "node 6 (expert 3): x0" in text


def test_hierarchy_bootstrap_includes_the_gate(hierarchy_fit):
    model, X, y = hierarchy_fit
    observed = coef_table(model, X, y)
    boot = coef_table(model, X, y, method="bootstrap", n_boot=8, random_state=0)
    for name in ("part", "expert", "term", "node"):
        np.testing.assert_array_equal(boot[name], observed[name])
    gate = boot["part"] == "gate"
    assert gate.sum() == 6 and np.all(boot["std_error"][gate] > 0)


def test_hierarchy_display_draws_the_nodes(hierarchy_fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mixexp.inspection import CoefficientDisplay

    model, X, y = hierarchy_fit
    display = CoefficientDisplay.from_estimator(model, X, y)
    assert len(display.errorbars_) == 4
    assert display.row_labels_[2:4] == [
        "gate node 0, 2: intercept",
        "gate node 0, 2: x0",
    ]
    table = coef_table(model, X, y)
    np.testing.assert_allclose(
        display.node_errorbar_.lines[0].get_xdata(),
        table["estimate"][table["part"] == "gate"],
    )
    plt.close("all")


# --------------------------------------------------------- Gaussian gate
@pytest.mark.parametrize("kind", ["full", "diag", "spherical"])
def test_gaussian_gate_rows_are_the_log_odds(kind):
    """The gate's rows are the coefficients of log(g_1(x) / g_0(x)) on
    [1, x, quadratic monomials]: a least-squares fit of the log-odds of
    predict_gate_proba at random points recovers them."""
    X, y = _two_regions()
    model = MixtureOfExpertsRegressor(
        2, gate=GaussianGate(covariance_type=kind), random_state=0
    ).fit(X, y)
    with pytest.warns(RuntimeWarning, match="not at a stationary point"):
        table = coef_table(model, X, y)
    gate = table["part"] == "gate"
    points = np.random.RandomState(1).normal(size=(50, 2))
    proba = model.predict_gate_proba(points)
    x0, x1 = points.T
    quadratic = {
        "full": [x0**2, x0 * x1, x1**2],
        "diag": [x0**2, x1**2],
        "spherical": [x0**2 + x1**2],
    }[kind]
    F = np.column_stack([np.ones(50), points, *quadratic])
    coef = np.linalg.lstsq(F, np.log(proba[:, 1] / proba[:, 0]), rcond=None)[0]
    np.testing.assert_allclose(table["estimate"][gate], coef, rtol=1e-7, atol=1e-9)
    names = {"full": ["x0^2", "x0 x1", "x1^2"], "diag": ["x0^2", "x1^2"]}
    expected = ["intercept", "x0", "x1", *names.get(kind, ["|x|^2"])]
    assert list(table["term"][gate]) == expected
    assert (
        summary(table).split("\n\n")[-1].startswith("Gate (log-odds against expert 0)")
    )
