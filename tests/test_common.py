"""scikit-learn's estimator checks over every public estimator."""

import pytest
from sklearn.base import is_regressor
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from mixexp import (
    DeepMixtureOfExpertsClassifier,
    DeepMixtureOfExpertsRegressor,
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsClassifierCV,
    MixtureOfExpertsRegressor,
    MixtureOfExpertsRegressorCV,
)
from mixexp.experts import (
    GaussianProcessExpert,
    LinearExpert,
    LogisticExpert,
    PoissonExpert,
    StudentTExpert,
)
from mixexp.gates import ConstantGate, GaussianGate

# L-BFGS on the likelihood of a regression mixture stops after n_iter_no_change
# iterations without progress, short of the optimum, where its line search has
# amplified rounding: on the check's 15 rows the two fits start 8e-9 apart and
# differ by 2e-5 after ten iterations, and permuting the rows of one data set
# changes its fit as much (tests/test_properties.py holds EM to the check).
# A flat mixture no longer meets this here: on 15 rows of 30 features every
# expert has more parameters than rows, and pruning leaves one (a tree of
# gates keeps its leaves).
GD_LIKELIHOOD_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "gd on a regression likelihood stops short of the optimum along a path "
        "that rounding changes: row order alone moves its fit as much"
    ),
}

# scikit-learn's checks fit on a few rows, with few iterations, and on
# hostile values: not converging there is expected.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# The check sets min_weight_fraction_leaf=0.01 on a tree classifier, which a
# mixture with tree experts does not have: without it the trees keep pure
# leaves of the down-weighted classes, as DecisionTreeClassifier(max_depth=2,
# class_weight=...) alone does on the check's data (0.78 of the predictions
# are class 0; the check asks for 0.87).
TREE_EXPERT_FAILED_CHECKS = {
    "check_class_weight_classifiers": (
        "tree experts without min_weight_fraction_leaf keep pure leaves of the "
        "down-weighted classes, as a plain DecisionTreeClassifier does"
    ),
}

# The check keeps five rows of weight one (one class) among ten: two experts
# share them, so neither has the n_neighbors=5 rows a KNeighborsClassifier
# clone needs, and the fit says so (the check asks for an error naming the
# class); KNeighborsClassifier alone fits the five rows.
KNN_EXPERT_FAILED_CHECKS = {
    "check_classifiers_one_label_sample_weights": (
        "two experts split the check's five weighted rows, fewer than "
        "n_neighbors=5 each: the error names the rows, not the class"
    ),
}

# The deep mixtures with early stopping: the two data sets hold out
# different rows.
EARLY_STOPPING_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "early stopping holds out a random share of the rows, which differs "
        "between the weighted and the repeated data"
    ),
}
# A GP expert's E-step uses leave-one-out densities: a row of weight 2 is
# left out whole, while each of two repeated rows still sees its copy, so
# the two fits' responsibilities differ from the first E-step on (their
# M-steps are the same GP: tests/test_gp_expert.py checks that).
GP_EXPERT_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "the leave-one-out E-step leaves a weighted row out whole, and a "
        "repeated row's copy in: equal M-steps, different responsibilities"
    ),
}

ESTIMATORS = [
    MixtureOfExpertsRegressor(),
    MixtureOfExpertsClassifier(),
    MixtureOfExpertsRegressor(n_experts=2, init="random"),
    MixtureOfExpertsRegressor(n_experts=2, gate=ConstantGate()),
    MixtureOfExpertsClassifier(n_experts=2, init="random"),
    MixtureOfExpertsRegressor(solver="gd"),
    MixtureOfExpertsRegressor(solver="gd", loss="competitive"),
    MixtureOfExpertsRegressor(solver="gd", loss="cooperative"),
    MixtureOfExpertsClassifier(solver="gd"),
    MixtureOfExpertsRegressor(solver="adam", max_iter=30),
    MixtureOfExpertsClassifier(solver="sgd", loss="competitive", max_iter=30),
    MixtureOfExpertsRegressor(n_experts=3, top_k=2),
    MixtureOfExpertsClassifier(n_experts=3, top_k=2),
    MixtureOfExpertsRegressor(
        n_experts=3,
        top_k=2,
        solver="adam",
        gate_noise=True,
        balance_weight=0.1,
        max_iter=30,
    ),
    MixtureOfExpertsRegressor(n_experts=2, gate=GaussianGate()),
    MixtureOfExpertsClassifier(n_experts=2, gate=GaussianGate()),
    MixtureOfExpertsRegressor(n_experts=2, expert=StudentTExpert()),
    MixtureOfExpertsRegressor(n_experts=2, expert=PoissonExpert()),
    MixtureOfExpertsRegressor(n_experts=2, gate=ConstantGate(), expert=PoissonExpert()),
    MixtureOfExpertsRegressor(n_experts=2, expert=LinearExpert(degree=2)),
    MixtureOfExpertsRegressor(n_experts=2, expert=Ridge()),
    MixtureOfExpertsClassifier(n_experts=2, expert=LogisticExpert(alpha=1e-2)),
    MixtureOfExpertsClassifier(n_experts=2, expert=LogisticExpert(degree=2)),
    MixtureOfExpertsClassifier(
        n_experts=2, expert=DecisionTreeClassifier(max_depth=2, random_state=0)
    ),
    MixtureOfExpertsRegressor(n_experts=2, expert=KNeighborsRegressor()),
    # Few iterations: each M-step optimizes the GPs' hyperparameters.
    MixtureOfExpertsRegressor(n_experts=2, expert=GaussianProcessExpert(), max_iter=10),
    MixtureOfExpertsClassifier(n_experts=2, expert=KNeighborsClassifier()),
    HierarchicalMixtureOfExpertsRegressor(depth=2),
    HierarchicalMixtureOfExpertsClassifier(depth=2),
    HierarchicalMixtureOfExpertsRegressor(depth=2, solver="gd"),
    MixtureOfExpertsRegressorCV(n_experts=(1, 2), cv=3),
    MixtureOfExpertsClassifierCV(n_experts=(1, 2), cv=3),
    DeepMixtureOfExpertsClassifier(),
    DeepMixtureOfExpertsRegressor(),
    DeepMixtureOfExpertsClassifier(solver="gd"),
    DeepMixtureOfExpertsRegressor(solver="gd"),
    DeepMixtureOfExpertsClassifier(layers=(4, 3, 2), top_k=(2, 2, None)),
    DeepMixtureOfExpertsRegressor(
        layers=3, hidden_units=8, solver="sgd", learning_rate_init=1e-2
    ),
    DeepMixtureOfExpertsRegressor(early_stopping=True, balance_weight=0.0),
]


def _expected_failures(estimator):
    if not hasattr(estimator, "solver"):  # the CV estimators
        return {}
    if hasattr(estimator, "layers"):  # the deep mixtures
        return EARLY_STOPPING_FAILED_CHECKS if estimator.early_stopping else {}
    if isinstance(estimator.expert, DecisionTreeClassifier):
        return TREE_EXPERT_FAILED_CHECKS
    if isinstance(estimator.expert, KNeighborsClassifier):
        return KNN_EXPERT_FAILED_CHECKS
    if isinstance(estimator.expert, GaussianProcessExpert):
        return GP_EXPERT_FAILED_CHECKS
    if (
        estimator.solver == "gd"
        and estimator.loss == "likelihood"
        and is_regressor(estimator)
        and hasattr(estimator, "depth")
    ):
        return GD_LIKELIHOOD_FAILED_CHECKS
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
