"""Choosing the mixture: the split path over the number of experts, and the
cross-validated estimators built on it.

``walk_path`` grows a mixture along a grid of expert counts: the first fit
starts from k-means clusters, every later one from its predecessor, whose
worst-explained experts are split in two (split-and-merge EM, Ueda et al.
2000; greedy mixture learning, Vlassis & Likas 2002). Each step is then a
warm-started EM run that moves little, instead of a fit from scratch. A
hierarchy grows the same way a level at a time, every leaf split among its
children (``split_leaves``).
``MixtureOfExpertsRegressorCV`` and ``MixtureOfExpertsClassifierCV`` walk it
on every fold for every candidate expert form and gate, and pick by the
held-out scores with the one-standard-error rule.
"""

import functools
import time
import warnings
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    clone,
)
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    check_cv,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._base import BaseMixtureOfExperts, atomic
from ._classifier import MixtureOfExpertsClassifier, _refuse_mixed_labels
from ._data import weighted_moments
from ._docs import CLASSIFIER_CV_ATTRIBUTES, REGRESSOR_CV_ATTRIBUTES, document
from ._estep import responsibilities
from ._hierarchical import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    _Hierarchy,
)
from ._html_repr import DocLinkMixin
from ._init import kmeans_centres, nearest_centre
from ._params import Interval, ParamNamesOnce
from ._prune import Abandoned, parameters_per_expert
from ._regressor import MixtureOfExpertsRegressor, _numeric_targets
from ._validation import (
    CheckedClassifierMixin,
    CheckedRegressorMixin,
    validate_training_input,
)
from .experts import LinearExpert, LogisticExpert
from .gates import GaussianGate, SoftmaxGate, TreeGate

# Below this many rows, cv=None walks 5 folds instead of 3, and from
# _MANY_ROWS on 2.
_FEW_ROWS = 500
_MANY_ROWS = 5000

# Candidates race: once a form has walked this many sizes (a tree walks 1,
# 2, 4, ...), it stops walking if its best held-out score trails that of a
# form with the same experts and another gate by more than _RACE_ERRORS
# standard errors, or the best of any form so far (stopped ones too) by more
# than _RACE_ERRORS_ACROSS. Not earlier: a gate that needs a few experts to
# draw the regions, such as four blobs, may still trail. Other experts get
# the wider margin because linear pieces catch up with quadratic ones at a
# few more experts. Nor, behind its own experts under another gate, while its
# latest size gained more than it trails by: a gate may need a given count
# to draw the regions (a softmax gate on four quadrants trails a Gaussian one
# at three experts and leads at four).
_RACE_SIZES = 3
_RACE_ERRORS = 2.0
_RACE_ERRORS_ACROSS = 4.0

# The split path's fits: on input the search checked once, and without
# SQUAREM (short warm-started runs to a loose tol, whose stop an accepted
# jump's large gain only postpones).
_PATH_FIT = {"check_input": False, "accelerate": False}

# Rows whose responsibility for the expert being split is below this take
# no part in its 2-means (they barely move its fit).
_SPLIT_MIN_RESP = 1e-3


# Inputs beyond which the default search offers no quadratic experts: their
# Gram products grow as the fourth power of the inputs, and on more their
# fits take longer than an MLP grid search on the same rows.
_QUADRATIC_MAX_FEATURES = 25


def _offers_quadratic(n_samples, n_features):
    """Whether the default search offers quadratic experts: on at most
    ``_QUADRATIC_MAX_FEATURES`` inputs, with five rows per coefficient of a
    full quadratic expert."""
    coefficients = (n_features + 1) * (n_features + 2) // 2
    return n_features <= _QUADRATIC_MAX_FEATURES and 5 * coefficients <= n_samples


def owned_misfit(model, X, target, sample_weight, resp):
    """How badly each expert explains the rows it is responsible for,
    shape (K,): its responsibility-weighted squared error (regression) or
    log-loss (classification), summed over the rows. ``X`` and ``target``
    are validated and encoded (``model._validate_Xy``)."""
    expert_X = model._split(X)[1]
    if model._task == "regression":
        means = model.experts_.predict(expert_X)
        if means.ndim == 2:
            means = means[:, :, None]
        loss = ((means - target[:, None, :]) ** 2).sum(axis=2)  # (n, K)
        loss = loss / np.maximum(np.var(target, axis=0).sum(), 1e-300)
    else:
        proba = model.experts_.predict_proba(expert_X)  # (n, K, C)
        picked = proba[np.arange(len(target)), :, target]
        loss = -np.log(np.maximum(picked, 1e-300))
    return (resp * sample_weight[:, None] * loss).sum(axis=0)


def _joint_features(model, X, target, sample_weight):
    """The standardized rows a split clusters: the inputs, and for a
    regression the (encoded) targets too (an expert may cover two regimes
    in y)."""
    columns = [X]
    if model._task == "regression":
        columns.append(target)
    Z = np.hstack(columns)
    mean, std = weighted_moments(Z, sample_weight)
    return (Z - mean) / std


