"""The base estimator: validation, restarts, warm start and the fitted API.

Subclasses only say how targets are encoded and scored, which expert
component to use, and what the mixture predicts.
"""

import contextlib
import copy
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from scipy.sparse import issparse
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._dask import dask_rows, sharded_training_data, stream_blocks
from ._data import (
    FLOAT_DTYPES,
    TrainingData,
    check_magnitude,
    design_chunks,
    is_dask_collection,
)
from ._estep import e_step, responsibilities, routed, routing_share
from ._init import initialize_responsibilities, standardize_features
from ._online import new_state, online_step
from ._params import Interval
from ._solvers import REQUIRES, SOLVERS, objective, solvers_for
from .experts import EstimatorExpert
from .gates import SoftmaxGate, TreeGate


@contextlib.contextmanager
def _numeric_input(X):
    """Say what to do when X holds text, dates or categories (scikit-learn
    only says it cannot convert them, or numpy that it cannot promote)."""
    _refuse_non_numbers(X)
    try:
        yield
    except ValueError as exc:
        if "could not convert" not in str(exc):
            raise
        raise ValueError(
            f"X must be numeric, but {exc}. Encode text and categorical columns "
            "as numbers first, e.g. with OneHotEncoder or OrdinalEncoder in a "
            "Pipeline (sklearn.compose.ColumnTransformer for some columns)."
        ) from exc
    except TypeError as exc:  # objects float() refuses: dates, intervals, ...
        if "float() argument" not in str(exc):
            raise
        raise TypeError(
            f"X must be numeric, but {exc}. Convert such values to numbers "
            "first (dates to days since a reference date, intervals to their "
            "midpoints, ...), by hand or in a Pipeline "
            "(sklearn.compose.ColumnTransformer)."
        ) from exc


def _refuse_non_numbers(X):
    """Refuse date, time, period and text-category inputs: numpy would turn
    dates into tick counts, or fail with a message about dtype promotion."""
    columns = getattr(X, "columns", None)
    dtypes = getattr(X, "dtypes", None)
    if columns is None or dtypes is None:  # not a DataFrame
        dtype = getattr(X, "dtype", None)
        if getattr(dtype, "kind", None) in ("M", "m"):
            raise ValueError(
                f"X must be numeric, but has dtype {dtype} (dates or durations): "
                "convert it first, e.g. to days since a reference date with "
                "(X - start) / np.timedelta64(1, 'D')."
            )
        return
    for name, dtype in zip(columns, dtypes, strict=True):
        categories = getattr(dtype, "categories", None)
        if categories is not None and categories.dtype.kind in "biuf":
            continue  # a categorical of numbers converts to them
        if categories is not None:
            what = "categories"
            advice = (
                "Encode it as numbers first, with OneHotEncoder or OrdinalEncoder "
                "for that column in a Pipeline (sklearn.compose.ColumnTransformer)."
            )
        elif getattr(dtype, "kind", None) in ("M", "m") or hasattr(dtype, "freq"):
            what = "dates, times or durations"
            advice = (
                "Convert it to numbers first (e.g. days since a reference date, "
                "or calendar features), by hand or in a Pipeline "
                "(sklearn.compose.ColumnTransformer), or drop it."
            )
        else:
            continue
        raise ValueError(
            f"X must be numeric, but its column {name!r} has dtype {dtype} "
            f"({what}). {advice}"
        )


def check_targets(y, numeric_for=None, name="y"):
    """Refuse sparse targets, missing ones (None, NaN) and, for the estimator
    named ``numeric_for``, non-numbers, saying what to do: scikit-learn turns
    None into NaN after its finiteness check, and labels cannot sort None."""
    if issparse(y):
        raise TypeError(
            "y is a sparse matrix; mixexp needs dense targets: pass y.toarray() "
            "(a target is one or a few values per sample, so it costs little)."
        )
    y = np.asarray(y)
    if y.ndim == 0:  # None or a scalar: validation says y must be an array
        return
    if y.dtype.kind == "O":
        missing = _is_missing(y).astype(bool)
    else:
        missing = np.isnan(y) if y.dtype.kind in "fc" else False
    if np.any(missing):
        rows = np.unique(np.nonzero(missing)[0])
        raise ValueError(
            f"{name} has missing values (None or NaN) in {rows.shape[0]} row(s): "
            f"{rows[:10].tolist()}{' ...' if rows.shape[0] > 10 else ''}. Drop "
            "those samples, or impute their targets, first."
        )
    if numeric_for is not None and y.dtype.kind == "c":
        raise ValueError(
            "Complex data not supported: y has complex values; fit their real "
            "part and imaginary part as two outputs, np.c_[y.real, y.imag]."
        )
    if numeric_for is not None and y.dtype.kind not in "biuf":
        try:
            y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{numeric_for} needs numeric targets, got values of dtype "
                f"{y.dtype} such as {y.ravel()[:3].tolist()}. Encode them as "
                "numbers, or use MixtureOfExpertsClassifier for class labels."
            ) from exc


