"""Statistical inference for fitted mixtures of experts.

Standard errors, Wald tables and confidence intervals for the coefficients
of every expert and of the gate (:func:`coef_table`, rendered by
:func:`summary`), from the observed information of the mixture
log-likelihood (Louis 1982) or from a nonparametric bootstrap; and the
parametric bootstrap likelihood-ratio test for the number of experts
(:func:`bootstrap_lrt`, McLachlan 1987).

The observed information is assembled from pieces each part gives through
the 'information' capability of ``mixexp._contract``: with responsibilities
h_ik, complete-data scores s_ik (of log g_k(x_i) for the gate, of
log P_k(y_i | x_i) for expert k in its own parameters) and sample weights
w_i, the negative Hessian of the weighted log-likelihood is

    sum_i w_i sum_k h_ik (-d2 log g_k(x_i) - d2 log P_k(y_i | x_i))
        - sum_i w_i (sum_k h_ik s_ik s_ik^T - sbar_i sbar_i^T),

with sbar_i = sum_k h_ik s_ik, to which the curvature of the fit's
penalties is added (the fitted parameters maximize the penalized
likelihood). The softmax gate is identified by its parameters relative to
the first expert, as flexmix reports them; a tree of gates by each node's
relative to its first child; a Gaussian gate by the log-odds it implies, a
quadratic function of x. Every gate and every expert but
``EstimatorExpert`` (any scikit-learn estimator, whose parameters the
mixture does not know) has the capability.

References
----------
Louis, T. A. (1982). Finding the observed information matrix when using the
EM algorithm. JRSS-B 44, 226-233.

McLachlan, G. J. (1987). On bootstrapping the likelihood ratio test
statistic for the number of components in a normal mixture. Applied
Statistics 36, 318-324.

Grün, B. & Leisch, F. (2008). FlexMix version 2. Journal of Statistical
Software 28(4).
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, _safe_indexing, check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ._estep import responsibilities
from ._progress import counted
from ._validation import warn_user

__all__ = ["bootstrap_lrt", "coef_table", "observed_information", "summary"]

COLUMNS = (
    "part",
    "expert",
    "output",
    "term",
    "estimate",
    "std_error",
    "z",
    "p_value",
    "ci_low",
    "ci_high",
)

# Terms whose values are positive (their intervals are made on the log scale).
_POSITIVE_TERMS = ("variance", "df")

# Rows of a chunk of the Louis sums: (rows, K, P) score arrays stay small.
_CHUNK_ENTRIES = 2**21


# ------------------------------------------------------------ the mixture
def _fitted_mixture(estimator, caller):
    """The fitted flat mixture behind ``estimator`` (itself, the
    ``best_estimator_`` of a CV estimator, or the last step of a Pipeline)
    and the transform of its inputs."""
    check_is_fitted(estimator)
    transform = None
    if isinstance(estimator, Pipeline):
        if len(estimator) > 1:
            transform = estimator[:-1].transform
        estimator = estimator[-1]
        check_is_fitted(estimator)
    estimator = getattr(estimator, "best_estimator_", estimator)
    if not (hasattr(estimator, "gate_") and hasattr(estimator, "experts_")):
        raise TypeError(
            f"{caller} needs a fitted mixexp mixture of experts (a "
            "MixtureOfExpertsRegressor, MixtureOfExpertsClassifier, one of "
            f"their CV estimators or a Pipeline ending in one), got "
            f"{type(estimator).__name__}."
        )
    if getattr(estimator.gate_, "top_k", None) is not None:
        raise ValueError(
            f"{caller} needs a dense gate, but the mixture routes each sample "
            f"to its top_k={estimator.gate_.top_k} experts, whose likelihood "
            "is not smooth in the gate's parameters; refit with top_k=None."
        )
    return estimator, (lambda X: X) if transform is None else transform


def _input_names(mixture):
    """Names of the estimator's input columns."""
    names = getattr(mixture, "feature_names_in_", None)
    if names is None:
        return [f"x{j}" for j in range(mixture.n_features_in_)]
    return [str(name) for name in names]


def _part_names(mixture):
    names = np.asarray(_input_names(mixture), dtype=object)
    return (
        list(names[mixture.gate_features_]),
        list(names[mixture.expert_features_]),
    )


