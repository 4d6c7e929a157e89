"""The base estimator: validation, restarts, warm start and partial_fit (the
fitted API is ``_fitted.FittedMixture``).

Subclasses only say how targets are encoded and scored, which expert
component to use, and what the mixture predicts.
"""

import copy
from abc import ABCMeta, abstractmethod
from dataclasses import fields
from functools import partial
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, StrOptions

from ._dask import (
    check_blockwise,
    check_sharded_input,
    check_sharded_solver,
    sharded_targets,
    sharded_training_data,
    stream_blocks,
)
from ._data import is_dask_collection
from ._em import History, objective, online_em, routed_weight, start_from_clusters
from ._estep import e_step, routing_share
from ._fitted import FittedMixture
from ._init import standardize_features
from ._params import Interval, ParamNamesOnce
from ._prune import prune_degenerate
from ._solvers import SOLVERS, TrainingSettings, check_options
from ._validation import (
    DataMaker,
    check_same_structure,
    check_warm_features,
    expert_component,
    feature_columns,
    take,
    validate_training_input,
    warn_user,
)
from .gates import SoftmaxGate, TreeGate


def atomic(estimator, method, *args):
    """Run a fitting method of ``estimator``; if it fails, restore its fitted
    attributes (and partial_fit's state) so that a failed call leaves the
    previous model exactly as it was."""
    fitted = {k: v for k, v in vars(estimator).items() if k.endswith("_")}
    online = getattr(estimator, "_online_state", None)
    try:
        return method(*args)
    except BaseException:
        for name in [k for k in vars(estimator) if k.endswith("_")]:
            delattr(estimator, name)
        vars(estimator).update(fitted)
        estimator.__dict__.pop("_online_state", None)
        if online is not None:
            estimator._online_state = online
        raise