def _missing_value(value):
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT differ from themselves
    except TypeError:  # pandas.NA is neither equal nor unequal to itself
        return True


_is_missing = np.frompyfunc(_missing_value, 1, 1)


def _take(X, columns):
    """The given columns of X (X itself when they are all, in order)."""
    if columns.shape[0] == X.shape[1] and np.array_equal(
        columns, np.arange(X.shape[1])
    ):
        return X
    return X[:, columns]


PARTIAL_FIT_DOC = """Update the model with one batch of a stream (online EM).

The first call initializes the model from its batch (k-means, as in
``fit``); every call runs one step of online EM (Cappé & Moulines 2009):
the batch's sufficient statistics under the current parameters are folded
into running averages with step size ``t ** -0.6`` for the t-th batch, and
the M-step works on the averages (after two batches of burn-in). The softmax
components use online IRLS. ``solver``, ``loss``, ``gate_noise`` and
``balance_weight`` concern ``fit`` only; ``top_k`` applies. Later calls
continue the fitted model, so they refuse (with a ValueError) parameters that
change its shape since the first call, as ``warm_start`` does. Calling
``fit`` discards the running statistics.

Parameters
----------
X : array-like of shape (n_samples, n_features)
    Inputs of the batch.
y : array-like of shape ({shape})
    Targets of the batch.{classes}
sample_weight : array-like of shape (n_samples,), default=None
    Non-negative weights of the batch's samples.

Returns
-------
self : object
    The updated estimator.

Examples
--------
>>> import numpy as np
>>> from mixexp import {name}
>>> from mixexp.datasets import {maker}
>>> X, y = {maker}(2000, random_state=0)
>>> moe = {name}({k}, random_state=0)
>>> for _ in range(3):
...     for batch in np.array_split(np.arange(2000), 20):
...         moe = moe.partial_fit(X[batch], y[batch]{extra})
>>> moe.n_iter_
60
"""


# Shared paragraphs of the estimators' docstrings, filled in by
# ``routing_doc`` so the two estimators document routing in one place.
ROUTING_PARAMS_DOC = """    top_k : int or None, default=None
        Sparse gating (Shazeer et al. 2017; Mixtral routes each token to 2
        of 8 experts): each sample goes to the ``top_k`` experts with the
        largest gate logits, with the softmax renormalized over them, in
        training and in prediction. EM then restricts the responsibilities
        to those experts (EM trains dense first, then sparse), and
        ``predict`` evaluates only them. None is the dense gate. With
        ``top_k=1`` a sample's one expert is its whole posterior, so the
        likelihood gives the gate no gradient: use ``top_k >= 2`` with the
        gradient solvers.
    gate_noise : bool, default=False
        Noisy top-k gating (``solver="sgd"`` or ``"adam"``): Gaussian noise
        with a learned scale ``softplus(U x)`` on the gate logits during
        training, so experts near the top k get samples and gradient.
    balance_weight : float, default=0.0
        Strength of the Switch Transformer's load-balancing loss (Fedus et
        al. 2022), ``balance_weight * K * sum_i f_i P_i`` with ``f_i`` the
        fraction of the routing slots expert i gets in a batch and ``P_i``
        its mean gate probability; added to the loss of the gradient
        solvers (0 turns it off; 1e-2 is the Switch Transformer's value).
        It keeps routing from collapsing onto a few experts; see
        ``expert_load_``."""

EXPERT_LOAD_DOC = """    expert_load_ : ndarray of shape (n_experts,)
        Fraction of the routing slots each expert gets on the training
        data: each sample is routed to its ``top_k`` experts (to its most
        probable expert when ``top_k`` is None). Sums to one; uniform is
        ``1 / n_experts``. After ``partial_fit``, over the batches seen,
        each routed by the gate of its time."""


COMPONENT_PARAMS_DOC = """    gate : mixexp gate or None, default=None
        The gating model, cloned at fit: :class:`~mixexp.gates.SoftmaxGate`
        (the default; ``g(x) = softmax(V^T [x, 1])``),
        :class:`~mixexp.gates.GaussianGate` (``g_k(x)`` proportional to
        ``a_k N(x; m_k, S_k)``, Xu, Jordan & Hinton 1995) or
        :class:`~mixexp.gates.ConstantGate` (``g_k(x) = pi_k``, a mixture of
        regressions). Tune its settings as ``gate__alpha`` and so on.
    expert : estimator or None, default=None
        The experts, cloned at fit: a mixexp expert component ({experts}),
        or any scikit-learn {kind} whose ``fit`` accepts ``sample_weight``,
        of which K clones are fitted with the responsibilities as weights
        (:class:`~mixexp.experts.EstimatorExpert`, generalized EM). None is
        ``{default}()``. Tune its settings as ``expert__alpha`` and so on.
    gate_features : array-like of int or str, default=None
        Columns of X the gate sees (indices, or names when X is a pandas
        DataFrame): the concomitant variables of flexmix. None is all.
    expert_features : array-like of int or str, default=None
        Columns of X the experts see. None is all."""