def _prepared(mixture, X, y, sample_weight):
    """Validated X, encoded y and the sample weights."""
    X, y_encoded = mixture._validate_Xy(X, y)
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    return X, y_encoded, sample_weight


# --------------------------------------------------------------- estimates
def _generic_estimates(part, n_experts):
    """Every fitted array of a part without the 'information' capability
    whose first axis runs over the experts, flattened (the bootstrap's
    parameters for such parts; not tested against zero, as they are in
    whatever parametrization the part stores)."""
    estimates, labels = [], []
    names = sorted(
        name
        for name, value in vars(part).items()
        if name.endswith("_")
        and not name.startswith("_")
        and isinstance(value, np.ndarray)
        and value.dtype.kind == "f"
        and value.ndim >= 1
        and value.shape[0] == n_experts
    )
    for k in range(n_experts):
        for name in names:
            value = np.asarray(getattr(part, name))[k]
            for index in np.ndindex(value.shape):
                suffix = "" if not index else str(list(index))
                estimates.append(float(value[index]))
                labels.append((k, 0, f"{name}{suffix}", False))
    return np.asarray(estimates), labels


def _estimates(mixture):
    """``(estimates, labels, parts)`` of the gate and the experts, the
    gate's first: labels are ``(expert, output, term, wald)`` and ``parts``
    says "gate" or "expert" for each."""
    gate_names, expert_names = _part_names(mixture)
    n_experts = mixture.n_experts_
    out = []
    for part, names in ((mixture.gate_, gate_names), (mixture.experts_, expert_names)):
        if "information" in part.capabilities:
            values, labels = part._info_estimates(names)
        else:
            values, labels = _generic_estimates(part, n_experts)
        out.append((np.asarray(values, dtype=float), labels))
    (gate_values, gate_labels), (expert_values, expert_labels) = out
    return (
        np.concatenate([gate_values, expert_values]),
        gate_labels + expert_labels,
        ["gate"] * len(gate_labels) + ["expert"] * len(expert_labels),
    )


# ----------------------------------------------------- observed information
def _check_information(mixture):
    for part, role in ((mixture.gate_, "gate"), (mixture.experts_, "expert")):
        if "information" not in part.capabilities:
            raise ValueError(
                f"method=\"observed\" needs the 'information' capability of the "
                f"{role}, but {type(part).__name__} does not declare it (it has "
                f'{sorted(part.capabilities)}); use method="bootstrap" for '
                "its standard errors."
            )


def observed_information(estimator, X, y, sample_weight=None):
    """Observed information of the penalized, weighted log-likelihood.

    The negative Hessian, at the fitted parameters, of ``sum_i w_i log
    p(y_i | x_i)`` minus the fit's penalties, in the parameters of
    :func:`coef_table` (the gate's first, then each expert's), by Louis'
    (1982) identity.

    Parameters
    ----------
    estimator : fitted mixture estimator
        A ``MixtureOfExpertsRegressor`` or ``MixtureOfExpertsClassifier``
        (or a CV estimator, or a Pipeline ending in one) whose gate and
        experts declare the 'information' capability.
    X : array-like of shape (n_samples, n_features)
        The inputs the model was fitted on.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The targets.
    sample_weight : array-like of shape (n_samples,), default=None
        The fit's sample weights (frequency weights).

    Returns
    -------
    information : ndarray of shape (n_parameters, n_parameters)
        Symmetric; its inverse is the covariance of the estimates.
    estimates : ndarray of shape (n_parameters,)
        The fitted parameters in the same order.

    See Also
    --------
    coef_table : The standard errors this information gives.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.inference import observed_information
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(200, 1))
    >>> y = 1 + 2 * X[:, 0] + 0.5 * rng.randn(200)
    >>> moe = MixtureOfExpertsRegressor(1).fit(X, y)
    >>> information, estimates = observed_information(moe, X, y)
    >>> information.shape, estimates.shape  # intercept, slope, variance
    ((3, 3), (3,))
    """
    mixture, transform = _fitted_mixture(estimator, "observed_information")
    X, y, sample_weight = _prepared(mixture, transform(X), y, sample_weight)
    return _information(mixture, X, y, sample_weight)


