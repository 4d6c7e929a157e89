"""Synthetic problems where a mixture of local experts is the right model."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import validate_params

from .._params import Interval


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_piecewise_linear(n_samples=1500, *, noise=0.3, random_state=None):
    """Three linear pieces with jumps between them, on x ~ U(-3, 3).

    ``f(x) = 2x + 4`` for x < -1, ``-x - 2`` for -1 <= x < 1 and ``3x`` for
    x >= 1: the jumps at -1 (size 3) and 1 (size 6) need a gate that switches
    sharply, so a gate that does not learn shows at once in the error.

    Parameters
    ----------
    n_samples : int, default=1500
        Number of samples.
    noise : float, default=0.3
        Standard deviation of the Gaussian noise added to y.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    X : ndarray of shape (n_samples, 1)
        The inputs.
    y : ndarray of shape (n_samples,)
        The noisy targets.

    See Also
    --------
    make_mixture_regression
        A planted mixture in any dimension.

    Examples
    --------
    >>> from mixexp.datasets import make_piecewise_linear
    >>> X, y = make_piecewise_linear(100, random_state=0)
    >>> X.shape, y.shape
    ((100, 1), (100,))
    """
    rng = check_random_state(random_state)
    x = rng.uniform(-3.0, 3.0, n_samples)
    f = np.where(x < -1, 2 * x + 4, np.where(x < 1, -x - 2, 3 * x))
    return x[:, None], f + noise * rng.standard_normal(n_samples)


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "n_outputs": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="neither")],
        "gate_scale": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "return_params": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_mixture_regression(
    n_samples=1000,
    n_features=5,
    n_experts=3,
    *,
    n_outputs=1,
    noise=0.1,
    gate_scale=3.0,
    random_state=None,
    return_params=False,
):
    """Draw samples from a planted mixture of linear experts with a softmax gate.

    ``x ~ N(0, I)``; the expert is drawn from ``softmax(V^T x + b)``; then
    ``y = W_k^T x + c_k + noise * N(0, I)``. Expert coefficients are drawn
    from N(0, 4) so the experts differ clearly; ``gate_scale`` sets how
    sharply the gate switches.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    n_features : int, default=5
        Number of input features.
    n_experts : int, default=3
        Number of experts in the generating model.
    n_outputs : int, default=1
        Target columns; y is 1-D when this is 1.
    noise : float, default=0.1
        Noise standard deviation of every expert.
    gate_scale : float, default=3.0
        Scale of the gate weights.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.
    return_params : bool, default=False
        Also return the generating parameters.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The inputs.
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        The targets, each drawn from the expert the gate drew.
    params : dict, only if ``return_params``
        ``gate_coef`` (n_experts, n_features), ``gate_intercept``
        (n_experts,), ``expert_coef`` (n_experts, n_outputs, n_features),
        ``expert_intercept`` (n_experts, n_outputs), ``noise`` and
        ``expert`` (the expert that generated each sample).

    See Also
    --------
    make_piecewise_linear
        A one-dimensional problem with jumps.

    Examples
    --------
    >>> from mixexp.datasets import make_mixture_regression
    >>> X, y = make_mixture_regression(200, n_features=2, random_state=0)
    >>> X.shape, y.shape
    ((200, 2), (200,))
    """
    rng = check_random_state(random_state)
    gate_coef = gate_scale * rng.standard_normal((n_experts, n_features))
    gate_intercept = rng.standard_normal(n_experts)
    expert_coef = 2.0 * rng.standard_normal((n_experts, n_outputs, n_features))
    expert_intercept = 2.0 * rng.standard_normal((n_experts, n_outputs))
    X = rng.standard_normal((n_samples, n_features))
    logits = X @ gate_coef.T + gate_intercept
    gate = np.exp(logits - logits.max(axis=1, keepdims=True))
    gate /= gate.sum(axis=1, keepdims=True)
    # Inverse-CDF draw of one expert per row, vectorized.
    expert = (gate.cumsum(axis=1) < rng.uniform(size=(n_samples, 1))).sum(axis=1)
    expert = np.minimum(expert, n_experts - 1)
    mean = np.einsum("nd,nmd->nm", X, expert_coef[expert]) + expert_intercept[expert]
    y = mean + noise * rng.standard_normal((n_samples, n_outputs))
    if n_outputs == 1:
        y = y[:, 0]
    if not return_params:
        return X, y
    params = {
        "gate_coef": gate_coef,
        "gate_intercept": gate_intercept,
        "expert_coef": expert_coef,
        "expert_intercept": expert_intercept,
        "noise": noise,
        "expert": expert,
    }
    return X, y, params


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_local_classification(n_samples=2000, *, noise=0.05, random_state=None):
    """Make four quadrants, each with its own linear class boundary.

    An XOR of linear problems: in each quadrant of ``[-2, 2]^2`` the
    boundary passes through the quadrant's centre ``(±1, ±1)`` with a
    different orientation, and the orientations alternate in an XOR
    pattern, so no single linear classifier does much better than chance
    while four local linear experts are exact.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of samples.
    noise : float, default=0.05
        Gaussian noise added to the decision value before thresholding.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The inputs.
    y : ndarray of shape (n_samples,)
        Labels 0 and 1.

    See Also
    --------
    load_vowels
        The real classification task of Jacobs et al. (1991).

    Examples
    --------
    >>> from mixexp.datasets import make_local_classification
    >>> X, y = make_local_classification(100, random_state=0)
    >>> sorted(set(y.tolist()))
    [0, 1]
    """
    rng = check_random_state(random_state)
    X = rng.uniform(-2.0, 2.0, (n_samples, 2))
    centre = np.where(X >= 0, 1.0, -1.0)
    d = X - centre
    same_sign = centre[:, 0] * centre[:, 1] > 0
    value = np.where(same_sign, d[:, 0] + 0.5 * d[:, 1], 0.5 * d[:, 0] - d[:, 1])
    y = (value + noise * rng.standard_normal(n_samples) > 0).astype(int)
    return X, y
