"""PoissonExpert: Poisson regression experts (log link) for counts, against
scipy's Poisson law, scikit-learn's PoissonRegressor, brute-force mixture
quantiles and flexmix's fit of the patent data."""

import copy
import warnings

import numpy as np
import pytest
from _helpers import fit_recording_reseeds, search_n_experts
from scipy.special import logsumexp, softmax
from scipy.stats import poisson
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.linear_model import PoissonRegressor
from sklearn.utils.validation import check_is_fitted

import mixexp.experts._poisson as poisson_module
from mixexp import MixtureOfExpertsRegressor
from mixexp._data import TrainingData
from mixexp.datasets import load_patent
from mixexp.experts import PoissonExpert
from mixexp.gates import ConstantGate, SoftmaxGate


def _switching_counts(n, seed):
    """Counts from two Poisson regressions switched by the sign of x0."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    log_mean = np.where(X[:, 0] < 0, 2 - X[:, 0] + 0.5 * X[:, 1], 1 + 2 * X[:, 0])
    return X, rng.poisson(np.exp(log_mean))


@pytest.fixture(scope="module")
def fitted():
    X, y = _switching_counts(600, 0)
    model = MixtureOfExpertsRegressor(
        3, expert=PoissonExpert(), random_state=0, tol=1e-10, max_iter=1000
    ).fit(X, y)
    return model, X, y


def _by_hand(model, X):
    """Gate probabilities (n, K) and expert means (n, K) from the fitted
    coefficients, for a softmax gate on all the inputs."""
    gate = softmax(X @ model.gate_.coef_.T + model.gate_.intercept_, axis=1)
    means = np.exp(X @ model.experts_.coef_.T + model.experts_.intercept_)
    return gate, means


# ------------------------------------------------------------- the density
def test_log_likelihood_is_the_poisson_mixture(fitted):
    model, X, y = fitted
    model = copy.deepcopy(model)
    rng = np.random.RandomState(1)  # parameters set by hand, not fitted
    model.gate_.coef_ = rng.standard_normal((3, 2))
    model.gate_.intercept_ = rng.standard_normal(3)
    model.experts_.coef_ = rng.standard_normal((3, 2))
    model.experts_.intercept_ = rng.standard_normal(3) + 1
    gate, means = _by_hand(model, X)
    joint = np.log(gate) + poisson.logpmf(y[:, None], means)
    np.testing.assert_allclose(
        model.log_likelihood(X, y), logsumexp(joint, axis=1), rtol=1e-12
    )
    np.testing.assert_allclose(
        model.responsibilities(X, y), softmax(joint, axis=1), rtol=1e-10
    )
    np.testing.assert_allclose(model.predict(X), np.sum(gate * means, axis=1))
    np.testing.assert_allclose(model.predict_experts(X), means)


def test_scoring_negative_targets_says_so(fitted):
    """Their probability is zero in every expert, which leaves no
    responsibilities: scoring them is refused with the reason."""
    model, X, y = fitted
    targets = np.where(np.arange(4) == 1, -1.0, y[:4])
    for method in ("log_likelihood", "responsibilities", "bic"):
        with pytest.raises(ValueError, match="scores non-negative.*such as"):
            getattr(model, method)(X[:4], targets)


def test_bic_counts_the_parameters(fitted):
    model, X, y = fitted
    n_params = 3 * (2 + 1) + 2 * (2 + 1)  # experts, then the softmax gate
    expected = -2 * model.log_likelihood(X, y).sum() + n_params * np.log(len(y))
    assert model.bic(X, y) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------- the M-step
def _weighted_std(X, w):
    mean = np.average(X, axis=0, weights=w)
    return np.sqrt(np.average((X - mean) ** 2, axis=0, weights=w))


@pytest.mark.parametrize("alpha", [0.0, 1e-2])
def test_one_expert_is_scikit_learn_s_poisson_regression(alpha):
    """With one expert, alpha is PoissonRegressor's alpha on inputs divided
    by their weighted standard deviation (both penalize per unit weight and
    leave the intercept free)."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((400, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, 1.0]
    y = rng.poisson(np.exp(0.5 + X @ [0.3, -0.02, 2.0]))
    w = rng.uniform(0.2, 3.0, 400)
    model = MixtureOfExpertsRegressor(
        1, expert=PoissonExpert(alpha=alpha), tol=1e-14, max_iter=500
    ).fit(X, y, sample_weight=w)
    scale = _weighted_std(X, w)
    reference = PoissonRegressor(
        alpha=alpha, solver="newton-cholesky", tol=1e-12, max_iter=1000
    )
    reference.fit(X / scale, y, sample_weight=w)
    np.testing.assert_allclose(model.experts_.coef_[0], reference.coef_ / scale, 1e-7)
    assert model.experts_.intercept_[0] == pytest.approx(reference.intercept_, 1e-7)
    # EM's objective: the weighted mean log-likelihood minus the penalty.
    mean = np.average(model.log_likelihood(X, y), weights=w)
    penalty = 0.5 * alpha * np.sum((scale * model.experts_.coef_[0]) ** 2)
    assert model.lower_bound_ == pytest.approx(mean - penalty, rel=1e-12)


