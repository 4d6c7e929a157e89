"""The estimators' documentation, each text written once.

Every parameter and fitted attribute of the estimators (and the parameters of
``partial_fit``) is documented here once, as a numpydoc entry. ``document``
assembles a docstring from them: it replaces a ``{parameters}`` line with the
entries of the signature's parameters, in order, an ``{attributes}`` line
with the attributes the class lists, and ``{word}`` fields with the words of
its variants and the fields it is given.

A few texts differ by variant, the task ("regression" or "classification")
or the tree ("hierarchy"): an entry of a variant's table takes precedence
over the shared one, and the task's ``WORDS`` fill the fields of the shared
texts.
"""

import inspect
import re


def _entries(block):
    """{name: entry} of a block of numpydoc entries at zero indentation."""
    entries = {}
    for line in block.strip("\n").splitlines():
        if line and not line[0].isspace():
            name = line.split(" : ")[0]
            entries[name] = []
        entries[name].append(line)
    return {name: "\n".join(lines) for name, lines in entries.items()}


PARAMETERS = {
    "": _entries(
        """
n_experts : int, default=4
    Number of experts K.
gate : mixexp gate or None, default=None
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
    Columns of X the experts see. None is all.
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
    cooperate; {cooperative}).
    EM needs ``"likelihood"``.
top_k : int or None, default=None
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
    ``expert_load_``. Eight experts routed two at a time on two regimes
    (``tests/test_routing.py``) needed 1 for an even load from every
    start tried; 0.1 evened it from some.
max_iter : int, default=200
    EM iterations, L-BFGS iterations or epochs at most per
    initialization (EM with ``top_k``: per phase, dense then sparse).
n_init : int, default=1
    Initializations to run; the fit with the highest likelihood is kept.
    With ``init="kmeans"`` the first starts from k-means clusters and the
    others from one k-means++ seeding each, without Lloyd's iterations,
    which would lead them all to the same clusters.
n_jobs : int, default=None
    Initializations to run in parallel, in worker processes (joblib; in
    threads for dask input; a backend set with ``joblib.parallel_config``
    takes precedence). ``None`` means 1 unless in a
    ``joblib.parallel_config`` context, -1 means all processors. Each
    initialization has its own random seed drawn from ``random_state``, so
    the result is the same for every ``n_jobs``.
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
    {target_shape}): ``fit`` then raises a ValueError
    naming the change, and ``warm_start=False`` refits from scratch.
verbose : int, default=0
    1 prints each initialization and every tenth iteration, 2 every
    iteration, as ``Iteration N, log-likelihood = ...``.
"""
    ),
    # What the initialization clusters, and the scale of a squared error,
    # depend on the targets.
    "regression": _entries(
        """
tol : float, default=1e-4
    Convergence threshold on the change of the training objective (the
    mean penalized log-likelihood per sample for EM; a squared-error
    ``loss`` is measured in units of the target's variance).
init : {"kmeans", "random"}, default="kmeans"
    Initial responsibilities: k-means clusters of the standardized joint
    (x, y) space, or the nearest of ``n_experts`` randomly drawn samples.
"""
    ),
    "classification": _entries(
        """
class_weight : dict, "balanced" or None, default=None
    Weights of the classes, multiplying the sample weights as in
    :class:`~sklearn.linear_model.LogisticRegression`: ``{label: weight}``
    (the classes not named weigh 1), or ``"balanced"``, ``n_samples /
    (n_classes * np.bincount(y))`` from the training labels (not in
    ``partial_fit``, which never sees all the data). None weighs every
    class 1.
tol : float, default=1e-4
    Convergence threshold on the change of the training objective (the
    mean penalized log-likelihood per sample for EM).
init : {"kmeans", "random"}, default="kmeans"
    Initial responsibilities: k-means clusters of the standardized inputs,
    or the nearest of ``n_experts`` randomly drawn samples.
"""
    ),
    "hierarchy": _entries(
        """
depth : int, default=2
    Levels of gates (JJ94's tree depth), at most 64; the hierarchy has
    ``branching ** depth`` experts. Depth 1 is the flat mixture.
branching : int, default=2
    Children of every gate node. ``warm_start`` and ``partial_fit``
    continue the fitted tree: after a change of ``depth`` or
    ``branching`` they raise a ValueError, and ``fit`` with
    ``warm_start=False`` fits the new tree.
gate : SoftmaxGate or None, default=None
    Settings of every gate node (``alpha``, ``solver``, ...), cloned into
    a :class:`~mixexp.gates.TreeGate` at fit; None is ``SoftmaxGate()``.
    Tune them as ``gate__alpha`` and so on.
"""
    ),
    # The deep mixtures (Eigen, Ranzato & Sutskever 2013): a stack of layers,
    # trained by the gradient solvers only.
    "deep": _entries(
        """
layers : int or array-like of int, default=(4, 4)
    Experts of each mixture-of-experts layer, first layer first; an int
    is one layer. Every layer mixes its experts' outputs with its own
    softmax gate on the layer's input.
hidden_units : int or array-like of int, default=32
    Outputs of each expert of a layer (the width of the layer's output
    ``z``), one value for every layer or one per layer.
top_k : int, array-like of int or None, or None, default=None
    Sparse gating per layer (Shazeer et al. 2017): each sample goes to the
    ``top_k`` experts with the largest gate logits, with the softmax
    renormalized over them, in training and in prediction. One value for
    every layer or one per layer (None entries keep a layer dense); a
    value at least the layer's experts keeps it dense. With ``top_k=1`` a
    layer's gate gets no gradient from the loss (only from
    ``balance_weight``): use ``top_k >= 2`` to train its routing.
balance_weight : float, default=0.1
    Strength of a load-balancing loss in every layer, the importance loss
    of Shazeer et al. (2017) written as the Switch Transformer's (Fedus et
    al. 2022): ``balance_weight * K * sum_i P_i^2``, with ``P_i`` expert
    i's mean gate probability over a batch (``CV(P)^2 + 1`` times
    ``balance_weight``; smallest when every ``P_i`` is ``1 / K``). The
    flat mixtures' loss multiplies ``P_i`` by the share of the batch routed
    to expert i instead; a share counts rows and jumps, which stops
    L-BFGS's line search (``solver="gd"``), while ``P_i^2`` is smooth. It
    keeps a layer from sending everything to a few experts early in
    training, the collapse Eigen et al. (2013) prevented by constraining
    the gates' running assignments; 0 turns it off. On jittered digits
    (``make_jittered_digits``) 0.01 left two of the second layer's four
    experts unused, 0.1 uses all four at the same accuracy. See
    ``expert_load_``.
solver : {"adam", "sgd", "gd"}, default="adam"
    Training algorithm, as for the flat mixtures' gradient solvers:
    minibatch Adam, minibatch SGD with Nesterov momentum, or full-batch
    L-BFGS with analytic gradients (``"gd"``, for small data).
alpha : float, default=1e-4
    Strength of the L2 penalty on the weights (experts', gates' and the
    output's, not the biases), ``alpha / 2 * ||W||^2`` per unit of sample
    weight, as in :class:`~sklearn.neural_network.MLPClassifier`.
max_iter : int, default=200
    Epochs (``"adam"``, ``"sgd"``) or L-BFGS iterations (``"gd"``) at
    most.
tol : float, default=1e-4
    The solvers stop after ``n_iter_no_change`` epochs or iterations that
    do not lower the training objective (or raise the validation score,
    with ``early_stopping``) by ``tol``.
random_state : int, RandomState instance or None, default=None
    Seeds the initial weights (Glorot-uniform, as scikit-learn's MLP), the
    validation split and the minibatches; an int makes every fit
    reproducible.
verbose : int, default=0
    1 prints every tenth epoch or iteration, 2 every one, as ``Epoch N,
    loss = ...``.
"""
    ),
    # The parameters of partial_fit (rendered with the task's variant).
    "partial_fit": _entries(
        """
X : array-like of shape (n_samples, n_features)
    Inputs of the batch.
y : array-like of shape ({y_shape})
    Targets of the batch.
classes : array-like of shape (n_classes,), default=None
    Every class the stream may contain; required on the first call
    (later calls may repeat it).
sample_weight : array-like of shape (n_samples,), default=None
    Non-negative weights of the batch's samples.
"""
    ),
    "cv": _entries(
        """
n_experts : array-like of int, default=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
    Increasing numbers of experts to walk.
gates : list of gate components, default=None
    Candidate gates; None uses
    {default_gates}.
    A ``TreeGate()`` among them adds hierarchies,
    :class:`Hierarchical{mixture}`
    with its ``branching`` and softmax nodes of its settings: a single
    expert, then a level deeper at each size that is a power of
    ``branching``, every leaf split among its children as the split path
    splits an expert. A tree cannot drop a leaf, so it grows only where
    every leaf splits.
cv : int, cross-validation generator, iterable or None, default=None
    Folds, as in :func:`~sklearn.model_selection.check_cv`; an int gives
    shuffled folds{stratified}. None gives 5 folds below 500 rows (3 would
    leave each fit a third fewer rows, and the search is cheap there), 3
    from 500 rows and 2 from 5,000 (half the rows fit every candidate well,
    and each fold's fits cost in proportion to its rows). Folds need not
    hold out every row (``ShuffleSplit``): candidates are compared on the
    rows they do hold out. With ``groups`` given to ``fit``, an int or None
    gives folds by group (at most one per group).
selection : "one_standard_error" or "best", default="one_standard_error"
    "best" takes the candidate with the best mean held-out score; the
    one-standard-error rule takes, among the candidates whose rows score
    worse than the best one's by at most one standard error of that
    difference (paired over the rows, each scored by the fold that held it
    out), the one with the fewest parameters.
patience : int or None, default=2
    Numbers of experts in a row that do not beat a form's best by more
    than one standard error (by anything with ``selection="best"``) after
    which the form stops walking. Forms also race: once a form has walked
    three numbers of experts, it stops walking if its best held-out score
    trails that of a form with the same experts and another gate by more
    than two standard errors of the paired difference, or the best of any
    form so far by more than four; not while its own experts under another
    gate lead it by less than its latest number of experts gained (it may
    overtake at the next). None walks every form along the whole grid.
max_iter : int, default=200
    EM iterations of each fit.
tol : float, default=1e-3
    EM's tolerance in every fit (see the mixture's ``tol``), looser than a
    mixture's default: the choice of a model needs no more precision, and
    the search makes many fits.
n_jobs : int, default=None
    Folds and candidates fitted at once, in worker processes (a backend
    set with ``joblib.parallel_config`` takes precedence); ``None`` means 1
    unless in a ``joblib.parallel_config`` context, -1 means all
    processors. The result is the same for every ``n_jobs``.
random_state : int, RandomState instance or None, default=None
    Seeds the folds and the mixtures.
verbose : int, default=0
    1 prints a progress line after each number of experts: the fits made,
    the seconds so far, the best mean held-out score and how many
    candidate forms go on. 0 prints nothing.
"""
    ),
    "cv_regression": _entries(
        """
experts : list of expert components, default=None
    Candidate expert forms; None searches ``LinearExpert(alpha="evidence")``
    and, on at most 25 inputs with at least five rows per coefficient of a
    full quadratic in them, ``LinearExpert(alpha="evidence", degree=2)``:
    each expert's ridge penalty is chosen by its evidence within the fit,
    so an expert with little signal or few rows is shrunk toward a constant
    rather than fitting the noise. Sample weights then count as rows (a
    weight of 2 is a repeated row), so scaling them all changes the
    penalties.
scoring : "squared_error", "log_likelihood" or None, default=None
    The held-out score of every row that candidates are compared on: minus
    its squared error (None: what ``score``, the R^2, measures, as RidgeCV
    and GridSearchCV compare regressors) or its log-likelihood (which also
    judges the predicted spread).
"""
    ),
    "cv_classification": _entries(
        """
experts : list of expert components, default=None
    Candidate expert forms; None uses ``LogisticExpert()``. Add
    ``LogisticExpert(degree=2)`` to search quadratic class boundaries too
    (not a default: on the 1991 vowels it chose one quadratic expert, which
    classified new speakers worse).
scoring : "log_likelihood", "accuracy" or None, default=None
    The held-out score of every row that candidates are compared on: its
    log-likelihood, the log of the probability given to its class (None),
    or whether its class is predicted (too coarse to rank close models
    well).
"""
    ),
}

