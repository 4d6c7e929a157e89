"""Forward dynamics of a planar robot arm, the system identification task of
Jordan & Jacobs (1994)."""

from functools import lru_cache
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import validate_params

from .._params import Interval

_GRAVITY = 9.81
_MAX_SPEED = 2.0
_N_SCALE = 20_000


def _arm_parameters(n_joints):
    """Link lengths (m) and masses (kg): linearly spaced 1.0 -> 0.4, 4 -> 1."""
    return np.linspace(1.0, 0.4, n_joints), np.linspace(4.0, 1.0, n_joints)


def _torque_limits(lengths, masses):
    """Largest gravity torque on each joint: arm straight and horizontal.

    ``g * sum_{k >= i} m_k d_ik`` with ``d_ik`` the distance from joint i to
    the centre of mass of link k along the straight arm.
    """
    joints = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    centres = joints + lengths / 2
    limits = [masses[i:] @ (centres[i:] - joints[i]) for i in range(len(lengths))]
    return _GRAVITY * np.array(limits)


def _rnea(q, qdot, qddot, lengths, masses, gravity=_GRAVITY):
    """Joint torques of the planar chain (recursive Newton-Euler), vectorized.

    Rows are samples. Angles are relative: link i points along the absolute
    angle ``theta_i = q_1 + ... + q_i`` from the x axis; gravity is along -y,
    entered as an upward acceleration ``gravity`` of the base.
    """
    theta = np.cumsum(q, axis=1)
    omega = np.cumsum(qdot, axis=1)
    alpha = np.cumsum(qddot, axis=1)
    cos, sin = np.cos(theta), np.sin(theta)
    n_samples, n_joints = q.shape
    # Forward pass: acceleration of each link's centre of mass. A point at
    # distance d along link i accelerates as a + d (alpha x u - omega^2 u)
    # with u = (cos, sin) and alpha x u = alpha (-sin, cos).
    ax = np.zeros(n_samples)
    ay = np.full(n_samples, float(gravity))
    centre = []
    for i in range(n_joints):
        tx = -alpha[:, i] * sin[:, i] - omega[:, i] ** 2 * cos[:, i]
        ty = alpha[:, i] * cos[:, i] - omega[:, i] ** 2 * sin[:, i]
        half = lengths[i] / 2
        centre.append((ax + half * tx, ay + half * ty))
        ax = ax + lengths[i] * tx
        ay = ay + lengths[i] * ty
    # Backward pass: force f and moment that link i-1 exerts on link i,
    # moments taken about joint i.
    fx = np.zeros(n_samples)
    fy = np.zeros(n_samples)
    moment = np.zeros(n_samples)
    tau = np.empty_like(q)
    for i in reversed(range(n_joints)):
        half = lengths[i] / 2
        inertia = masses[i] * lengths[i] ** 2 / 12
        px, py = masses[i] * centre[i][0], masses[i] * centre[i][1]
        moment = (
            moment
            + inertia * alpha[:, i]
            + half * (cos[:, i] * py - sin[:, i] * px)
            + lengths[i] * (cos[:, i] * fy - sin[:, i] * fx)
        )
        fx = fx + px
        fy = fy + py
        tau[:, i] = moment
    return tau


def _mass_matrix(q, lengths, masses):
    """M(q) of shape (n_samples, n_joints, n_joints): column j is the torque
    that produces qddot = e_j at rest without gravity."""
    n_samples, n_joints = q.shape
    zeros = np.zeros_like(q)
    M = np.empty((n_samples, n_joints, n_joints))
    for j in range(n_joints):
        unit = np.zeros_like(q)
        unit[:, j] = 1.0
        M[:, :, j] = _rnea(q, zeros, unit, lengths, masses, gravity=0.0)
    return M


def _forward_dynamics(q, qdot, tau, lengths, masses):
    """qddot = M(q)^-1 (tau - C(q, qdot) qdot - G(q)), batched over rows."""
    bias = _rnea(q, qdot, np.zeros_like(q), lengths, masses)
    M = _mass_matrix(q, lengths, masses)
    return np.linalg.solve(M, (tau - bias)[:, :, None])[:, :, 0]


def _draw(n_samples, n_joints, joint_range, rng):
    """Inputs X = [q, qdot, tau] and noise-free accelerations."""
    lengths, masses = _arm_parameters(n_joints)
    q = rng.uniform(-joint_range, joint_range, (n_samples, n_joints))
    qdot = rng.uniform(-_MAX_SPEED, _MAX_SPEED, (n_samples, n_joints))
    limit = _torque_limits(lengths, masses)
    tau = rng.uniform(-limit, limit, (n_samples, n_joints))
    qddot = _forward_dynamics(q, qdot, tau, lengths, masses)
    return np.hstack([q, qdot, tau]), qddot


