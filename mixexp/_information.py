"""Pieces of the observed information shared by the parts (the
'information' capability of ``mixexp._contract``; ``mixexp.inference``
assembles them by Louis' (1982) identity).

Parameters are written on the design ``[1, x]`` (intercept first, inputs
uncentred), the order of the tables of R and statsmodels. A softmax over C
choices (the gate's experts, a logistic expert's classes) is identified by
its parameters relative to the first choice, ``beta_c = V_c - V_0`` for
c = 1..C-1, flexmix's and multinomial logit's parametrization; mixexp
stores them centred over the choices, which the data term cannot tell
apart.
"""

import numpy as np

from ._linalg import weighted_grams


def design(X):
    """``[1, X]`` of shape (n, 1 + d)."""
    return np.column_stack([np.ones(X.shape[0]), X])


def column_variance(Z, sample_weight):
    """Weighted variance of each column of Z (1 for a constant column), the
    units of the parts' penalties (``TrainingData.column_scale`` squared)."""
    total = sample_weight.sum()
    mean = sample_weight @ Z / total
    variance = sample_weight @ (Z - mean) ** 2 / total
    return np.where(variance > 0, variance, 1.0)


def relative(V):
    """Parameters (B, C, p) relative to the first choice: (B, C - 1, p)."""
    return V[:, 1:] - V[:, :1]


def multinomial_scores(Z, indicator, prob):
    """Scores of ``log prob_t`` in the relative parameters, for targets t
    given as one-hot ``indicator`` (n, B, C): ``(1[t = c] - prob_c) z`` for
    c = 1..C-1, shape (n, B, (C - 1) p)."""
    n, n_problems, _ = prob.shape
    resid = (indicator - prob)[:, :, 1:]
    return (resid[..., None] * Z[:, None, None, :]).reshape(n, n_problems, -1)


def multinomial_curvature(Z, prob, weights):
    """``sum_i w_ib (diag(q_i) - q_i q_i^T) (x) z_i z_i^T`` with q the
    probabilities of choices 1..C-1 (the negative Hessian of any log
    softmax entry in the relative parameters): (B, (C - 1) p, (C - 1) p)
    from ``prob`` (n, B, C) and ``weights`` (n, B)."""
    q = prob[:, :, 1:]
    n, n_problems, n_free = q.shape
    p = Z.shape[1]
    weighted_q = (weights[:, :, None] * q).reshape(n, n_problems * n_free)
    diag = weighted_grams(Z.T, weighted_q.T).reshape(n_problems, n_free, p, p)
    hess = np.zeros((n_problems, n_free, p, n_free, p))
    free = np.arange(n_free)
    hess[:, free, :, free, :] = diag.transpose(1, 0, 2, 3)
    root = np.sqrt(weights)[:, :, None, None] * q[..., None] * Z[:, None, None, :]
    root = root.reshape(n, n_problems, n_free * p).transpose(1, 0, 2)
    hess = hess.reshape(n_problems, n_free * p, n_free * p)
    return hess - np.matmul(root.transpose(0, 2, 1), root)


def multinomial_penalty(alpha_total, mask, n_choices):
    """Hessian of ``alpha_total / 2 sum_j mask_j ||V[:, j]||^2`` (V centred
    over the choices) in the parameters relative to the first choice:
    ``alpha_total (I - 11^T / C) (x) diag(mask)``."""
    n_free = n_choices - 1
    choices = np.eye(n_free) - 1.0 / n_choices
    return alpha_total * np.kron(choices, np.diag(mask))


def term_names(names, intercept=True):
    """Names of the design columns: "intercept", then the inputs'."""
    return (["intercept"] if intercept else []) + [str(name) for name in names]
