"""Small dense linear-algebra kernels shared by the gate and expert M-steps."""

import numpy as np


def weighted_grams(Xt, weights, right=None):
    """Stacked weighted cross products ``sum_i w_bi x_i r_i^T``.

    All ``B`` products are computed by one matrix product over the rows given,
    which is what makes the expert M-step cost about one Gram pass.

    Parameters
    ----------
    Xt : ndarray of shape (p, n_rows)
        Design rows, one column per sample.
    weights : ndarray of shape (B, n_rows)
        Non-negative weights, one row per product.
    right : ndarray of shape (q, n_rows), default=None
        Right factor; ``Xt`` itself (Gram matrices) when None.

    Returns
    -------
    products : ndarray of shape (B, p, q)
    """
    if right is None:
        right = Xt
    p, n_rows = Xt.shape
    n_mats = weights.shape[0]
    scaled = (weights[:, None, :] * Xt[None, :, :]).reshape(n_mats * p, n_rows)
    return (scaled @ right.T).reshape(n_mats, p, right.shape[0])


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
