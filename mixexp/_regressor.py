"""Mixture of linear-Gaussian experts for regression."""

from numbers import Integral

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array

from ._base import PARTIAL_FIT_DOC, BaseMixtureOfExperts, check_targets, routing_doc
from ._dask import dask_rows
from ._data import check_magnitude
from .experts import LinearExpert

# Bisection halves the bracket of a quantile each step: 60 steps take the
# spread of the experts' own quantiles down to rounding.
_BISECTIONS = 60


def _standard_cdf(z, df):
    """CDF of the standard t (normal where df is infinite), elementwise."""
    normal = np.isinf(df)
    return np.where(normal, ndtr(z), stdtr(np.where(normal, 1.0, df), z))


def _standard_quantile(q, df):
    """q-quantile of the standard t (normal where df is infinite), (K,)."""
    normal = np.isinf(df)
    return np.where(normal, ndtri(q), stdtrit(np.where(normal, 1.0, df), q))


def _numeric_targets(y, name):
    """y as float64, or a ValueError that says what to do instead."""
    check_targets(y, numeric_for=name)
    return check_magnitude(np.asarray(y).astype(np.float64, copy=False), "y")


@routing_doc
class MixtureOfExpertsRegressor(RegressorMixin, BaseMixtureOfExperts):
    """Mixture of linear experts with a softmax gate, fitted by EM.

    The adaptive mixture of local experts (Jacobs, Jordan, Nowlan & Hinton
    1991) trained by expectation-maximization (Jordan & Jacobs 1994):

        p(y | x) = sum_k g_k(x) N(y; W_k^T [x, 1], diag(s_k^2)),
        g(x) = softmax(V^T [x, 1]).

    The E-step computes each expert's responsibility for each sample in log
    space; the M-step solves all K weighted ridge regressions together and
    improves the gate as a multinomial logistic regression on the
    responsibilities. The penalized log-likelihood never decreases.

    Parameters
    ----------
    n_experts : int, default=4
        Number of experts K.
    {component_params}
    solver : {"em", "gd", "sgd", "adam"}, default="em"
        Training algorithm: expectation-maximization (``"em"``), or gradient
        descent on ``loss`` as in Jacobs et al. (1991): full batch
        (``"gd"``: L-BFGS with analytic gradients) or minibatches
        (``"sgd"`` with Nesterov momentum, ``"adam"``).
    loss : {"likelihood", "competitive", "cooperative"}, default="likelihood"
        Objective of the gradient solvers (1991 eqs. 1.3, 1.2, 1.1):
        the negative log-likelihood of the mixture (with the experts' noise
        variances; EM's objective), the gate-weighted sum of each expert's
        own error ``sum_k g_k e_k`` (experts compete and specialize), or the
        error of the blended output ``||y - sum_k g_k o_k||^2`` (experts
        cooperate; regression only). EM needs ``"likelihood"``.
    {routing_params}
    max_iter : int, default=200
        EM iterations, L-BFGS iterations or epochs at most per
        initialization (EM with ``top_k``: per phase, dense then sparse).
    tol : float, default=1e-4
        Convergence threshold on the change of the training objective (the
        mean penalized log-likelihood per sample for EM; a squared-error
        ``loss`` is measured in units of the target's variance).
    n_init : int, default=1
        Initializations to run; the fit with the highest likelihood is kept.
    init : {"kmeans", "random"}, default="kmeans"
        Initial responsibilities: k-means clusters of the standardized joint
        (x, y) space, or the nearest of ``n_experts`` randomly drawn samples.
    n_jobs : int, default=None
        Initializations to run in parallel (joblib; ``None`` means 1 unless
        in a ``joblib.parallel_config`` context, -1 means all processors).
        Each initialization has its own random seed drawn from
        ``random_state``, so the result is the same for every ``n_jobs``.
    batch_size : int or "auto", default="auto"
        Minibatch size of ``solver="sgd"`` and ``"adam"``; "auto" is
        ``min(200, n_samples)``, as in MLPRegressor.
    learning_rate_init : float, default=1e-3
        Step size of ``"sgd"`` and ``"adam"``.
    shuffle : bool, default=True
        Shuffle the samples every epoch (``"sgd"``, ``"adam"``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data and stop when
        its score has not improved by ``tol`` for ``n_iter_no_change``
        epochs (``"sgd"``, ``"adam"``).
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=10
        Iterations or epochs without an improvement of ``tol`` in the loss
        (or the validation score) after which the gradient solvers stop.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization (and the minibatches); an int makes every
        fit reproducible.
    warm_start : bool, default=False
        Start from the previous fit's parameters (``n_init`` is then 1).
        Settings such as ``expert__alpha`` may change in between; what
        shapes the parameters may not (the number of experts, the type of
        gate or expert, the expert's degree, the feature columns,
        the number of outputs): ``fit`` then raises a ValueError
        naming the change, and ``warm_start=False`` refits from scratch.
    verbose : int, default=0
        1 prints each initialization and every tenth iteration, 2 every
        iteration, as ``Iteration N, log-likelihood = ...``.

    Attributes
    ----------
    gate_ : :class:`~mixexp.gates.SoftmaxGate`
        Fitted gate, with ``coef_`` of shape (n_experts, n_features_in_) and
        ``intercept_`` of shape (n_experts,).
    experts_ : :class:`~mixexp.experts.LinearExpert`
        Fitted experts, with ``coef_`` of shape (n_experts, n_features_in_)
        (or (n_experts, n_outputs_, n_features_in_)), ``intercept_`` and
        ``noise_variance_``.
    n_outputs_ : int
        Number of target columns.
    {expert_load}
    n_iter_ : int
        Iterations (EM or L-BFGS) or epochs of the kept initialization.
    n_iter_dense_ : int
        EM with ``top_k``: how many of them trained the dense gate first
        (see ``lower_bounds_``); 0 otherwise.
    converged_ : bool
        Whether it converged within ``max_iter``; False, with a
        ConvergenceWarning, when a minibatch solver diverged or ended above
        its start and kept earlier parameters.
    lower_bound_ : float
        Final mean penalized log-likelihood per sample: of y given x, or of
        (x, y) jointly with a :class:`~mixexp.gates.GaussianGate` (whose EM
        maximizes the joint likelihood; ``log_likelihood`` stays log p(y | x)).
    lower_bounds_ : ndarray of shape (n_iter_,) or (1,)
        Its value after each iteration. EM never lowers it, except right
        after re-seeding an expert that lost all responsibility (a warning
        says so). With ``top_k``, EM's first ``n_iter_dense_`` values are
        those of the dense gate, the rest of the top-k gate: each phase is
        non-decreasing, but the value drops at the switch to the sparse
        model. The minibatch solvers, and the losses other than the
        likelihood, record only the final value.
    loss_curve_ : list of float
        Training objective per iteration or epoch, lower is better: the
        negative of ``lower_bounds_`` for EM and L-BFGS on the likelihood;
        for ``"sgd"`` and ``"adam"`` the mean over each epoch's batches, at
        the parameters of each step.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    MixtureOfExpertsClassifier : The same model with softmax experts.
    sklearn.mixture.GaussianMixture : Unconditional mixtures fitted by EM.

    References
    ----------
    Jacobs, Jordan, Nowlan & Hinton (1991). Adaptive mixtures of local
    experts. Neural Computation 3(1), 79-87.

    Jordan & Jacobs (1994). Hierarchical mixtures of experts and the EM
    algorithm. Neural Computation 6(2), 181-214.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(500, 1))
    >>> y = np.where(X[:, 0] < 0, 1 - X[:, 0], 2 * X[:, 0]) + 0.1 * rng.randn(500)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> np.sort(moe.experts_.coef_[:, 0]).round(1)
    array([-1.,  2.])
    >>> moe.predict_gate_proba([[-2.0], [2.0]]).round(2)
    array([[1., 0.],
           [0., 1.]])
    """

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
        super().__init__(
            n_experts,
            gate=gate,
            expert=expert,
            gate_features=gate_features,
            expert_features=expert_features,
            solver=solver,
            loss=loss,
            top_k=top_k,
            gate_noise=gate_noise,
            balance_weight=balance_weight,
            max_iter=max_iter,
            tol=tol,
            n_init=n_init,
            init=init,
            n_jobs=n_jobs,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            shuffle=shuffle,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _target_check(self):
        return {"multi_output": True, "y_numeric": True}

    _task = "regression"
    _COMPONENT_DOC = {
        "experts": ":class:`~mixexp.experts.LinearExpert`, "
        ":class:`~mixexp.experts.StudentTExpert`",
        "kind": "regressor",
        "default": "LinearExpert",
    }

    def _default_expert(self):
        return LinearExpert()

    def _encode_fit_targets(self, y, data_kwargs):
        y = _numeric_targets(y, type(self).__name__)
        data_kwargs["single_output"] = y.ndim == 1
        data_kwargs["fitted_outputs"] = getattr(self, "n_outputs_", None)
        y = y.reshape(y.shape[0], -1)
        self.n_outputs_ = y.shape[1]
        return y

    def _check_warm_components(self, gate, experts, data):
        super()._check_warm_components(gate, experts, data)
        if experts._single_output != data.single_output or (
            getattr(data, "fitted_outputs", None) not in (None, self.n_outputs_)
        ):
            raise ValueError(
                "warm_start=True but the shape of y changed since the last fit; "
                "set warm_start=False to fit from scratch."
            )

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        return self._atomic(self._partial_fit, X, y, sample_weight)

    partial_fit.__doc__ = PARTIAL_FIT_DOC.format(
        shape="n_samples,) or (n_samples, n_outputs",
        classes="",
        name="MixtureOfExpertsRegressor",
        maker="make_piecewise_linear",
        k=3,
        extra="",
    )
    partial_fit = available_if(BaseMixtureOfExperts._online_possible)(partial_fit)

    def _encode_first_batch(self, y, classes, data_kwargs):
        return self._encode_fit_targets(y, data_kwargs)

    def _target_kwargs(self, data_kwargs):
        data_kwargs["single_output"] = self.experts_._single_output

    def _encode_targets(self, y):
        y = check_array(
            _numeric_targets(y, type(self).__name__), ensure_2d=False, dtype=np.float64
        )
        y = y.reshape(y.shape[0], -1)
        if y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} output column(s) but the model was fitted on "
                f"{self.n_outputs_}."
            )
        return y

    def _score_components(self, gate, experts, X, y):
        gate_X, expert_X = self._split(X)
        means = experts.predict(expert_X).reshape(X.shape[0], self.n_experts, -1)
        pred = np.einsum("nk,nkm->nm", gate.predict_proba(gate_X), means)
        return r2_score(y, pred)

    def _init_features(self, X, y):
        return np.hstack([X, y.astype(X.dtype, copy=False)])

    @dask_rows
    def predict(self, X, return_std=False):
        """Mixture mean: sum_k g_k(x) times expert k's prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        return_std : bool, default=False
            Also return the standard deviation of the predictive mixture
            distribution, as GaussianProcessRegressor does: the square root
            of ``sum_k g_k (v_k + (mu_k - mu)^2)`` (the law of total variance
            in centred form, so an offset of the targets cannot cancel it
            away) with ``v_k`` expert k's noise variance
            (``s_k^2 nu_k / (nu_k - 2)`` for a t expert, infinite when
            ``nu_k <= 2``).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        y_std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Only with ``return_std=True``; per output for 2-D targets.

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> mean, std = moe.predict(X[:2], return_std=True)
        >>> std.shape
        (2,)
        """
        X = self._validate_X(X)
        if return_std:
            gate, means, scales, df = self._predictive(X)
            mean = np.einsum("nk,nkm->nm", gate, means)
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(df > 2, df / (df - 2), np.inf)
            factor[np.isinf(df)] = 1.0
            # Terms with zero gate weight must not turn an infinite variance
            # into NaN (0 * inf).
            noise = np.where(gate[:, :, None] > 0, (scales**2 * factor[:, None]), 0.0)
            spread = (means - mean[:, None, :]) ** 2
            std = np.sqrt(np.einsum("nk,nkm->nm", gate, noise + spread))
            return self._shape_output(mean), self._shape_output(std)
        mean = self._mix(
            X, lambda Xg, Xe: (self.gate_.predict_proba(Xg), self.experts_.predict(Xe))
        )
        return self._shape_output(mean.reshape(X.shape[0], -1))

    def _shape_output(self, values):
        """(n, m) arrays as (n,) for a 1-D target."""
        return values[:, 0] if self.experts_._single_output else values

    def _predictive(self, X):
        """Gate (n, K) and the experts' per-output predictive marginals:
        means (n, K, m), scales (K, m) and degrees of freedom (K,)."""
        gate_X, expert_X = self._split(X)
        means, scales, df = self.experts_._marginals(expert_X)
        return self.gate_.predict_proba(gate_X), means, scales, df

    def sample_y(self, X, n_samples=1, random_state=0):
        """Draw targets from the predictive mixture distribution.

        Each draw picks an expert with the gate's probabilities, then adds
        that expert's noise (Gaussian, or t) to its prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Inputs.
        n_samples : int, default=1
            Draws per input.
        random_state : int, RandomState instance or None, default=0
            Seeds the draws, as in GaussianProcessRegressor.sample_y.

        Returns
        -------
        y_samples : ndarray of shape (n_samples_X, n_samples) or \
                (n_samples_X, n_outputs, n_samples)

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> moe.sample_y(X[:4], n_samples=10).shape
        (4, 10)
        """
        if isinstance(n_samples, bool | np.bool_):  # an Integral, but a typo
            raise TypeError(f"n_samples must be a positive int, got {n_samples!r}.")
        check_scalar(n_samples, "n_samples", Integral, min_val=1)
        X = self._validate_X(X)
        rng = check_random_state(random_state)
        gate, means, _, _ = self._predictive(X)
        n = X.shape[0]
        # Expert of every draw: one uniform per draw against the gate's CDF.
        cumulative = np.cumsum(gate, axis=1)
        draws = rng.uniform(size=(n, n_samples)) * cumulative[:, -1:]
        experts = np.minimum(
            (draws[:, :, None] >= cumulative[:, None, :]).sum(axis=2),
            gate.shape[1] - 1,
        )
        rows = np.repeat(np.arange(n), n_samples)
        experts = experts.ravel()
        values = means[rows, experts] + self.experts_._noise_draw(experts, rng)
        values = values.reshape(n, n_samples, -1).transpose(0, 2, 1)
        return values[:, 0] if self.experts_._single_output else values

    def predict_quantiles(self, X, quantiles=(0.05, 0.5, 0.95)):
        """Quantiles of the predictive mixture distribution.

        The q-quantile solves ``sum_k g_k(x) F_k(t | x) = q`` (per output for
        2-D targets), found by bisection between the smallest and the
        largest of the experts' own q-quantiles, which bracket it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        quantiles : array-like of shape (n_quantiles,), default=(0.05, 0.5, 0.95)
            Probabilities in (0, 1).

        Returns
        -------
        y_quantiles : ndarray of shape (n_samples, n_quantiles) or \
                (n_samples, n_outputs, n_quantiles)

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> low, high = moe.predict_quantiles(X, [0.05, 0.95]).T
        >>> bool(0.85 < ((low <= y) & (y <= high)).mean() < 0.95)
        True
        """
        quantiles = np.asarray(quantiles, dtype=float).reshape(-1)
        if quantiles.size == 0 or not np.all((quantiles > 0) & (quantiles < 1)):
            raise ValueError(
                f"quantiles must be probabilities strictly between 0 and 1, got "
                f"{quantiles.tolist()}."
            )
        X = self._validate_X(X)
        gate, means, scales, df = self._predictive(X)
        out = np.empty(means.shape[:1] + means.shape[2:] + quantiles.shape)
        for j, q in enumerate(quantiles):  # a loop over the requested levels
            # Each expert's own q-quantile; the mixture's lies between them.
            own = means + scales * _standard_quantile(q, df)[:, None]
            low, high = own.min(axis=1), own.max(axis=1)
            for _ in range(_BISECTIONS):
                mid = 0.5 * (low + high)
                cdf = _standard_cdf((mid[:, None] - means) / scales, df[:, None])
                below = np.einsum("nk,nkm->nm", gate, cdf) < q
                low = np.where(below, mid, low)
                high = np.where(below, high, mid)
            out[..., j] = 0.5 * (low + high)
        return out[:, 0] if self.experts_._single_output else out

    @dask_rows
    def predict_experts(self, X):
        """Each expert's own prediction, ignoring the gate.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        expert_predictions : ndarray of shape (n_samples, n_experts) or \
                (n_samples, n_experts, n_outputs)
        """
        return self.experts_.predict(self._split(self._validate_X(X))[1])

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R² of :meth:`predict` on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R² of the mixture mean, as in ``RegressorMixin.score``.
        """
        # Missing, sparse or text targets get mixexp's message, not r2_score's.
        check_targets(y, numeric_for=type(self).__name__)
        return super().score(X, y, sample_weight=sample_weight)
