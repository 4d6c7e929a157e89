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

from ._multinomial import _curvature


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
    from ``prob`` (n, B, C) and ``weights`` (n, B). The M-steps' curvature,
    whose reference is the last choice: the first is moved last."""
    reordered = np.concatenate([prob[:, :, 1:], prob[:, :, :1]], axis=2)
    return _curvature(Z.T, weights.T, reordered.transpose(1, 2, 0))


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