ATTRIBUTES = {
    "": _entries(
        """
gate_ : :class:`~mixexp.gates.SoftmaxGate`
    Fitted gate, with ``coef_`` of shape (n_experts, `n_features_in_`) and
    ``intercept_`` of shape (n_experts,).
n_experts_ : int
    Experts of the fitted model: ``n_experts``, less the degenerate
    experts the fit removed (those that explained fewer rows of data than
    they have parameters; a warning says which). The fitted arrays and
    every ``predict_*`` output have this many experts.
expert_load_ : ndarray of shape (`n_experts_`,)
    Fraction of the routing slots each expert gets on the training
    data: each sample is routed to its ``top_k`` experts (to its most
    probable expert when ``top_k`` is None). Sums to one; uniform is
    ``1 / n_experts``. After ``partial_fit``, over the batches seen,
    each routed by the gate of its time.
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
lower_bounds_ : ndarray of shape (`n_iter_`,) or (1,)
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
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during fit, when X has string column names.
"""
    ),
    "regression": _entries(
        """
experts_ : :class:`~mixexp.experts.LinearExpert`
    Fitted experts, with ``coef_`` of shape (n_experts, `n_features_in_`)
    (or (n_experts, `n_outputs_`, `n_features_in_`)), ``intercept_`` and
    ``noise_variance_``.
n_outputs_ : int
    Number of target columns.
"""
    ),
    "classification": _entries(
        """
classes_ : ndarray of shape (n_classes,)
    Class labels.
experts_ : :class:`~mixexp.experts.LogisticExpert`
    Fitted experts, with ``coef_`` of shape
    (n_experts, n_classes, `n_features_in_`) and ``intercept_`` of shape
    (n_experts, n_classes).
"""
    ),
    "deep": _entries(
        """
expert_coefs_ : list of ndarray
    Per layer, the experts' weights, of shape (n_inputs, n_experts,
    n_units): the layer's input (`n_features_in_` for the first layer, the
    previous layer's ``hidden_units`` after) to each expert's units.
expert_intercepts_ : list of ndarray
    Per layer, the experts' biases, of shape (n_experts, n_units).
gate_coefs_ : list of ndarray
    Per layer, the gate's weights, of shape (n_inputs, n_experts).
gate_intercepts_ : list of ndarray
    Per layer, the gate's biases, of shape (n_experts,).
coef_ : ndarray of shape (n_units, n_outputs)
    The output layer's weights ({outputs}).
intercept_ : ndarray of shape (n_outputs,)
    The output layer's biases.
top_k_ : tuple of int or None
    The experts each layer keeps per sample, None for a dense layer.
n_parameters_ : int
    Number of trained parameters, weights and biases.
expert_load_ : list of ndarray
    Per layer, the fraction of the routing slots each expert gets on the
    training data (each sample's ``top_k`` experts, or its most probable
    one in a dense layer), of shape (n_experts,); uniform is
    ``1 / n_experts``.
n_iter_ : int
    Epochs or L-BFGS iterations run.
converged_ : bool
    Whether the solver met ``tol`` within ``max_iter``; False, with a
    ConvergenceWarning, also when a minibatch solver diverged or ended
    above its start and kept earlier parameters.
loss_curve_ : list of float
    Training objective per epoch or iteration, lower is better: the mean
    loss per unit of sample weight ({loss}) plus the balancing loss and
    the penalty; for ``"sgd"`` and ``"adam"`` the mean over each epoch's
    batches, at the parameters of each step.
"""
    ),
    "deep_regression": _entries(
        """
target_mean_ : ndarray of shape (`n_outputs_`,)
    The weighted mean of each target column, which the network's output
    is shifted by (it is trained on standardized targets, so that the
    learning rate and ``tol`` do not depend on the targets' units).
target_scale_ : ndarray of shape (`n_outputs_`,)
    The weighted standard deviation of each target column (1 for a
    constant column), which the output is scaled by.
"""
    ),
    "hierarchy": _entries(
        """
gate_ : :class:`~mixexp.gates.TreeGate`
    Fitted tree of gates, with ``coef_`` of shape
    (n_internal, branching, n_features) and ``intercept_`` of shape
    (n_internal, branching), nodes numbered breadth first (see
    :meth:`predict_node_proba`).
"""
    ),
    "cv": _entries(
        """
best_estimator_ : {mixture}
    The chosen mixture, refitted on all rows; the ``predict_*`` methods of
    this estimator are its.
best_params_ : dict
    ``expert``, ``gate`` and ``n_experts`` of the chosen candidate.
best_score_ : float
    Its mean held-out score per sample (``scoring``).
best_index_ : int
    Its row in ``cv_results_``.
n_experts_ : int
    Experts of the refitted mixture (after pruning, see
    :class:`~mixexp.{mixture}`).
n_iter_ : int
    EM iterations of the refit on all rows.
cv_results_ : dict of arrays
    One row per (expert, gate, n_experts): ``params``, ``param_expert``,
    ``param_gate``, ``param_n_experts``, the held-out score of each fold
    (``split0_test_score``, ``split1_test_score``, ...: NaN where the form
    had stopped walking), ``mean_test_score``, ``std_test_score``,
    ``rank_test_score``, and the means over the folds of the fitted number
    of experts, the parameters and the seconds of a fit
    (``mean_n_experts_fitted``, ``mean_n_parameters``, ``mean_fit_time``).
"""
    ),
}