def _split_start(model, X, y, sample_weight):
    """What splitting ``model``'s experts needs, on the rows it was fitted
    on: the rows and encoded targets, its responsibilities (n, K) on them,
    the standardized rows to cluster (``_joint_features``) and the effective
    rows each child must keep (``parameters_per_expert``)."""
    target = model._encode_targets(y)  # X as the fit took it
    resp = responsibilities(*model._log_joint(X, target))[0].T
    Z = _joint_features(model, X, target, sample_weight)
    need = parameters_per_expert(model.gate_, model.experts_, model.n_experts_)
    return X, target, resp, Z, need


def _split_column(column, Z, sample_weight, n_parts, need, random_state):
    """One expert's responsibilities ``column`` shared out among ``n_parts``
    children, shape (n_parts, n_samples), by a weighted k-means of its rows
    (each row going whole to one child; rows it barely explains stay with
    the first); None when its rows do not split so that every child keeps
    ``need`` effective rows (such a child would be degenerate, and pruning
    would undo the split after a wasted fit)."""
    counted = sample_weight > 0  # effective rows, as pruning counts them
    if column[counted].sum() < n_parts * need:
        return None  # no split leaves every child enough rows
    rows = np.flatnonzero(column > _SPLIT_MIN_RESP)
    if rows.size < n_parts or not np.any(Z[rows] != Z[rows[0]]):
        return None  # a single distinct point does not split
    centres = kmeans_centres(
        Z[rows], (sample_weight * column)[rows], n_parts, random_state
    )
    labels = nearest_centre(Z[rows], centres)
    parts = np.zeros((n_parts, column.size))
    for part in range(1, n_parts):
        chosen = rows[labels == part]
        parts[part, chosen] = column[chosen]
    parts[0] = column - parts[1:].sum(axis=0)
    if parts[:, counted].sum(axis=1).min() < need:
        return None
    return parts


def split_responsibilities(model, X, y, sample_weight, n_new, random_state):
    """Responsibilities (K + s, n_samples) that start the next model of the
    path from the fitted ``model``: its own, with the columns of the ``s <=
    n_new`` experts with the largest ``owned_misfit`` each split in two by a
    weighted 2-means of their rows (``_joint_features``). Experts whose rows
    do not split (fewer than two distinct points), or whose halves would not
    both explain as many rows as an expert has parameters, are passed over
    (``_split_column``)."""
    X, target, resp, Z, need = _split_start(model, X, y, sample_weight)
    misfit = owned_misfit(model, X, target, sample_weight, resp)
    columns = list(resp.T)
    for expert in np.argsort(-misfit, kind="stable"):
        if len(columns) - resp.shape[1] == n_new:
            break
        halves = _split_column(resp[:, expert], Z, sample_weight, 2, need, random_state)
        if halves is not None:
            columns[expert] = halves[0]
            columns.append(halves[1])
    return np.array(columns)


def split_leaves(model, X, y, sample_weight, branching, random_state):
    """Responsibilities (K * branching, n_samples) that start a tree of gates
    one level deeper than the fitted ``model``: every leaf's column shared
    out among ``branching`` children (``_split_column``), leaf k's children
    being leaves ``k * branching`` to ``k * branching + branching - 1`` (the
    tree's breadth-first order); None if some leaf does not split."""
    *_, resp, Z, need = _split_start(model, X, y, sample_weight)
    children = []
    for leaf in range(resp.shape[1]):
        parts = _split_column(
            resp[:, leaf], Z, sample_weight, branching, need, random_state
        )
        if parts is None:
            return None
        children.append(parts)
    return np.concatenate(children)


def is_tree(model):
    """Whether ``model`` is a hierarchy (a tree of gates)."""
    return isinstance(model, _Hierarchy)


def walks_to(template, n_experts):
    """Whether a form takes the step to ``n_experts``: a flat one to every
    size; a tree to 1 (its root, a single expert) and the powers of its
    branching, one level per step."""
    if not is_tree(template):
        return True
    size = 1
    while size < n_experts:
        size *= template.branching
    return size == n_experts


def grow(template, model, n_experts, train, random_state):
    """The next model of the split path: ``template`` (an unfitted mixture)
    fitted on ``train = (X, y, sample_weight)`` with ``n_experts``, from
    k-means clusters when ``model`` is None, else from ``model``'s
    responsibilities with its worst-explained experts split. Returns None
    when no expert could be added (nothing split, or pruning removed what
    the split added). A tree grows one level per step (``_grow_tree``)."""
    X, y, weight = train
    if is_tree(template):
        return _grow_tree(template, model, n_experts, train, random_state)
    if model is None:
        start = clone(template).set_params(n_experts=n_experts)
        # A single cluster holds every row: no k-means to run.
        resp = np.ones((1, X.shape[0])) if n_experts == 1 else None
        return start._fit_from_responsibilities(X, y, weight, resp, **_PATH_FIT)
    resp = split_responsibilities(
        model, X, y, weight, n_experts - model.n_experts_, random_state
    )
    if resp.shape[0] == model.n_experts_:
        return None
    fitted = clone(template).set_params(n_experts=resp.shape[0])
    try:
        return fitted._fit_from_responsibilities(
            X, y, weight, resp, abandon_at=model.n_experts_, **_PATH_FIT
        )
    except Abandoned:  # pruning would undo the split
        return None