def test_each_expert_maximizes_its_weighted_penalized_term(fitted):
    """At EM's fixed point each expert is the weighted Poisson regression of
    the data under its responsibilities: PoissonRegressor with sample weights
    h_k and alpha times W / sum h_k (it divides by its total weight)."""
    model, X, y = fitted
    alpha = model.experts_.alpha
    resp = model.responsibilities(X, y)
    scale = _weighted_std(X, np.ones(len(y)))
    for k in range(3):
        reference = PoissonRegressor(
            alpha=alpha * len(y) / resp[:, k].sum(),
            solver="newton-cholesky",
            tol=1e-12,
            max_iter=1000,
        ).fit(X / scale, y, sample_weight=resp[:, k])
        np.testing.assert_allclose(
            model.experts_.coef_[k], reference.coef_ / scale, atol=1e-5
        )
        assert model.experts_.intercept_[k] == pytest.approx(
            reference.intercept_, abs=1e-5
        )


def test_a_weight_of_two_is_a_repeated_row():
    X, y = _switching_counts(200, 1)
    counts = np.random.RandomState(2).randint(0, 4, len(y))
    options = dict(expert=PoissonExpert(), random_state=0, tol=1e-8, max_iter=300)
    weighted = MixtureOfExpertsRegressor(3, **options).fit(X, y, sample_weight=counts)
    repeated = MixtureOfExpertsRegressor(3, **options).fit(
        np.repeat(X, counts, axis=0), np.repeat(y, counts)
    )
    assert weighted.n_iter_ == repeated.n_iter_
    for a, b in [
        (weighted.experts_.coef_, repeated.experts_.coef_),
        (weighted.experts_.intercept_, repeated.experts_.intercept_),
    ]:
        np.testing.assert_allclose(a, b, atol=1e-7)
    # The gate's weights (hundreds: a sharp switch) still grow along a
    # nearly flat ridge, where SQUAREM's jumps carry rounding further.
    np.testing.assert_allclose(weighted.gate_.coef_, repeated.gate_.coef_, rtol=1e-5)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-10)


def test_permuting_the_experts_changes_nothing(fitted):
    model, X, y = fitted
    order = np.array([2, 0, 1])
    permuted = copy.deepcopy(model)
    for part in (permuted.gate_, permuted.experts_):
        part.coef_, part.intercept_ = part.coef_[order], part.intercept_[order]
    for method in ("predict", "bic"):
        args = (X, y) if method == "bic" else (X,)
        np.testing.assert_allclose(
            getattr(permuted, method)(*args), getattr(model, method)(*args), 1e-12
        )
    np.testing.assert_allclose(
        permuted.log_likelihood(X, y), model.log_likelihood(X, y), rtol=1e-12
    )
    np.testing.assert_allclose(
        permuted.responsibilities(X, y), model.responsibilities(X, y)[:, order]
    )
    np.testing.assert_allclose(
        permuted.predict(X, return_std=True)[1], model.predict(X, return_std=True)[1]
    )
    np.testing.assert_array_equal(
        permuted.predict_quantiles(X, [0.1, 0.5, 0.9]),
        model.predict_quantiles(X, [0.1, 0.5, 0.9]),
    )


