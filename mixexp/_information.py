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


def gate_scores(Z, prob):
    """Scores of log g_k for every expert k of a softmax over the experts,
    in the parameters relative to expert 0 on the design ``Z``: shape
    (n, K, (K - 1) p) from the gate probabilities ``prob`` (n, K)."""
    n, n_experts = prob.shape
    indicator = np.broadcast_to(np.eye(n_experts), (n, n_experts, n_experts))
    expanded = np.broadcast_to(prob[:, None, :], indicator.shape)
    return multinomial_scores(Z, indicator, expanded)


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


# ------------------------------------------------ location-scale experts
# Normal and t regression experts with a full (or diagonal) scale matrix S_k,
# in their natural parameters: per expert the coefficients B (m, q) on the
# design, the free entries of S ("pairs" (i, j), i >= j, each entering S at
# (i, j) and (j, i)) and, for a t, the degrees of freedom nu. With P = S^-1,
# r the residual, u = P r and d = r^T u, a t's log-density depends on B and
# S through d and log|S|, so every derivative follows from those of d:
# dd/dB = -2 u z^T, dd/dS_a = -u^T E_a u, with E_a = dS/dS_a.
def scale_pairs(n_outputs, full):
    """The free entries of a scale matrix: the diagonal, then (full) the
    lower triangle below it, row by row."""
    pairs = [(o, o) for o in range(n_outputs)]
    if full:
        pairs += [(i, j) for i in range(n_outputs) for j in range(i)]
    return pairs


def _pair_matrices(pairs, n_outputs):
    """``E_a = dS / dS_a`` (A, m, m)."""
    E = np.zeros((len(pairs), n_outputs, n_outputs))
    for a, (i, j) in enumerate(pairs):  # a loop over the few free entries
        E[a, i, j] = E[a, j, i] = 1.0
    return E


def location_scale_layout(n_outputs, q, pairs, with_df):
    """Index of each table parameter in the internal order ``[vec B (m q,
    row-major), the pairs, nu]``: per output its q coefficients and its
    variance, then the off-diagonal pairs, then nu."""
    n_coef = n_outputs * q
    order = []
    for o in range(n_outputs):
        order += list(range(o * q, (o + 1) * q))
        order.append(n_coef + pairs.index((o, o)))
    order += [n_coef + a for a, (i, j) in enumerate(pairs) if i != j]
    if with_df:
        order.append(n_coef + len(pairs))
    return np.asarray(order)


