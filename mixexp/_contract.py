"""The contract between the mixture estimators and their parts.

A part is a gate or the experts (all K at once). The estimators (``_base``,
``_em``, ``_gradient``, ``_estep``, ``_init``, ``_online``, ``_dask``,
``_regressor``, ``_classifier``) drive a part only through the hooks declared
here; a new part derives from :class:`Gate` or :class:`Expert` and overrides
them.

Notation: ``data`` is the fit's ``TrainingData``; ``Xt`` a design chunk of
shape (p, n_rows), the part's inputs centred by ``data.offset[role]`` with a
row of ones last (offsets are zero outside a fit); K is the number of experts
and ``params`` whatever the part's ``_params`` returned, handed back as is.

Hooks every part must override raise NotImplementedError here. The others
belong to a capability, named in the part's ``capabilities`` and checked by
the estimators before they use them (the solvers' needs are
``_solvers.REQUIRES``):
"""

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit
from sklearn.base import BaseEstimator

from ._html_repr import DocLinkMixin
from ._params import ParamNamesOnce

CAPABILITIES = {
    "em": "trained by EM through the required hooks (solver='em')",
    "gradient": "trained by the gradient solvers (gd, sgd, adam): _theta, "
    "_set_theta, _theta_penalty and the role's forward and backward passes",
    "online": "partial_fit's online EM: _prepare_online and _online_update",
    "blockwise": "the M-step needs per-chunk sums only, so fit runs on dask "
    "arrays block by block",
    "sparse_routing": "a gate whose passes honour the attributes top_k and "
    "noise, and route(X) for sparse prediction; they are not parameters of the "
    "gate: the estimator sets them on its own copies from its top_k and "
    "gate_noise",
    "pruning": "_keep(experts) keeps only the given experts, so that a fit "
    "can drop degenerate ones (keep_experts does it for arrays indexed by "
    "expert on their first axis)",
    "predictive_distribution": "a regression expert with _marginals and the "
    "_marginal_* hooks (LocationScaleMarginals has them for normal and t "
    "noise), for the regressor's predictive "
    "distribution: its return_std, predict_quantiles and sample_y",
    "information": "observed information for mixexp.inference (Louis 1982): "
    "_info_estimates, _info_scores, _info_curvature and _info_penalty give "
    "the part's free parameters, its complete-data scores, its expected "
    "complete-data curvature and its penalty's curvature",
}
__doc__ += "".join(f"\n- ``{k}``: {v}." for k, v in CAPABILITIES.items())