def _information(mixture, X, y, sample_weight):
    """Louis' observed information on validated inputs (see
    ``observed_information``) and the estimates."""
    _check_information(mixture)
    gate, experts = mixture.gate_, mixture.experts_
    estimates, labels, parts = _estimates(mixture)
    n_gate = parts.count("gate")
    n_experts = mixture.n_experts_
    n_expert = (len(parts) - n_gate) // n_experts
    n_params = n_gate + n_experts * n_expert
    gate_X, expert_X = mixture._split(X)
    resp = responsibilities(*mixture._log_joint(X, y))[0].T  # (n, K)

    curvature_gate = np.zeros((n_gate, n_gate))
    curvature_experts = np.zeros((n_experts, n_expert, n_expert))
    spread = np.zeros((n_params, n_params))
    experts_index = np.arange(n_experts)
    step = max(1, _CHUNK_ENTRIES // max(1, n_experts * n_params))
    for start in range(0, X.shape[0], step):
        rows = slice(start, start + step)
        weight = sample_weight[rows]
        h = resp[rows]
        weighted = weight[:, None] * h
        curvature_gate += gate._info_curvature(gate_X[rows], y[rows], weighted)
        curvature_experts += experts._info_curvature(expert_X[rows], y[rows], weighted)
        n_rows = h.shape[0]
        scores = np.zeros((n_rows, n_experts, n_params))
        scores[:, :, :n_gate] = gate._info_scores(gate_X[rows], y[rows])
        own = np.zeros((n_rows, n_experts, n_experts, n_expert))
        own[:, experts_index, experts_index] = experts._info_scores(
            expert_X[rows], y[rows]
        )
        scores[:, :, n_gate:] = own.reshape(n_rows, n_experts, -1)
        mean = np.matmul(h[:, None, :], scores)[:, 0]
        # sum_ik w_i h_ik s s^T - sum_i w_i sbar sbar^T, as two BLAS products.
        root = (np.sqrt(weighted)[:, :, None] * scores).reshape(-1, n_params)
        centre = np.sqrt(weight)[:, None] * mean
        spread += root.T @ root - centre.T @ centre

    gate_penalty = gate._info_penalty(gate_X, sample_weight)
    expert_penalty = experts._info_penalty(expert_X, sample_weight)
    information = -spread
    information[:n_gate, :n_gate] += curvature_gate + gate_penalty
    for k in range(n_experts):
        block = slice(n_gate + k * n_expert, n_gate + (k + 1) * n_expert)
        information[block, block] += curvature_experts[k] + expert_penalty[k]
    information = 0.5 * (information + information.T)
    return information, estimates


def _warn_caveats(mixture):
    """Warn when a part's fitted parameters are not a stationary point of
    the likelihood the information is the curvature of."""
    for part in (mixture.gate_, mixture.experts_):
        caveat = part._info_caveat() if "information" in part.capabilities else None
        if caveat:
            warn_user(
                f"{type(part).__name__}: {caveat}. The standard errors are those "
                "of the inverse negative Hessian of the log-likelihood at the "
                'fitted parameters; method="bootstrap" gives sampling standard '
                "errors of the fit itself.",
                RuntimeWarning,
            )


def _covariance(information):
    """Inverse of the information, with a warning and NaN standard errors
    along the directions where it is not positive definite."""
    values, vectors = np.linalg.eigh(information)
    scale = max(float(np.max(np.abs(values), initial=0.0)), 1e-300)
    good = values > 1e-12 * scale
    inverse = (vectors[:, good] / values[good]) @ vectors[:, good].T
    variance = np.diag(inverse).copy()
    if not np.all(good):
        # A parameter touching a flat or negative direction has no finite SE.
        touched = np.any(np.abs(vectors[:, ~good]) > 1e-8, axis=1)
        variance[touched] = np.nan
        warn_user(
            f"The observed information has {int(np.sum(~good))} non-positive "
            "eigenvalue(s): the fit is not at a strict maximum of the "
            "likelihood (not converged, a redundant expert, or a variance on "
            "its floor); the affected standard errors are NaN. Refit with a "
            'smaller tol or fewer experts, or use method="bootstrap".',
            RuntimeWarning,
        )
    return inverse, variance


# ------------------------------------------------------------- bootstrap
def _matching(reference, replicate):
    """The replicate's expert matched to each reference expert: the
    assignment maximizing the agreement of the responsibilities."""
    _, columns = linear_sum_assignment(-(reference.T @ replicate))
    return columns


def _bootstrap_replicate(mixture, X, y, sample_weight, seed, reference):
    """Estimates of one refit on rows drawn with replacement, its experts
    matched to the fitted ones; None when the refit lost an expert."""
    rng = np.random.RandomState(seed)
    n = sample_weight.shape[0]
    rows = rng.randint(n, size=n)
    model = copy.deepcopy(mixture)
    model.set_params(warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(
                _safe_indexing(X, rows), _safe_indexing(y, rows), sample_weight[rows]
            )
        except ValueError:  # e.g. a class missing from the drawn rows
            return None
    if model.n_experts_ != mixture.n_experts_:
        return None
    order = _matching(reference, model.responsibilities(X, y))
    for part in (model.gate_, model.experts_):
        if "pruning" not in part.capabilities:
            if not np.array_equal(order, np.arange(order.shape[0])):
                return None  # cannot reorder this part's experts
            continue
        part._keep(order)
    return _estimates(model)[0]


def _bootstrap_covariance(
    mixture, X, y, sample_weight, n_boot, n_jobs, random_state, verbose=0
):
    reference = mixture.responsibilities(X, y)
    seeds = check_random_state(random_state).randint(
        np.iinfo(np.int32).max, size=n_boot
    )
    runs = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_bootstrap_replicate)(mixture, X, y, sample_weight, seed, reference)
        for seed in seeds
    )
    runs = list(counted(runs, n_boot, "bootstrap refits", verbose))
    kept = [run for run in runs if run is not None]
    if len(runs) - len(kept):
        warn_user(
            f"{len(runs) - len(kept)} of {n_boot} bootstrap refits failed or lost "
            "an expert and were left out.",
            RuntimeWarning,
        )
    if len(kept) < 2:
        raise ValueError(
            "Fewer than two bootstrap refits kept every expert (or succeeded); "
            "the model may have more experts than the data support: fit fewer "
            'experts, or use method="observed".'
        )
    draws = np.vstack(kept)
    return np.var(draws, axis=0, ddof=1), draws


