"""SQUAREM acceleration of EM (Varadhan & Roland 2008), kept monotone.

Every two EM iterations from parameters ``theta0`` give ``theta1`` and
``theta2``; with ``r = theta1 - theta0`` and ``v = theta2 - 2 theta1 +
theta0``, SQUAREM's squared extrapolation (step length "SqS3") jumps to

    theta' = theta0 - 2 a r + a^2 v,   a = -||r|| / ||v||,   a <= -1,

(the norms with each parameter in units free of the data's, ``_theta_units``),

where ``a = -1`` gives ``theta2`` back. The jump is kept only if its
penalized log-likelihood is at least ``theta2``'s and it leaves every expert
some responsibility (a jump along an expert's decay would otherwise kill it:
an expert above a thousandth of the weight stays above it, one below keeps
half of what ``theta2`` gives it); else EM continues from ``theta2``. So
the objective EM reports never decreases, and the accelerated run converges
where plain EM does, in fewer passes over the data.

A jump costs a pass, and it is tried only where SQUAREM's model of EM
holds: EM moving at a steady rate, the ratio of two successive gains of the
objective below ``_MAX_RATE`` and within a factor ``_STEADY`` of the ratio
one iteration before. While EM's gains grow fast or change their rate (as
the gate sharpens in the first iterations) a jump was mostly rejected, and
where EM already converges fast (each gain below ``_FAST_RATE`` times the
one before, twice in a row) it saves none. Slowly growing gains (ratios
just above 1, EM drifting along a flat ridge) are where jumps pay most.

The parameters are the parts' ``_theta`` arrays (the 'gradient'
capability); with a part that lacks them EM runs unaccelerated.
"""

from functools import partial

import numpy as np

from ._data import memory_budget
from ._estep import e_step

# Bounds of the step length |a|: it starts at _FIRST_STEP, grows by
# _STEP_FACTOR after a jump that used the whole bound and shrinks by it
# after a rejected one (the SQUAREM package's "step.max" rule), within
# [_MIN_STEP, _MAX_STEP].
_FIRST_STEP = 4.0
_MIN_STEP = 2.0
_STEP_FACTOR = 4.0
_MAX_STEP = 1e4
# EM's rate (the ratio of two successive gains of the objective) below
# which a jump is not tried: EM itself then gains a digit in a few passes.
_FAST_RATE = 0.3
# Two successive ratios of gains below _MAX_RATE and within a factor
# _STEADY of each other: EM's rate is steady, so its iterates lie along the
# direction SQUAREM follows.
_MAX_RATE = 1.1
_STEADY = 1.25
# One fast pair may be noise (a gain after a large move); this many in a
# row are not.
_FAST_IN_A_ROW = 2
# A jump may not take an expert's responsibility below this fraction of the
# total sample weight if it had more before, nor below _MASS_SHRINK times
# what EM's own iterate gives it: EM may be retiring an expert below the
# floor slowly, and barring every jump that follows it stalls the others.
_MASS_FLOOR = 1e-3
_MASS_SHRINK = 0.5


def squarem(gate, experts, data):
    """The accelerator for these parts, or None when a part cannot be
    extrapolated (it lacks the 'gradient' capability's ``_theta``)."""
    if gate.top_k is not None:  # a sparse gate's routing does not extrapolate
        return None
    parts = (gate, experts)
    if not all("gradient" in part.capabilities for part in parts):
        return None
    return Squarem(parts, data)