# The words of the shared texts that depend on the task.
WORDS = {
    "cv_regression": {
        "mixture": "MixtureOfExpertsRegressor",
        "stratified": "",
        "default_gates": (
            '``SoftmaxGate()`` and ``GaussianGate(covariance_type="full")``, '
            "and ``SoftmaxGate(alpha=1e-3)`` where quadratic experts are not "
            "offered"
        ),
    },
    "cv_classification": {
        "mixture": "MixtureOfExpertsClassifier",
        "stratified": ", stratified",
        "default_gates": (
            "``SoftmaxGate()``, ``SoftmaxGate(alpha=1e-3)``, "
            '``GaussianGate(covariance_type="diag")`` and '
            '``GaussianGate(covariance_type="full")``'
        ),
    },
    "deep_regression": {
        "outputs": "the standardized targets, see ``target_mean_``",
        "loss": "half the squared error of the standardized targets",
    },
    "deep_classification": {
        "outputs": "the classes' logits",
        "loss": "the cross-entropy",
    },
    "regression": {
        "experts": ":class:`~mixexp.experts.LinearExpert`, "
        ":class:`~mixexp.experts.StudentTExpert`, "
        ":class:`~mixexp.experts.PoissonExpert`",
        "kind": "regressor",
        "default": "LinearExpert",
        "cooperative": "regression only",
        "target_shape": "the number of outputs",
        "y_shape": "n_samples,) or (n_samples, n_outputs",
    },
    "classification": {
        "experts": ":class:`~mixexp.experts.LogisticExpert`",
        "kind": "classifier",
        "default": "LogisticExpert",
        "cooperative": "regression only, so not available here",
        "target_shape": "the classes",
        "y_shape": "n_samples,",
    },
}

