"""Hierarchical mixtures of experts (Jordan & Jacobs 1994).

A hierarchy is the flat mixture with a tree of softmax gates
(:class:`~mixexp.gates.TreeGate`) in place of the one softmax: the leaf
log-probability is the sum of the node log-probabilities on its path, so the
E-step, the EM and gradient solvers, restarts, top-k routing and partial_fit
are the flat estimators' own. What is added here is the estimator
signature (``depth``, ``branching``), a tree-aware initialization and the
node probabilities.
"""

import re
from numbers import Integral

import numpy as np

from ._base import BaseMixtureOfExperts
from ._classifier import MixtureOfExpertsClassifier
from ._dask import dask_rows
from ._params import Interval
from ._regressor import MixtureOfExpertsRegressor
from .gates import SoftmaxGate, TreeGate

_TREE_PARAMS_DOC = """    depth : int, default=2
        Levels of gates (JJ94's tree depth), at most 64; the hierarchy has
        ``branching ** depth`` experts. Depth 1 is the flat mixture.
    branching : int, default=2
        Children of every gate node. ``warm_start`` and ``partial_fit``
        continue the fitted tree: after a change of ``depth`` or
        ``branching`` they raise a ValueError, and ``fit`` with
        ``warm_start=False`` fits the new tree.
"""

_GATE_DOC = """    gate : SoftmaxGate or None, default=None
        Settings of every gate node (``alpha``, ``solver``, ...), cloned into
        a :class:`~mixexp.gates.TreeGate` at fit; None is ``SoftmaxGate()``.
        Tune them as ``gate__alpha`` and so on.
"""

_GATE_ATTR_DOC = """    gate_ : :class:`~mixexp.gates.TreeGate`
        Fitted tree of gates, with ``coef_`` of shape
        (n_internal, branching, n_features) and ``intercept_`` of shape
        (n_internal, branching), nodes numbered breadth first (see
        :meth:`predict_node_proba`).
"""


def _hierarchical_doc(flat, summary, examples):
    """The flat estimator's docstring with the hierarchy's summary,
    parameters, gate attribute and examples."""
    doc = flat.__doc__
    body = doc[doc.index("    Parameters\n") :]
    for name, text in (
        ("n_experts", _TREE_PARAMS_DOC),
        ("gate", _GATE_DOC),
        ("gate_noise", ""),
        ("gate_", _GATE_ATTR_DOC),
    ):
        entry = rf"    {name} : .*?(?=\n    \w+ : )\n"
        body = re.sub(entry, text, body, count=1, flags=re.S)
    body = body[: body.index("    See Also\n")]
    return summary + "\n" + body + examples


def _order_leaves(centres, branching, depth):
    """Cluster ids in an order that makes siblings close: the clusters are
    split recursively into ``branching`` groups of equal size along their
    direction of largest spread."""
    order = np.arange(centres.shape[0])
    groups = [order]
    for _ in range(depth):  # a loop over levels of the tree
        split = []
        for group in groups:
            points = centres[group] - centres[group].mean(axis=0)
            direction = np.linalg.svd(points, full_matrices=False)[2][0]
            ranked = group[np.argsort(points @ direction, kind="stable")]
            split.extend(np.array_split(ranked, branching))
        groups = split
    return np.concatenate(groups)