def routing_doc(cls):
    """Fill the shared parameter paragraphs into a class docstring."""
    cls.__doc__ = (
        cls.__doc__.replace("    {routing_params}", ROUTING_PARAMS_DOC)
        .replace("    {expert_load}", EXPERT_LOAD_DOC)
        .replace(
            "    {component_params}",
            COMPONENT_PARAMS_DOC.format(**cls._COMPONENT_DOC),
        )
    )
    return cls


class BaseMixtureOfExperts(BaseEstimator, metaclass=ABCMeta):
    """Shared machinery of the mixture-of-experts estimators.

    Not for direct use: use :class:`~mixexp.MixtureOfExpertsRegressor` or
    :class:`~mixexp.MixtureOfExpertsClassifier`.
    """

    _parameter_constraints = {
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "gate": [HasMethods(["get_params", "set_params"]), None],
        "expert": [HasMethods(["get_params", "set_params"]), None],
        "gate_features": ["array-like", None],
        "expert_features": ["array-like", None],
        "solver": [StrOptions(set(SOLVERS))],
        "loss": [StrOptions({"likelihood", "competitive", "cooperative"})],
        "top_k": [Interval(Integral, 1, None, closed="left"), None],
        "gate_noise": ["boolean"],
        "balance_weight": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"kmeans", "random"})],
        "n_jobs": [Interval(Integral, None, None, closed="neither"), None],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    @abstractmethod
    def __init__(
        self,
        n_experts,
        *,
        gate,
        expert,
        gate_features,
        expert_features,
        solver,
        loss,
        top_k,
        gate_noise,
        balance_weight,
        max_iter,
        tol,
        n_init,
        init,
        n_jobs,
        batch_size,
        learning_rate_init,
        shuffle,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        random_state,
        warm_start,
        verbose,
    ):
        self.n_experts = n_experts
        self.gate = gate
        self.expert = expert
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.solver = solver
        self.loss = loss
        self.top_k = top_k
        self.gate_noise = gate_noise
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

    # ------------------------------------------------------ subclass hooks
    @abstractmethod
    def _default_expert(self):
        """The expert component used when ``expert`` is None."""

    @abstractmethod
    def _encode_fit_targets(self, y, data_kwargs):
        """Validate ``y`` at fit, set target attributes, return encoded y."""

    @abstractmethod
    def _encode_targets(self, y):
        """Encode ``y`` given at scoring time like the fit targets."""

    @abstractmethod
    def _score_components(self, gate, experts, X, y):
        """``score`` of the mixture made of these components on validated X
        and encoded y (early stopping scores a model still in training)."""

    @abstractmethod
    def _init_features(self, X, y):
        """Columns of the joint space clustered by the initialization."""

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the gate and the experts by maximum likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight counts as that many copies
            of the row.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._atomic(self._fit, X, y, sample_weight)

    def _check_training_options(self):
        """Refuse option combinations the chosen solver cannot honour."""
        for name, component in (
            ("gate", self._make_gate()),
            ("expert", self._make_experts()),
        ):
            missing = REQUIRES[self.solver] - component.capabilities
            if missing:
                allowed = solvers_for(component.capabilities)
                hint = (
                    "use " + " or ".join(f"solver={s!r}" for s in allowed)
                    if allowed
                    else "no solver can train it"
                )
                raise ValueError(
                    f"{name}={type(component).__name__}(...) cannot be trained "
                    f"by solver={self.solver!r}, which needs the capabilities "
                    f"{sorted(missing)} it does not declare (it declares "
                    f"{sorted(component.capabilities)}); {hint}."
                )
        if self.top_k is not None and self.top_k > self.n_experts:
            raise ValueError(
                f"top_k={self.top_k} is larger than n_experts={self.n_experts}; "
                "use top_k <= n_experts, or top_k=None for the dense gate."
            )
        if self.solver == "em" and self.loss != "likelihood":
            raise ValueError(
                f"loss={self.loss!r} needs a gradient solver (solver='gd'); EM "
                "maximizes the likelihood, so use loss='likelihood' with "
                "solver='em'."
            )
        if self.gate_noise and self.solver not in ("sgd", "adam"):
            raise ValueError(
                "gate_noise=True needs a stochastic gradient solver, not "
                f"solver={self.solver!r}: use solver='adam' or 'sgd', or set "
                "gate_noise=False."
            )
        if self.balance_weight > 0 and self.solver == "em":
            raise ValueError(
                f"balance_weight={self.balance_weight} is a penalty of the "
                "gradient solvers, not of EM: use solver='gd', 'sgd' or 'adam', "
                "or set balance_weight=0."
            )
        self._check_loss()

    def _fit(self, X, y, sample_weight):
        warm = self.warm_start and hasattr(self, "gate_")
        if is_dask_collection(X):
            data = sharded_training_data(self, X, y, sample_weight, warm)
        else:
            data = self._in_memory_training_data(X, y, sample_weight, warm)
        n_init = 1 if warm else self.n_init
        random_state = check_random_state(self.random_state)
        if n_init == 1:
            states = [random_state]
        else:  # a seed per restart, so they may run in any order
            seeds = random_state.randint(np.iinfo(np.int32).max, size=n_init)
            states = [np.random.RandomState(seed) for seed in seeds]
        # Threads: the restarts share the training arrays, and numpy releases
        # the GIL in the products that dominate a pass.
        fits = (
            delayed(self._fit_once)(i, data.restart(state), warm)
            for i, state in enumerate(states)
        )
        if len(states) == 1:  # joblib's set-up alone takes 0.1 ms
            runs = (fn(*args, **kwargs) for fn, args, kwargs in fits)
        else:
            runs = Parallel(
                n_jobs=self.n_jobs, prefer="threads", return_as="generator"
            )(fits)
        best = None
        for run in runs:  # keep the first of the best, as a sequential loop
            if best is None or run[2].final < best[2].final:
                best = run
        gate, experts, history, data = best
        if not history.converged:
            warnings.warn(
                history.warning
                or f"solver={self.solver!r} did not converge in {self.max_iter} "
                f"iterations (n_init={self.n_init}); the last change of the "
                f"training objective exceeded tol={self.tol}. Increase max_iter, "
                "raise tol, or standardize the inputs.",
                ConvergenceWarning,
                stacklevel=3,  # the caller of fit, past sklearn's _fit_context
            )
        lower_bounds = history.lower_bounds
        if not lower_bounds:  # a loss without a likelihood: evaluate it once
            log_likelihood = e_step(gate, experts, data).log_likelihood
            lower_bounds = [objective(log_likelihood, gate, experts, data.total_weight)]
        gate._end_fit()
        experts._end_fit()
        self.gate_ = gate
        self.experts_ = experts
        self.expert_load_ = routing_share(self._routed_weight(gate, data))
        self.loss_curve_ = list(history.loss_curve)
        self.lower_bounds_ = np.asarray(lower_bounds)
        self.lower_bound_ = float(lower_bounds[-1])
        self.n_iter_ = len(history.loss_curve)
        self.n_iter_dense_ = history.n_iter_dense
        self.converged_ = history.converged
        self.__dict__.pop("_online_state", None)  # partial_fit starts afresh
        return self

    def _in_memory_training_data(self, X, y, sample_weight, warm):
        """Validate the arrays of ``fit`` and make its TrainingData."""
        if warm:
            try:
                validate_data(self, X, reset=False, ensure_2d=True, dtype=None)
            except ValueError as exc:
                raise ValueError(
                    f"warm_start=True but X does not match the previous fit: {exc} "
                    "Set warm_start=False to fit from scratch."
                ) from exc
        X, y, sample_weight = self._validate_training_input(X, y, sample_weight)
        self._check_fit_setup(int(np.count_nonzero(sample_weight)), warm)
        data_kwargs = {}
        y_encoded = self._encode_fit_targets(y, data_kwargs)
        data = self._training_data(X, y_encoded, sample_weight, data_kwargs)
        if not warm:
            standardize_features(data, self._init_features)
        return data

    def _check_fit_setup(self, n_weighted, warm):
        """Checks of ``fit`` once the input is validated: the options, the
        number of experts against the ``n_weighted`` rows of positive weight,
        and the gate's and experts' features."""
        self._check_training_options()
        if warm:
            self._check_structure("warm_start")
        self._check_n_experts(n_weighted)
        self._resolve_features()

    def _fit_once(self, index, data, warm):
        """One initialization and its solver run, on its own ``data``."""
        if warm:
            gate, experts = self._warm_components()
            self._check_warm_components(gate, experts, data)
            gate._prepare(data)
            experts._prepare(data)
        else:
            gate, experts = self._initialize(data, data.random_state)
        if self.verbose:
            print(f"Initialization {index}")
        history = SOLVERS[self.solver](gate, experts, data, self)
        if self.verbose:
            status = "converged" if history.converged else "did not converge"
            print(
                f"Initialization {index} {status} after "
                f"{len(history.loss_curve)} iterations, "
                f"loss = {history.loss_curve[-1]:.6f}"
            )
        return gate, experts, history, data

    def _check_loss(self):
        """Refuse a loss the experts cannot be trained on."""

    def _validate_training_input(self, X, y, sample_weight, reset=True):
        numeric = self._target_check().get("y_numeric", False)
        check_targets(y, type(self).__name__ if numeric else None)
        with _numeric_input(X):
            X, y = validate_data(
                self,
                X,
                y,
                reset=reset,
                dtype=FLOAT_DTYPES,
                ensure_min_samples=2 if reset else 1,
                **self._target_check(),
            )
        check_magnitude(X, "X")
        weights = None if sample_weight is None else np.asarray(sample_weight)
        if weights is not None and weights.dtype.kind in "USO":
            try:
                weights = weights.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"sample_weight must be numeric, got {exc}; pass one "
                    "non-negative number per sample."
                ) from exc
        if weights is not None and weights.dtype.kind in "biuf":
            if np.any(weights < 0):
                raise ValueError(
                    "sample_weight has negative values; weights must be >= 0 "
                    "(a weight of 0 leaves the row out)."
                )
            if weights.size and not np.any(weights):
                raise ValueError(
                    "sample_weight is zero for every sample; give some samples a "
                    "positive weight."
                )
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if not np.any(sample_weight > 0):
            raise ValueError(
                "sample_weight is zero for every sample; give some samples a "
                "positive weight."
            )
        return X, y, sample_weight

    def _check_n_experts(self, n_weighted):
        if self.n_experts > n_weighted:
            raise ValueError(
                f"n_experts={self.n_experts} is larger than the number of samples "
                f"with positive weight ({n_weighted}); use at most {n_weighted} "
                "experts or provide more data."
            )

    def _resolve_features(self):
        """Set ``gate_features_`` and ``expert_features_``."""
        self.gate_features_, self.expert_features_ = self._feature_columns()

    def _feature_columns(self):
        """Column indices of the gate's and the experts' inputs that
        ``gate_features`` and ``expert_features`` ask for."""
        columns = []
        for role in ("gate", "expert"):
            spec = getattr(self, role + "_features")
            columns.append(
                np.arange(self.n_features_in_)
                if spec is None
                else self._feature_indices(np.asarray(spec), role + "_features")
            )
        return tuple(columns)

    def _feature_indices(self, spec, name):
        if spec.ndim != 1 or spec.shape[0] == 0:
            raise ValueError(
                f"{name} must be a non-empty list of column indices or names, "
                f"got {spec.tolist()!r}."
            )
        if spec.dtype.kind in "OUS":
            names = getattr(self, "feature_names_in_", None)
            if names is None:
                raise ValueError(
                    f"{name} names columns ({spec.tolist()}) but X has no column "
                    "names; pass a pandas DataFrame or give column indices."
                )
            missing = [c for c in spec.tolist() if c not in set(names.tolist())]
            if missing:
                raise ValueError(
                    f"{name} has names not among the columns of X: {missing}; "
                    f"the columns are {names.tolist()}."
                )
            lookup = {c: i for i, c in enumerate(names.tolist())}
            return np.array([lookup[c] for c in spec.tolist()], dtype=np.intp)
        if spec.dtype.kind not in "iu" or np.any(
            (spec < 0) | (spec >= self.n_features_in_)
        ):
            raise ValueError(
                f"{name}={spec.tolist()} must hold column indices in "
                f"[0, {self.n_features_in_}) or column names."
            )
        return spec.astype(np.intp)

    def _split(self, X):
        """The gate's and the experts' inputs of validated X (the experts'
        before their own feature map, e.g. a polynomial expansion)."""
        return _take(X, self.gate_features_), _take(X, self.expert_features_)

    def _training_data(self, X, y_encoded, sample_weight, data_kwargs):
        n_targets = data_kwargs.get("n_classes", y_encoded.shape[-1])
        gate_X, expert_X = self._split(X)
        expert_X = self._make_experts()._features(expert_X)
        width = max(gate_X.shape[1], expert_X.shape[1])
        data = TrainingData(
            X,
            y_encoded,
            sample_weight,
            self.n_experts,
            row_width=self.n_experts * (width + 2 + n_targets),
            inputs={"gate": gate_X, "experts": expert_X},
        )
        for key, value in data_kwargs.items():
            setattr(data, key, value)
        return data

    def _atomic(self, method, *args):
        """Run a fitting method; if it fails, restore the fitted attributes so
        a failed call leaves the previous model exactly as it was."""
        fitted = {k: v for k, v in vars(self).items() if k.endswith("_")}
        online = getattr(self, "_online_state", None)
        try:
            return method(*args)
        except BaseException:
            for name in [k for k in vars(self) if k.endswith("_")]:
                delattr(self, name)
            vars(self).update(fitted)
            self.__dict__.pop("_online_state", None)
            if online is not None:
                self._online_state = online
            raise

    def _partial_fit(self, X, y, sample_weight, classes=None):
        """One batch of online EM (see ``partial_fit``); a dask array is a
        stream of batches, its row blocks."""
        if is_dask_collection(X):
            return stream_blocks(self, X, y, sample_weight, classes)
        first = not hasattr(self, "gate_")
        if first:
            self._check_loss()
            self._check_online()
        else:
            self._check_structure("partial_fit")
        X, y, sample_weight = self._validate_training_input(
            X, y, sample_weight, reset=first
        )
        data_kwargs = {}
        if first:
            self._check_n_experts(int(np.count_nonzero(sample_weight)))
            self._resolve_features()
            y_encoded = self._encode_first_batch(y, classes, data_kwargs)
        else:
            y_encoded = self._encode_targets(y)
            self._target_kwargs(data_kwargs)
        data = self._training_data(X, y_encoded, sample_weight, data_kwargs).restart(
            check_random_state(self.random_state)
        )
        state = getattr(self, "_online_state", None)
        if state is None:
            state = new_state()
            state["offset"] = dict(data.offset)
        else:
            state = copy.deepcopy(state)
            data.offset.update(state["offset"])
            data.cache.update(state["cache"])
        if first:
            standardize_features(data, self._init_features)
            gate, experts = self._initialize(data, data.random_state)
        else:
            gate, experts = self._warm_components()
            self._check_warm_components(gate, experts, data)
            gate._prepare(data)
            experts._prepare(data)
        state["cache"] = dict(data.cache)
        state["cache"].pop("gate_bound_grams", None)
        for component in (gate, experts):
            component._prepare_online()
        loss = online_step(gate, experts, data, state)
        gate._end_fit()
        experts._end_fit()
        self.gate_, self.experts_ = gate, experts
        state["load"] = state.get("load", 0.0) + self._routed_weight(gate, data)
        self.expert_load_ = routing_share(state["load"])
        self.loss_curve_ = ([] if first else list(self.loss_curve_)) + [loss]
        self.lower_bounds_ = -np.asarray(self.loss_curve_)
        self.lower_bound_ = float(self.lower_bounds_[-1])
        self.n_iter_ = len(self.loss_curve_)
        self.n_iter_dense_ = 0 if first else getattr(self, "n_iter_dense_", 0)
        self.converged_ = False
        self._online_state = state
        return self

    def _check_online(self):
        """Refuse partial_fit for options it cannot honour."""
        if self.top_k is not None and self.top_k > self.n_experts:
            self._check_training_options()  # raises the top_k error

    def _online_possible(self):
        """Whether partial_fit is available (``available_if``): the gate and
        the experts must have online updates."""
        for name, make in (("gate", self._make_gate), ("expert", self._make_experts)):
            try:
                component = make()
            except (TypeError, ValueError):
                return True  # partial_fit reports the bad setting itself
            if "online" not in component.capabilities:
                raise AttributeError(
                    f"partial_fit is not available with {name}={component!r}, "
                    "which does not declare the 'online' capability: it has no "
                    "online update; use fit."
                )
        return True

    @staticmethod
    def _routed_weight(gate, data):
        """Sample weight routed to each expert (see ``expert_load_``)."""
        params = gate._params(data)
        return data.reduce(
            lambda part, rows, Xt: {
                "load": routed(gate._log_proba(Xt, params)[0], gate.top_k)
                @ part.sample_weight[rows]
            },
            "gate",
        )["load"]

    def _target_check(self):
        return {}

    def _make_gate(self):
        """A new gate: a clone of ``gate`` (SoftmaxGate by default) with the
        estimator's routing options."""
        gate = SoftmaxGate() if self.gate is None else clone(self.gate)
        if getattr(gate, "_role", None) != "gate":
            raise TypeError(
                f"gate={self.gate!r} is not a mixexp gate; use "
                "mixexp.gates.SoftmaxGate or mixexp.gates.GaussianGate."
            )
        if isinstance(gate, TreeGate):
            raise TypeError(
                f"gate={self.gate!r} is a tree of gates: use Hierarchical"
                f"{type(self).__name__}(depth={gate.depth}, branching="
                f"{gate.branching}), with gate=SoftmaxGate(...) for its nodes."
            )
        top_k = self.top_k
        if top_k is not None and top_k >= self.n_experts:
            top_k = None  # keeping every expert is the dense gate
        if "sparse_routing" in gate.capabilities:
            if self.gate is not None and (gate.top_k is not None or gate.noise):
                raise ValueError(
                    "Set top_k and gate_noise on the estimator, not on its gate: "
                    f"gate={self.gate!r} has top_k={gate.top_k}, noise={gate.noise}."
                )
            return gate.set_params(top_k=top_k, noise=self.gate_noise)
        if self.top_k is not None or self.gate_noise:
            raise ValueError(
                f"top_k and gate_noise need gate=SoftmaxGate(), not "
                f"{type(gate).__name__}; leave them at None and False."
            )
        return gate

    def _make_experts(self):
        """A new expert component: a clone of ``expert`` (the estimator's
        default component when None), wrapping a scikit-learn estimator in
        :class:`~mixexp.experts.EstimatorExpert`."""
        expert = self.expert
        if expert is None:
            return self._default_expert()
        if getattr(expert, "_role", None) == "experts":
            component = clone(expert)
        elif hasattr(expert, "fit") and not hasattr(expert, "_m_step"):
            component = EstimatorExpert(clone(expert))
        else:
            raise TypeError(
                f"expert={expert!r} is neither a mixexp expert nor a "
                "scikit-learn estimator with fit."
            )
        if component._task != self._task:
            raise ValueError(
                f"expert={expert!r} is not a {self._task} expert, which "
                f"{type(self).__name__} needs."
            )
        return component

    def _initialize(self, data, random_state):
        """New components fitted to k-means (or random) responsibilities."""
        gate, experts = self._make_gate(), self._make_experts()
        for component in (gate, experts):
            component._prepare(data)
            component._reset(data)
        initialize_responsibilities(data, self.init, random_state, self._arrange_leaves)
        # For EM only the experts learn from the clusters; the gate stays
        # uniform so the first E-step assigns samples by how well each expert
        # fits them (a gate fitted to hard cluster labels is so sharp that EM
        # would never move samples between experts again). Gradient solvers
        # weight each expert's updates by the gate itself, so a uniform gate
        # would drag every expert towards the global fit: their gate takes
        # one M-step towards the clusters.
        # A top-k gate cannot start uniform either: every sample would go to
        # the same k experts.
        gate_learns = self.solver != "em" or gate.top_k is not None
        state = e_step(gate, experts, data, fixed_resp=True, gate_pass=gate_learns)
        experts._m_step(state.expert_stats, data)
        if gate_learns:
            gate._m_step(state.gate_stats, data)
            gate._pending = None
        return gate, experts

    def _arrange_leaves(self, centres):
        """Reorder the initial cluster centres among the experts (a hierarchy
        puts near clusters on sibling leaves); the flat gate does not care."""
        return centres

    def _warm_components(self):
        """Copies of the fitted components with the estimator's current
        settings (``gate__alpha``, ``top_k``, ... may have changed since; the
        structure may not, see ``_check_structure``)."""
        gate = copy.deepcopy(self.gate_)
        experts = copy.deepcopy(self.experts_)
        gate.set_params(**self._make_gate().get_params())
        experts.set_params(**self._make_experts().get_params())
        return gate, experts

    def _structure(self, fitted, design=True):
        """What the shapes of the fitted arrays follow, for the fitted model
        (``fitted=True``) or for the one the current parameters describe.

        A dict of readable values: the number of experts, the gate (its type,
        and a tree's shape), the experts (their type and, with ``design``,
        the width of their design after their own feature map, such as a
        degree) and the columns each sees. Continuing a fit needs it
        unchanged.
        """
        if fitted:
            gate, experts = self.gate_, self.experts_
            n_experts = self.expert_load_.shape[0]
            gate_columns, expert_columns = self.gate_features_, self.expert_features_
        else:
            gate, experts = self._make_gate(), self._make_experts()
            n_experts = self.n_experts
            gate_columns, expert_columns = self._feature_columns()
        gate_name = type(gate).__name__
        if hasattr(gate, "depth"):  # a tree of gates
            gate_name += f"(depth={gate.depth}, branching={gate.branching})"
        expert_name = type(experts).__name__
        if design:
            width = experts._features(np.zeros((1, expert_columns.shape[0])))
            expert_name += f" on {width.shape[1]} design features"
        return {
            "n_experts": n_experts,
            "the gate": gate_name,
            "the expert": expert_name,
            "gate_features": gate_columns.tolist(),
            "expert_features": expert_columns.tolist(),
        }

    def _check_structure(self, caller):
        """Refuse to continue the fitted model (``caller`` is "warm_start" or
        "partial_fit") with parameters that change its structure."""
        # Experts of the same settings have the same design: skip making one
        # (a polynomial expansion costs more than the rest of the check).
        experts = self._make_experts()
        design = type(experts) is not type(self.experts_) or (
            experts.get_params(deep=False) != self.experts_.get_params(deep=False)
        )
        old = self._structure(fitted=True, design=design)
        new = self._structure(fitted=False, design=design)
        changes = [
            f"{k} changed from {old[k]} to {new[k]}" for k in old if old[k] != new[k]
        ]
        if not changes:
            return
        changed = "; ".join(changes)
        if caller == "warm_start":
            raise ValueError(
                f"warm_start=True but {changed} since the last fit; set "
                "warm_start=False to fit from scratch."
            )
        raise ValueError(
            f"partial_fit continues the fitted model, but {changed} since it "
            "was fitted; set the parameters back, or call fit to "
            "start from scratch."
        )

    def _check_warm_components(self, gate, experts, data):
        """Refuse targets the fitted components cannot continue on."""

    # -------------------------------------------------------- fitted model
    def _validate_X(self, X):
        check_is_fitted(self)
        with _numeric_input(X):
            X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        return check_magnitude(X, "X")

    @dask_rows
    def predict_gate_proba(self, X):
        """Gate probabilities: which expert is in charge of each input.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        gate_proba : ndarray of shape (n_samples, n_experts)
            g_k(x); each row sums to one.
        """
        return self.gate_.predict_proba(self._split(self._validate_X(X))[0])

    def _mix(self, X, dense):
        """sum_k g_k(x) v_k(x) on validated X, for expert outputs v (the means
        or class probabilities). A sparse gate evaluates only each sample's
        ``top_k`` experts; ``dense(gate_X, expert_X)`` gives (gate, values)
        otherwise."""
        gate_X, expert_X = self._split(X)
        if self.gate_.top_k is None:
            gate, values = dense(gate_X, expert_X)
            return np.einsum("nk,nk...->n...", gate, values)
        parts = []
        for start in range(0, X.shape[0], 8192):
            block = slice(start, start + 8192)
            samples, experts, weights = self.gate_.route(gate_X[block])
            values = self.experts_._predict_pairs(expert_X[block], samples, experts)
            starts = np.flatnonzero(np.diff(samples, prepend=-1))
            parts.append(np.add.reduceat(values * weights[:, None], starts, axis=0))
        return np.concatenate(parts)

    def _log_joint(self, X, y):
        """log g_k(x_i) and log P_k(y_i | x_i), each (n_experts, n_samples),
        on validated, encoded inputs."""
        gate_params = self.gate_._params()
        expert_params = self.experts_._params()
        gate_X, expert_X = self._split(X)
        expert_X = self.experts_._features(expert_X)
        log_gate = np.empty((self.expert_load_.shape[0], X.shape[0]))
        log_lik = np.empty_like(log_gate)
        for (rows, Xg), (_, Xe) in zip(
            design_chunks(gate_X, 0.0, 8192),
            design_chunks(expert_X, 0.0, 8192),
            strict=True,
        ):
            log_gate[:, rows] = self.gate_._log_proba(Xg, gate_params)[0]
            log_lik[:, rows] = self.experts_._log_likelihood(
                Xe, y[rows], expert_params
            )[0]
        # A generative gate's log weights carry log p(x): normalize them.
        log_gate -= logsumexp(log_gate, axis=0)
        return log_gate, log_lik

    def _validate_Xy(self, X, y):
        X = self._validate_X(X)
        check_targets(y)
        y = self._encode_targets(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} samples but y has {y.shape[0]}; pass one "
                "target per row of X."
            )
        return X, y

    @dask_rows
    def responsibilities(self, X, y):
        """Posterior probability of each expert given input and target.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Observed targets.

        Returns
        -------
        responsibilities : ndarray of shape (n_samples, n_experts)
            h_k(x, y) = g_k(x) P_k(y | x) / sum_j g_j(x) P_j(y | x).

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> moe.responsibilities(X[:4], y[:4]).sum(axis=1)
        array([1., 1., 1., 1.])
        """
        return responsibilities(*self._log_joint(*self._validate_Xy(X, y)))[0].T

    @dask_rows
    def log_likelihood(self, X, y):
        """Log-likelihood of each sample under the mixture.

        This is log p(y | x), not the estimator's ``score`` (which is R² or
        accuracy, what cross-validation tools optimize).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Observed targets.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            log sum_k g_k(x) P_k(y | x).

        See Also
        --------
        mixexp.metrics.log_likelihood_scorer : Its mean on held-out data, as a
            scorer for GridSearchCV and cross_validate.

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> moe.log_likelihood(X[:4], y[:4]).shape
        (4,)
        """
        return responsibilities(*self._log_joint(*self._validate_Xy(X, y)))[1]

    def _n_parameters(self):
        """Free parameters of the gate and the experts."""
        check_is_fitted(self)
        return self.gate_._n_parameters() + self.experts_._n_parameters()

    def bic(self, X, y):
        """Bayesian information criterion on (X, y); lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        bic : float
            -2 log-likelihood + n_parameters * log(n_samples).
        """
        log_lik = self.log_likelihood(X, y)
        return -2.0 * log_lik.sum() + self._n_parameters() * np.log(log_lik.shape[0])

    def aic(self, X, y):
        """Akaike information criterion on (X, y); lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        aic : float
            -2 log-likelihood + 2 n_parameters.
        """
        return -2.0 * self.log_likelihood(X, y).sum() + 2.0 * self._n_parameters()
