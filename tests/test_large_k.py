"""EM at many experts: the block gate step and SQUAREM acceleration."""

import warnings

import numpy as np
import pytest
from _helpers import fit_recording_reseeds, plain_em
from sklearn.exceptions import ConvergenceWarning

from mixexp import MixtureOfExpertsRegressor
from mixexp._multinomial import block_step, chunk_stats
from mixexp.datasets import make_mixture_regression
from mixexp.gates import SoftmaxGate


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Expert", UserWarning)
        return fit_recording_reseeds(est, X, y)


def test_block_curvature_bounds_the_softmax_hessian():
    """Per row, diag(pi * d) dominates diag(pi) - pi pi^T (a closed form)."""
    from mixexp._multinomial import _block_curvature

    rng = np.random.RandomState(0)
    for concentration in (0.05, 0.5, 5.0):
        prob = rng.dirichlet(np.full(6, concentration), size=300).T[None]
        d = _block_curvature(prob)[0]
        for i in range(prob.shape[2]):
            pi = prob[0, :, i]
            gap = np.diag(pi * d[:, i]) - (np.diag(pi) - np.outer(pi, pi))
            assert np.linalg.eigvalsh(gap).min() > -1e-12


def test_block_step_raises_the_gate_objective_and_keeps_masses():
    """The step is an ascent direction, and no class's gate mass falls far
    below the floor however little responsibility it has."""
    rng = np.random.RandomState(1)
    n, p, C = 2000, 4, 8
    Xt = np.vstack([rng.standard_normal((p - 1, n)), np.ones(n)])
    targets = rng.dirichlet(np.ones(C), size=n).T[None]
    targets[0, 0] = 1e-12  # class 0 has (almost) no responsibility
    targets /= targets.sum(axis=1, keepdims=True)
    weights = np.ones((1, n))
    mask = np.r_[np.ones(p - 1), 0.0]
    V = np.zeros((1, C, p))
    stats = chunk_stats(Xt, V, weights, targets, blocks=True)
    grad = stats["grad"]
    step = block_step(stats["blocks"], grad, 1e-8, mask, stats["moment"])
    assert np.vdot(grad, step) > 0
    logits = (V + step)[0] @ Xt
    prob = np.exp(logits - logits.max(axis=0))
    prob /= prob.sum(axis=0)
    # Without the floor the step takes class 0's mass to about n e^-1 / C
    # per step at first but towards 0 as its responsibility vanishes; with
    # it the mass stays near 1e-6 of the total or above.
    assert prob[0].sum() > 1e-7 * n


def test_block_gate_reaches_newtons_optimum():
    """Fitted to convergence, the block solver ends at the likelihood of
    Newton's solver on a small problem (same data, same start)."""
    X, y = make_mixture_regression(800, 3, 3, noise=0.2, random_state=0)
    fits = {}
    for solver in ("newton", "block"):
        est = MixtureOfExpertsRegressor(
            3, gate=SoftmaxGate(solver=solver), tol=1e-9, max_iter=2000, random_state=0
        )
        fits[solver], _ = _fit(est, X, y)
    assert fits["block"].gate_.solver_ == "block"
    assert fits["block"].lower_bound_ == pytest.approx(
        fits["newton"].lower_bound_, abs=1e-5
    )


def test_block_gate_step_is_monotone_on_q(monkeypatch):
    """Plain EM with the block gate never lowers the penalized likelihood
    (the driver's Q-check halves a block step that would)."""
    plain_em(monkeypatch)
    X, y = make_mixture_regression(3000, 5, 6, random_state=2)
    est = MixtureOfExpertsRegressor(
        12, gate=SoftmaxGate(solver="block"), max_iter=60, tol=0, random_state=0
    )
    est, reseeded = _fit(est, X, y)
    lb = np.asarray(est.lower_bounds_)
    checked = ~reseeded[1:]
    assert np.all(np.diff(lb)[checked] >= -1e-10 * np.abs(lb[1:][checked]))