class _Hierarchy:
    """What the hierarchical estimators add to the flat ones."""

    _parameter_constraints = {
        # 2**64 experts are out of reach, and a bound keeps branching**depth
        # from taking hours to compute.
        "depth": [Interval(Integral, 1, 64, closed="both")],
        "branching": [Interval(Integral, 2, None, closed="left")],
    }
    gate_noise = False  # noisy gating belongs to the flat gate

    @property
    def n_experts(self):
        """Number of experts, ``branching ** depth``."""
        return self.branching**self.depth

    def set_params(self, **params):
        """Set the parameters of this estimator (see scikit-learn's
        ``BaseEstimator.set_params``).

        Parameters
        ----------
        params : dict
            Estimator parameters as keyword arguments; ``n_experts`` is not
            one of them, it is ``branching ** depth``.

        Returns
        -------
        self : object
            The estimator.
        """
        if "n_experts" in params:
            raise ValueError(
                f"n_experts={params['n_experts']!r}: a hierarchy has "
                "branching ** depth experts; set depth and branching instead "
                "(e.g. depth=3, branching=2 for 8 experts)."
            )
        return super().set_params(**params)

    def _check_n_experts(self, n_weighted):
        if self.n_experts > n_weighted:
            deepest = 0  # the deepest tree with at most n_weighted leaves
            while self.branching ** (deepest + 1) <= n_weighted:
                deepest += 1
            advice = (
                f"use depth at most {deepest} with branching={self.branching}"
                if deepest >= 1
                else f"use branching at most {n_weighted} with depth=1"
            )
            raise ValueError(
                f"depth={self.depth} and branching={self.branching} make "
                f"{self.n_experts} experts, more than the {n_weighted} samples "
                f"with positive weight; {advice}, or provide more data."
            )

    def _make_gate(self):
        template = SoftmaxGate() if self.gate is None else self.gate
        if isinstance(template, TreeGate):
            raise TypeError(
                f"gate={self.gate!r}: set depth and branching on the "
                f"estimator, {type(self).__name__}(depth={template.depth}, "
                f"branching={template.branching}), and pass SoftmaxGate(...) "
                "as gate for the settings of every node."
            )
        if type(template) is not SoftmaxGate:
            raise TypeError(
                f"gate={self.gate!r}: a hierarchy's gate nodes are softmax "
                "gates; pass SoftmaxGate(...) with the settings of every node."
            )
        if template.top_k is not None or template.noise:
            raise ValueError(
                "Set top_k on the estimator, not on its gate: "
                f"gate={self.gate!r} has top_k={template.top_k}, "
                f"noise={template.noise}."
            )
        params = template.get_params()
        params.pop("noise")
        top_k = self.top_k
        params["top_k"] = None if top_k is None or top_k >= self.n_experts else top_k
        return TreeGate(depth=self.depth, branching=self.branching, **params)

    def _arrange_leaves(self, centres):
        """Put the k-means clusters on the leaves so that siblings are near
        each other, which a tree of gates can separate level by level."""
        if self.depth == 1:
            return centres
        return centres[_order_leaves(centres, self.branching, self.depth)]

    @dask_rows
    def predict_node_proba(self, X, y=None):
        """Probability of reaching every node of the tree.

        Without ``y``, the gates' probability of routing x through each node
        (JJ94's g_i, g_i g_j|i, ...); with ``y``, the posterior given the
        target (JJ94's h_i, h_ij, ...). Nodes are numbered breadth first:
        the root is 0, the children of node j are ``j * branching + 1`` to
        ``j * branching + branching``, and leaf k is node
        ``n_internal + k``, so the last ``n_experts`` columns are
        :meth:`predict_gate_proba` (or :meth:`responsibilities`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets, for the posteriors.

        Returns
        -------
        node_proba : ndarray of shape (n_samples, n_internal + n_experts)
            Column 0 (the root) is one; each node is the sum of its children.

        Examples
        --------
        >>> from mixexp import HierarchicalMixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(400, random_state=0)
        >>> hme = HierarchicalMixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
        >>> hme.predict_node_proba(X[:3], y[:3]).shape
        (3, 7)
        """
        if y is None:
            leaves = self.predict_gate_proba(X)
        else:
            leaves = self.responsibilities(X, y)
        edges, nodes = self.gate_._posteriors(leaves.T)
        return np.vstack([nodes[:1], edges.reshape(-1, leaves.shape[0])]).T


