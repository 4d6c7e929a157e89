"""GaussianGate, the localized gate of Xu, Jordan & Hinton (1995), against
slow references: scipy's Gaussian densities, the weighted Gaussian moments
of GaussianMixture's M-step, and the mixture likelihood computed by hand."""

import inspect
import pickle
import re
import warnings

import numpy as np
import pytest
from _helpers import fit_recording_reseeds, gate_training_data
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import make_local_classification, make_mixture_regression
from mixexp.gates import GaussianGate

COVARIANCE_TYPES = ["full", "diag", "spherical"]


def _random_gaussians(rng, n_experts, d, covariance_type):
    """Random weights, means and covariances in the gate's public shapes,
    and the same covariances as full matrices for the references."""
    weights = rng.dirichlet(np.ones(n_experts))
    means = 3 * rng.standard_normal((n_experts, d))
    if covariance_type == "full":
        A = rng.standard_normal((n_experts, d, d))
        covariances = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(d)
        full = covariances
    elif covariance_type == "diag":
        covariances = rng.uniform(0.2, 3.0, (n_experts, d))
        full = covariances[:, :, None] * np.eye(d)
    else:
        covariances = rng.uniform(0.2, 3.0, n_experts)
        full = covariances[:, None, None] * np.eye(d)
    return weights, means, covariances, full


def _blobs(n_samples, random_state, centres=((-4.0, 0.0), (4.0, 0.0), (0.0, 5.0))):
    """Regimes that are Gaussian blobs in x (identity covariance), each with
    its own linear y: returns X, y, the blob of each row and the centres."""
    rng = np.random.RandomState(random_state)
    centres = np.asarray(centres)
    blob = rng.randint(len(centres), size=n_samples)
    X = centres[blob] + rng.standard_normal((n_samples, centres.shape[1]))
    coef = np.array([[1.0, -2.0], [-3.0, 1.0], [0.5, 2.0]])[: len(centres)]
    intercept = np.array([0.0, 3.0, -2.0])[: len(centres)]
    y = np.einsum("nd,nd->n", X, coef[blob]) + intercept[blob]
    return X, y + 0.3 * rng.standard_normal(n_samples), blob, centres


