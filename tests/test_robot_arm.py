"""make_robot_arm_dynamics against references written independently of the
Newton-Euler code: the rod pendulum in closed form, the mass matrix from link
Jacobians, the energy balance and the Euler-Lagrange equations."""

import inspect
import re

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from threadpoolctl import threadpool_limits

from mixexp.datasets import make_robot_arm_dynamics
from mixexp.datasets._robot import (
    _arm_parameters,
    _forward_dynamics,
    _mass_matrix,
    _torque_limits,
)

G = 9.81
# The documented arm: lengths 1.0 -> 0.4 m, masses 4 -> 1 kg, linearly spaced.
LENGTHS_4 = np.array([1.0, 0.8, 0.6, 0.4])
MASSES_4 = np.array([4.0, 3.0, 2.0, 1.0])


def documented_arm(n_joints):
    if n_joints == 1:
        return np.array([1.0]), np.array([4.0])
    steps = np.arange(n_joints) / (n_joints - 1)
    return 1.0 - 0.6 * steps, 4.0 - 3.0 * steps


def split(X, n_joints):
    return X[:, :n_joints], X[:, n_joints : 2 * n_joints], X[:, 2 * n_joints :]


# ---------------------------------------------------------------------------
# Reference mechanics, one configuration at a time (slow and obvious).


def geometry(q, lengths):
    """Joint positions p_0..p_{n-1} (p_0 at the origin) and link centres."""
    theta = np.cumsum(q)
    joints, centres = [], []
    tip = np.zeros(2)
    for length, angle in zip(lengths, theta, strict=True):
        direction = np.array([np.cos(angle), np.sin(angle)])
        joints.append(tip)
        centres.append(tip + length / 2 * direction)
        tip = tip + length * direction
    return joints, centres


def jacobians(q, lengths):
    """Linear (2 x n) and angular (1 x n) Jacobian of each link's centre."""
    n = len(q)
    joints, centres = geometry(q, lengths)
    result = []
    for i in range(n):
        Jv = np.zeros((2, n))
        Jw = np.zeros((1, n))
        for j in range(i + 1):
            r = centres[i] - joints[j]
            Jv[:, j] = [-r[1], r[0]]  # z x r: joint j turns the centre about p_j
            Jw[0, j] = 1.0
        result.append((Jv, Jw))
    return result


def mass_matrix_ref(q, lengths, masses):
    M = np.zeros((len(q), len(q)))
    for (Jv, Jw), m, length in zip(jacobians(q, lengths), masses, lengths, strict=True):
        M += m * Jv.T @ Jv + m * length**2 / 12 * Jw.T @ Jw
    return M


def potential(q, lengths, masses):
    _, centres = geometry(q, lengths)
    return sum(m * G * c[1] for m, c in zip(masses, centres, strict=True))


def gravity_ref(q, lengths, masses):
    """G = dV/dq = sum_i m_i g (d y_i / dq)."""
    jac = jacobians(q, lengths)
    return sum(m * G * Jv[1] for (Jv, _), m in zip(jac, masses, strict=True))


def energy(q, qdot, lengths, masses):
    kinetic = 0.5 * qdot @ mass_matrix_ref(q, lengths, masses) @ qdot
    return kinetic + potential(q, lengths, masses)


# ---------------------------------------------------------------------------


def test_arm_parameters_are_the_documented_ones():
    lengths, masses = _arm_parameters(4)
    np.testing.assert_allclose(lengths, LENGTHS_4)
    np.testing.assert_allclose(masses, MASSES_4)
    for n in (1, 2, 3, 7):
        for got, want in zip(_arm_parameters(n), documented_arm(n), strict=True):
            np.testing.assert_allclose(got, want)


def test_one_joint_is_a_rod_pendulum():
    # Angle from the horizontal x axis, gravity along -y: the gravity torque
    # is m g (l/2) cos(q), the inertia about the pivot m l^2 / 3.
    X, y = make_robot_arm_dynamics(500, n_joints=1, random_state=0)
    assert X.shape == (500, 3) and y.shape == (500, 1)
    m, length = 4.0, 1.0
    q, _, tau = split(X, 1)
    want = (tau - m * G * length / 2 * np.cos(q)) / (m * length**2 / 3)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


def test_pendulum_at_rest_horizontal_and_hanging():
    lengths, masses = documented_arm(1)
    q = np.array([[0.0], [-np.pi / 2], [np.pi]])
    acc = _forward_dynamics(q, np.zeros_like(q), np.zeros_like(q), lengths, masses)
    # Horizontal to the right it falls clockwise (negative), hanging it
    # stays, horizontal to the left it falls counterclockwise.
    np.testing.assert_allclose(acc[:, 0], [-1.5 * G, 0.0, 1.5 * G], atol=1e-12)