def _hierarchical_init(cls):
    """``__init__`` of a hierarchical estimator: its signature is the flat
    estimator's with ``depth`` and ``branching`` for ``n_experts``."""

    def __init__(
        self,
        depth=2,
        branching=2,
        *,
        gate=None,
        expert=None,
        gate_features=None,
        expert_features=None,
        solver="em",
        loss="likelihood",
        top_k=None,
        balance_weight=0.0,
        max_iter=200,
        tol=1e-4,
        n_init=1,
        init="kmeans",
        n_jobs=None,
        batch_size="auto",
        learning_rate_init=1e-3,
        shuffle=True,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=None,
        warm_start=False,
        verbose=0,
    ):
        # Parameters only, stored as given (sklearn's contract).
        params = dict(locals())
        del params["self"]
        vars(self).update(params)

    cls.__init__ = __init__
    cls._parameter_constraints = {
        **{
            name: rule
            for name, rule in BaseMixtureOfExperts._parameter_constraints.items()
            if name not in ("n_experts", "gate_noise")
        },
        **_Hierarchy._parameter_constraints,
    }
    return cls


@_hierarchical_init
class HierarchicalMixtureOfExpertsRegressor(_Hierarchy, MixtureOfExpertsRegressor):
    pass


@_hierarchical_init
class HierarchicalMixtureOfExpertsClassifier(_Hierarchy, MixtureOfExpertsClassifier):
    pass


HierarchicalMixtureOfExpertsRegressor.__doc__ = _hierarchical_doc(
    MixtureOfExpertsRegressor,
    """Hierarchical mixture of experts for regression (Jordan & Jacobs 1994).

    A balanced tree of softmax gates routes each input to the
    ``branching ** depth`` experts at its leaves:

        p(y | x) = sum_leaves g_i(x) g_j|i(x) ... N(y; W_leaf^T [x, 1], S_leaf),

    fitted by EM as in JJ94's Algorithm 1 (the posterior of every path in
    the E-step; every gate node fitted on its children's posteriors,
    weighted by the posterior of reaching it; the experts by weighted least
    squares), or by gradient descent on the likelihood. It is
    :class:`MixtureOfExpertsRegressor` with a :class:`~mixexp.gates.TreeGate`:
    all its methods and options apply, ``predict_gate_proba`` giving the
    leaves' probabilities, and :meth:`predict_node_proba` adds the nodes'.
    Depth 1 is the flat mixture.
""",
    """    References
    ----------
    Jordan & Jacobs (1994). Hierarchical mixtures of experts and the EM
    algorithm. Neural Computation 6(2), 181-214.

    Examples
    --------
    >>> from mixexp import HierarchicalMixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_piecewise_linear
    >>> X, y = make_piecewise_linear(600, random_state=0)
    >>> hme = HierarchicalMixtureOfExpertsRegressor(depth=2, random_state=0)
    >>> hme.fit(X, y).n_experts
    4
    >>> bool(hme.score(X, y) > 0.95)
    True
    """,
)

HierarchicalMixtureOfExpertsClassifier.__doc__ = _hierarchical_doc(
    MixtureOfExpertsClassifier,
    """Hierarchical mixture of softmax experts (Jordan & Jacobs 1994).

    A balanced tree of softmax gates routes each input to the
    ``branching ** depth`` softmax experts at its leaves, fitted by EM or
    gradient descent on the likelihood. It is
    :class:`MixtureOfExpertsClassifier` with a
    :class:`~mixexp.gates.TreeGate`; :meth:`predict_node_proba` adds the
    probability of every node. Depth 1 is the flat mixture.
""",
    """    References
    ----------
    Jordan & Jacobs (1994). Hierarchical mixtures of experts and the EM
    algorithm. Neural Computation 6(2), 181-214.

    Examples
    --------
    >>> from mixexp import HierarchicalMixtureOfExpertsClassifier
    >>> from mixexp.datasets import make_local_classification
    >>> X, y = make_local_classification(600, random_state=0)
    >>> hme = HierarchicalMixtureOfExpertsClassifier(depth=2, random_state=0)
    >>> bool(hme.fit(X, y).score(X, y) > 0.9)
    True
    """,
)