def _grow_tree(template, model, n_experts, train, random_state):
    """A hierarchy's step: at the start a single expert (the flat mixture of
    one) or a balanced tree from k-means clusters, then every leaf split
    into ``branching`` children, a level deeper. None when ``n_experts`` is
    not the next level's size, when a leaf does not split, or when the tree
    fitted has a degenerate leaf (a leaf cannot leave a balanced tree, so
    pruning cannot remove it)."""
    X, y, weight = train
    branching = template.branching
    if model is None and n_experts == 1:
        params = template.get_params(deep=False)
        del params["depth"], params["branching"]
        flat = (
            MixtureOfExpertsClassifier
            if template._task == "classification"
            else MixtureOfExpertsRegressor
        )
        return flat(n_experts=1, **params)._fit_from_responsibilities(
            X, y, weight, np.ones((1, X.shape[0])), **_PATH_FIT
        )
    depth = round(np.log(n_experts) / np.log(branching))
    if branching**depth != n_experts:
        return None
    fitted = clone(template).set_params(depth=depth)
    if model is None:
        fitted._fit_from_responsibilities(X, y, weight, None, **_PATH_FIT)
    else:
        if n_experts != model.n_experts_ * branching:
            return None
        resp = split_leaves(model, X, y, weight, branching, random_state)
        if resp is None:
            return None
        fitted._fit_from_responsibilities(X, y, weight, resp, **_PATH_FIT)
    rows = fitted.responsibilities(X, y)[weight > 0].sum(axis=0)
    need = parameters_per_expert(fitted.gate_, fitted.experts_, fitted.n_experts_)
    return fitted if rows.min() >= need else None


def walk_path(template, grid, train, seed=0):
    """Fit ``template`` along the increasing expert counts of ``grid`` on
    ``train = (X, y, sample_weight)``, each fit after the first started
    from the previous one (``grow``); the walk ends early when a step adds
    no expert. Returns the fitted models."""
    rng = np.random.RandomState(seed)
    models = []
    for n_experts in grid:
        model = grow(template, models[-1] if models else None, n_experts, train, rng)
        if model is None:
            break
        models.append(model)
    return models


def _n_parameters(model):
    try:
        return float(model._n_parameters())
    except ValueError:  # a wrapped estimator without a parameter count
        return float(model.n_experts_)


def per_sample_score(model, X, y, scoring):
    """Each row's held-out score, higher is better: its log-likelihood,
    minus its squared error (summed over outputs), or 1 if its class is
    predicted right. ``X`` as the model's fit took it (no checks)."""
    if scoring == "log_likelihood":
        target = model._encode_targets(y)
        return responsibilities(*model._log_joint(X, target))[1]
    if scoring == "squared_error":
        error = model._predict_mean(X) - y
        return -(error**2 if error.ndim == 1 else (error**2).sum(axis=1))
    return (model.predict(X) == y).astype(float)


class _FoldWalk:
    """One candidate's split path on one fold: its state between steps.

    A step is a joblib job (``job``) that reads this state and returns the
    new one, which ``take`` keeps: in a worker process the walk is a copy,
    so the step must not rely on changing it in place.
    """

    def __init__(self, template, train, test, seed, scoring):
        self.template, self.train, self.test = template, train, test
        self.scoring = scoring
        self.rng = np.random.RandomState(seed)
        self.model = None
        self.models = {}  # requested size -> the model the fold had then

    def job(self, X, y, weight, n_experts):
        """The step to ``n_experts``, for ``joblib.Parallel``."""
        return delayed(_walk_step)(
            self.template,
            self.model,
            self.rng,
            (self.train, self.test),
            (X, y, weight),
            n_experts,
            self.scoring,
        )

    def take(self, n_experts, outcome):
        """Keep a step's outcome; returns its result (see ``_walk_step``)."""
        model, self.rng, result = outcome
        if model is not None:
            self.model = model
        self.models[n_experts] = self.model
        return result


def _walk_step(template, model, rng, fold, data, n_experts, scoring):
    """Grow ``model`` (None: start) to ``n_experts`` on the fold's training
    rows. Returns the grown model (None when the path could not grow, and
    the fold keeps its model), ``rng`` after the step and the result: the
    held-out score of every test row, the fitted size, its parameters and
    the seconds, or None."""
    (train, test), (X, y, weight) = fold, data
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the search's fits are its own
        grown = grow(
            template, model, n_experts, (X[train], y[train], weight[train]), rng
        )
    if grown is None:
        return None, rng, None
    seconds = time.perf_counter() - start
    scores = per_sample_score(grown, X[test], y[test], scoring)
    return grown, rng, (scores, grown.n_experts_, _n_parameters(grown), seconds)


def _check_every_class_trained(y, weight, folds):
    """Refuse folds whose training rows of positive weight miss a class: the
    fold's mixture could not score the held-out rows of that class."""
    weighted = weight > 0
    classes = np.unique(y[weighted])
    for index, (train, _) in enumerate(folds):
        missing = np.setdiff1d(classes, y[train][weighted[train]])
        if missing.size:
            counts = [int(np.sum(weighted & (y == label))) for label in missing[:3]]
            raise ValueError(
                f"The training rows of fold {index} hold no sample of positive "
                f"weight of class(es) {missing[:3].tolist()} ({counts} such "
                "sample(s) in all): every fold must train on every class. Merge "
                "or drop classes this rare, or give a splitter (cv) whose "
                "training rows hold every class."
            )