# ------------------------------------------------------------ the table
def _check_params(method, alpha, n_boot):
    if method not in ("observed", "bootstrap"):
        raise ValueError(
            f'method={method!r} is not supported; use "observed" (the observed '
            'information) or "bootstrap".'
        )
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0 < alpha < 1:
        raise ValueError(
            f"alpha={alpha!r} must be a number strictly between 0 and 1 (0.05 "
            "gives 95% intervals)."
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, Integral) or n_boot < 2:
        raise ValueError(f"n_boot={n_boot!r} must be an int of at least 2.")


def coef_table(
    estimator,
    X,
    y,
    sample_weight=None,
    method="observed",
    alpha=0.05,
    *,
    n_boot=200,
    n_jobs=None,
    random_state=None,
    verbose=0,
):
    """Wald table of the coefficients of every expert and of the gate.

    Estimates, standard errors, z statistics, two-sided p-values and
    confidence intervals, in flexmix's ``refit()`` layout: each expert's
    parameters (intercept first, then its input features; a Gaussian
    expert's noise variance; a logistic expert's log-odds of each class
    against the first class), then the gate's, the log-odds of each expert
    against the first expert (``g_k / g_0``). The standard errors come from
    the observed information of the mixture log-likelihood at the fitted
    parameters (Louis 1982, with the fit's penalties), or from a
    nonparametric bootstrap.

    Parameters
    ----------
    estimator : fitted mixture estimator
        A ``MixtureOfExpertsRegressor`` or ``MixtureOfExpertsClassifier``,
        one of their CV estimators (its ``best_estimator_`` is used) or a
        Pipeline ending in one, or a hierarchical estimator.
        ``method="observed"`` needs a gate and experts with the
        'information' capability: every gate (``SoftmaxGate``,
        ``ConstantGate``, ``GaussianGate``, ``TreeGate``) and every expert
        but ``EstimatorExpert`` (``LinearExpert``, ``StudentTExpert``,
        ``PoissonExpert``, ``LogisticExpert``), whose standard errors only
        the bootstrap gives.
    X : array-like of shape (n_samples, n_features)
        The inputs the model was fitted on.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The targets.
    sample_weight : array-like of shape (n_samples,), default=None
        The fit's sample weights, as frequency weights (a weight of 2
        counts a row twice).
    method : {"observed", "bootstrap"}, default="observed"
        ``"observed"``: the inverse of the observed information.
        ``"bootstrap"``: the standard deviation of the estimates over
        ``n_boot`` refits on rows drawn with replacement, each warm-started
        from the fitted model and its experts matched to the fitted ones
        (the assignment maximizing the agreement of the responsibilities on
        the data); refits that lose an expert are left out with a warning.
    alpha : float, default=0.05
        The intervals have coverage ``1 - alpha``.
    n_boot : int, default=200
        Bootstrap refits (``method="bootstrap"``).
    n_jobs : int, default=None
        Parallel bootstrap refits (joblib).
    random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap's draws.
    verbose : int, default=0
        1 shows the bootstrap's progress (refits done of ``n_boot``): on one
        line rewritten in place in a terminal, else a line at every tenth.

    Returns
    -------
    table : dict of ndarrays of shape (n_parameters,)
        ``part`` ("expert" or "gate"), ``expert`` (index; for the gate, the
        expert whose log-odds against expert 0 the row is), ``output``
        (output index, or the class index into ``classes_`` of a logistic
        expert's log-odds against class 0), ``term`` (feature name,
        ``"intercept"``, ``"variance"``, ``"cov(y0,y1)"``, ``"df"``),
        ``estimate``, ``std_error``, ``z``, ``p_value``, ``ci_low``,
        ``ci_high``; a hierarchy's table adds ``node`` (below).
        ``z`` and ``p_value`` are NaN for variances, covariances and
        degrees of freedom (zero is not a value to test them against); the
        intervals of variances and degrees of freedom are made on the log
        scale (``estimate * exp(+- z std_error / estimate)``), so they stay
        positive.
        ``pandas.DataFrame(table)`` shows it; :func:`summary` prints it.

        The rows of each part: a Gaussian expert's coefficients and noise
        variance per output, then with ``covariance_type="full"`` the
        covariances below the diagonal, ``"cov(yj,yi)"`` (output i); a t
        expert's the same entries of its scale matrix, then its degrees of
        freedom ``"df"`` (unless ``min_df == max_df`` fixes them). A
        ``GaussianGate``'s rows are the log-odds of each expert against
        expert 0 as a quadratic function of x, on ``[1, x]`` and
        ``"x0^2"``, ``"x0 x1"``... (full), ``"x0^2"``... (diag) or
        ``"|x|^2"`` (spherical): the conditional likelihood identifies
        these, not the regions' weights, means and covariances. A
        ``TreeGate``'s rows are each internal node's log-odds of its
        children against its first child: ``node`` is the node (-1 on the
        experts' rows) and ``expert`` the child, both numbered breadth
        first as in ``predict_node_proba``.

    See Also
    --------
    summary : The table as text, one block per expert and one for the gate.
    bootstrap_lrt : A test for the number of experts.
    mixexp.inspection.CoefficientDisplay : The table as a forest plot.

    Notes
    -----
    The Wald intervals are ``estimate +- z_{1 - alpha / 2} std_error`` (for
    variances and degrees of freedom, the same on the log scale), for the
    bootstrap too. Where the fitted parameters are not a stationary
    point of the likelihood (a ``GaussianGate``, fitted on the joint
    likelihood of x and y; a t expert's degrees of freedom on their
    bound), ``method="observed"`` warns and gives the inverse negative
    Hessian there. A variance on its floor (``min_variance``) or an
    expert that explains almost no rows leaves the information singular;
    the affected standard errors are then NaN, with a warning.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.inference import coef_table
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(500, 1))
    >>> y = np.where(X[:, 0] < 0, 1 - 2 * X[:, 0], 2 * X[:, 0]) + 0.1 * rng.randn(500)
    >>> moe = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    >>> table = coef_table(moe, X, y)
    >>> sorted(table)[:3], len(table["estimate"])  # 2 x 3 expert rows, 2 gate rows
    (['ci_high', 'ci_low', 'estimate'], 8)
    >>> bool(np.all(table["std_error"] > 0))
    True
    """
    _check_params(method, alpha, n_boot)
    mixture, transform = _fitted_mixture(estimator, "coef_table")
    X = transform(X)
    X_valid, y_encoded, weight = _prepared(mixture, X, y, sample_weight)
    estimates, labels, parts = _estimates(mixture)
    if method == "observed":
        _warn_caveats(mixture)
        information, _ = _information(mixture, X_valid, y_encoded, weight)
        variance = _covariance(information)[1]
    else:
        variance = _bootstrap_covariance(
            mixture, X, y, weight, n_boot, n_jobs, random_state, verbose
        )[0]
    return _table(estimates, np.sqrt(variance), labels, parts, alpha)