class Part(DocLinkMixin, ParamNamesOnce, BaseEstimator):
    """What gates and experts share: a scikit-learn estimator for its
    parameters (``clone``, ``set_params``) fitted by a mixture estimator."""

    #: Names from ``CAPABILITIES``; a part whose support depends on its
    #: parameters overrides this with a property.
    capabilities = frozenset()
    #: "gate" or "experts": which design columns (``data.width(role)``,
    #: ``data.offset[role]``) the part reads; set by Gate and Expert.
    _role = None
    #: A step the last ``_m_step`` left for the driver to verify (the driver
    #: calls ``_retreat`` while the next E-step finds it lowered Q), or None.
    _pending = None

    _required_hooks = (
        "_prepare",
        "_reset",
        "_params",
        "_accumulate",
        "_m_step",
        "_penalty",
        "_n_parameters",
        "_end_fit",
    )
    _capability_hooks = {
        "gradient": ("_theta", "_set_theta", "_theta_penalty"),
        "online": ("_prepare_online", "_online_update"),
        "pruning": ("_keep",),
        "information": (
            "_info_estimates",
            "_info_scores",
            "_info_curvature",
            "_info_penalty",
        ),
    }

    def _missing(self, hook, capability=None):
        """The error of a hook the concrete part did not override."""
        base = "Gate" if self._role == "gate" else "Expert"
        why = (
            f"which every mixexp {base.lower()} has"
            if capability is None
            else f"a hook of the {capability!r} capability it declares"
        )
        return NotImplementedError(
            f"{type(self).__name__} must implement {hook}, {why} "
            f"(see mixexp._contract.{base})."
        )

    # ------------------------------------------------------------ required
    def _prepare(self, data):
        """Validate the parameters for a fit (or a partial_fit batch) on
        ``data``, before any other hook; may set ``data.offset`` or
        ``data.cache`` entries the part reads later. Returns None.

        The cache entries set here are the fit's units, which partial_fit
        carries from a stream's first batch to the next ones (a part skips
        those already there); entries set by later hooks are scratch of
        this ``data`` only."""
        raise self._missing("_prepare")

    def _reset(self, data):
        """Set fresh fitted parameters (after ``_prepare``, in a new fit);
        the initial k-means M-step starts from them. Returns None."""
        raise self._missing("_reset")

    def _params(self, data=None):
        """A snapshot of the parameters on the design rows of ``data``
        (uncentred rows with None): an object the E-step passes back to
        ``_log_proba``/``_log_likelihood`` and ``_accumulate``."""
        raise self._missing("_params")

    def _m_step(self, stats, data):
        """Improve the parameters from the E-step's summed ``stats`` (the
        dict ``_accumulate`` filled); may set ``_pending``. Returns None."""
        raise self._missing("_m_step")

    def _penalty(self):
        """The penalty (float, total over the fit's weight) that EM's
        objective subtracts from the log-likelihood."""
        raise self._missing("_penalty")

    def _n_parameters(self):
        """Number of free parameters (int), for bic and aic."""
        raise self._missing("_n_parameters")

    def _end_fit(self):
        """Drop fit-time scratch at the end of fit or partial_fit, so the
        fitted part holds parameters only. Returns None."""
        raise self._missing("_end_fit")

    def _retreat(self, data):
        """Halve or undo the step in ``_pending`` (called only when it is
        not None). Returns None; parts whose M-step is exact never need it."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement _retreat: its _m_step left "
            "a step in _pending to verify (see mixexp._contract.Part)."
        )

    # ------------------------------------------------- capability: gradient
    def _theta(self, data):
        """The trainable arrays (a list of ndarrays) in the fit's design
        space; the gradient solvers flatten and optimize them."""
        raise self._missing("_theta", "gradient")

    def _set_theta(self, theta, data):
        """Store arrays shaped like ``_theta(data)`` as the parameters."""
        raise self._missing("_set_theta", "gradient")

    def _theta_units(self, data):
        """Per array of ``_theta(data)``, a factor (broadcasting to it) that
        makes its changes free of the data's units, for SQUAREM's step
        length, which compares them across parts. By default a coefficient
        on the design columns is taken times its column's standard
        deviation, and other arrays as they are."""
        scale = np.append(data.column_scale(self._role), 1.0)
        return [
            scale if a.ndim and a.shape[-1] == scale.size else 1.0
            for a in self._theta(data)
        ]

    def _theta_penalty(self, theta, by_variance=False):
        """``(value, gradients)``: the penalty at ``theta`` and its gradient,
        a list shaped like ``theta``; ``by_variance`` (experts) scales it as
        in the likelihood, for losses whose experts have a noise model."""
        raise self._missing("_theta_penalty", "gradient")

    # -------------------------------------------------- capability: pruning
    def _keep(self, experts):
        """Keep only the fitted parameters of ``experts`` (an increasing
        index array), in that order; between two runs of a solver, so no
        step is pending. Returns None."""
        raise self._missing("_keep", "pruning")

    # ---------------------------------------------- capability: information
    # The pieces of Louis' (1982) observed information, in the part's free
    # parameters (identified: a softmax's are relative to a reference
    # choice, its first). X is the part's validated inputs (the experts'
    # before their feature map), y the encoded targets, both of some rows;
    # the inference driver sums over row chunks. For the experts, P counts
    # one expert's parameters: expert k's are the k-th block of P.
    def _info_estimates(self, names):
        """``(estimates, labels)``: the fitted free parameters (P_total,)
        (experts: all K blocks, expert-major) and, for each, a tuple
        ``(expert, output, term, wald)``: the expert it belongs to (for the
        gate, the expert whose odds against the reference it is), the
        output (or class) index, the term's name built from ``names`` (the
        part's input feature names) or ``"intercept"``, ``"variance"``...,
        and whether a Wald test of zero means anything (not for a
        variance). A gate's label may have a fifth entry, its node in a
        tree (the table's ``node`` column); its ``expert`` is then the
        child."""
        raise self._missing("_info_estimates", "information")

    def _info_scores(self, X, y):
        """Complete-data scores (n_rows, K, P): the gradient of log g_k(x_i)
        in the gate's parameters, or of log P_k(y_i | x_i) in expert k's own
        parameters."""
        raise self._missing("_info_scores", "information")

    def _info_curvature(self, X, y, weights):
        """The expected negative complete-data Hessian under ``weights``
        (n_rows, K), the sample weights times the responsibilities: the gate
        ``sum_ik weights_ik (-d2 log g_k(x_i))`` of shape (P, P), the
        experts ``sum_i weights_ik (-d2 log P_k(y_i | x_i))`` for each k,
        (K, P, P)."""
        raise self._missing("_info_curvature", "information")

    def _info_penalty(self, X, sample_weight):
        """Hessian of the penalty the fit subtracts, at the fitted
        parameters, for a fit on these rows and weights (its scale is per
        unit of sample weight): (P, P) for the gate, (K, P, P) for the
        experts."""
        raise self._missing("_info_penalty", "information")

    def _info_caveat(self):
        """None, or why the fitted parameters are not a stationary point of
        the penalized conditional log-likelihood (a parameter on a bound, a
        fit of another likelihood), a clause ``coef_table`` warns with: the
        information is then still the negative Hessian there. Optional."""
        return None

    # --------------------------------------------------- capability: online
    def _prepare_online(self):
        """Set up a partial_fit batch (after ``_prepare``). Returns None."""
        raise self._missing("_prepare_online", "online")

    def _online_update(self, stats, data, store, gamma, seen, update):
        """Fold a batch's E-step ``stats`` into the running averages in the
        dict ``store`` with step ``gamma`` (``seen``: the total weight so
        far); when ``update``, set the parameters from them. Returns None."""
        raise self._missing("_online_update", "online")


class Gate(Part):
    """The gate: log g_k(x), the share of each expert in every input.

    Gates also have the public ``predict_proba(X)``, (n_samples, K) gate
    probabilities, and with 'sparse_routing' ``route(X)``: the kept
    ``(samples, experts, weights)`` pairs, samples non-decreasing, weights
    summing to one per sample. Neither is declared here, so that a gate
    without sparse routing has no ``route``.
    """

    _role = "gate"
    #: Experts kept per sample (None: all). With noise, the training passes
    #: add noise to the logits. Both are 'sparse_routing' attributes, not
    #: parameters: routing is the estimator's (top_k, gate_noise), so it sets
    #: them on its own copies and ``clone`` resets them to these defaults.
    top_k = None
    noise = False

    _required_hooks = (
        *Part._required_hooks,
        "_log_proba",
        "_revive",
        "predict_proba",
    )
    _capability_hooks = {
        **Part._capability_hooks,
        "gradient": (
            *Part._capability_hooks["gradient"],
            "_train_forward",
            "_train_backward",
        ),
        "sparse_routing": ("route",),
    }

    def _log_proba(self, Xt, params):
        """``(log_gate, cache)``: log g of shape (K, n_rows), -inf outside a
        top-k set (a generative gate may leave it unnormalized over k), and
        anything ``_accumulate`` reuses."""
        raise self._missing("_log_proba")

    def _accumulate(self, stats, Xt, weight, resp, cache, params):
        """Add a chunk's sufficient statistics to the dict ``stats``, from
        the sample weights (n_rows,), responsibilities (K, n_rows) and the
        ``_log_proba`` cache."""
        raise self._missing("_accumulate")

    def _revive(self, experts):
        """Give the re-seeded experts (an index array) a neutral share, so
        the next M-step refits them. Returns None."""
        raise self._missing("_revive")

    def _train_forward(self, Xt, theta, rng=None):
        """``(log_gate, gate, cache)`` for a gradient step at ``theta``: log
        g and g (K, n_rows) and a cache holding ``"prob"``, the dense (K,
        n_rows) softmax for the balance loss; ``rng`` draws training noise."""
        raise self._missing("_train_forward", "gradient")

    def _train_backward(self, Xt, cache, d_log_gate, d_log_dense=None):
        """Gradients (a list shaped like ``theta``) from dE/dlog g (K,
        n_rows) and, with the balance loss, dE/dlog p of the dense gate."""
        raise self._missing("_train_backward", "gradient")


class Expert(Part):
    """The K experts: log P_k(y | x), each expert's density of the target.

    Regression experts also set ``_single_output`` in ``_prepare`` (the
    target was 1-D) and have ``predict``; classification experts have
    ``predict_proba``. Neither is declared here: scikit-learn reads a
    model's kind off which of them it has.
    """

    _role = "experts"
    #: Target tags the estimator takes over from its expert, e.g.
    #: ``{"positive_only": True}`` (see scikit-learn's ``TargetTags``).
    _target_tags = {}

    _required_hooks = (
        *Part._required_hooks,
        "_task",
        "_features",
        "_log_likelihood",
        "_predict_pairs",
    )
    _capability_hooks = {
        **Part._capability_hooks,
        "gradient": (
            *Part._capability_hooks["gradient"],
            "_forward",
            "_backward",
            "_log_lik_from",
            "_error",
            "_outputs",
        ),
        "predictive_distribution": (
            "_marginals",
            "_marginal_variance",
            "_marginal_cdf",
            "_marginal_quantile",
            "_marginal_draw",
        ),
    }

    @property
    def _task(self):
        """ "regression" or "classification", matched to the estimator's."""
        raise self._missing("_task")

    def _features(self, X):
        """The design features (n, d) of validated expert inputs (n, f)."""
        raise self._missing("_features")

    def _fit_features(self, X, sample_weight):
        """Learn what ``_features`` needs from a new fit's expert inputs (n, f)
        and sample weights (n,) (numpy or dask arrays, the weights possibly
        None), before the fit's data is made with it; a warm start and later
        ``partial_fit`` batches keep what was learnt. Returns None; by
        default there is nothing to learn."""

    def _n_design_features(self, n_inputs):
        """Columns of ``_features`` for ``n_inputs`` inputs, fitted or not."""
        return self._features(np.zeros((1, n_inputs))).shape[1]

    def _log_likelihood(self, Xt, y, params):
        """``(log_lik, cache)``: log P_k(y_i | x_i) of shape (K, n_rows) for
        the encoded targets ``y``, and anything ``_accumulate`` reuses."""
        raise self._missing("_log_likelihood")

    def _accumulate(self, stats, Xt, weights, cache, params):
        """Add a chunk's sufficient statistics to the dict ``stats``, from
        the weighted responsibilities (K, n_rows) and the cache."""
        raise self._missing("_accumulate")

    def _predict_pairs(self, X, samples, experts):
        """Outputs (n_pairs, m) (means, or class probabilities) of the given
        (sample, expert) pairs of validated inputs, for a top-k gate."""
        raise self._missing("_predict_pairs")

    def _forward(self, Xt, y, theta, data):
        """A cache of the experts at ``theta`` on a chunk, which
        ``_log_lik_from``, ``_error``, ``_outputs`` and ``_backward`` read."""
        raise self._missing("_forward", "gradient")

    def _backward(self, Xt, cache, theta, d_logp=None, d_error=None, d_output=None):
        """Gradients (a list shaped like ``theta``) from the loss's
        dE/dlog P_k (K, n), dE/d error_k (K, n) and dE/d o_k (K, m, n)."""
        raise self._missing("_backward", "gradient")

    def _log_lik_from(self, cache):
        """log P_k(y | x) (K, n_rows) from a ``_forward`` cache."""
        raise self._missing("_log_lik_from", "gradient")

    def _error(self, cache):
        """Each expert's own error (K, n_rows), for loss="competitive"."""
        raise self._missing("_error", "gradient")

    def _outputs(self, cache):
        """``(outputs (K, m, n), target (m, n))`` for loss="cooperative"."""
        raise self._missing("_outputs", "gradient")

    def _refit_noise(self, gate, data):
        """Set the noise model from gate-weighted residuals after a loss
        that has none; the default does nothing (no noise model)."""

    # --------------------------------- capability: predictive_distribution
    #: Whether the experts' targets are integers (counts): the regressor's
    #: quantiles are then exact searches over the integers.
    _integer_support = False

    def _marginals(self, X):
        """Every expert's per-output predictive marginals at validated expert
        inputs (n, f): a tuple whose first entry is the means (n, K, m),
        handed back as is to the ``_marginal_*`` hooks below."""
        raise self._missing("_marginals", "predictive_distribution")

    def _marginal_variance(self, marginals):
        """Variances (n, K, m), or (K, m) for all inputs, inf where infinite,
        for ``return_std``."""
        raise self._missing("_marginal_variance", "predictive_distribution")

    def _marginal_cdf(self, marginals, t):
        """``P_k(Y <= t)`` (n, K, m) at the points ``t`` (n, m)."""
        raise self._missing("_marginal_cdf", "predictive_distribution")

    def _marginal_quantile(self, marginals, q):
        """Each expert's own q-quantile (n, K, m): the mixture's lies
        between their smallest and their largest."""
        raise self._missing("_marginal_quantile", "predictive_distribution")

    def _marginal_draw(self, marginals, rows, experts, rng):
        """Draws (n_draws, m) of expert ``experts[j]`` at input ``rows[j]``
        (index arrays)."""
        raise self._missing("_marginal_draw", "predictive_distribution")


class LocationScaleMarginals:
    """The predictive hooks of experts whose noise is normal or t around
    their means: ``_marginals`` returns (means (n, K, m), scales (K, m),
    degrees of freedom (K,), inf for normal noise), and ``_noise_draw(experts,
    rng)`` draws the noise (n, m) of the given experts (an index array)."""

    def _marginal_variance(self, marginals):
        """``s^2``, times ``nu / (nu - 2)`` for a t (inf when ``nu <= 2``)."""
        _, scales, df = marginals
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(df > 2, df / (df - 2), np.inf)
        factor[np.isinf(df)] = 1.0
        return scales**2 * factor[:, None]

    def _marginal_cdf(self, marginals, t):
        means, scales, df = marginals
        return standard_cdf((t[:, None] - means) / scales, df[:, None])

    def _marginal_quantile(self, marginals, q):
        means, scales, df = marginals
        return means + scales * standard_quantile(q, df)[:, None]

    def _marginal_draw(self, marginals, rows, experts, rng):
        return marginals[0][rows, experts] + self._noise_draw(experts, rng)


def keep_experts(part, names, experts):
    """``_keep`` for fitted attributes indexed by expert on their first axis
    (arrays or lists); attributes not set are skipped."""
    for name in names:
        value = getattr(part, name, None)
        if isinstance(value, list):
            setattr(part, name, [value[k] for k in experts])
        elif value is not None:
            setattr(part, name, np.asarray(value)[experts].copy())


def standard_cdf(z, df):
    """CDF of the standard t (normal where df is infinite), elementwise."""
    normal = np.isinf(df)
    return np.where(normal, ndtr(z), stdtr(np.where(normal, 1.0, df), z))


def standard_quantile(q, df):
    """q-quantile of the standard t (normal where df is infinite), (K,)."""
    normal = np.isinf(df)
    return np.where(normal, ndtri(q), stdtrit(np.where(normal, 1.0, df), q))