def paired_shortfall(held_out, best, weight):
    """How far each row of ``held_out`` (candidates x samples, NaN where not
    reached) falls short of row ``best``: the weighted mean difference of
    the per-sample held-out scores and its standard error, each
    (n_candidates,), NaN for candidates not reached."""
    difference = held_out[best] - held_out
    reached = ~np.isnan(difference).any(axis=1)
    gap = np.full(held_out.shape[0], np.nan)
    error = np.full(held_out.shape[0], np.nan)
    total = weight.sum()
    n_effective = total**2 / np.sum(weight**2)
    d = difference[reached]
    gap[reached] = d @ weight / total
    variance = ((d - gap[reached, None]) ** 2) @ weight / total
    error[reached] = np.sqrt(variance / n_effective)
    return gap, error


def _race_losers(active, best, held_out, weight, n_expert_forms, climb):
    """The active candidates (gate-major indices) whose best row trails the
    best row of an active candidate with the same expert form and another
    gate by more than ``_RACE_ERRORS`` standard errors of the paired
    difference, or the best row of any candidate in ``best`` by more than
    ``_RACE_ERRORS_ACROSS``, in increasing order. A candidate led by its own
    expert form under another gate by less than ``climb[c]``, what its
    latest size gained, may overtake at the next size: it is no loser."""
    losers = set()
    same_experts = [
        ([c for c in active if c % n_expert_forms == e], _RACE_ERRORS)
        for e in range(n_expert_forms)
    ]
    for rivals, errors in [*same_experts, (list(best), _RACE_ERRORS_ACROSS)]:
        rivals = [c for c in rivals if best[c] is not None]
        if len(rivals) < 2:
            continue
        rows = [best[c] for c in rivals]
        leader = int(np.argmax(held_out[rows] @ weight))
        gap, error = paired_shortfall(held_out[rows], leader, weight)
        same = rivals[leader] % n_expert_forms
        losers.update(
            c
            for c, g, e in zip(rivals, gap, error, strict=True)
            if c in active
            and g > errors * e
            and not (c % n_expert_forms == same and g <= climb[c])
        )
    return sorted(losers)


def _delegating(name, mixture):
    """A method of the cross-validated estimator that calls the chosen
    mixture's method ``name``, with that method's signature and docstring
    (``mixture`` is its class)."""
    target = getattr(mixture, name)

    @functools.wraps(target)
    def method(self, *args, **kwargs):
        check_is_fitted(self)
        X = args[0] if args else None
        shape = None if hasattr(X, "columns") else getattr(X, "shape", None)
        expected = self.best_estimator_.n_features_in_
        if shape is not None and len(shape) == 2 and shape[1] != expected:
            # The chosen mixture's own check would name its class, not ours
            # (a DataFrame's says which columns differ: it goes on to that).
            raise ValueError(
                f"X has {shape[1]} features, but {type(self).__name__} is "
                f"expecting {expected} features as input."
            )
        return getattr(self.best_estimator_, name)(*args, **kwargs)

    method.__qualname__ = name
    return method