@pytest.mark.parametrize("gate", [SoftmaxGate(), ConstantGate()])
@pytest.mark.parametrize("seed", range(4))
def test_em_never_lowers_the_penalized_likelihood(gate, seed):
    """Each Newton step is checked by the next pass and halved if it lowered
    Q: the bound never decreases (re-seeds aside, which may lower it)."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((150, 2)) * [0.1, 10.0][seed % 2]
    log_mean = np.where(X[:, 0] > 0, 4.0, -1.0) + X[:, 1] / X[:, 1].std()
    y = rng.poisson(np.exp(log_mean))
    model = MixtureOfExpertsRegressor(
        4, gate=gate, expert=PoissonExpert(alpha=1e-3), random_state=seed, tol=0,
        max_iter=60,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Expert", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model, reseeded = fit_recording_reseeds(model, X, y)
    bounds = model.lower_bounds_
    checked = ~reseeded[1:]
    floor = -1e-10 * (1 + np.abs(bounds[:-1]))
    assert np.all(np.diff(bounds)[checked] >= floor[checked])


def test_a_newton_step_that_lowers_q_is_halved(monkeypatch):
    """Uncapped, the Newton step from means e^5 times too small moves the
    log-mean by about e^5 instead of 5, far past the optimum: the driver's
    check at the next pass halves it until Q rises, so the bound still never
    decreases."""
    monkeypatch.setattr(poisson_module, "_MAX_STEP", np.inf)
    X, y = _switching_counts(300, 8)
    model = MixtureOfExpertsRegressor(
        1, expert=PoissonExpert(alpha=0), tol=1e-12, max_iter=300
    ).fit(X, y)
    optimum = model.lower_bound_
    model.experts_.intercept_ -= 5.0
    start = model.log_likelihood(X, y).mean()
    model.set_params(warm_start=True).fit(X, y)
    bounds = np.r_[start, model.lower_bounds_]
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[:-1]))
    assert model.lower_bound_ == pytest.approx(optimum, abs=1e-10)


def test_the_first_newton_step_is_capped():
    """The initial M-step is not checked by the driver: from the mean count
    (about 100) towards a cluster of counts near 10,000, a full Newton step
    would add about 99 to the log-mean and EM would then need about a
    hundred iterations to come back; capped, it takes a few."""
    rng = np.random.RandomState(9)
    X = rng.standard_normal((1000, 1))
    y = np.where(np.arange(1000) < 990, rng.poisson(1.0, 1000), 10_000)
    model = MixtureOfExpertsRegressor(
        2, expert=PoissonExpert(), random_state=0, tol=1e-8, max_iter=300
    ).fit(X, y)
    assert model.n_iter_ < 30
    np.testing.assert_allclose(
        np.sort(model.predict_experts(X[:1])[0]), [y[:990].mean(), 10_000], rtol=0.02
    )


# ------------------------------------------------------ other solvers
def test_backward_and_penalty_gradients_match_finite_differences():
    """The gradient hooks against central differences of what they
    differentiate: sum(a log P) + sum(b error) + sum(c outputs), and the
    penalty."""
    X, y = _switching_counts(40, 3)
    data = TrainingData(X, y[:, None].astype(float), np.linspace(0.5, 2, 40), 3, 8)
    data = data.restart(np.random.RandomState(0))
    data.single_output = True
    experts = PoissonExpert(alpha=0.3)
    experts._prepare(data)
    experts._reset(data)
    rng = np.random.RandomState(1)
    W0 = 0.5 * rng.standard_normal(experts._theta(data)[0].shape)
    a, b, c = rng.standard_normal((3, 3, 40))
    Xt = data.design(slice(None), "experts")

    def energy(W):
        cache = experts._forward(Xt, data.y, [W], data)
        outputs = experts._outputs(cache)[0][:, 0]
        return np.sum(
            a * experts._log_lik_from(cache) + b * experts._error(cache) + c * outputs
        )

    cache = experts._forward(Xt, data.y, [W0], data)
    grad = experts._backward(
        Xt, cache, [W0], d_logp=a, d_error=b, d_output=c[:, None, :]
    )[0]
    penalty, (penalty_grad,) = experts._theta_penalty([W0])
    eps = 1e-6
    steps = np.eye(W0.size).reshape(-1, *W0.shape)
    numeric = [(energy(W0 + eps * e) - energy(W0 - eps * e)) / (2 * eps) for e in steps]
    np.testing.assert_allclose(grad.ravel(), numeric, rtol=1e-6, atol=1e-6)
    numeric = [
        (experts._theta_penalty([W0 + eps * e])[0] - penalty) / eps for e in steps
    ]
    np.testing.assert_allclose(penalty_grad.ravel(), numeric, rtol=1e-4, atol=1e-6)
    assert np.all(penalty_grad[:, -1] == 0)  # the intercepts are free


def test_gradient_descent_and_online_em_reach_em_s_optimum():
    X, y = _switching_counts(2000, 4)
    options = dict(expert=PoissonExpert(), random_state=0)
    em = MixtureOfExpertsRegressor(2, tol=1e-10, max_iter=1000, **options).fit(X, y)
    gd = MixtureOfExpertsRegressor(
        2, solver="gd", tol=1e-12, max_iter=5000, **options
    ).fit(X, y)
    assert gd.lower_bound_ == pytest.approx(em.lower_bound_, abs=1e-5)
    online = MixtureOfExpertsRegressor(2, **options)
    for _ in range(3):
        for rows in np.array_split(np.arange(len(y)), 20):
            online.partial_fit(X[rows], y[rows])
    # Online EM's gate stays softer than batch EM's at a sharp switch (the
    # known limit in mixexp._online); its experts are EM's.
    mean = em.log_likelihood(X, y).mean()
    assert online.log_likelihood(X, y).mean() == pytest.approx(mean, abs=0.05)
    np.testing.assert_allclose(
        np.sort(online.experts_.coef_[:, 0]), np.sort(em.experts_.coef_[:, 0]), atol=0.1
    )


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_minibatch_solvers_approach_em_s_optimum(solver):
    X, y = _switching_counts(2000, 4)
    options = dict(expert=PoissonExpert(), random_state=0)
    em = MixtureOfExpertsRegressor(2, tol=1e-10, max_iter=1000, **options).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = MixtureOfExpertsRegressor(
            2, solver=solver, learning_rate_init=1e-2, max_iter=200, **options
        ).fit(X, y)
    mean = em.log_likelihood(X, y).mean()
    assert fitted.log_likelihood(X, y).mean() == pytest.approx(mean, abs=0.05)


def test_dask_arrays_give_the_in_memory_fit():
    da = pytest.importorskip("dask.array")
    X, y = _switching_counts(3000, 5)
    options = dict(expert=PoissonExpert(), random_state=0, tol=1e-8)
    memory = MixtureOfExpertsRegressor(2, **options).fit(X, y)
    sharded = MixtureOfExpertsRegressor(2, **options).fit(
        da.from_array(X, chunks=1000), da.from_array(y, chunks=1000)
    )
    np.testing.assert_allclose(
        sharded.experts_.coef_, memory.experts_.coef_, rtol=1e-6, atol=1e-8
    )


def test_in_a_pipeline_chosen_by_held_out_likelihood():
    X, y = _switching_counts(1200, 8)
    model = MixtureOfExpertsRegressor(expert=PoissonExpert(), random_state=0)
    search = search_n_experts(model, X, y)
    # Two Poisson regressions generated the counts.
    assert search.best_params_ == {"mixtureofexpertsregressor__n_experts": 2}
    assert search.predict(X[:5]).shape == (5,)


# -------------------------------------------------- predictive distribution
def test_std_is_the_law_of_total_variance(fitted):
    model, X, _ = fitted
    gate, means = model.predict_gate_proba(X), model.predict_experts(X)
    mean = np.sum(gate * means, axis=1)
    variance = np.sum(gate * (means + means**2), axis=1) - mean**2  # Var = mean
    got_mean, got_std = model.predict(X, return_std=True)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(got_std, np.sqrt(variance), rtol=1e-10)


def _brute_force_quantiles(gate, means, levels, top):
    """The smallest integer t with sum_k g_k F_k(t) >= q, over 0..top."""
    grid = np.arange(top + 1)
    cdf = np.einsum("nk,nkt->nt", gate, poisson.cdf(grid, means[:, :, None]))
    return np.stack([np.argmax(cdf >= q, axis=1) for q in levels], axis=1)


def test_quantiles_are_the_exact_discrete_mixture_quantiles(fitted):
    model, X, _ = fitted
    levels = [0.001, 0.05, 0.25, 0.5, 0.75, 0.95, 0.999]
    got = model.predict_quantiles(X[:100], levels)
    gate, means = model.predict_gate_proba(X[:100]), model.predict_experts(X[:100])
    assert np.all(got == np.round(got))
    np.testing.assert_array_equal(
        got, _brute_force_quantiles(gate, means, levels, int(4 * means.max()) + 50)
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_quantiles_of_far_apart_experts():
    """Means of 0.01, 300 and 40,000: the bracket spans the gap exactly."""
    X, y = _switching_counts(100, 5)
    model = MixtureOfExpertsRegressor(3, expert=PoissonExpert(), max_iter=2)
    model = model.fit(X, y)
    model.experts_.coef_[:] = 0.0
    model.experts_.intercept_[:] = np.log([0.01, 300.0, 40_000.0])
    levels = [0.01, 0.3, 0.34, 0.5, 0.66, 0.7, 0.99]
    got = model.predict_quantiles(X[:5], levels)
    gate, means = model.predict_gate_proba(X[:5]), model.predict_experts(X[:5])
    np.testing.assert_array_equal(
        got, _brute_force_quantiles(gate, means, levels, 41_000)
    )


def test_draws_follow_the_mixture(fitted):
    model, X, _ = fitted
    rows = X[[10, 200, 500]]
    draws = model.sample_y(rows, n_samples=40_000, random_state=1)
    assert draws.shape == (3, 40_000)
    assert np.all(draws >= 0) and np.all(draws == np.round(draws))
    mean, std = model.predict(rows, return_std=True)
    error = std / np.sqrt(40_000)  # Monte Carlo standard error of the mean
    assert np.all(np.abs(draws.mean(axis=1) - mean) < 5 * error)
    # The variance's relative standard error is about sqrt(2 / n) = 0.7%.
    np.testing.assert_allclose(draws.var(axis=1), std**2, rtol=0.05)
    again = model.sample_y(rows, n_samples=40_000, random_state=1)
    np.testing.assert_array_equal(again, draws)


def test_a_column_vector_target_is_raveled_with_a_warning():
    """One output only, so y of shape (n, 1) is y of shape (n,), with the
    DataConversionWarning of scikit-learn's single-output estimators."""
    X, y = _switching_counts(200, 6)
    model = MixtureOfExpertsRegressor(2, expert=PoissonExpert(), random_state=0)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        model.fit(X, y[:, None])
    reference = clone(model).fit(X, y)
    np.testing.assert_array_equal(model.predict(X[:3]), reference.predict(X[:3]))
    assert model.predict_quantiles(X[:3], [0.5]).shape == (3, 1)
    assert model.sample_y(X[:3], 4).shape == (3, 4)