# ----------------------------------------------------------- E-step
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_weights_match_scipy_densities(covariance_type):
    rng = np.random.RandomState(0)
    n_experts, d = 4, 3
    weights, means, covariances, full = _random_gaussians(
        rng, n_experts, d, covariance_type
    )
    X = 2 * rng.standard_normal((500, d))
    reference = np.array(
        [
            np.log(weights[k]) + multivariate_normal(means[k], full[k]).logpdf(X)
            for k in range(n_experts)
        ]
    )
    gate = GaussianGate(covariance_type=covariance_type)
    gate._set_gaussians(weights, means, covariances)

    # During a fit the gate sees centred design chunks (small ones here).
    data = gate_training_data(X, rng.uniform(0.5, 2, 500), n_experts, rows=64)
    assert np.abs(data.offset["gate"]).max() > 0.01
    params = gate._params(data)
    fit_time = np.hstack(
        [gate._log_proba(Xt, params)[0] for _, Xt in data.chunks("gate")]
    )
    np.testing.assert_allclose(fit_time, reference, rtol=1e-10)

    expected = reference - logsumexp(reference, axis=0)
    # A log-probability near 0 is a difference of O(1) terms: it carries their
    # absolute rounding, whichever log-sum-exp (scipy 1.11's lacks log1p).
    np.testing.assert_allclose(
        gate.predict_log_proba(X), expected.T, rtol=1e-10, atol=1e-13
    )
    np.testing.assert_allclose(gate.predict_proba(X).sum(axis=1), 1.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_responsibilities_match_the_joint_model(covariance_type):
    """h_ik is proportional to a_k N(x_i; m_k, S_k) N(y_i; f_k(x_i), s_k^2)."""
    X, y, _, _ = _blobs(600, random_state=1)
    est = MixtureOfExpertsRegressor(
        3, gate=GaussianGate(covariance_type=covariance_type), random_state=0
    ).fit(X, y)
    gate, experts = est.gate_, est.experts_
    full = _full_covariance(gate)
    log_joint = np.column_stack(
        [
            np.log(gate.weights_[k])
            + multivariate_normal(gate.means_[k], full[k]).logpdf(X)
            + norm(
                experts.predict(X)[:, k], np.sqrt(experts.noise_variance_[k])
            ).logpdf(y)
            for k in range(3)
        ]
    )
    expected = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    np.testing.assert_allclose(
        est.responsibilities(X, y), expected, rtol=1e-8, atol=1e-12
    )


# ----------------------------------------------------------- M-step
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_is_the_weighted_gaussian_mixture_m_step(covariance_type):
    """With responsibilities held fixed, the M-step gives GaussianMixture's
    estimates with weights w_i h_ik, computed here directly (two passes)."""
    rng = np.random.RandomState(2)
    n, d, n_experts, reg_covar = 300, 3, 4, 1e-3
    X = rng.standard_normal((n, d)) * [1.0, 5.0, 0.2] + [10.0, -3.0, 0.0]
    sample_weight = rng.uniform(0, 3, n)
    resp = rng.dirichlet(np.ones(n_experts), size=n)  # (n, K)

    gate = GaussianGate(covariance_type=covariance_type, reg_covar=reg_covar)
    data = gate_training_data(X, sample_weight, n_experts, rows=37)
    gate._prepare(data)
    gate._reset(data)
    data.resp[:] = resp.T
    stats, params = {}, gate._params(data)
    for rows, Xt in data.chunks("gate"):
        log_gate, cache = gate._log_proba(Xt, params)
        gate._accumulate(stats, Xt, sample_weight[rows], resp[rows].T, cache, params)
    gate._m_step(stats, data)

    mass = sample_weight[:, None] * resp  # (n, K)
    counts = mass.sum(axis=0)
    variances = np.cov(X.T, aweights=sample_weight, bias=True).diagonal()
    means = mass.T @ X / counts[:, None]
    covariances = np.array(
        [
            (mass[:, k, None] * (X - means[k])).T @ (X - means[k]) / counts[k]
            # reg_covar is relative to each input's weighted variance.
            + reg_covar * np.diag(variances)
            for k in range(n_experts)
        ]
    )
    if covariance_type == "diag":
        covariances = np.diagonal(covariances, 0, 1, 2)
    elif covariance_type == "spherical":
        covariances = np.diagonal(covariances, 0, 1, 2).mean(axis=1)
    np.testing.assert_allclose(gate.weights_, counts / counts.sum(), rtol=1e-12)
    np.testing.assert_allclose(gate.means_, means, rtol=1e-10)
    np.testing.assert_allclose(gate.covariances_, covariances, rtol=1e-9)
    precisions = gate.precisions_cholesky_
    if covariance_type == "full":
        np.testing.assert_allclose(
            precisions @ np.swapaxes(precisions, 1, 2),
            np.linalg.inv(covariances),
            rtol=1e-8,
        )
    else:
        np.testing.assert_allclose(precisions**2, 1.0 / covariances, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reset_is_uniform_and_revive_gives_the_mixture_moments(covariance_type):
    rng = np.random.RandomState(3)
    X = rng.standard_normal((200, 2)) @ [[2.0, 0.5], [0.0, 1.0]] + 7.0
    sample_weight = rng.uniform(0.1, 2, 200)
    gate = GaussianGate(covariance_type=covariance_type, reg_covar=0.0)
    data = gate_training_data(X, sample_weight, 3)
    gate._prepare(data)
    gate._reset(data)
    gate_proba = gate.predict_proba(X)
    np.testing.assert_allclose(gate_proba, 1.0 / 3)
    mean = sample_weight @ X / sample_weight.sum()
    np.testing.assert_allclose(gate.means_, np.tile(mean, (3, 1)), rtol=1e-12)

    weights, means, covariances, full = _random_gaussians(rng, 3, 2, covariance_type)
    gate._set_gaussians(weights, means, covariances)
    gate._revive(np.array([1]))
    # Moments of the mixture of the two other components and the old one:
    # E[x] = sum a_k m_k, Cov[x] = sum a_k (S_k + m_k m_k^T) - E[x] E[x]^T.
    centre = weights @ means
    second = np.einsum("k,kij->ij", weights, full + means[:, :, None] * means[:, None])
    pooled = second - np.outer(centre, centre)
    expected = {
        "full": pooled,
        "diag": np.diag(pooled),
        "spherical": np.diag(pooled).mean(),
    }[covariance_type]
    np.testing.assert_allclose(gate.weights_.sum(), 1.0)
    # Expert 1 gets the mean weight 1/3; all are then rescaled to sum to one.
    np.testing.assert_allclose(gate.weights_[1], (1 / 3) / (1 - weights[1] + 1 / 3))
    np.testing.assert_allclose(gate.means_[1], centre, rtol=1e-12)
    np.testing.assert_allclose(gate.covariances_[1], expected, rtol=1e-12)
    np.testing.assert_allclose(gate.means_[[0, 2]], means[[0, 2]])


# ------------------------------------------------------ EM as a whole
def _gaussian_gate_problem(seed, covariance_type):
    rng = np.random.RandomState(seed)
    if seed % 2:
        X, y, _, _ = _blobs(rng.randint(100, 400), random_state=seed)
    else:
        X, y = make_mixture_regression(
            rng.randint(100, 400),
            n_features=rng.randint(1, 5),
            n_experts=3,
            noise=rng.uniform(0.1, 1),
            random_state=seed,
        )
    est = MixtureOfExpertsRegressor(
        rng.randint(2, 5),
        gate=GaussianGate(covariance_type=covariance_type),
        init=["kmeans", "random"][seed % 3 == 0],
        max_iter=80,
        tol=0,
        random_state=seed,
    )
    return est, X, y


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", range(6))
def test_em_never_lowers_the_joint_log_likelihood(seed, covariance_type):
    est, X, y = _gaussian_gate_problem(seed, covariance_type)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Expert", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        est, restarted = fit_recording_reseeds(est, X, y)
    lb = est.lower_bounds_
    assert np.all(np.isfinite(lb))
    checked = ~restarted[1:]  # re-seeds and pruning may lower the bound
    change = np.diff(lb)[checked]
    assert np.all(change >= -1e-10 * np.abs(lb[1:][checked])), change.min()
    # It is the (penalized) joint log-likelihood of (x, y):
    # log p(y | x) + log p(x), per sample.
    gate = est.gate_
    log_px = logsumexp(
        np.column_stack(
            [
                np.log(gate.weights_[k])
                + multivariate_normal(
                    gate.means_[k], _full_covariance(gate)[k], allow_singular=True
                ).logpdf(X)
                for k in range(est.n_experts_)
            ]
        ),
        axis=1,
    )
    joint = np.mean(est.log_likelihood(X, y) + log_px)
    penalty = est.experts_._penalty() / X.shape[0]  # the experts' small ridge
    assert joint - penalty == pytest.approx(est.lower_bound_, rel=1e-10)


def _full_covariance(gate):
    d = gate.means_.shape[1]
    cov = gate.covariances_
    if cov.ndim == 3:
        return cov
    return (cov if cov.ndim == 2 else cov[:, None] * np.ones(d))[:, :, None] * np.eye(d)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_blob_regimes_are_recovered(covariance_type):
    n = 3000
    X, y, blob, centres = _blobs(n, random_state=0)
    X_test, y_test, _, _ = _blobs(2000, random_state=1)
    est = MixtureOfExpertsRegressor(
        3, gate=GaussianGate(covariance_type=covariance_type), random_state=0
    ).fit(X, y)
    softmax = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    rows, cols = linear_sum_assignment(
        ((est.gate_.means_[:, None] - centres[None]) ** 2).sum(axis=2)
    )
    # Each blob's mean is estimated from about n / 3 points of unit variance:
    # standard error sqrt(3 / n) per coordinate; allow 5 of them.
    tolerance = 5 * np.sqrt(3 / n)
    np.testing.assert_allclose(est.gate_.means_[rows], centres[cols], atol=tolerance)
    counts = np.bincount(blob, minlength=3)[cols]
    np.testing.assert_allclose(est.gate_.weights_[rows], counts / n, atol=0.01)
    # The variances are 1 (each estimated with standard error ~ sqrt(2 * 3 / n)).
    variances = np.diagonal(_full_covariance(est.gate_), 0, 1, 2)
    np.testing.assert_allclose(variances, 1.0, atol=5 * np.sqrt(6 / n))
    assert est.score(X_test, y_test) > 0.99
    assert est.score(X_test, y_test) >= softmax.score(X_test, y_test) - 0.005


def test_log_likelihood_is_the_conditional_likelihood():
    X, y, _, _ = _blobs(500, random_state=2)
    est = MixtureOfExpertsRegressor(3, gate=GaussianGate(), random_state=0).fit(X, y)
    X_new, y_new, _, _ = _blobs(200, random_state=3)
    gate = est.predict_gate_proba(X_new)
    means = est.experts_.predict(X_new)
    densities = norm(means, np.sqrt(est.experts_.noise_variance_)).pdf(y_new[:, None])
    expected = np.log(np.sum(gate * densities, axis=1))
    np.testing.assert_allclose(est.log_likelihood(X_new, y_new), expected, rtol=1e-10)
    np.testing.assert_allclose(gate.sum(axis=1), 1.0)


def test_classifier_with_a_gaussian_gate():
    X, y = make_local_classification(2000, random_state=0)
    X_test, y_test = make_local_classification(1000, random_state=1)
    est = MixtureOfExpertsClassifier(
        4, gate=GaussianGate(covariance_type="diag"), random_state=0
    ).fit(X, y)
    proba = est.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert est.score(X_test, y_test) > 0.9
    assert est.predict_gate_proba(X_test).shape == (1000, 4)
    assert est.gate_.covariances_.shape == (4, 2)


def test_the_gate_sees_its_own_features():
    X, y, _, _ = _blobs(300, random_state=9)
    X = np.column_stack([X, np.random.RandomState(0).standard_normal(300)])
    est = MixtureOfExpertsRegressor(
        3, gate=GaussianGate(), gate_features=[0, 1], random_state=0
    ).fit(X, y)
    assert est.gate_.means_.shape == (3, 2)
    np.testing.assert_allclose(
        est.predict_gate_proba(X), est.gate_.predict_proba(X[:, :2])
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_weight_two_equals_duplicated_rows(covariance_type):
    X, y, _, _ = _blobs(200, random_state=4)
    est = MixtureOfExpertsRegressor(
        3, gate=GaussianGate(covariance_type=covariance_type), random_state=0
    )
    doubled = clone(est).fit(X, y, sample_weight=np.full(200, 2.0))
    stacked = clone(est).fit(np.vstack([X, X]), np.concatenate([y, y]))
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(
            getattr(doubled.gate_, name), getattr(stacked.gate_, name), rtol=1e-7
        )
    np.testing.assert_allclose(doubled.predict(X), stacked.predict(X), rtol=1e-7)


def test_errors():
    X, y, _, _ = _blobs(100, random_state=0)
    with pytest.raises(ValueError, match="solver='em'"):
        MixtureOfExpertsRegressor(2, gate=GaussianGate(), solver="gd").fit(X, y)
    with pytest.raises(ValueError, match="top_k"):
        MixtureOfExpertsRegressor(3, gate=GaussianGate(), top_k=2).fit(X, y)
    with pytest.raises(ValueError, match="covariance_type"):
        MixtureOfExpertsRegressor(2, gate=GaussianGate(covariance_type="tied")).fit(
            X, y
        )
    with pytest.raises(ValueError, match="reg_covar"):
        MixtureOfExpertsRegressor(2, gate=GaussianGate(reg_covar=-1.0)).fit(X, y)
    with pytest.raises(NotFittedError):
        GaussianGate().predict_proba(X)
    # A constant input has no covariance without reg_covar.
    X_constant = np.column_stack([X[:, 0], np.ones(100)])
    with pytest.raises(ValueError, match="increase reg_covar"):
        MixtureOfExpertsRegressor(2, gate=GaussianGate(reg_covar=0.0)).fit(
            X_constant, y
        )
    MixtureOfExpertsRegressor(2, gate=GaussianGate()).fit(X_constant, y)


@pytest.mark.parametrize(
    "covariance_type, n_covariance",
    [("full", lambda d: d * (d + 1) // 2), ("diag", lambda d: d), ("spherical", 1)],
)
def test_n_parameters(covariance_type, n_covariance):
    X, y = make_mixture_regression(300, n_features=3, n_experts=2, random_state=0)
    est = MixtureOfExpertsRegressor(
        4, gate=GaussianGate(covariance_type=covariance_type), random_state=0
    ).fit(X, y)
    K, d = est.n_experts_, 3
    per_region = n_covariance(d) if callable(n_covariance) else n_covariance
    gate = (K - 1) + K * d + K * per_region  # weights, means, covariances
    experts = K * (d + 1 + 1)  # coefficients, intercept, noise variance
    assert est._n_parameters() == gate + experts
    log_lik = est.log_likelihood(X, y).sum()
    assert est.bic(X, y) == pytest.approx(-2 * log_lik + (gate + experts) * np.log(300))


def test_clone_pickle_and_grid_search():
    X, y, _, _ = _blobs(300, random_state=5)
    gate = GaussianGate(covariance_type="diag", reg_covar=1e-4)
    assert clone(gate).get_params() == gate.get_params()
    est = MixtureOfExpertsRegressor(3, gate=gate, random_state=0).fit(X, y)
    assert est.gate is gate and not hasattr(gate, "means_")  # the estimator clones
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
    np.testing.assert_array_equal(
        restored.predict_gate_proba(X), est.predict_gate_proba(X)
    )
    search = GridSearchCV(
        MixtureOfExpertsRegressor(3, gate=GaussianGate(), random_state=0),
        {"gate__covariance_type": COVARIANCE_TYPES},
        cv=3,
    ).fit(X, y)
    assert search.best_params_["gate__covariance_type"] in COVARIANCE_TYPES
    assert (
        search.best_estimator_.gate_.covariance_type
        == (search.best_params_["gate__covariance_type"])
    )


def test_warm_start_converts_the_covariances():
    X, y, _, _ = _blobs(300, random_state=6)
    est = MixtureOfExpertsRegressor(
        3, gate=GaussianGate(), warm_start=True, random_state=0
    ).fit(X, y)
    full = est.gate_.covariances_.copy()
    est.set_params(gate__covariance_type="diag", max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.gate_.covariances_.shape == (3, 2)
    # One more EM step from a converged fit moves the variances very little.
    np.testing.assert_allclose(
        est.gate_.covariances_, np.diagonal(full, 0, 1, 2), rtol=0.05
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_streaming_approaches_batch_em(covariance_type):
    X, y, _, _ = _blobs(3000, random_state=7)
    X_test, y_test, _, _ = _blobs(1000, random_state=8)
    make = lambda: MixtureOfExpertsRegressor(  # noqa: E731
        3, gate=GaussianGate(covariance_type=covariance_type), random_state=0
    )
    batch = make().fit(X, y)
    online = make()
    order = np.random.RandomState(0).permutation(len(X))
    for _ in range(3):
        for rows in np.array_split(order, 20):
            online.partial_fit(X[rows], y[rows])
    batch_ll = batch.log_likelihood(X_test, y_test).mean()
    online_ll = online.log_likelihood(X_test, y_test).mean()
    assert abs(online_ll - batch_ll) < 0.02 * abs(batch_ll)
    rows, cols = linear_sum_assignment(
        ((online.gate_.means_[:, None] - batch.gate_.means_[None]) ** 2).sum(axis=2)
    )
    np.testing.assert_allclose(
        online.gate_.means_[rows], batch.gate_.means_[cols], atol=0.15
    )


def test_docstring_documents_the_parameters():
    doc = inspect.getdoc(GaussianGate)
    section = re.search(r"^Parameters\n-+\n(.*?)^Attributes", doc, re.S | re.M)
    documented = re.findall(r"^(\w+) :", section.group(1), re.M)
    assert documented == list(inspect.signature(GaussianGate).parameters)
    for method in (GaussianGate.predict_proba, GaussianGate.predict_log_proba):
        assert re.search(r"^Returns\n-+\n", inspect.getdoc(method), re.M)


@parametrize_with_checks(
    [
        MixtureOfExpertsRegressor(2, gate=GaussianGate()),
        MixtureOfExpertsClassifier(2, gate=GaussianGate(covariance_type="diag")),
        MixtureOfExpertsRegressor(3, gate=GaussianGate(covariance_type="spherical")),
    ],
)
def test_sklearn_compatible_with_a_gaussian_gate(estimator, check):
    check(estimator)