class Squarem:
    """SQUAREM's state between EM iterations (see the module docstring).

    The EM driver calls ``record`` after each EM iteration and, when
    ``ready``, ``extrapolate`` instead of an EM iteration.
    """

    def __init__(self, parts, data):
        self.parts, self.data = parts, data
        self.step_max = _FIRST_STEP
        self.thetas = []
        self.values = []  # the objective at each of ``thetas``
        self.fast_in_a_row = 0
        self.last_rate = np.nan  # EM's previous ratio of successive gains
        # So that the step length depends on the units of neither the
        # features nor the targets.
        self.units = [part._theta_units(data) for part in parts]

    def _get(self):
        return [
            [np.array(a, dtype=float, copy=True) for a in part._theta(self.data)]
            for part in self.parts
        ]

    def _set(self, theta):
        for part, arrays in zip(self.parts, theta, strict=True):
            part._set_theta(arrays, self.data)
            part._pending = None

    def restart(self, value):
        """Start a new cycle at the current parameters, whose objective is
        ``value`` (after the E-step that evaluated them)."""
        self.thetas, self.values = [self._get()], [value]
        self.last_rate = np.nan

    def record(self, value, comparable=True):
        """Note the parameters of an EM iteration just made and their
        objective ``value``; an iteration that is not ``comparable`` (an
        expert re-seeded) starts a new cycle."""
        if not comparable:
            self.restart(value)
        elif self.thetas:
            self.thetas.append(self._get())
            self.values.append(value)

    def ready(self):
        """Whether the last two EM iterations allow a jump that may pay:
        they are comparable, EM's rate is steady and not fast (else the
        cycle slides on by one iteration)."""
        if len(self.thetas) < 3:
            return False
        first, second = np.diff(self.values)
        rate = second / first if first > 0 else np.nan
        previous, self.last_rate = self.last_rate, rate
        fast = rate < _FAST_RATE
        self.fast_in_a_row = self.fast_in_a_row + 1 if fast else 0
        steady = (  # False while either ratio is undefined (nan)
            0 < rate < _MAX_RATE
            and 0 < previous < _MAX_RATE
            and max(rate, previous) < _STEADY * min(rate, previous)
        )
        if not steady or self.fast_in_a_row >= _FAST_IN_A_ROW:
            del self.thetas[0], self.values[0]
            return False
        return True

    def _flat(self, theta):
        """The parameters as one vector in the units of the step length."""
        return np.concatenate(
            [
                (a * u).ravel()
                for arrays, units in zip(theta, self.units, strict=True)
                for a, u in zip(arrays, units, strict=True)
            ]
        )

    def _jump(self, step):
        """SQUAREM's point for step length ``step`` (``-a``, at least 1)."""
        theta0, theta1, theta2 = self.thetas
        return [
            [
                a0 + 2.0 * step * (a1 - a0) + step**2 * (a2 - 2.0 * a1 + a0)
                for a0, a1, a2 in zip(p0, p1, p2, strict=True)
            ]
            for p0, p1, p2 in zip(theta0, theta1, theta2, strict=True)
        ]

    def extrapolate(self, state, value, objective):
        """Try SQUAREM's jump from the last cycle.

        Parameters
        ----------
        state : EStep
            The E-step of the current parameters, ``theta2``.
        value : float
            Their penalized mean log-likelihood.
        objective : callable
            ``objective(state)`` gives the penalized mean log-likelihood of
            the current parameters from their E-step.

        Returns
        -------
        (state, value) or None
            The E-step and objective of the parameters EM continues from:
            the jump's, or ``theta2``'s again (``state``, with the
            responsibilities the jump's pass overwrote put back, or one more
            pass when they were too large to keep a copy of); None when no
            jump was tried (the iterates did not move apart).
        """
        theta2 = self.thetas[2]
        flat = [self._flat(theta) for theta in self.thetas]
        r = flat[1] - flat[0]
        v = flat[2] - 2.0 * flat[1] + flat[0]
        norm_v = np.linalg.norm(v)
        step = np.linalg.norm(r) / norm_v if norm_v > 0 else 1.0
        # Rounded, so that rounding errors (sample weights against repeated
        # rows) do not move the path.
        step = min(max(float(f"{step:.2g}"), 1.0), self.step_max)
        if not np.isfinite(step) or step <= 1.0:
            self.thetas, self.values = [theta2], [value]
            return None
        jump = self._jump(step)
        total = self.data.total_weight
        accepted, kept = False, [False]
        if all(np.all(np.isfinite(a)) for p in jump for a in p):
            kept = self.data.map_parts(_keep_responsibilities)
            self._set(jump)
            trial = e_step(*self.parts, self.data)
            trial_value = objective(trial)
            floor = _MASS_FLOOR * total
            starved = (trial.resp_mass < floor) & (
                (state.resp_mass >= floor)
                | (trial.resp_mass < _MASS_SHRINK * state.resp_mass)
            )
            accepted = trial_value >= value and not np.any(starved)
        restore = all(kept) and not accepted
        if any(kept):
            self.data.map_parts(partial(_restore_responsibilities, restore))
        if accepted:
            if step >= self.step_max:
                self.step_max = min(self.step_max * _STEP_FACTOR, _MAX_STEP)
            self.thetas, self.values = [jump], [trial_value]
            return trial, trial_value
        self.step_max = max(self.step_max / _STEP_FACTOR, _MIN_STEP)
        self._set(theta2)
        self.thetas, self.values = [theta2], [value]
        if restore:  # the pass of theta2 holds again
            return state, value
        state = e_step(*self.parts, self.data)
        return state, objective(state)


def _keep_responsibilities(part):
    """Keep a copy of a part's responsibilities and log-evidence, which a
    rejected jump's pass would otherwise have to recompute, if it fits the
    memory budget of a chunk's temporaries; returns whether it was kept."""
    part.kept_resp = None
    if part.resp.nbytes + part.log_evidence.nbytes > memory_budget():
        return False
    part.kept_resp = (part.resp.copy(), part.log_evidence.copy())
    return True


def _restore_responsibilities(restore, part):
    """Put the kept copy back (if ``restore``) and drop it."""
    if restore:
        part.resp[...], part.log_evidence[...] = part.kept_resp
    part.kept_resp = None
