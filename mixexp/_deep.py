"""The deep mixture of experts network (Eigen, Ranzato & Sutskever 2013):
its parameters, forward pass, backward pass and training objective, in
vectorized NumPy.

Layer l maps its input z (the features x for the first layer) to

    z' = sum_i g_i(z) f_i(z),   f_i(z) = max(0, W_i^T z + b_i),
    g(z) = softmax(V^T z + c),

K_l experts f_i with ``n_units`` outputs each and a softmax gate g; with
``top_k`` the gate keeps its k largest logits and renormalizes over them
(Shazeer et al. 2017), as the flat gate does (``_estep.restrict_to_top_k``).
A softmax (classification) or linear (regression) output layer reads the
last layer's z. Arrays are sample-major, (n_rows, ...), so every layer is
one matrix product over all its experts: the experts' weights are held as
(n_inputs, K, n_units) and used as an (n_inputs, K * n_units) matrix.

The parameters are a list of arrays, four per layer (expert weights and
biases, gate weights and biases) and two for the output, packed into one
vector for the solvers (``mixexp._gradient``).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax

from ._estep import restrict_to_top_k, routing_share, top_k_mask
from ._losses import importance_balance

# Rows per chunk of a pass: a chunk's expert activations (rows * sum_l K_l
# n_units_l floats, a few arrays of them) stay near 32 MB.
_CHUNK_FLOATS = 2**22


@dataclass(frozen=True)
class Architecture:
    """The shape of a deep mixture: ``n_features`` inputs, ``layers[l]``
    experts of ``units[l]`` outputs in layer l, ``top_k[l]`` experts kept
    per sample (None: all) and ``n_outputs`` outputs; ``task`` is
    "classification" (softmax output, cross-entropy) or "regression"
    (linear output, half squared error)."""

    n_features: int
    layers: tuple
    units: tuple
    top_k: tuple
    n_outputs: int
    task: str

    @property
    def shapes(self):
        """Shapes of the parameter arrays, in their order."""
        shapes, width = [], self.n_features
        for n_experts, n_units in zip(self.layers, self.units, strict=True):
            shapes += [
                (width, n_experts, n_units),  # expert weights
                (n_experts, n_units),  # expert biases
                (width, n_experts),  # gate weights
                (n_experts,),  # gate biases
            ]
            width = n_units
        return shapes + [(width, self.n_outputs), (self.n_outputs,)]

    @property
    def n_parameters(self):
        """Number of scalar parameters."""
        return int(sum(np.prod(shape) for shape in self.shapes))

    def chunk_rows(self):
        """Rows per chunk of a pass."""
        width = sum(k * u for k, u in zip(self.layers, self.units, strict=True))
        return max(1, _CHUNK_FLOATS // max(width, 1))


def initial_parameters(arch, rng):
    """Glorot-uniform weights and biases, as scikit-learn's MLP draws them:
    U(-b, b) with b = sqrt(6 / (fan_in + fan_out)) (an expert's fan-out is
    its units, a gate's its experts), the biases with their weights' b."""
    params, shapes = [], arch.shapes
    for weights, biases in zip(shapes[::2], shapes[1::2], strict=True):
        bound = np.sqrt(6.0 / (weights[0] + weights[-1]))
        params.append(rng.uniform(-bound, bound, size=weights))
        params.append(rng.uniform(-bound, bound, size=biases))
    return params


def pack(params):
    """One vector of the parameter arrays."""
    return np.concatenate([p.ravel() for p in params])


def unpack(vector, arch):
    """The parameter arrays (views) of a vector."""
    params, start = [], 0
    for shape in arch.shapes:
        size = int(np.prod(shape))
        params.append(vector[start : start + size].reshape(shape))
        start += size
    return params


def _layers(params):
    """(expert weights, expert biases, gate weights, gate biases) per layer,
    and the output's (weights, biases)."""
    hidden = [tuple(params[i : i + 4]) for i in range(0, len(params) - 2, 4)]
    return hidden, params[-2], params[-1]


def _gate(logits, k):
    """Dense gate probabilities, and the kept (top-k, renormalized) ones,
    each (n_rows, K)."""
    log_prob = log_softmax(logits, axis=1)
    prob = np.exp(log_prob)
    keep = top_k_mask(logits.T, k)
    return prob, restrict_to_top_k(log_prob.T, prob.T, keep)[1].T


def forward(params, arch, X, cache=False):
    """The network's output on X (n_rows, n_features).

    Returns
    -------
    output : ndarray of shape (n_rows, n_outputs)
        Class logits or the regression output.
    layers : list of dict
        Per layer: ``gate`` (the kept gate probabilities, n_rows x K) and
        ``prob`` (the dense ones); with
        ``cache`` also the layer's input ``z``, pre-activations ``a`` and
        expert outputs ``f`` for ``backward``.
    """
    hidden, out_w, out_b = _layers(params)
    z, layers = X, []
    for (w, b, v, c), n_units, k in zip(hidden, arch.units, arch.top_k, strict=True):
        n_experts = b.shape[0]
        a = (z @ w.reshape(w.shape[0], -1)).reshape(-1, n_experts, n_units) + b
        f = np.maximum(a, 0.0)
        prob, gate = _gate(z @ v + c, k)
        layer = {"gate": gate, "prob": prob}
        if cache:
            layer.update(z=z, a=a, f=f)
        layers.append(layer)
        z = np.einsum("nk,nku->nu", gate, f)
    return z @ out_w + out_b, layers, z


def _output_loss(output, y, weight, task):
    """The weighted loss of the output and its gradient: cross-entropy of
    the softmax output against class codes y, or half the squared error
    against y (n_rows, n_outputs)."""
    if task == "classification":
        log_p = log_softmax(output, axis=1)
        rows = np.arange(y.shape[0])
        value = -float(weight @ log_p[rows, y])
        d_output = np.exp(log_p)
        d_output[rows, y] -= 1.0
    else:
        resid = output - y
        value = 0.5 * float(weight @ np.sum(resid * resid, axis=1))
        d_output = resid
    return value, d_output * weight[:, None]


def _importance(params, arch, X, weight, chunks):
    """Per layer, every expert's mean dense gate probability over all the
    rows (the importance loss's P_i)."""
    totals = [np.zeros(k) for k in arch.layers]
    for rows in chunks:
        _, layers, _ = forward(params, arch, X[rows])
        for total, layer in zip(totals, layers, strict=True):
            total += weight[rows] @ layer["prob"]
    return [routing_share(total) for total in totals]


def objective(params, arch, X, y, weight, scale, penalty_scale, alpha, balance):
    """The training objective and its gradient.

    ``scale`` times the weighted loss of the rows (cross-entropy or half
    squared error) plus, per layer, the importance loss of
    ``_losses.importance_balance`` with strength ``balance`` (the experts'
    mean gate probabilities over all the rows given), plus ``penalty_scale
    * alpha / 2`` times the squared norm of every weight matrix (experts',
    gates' and output's; not the biases).

    Parameters
    ----------
    params : list of ndarray
        Shaped as ``arch.shapes``.
    arch : Architecture
    X : ndarray of shape (n_rows, n_features)
    y : ndarray of shape (n_rows,) of class codes, or (n_rows, n_outputs)
    weight : ndarray of shape (n_rows,)
        Sample weights.
    scale, penalty_scale, alpha, balance : float

    Returns
    -------
    value : float
    gradient : list of ndarray shaped like ``params``
    """
    n_rows = X.shape[0]
    step = arch.chunk_rows()
    chunks = [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]
    importance, passed = None, None
    if balance > 0 and len(chunks) == 1:  # the one pass gives the importance
        passed = forward(params, arch, X, cache=True)
        importance = [routing_share(weight @ layer["prob"]) for layer in passed[1]]
    elif balance > 0:  # the mean probabilities of all the rows come first
        importance = _importance(params, arch, X, weight, chunks)
    grads = [np.zeros_like(p) for p in params]
    total = 0.0
    for rows in chunks:
        value, parts = _chunk_gradient(
            params, arch, X[rows], y[rows], weight[rows], balance, importance, passed
        )
        total += value
        for acc, part in zip(grads, parts, strict=True):
            acc += part
    total *= scale
    grads = [g * scale for g in grads]
    if alpha > 0:
        for i, p in enumerate(params):  # weights are 2- or 3-dimensional
            if p.ndim > 1:
                total += penalty_scale * 0.5 * alpha * float(np.vdot(p, p))
                grads[i] += (penalty_scale * alpha) * p
    return total, grads


def _chunk_gradient(params, arch, X, y, weight, balance, importance, passed=None):
    """The loss (and balance loss) of one chunk of rows and its gradient
    (backpropagation through the gates, the experts and their rectifiers);
    ``passed``: the chunk's ``forward(..., cache=True)`` if already made."""
    if passed is None:
        passed = forward(params, arch, X, cache=True)
    output, layers, z = passed
    value, d_z = _output_loss(output, y, weight, arch.task)
    hidden, out_w, _ = _layers(params)
    grads = [None] * len(params)
    grads[-2], grads[-1] = z.T @ d_z, d_z.sum(axis=0)
    d_z = d_z @ out_w.T
    for index in range(len(hidden) - 1, -1, -1):
        w, _, v, _ = hidden[index]
        layer = layers[index]
        gate, f, a, z_in = layer["gate"], layer["f"], layer["a"], layer["z"]
        n_rows, n_experts, n_units = f.shape
        d_gate = np.einsum("nu,nku->nk", d_z, f)
        d_a = gate[:, :, None] * d_z[:, None, :] * (a > 0)
        d_a = d_a.reshape(n_rows, -1)
        # The softmax over the kept experts: dE/dlogit = g (dE/dg - g . dE/dg).
        d_logit = gate * (d_gate - np.sum(gate * d_gate, axis=1, keepdims=True))
        if importance is not None:
            prob = layer["prob"]
            extra, d_log_prob = importance_balance(
                weight, prob.T, importance[index], balance
            )
            value += extra
            d_log_prob = d_log_prob.T
            d_logit += d_log_prob - prob * d_log_prob.sum(axis=1, keepdims=True)
        base = 4 * index
        grads[base] = (z_in.T @ d_a).reshape(w.shape)
        grads[base + 1] = d_a.sum(axis=0).reshape(n_experts, n_units)
        grads[base + 2] = z_in.T @ d_logit
        grads[base + 3] = d_logit.sum(axis=0)
        if index > 0:
            d_z = d_a @ w.reshape(w.shape[0], -1).T + d_logit @ v.T
    return value, grads


def predict_chunks(params, arch, X):
    """``forward`` over row chunks of X: the outputs (n_rows, n_outputs) and
    each layer's kept gate probabilities (n_rows, K_l)."""
    step = arch.chunk_rows()
    outputs, gates = [], [[] for _ in arch.layers]
    for begin in range(0, X.shape[0], step):
        output, layers, _ = forward(params, arch, X[begin : begin + step])
        outputs.append(output)
        for gate, layer in zip(gates, layers, strict=True):
            gate.append(layer["gate"])
    return np.concatenate(outputs), [np.concatenate(g) for g in gates]