# The fitted attributes every estimator documents after its own.
_FITTED = (
    "n_experts_",
    "expert_load_",
    "n_iter_",
    "n_iter_dense_",
    "converged_",
    "lower_bound_",
    "lower_bounds_",
    "loss_curve_",
    "n_features_in_",
    "feature_names_in_",
)
REGRESSOR_ATTRIBUTES = ("gate_", "experts_", "n_outputs_", *_FITTED)
_DEEP_FITTED = (
    "expert_coefs_",
    "expert_intercepts_",
    "gate_coefs_",
    "gate_intercepts_",
    "coef_",
    "intercept_",
    "top_k_",
    "n_parameters_",
    "expert_load_",
    "n_iter_",
    "converged_",
    "loss_curve_",
    "n_features_in_",
    "feature_names_in_",
)
DEEP_CLASSIFIER_ATTRIBUTES = ("classes_", *_DEEP_FITTED)
DEEP_REGRESSOR_ATTRIBUTES = (
    "n_outputs_",
    "target_mean_",
    "target_scale_",
    *_DEEP_FITTED,
)

_CV_FITTED = (
    "best_estimator_",
    "best_params_",
    "best_score_",
    "best_index_",
    "n_experts_",
    "n_iter_",
    "cv_results_",
    "n_features_in_",
    "feature_names_in_",
)
REGRESSOR_CV_ATTRIBUTES = _CV_FITTED
CLASSIFIER_CV_ATTRIBUTES = (*_CV_FITTED[:-2], "classes_", *_CV_FITTED[-2:])
CLASSIFIER_ATTRIBUTES = ("classes_", "gate_", "experts_", *_FITTED)

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
{parameters}

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