@lru_cache(maxsize=16)
def _output_scale(n_joints, joint_range):
    """Standard deviation of each noise-free acceleration under the input
    distribution, estimated from a fixed draw."""
    _, qddot = _draw(_N_SCALE, n_joints, joint_range, np.random.RandomState(0))
    scale = qddot.std(axis=0)
    scale.setflags(write=False)
    return scale


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_joints": [Interval(Integral, 1, None, closed="left")],
        "joint_range": [Interval(Real, 0, np.pi, closed="right")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_robot_arm_dynamics(
    n_samples=1000, n_joints=4, *, joint_range=np.pi, noise=0.0, random_state=None
):
    r"""Forward dynamics of a planar robot arm under gravity (Jordan & Jacobs 1994).

    The system identification task of Jordan & Jacobs (1994): from the joint
    positions, velocities and torques of a serial arm, predict the joint
    accelerations. The arm has ``n_joints`` revolute joints moving in a
    vertical plane. Link i is a uniform rod of length ``l_i`` and mass ``m_i``
    with its centre of mass at its middle and moment of inertia
    ``m_i l_i^2 / 12`` about it; lengths are linearly spaced from 1.0 m down to
    0.4 m and masses from 4 kg down to 1 kg (``np.linspace(1.0, 0.4,
    n_joints)`` and ``np.linspace(4.0, 1.0, n_joints)``): 1.0, 0.8, 0.6, 0.4 m
    and 4, 3, 2, 1 kg for 4 joints, 1.0 m and 4 kg for one joint.

    Angles are relative: link i points along the absolute angle
    ``theta_i = q_1 + ... + q_i``, measured counterclockwise from the
    horizontal x axis, and the first joint is fixed at the origin. Gravity
    ``g = 9.81`` m/s^2 acts along -y, so the potential energy is
    ``V = g sum_i m_i y_i`` with ``y_i`` the height of the centre of link i.
    The accelerations solve

    .. math::

        M(q) \ddot q + C(q, \dot q) \dot q + G(q) = \tau, \qquad
        \ddot q = M(q)^{-1} (\tau - C(q, \dot q) \dot q - G(q)),

    with ``M`` the (symmetric positive definite) mass matrix,
    ``C(q, qdot) qdot`` the Coriolis and centrifugal torques and
    ``G = dV/dq`` the gravity torques. They are computed for all samples at
    once with the recursive Newton-Euler algorithm ``RNEA(q, qdot, qddot)``
    (the inverse dynamics, torques from accelerations):
    ``C qdot + G = RNEA(q, qdot, 0)``, column j of ``M`` is
    ``RNEA(q, 0, e_j)`` without gravity, and the n_samples linear systems are
    solved together. For one joint this is the rod pendulum
    ``qddot = (tau - m g (l/2) cos(q)) / (m l^2 / 3)``.

    The inputs are drawn independently and uniformly: ``q_i`` in
    ``[-joint_range, joint_range]`` (whole turns by default), ``qdot_i`` in
    ``[-2, 2]`` rad/s and ``tau_i`` in
    ``[-T_i, T_i]`` N m, where ``T_i = g sum_{k >= i} m_k d_ik`` is the largest
    gravity torque on joint i (arm straight and horizontal; ``d_ik`` is the
    distance from joint i to the centre of link k along the straight arm).
    For 4 joints ``T = (127.53, 49.05, 13.734, 1.962)`` N m, for one joint
    ``T = 19.62`` N m. The torques are thus of the size of the gravity load
    and the accelerations of the order of ``g / l``: for 4 joints their
    standard deviations are about 28, 62, 78 and 89 rad/s^2. With more joints
    the accelerations of the inner joints grow quickly (independent torques
    on adjacent joints twist the light inner links).

    Over whole turns the gravity, inertia and Coriolis terms depend on the
    inputs through sines and cosines a linear model cannot follow: with 4
    joints and 15,000 training samples, linear regression leaves about half
    of the variance of the accelerations (0.54); with ``joint_range=1.7`` it
    leaves 0.31, the figure Jordan & Jacobs report for their arm, and with
    ``joint_range=1`` 0.15.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    n_joints : int, default=4
        Number of revolute joints (and of links).
    joint_range : float, default=pi
        Joint angles are drawn from ``[-joint_range, joint_range]`` (rad); a
        smaller range keeps the arm near its straight, horizontal pose,
        where the dynamics are closer to linear.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to each output,
        relative to that output's standard deviation: column j of y gets
        ``noise * s_j * N(0, 1)``, where ``s_j`` is the standard deviation
        of the noise-free ``qddot_j`` under the input distribution above
        (estimated once per ``n_joints`` and ``joint_range`` from 20,000
        draws with a fixed seed, so it depends on neither ``n_samples`` nor
        ``random_state``). Thus
        ``noise=0.1`` makes the noise standard deviation a tenth of the
        signal's in every output.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw. The inputs are drawn first, so the same seed gives
        the same X (and the same noise-free y) for every ``noise``.

    Returns
    -------
    X : ndarray of shape (n_samples, 3 * n_joints)
        Columns ``[q_1..q_n, qdot_1..qdot_n, tau_1..tau_n]``: joint angles
        (rad), joint velocities (rad/s) and joint torques (N m).
    y : ndarray of shape (n_samples, n_joints)
        Joint accelerations ``qddot_1..qddot_n`` (rad/s^2), 2-D even for one
        joint.

    See Also
    --------
    mixexp.HierarchicalMixtureOfExpertsRegressor
        The model Jordan & Jacobs (1994) fit to these data.

    References
    ----------
    M. I. Jordan and R. A. Jacobs, "Hierarchical mixtures of experts and the
    EM algorithm", Neural Computation 6(2):181-214, 1994 (the forward
    dynamics of a four-joint arm: 12 inputs, 4 outputs).

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp.datasets import make_robot_arm_dynamics
    >>> X, y = make_robot_arm_dynamics(100, random_state=0)
    >>> X.shape, y.shape
    ((100, 12), (100, 4))

    One joint is a rod pendulum of 1 m and 4 kg:

    >>> X, y = make_robot_arm_dynamics(5, n_joints=1, random_state=0)
    >>> q, tau = X[:, 0], X[:, 2]
    >>> m, l, g = 4.0, 1.0, 9.81
    >>> np.allclose(y[:, 0], (tau - m * g * l / 2 * np.cos(q)) / (m * l**2 / 3))
    True
    """
    rng = check_random_state(random_state)
    X, y = _draw(n_samples, n_joints, joint_range, rng)
    if noise > 0:
        y = y + noise * _output_scale(
            n_joints, float(joint_range)
        ) * rng.standard_normal(y.shape)
    return X, y