class _MixtureCV(DocLinkMixin, MetaEstimatorMixin, ParamNamesOnce, BaseEstimator):
    """What the two cross-validated mixtures share; not for direct use."""

    _parameter_constraints = {
        "n_experts": ["array-like"],
        "experts": [list, tuple, None],
        "gates": [list, tuple, None],
        "cv": ["cv_object"],
        "selection": [StrOptions({"one_standard_error", "best"})],
        "scoring": [StrOptions({"log_likelihood", "squared_error", "accuracy"}), None],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        # The mixtures' own constraints for the settings passed on to them.
        **{
            name: BaseMixtureOfExperts._parameter_constraints[name]
            for name in ("max_iter", "tol", "n_jobs", "random_state", "verbose")
        },
    }

    def __init__(
        self,
        n_experts=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32),
        *,
        experts=None,
        gates=None,
        cv=None,
        scoring=None,
        selection="one_standard_error",
        patience=2,
        max_iter=200,
        tol=1e-3,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_experts = n_experts
        self.experts = experts
        self.gates = gates
        self.cv = cv
        self.scoring = scoring
        self.selection = selection
        self.patience = patience
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _candidates(self, n_samples, n_features):
        """The (expert, gate) forms searched, gate-major, and the number of
        expert forms; each mixture checks its own."""
        experts = self.experts
        if experts is None:
            experts = self._default_experts(n_samples, n_features)
        gates = self.gates
        if gates is None:
            gates = self._default_gates(n_samples, n_features)
        for name, parts in (("experts", experts), ("gates", gates)):
            if len(parts) == 0:
                raise ValueError(f"{name} is empty; give at least one component.")
        pairs = [(clone(e), clone(g)) for g in gates for e in experts]
        return pairs, len(experts)

    def _grid(self):
        grid = np.asarray(self.n_experts)
        if (
            grid.ndim != 1
            or grid.size == 0
            or not np.issubdtype(grid.dtype, np.integer)
            or grid[0] < 1
            or np.any(np.diff(grid) <= 0)
        ):
            raise ValueError(
                f"n_experts={self.n_experts!r} must be increasing positive integers, "
                "such as (1, 2, 4, 8)."
            )
        return [int(k) for k in grid]

    def fit(self, X, y, sample_weight=None, groups=None):
        """Choose the form and the number of experts by cross-validation.

        The expert form, the gate and the number of experts are chosen by
        cross-validation, then the choice is refitted on all rows (from its
        model on the fold that scored it best; a classifier's also from a
        fresh start, keeping the fit with the higher training
        log-likelihood).

        Every candidate form walks the ``n_experts`` grid on all folds in
        step; it stops after ``patience`` counts without a better mean
        held-out score, when it trails a form with the same experts and
        another gate by more than two standard errors (and by more than its
        latest count gained) or any form by more than four, or when no
        fold's mixture can grow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, used in every fit and in the held-out
            scores.
        groups : array-like of shape (n_samples,), default=None
            Group labels (speakers, patients, sites): with an int or None
            ``cv`` no group is split between training and held-out rows
            (``GroupKFold``, ``StratifiedGroupKFold`` for a classifier), so
            the choice is made for new groups; a ``cv`` splitter gets them
            as its ``groups``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        # A failed fit leaves the estimator as it was, as a mixture's does.
        return atomic(self, self._fit, X, y, sample_weight, groups)

    def _fit(self, X, y, sample_weight, groups):
        grid = self._grid()
        # The mixtures' checks, with their advice (text in X, labels in y).
        X, y, sample_weight = validate_training_input(
            self, X, y, sample_weight, True, self._validation_options()
        )
        if self._task == "classification":
            y = column_or_1d(y, warn=True)
            _refuse_mixed_labels(y)
            check_classification_targets(y)
        else:  # numbers given as text, as the mixtures take them
            y = _numeric_targets(y, type(self).__name__)
        groups = self._check_groups(groups, X.shape[0])
        candidates, n_expert_forms = self._candidates(*X.shape)
        scoring = self._scoring()
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        templates = [self._template(expert, gate, seed) for expert, gate in candidates]
        # Each form's own input checks, once on all rows: its fits on the
        # folds' rows trust them.
        for template in templates:
            X, y, weight = clone(template)._validate_training_input(X, y, sample_weight)
        try:
            folds = list(self._folds(seed, X.shape[0], groups).split(X, y, groups))
        except ValueError as exc:  # scikit-learn's splitters name no remedy
            raise ValueError(
                f"{exc} Give {type(self).__name__} fewer folds (cv=2, or a "
                "splitter), or more rows."
            ) from exc
        if self._task == "classification":
            _check_every_class_trained(y, weight, folds)
        walks = [
            [_FoldWalk(template, train, test, seed, scoring) for train, test in folds]
            for template in templates
        ]
        n_rows = len(candidates) * len(grid)
        # The rows some fold holds out (a splitter need not hold out all),
        # as columns of ``held_out``, and their weights.
        scored = np.unique(np.concatenate([test for _, test in folds]))
        column = np.full(X.shape[0], -1)
        column[scored] = np.arange(scored.size)
        scored_weight = weight[scored]
        held_out = np.full((n_rows, scored.size), np.nan)
        record = {
            name: np.full((n_rows, len(folds)), np.nan)
            for name in ("score", "n_experts_fitted", "n_parameters", "fit_time")
        }
        active = list(range(len(candidates)))
        best = dict.fromkeys(active)  # each form's best row so far
        since_best = dict.fromkeys(active, 0)
        climb = dict.fromkeys(active, 0.0)  # what each form's latest size gained
        begin = time.perf_counter()
        last = dict.fromkeys(active)  # each form's latest row walked
        walked = dict.fromkeys(active, 0)  # sizes each form has walked
        for position, n_experts in enumerate(grid):
            walking = [c for c in active if walks_to(templates[c], n_experts)]
            jobs = [(c, f) for c in walking for f in range(len(folds))]
            # Processes: a step's many small numpy calls hold the GIL, so
            # threads would wait on each other.
            outcomes = Parallel(n_jobs=self.n_jobs, prefer="processes")(
                walks[c][f].job(X, y, weight, n_experts) for c, f in jobs
            )
            grown = dict.fromkeys(walking, False)
            for (c, f), outcome in zip(jobs, outcomes, strict=True):
                result = walks[c][f].take(n_experts, outcome)
                row, (_, test), before = c * len(grid) + position, folds[f], last[c]
                if result is None:  # this fold's mixture stays as it was
                    if before is not None:
                        held_out[row, column[test]] = held_out[before, column[test]]
                        for values in record.values():
                            values[row, f] = values[before, f]
                        record["fit_time"][row, f] = 0.0
                    continue
                grown[c] = True
                scores, fitted, parameters, seconds = result
                held_out[row, column[test]] = scores
                record["score"][row, f] = np.average(scores, weights=weight[test])
                record["n_experts_fitted"][row, f] = fitted
                record["n_parameters"][row, f] = parameters
                record["fit_time"][row, f] = seconds
            for c in walking:
                row = last[c] = c * len(grid) + position
                walked[c] += 1
                if not grown[c]:  # no fold could grow: larger sizes are out of reach
                    for values in record.values():
                        values[row] = np.nan
                    held_out[row] = np.nan
                    active.remove(c)
                    continue
                gain = (
                    0.0
                    if best[c] is None
                    else self._gain(held_out, row, best[c], scored_weight)
                )
                climb[c] = gain or 0.0
                if gain is not None:
                    best[c], since_best[c] = row, 0
                else:
                    since_best[c] += 1
                    if self.patience is not None and since_best[c] >= self.patience:
                        active.remove(c)
            if self.patience is not None:
                for c in _race_losers(
                    active, best, held_out, scored_weight, n_expert_forms, climb
                ):
                    if walked[c] >= _RACE_SIZES:
                        active.remove(c)
            if self.verbose:
                reached = record["score"][~np.isnan(record["score"]).any(axis=1)]
                print(
                    f"n_experts={n_experts} ({position + 1} of {len(grid)}): "
                    f"{len(jobs)} fits, {time.perf_counter() - begin:.1f} s so far; "
                    f"best mean held-out score {reached.mean(axis=1).max():.4f}; "
                    f"{len(active)} form(s) go on",
                    flush=True,
                )
            if not active:
                break
        self.cv_results_ = self._results(candidates, grid, record)
        index = self._select(self.cv_results_, held_out, scored_weight)
        self.best_index_ = index
        self.best_params_ = self.cv_results_["params"][index]
        self.best_score_ = float(self.cv_results_["mean_test_score"][index])
        self.best_estimator_ = self._refit(
            [
                walk.models[self.best_params_["n_experts"]]
                for walk in walks[index // len(grid)]
            ],
            record["score"][index],
            (X, y, weight),
        )
        if hasattr(self, "feature_names_in_"):  # as if fitted on the frame
            self.best_estimator_.feature_names_in_ = self.feature_names_in_
        self.n_experts_ = self.best_estimator_.n_experts_
        self.n_iter_ = self.best_estimator_.n_iter_
        return self

    def _scoring(self):
        scoring = self._default_scoring if self.scoring is None else self.scoring
        allowed = {"log_likelihood", self._task_score}
        if scoring not in allowed:
            raise ValueError(
                f"scoring={self.scoring!r} is not available for "
                f"{type(self).__name__}; use one of {sorted(allowed)}."
            )
        return scoring

    def _gain(self, held_out, row, best, weight):
        """How much ``row`` beats the ``best`` row (the weighted mean of the
        paired difference), if by more than one standard error of it under
        the one-standard-error rule (a smaller gain could never make it the
        choice), else at all; None if it does not."""
        gap, error = paired_shortfall(held_out[[best, row]], 1, weight)
        margin = error[0] if self.selection == "one_standard_error" else 0.0
        return float(gap[0]) if gap[0] > margin else None

    def _refit(self, fold_models, fold_scores, data):
        """The chosen candidate on all rows, started from the responsibilities
        of its model on the fold that scored best (the folds' work shared:
        one EM run instead of a walk along the path).

        A classifier of several experts is also fitted from a fresh k-means
        start, and the fit with the higher mean log p(y | x) on the rows is
        kept: bounded by zero for a classifier, it measures the fit. A
        regressor's grows without bound as an expert's noise variance
        shrinks onto a few rows, so it keeps the path's fit."""
        X, y, weight = data
        start = fold_models[int(np.argmax(fold_scores))]
        # The fold model's own form: a tree's root is a flat single expert.
        model = clone(start)
        if not is_tree(model):
            model.set_params(n_experts=start.n_experts_)
        starts = [start.responsibilities(X, y).T]
        if self._task == "classification" and start.n_experts_ > 1:
            starts.append(None)  # k-means
        fits = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pruning is reported in n_experts_
            for resp in starts:
                fits.append(
                    clone(model)._fit_from_responsibilities(
                        X, y, weight, resp, check_input=False
                    )
                )
        if len(fits) == 1:
            return fits[0]
        # On a tie, the path's fit.
        return max(
            fits, key=lambda fit: np.average(fit.log_likelihood(X, y), weights=weight)
        )

    @staticmethod
    def _check_groups(groups, n_samples):
        if groups is None:
            return None
        groups = np.asarray(groups)
        if groups.shape != (n_samples,):
            raise ValueError(
                f"groups has shape {groups.shape}; give one group label per "
                f"row of X, shape ({n_samples},)."
            )
        if np.unique(groups).size < 2:
            raise ValueError(
                "groups has a single group, which no fold can hold out; give "
                "at least two groups, or groups=None."
            )
        return groups

    def _folds(self, seed, n_samples, groups=None):
        """The splitter: an int gives shuffled folds (stratified for a
        classifier; by group with ``groups``), since rows often arrive
        sorted; None gives 5 folds below ``_FEW_ROWS`` rows, where 3 would
        leave each fit too few rows and the search is cheap, 2 from
        ``_MANY_ROWS`` rows, where half the rows still fit every candidate
        and the search costs most, and 3 between (at most one per group)."""
        classifier = self._task == "classification"
        cv = self.cv
        if cv is None:
            cv = 5 if n_samples < _FEW_ROWS else 3 if n_samples < _MANY_ROWS else 2
            if groups is not None:
                cv = min(cv, np.unique(groups).size)
        if isinstance(cv, Integral):
            if groups is None:
                kind = StratifiedKFold if classifier else KFold
            else:
                kind = StratifiedGroupKFold if classifier else GroupKFold
            return kind(cv, shuffle=True, random_state=seed)
        return check_cv(cv, classifier=classifier)

    def _template(self, expert, gate, seed):
        """The unfitted mixture of a form; a ``TreeGate`` makes a hierarchy
        of its branching, whose nodes are softmax gates with its settings
        (the walk sets the depth)."""
        settings = {
            "expert": expert,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "random_state": seed,
        }
        if isinstance(gate, TreeGate):
            node = gate.get_params()
            del node["depth"], node["branching"]
            return self._hierarchy(
                depth=1, branching=gate.branching, gate=SoftmaxGate(**node), **settings
            )
        return self._mixture(gate=gate, **settings)

    @staticmethod
    def _results(candidates, grid, record):
        """``cv_results_``: one row per (expert, gate, n_experts); NaN where
        the walk of that form had stopped before."""
        params = [
            {"expert": expert, "gate": gate, "n_experts": k}
            for expert, gate in candidates
            for k in grid
        ]
        scores = record["score"]
        n_folds = scores.shape[1]
        reached = ~np.isnan(scores).any(axis=1)
        mean = np.full(len(params), np.nan)
        std = np.full(len(params), np.nan)
        mean[reached] = scores[reached].mean(axis=1)
        std[reached] = scores[reached].std(axis=1)
        results = {
            "params": params,
            "param_expert": np.array([p["expert"] for p in params], dtype=object),
            "param_gate": np.array([p["gate"] for p in params], dtype=object),
            "param_n_experts": np.array([p["n_experts"] for p in params]),
            **{f"split{i}_test_score": scores[:, i] for i in range(n_folds)},
            "mean_test_score": mean,
            "std_test_score": std,
        }
        order = np.argsort(-np.where(reached, mean, -np.inf), kind="stable")
        rank = np.empty(len(params), dtype=int)
        rank[order] = np.arange(1, len(params) + 1)
        results["rank_test_score"] = rank
        for name in ("n_experts_fitted", "n_parameters", "fit_time"):
            values = np.full(len(params), np.nan)
            values[reached] = record[name][reached].mean(axis=1)
            results[f"mean_{name}"] = values
        return results

    def _select(self, results, held_out, weight):
        """The row chosen: the best mean held-out score; with the
        one-standard-error rule, the candidate with the fewest parameters
        whose held-out log-likelihood falls short of the best one's by at
        most one standard error of that difference (paired over the rows,
        each scored by the fold that held it out)."""
        mean = results["mean_test_score"]
        if np.all(np.isnan(mean)):
            raise ValueError(
                "No candidate was fitted on every fold; use fewer folds (cv) or "
                "more data."
            )
        best = int(np.nanargmax(mean))
        if self.selection == "best":
            return best
        gap, error = paired_shortfall(held_out, best, weight)
        close = np.flatnonzero(gap <= error)
        complexity = results["mean_n_parameters"][close]
        return int(close[np.lexsort((-mean[close], complexity))[0]])