class LocationScale:
    """Residual pieces of K normal (``df`` None) or t experts on a chunk:
    design Z (n, q), targets Y (n, m), coefficients B (K, m, q), scale
    matrices S (K, m, m), the free ``pairs`` of S and the degrees of
    freedom (K,)."""

    def __init__(self, Z, Y, B, S, pairs, df=None):
        self.Z, self.pairs, self.df = Z, pairs, df
        self.m = S.shape[1]
        self.P = np.linalg.inv(S)
        self.P = 0.5 * (self.P + np.swapaxes(self.P, 1, 2))
        self.E = _pair_matrices(pairs, self.m)
        self.r = Y[:, None, :] - np.einsum("nq,kmq->nkm", Z, B)
        self.u = np.einsum("kij,nkj->nki", self.P, self.r)
        self.d = np.sum(self.r * self.u, axis=2)
        if df is None:
            self.w = np.ones_like(self.d)
            self.c2 = np.zeros_like(self.d)  # w^2 / (nu + m)
        else:
            self.w = (df + self.m) / (df + self.d)
            self.c2 = self.w**2 / (df + self.m)
        # E_a u (n, K, A, m), P E_a u and u^T E_a u (n, K, A).
        self.Eu = np.einsum("aij,nkj->nkai", self.E, self.u)
        self.PEu = np.einsum("kij,nkaj->nkai", self.P, self.Eu)
        self.Ua = np.sum(self.Eu * self.u[:, :, None, :], axis=3)
        self.Pa = np.einsum("aij,kji->ka", self.E, self.P)

    def _uz(self):
        """u (x) z: (n, K, m q)."""
        n, K, m = self.u.shape
        return (self.u[..., None] * self.Z[:, None, None, :]).reshape(n, K, -1)

    def scores(self, df_first=None):
        """(n, K, m q + A [+ 1]) in the internal order."""
        parts = [
            self.w[..., None] * self._uz(),
            0.5 * (self.w[..., None] * self.Ua - self.Pa[None]),
        ]
        if df_first is not None:
            parts.append(df_first.T[..., None])
        return np.concatenate(parts, axis=2)

    def curvature(self, weights, df_second=None):
        """Minus the Hessians of the log-densities summed under ``weights``
        (n, K): (K, s, s) in the internal order."""
        n, K, m = self.u.shape
        q = self.Z.shape[1]
        A = len(self.pairs)
        n_coef = m * q
        size = n_coef + A + (df_second is not None)
        out = np.zeros((K, size, size))
        gram = weighted_grams(self.Z.T, (weights * self.w).T)
        bb = np.einsum("kij,kab->kiajb", self.P, gram).reshape(K, n_coef, n_coef)
        uz = self._uz()
        root = (np.sqrt(weights * 2.0 * self.c2)[..., None] * uz).transpose(1, 0, 2)
        out[:, :n_coef, :n_coef] = bb - np.matmul(root.transpose(0, 2, 1), root)
        coef = (weights * self.w)[..., None, None] * self.PEu - (weights * self.c2)[
            ..., None, None
        ] * self.Ua[..., None] * self.u[:, :, None, :]
        cross = np.einsum("nkao,nb->koba", coef, self.Z).reshape(K, n_coef, A)
        out[:, :n_coef, n_coef : n_coef + A] = cross
        out[:, n_coef : n_coef + A, :n_coef] = np.swapaxes(cross, 1, 2)
        trace = np.einsum("kij,ajl,klm,bmi->kab", self.P, self.E, self.P, self.E)
        ss = (
            np.einsum("nk,nkai,nkbi->kab", weights * self.w, self.Eu, self.PEu)
            - 0.5 * np.einsum("nk,nka,nkb->kab", weights * self.c2, self.Ua, self.Ua)
            - 0.5 * weights.sum(axis=0)[:, None, None] * trace
        )
        out[:, n_coef : n_coef + A, n_coef : n_coef + A] = ss
        if df_second is not None:
            nu = self.df
            slope = weights * (self.d - m) / (nu + self.d) ** 2  # (n, K)
            b_nu = -np.einsum("nk,nkc->kc", slope, uz)
            s_nu = -0.5 * np.einsum("nk,nka->ka", slope, self.Ua)
            out[:, :n_coef, -1] = out[:, -1, :n_coef] = b_nu
            out[:, n_coef : n_coef + A, -1] = out[:, -1, n_coef : n_coef + A] = s_nu
            out[:, -1, -1] = -np.sum(weights * df_second.T, axis=0)
        return out


def location_scale_penalty(B, S, pairs, ridge, with_df):
    """Hessian of the penalty ``tr(S^-1 B D B^T) / 2`` (D = diag(ridge), the
    ridge of each design column) in the internal order: (K, s, s)."""
    K, m, q = B.shape
    P = np.linalg.inv(S)
    E = _pair_matrices(pairs, m)
    A = len(pairs)
    n_coef = m * q
    out = np.zeros((K, n_coef + A + with_df, n_coef + A + with_df))
    eye_d = np.diag(ridge)
    out[:, :n_coef, :n_coef] = np.einsum("kij,ab->kiajb", P, eye_d).reshape(
        K, n_coef, n_coef
    )
    PEP = np.einsum("kij,ajl,klm->kaim", P, E, P)  # (K, A, m, m)
    BD = B * ridge  # (K, m, q)
    cross = -np.einsum("kaim,kmb->kiba", PEP, BD).reshape(K, n_coef, A)
    out[:, :n_coef, n_coef : n_coef + A] = cross
    out[:, n_coef : n_coef + A, :n_coef] = np.swapaxes(cross, 1, 2)
    Q = np.einsum("kmb,knb->kmn", BD, B)
    out[:, n_coef : n_coef + A, n_coef : n_coef + A] = np.einsum(
        "kaim,bmj,kjl,kli->kab", PEP, E, P, Q
    )
    return out