# --------------------------------------------------------------- bad targets
BAD_TARGETS = {
    "negative": (lambda y: np.where(np.arange(len(y)) == 3, -2, y), "negative"),
    "two columns": (lambda y: np.c_[y, y], "y should be a 1d array"),
    "NaN": (lambda y: np.where(np.arange(len(y)) == 3, np.nan, y), "missing values"),
}


@pytest.mark.parametrize("case", list(BAD_TARGETS))
def test_bad_targets_are_refused_with_what_to_pass(case):
    make, message = BAD_TARGETS[case]
    X, y = _switching_counts(60, 7)
    model = MixtureOfExpertsRegressor(2, expert=PoissonExpert(), random_state=0)
    with pytest.raises(ValueError, match=message):
        model.fit(X, make(y))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    model.fit(X, y)
    before = model.predict(X)
    with pytest.raises(ValueError, match=message):
        model.fit(X, make(y))
    np.testing.assert_array_equal(model.predict(X), before)


def test_the_negative_target_error_says_what_to_use_instead():
    X, y = _switching_counts(60, 7)
    with pytest.raises(ValueError, match="non-negative targets.*LinearExpert"):
        MixtureOfExpertsRegressor(2, expert=PoissonExpert()).fit(X, -y - 1)
    model = MixtureOfExpertsRegressor(2, expert=PoissonExpert()).fit(X, y)
    with pytest.raises(ValueError, match="scores non-negative targets"):
        model.log_likelihood(X, -y - 1)