class BaseMixtureOfExperts(
    FittedMixture, ParamNamesOnce, BaseEstimator, metaclass=ABCMeta
):
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

    # The one signature of the flat estimators (documented in ``_docs``).
    def __init__(
        self,
        n_experts=4,
        *,
        gate=None,
        expert=None,
        gate_features=None,
        expert_features=None,
        solver="em",
        loss="likelihood",
        top_k=None,
        gate_noise=False,
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

    def set_params(self, **params):
        """Set the parameters of this estimator and of its gate and expert.

        As scikit-learn's ``BaseEstimator.set_params``; a component's own
        parameters (``gate__alpha``, ``expert__degree``) need the component
        itself first: ``gate=None`` and ``expert=None`` stand for defaults
        made at fit, which have no parameters to set beforehand.

        Parameters
        ----------
        **params : dict
            Estimator parameters as keyword arguments, and
            ``<component>__<parameter>`` for those of ``gate`` and ``expert``.

        Returns
        -------
        self : object
            The estimator.

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.gates import SoftmaxGate
        >>> model = MixtureOfExpertsRegressor(gate=SoftmaxGate())
        >>> model.set_params(gate__alpha=1e-3).gate
        SoftmaxGate(alpha=0.001)
        """
        defaults = {"gate": "SoftmaxGate", "expert": None}
        for key in params:
            name, nested, parameter = key.partition("__")
            if not nested or name not in defaults:
                continue
            if params.get(name, getattr(self, name, None)) is None:
                default = defaults[name] or type(self._default_expert()).__name__
                raise ValueError(
                    f"Cannot set {key}: {name}=None stands for the default "
                    f"{default}, made at fit. Pass the component to set its "
                    f"{parameter}: {type(self).__name__}({name}={default}("
                    f"{parameter}=...)), or in a search, "
                    f"{{{name!r}: [{default}()], {key!r}: [...]}}."
                )
        return super().set_params(**params)

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

    def _check_training_options(self, gate=None, experts=None):
        """Refuse parts and option combinations the chosen solver cannot
        honour (``gate`` and ``experts``: the fit's; None makes new ones)."""
        if gate is None:
            gate, experts = self._make_gate(), self._make_experts()
        names = ("loss", "top_k", "n_experts", "gate_noise", "balance_weight")
        check_options(self.solver, gate, experts, **self._param_values(names))
        self._check_loss()

    def _training_settings(self, accelerate=True):
        """What the solvers read of the estimator, made once per fit."""
        names = {f.name for f in fields(TrainingSettings)}
        names -= {"task", "score", "accelerate"}
        return TrainingSettings(
            task=self._task,
            score=self._score_components,
            accelerate=accelerate,
            **self._param_values(names),
        )

    def _param_values(self, names):
        """The estimator's parameters of these names, as a dict."""
        return {name: getattr(self, name) for name in names}

    def _fit_from_responsibilities(
        self, X, y, sample_weight, resp, check_input=True, abandon_at=0, accelerate=True
    ):
        """Fit from a first M-step on the responsibilities ``resp`` (K,
        n_samples) instead of k-means clusters (None: from them): the split
        path's step from a fitted parent (``mixexp._selection``).

        ``check_input=False`` trusts X, y and the weights as this estimator's
        own validation returns them (``_validate_training_input``), as the
        cross-validated estimators pass the rows of their folds. The fit
        raises ``mixexp._prune.Abandoned`` (and stays unfitted) when pruning
        would leave ``abandon_at`` experts or fewer. ``accelerate=False``
        runs EM without SQUAREM."""
        self._validate_params()
        return self._atomic(
            self._fit, X, y, sample_weight, resp, check_input, abandon_at, accelerate
        )

    def _fit(
        self,
        X,
        y,
        sample_weight,
        start_resp=None,
        check_input=True,
        abandon_at=0,
        accelerate=True,
    ):
        warm = self.warm_start and hasattr(self, "gate_")
        # A start from responsibilities needs no k-means features.
        clustered = not warm and start_resp is None
        data, *prototypes = self._prepare_fit(
            X, y, sample_weight, warm, clustered, check_input
        )
        settings = self._training_settings(accelerate)
        n_init = 1 if warm or start_resp is not None else self.n_init
        random_state = check_random_state(self.random_state)
        if n_init == 1:
            states = [random_state]
        else:  # a seed per restart, so they may run in any order
            seeds = random_state.randint(np.iinfo(np.int32).max, size=n_init)
            states = [np.random.RandomState(seed) for seed in seeds]

        def parts():  # each restart trains its own copies
            return prototypes if warm else copy.deepcopy(prototypes)

        fits = (
            delayed(self._fit_once)(
                i, data, state, settings, *parts(), warm, start_resp, abandon_at
            )
            for i, state in enumerate(states)
        )
        if len(states) == 1:  # joblib's set-up alone takes 0.1 ms
            runs = (fn(*args, **kwargs) for fn, args, kwargs in fits)
        else:
            # Processes: threads were slower than one worker (BLAS and the
            # GIL contended); a dask fit's blocks stay with its client.
            prefer = "threads" if is_dask_collection(X) else "processes"
            runs = Parallel(n_jobs=self.n_jobs, prefer=prefer, return_as="generator")(
                fits
            )
        best = None
        for run in runs:  # keep the first of the best, as a sequential loop
            if best is None or run[2].final < best[2].final:
                best = run
        gate, experts, history, load = best
        for note in history.notes:
            warn_user(note)
        if not history.converged:
            warn_user(
                history.warning
                or f"solver={self.solver!r} did not converge in {self.max_iter} "
                f"iterations (n_init={self.n_init}); the last change of the "
                f"training objective exceeded tol={self.tol}. Increase max_iter, "
                "raise tol, or standardize the inputs.",
                ConvergenceWarning,
            )
        self._set_fitted(gate, experts, history, load)
        self.__dict__.pop("_online_state", None)  # partial_fit starts afresh
        return self

    def _set_fitted(self, gate, experts, history, load):
        """The fitted attributes, from the trained parts, their History and
        the sample weight routed to each expert."""
        self.gate_ = gate
        self.experts_ = experts
        self.expert_load_ = routing_share(load)
        self.n_experts_ = int(self.expert_load_.shape[0])
        # The request the fitted experts answer, so that a warm start or a
        # later batch continues a model pruned below it.
        self._requested_n_experts_ = self.n_experts
        self.loss_curve_ = list(history.loss_curve)
        self.lower_bounds_ = np.asarray(history.lower_bounds)
        self.lower_bound_ = float(self.lower_bounds_[-1])
        self.n_iter_ = len(history.loss_curve)
        self.n_iter_dense_ = history.n_iter_dense
        self.converged_ = history.converged

    def _prepare_fit(self, X, y, sample_weight, warm, clustered, check_input=True):
        """The one validation and set-up sequence of ``fit``, on arrays in
        memory and on dask arrays: check the input (unless ``check_input`` is
        False) and the options, build the gate and the experts once (the
        restarts copy them) and make the fit's TrainingData. Returns
        ``(data, gate, experts)``."""
        sharded = is_dask_collection(X)
        if sharded:  # refuse what cannot run block by block first
            check_sharded_solver(self.solver)
            gate, experts = check_blockwise(self._make_gate(), self._make_experts())
            X, y, sample_weight = check_sharded_input(
                X, y, sample_weight, self.n_features_in_ if warm else None
            )
            self.n_features_in_ = X.shape[1]
            self.__dict__.pop("feature_names_in_", None)
            n_weighted = X.shape[0]  # the blocks count the positive weights
        else:
            if warm:
                check_warm_features(self, X)
            if check_input:
                X, y, sample_weight = self._validate_training_input(X, y, sample_weight)
            else:
                self.n_features_in_ = X.shape[1]
            n_weighted = int(np.count_nonzero(sample_weight))
            gate, experts = self._make_gate(), self._make_experts()
        self._check_training_options(gate, experts)
        if warm:
            self._check_structure("warm_start", gate, experts)
        self._check_n_experts(n_weighted)
        self._resolve_features()
        if not warm:
            experts._fit_features(take(X, self.expert_features_), sample_weight)
        data_kwargs = {}
        targets = sharded_targets(y, self._task) if sharded else y
        y_encoded = self._encode_fit_targets(targets, data_kwargs)
        class_weight = self._class_weights(y if sharded else y_encoded)
        make_data = self._data_maker(experts, data_kwargs, warm, class_weight)
        if sharded:
            data = sharded_training_data(X, y, sample_weight, make_data)
            self._check_n_experts(data.n_weighted)
        else:
            data = make_data(X, y_encoded, sample_weight)
        if clustered:  # the k-means start's standardized features
            standardize_features(data, self._init_features)
        return data, gate, experts

    def _fit_once(
        self,
        index,
        data,
        random_state,
        settings,
        gate,
        experts,
        warm=False,
        start_resp=None,
        abandon_at=0,
    ):
        """One initialization and its solver run, on its own restart of
        ``data`` and new parts (with ``warm``, the fitted parts continue with
        their settings; ``start_resp`` and ``abandon_at``, see
        ``_fit_from_responsibilities``).
        The restart's responsibilities are made here: in a worker process
        the arrays ``data`` brings may be read-only memory maps. Returns
        ``(gate, experts, history, load)``, the parts without their fit-time
        scratch and the weight routed to each expert: nothing of the data,
        which a worker process would send back to the parent."""
        data = data.restart(random_state, index)
        if warm:
            gate, experts = self._continue_parts(data, gate, experts)
        else:
            gate, experts = self._prepare_parts(gate, experts, data)
            self._initialize(gate, experts, data, start_resp)
        if settings.verbose:
            print(f"Initialization {index}")
        run = SOLVERS[settings.solver]
        history = prune_degenerate(
            gate,
            experts,
            data,
            settings,
            run(gate, experts, data, settings),
            run,
            abandon_at,
        )
        if settings.verbose:
            status = "converged" if history.converged else "did not converge"
            print(
                f"Initialization {index} {status} after "
                f"{len(history.loss_curve)} iterations, "
                f"loss = {history.loss_curve[-1]:.6f}"
            )
        if not history.lower_bounds:  # a loss without a likelihood: evaluate it
            log_likelihood = e_step(gate, experts, data).log_likelihood
            bound = objective(log_likelihood, gate, experts, data.total_weight)
            history = history._replace(lower_bounds=[bound])
        load = routed_weight(gate, data)
        gate._end_fit()
        experts._end_fit()
        return gate, experts, history, load

    def _check_loss(self):
        """Refuse a loss the experts cannot be trained on."""

    def _validate_training_input(self, X, y, sample_weight, reset=True):
        return validate_training_input(
            self, X, y, sample_weight, reset, self._target_check()
        )

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
        names = getattr(self, "feature_names_in_", None)
        return feature_columns(
            self.gate_features, self.expert_features, self.n_features_in_, names
        )

    def _split(self, X):
        """The gate's and the experts' inputs of validated X (the experts'
        before their own feature map, e.g. a polynomial expansion)."""
        return take(X, self.gate_features_), take(X, self.expert_features_)

    def _data_maker(self, experts, data_kwargs, continued=False, class_weight=None):
        """How this fit or batch makes its TrainingData, once the features
        are resolved (``experts``: the new ones, their feature map fitted
        with ``_fit_features``; ``continued``: for the fitted parts, whose
        map it uses; ``class_weight``: a weight per class code, multiplying
        the sample weights)."""
        return DataMaker(
            self.n_features_in_,
            self._n_experts_in_use() if continued else self.n_experts,
            self.gate_features_,
            self.expert_features_,
            self.experts_ if continued else experts,
            data_kwargs,
            self._encode_targets,
            class_weight,
        )

    def _class_weights(self, y, stream=False):
        """A weight per class for the fit's sample weights (a classifier's
        ``class_weight``), or None; ``y`` holds the class codes, or the
        labels of a dask fit; ``stream`` for ``partial_fit``."""
        return None

    def _atomic(self, method, *args):
        return atomic(self, method, *args)

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
            experts, gate = self._make_experts(), self._make_gate()
            self._check_structure("partial_fit", gate, experts)
        X, y, sample_weight = self._validate_training_input(
            X, y, sample_weight, reset=first
        )
        data_kwargs = {}
        if first:
            self._check_n_experts(int(np.count_nonzero(sample_weight)))
            self._resolve_features()
            y_encoded = self._encode_first_batch(y, classes, data_kwargs)
            experts, gate = self._make_experts(), self._make_gate()
            experts._fit_features(take(X, self.expert_features_), sample_weight)
        else:
            y_encoded = self._encode_targets(y)
            self._target_kwargs(data_kwargs)
        class_weight = self._class_weights(y_encoded, stream=True)
        data = self._data_maker(experts, data_kwargs, not first, class_weight)(
            X, y_encoded, sample_weight
        )
        data = data.restart(check_random_state(self.random_state))
        if first:
            parts = partial(self._prepare_parts, gate, experts)
            start, previous = self._start_stream, None
        else:
            parts = partial(self._continue_parts, gate=gate, experts=experts)
            start = None
            dense = getattr(self, "n_iter_dense_", 0)
            previous = History(self.loss_curve_, [], False, dense)
        state = getattr(self, "_online_state", None)
        gate, experts, history, state = online_em(data, state, parts, start, previous)
        self._set_fitted(gate, experts, history, state["load"])
        self._online_state = state
        return self

    def _start_stream(self, gate, experts, data):
        """Initialize new parts on the first batch of a stream."""
        standardize_features(data, self._init_features)
        self._initialize(gate, experts, data)

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
        if "sparse_routing" in gate.capabilities:
            return self._route(gate)
        if self.top_k is not None or self.gate_noise:
            raise ValueError(
                f"top_k and gate_noise need gate=SoftmaxGate(), not "
                f"{type(gate).__name__}; leave them at None and False."
            )
        return gate

    def _route(self, gate):
        """``gate``, one of the estimator's own copies, given the estimator's
        ``top_k`` and ``gate_noise`` (the 'sparse_routing' attributes)."""
        top_k = self.top_k
        if top_k is not None and top_k >= self.n_experts:
            top_k = None  # keeping every expert is the dense gate
        gate.top_k, gate.noise = top_k, self.gate_noise
        return gate

    def _make_experts(self):
        """A new expert component: a clone of ``expert`` (the estimator's
        default component when None), wrapping a scikit-learn estimator in
        :class:`~mixexp.experts.EstimatorExpert`."""
        if self.expert is None:
            return self._default_expert()
        return expert_component(self.expert, self._task, type(self).__name__)

    @staticmethod
    def _prepare_parts(gate, experts, data):
        """Prepare the gate and the experts for ``data``; returns them."""
        gate._prepare(data)
        experts._prepare(data)
        return gate, experts

    def _continue_parts(self, data, gate, experts):
        """Copies of the fitted parts with the settings of the new parts
        ``gate`` and ``experts``, checked against and prepared for ``data``
        (a warm start, a later partial_fit batch)."""
        gate, experts = self._warm_components(gate, experts)
        self._check_warm_components(gate, experts, data)
        return self._prepare_parts(gate, experts, data)

    def _initialize(self, gate, experts, data, resp=None):
        """Fit new, prepared parts to ``data``'s initial clusters (or to the
        responsibilities ``resp``)."""
        start_from_clusters(
            gate, experts, data, self.init, self._arrange_leaves, self.solver, resp
        )
        return gate, experts

    def _arrange_leaves(self, centres):
        """Reorder the initial cluster centres among the experts (a hierarchy
        puts near clusters on sibling leaves); the flat gate does not care."""
        return centres

    def _warm_components(self, gate, experts):
        """Copies of the fitted components with the settings of the new
        ``gate`` and ``experts`` (``gate__alpha``, ``top_k``, ... may have
        changed since; the structure may not, see ``_check_structure``)."""
        fitted_gate = copy.deepcopy(self.gate_)
        fitted_experts = copy.deepcopy(self.experts_)
        fitted_gate.set_params(**gate.get_params())
        if "sparse_routing" in fitted_gate.capabilities:  # no gate parameter
            self._route(fitted_gate)
        fitted_experts.set_params(**experts.get_params())
        return fitted_gate, fitted_experts

    def _check_structure(self, caller, gate=None, experts=None):
        """Refuse to continue the fitted model (``caller`` is "warm_start" or
        "partial_fit") with parameters that change its structure (``gate``
        and ``experts``: made from them; None makes new ones)."""
        if gate is None:
            experts, gate = self._make_experts(), self._make_gate()
        check_same_structure(
            (self.gate_, self.experts_, self.expert_load_.shape[0])
            + (self.gate_features_, self.expert_features_),
            (gate, experts, self._n_experts_in_use(), *self._feature_columns()),
            caller,
        )

    def _n_experts_in_use(self):
        """``n_experts``, or the fitted model's own number of experts when
        ``n_experts`` is still the request it was pruned from."""
        if self.n_experts == getattr(self, "_requested_n_experts_", None):
            return self.n_experts_
        return self.n_experts

    def _check_warm_components(self, gate, experts, data):
        """Refuse targets the fitted components cannot continue on."""