@document("cv_regression", "cv", attributes=REGRESSOR_CV_ATTRIBUTES)
class MixtureOfExpertsRegressorCV(CheckedRegressorMixin, _MixtureCV):
    """A mixture of experts whose form and size are chosen by cross-validation.

    One ``fit`` searches the expert form (linear and quadratic experts by
    default), the gate (softmax and full-covariance Gaussian by default, and
    a ridged softmax gate where quadratic experts are not offered)
    and the number of experts (along ``n_experts``) by the held-out squared
    error of ``cv`` folds (or log-likelihood, ``scoring``), then refits the
    choice on all rows, starting from its model on the fold that scored it
    best. The number of experts is walked as a *split path*: each count
    starts from the previous fit with its worst-explained experts split in
    two, so a step is a short EM run, and a form stops walking once
    ``patience`` counts in a row did not improve its mean held-out score,
    or once it trails the same experts with another gate by more than two
    standard errors (and by more than its latest count gained), or any form
    by more than four (once it has walked three counts). With
    ``selection="one_standard_error"`` the simplest candidate (fewest
    parameters) within one standard error of the best is chosen.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    MixtureOfExpertsRegressor : The mixture with a fixed form and size.

    Examples
    --------
    >>> from mixexp import MixtureOfExpertsRegressorCV
    >>> from mixexp.datasets import make_piecewise_linear
    >>> X, y = make_piecewise_linear(300, random_state=0)
    >>> model = MixtureOfExpertsRegressorCV(n_experts=(1, 2, 3), cv=3,
    ...                                     random_state=0).fit(X, y)
    >>> model.best_params_["n_experts"], model.n_experts_
    (3, 3)
    """

    # The chosen mixture's methods, with its signatures and docstrings.
    predict = _delegating("predict", MixtureOfExpertsRegressor)
    predict_quantiles = _delegating("predict_quantiles", MixtureOfExpertsRegressor)
    sample_y = _delegating("sample_y", MixtureOfExpertsRegressor)
    predict_experts = _delegating("predict_experts", MixtureOfExpertsRegressor)
    predict_gate_proba = _delegating("predict_gate_proba", MixtureOfExpertsRegressor)
    responsibilities = _delegating("responsibilities", MixtureOfExpertsRegressor)
    log_likelihood = _delegating("log_likelihood", MixtureOfExpertsRegressor)
    bic = _delegating("bic", MixtureOfExpertsRegressor)
    aic = _delegating("aic", MixtureOfExpertsRegressor)

    _task = "regression"
    _task_score = "squared_error"
    # What ``score`` (R^2) measures, as RidgeCV and GridSearchCV choose.
    _default_scoring = "squared_error"
    _mixture = MixtureOfExpertsRegressor
    _hierarchy = HierarchicalMixtureOfExpertsRegressor

    @staticmethod
    def _default_experts(n_samples, n_features):
        """Linear experts, and quadratic ones where the inputs are few
        enough and the rows can fit at least one, each expert's ridge chosen
        by its evidence."""
        experts = [LinearExpert(alpha="evidence")]
        if _offers_quadratic(n_samples, n_features):
            experts.append(LinearExpert(alpha="evidence", degree=2))
        return experts

    @staticmethod
    def _default_gates(n_samples, n_features):
        """Softmax and full-covariance Gaussian gates: where experts own
        compact regions of a few inputs, a Gaussian gate draws them with
        less work than a softmax gate at many experts. Where quadratic
        experts are not offered, many linear pieces of many inputs must do,
        and their unpenalized softmax gate grows overconfident as they are
        added: a softmax gate with a ridge joins."""
        gates = [SoftmaxGate(), GaussianGate(covariance_type="full")]
        if not _offers_quadratic(n_samples, n_features):
            gates.insert(1, SoftmaxGate(alpha=1e-3))
        return gates

    def _validation_options(self):
        return {"multi_output": True, "y_numeric": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        return tags


@document(
    "cv_classification", "cv", "classification", attributes=CLASSIFIER_CV_ATTRIBUTES
)
class MixtureOfExpertsClassifierCV(CheckedClassifierMixin, _MixtureCV):
    """A mixture-of-experts classifier with form and size chosen by CV.

    The form and the number of experts are chosen by cross-validation.

    As :class:`MixtureOfExpertsRegressorCV`, for classification: stratified
    folds, logistic experts and softmax (with and without a ridge),
    diagonal and full Gaussian gates by default, and candidates compared by
    their held-out log-likelihood (the negative log-loss). The choice is
    refitted on all rows twice, from its model on the best fold and from a
    fresh k-means start, and the fit with the higher mean log-likelihood of
    the rows' classes is kept (the split path's warm starts can settle in a
    poorer optimum than a fresh start).

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    MixtureOfExpertsClassifier : The mixture with a fixed form and size.

    Examples
    --------
    >>> from mixexp import MixtureOfExpertsClassifierCV
    >>> from mixexp.datasets import make_local_classification
    >>> X, y = make_local_classification(300, random_state=0)
    >>> model = MixtureOfExpertsClassifierCV(n_experts=(1, 2, 4), cv=3,
    ...                                      random_state=0).fit(X, y)
    >>> model.predict_proba(X).shape
    (300, 2)
    """

    # The chosen mixture's methods, with its signatures and docstrings.
    predict = _delegating("predict", MixtureOfExpertsClassifier)
    predict_proba = _delegating("predict_proba", MixtureOfExpertsClassifier)
    predict_log_proba = _delegating("predict_log_proba", MixtureOfExpertsClassifier)
    predict_experts = _delegating("predict_experts", MixtureOfExpertsClassifier)
    predict_gate_proba = _delegating("predict_gate_proba", MixtureOfExpertsClassifier)
    responsibilities = _delegating("responsibilities", MixtureOfExpertsClassifier)
    log_likelihood = _delegating("log_likelihood", MixtureOfExpertsClassifier)
    bic = _delegating("bic", MixtureOfExpertsClassifier)
    aic = _delegating("aic", MixtureOfExpertsClassifier)

    _task = "classification"
    _task_score = "accuracy"
    # Accuracy is too coarse to rank close models; the log-loss is not.
    _default_scoring = "log_likelihood"
    _mixture = MixtureOfExpertsClassifier
    _hierarchy = HierarchicalMixtureOfExpertsClassifier

    @staticmethod
    def _default_experts(n_samples, n_features):
        return [LogisticExpert()]

    @staticmethod
    def _default_gates(n_samples, n_features):
        """Softmax gates without and with a ridge, diagonal and full
        Gaussian gates. Quadrants need a sharp gate, while on many inputs an
        unpenalized gate grows overconfident as experts are added; class
        regions are often compact blobs, which a Gaussian gate draws with
        fewer experts, and correlated inputs tilt them."""
        return [
            SoftmaxGate(),
            SoftmaxGate(alpha=1e-3),
            GaussianGate(covariance_type="diag"),
            GaussianGate(covariance_type="full"),
        ]

    def _validation_options(self):
        return {}

    @property
    def classes_(self):
        """Class labels of the chosen mixture."""
        check_is_fitted(self)
        return self.best_estimator_.classes_