def test_rates_fit_the_quasi_likelihood():
    """Non-integer targets are allowed, as in PoissonRegressor: one expert
    is PoissonRegressor's fit, and the log-likelihood uses log Gamma(y + 1)."""
    from scipy.special import gammaln

    X, y = _switching_counts(400, 3)
    rates = y / 2.0
    one = MixtureOfExpertsRegressor(
        1, expert=PoissonExpert(alpha=0.0), tol=1e-12, max_iter=500
    ).fit(X, rates)
    glm = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(X, rates)
    np.testing.assert_allclose(one.experts_.coef_[0], glm.coef_, rtol=1e-5)
    np.testing.assert_allclose(one.experts_.intercept_[0], glm.intercept_, rtol=1e-5)
    eta = glm.intercept_ + X @ glm.coef_
    expected = rates * eta - np.exp(eta) - gammaln(rates + 1.0)
    np.testing.assert_allclose(one.log_likelihood(X, rates), expected, rtol=1e-6)


# ------------------------------------------------ flexmix's patent example
# flexmix 2.3.18 (/work/shared/data/patent/README.md): log-likelihood
# -197.675, and (estimate, standard error) of each expert's intercept and
# lgRD slope, and of the gate's intercept and RDS coefficient as multinomial
# logits against expert A.
FLEXMIX_EXPERTS = {
    "A": [(1.962, 0.176), (0.672, 0.046)],
    "B": [(-2.637, 0.627), (1.587, 0.134)],
    "C": [(0.508, 0.161), (0.880, 0.040)],
}
FLEXMIX_GATE = {
    "B": [(0.214, 0.524), (-0.746, 1.018)],
    "C": [(3.107, 0.875), (-41.0, 16.1)],
}


