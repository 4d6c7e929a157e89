"""scikit-learn's estimator checks over every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor

# score_samples(X, y) is the conditional log-likelihood log p(y | x): it needs
# y. Three sklearn checks call score_samples(X) with X alone, as for density
# models, so they cannot run it. tests/test_api.py asserts the same
# sample-order and subset invariance for score_samples(X, y),
# predict_responsibilities(X, y) and the predict methods; mixexp does not use
# the array API, so array-API dispatch cannot change its results.
_NEEDS_Y = (
    "score_samples(X, y) needs the targets y; the same invariance is asserted "
    "with y in tests/test_api.py::test_methods_are_row_wise"
)
EXPECTED_FAILED_CHECKS = {
    "check_methods_sample_order_invariance": _NEEDS_Y,
    "check_methods_subset_invariance": _NEEDS_Y,
    "check_array_api_input": _NEEDS_Y,
}

ESTIMATORS = [
    MixtureOfExpertsRegressor(),
    MixtureOfExpertsClassifier(),
    MixtureOfExpertsRegressor(n_experts=2, init="random"),
    MixtureOfExpertsClassifier(n_experts=2, init="random"),
]


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