def _entry(tables, name, variants):
    for variant in (*variants, ""):
        if name in tables.get(variant, {}):
            return tables[variant][name]
    raise KeyError(
        f"{name!r} has no entry in mixexp._docs for the variants {variants}; "
        "document it there."
    )


def render(template, variants, parameters=(), attributes=(), **fields):
    """``template`` with its ``{parameters}`` and ``{attributes}`` lines
    replaced by the named entries (indented as the line) and its ``{word}``
    fields by the variants' words and ``fields``."""
    blocks = {
        "{parameters}": [_entry(PARAMETERS, name, variants) for name in parameters],
        "{attributes}": [_entry(ATTRIBUTES, name, variants) for name in attributes],
    }
    lines = []
    for line in template.split("\n"):
        entries = blocks.get(line.strip())
        if entries is None:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        for entry in entries:
            lines.extend(indent + row for row in entry.split("\n"))
    doc = "\n".join(lines)
    words = {}
    for variant in reversed(variants):
        words.update(WORDS.get(variant, {}))
    for key, value in {**words, **fields}.items():
        doc = doc.replace("{" + key + "}", str(value))
    left = re.search(r"\{\w+\}", doc)
    if left:  # a typo in a field would otherwise reach the rendered page
        raise KeyError(f"{left.group()} is not filled for the variants {variants}.")
    return doc


def document(*variants, template=None, attributes=(), **fields):
    """Decorator rendering the docstring of a class (the parameters of its
    ``__init__``) or a method (of its signature) with ``render``;
    ``template`` replaces the object's own docstring as the template."""

    def decorate(obj):
        doc = obj.__doc__ if template is None else template
        if doc is None:  # python -OO strips docstrings
            return obj
        function = obj.__init__ if inspect.isclass(obj) else obj
        parameters = [p for p in inspect.signature(function).parameters if p != "self"]
        obj.__doc__ = render(doc, variants, parameters, attributes, **fields)
        return obj

    return decorate