def test_input_ranges():
    n = 4
    X, _ = make_robot_arm_dynamics(20_000, n_joints=n, random_state=1)
    q, qdot, tau = split(X, n)
    # Torque limit of each joint = its gravity torque with the arm straight
    # and horizontal (q = 0), computed here from the Jacobians.
    limit = np.abs(gravity_ref(np.zeros(n), LENGTHS_4, MASSES_4))
    np.testing.assert_allclose(limit, [127.53, 49.05, 13.734, 1.962])
    np.testing.assert_allclose(_torque_limits(LENGTHS_4, MASSES_4), limit)
    for values, bound in ((q, np.pi), (qdot, 2.0), (tau, limit)):
        assert np.all(np.abs(values) <= bound)
        assert np.all(np.abs(values).max(axis=0) > 0.99 * bound)
        np.testing.assert_allclose(values.mean(axis=0), 0, atol=0.02 * np.max(bound))
    one = np.abs(gravity_ref(np.zeros(1), *documented_arm(1)))
    np.testing.assert_allclose(_torque_limits(*documented_arm(1)), one)
    np.testing.assert_allclose(one, [19.62])


@pytest.mark.parametrize("n_joints", [2, 4, 6])
def test_mass_matrix_symmetric_positive_definite_and_from_jacobians(n_joints):
    lengths, masses = documented_arm(n_joints)
    X, _ = make_robot_arm_dynamics(200, n_joints=n_joints, random_state=2)
    q = split(X, n_joints)[0]
    M = _mass_matrix(q, lengths, masses)
    np.testing.assert_allclose(M, np.swapaxes(M, 1, 2), rtol=0, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(M) > 0)
    want = np.array([mass_matrix_ref(row, lengths, masses) for row in q])
    np.testing.assert_allclose(M, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_joints", [1, 2, 4, 6])
def test_gravity_only_holds_still(n_joints):
    lengths, masses = documented_arm(n_joints)
    q = np.random.RandomState(3).uniform(-np.pi, np.pi, (100, n_joints))
    tau = np.array([gravity_ref(row, lengths, masses) for row in q])
    acc = _forward_dynamics(q, np.zeros_like(q), tau, lengths, masses)
    scale = np.abs(tau).max()
    np.testing.assert_allclose(acc, 0, atol=1e-12 * scale)


@pytest.mark.parametrize("n_joints", [2, 4])
def test_energy_balance(n_joints):
    # dE/dt = tau . qdot along the motion, by central differences of the
    # energy at second-order Taylor states (error O(dt^2)).
    lengths, masses = documented_arm(n_joints)
    X, y = make_robot_arm_dynamics(200, n_joints=n_joints, random_state=4)
    q, qdot, tau = split(X, n_joints)
    dt = 1e-5
    for qi, vi, ai, ti in zip(q, qdot, y, tau, strict=True):
        plus = energy(qi + vi * dt + ai * dt**2 / 2, vi + ai * dt, lengths, masses)
        minus = energy(qi - vi * dt + ai * dt**2 / 2, vi - ai * dt, lengths, masses)
        power = (plus - minus) / (2 * dt)
        scale = np.abs(ti) @ np.abs(vi)
        assert abs(power - ti @ vi) <= 1e-6 * scale


@pytest.mark.parametrize("n_joints", [2, 4])
def test_euler_lagrange_equations(n_joints):
    # The full vector equation d/dt (M qdot) - dT/dq + G = tau, with the
    # derivatives of the Jacobian mass matrix by central differences.
    lengths, masses = documented_arm(n_joints)
    X, y = make_robot_arm_dynamics(100, n_joints=n_joints, random_state=5)
    q, qdot, tau = split(X, n_joints)
    h = 1e-6
    for qi, vi, ai, ti in zip(q, qdot, y, tau, strict=True):
        dM = []
        for k in range(n_joints):
            step = np.zeros(n_joints)
            step[k] = h
            dM.append(
                (
                    mass_matrix_ref(qi + step, lengths, masses)
                    - mass_matrix_ref(qi - step, lengths, masses)
                )
                / (2 * h)
            )
        M_dot = sum(vk * dMk for vk, dMk in zip(vi, dM, strict=True))
        dT_dq = np.array([0.5 * vi @ dMk @ vi for dMk in dM])
        lhs = (
            mass_matrix_ref(qi, lengths, masses) @ ai
            + M_dot @ vi
            - dT_dq
            + gravity_ref(qi, lengths, masses)
        )
        np.testing.assert_allclose(lhs, ti, rtol=0, atol=1e-6 * np.abs(ti).max())


@pytest.mark.parametrize("n_joints", [1, 2, 4, 7])
def test_shapes_and_dtype(n_joints):
    X, y = make_robot_arm_dynamics(37, n_joints=n_joints, random_state=0)
    assert X.shape == (37, 3 * n_joints) and y.shape == (37, n_joints)
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert np.all(np.isfinite(X)) and np.all(np.isfinite(y))


def test_defaults():
    X, y = make_robot_arm_dynamics(random_state=0)
    assert X.shape == (1000, 12) and y.shape == (1000, 4)


def test_reproducible():
    a = make_robot_arm_dynamics(50, noise=0.1, random_state=7)
    b = make_robot_arm_dynamics(50, noise=0.1, random_state=np.random.RandomState(7))
    c = make_robot_arm_dynamics(50, noise=0.1, random_state=8)
    for x, z in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, z)
    assert not np.allclose(a[0], c[0])