def _table(estimates, std_error, labels, parts, alpha):
    """The table's columns, the experts' rows first."""
    order = np.argsort(np.asarray(parts) == "gate", kind="stable")
    estimates, std_error = estimates[order], std_error[order]
    labels = [labels[i] for i in order]
    wald = np.array([label[3] for label in labels], dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(wald, estimates / std_error, np.nan)
    width = norm.ppf(1.0 - alpha / 2.0) * std_error
    low, high = estimates - width, estimates + width
    # Variances and degrees of freedom are positive: their intervals are
    # Wald intervals of the logarithm (delta method), mapped back.
    positive = np.isin([label[2] for label in labels], _POSITIVE_TERMS)
    positive &= estimates > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        factor = np.exp(width[positive] / estimates[positive])
    low[positive] = estimates[positive] / factor
    high[positive] = estimates[positive] * factor
    table = {
        "part": np.array([parts[i] for i in order], dtype=object),
        "expert": np.array([label[0] for label in labels], dtype=int),
        "output": np.array([label[1] for label in labels], dtype=int),
        "term": np.array([label[2] for label in labels], dtype=object),
        "estimate": estimates,
        "std_error": std_error,
        "z": z,
        "p_value": 2.0 * norm.sf(np.abs(z)),
        "ci_low": low,
        "ci_high": high,
    }
    if any(len(label) > 4 for label in labels):  # a tree gate's nodes
        table["node"] = np.array(
            [label[4] if len(label) > 4 else -1 for label in labels], dtype=int
        )
    return table


def summary(table, title=None):
    """The coefficient table as text: one block per expert, then the gate.

    The layout of a regression table in statistics packages, for printing
    (``mixexp fit`` prints it too).

    Parameters
    ----------
    table : dict
        A :func:`coef_table`.
    title : str, default=None
        A first line.

    Returns
    -------
    text : str
        Columns: term, estimate, standard error, z, p-value and the
        interval; rows of several outputs (or classes) are prefixed with
        ``[output]``.

    See Also
    --------
    coef_table : The table this function prints.
    mixexp.inspection.CoefficientDisplay : The table as a forest plot.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.inference import coef_table, summary
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(200, 1))
    >>> y = 1 + 2 * X[:, 0] + 0.5 * rng.randn(200)
    >>> moe = MixtureOfExpertsRegressor(1).fit(X, y)
    >>> print(summary(coef_table(moe, X, y)))
    Expert 0
    term       estimate  std.error       z  P>|z|  [0.025  0.975]
    intercept    0.9440     0.0338  27.941  0.000  0.8777  1.0102
    x0           1.8905     0.0595  31.775  0.000  1.7739  2.0071
    variance     0.2283     0.0228       .      .  0.1876  0.2777
    """
    missing = [name for name in COLUMNS if name not in table]
    if missing:
        raise ValueError(
            f"table lacks the columns {missing}; pass the dict coef_table returns."
        )
    part = np.asarray(table["part"])
    expert = np.asarray(table["expert"])
    output = np.asarray(table["output"])
    several = len(np.unique(output[part == "expert"])) > 1
    blocks = []
    keys = [("expert", k) for k in np.unique(expert[part == "expert"])]
    node = np.asarray(table.get("node", np.full(part.shape, -1)))
    if np.any((part == "gate") & (node >= 0)):  # a tree gate: a block per node
        keys += [("node", j) for j in np.unique(node[part == "gate"])]
    elif np.any(part == "gate"):
        keys.append(("gate", None))
    for kind, k in keys:
        if kind == "node":
            blocks.append(_node_block(table, part, expert, node, k))
            continue
        if kind == "expert":
            rows = np.flatnonzero((part == "expert") & (expert == k))
            header = f"Expert {k}"
            names = [
                (f"[{output[i]}] " if several else "") + str(table["term"][i])
                for i in rows
            ]
        else:
            rows = np.flatnonzero(part == "gate")
            header = "Gate"
            if not np.any(expert[rows] == 0):  # the softmax's relative rows
                header = "Gate (log-odds against expert 0)"
            names = [f"expert {expert[i]}: {table['term'][i]}" for i in rows]
        blocks.append(_render_block(header, names, rows, table))
    text = "\n\n".join(blocks)
    return text if title is None else f"{title}\n{text}"


def _node_block(table, part, child, node, j):
    """The block of a tree gate's node j: its children (numbered as nodes,
    breadth first; the leaves, after the n_internal nodes of the table, are
    also named as experts) against its first child."""
    n_internal = len(np.unique(node[part == "gate"]))

    def name(n):
        return f"node {n}" + (f" (expert {n - n_internal})" if n >= n_internal else "")

    rows = np.flatnonzero((part == "gate") & (node == j))
    header = f"Gate node {j} (log-odds against {name(child[rows].min() - 1)})"
    names = [f"{name(child[i])}: {table['term'][i]}" for i in rows]
    return _render_block(header, names, rows, table)


def _render_block(header, names, rows, table):
    def number(value, digits):
        return "." if not np.isfinite(value) else f"{value:.{digits}f}"

    estimate = np.asarray(table["estimate"], dtype=float)
    cells = [
        [
            name,
            number(estimate[i], 4),
            number(table["std_error"][i], 4),
            number(table["z"][i], 3),
            number(table["p_value"][i], 3),
            number(table["ci_low"][i], 4),
            number(table["ci_high"][i], 4),
        ]
        for name, i in zip(names, rows, strict=True)
    ]
    level = _level(table)
    head = [
        "term",
        "estimate",
        "std.error",
        "z",
        "P>|z|",
        f"[{level[0]}",
        f"{level[1]}]",
    ]
    widths = [max(len(row[j]) for row in [head, *cells]) for j in range(len(head))]
    lines = [header]
    for row in [head, *cells]:
        first = row[0].ljust(widths[0])
        rest = [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join([first, *rest]))
    return "\n".join(lines)


def _level(table):
    """The quantiles of the intervals, read off one row with a finite SE."""
    se = np.asarray(table["std_error"], dtype=float)
    ok = np.flatnonzero(np.isfinite(se) & (se > 0))
    if ok.size == 0:
        return ("low", "high")
    i = ok[0]
    z = (table["ci_high"][i] - table["estimate"][i]) / se[i]
    alpha = 2.0 * norm.sf(z)
    return (f"{alpha / 2:.3g}", f"{1 - alpha / 2:.3g}")


# ------------------------------------------------ number of experts
def _draw_targets(model, X, rng):
    """Targets drawn from a fitted mixture at the inputs X."""
    if hasattr(model, "sample_y"):
        draws = model.sample_y(X, n_samples=1, random_state=rng)
        return draws[..., 0]
    proba = model.predict_proba(X)
    cumulative = np.cumsum(proba, axis=1)
    u = rng.uniform(size=(proba.shape[0], 1)) * cumulative[:, -1:]
    codes = np.minimum((u >= cumulative).sum(axis=1), proba.shape[1] - 1)
    return model.classes_[codes]


def _lrt_statistic(template, X, y, sample_weight, n_experts):
    """The two fits and ``2 (l1 - l0)``."""
    fits = [
        clone(template).set_params(n_experts=k).fit(X, y, sample_weight=sample_weight)
        for k in n_experts
    ]
    weight = np.ones(len(y)) if sample_weight is None else sample_weight
    log_liks = [float(weight @ fit.log_likelihood(X, y)) for fit in fits]
    return 2.0 * (log_liks[1] - log_liks[0]), log_liks, fits


def _lrt_replicate(template, fitted_null, X, sample_weight, n_experts, seed):
    rng = np.random.RandomState(seed)
    y_star = _draw_targets(fitted_null, X, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _lrt_statistic(template, X, y_star, sample_weight, n_experts)[0]


def bootstrap_lrt(
    estimator,
    X,
    y,
    n_experts=(1, 2),
    *,
    sample_weight=None,
    n_boot=99,
    n_jobs=None,
    random_state=None,
    verbose=0,
):
    """Parametric bootstrap likelihood-ratio test of K0 against K1 experts.

    The statistic ``-2 (l0 - l1)`` of fits with ``n_experts[0]`` and
    ``n_experts[1]`` experts is compared with its distribution under the
    fitted K0 model, drawn by refitting both sizes on ``n_boot`` target
    vectors sampled from the K0 fit at the same inputs (McLachlan 1987;
    mixtools' ``boot.comp``). The statistic has no chi-squared limit here
    (the null is on the boundary), hence the bootstrap.

    Parameters
    ----------
    estimator : mixture estimator
        Its settings (gate, expert, ``n_init``, ...) are used for every fit;
        a CV estimator's ``best_estimator_``, when fitted.
    X : array-like of shape (n_samples, n_features)
        Inputs.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets.
    n_experts : tuple of two ints, default=(1, 2)
        K0 < K1.
    sample_weight : array-like of shape (n_samples,), default=None
        Frequency weights of the fits and the log-likelihoods.
    n_boot : int, default=99
        Bootstrap replicates.
    n_jobs : int, default=None
        Parallel replicates (joblib).
    random_state : int, RandomState instance or None, default=None
        Seeds the draws (the fits use the estimator's ``random_state``).
    verbose : int, default=0
        1 shows the progress (replicates done of ``n_boot``): on one line
        rewritten in place in a terminal, else a line at every tenth.

    Returns
    -------
    result : Bunch
        ``statistic`` (float), ``boot_statistics`` (ndarray of shape
        (n_boot,)), ``p_value`` (``(1 + #{T* >= T}) / (n_boot + 1)``),
        ``log_likelihoods`` (l0, l1) and ``n_experts``.

    See Also
    --------
    coef_table : Wald tests of the coefficients of a fitted mixture.
    mixexp.MixtureOfExpertsRegressor.bic : A cheaper way to compare numbers
        of experts.

    Notes
    -----
    A local optimum of the K1 fit makes the statistic too small (it can
    even be negative); a larger ``n_init`` guards against it.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.inference import bootstrap_lrt
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(200, 1))
    >>> y = np.where(X[:, 0] < 0, -3 * X[:, 0], 3 * X[:, 0]) + 0.1 * rng.randn(200)
    >>> test = bootstrap_lrt(
    ...     MixtureOfExpertsRegressor(random_state=0), X, y, n_boot=9, random_state=0
    ... )
    >>> float(test.p_value)  # the smallest possible with 9 replicates
    0.1
    """
    if (
        len(n_experts) != 2
        or not all(
            isinstance(k, Integral) and not isinstance(k, bool) for k in n_experts
        )
        or not 1 <= n_experts[0] < n_experts[1]
    ):
        raise ValueError(
            f"n_experts={n_experts!r} must be two ints K0 < K1, at least 1, "
            "such as (1, 2)."
        )
    _check_params("observed", 0.05, n_boot)
    n_experts = (int(n_experts[0]), int(n_experts[1]))
    template = getattr(estimator, "best_estimator_", estimator)
    if not hasattr(template, "n_experts") or not hasattr(template, "log_likelihood"):
        raise TypeError(
            "bootstrap_lrt needs a mixexp mixture estimator (such as "
            f"MixtureOfExpertsRegressor()), got {type(template).__name__}."
        )
    template = clone(template)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=float)
    statistic, log_liks, fits = _lrt_statistic(template, X, y, sample_weight, n_experts)
    seeds = check_random_state(random_state).randint(
        np.iinfo(np.int32).max, size=n_boot
    )
    boot = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_lrt_replicate)(template, fits[0], X, sample_weight, n_experts, seed)
        for seed in seeds
    )
    boot = np.asarray(
        list(counted(boot, n_boot, "bootstrap replicates", verbose)), dtype=float
    )
    p_value = (1.0 + np.sum(boot >= statistic)) / (n_boot + 1.0)
    return Bunch(
        statistic=statistic,
        boot_statistics=boot,
        p_value=float(p_value),
        log_likelihoods=tuple(log_liks),
        n_experts=n_experts,
    )
