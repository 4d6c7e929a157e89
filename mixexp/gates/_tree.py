"""The tree of softmax gates of a hierarchical mixture of experts (JJ94)."""

from numbers import Integral

import numpy as np

from .._estep import restrict_to_top_k, top_k_mask
from .._information import (
    column_variance,
    design,
    multinomial_curvature,
    multinomial_penalty,
    relative,
    term_names,
)
from .._multinomial import batch_logits, softmax
from .._params import Interval
from ._softmax import SoftmaxGate


class TreeGate(SoftmaxGate):
    """A balanced tree of softmax gates (Jordan & Jacobs 1994).

    Every internal node splits its input among its ``branching`` children
    with a softmax of its own; the experts are the leaves, and a leaf's gate
    probability is the product of the node probabilities on its path (its
    log, their sum). In the M-step each node is a multinomial logistic
    regression on soft targets, its children's posteriors divided by its
    own, weighted by the posterior of reaching it (JJ94 Algorithm 1), all
    nodes solved together by the softmax gate's solvers.

    Nodes are numbered breadth first: the root is 0, the children of node j
    are ``j * branching + 1 ... j * branching + branching``, and the
    ``branching ** depth`` leaves follow the internal nodes, leaf k being
    node ``n_internal + k``.

    Parameters
    ----------
    depth : int, default=2
        Levels of gates; ``branching ** depth`` experts. Depth 1 is the flat
        softmax gate.
    branching : int, default=2
        Children per node.
    alpha : float, default=1e-8
        L2 penalty on every node's weights (not the intercepts), per unit of
        sample weight and in standardized units, as for :class:`SoftmaxGate`.
    solver : {"auto", "newton", "block", "bound", "lbfgs"}, default="auto"
        M-step solver, as for :class:`SoftmaxGate`; "auto" applies its rule
        to one node's parameters, (branching - 1) * (n_features + 1).
    max_iter : int, default=None
        Solver steps per M-step (None: 1 for Newton and the bound, 10 for
        L-BFGS).
    tol : float, default=1e-12
        Inner steps stop once the relative gain falls below ``tol``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_internal, branching, n_features)
        Weights of every internal node's softmax.
    intercept_ : ndarray of shape (n_internal, branching)
        Intercepts; each node's rows sum to zero over its children.
    solver_ : str
        The solver actually used.

    See Also
    --------
    mixexp.HierarchicalMixtureOfExpertsRegressor
        The estimator that builds this gate.
    mixexp.MixtureOfExpertsRegressorCV
        Among its ``gates``, walks trees of this gate's branching and
        chooses their depth by cross-validation.

    Notes
    -----
    Sparse routing over the leaves is the hierarchical estimator's
    ``top_k``, set on its own copy of the tree as the attribute ``top_k``
    (see :class:`SoftmaxGate`); a tree has no noisy gating.

    Examples
    --------
    >>> from mixexp import HierarchicalMixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_piecewise_linear
    >>> X, y = make_piecewise_linear(600, random_state=0)
    >>> hme = HierarchicalMixtureOfExpertsRegressor(depth=2, random_state=0)
    >>> hme.fit(X, y).gate_.coef_.shape
    (3, 2, 1)
    """

    _parameter_constraints = {
        **SoftmaxGate._parameter_constraints,
        # A bound keeps branching ** depth from taking hours to compute.
        "depth": [Interval(Integral, 1, 64, closed="both")],
        "branching": [Interval(Integral, 2, None, closed="left")],
    }
    _bound_grams_in_pass = True  # the nodes' weights follow the posteriors

    def __init__(
        self,
        depth=2,
        branching=2,
        alpha=1e-8,
        solver="auto",
        max_iter=None,
        tol=1e-12,
    ):
        self.depth = depth
        self.branching = branching
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol

    # ------------------------------------------------------------ the tree
    @property
    def n_internal(self):
        """Number of internal (gating) nodes."""
        return (self.branching**self.depth - 1) // (self.branching - 1)

    @property
    def n_leaves(self):
        """Number of leaves (experts)."""
        return self.branching**self.depth

    def _edges(self, leaves):
        """(len(leaves), depth) indices ``node * branching + child`` of the
        edges on each given leaf's path, root first."""
        b, depth = self.branching, self.depth
        leaves = np.asarray(leaves, dtype=np.intp)
        edges = np.empty((leaves.size, depth), dtype=np.intp)
        node = np.zeros_like(leaves)
        for level in range(depth):  # a loop over levels
            child = (leaves // b ** (depth - 1 - level)) % b
            edges[:, level] = node * b + child
            node = node * b + child + 1
        return edges

    def _leaf_log_proba(self, log_node):
        """Leaf log-probabilities (K, n) from the nodes' (B, C, n): each
        level adds its nodes' log-probabilities to the sums of their paths.

        Breadth-first numbering puts the children of a level's nodes, in
        order, as the next level, so a reshape broadcasts a parent's path to
        its children and the work is linear in the number of nodes."""
        b, n = self.branching, log_node.shape[-1]
        path = np.zeros((1, n))
        start = 0
        for level in range(self.depth):  # a loop over levels
            width = b**level
            path = path[:, None, :] + log_node[start : start + width]
            path = path.reshape(width * b, n)
            start += width
        return path

    def _edge_sums(self, leaf):
        """For every edge (B, C, n), the sum of ``leaf`` (K, n) over the
        leaves below it, summed up the tree level by level."""
        b, n = self.branching, leaf.shape[-1]
        sums = np.empty((self.n_internal, b, n))
        below, end = leaf, self.n_internal
        for level in reversed(range(self.depth)):  # a loop over levels
            width = b**level
            sums[end - width : end] = below.reshape(width, b, n)
            below = sums[end - width : end].sum(axis=1)
            end -= width
        return sums

    def _leaf_scores(self, Xt, V):
        return self._leaf_log_proba(softmax(batch_logits(Xt, V))[0])

    def _posteriors(self, resp):
        """Posteriors of the edges (B, C, n) and of reaching each internal
        node (B, n) from the leaves' (K, n)."""
        edges = self._edge_sums(resp)
        nodes = np.empty((self.n_internal, resp.shape[1]))
        nodes[0] = 1.0  # the root is always reached
        # Node j > 0 is the child at the end of edge j - 1 (flat index).
        nodes[1:] = edges.reshape(-1, resp.shape[1])[: self.n_internal - 1]
        return edges, nodes

    # ------------------------------------------------- protocol of the driver
    def _n_choices(self, data):
        return self.branching

    def _n_problems(self, data):
        return self.n_internal

    def _prepare(self, data):
        if self.n_leaves != data.n_experts:
            raise ValueError(
                f"TreeGate(depth={self.depth}, branching={self.branching}) has "
                f"{self.n_leaves} leaves but the mixture has {data.n_experts} experts."
            )
        super()._prepare(data)

    # A leaf cannot leave a balanced tree: no pruning.
    capabilities = SoftmaxGate.capabilities - {"pruning"}

    def _reset(self, data):
        """Start from the uniform gate."""
        shape = (self.n_internal, self.branching)
        self.coef_ = np.zeros(shape + (data.width("gate"),))
        self.intercept_ = np.zeros(shape)

    def _stacked(self):
        return self.coef_, self.intercept_

    def _store(self, coef, intercept):
        self.coef_, self.intercept_ = coef, intercept

    def _problem(self, weight, data, rows):
        """Each node's weights (reach posterior times sample weight) and soft
        targets, from one pass over the leaves' responsibilities."""
        edges, nodes = self._posteriors(data.resp[:, rows])
        return weight * nodes, _node_targets(edges, nodes)

    def _bound_grams(self, stats, data):
        return stats.pop("grams")

    def _revive(self, experts):
        """Open the paths to re-seeded experts: their edges' logits go to
        zero (before each node is re-centred)."""
        edges = self._edges(experts).ravel()
        coef = self.coef_.reshape(-1, self.coef_.shape[-1])
        coef[edges] = 0.0
        self.intercept_.reshape(-1)[edges] = 0.0
        self.coef_ -= self.coef_.mean(axis=1, keepdims=True)
        self.intercept_ -= self.intercept_.mean(axis=1, keepdims=True)

    def _log_proba(self, Xt, V):
        """log g of the leaves (K, n_rows) (top-k restricted), and the nodes'
        dense softmax outputs (B, C, n_rows) for ``_accumulate``."""
        log_node, node = softmax(batch_logits(Xt, V))
        log_leaf = self._leaf_log_proba(log_node)
        keep = top_k_mask(log_leaf, self.top_k)
        return restrict_to_top_k(log_leaf, np.exp(log_leaf), keep)[0], (log_node, node)

    def _accumulate(self, stats, Xt, weight, resp, cache, V):
        edges, nodes = self._posteriors(resp)
        self._accumulate_multinomial(
            stats, Xt, weight * nodes, _node_targets(edges, nodes), cache, V
        )

    # -------------------------------------------- gradient-based training
    def _train_forward(self, Xt, theta, rng=None):
        log_node, node = softmax(batch_logits(Xt, theta[0]))
        log_leaf = self._leaf_log_proba(log_node)
        dense = np.exp(log_leaf)
        log_gate, gate = restrict_to_top_k(
            log_leaf, dense, top_k_mask(log_leaf, self.top_k)
        )
        return log_gate, gate, {"prob": dense, "gate": gate, "node": node}

    def _train_backward(self, Xt, cache, d_log_gate, d_log_dense=None):
        """Gradient for the node parameters from dE/dlog g of the leaves:
        ``dlog g_l / dz_(j, c) = [edge (j, c) on l's path] - [j on l's path]
        p_(j, c)``."""
        # Renormalizing over a top-k set first; a no-op for the dense gate.
        d_leaf = d_log_gate - cache["gate"] * np.sum(d_log_gate, axis=0)
        if d_log_dense is not None:
            d_leaf = d_leaf + d_log_dense
        node = cache["node"]
        on_edge = self._edge_sums(d_leaf)
        d_logits = on_edge - node * on_edge.sum(axis=1, keepdims=True)
        n_nodes, n_children, n_rows = node.shape
        grad = d_logits.reshape(n_nodes * n_children, n_rows) @ Xt.T
        return [grad.reshape(n_nodes, n_children, Xt.shape[0])]

    # ------------------------------------------------------- information
    # Every internal node's softmax in its children's parameters relative to
    # its first child's, on the design [1, x]: n_internal blocks of
    # (branching - 1) (1 + d), node-major. log g of a leaf is the sum of the
    # log node probabilities on its path, so its score has node j's block
    # only where j is on the path, and its curvature is the sum of its
    # nodes' multinomial curvatures.
    def _info_design_params(self):
        """Each node's parameters on ``[1, x]``, (n_internal, branching, 1 + d)."""
        return np.concatenate([self.intercept_[:, :, None], self.coef_], axis=2)

    def _info_paths(self):
        """``(on, child)`` of shape (K, n_internal): whether node j is on
        leaf k's path, and the child the path takes there."""
        edges = self._edges(np.arange(self.n_leaves))  # (K, depth)
        on = np.zeros((self.n_leaves, self.n_internal), dtype=bool)
        child = np.zeros((self.n_leaves, self.n_internal), dtype=np.intp)
        leaves = np.arange(self.n_leaves)[:, None]
        on[leaves, edges // self.branching] = True
        child[leaves, edges // self.branching] = edges % self.branching
        return on, child

    def _info_estimates(self, names):
        """Labels ``(child, 0, term, True, node)``: the row's child, by its
        node number (breadth first, as in ``predict_node_proba``), against
        the node's first child."""
        beta = relative(self._info_design_params())
        b = self.branching
        terms = term_names(names)
        labels = [
            (j * b + c + 1, 0, term, True, j)
            for j in range(self.n_internal)
            for c in range(1, b)
            for term in terms
        ]
        return beta.ravel(), labels

    def _info_node_proba(self, Z):
        """Every node's children probabilities (n, n_internal, branching)."""
        logits = batch_logits(Z.T, self._info_design_params())
        return softmax(logits)[1].transpose(2, 0, 1)

    def _info_scores(self, X, y):
        Z = design(X)
        prob = self._info_node_proba(Z)  # (n, B, C)
        on, child = self._info_paths()
        b = self.branching
        onehot = (child[:, :, None] == np.arange(1, b)) & on[:, :, None]
        resid = onehot[None] - on[None, :, :, None] * prob[:, None, :, 1:]
        scores = resid[..., None] * Z[:, None, None, None, :]
        return scores.reshape(Z.shape[0], self.n_leaves, -1)

    def _info_curvature(self, X, y, weights):
        """Each node's multinomial curvature under the weight of the leaves
        below it: a block-diagonal matrix."""
        Z = design(X)
        on = self._info_paths()[0]
        reach = weights @ on  # (n, n_internal)
        blocks = multinomial_curvature(Z, self._info_node_proba(Z), reach)
        return _block_diag(blocks)

    def _info_penalty(self, X, sample_weight):
        mask = np.append(0.0, column_variance(X, sample_weight))
        alpha_total = self.alpha * float(sample_weight.sum())
        block = multinomial_penalty(alpha_total, mask, self.branching)
        return _block_diag(np.broadcast_to(block, (self.n_internal, *block.shape)))


def _block_diag(blocks):
    """(B, s, s) blocks as one block-diagonal (B s, B s) matrix."""
    n_blocks, size, _ = blocks.shape
    out = np.zeros((n_blocks, size, n_blocks, size))
    index = np.arange(n_blocks)
    out[index, :, index, :] = blocks
    return out.reshape(n_blocks * size, n_blocks * size)


def _node_targets(edges, nodes):
    """Each node's soft targets: its children's posteriors over its own
    (uniform where the node is never reached, which has weight zero),
    written over ``edges``."""
    unreached = nodes <= 0
    targets = np.divide(edges, np.where(unreached, 1.0, nodes)[:, None, :], out=edges)
    if np.any(unreached):
        np.copyto(targets, 1.0 / edges.shape[1], where=unreached[:, None, :])
    return targets