def _matched(model):
    """Expert coefficients by flexmix's names (matched on the lgRD slope),
    and the gate's logits relative to expert A."""
    slopes = model.experts_.coef_[:, 0]
    names = {}
    for name, (_, (slope, _)) in FLEXMIX_EXPERTS.items():
        names[name] = int(np.argmin(np.abs(slopes - slope)))
    assert sorted(names.values()) == [0, 1, 2]
    experts = np.c_[model.experts_.intercept_, model.experts_.coef_]
    gate = np.c_[model.gate_.intercept_, model.gate_.coef_]
    gate = gate - gate[names["A"]]
    return {n: experts[k] for n, k in names.items()}, {
        n: gate[k] for n, k in names.items()
    }


@pytest.fixture(scope="module")
def patent_fit():
    """The flexmix vignette's model: Poisson experts on lgRD, a softmax gate
    on RDS. k-means starts all end at a local optimum (-199.599); flexmix
    used 10 random starts, here 20 (4 in 30 single random starts reach it)."""
    X, y = load_patent(return_X_y=True)
    model = MixtureOfExpertsRegressor(
        3,
        gate=SoftmaxGate(),
        expert=PoissonExpert(alpha=1e-6),
        gate_features=[0],  # RDS
        expert_features=[1],  # lgRD
        init="random",
        n_init=20,
        random_state=0,
        tol=1e-10,
        max_iter=2000,
    ).fit(X, y)
    return model, X, y


def test_patent_log_likelihood_reaches_flexmix(patent_fit):
    model, X, y = patent_fit
    assert model.converged_
    log_lik = model.log_likelihood(X, y).sum()
    assert log_lik >= -197.675 - 0.001
    # 10 parameters: 3 x (intercept, slope) + 2 x (intercept, RDS).
    assert model.bic(X, y) == pytest.approx(437.835, abs=0.002)


def test_patent_coefficients_match_flexmix(patent_fit):
    """Within 5% of flexmix's standard error: far inside the sampling noise
    (so penalties of 1e-8 and 1e-6 do not matter), far outside the distance
    to another optimum; flexmix's own EM stops earlier (B's intercept is
    off by 0.01 = 1.6% of its SE, the C logit on RDS by 0.08 = 0.5%)."""
    model, _, _ = patent_fit
    experts, gate = _matched(model)
    for name, reference in FLEXMIX_EXPERTS.items():
        for value, (estimate, se) in zip(experts[name], reference, strict=True):
            assert abs(value - estimate) <= 0.05 * se, (name, value, estimate)
    for name, reference in FLEXMIX_GATE.items():
        for value, (estimate, se) in zip(gate[name], reference, strict=True):
            assert abs(value - estimate) <= 0.05 * se, (name, value, estimate)
    np.testing.assert_allclose(gate["A"], 0.0)


def test_patent_penalties_barely_move_the_fit(patent_fit):
    """The default penalties (gate 1e-8, experts 1e-6 per unit weight) move
    the weakly identified RDS logit of C (SE 16) by about 1e-3: refitting
    without penalties from the fit changes no coefficient by 1e-3 of its SE."""
    model, X, y = patent_fit
    free = copy.deepcopy(model).set_params(
        gate=SoftmaxGate(alpha=0.0), expert=PoissonExpert(alpha=0.0), warm_start=True
    )
    free.fit(X, y)
    assert free.log_likelihood(X, y).sum() >= model.log_likelihood(X, y).sum() - 1e-9
    experts, gate = _matched(model)
    free_experts, free_gate = _matched(free)
    for name, reference in FLEXMIX_EXPERTS.items():
        se = np.array([s for _, s in reference])
        assert np.all(np.abs(experts[name] - free_experts[name]) <= 1e-3 * se)
    for name, reference in FLEXMIX_GATE.items():
        se = np.array([s for _, s in reference])
        assert np.all(np.abs(gate[name] - free_gate[name]) <= 1e-3 * se)
