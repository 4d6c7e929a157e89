"""Small dense linear-algebra kernels shared by the gate and expert M-steps."""

import functools
import math

import numpy as np


def monomials(X, degree):
    """The monomials of the columns of ``X`` of degrees 1 to ``degree``, in
    the order of scikit-learn's ``PolynomialFeatures(degree,
    include_bias=False)`` and in X's dtype, without its input checks (a
    large part of a small fit's time).

    Each degree's block is the previous one's columns from feature j's
    first on, times feature j, for every j: ``n_features`` products per
    degree, each over all rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    degree : int, at least 1

    Returns
    -------
    features : ndarray of shape (n_samples, C(n_features + degree, degree) - 1)
    """
    n_samples, n_features = X.shape
    n_columns = math.comb(n_features + degree, degree) - 1
    features = np.empty((n_samples, n_columns), dtype=X.dtype)
    features[:, :n_features] = X
    # starts[j]: where the previous degree's columns from feature j on begin.
    starts, end = list(range(n_features)), n_features
    for _ in range(1, degree):
        column, new_starts = end, []
        for j in range(n_features):
            new_starts.append(column)
            width = end - starts[j]
            np.multiply(
                features[:, starts[j] : end],
                X[:, j : j + 1],
                out=features[:, column : column + width],
            )
            column += width
        starts, end = new_starts, column
    return features


def weighted_grams(Xt, weights, right=None):
    """Stacked weighted cross products ``sum_i w_bi x_i r_i^T``.

    Each product is one matrix product over all the rows given, which is
    what makes the expert M-step cost about one Gram pass; the weighted
    design is made one product at a time in one buffer (made for all ``B``
    at once, it was a pass's widest temporary, ``B`` times the design).
    Gram matrices (``right`` None) of many weightings are taken from the
    products ``x_ij x_ik``, j <= k, of each row, computed once for all B:
    about half the multiplications; those of a few weightings of a wide
    design, from the design scaled by the root weights times its transpose.

    Parameters
    ----------
    Xt : ndarray of shape (p, n_rows)
        Design rows, one column per sample.
    weights : ndarray of shape (B, n_rows)
        Weights, one row per product.
    right : ndarray of shape (q, n_rows), default=None
        Right factor; ``Xt`` itself (Gram matrices) when None.

    Returns
    -------
    products : ndarray of shape (B, p, q)
    """
    p, n_mats = Xt.shape[0], weights.shape[0]
    if right is None:
        # Measured crossover: the row products pay for themselves once the
        # weightings are many next to the columns.
        if n_mats >= 8 and 2 * n_mats > p:
            return _packed_grams(Xt, weights)
        if p >= 40 and not np.any(weights < 0):  # measured crossover
            return _root_grams(Xt, weights)
        right = Xt
    right = np.asarray(right, dtype=float)  # cast once, not once per product
    products = np.empty((n_mats, p, right.shape[0]))
    scaled = np.empty(Xt.shape)
    for b, weight in enumerate(weights):
        np.multiply(Xt, weight, out=scaled)
        np.matmul(scaled, right.T, out=products[b])
    return products


def _root_grams(Xt, weights):
    """``weighted_grams`` as ``Z Z^T`` with ``Z`` the design scaled by the
    root weights: numpy hands a product with its own transpose to BLAS's
    symmetric rank-k update, which makes half the multiplications (on few
    columns the square roots cost more than that saves)."""
    root = np.sqrt(weights)
    grams = np.empty((weights.shape[0], Xt.shape[0], Xt.shape[0]))
    scaled = np.empty(Xt.shape)
    for b, weight in enumerate(root):
        np.multiply(Xt, weight, out=scaled)
        np.matmul(scaled, scaled.T, out=grams[b])
    return grams


def _packed_grams(Xt, weights):
    """``weighted_grams`` through the upper-triangle row products."""
    p, n_rows = Xt.shape
    products = np.empty((p * (p + 1) // 2, n_rows))
    start = 0
    for j in range(p):  # over columns, not rows
        np.multiply(Xt[j], Xt[j:], out=products[start : start + p - j])
        start += p - j
    packed = weights @ products.T
    upper, lower = _triangle(p)
    grams = np.empty((weights.shape[0], p, p))
    grams[:, upper, lower] = packed
    grams[:, lower, upper] = packed
    return grams


@functools.cache
def _triangle(p):
    """Row and column indices of the upper triangle, row-major."""
    upper, lower = np.triu_indices(p)
    upper.setflags(write=False)  # cached, hence shared
    lower.setflags(write=False)
    return upper, lower


def psd_solve(A, B):
    """Solve ``A x = B`` for a stack of symmetric positive semi-definite ``A``.

    numpy's Cholesky check and LU solve, though scipy's ``posv`` factors
    once instead of twice: scipy's wheels bring an OpenBLAS of their own,
    whose worker threads spin after each call next to numpy's and made
    whole EM iterations several times slower on two cores.
    When a matrix is not numerically positive definite (a collinear design
    with no ridge) the minimum-norm least-squares solution from an
    eigendecomposition is used instead, which is still a maximizer of the
    quadratic objective that produced the normal equations.

    Parameters
    ----------
    A : ndarray of shape (m, p, p)
    B : ndarray of shape (m, p, q)

    Returns
    -------
    X : ndarray of shape (m, p, q)
    """
    out = _cholesky_solve(A, B)
    if out is not None and np.isfinite(out.sum()):  # overflow also falls back
        return out
    eigval, eigvec = np.linalg.eigh(A)
    top = np.max(np.abs(eigval), axis=-1, keepdims=True)
    cutoff = top * A.shape[-1] * np.finfo(A.dtype).eps
    inv = np.zeros_like(eigval)
    np.divide(1.0, eigval, out=inv, where=eigval > cutoff)
    proj = np.swapaxes(eigvec, -1, -2) @ B
    return eigvec @ (inv[..., None] * proj)


def _cholesky_solve(A, B):
    """``A^-1 B`` if every ``A`` has a Cholesky factor, else None (also
    when a factor's tiny pivot is an exact zero in the LU solve)."""
    try:
        np.linalg.cholesky(A)
        with np.errstate(all="ignore"):
            return np.linalg.solve(A, B)
    except np.linalg.LinAlgError:
        return None
