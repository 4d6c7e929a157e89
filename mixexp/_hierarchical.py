"""Hierarchical mixtures of experts (Jordan & Jacobs 1994).

A hierarchy is the flat mixture with a tree of softmax gates
(:class:`~mixexp.gates.TreeGate`) in place of the one softmax: the leaf
log-probability is the sum of the node log-probabilities on its path, so the
E-step, the EM and gradient solvers, restarts, top-k routing and partial_fit
are the flat estimators' own. What is added here is the estimator
signature (``depth``, ``branching``), a tree-aware initialization and the
node probabilities.
"""

from numbers import Integral

import numpy as np

from ._base import BaseMixtureOfExperts
from ._classifier import MixtureOfExpertsClassifier
from ._dask import dask_rows
from ._docs import CLASSIFIER_ATTRIBUTES, REGRESSOR_ATTRIBUTES, document
from ._params import Interval, init_with
from ._regressor import MixtureOfExpertsRegressor
from .gates import SoftmaxGate, TreeGate


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
        **{
            name: rule
            for name, rule in BaseMixtureOfExperts._parameter_constraints.items()
            if name not in ("n_experts", "gate_noise")
        },
        # 2**64 experts are out of reach, and a bound keeps branching**depth
        # from taking hours to compute.
        "depth": [Interval(Integral, 1, 64, closed="both")],
        "branching": [Interval(Integral, 2, None, closed="left")],
    }
    gate_noise = False  # noisy gating belongs to the flat gate

    # The flat signature with depth and branching for n_experts, which is
    # their consequence, and without gate_noise.
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
        self.depth = depth
        self.branching = branching
        self.gate = gate
        self.expert = expert
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.solver = solver
        self.loss = loss
        self.top_k = top_k
        self.balance_weight = balance_weight
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init = init
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    @property
    def n_experts(self):
        """Number of experts, ``branching ** depth``."""
        return self.branching**self.depth

    def set_params(self, **params):
        """Set the parameters of this estimator.

        As scikit-learn's ``BaseEstimator.set_params``, except that
        ``n_experts`` follows from ``depth`` and ``branching``.

        Parameters
        ----------
        **params : dict
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
        params = template.get_params()
        tree = TreeGate(depth=self.depth, branching=self.branching, **params)
        return self._route(tree)

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


@document("hierarchy", "regression", attributes=REGRESSOR_ATTRIBUTES)
class HierarchicalMixtureOfExpertsRegressor(_Hierarchy, MixtureOfExpertsRegressor):
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

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    MixtureOfExpertsRegressor
        The flat mixture: one gate over all experts.
    mixexp.gates.TreeGate
        The tree of softmax gates the hierarchy fits.

    References
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
    """


@document("hierarchy", "classification", attributes=CLASSIFIER_ATTRIBUTES)
class HierarchicalMixtureOfExpertsClassifier(_Hierarchy, MixtureOfExpertsClassifier):
    """Hierarchical mixture of softmax experts (Jordan & Jacobs 1994).

    A balanced tree of softmax gates routes each input to the
    ``branching ** depth`` softmax experts at its leaves, fitted by EM or
    gradient descent on the likelihood. It is
    :class:`MixtureOfExpertsClassifier` with a
    :class:`~mixexp.gates.TreeGate`; :meth:`predict_node_proba` adds the
    probability of every node. Depth 1 is the flat mixture.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    MixtureOfExpertsClassifier
        The flat mixture: one gate over all experts.
    mixexp.gates.TreeGate
        The tree of softmax gates the hierarchy fits.

    References
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
    """

    _parameter_constraints = {
        **_Hierarchy._parameter_constraints,
        "class_weight": MixtureOfExpertsClassifier._parameter_constraints[
            "class_weight"
        ],
    }

    __init__ = init_with(_Hierarchy.__init__, "max_iter", class_weight=None)