def test_noise_is_relative_to_each_output_standard_deviation():
    n, noise = 20_000, 0.2
    X0, y0 = make_robot_arm_dynamics(n, random_state=10)
    X1, y1 = make_robot_arm_dynamics(n, noise=noise, random_state=10)
    np.testing.assert_array_equal(X0, X1)
    # The output scale, estimated here from a large independent clean draw.
    _, reference = make_robot_arm_dynamics(200_000, random_state=11)
    scale = reference.std(axis=0)
    diff = y1 - y0
    np.testing.assert_allclose(diff.std(axis=0) / (noise * scale), 1, atol=0.04)
    np.testing.assert_allclose(diff.mean(axis=0) / (noise * scale), 0, atol=0.04)
    # The scale depends on neither n_samples nor random_state.
    X2, y2 = make_robot_arm_dynamics(1, noise=noise, random_state=12)
    _, clean = make_robot_arm_dynamics(1, random_state=12)
    assert np.all(y2 != clean)
    assert np.all(np.abs(y2 - clean) < 6 * noise * scale)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"n_joints": 0}, "n_joints"),
        ({"noise": -0.1}, "noise"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_argument_errors(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_robot_arm_dynamics(**kwargs)


def test_docstring_documents_the_signature():
    doc = inspect.getdoc(make_robot_arm_dynamics)
    section = re.search(r"^Parameters\n-+\n(.*?)^Returns\n", doc, re.S | re.M)
    documented = re.findall(r"^(\w+) :", section.group(1), re.M)
    assert documented == list(inspect.signature(make_robot_arm_dynamics).parameters)


def relative_error(y_true, y_pred):
    """MSE / variance of the target, averaged over outputs (as in JJ94)."""
    return np.mean(((y_true - y_pred) ** 2).mean(axis=0) / y_true.var(axis=0))


def test_linear_model_is_not_enough_and_a_nonlinear_one_does_better():
    X, y = make_robot_arm_dynamics(5_000, random_state=20)
    X_test, y_test = make_robot_arm_dynamics(2_000, random_state=21)
    linear = relative_error(y_test, LinearRegression().fit(X, y).predict(X_test))
    # One thread: OpenMP slows down badly when the cores are shared.
    with threadpool_limits(1):
        boosted = np.column_stack(
            [
                HistGradientBoostingRegressor(random_state=0)
                .fit(X, y[:, j])
                .predict(X_test)
                for j in range(y.shape[1])
            ]
        )
    nonlinear = relative_error(y_test, boosted)
    # Measured: about 0.54 and 0.15 (JJ94 report 0.31 for linear regression
    # on their arm).
    assert linear > 0.4
    assert nonlinear < 0.5 * linear


def test_joint_range_bounds_the_angles_and_makes_the_task_more_linear():
    from sklearn.linear_model import LinearRegression

    X, y = make_robot_arm_dynamics(4000, joint_range=1.0, random_state=0)
    assert np.abs(X[:, :4]).max() <= 1.0
    full_X, full_y = make_robot_arm_dynamics(4000, random_state=0)

    def linear_error(X, y):
        pred = LinearRegression().fit(X[:3000], y[:3000]).predict(X[3000:])
        return np.mean(np.mean((pred - y[3000:]) ** 2, axis=0) / y[3000:].var(axis=0))

    assert linear_error(X, y) < 0.5 * linear_error(full_X, full_y)