def test_block_gate_does_not_kill_redundant_experts(monkeypatch):
    """Four times more experts than regimes: the block step used to drive
    the redundant experts' gate mass to zero within a few dozen iterations,
    and EM kept re-seeding them instead of converging."""
    plain_em(monkeypatch)
    X, y = make_mixture_regression(6000, 10, 8, random_state=0)
    est = MixtureOfExpertsRegressor(
        32, gate=SoftmaxGate(solver="block"), max_iter=80, random_state=0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    assert not any("re-seeded" in str(w.message) for w in caught)
    assert est.converged_


@pytest.mark.parametrize("seed", range(4))
def test_squarem_never_lowers_and_ends_at_least_as_high_as_plain_em(seed, monkeypatch):
    """Accelerated EM reports a non-decreasing objective and converges at
    least as high as plain EM (within tol)."""
    X, y = make_mixture_regression(1500, 3, 4, noise=0.3, random_state=seed)
    make = lambda: MixtureOfExpertsRegressor(  # noqa: E731
        4, tol=1e-6, max_iter=1000, random_state=seed
    )
    fast, reseeded = _fit(make(), X, y)
    lb = np.asarray(fast.lower_bounds_)
    checked = ~reseeded[1:]
    assert np.all(np.diff(lb)[checked] >= -1e-10 * np.abs(lb[1:][checked]))
    with monkeypatch.context() as patch:
        plain_em(patch)
        slow, _ = _fit(make(), X, y)
    assert fast.converged_ and slow.converged_
    assert fast.lower_bound_ >= slow.lower_bound_ - 1e-4


def test_squarem_jumps_while_em_retires_an_expert_below_the_floor(monkeypatch):
    """Sixteen experts on three regimes: EM retires an expert slowly, its
    share already below the jumps' mass floor. Jumps that follow it (without
    halving its share) are kept; when every such jump was refused, SQUAREM
    stalled for as long as the retirement lasted (power plant at K = 64: 87
    of 93 jumps refused, 306 iterations instead of 125)."""
    import mixexp._accelerate as accelerate

    X, y = make_mixture_regression(2000, 3, 3, noise=0.3, random_state=2)
    trials, followed = [], []
    e_step, jump = accelerate.e_step, accelerate.Squarem.extrapolate

    def trial_step(*args, **kwargs):
        trials.append(e_step(*args, **kwargs))
        return trials[-1]

    def extrapolating(self, state, value, objective):
        trials.clear()
        jumped = jump(self, state, value, objective)
        floor = accelerate._MASS_FLOOR * self.data.total_weight
        if jumped is not None and jumped[1] > value:  # kept
            mass, before = trials[0].resp_mass, state.resp_mass
            assert np.all((mass >= floor) | (before < floor))  # none pushed under
            assert np.all(mass >= accelerate._MASS_SHRINK * before)
            followed.append(np.any((before < floor) & (mass < before)))
        return jumped

    monkeypatch.setattr(accelerate, "e_step", trial_step)
    monkeypatch.setattr(accelerate.Squarem, "extrapolate", extrapolating)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est, pruned = fit_recording_reseeds(
            MixtureOfExpertsRegressor(16, random_state=2), X, y
        )
    assert any(followed)
    assert est.converged_
    assert not any("re-seeded" in str(w.message) for w in caught)
    lb, checked = np.asarray(est.lower_bounds_), ~pruned[1:]
    assert np.all(np.diff(lb)[checked] >= -1e-10 * np.abs(lb[1:][checked]))


def test_a_fit_without_acceleration_follows_plain_em(monkeypatch):
    """accelerate=False (the split path's fits) runs EM as with SQUAREM
    switched off, where the accelerated fit takes another path."""
    X, y = make_mixture_regression(1500, 3, 4, noise=0.3, random_state=0)
    make = lambda: MixtureOfExpertsRegressor(  # noqa: E731
        4, tol=1e-6, max_iter=1000, random_state=0
    )
    train = make()._validate_training_input(X, y, None)

    def fit(**kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return make()._fit_from_responsibilities(
                *train, None, check_input=False, **kwargs
            )

    unaccelerated, accelerated = fit(accelerate=False), fit()
    with monkeypatch.context() as patch:
        plain_em(patch)
        plain = fit()
    np.testing.assert_array_equal(unaccelerated.lower_bounds_, plain.lower_bounds_)
    assert not np.array_equal(accelerated.lower_bounds_, plain.lower_bounds_)


def test_squarem_is_off_for_parts_without_theta():
    """A part without the 'gradient' capability (full covariances) runs
    plain EM: no extrapolation is attempted."""
    from mixexp._accelerate import squarem
    from mixexp.experts import LinearExpert

    X, y = make_mixture_regression(300, 2, 2, n_outputs=2, random_state=0)
    est = MixtureOfExpertsRegressor(
        2, expert=LinearExpert(covariance_type="full"), random_state=0
    ).fit(X, y)
    assert squarem(est.gate_, est.experts_, None) is None


def test_squarem_jump_is_the_closed_form_on_a_linear_map():
    """On a linear fixed-point map, SQUAREM's extrapolation with its own step
    length is checked against the formula of Varadhan & Roland (2008)."""
    from mixexp._accelerate import Squarem

    class Part:
        capabilities = frozenset({"gradient"})
        _pending = None

        def __init__(self, value):
            self.value = np.asarray(value, float)

        def _theta(self, data):
            return [self.value]

        def _set_theta(self, theta, data):
            self.value = theta[0].copy()

    part = Part([1.0, 2.0])
    acc = Squarem.__new__(Squarem)
    acc.parts, acc.data, acc.units = (part,), None, [[1.0]]
    acc.step_max = 100.0
    thetas = [np.array([1.0, 2.0])]
    M = np.array([[0.9, 0.0], [0.0, 0.5]])
    for _ in range(2):
        thetas.append(M @ thetas[-1])
    acc.thetas = [[[t]] for t in thetas]
    r = thetas[1] - thetas[0]
    v = thetas[2] - 2 * thetas[1] + thetas[0]
    a = 2.5
    expected = thetas[0] + 2 * a * r + a**2 * v
    jump = acc._jump(a)
    np.testing.assert_allclose(jump[0][0], expected)


def test_squarem_jumps_only_while_em_moves_at_a_steady_rate():
    """A jump is tried after two comparable EM iterations only when the ratio
    of their gains is below ``_MAX_RATE`` and within ``_STEADY`` of the ratio
    one iteration before, and not after two fast ratios (below
    ``_FAST_RATE``) in a row; otherwise the cycle slides on by one
    iteration."""
    from mixexp._accelerate import _FAST_RATE, _MAX_RATE, _STEADY, Squarem

    acc = Squarem.__new__(Squarem)

    def start():
        acc.fast_in_a_row, acc.last_rate = 0, np.nan

    def after(gains):
        """``ready()`` after EM iterations with these successive gains."""
        acc.values = [0.0, gains[0], gains[0] + gains[1]]
        acc.thetas = [None] * 3
        return acc.ready()

    start()
    acc.thetas, acc.values = [None] * 2, [0.0, 1.0]
    assert not acc.ready()  # one iteration only
    assert not after([1.0, 0.8])  # a first ratio: nothing to compare yet
    assert len(acc.thetas) == 2  # slid on by one iteration
    assert after([0.8, 0.64])  # the same ratio again: steady
    assert after([1.0, 0.8 * 0.99 * _STEADY])  # within the factor
    assert not after([1.0, 0.99 / (1.01 * _STEADY)])  # the rate changed
    slow = 1.0 + (_MAX_RATE - 1.0) / 2
    assert not after([1.0, slow]) and after([1.0, slow])  # slowly growing gains
    fast_growth = _MAX_RATE * 1.01
    assert not after([1.0, fast_growth]) and not after([1.0, fast_growth])
    start()
    assert not after([0.0, 1.0]) and not after([0.0, 1.0])  # no first gain
    start()
    fast = _FAST_RATE / 2
    assert not after([1.0, fast])
    assert not after([1.0, fast * 1.1])  # steady, but the second fast ratio
    assert acc.fast_in_a_row == 2
    start()
    assert not after([1.0, 0.5]) and after([1.0, 0.5])  # slow and steady
    assert acc.fast_in_a_row == 0


def test_squarem_tries_no_jump_where_em_is_fast(monkeypatch):
    """On a planted problem whose EM gains grow for a few iterations and
    then fall fast, the accelerated fit makes no more passes than plain EM,
    and ends where it does."""
    import mixexp._accelerate as accelerate
    import mixexp._em as em

    X, y = make_mixture_regression(2000, 5, 4, noise=0.3, random_state=0)
    counts = []

    def counted(original):
        def e_step(*args, **kwargs):
            counts[-1] += 1
            return original(*args, **kwargs)

        return e_step

    def fit():
        counts.append(0)
        return MixtureOfExpertsRegressor(4, random_state=0, tol=5e-7).fit(X, y)

    for module in (em, accelerate):
        monkeypatch.setattr(module, "e_step", counted(module.e_step))
    accelerated = fit()
    plain_em(monkeypatch)
    plain = fit()
    gains = np.diff(plain.lower_bounds_)
    assert np.any(gains[1:] > gains[:-1])  # the gains grow at first
    assert counts[0] <= counts[1]
    assert abs(accelerated.lower_bound_ - plain.lower_bound_) < 1e-6


def test_kept_responsibilities_change_no_fit(monkeypatch):
    """A rejected jump puts back the responsibilities its pass overwrote,
    and the pruning check reuses EM's last ones: the fit is the one that
    makes those passes again, with fewer passes."""
    import mixexp._accelerate as accelerate
    import mixexp._em as em
    import mixexp._prune as prune

    # Eight regimes: EM is slow enough for jumps, some of them rejected.
    X, y = make_mixture_regression(2000, 5, 8, noise=0.3, random_state=0)
    passes, restored = [], []
    restore = accelerate._restore_responsibilities

    def recorded(flag, part):
        restored.append(flag)
        return restore(flag, part)

    monkeypatch.setattr(accelerate, "_restore_responsibilities", recorded)

    def counted(original):
        def e_step(*args, **kwargs):
            passes.append(kwargs)
            return original(*args, **kwargs)

        return e_step

    for module in (em, accelerate, prune):
        monkeypatch.setattr(module, "e_step", counted(module.e_step))

    def fit():
        passes.clear()
        model = MixtureOfExpertsRegressor(8, random_state=0, tol=5e-7).fit(X, y)
        return model, len(passes)

    kept, kept_passes = fit()
    assert any(restored)  # a rejected jump's responsibilities were put back
    rows = prune.effective_rows
    monkeypatch.setattr(accelerate, "memory_budget", lambda: 0)
    monkeypatch.setattr(
        prune,
        "effective_rows",
        lambda gate, experts, data, current: rows(gate, experts, data),
    )
    again, again_passes = fit()
    assert kept.n_iter_ == again.n_iter_
    np.testing.assert_allclose(kept.lower_bounds_, again.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(kept.experts_.coef_, again.experts_.coef_, atol=1e-10)
    np.testing.assert_allclose(kept.gate_.coef_, again.gate_.coef_, atol=1e-8)
    assert kept_passes < again_passes  # rejected jumps and the pruning check
