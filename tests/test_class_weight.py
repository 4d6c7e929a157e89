"""class_weight on the classifiers: weights of the classes that multiply the
sample weights, as LogisticRegression reads them."""

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    MixtureOfExpertsClassifier,
)
from mixexp.datasets import make_local_classification

MAKERS = {
    "flat": lambda **kw: MixtureOfExpertsClassifier(3, random_state=0, **kw),
    "hierarchy": lambda **kw: HierarchicalMixtureOfExpertsClassifier(
        depth=2, random_state=0, **kw
    ),
}


def _imbalanced(n=600, seed=0):
    """Three classes, the last rare: labels as strings, so the weights are
    looked up by label, not by code."""
    X, y = make_local_classification(n, random_state=seed)
    rng = np.random.RandomState(seed)
    labels = np.where(y == 1, "b", "a").astype(object)
    labels[(X[:, 0] > 0.5) & (rng.uniform(size=n) < 0.5)] = "c"
    return X, labels.astype(str)


def _same_fit(a, b):
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-9, atol=1e-9)
    X, _ = _imbalanced(50, seed=1)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-8)


@pytest.mark.parametrize("name", list(MAKERS))
def test_a_dict_equals_the_sample_weights_it_stands_for(name):
    X, y = _imbalanced()
    class_weight = {"a": 0.5, "c": 3.0}  # "b" is not named: weight 1
    weights = np.array([class_weight.get(label, 1.0) for label in y])
    rng = np.random.RandomState(2)
    sample_weight = rng.uniform(0.5, 2.0, len(y))
    weighted = MAKERS[name](class_weight=class_weight).fit(X, y, sample_weight)
    by_hand = MAKERS[name]().fit(X, y, sample_weight * weights)
    _same_fit(weighted, by_hand)


def test_balanced_is_scikit_learns_balanced_weights():
    X, y = _imbalanced()
    expected = compute_class_weight("balanced", classes=np.unique(y), y=y)
    balanced = MAKERS["flat"](class_weight="balanced").fit(X, y)
    by_dict = MAKERS["flat"](
        class_weight=dict(zip(np.unique(y), expected, strict=True))
    ).fit(X, y)
    _same_fit(balanced, by_dict)


def test_integer_class_weights_equal_repeated_rows():
    X, y = _imbalanced(300)
    repeated = np.concatenate([np.arange(len(y)), np.flatnonzero(y == "c")])
    weighted = MAKERS["flat"](class_weight={"c": 2}).fit(X, y)
    copies = MAKERS["flat"]().fit(X[repeated], y[repeated])
    np.testing.assert_allclose(
        weighted.lower_bounds_[-1], copies.lower_bounds_[-1], rtol=1e-6
    )
    np.testing.assert_allclose(
        weighted.predict_proba(X), copies.predict_proba(X), atol=1e-5
    )


def test_balanced_weights_find_more_of_the_rare_class():
    X, y = _imbalanced(2000)
    X_test, y_test = _imbalanced(4000, seed=3)
    rare = y_test == "c"
    plain = MAKERS["flat"]().fit(X, y)
    balanced = MAKERS["flat"](class_weight="balanced").fit(X, y)
    recall_plain = np.mean(plain.predict(X_test[rare]) == "c")
    recall_balanced = np.mean(balanced.predict(X_test[rare]) == "c")
    assert recall_balanced > recall_plain + 0.05, (recall_plain, recall_balanced)


def test_partial_fit_takes_a_dict_and_refuses_balanced():
    X, y = _imbalanced()
    classes = np.unique(y)
    class_weight = {"c": 4.0}
    weights = np.where(y == "c", 4.0, 1.0)
    streamed = MAKERS["flat"](class_weight=class_weight)
    by_hand = MAKERS["flat"]()
    for batch in np.array_split(np.arange(len(y)), 3):
        streamed.partial_fit(X[batch], y[batch], classes=classes)
        by_hand.partial_fit(
            X[batch], y[batch], classes=classes, sample_weight=weights[batch]
        )
    np.testing.assert_allclose(
        streamed.predict_proba(X), by_hand.predict_proba(X), atol=1e-10
    )
    with pytest.raises(ValueError, match="partial_fit does not see"):
        MAKERS["flat"](class_weight="balanced").partial_fit(X, y, classes=classes)


@pytest.mark.parametrize(
    "class_weight, message",
    [
        ({"z": 2.0}, "'z', which is not one of the classes"),
        ({"a": -1.0}, "non-negative finite numbers"),
        ({"a": np.nan}, "non-negative finite numbers"),
        ({"a": True}, "non-negative finite numbers"),
        ({"a": 0, "b": 0, "c": 0}, "every class a weight of zero"),
    ],
)
def test_bad_class_weights_say_what_to_do(class_weight, message):
    X, y = _imbalanced(200)
    model = MAKERS["flat"]().fit(X, y)
    before = model.predict_proba(X)
    with pytest.raises(ValueError, match=message):
        model.set_params(class_weight=class_weight).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), before)  # untouched


def test_class_weight_is_a_parameter_of_the_classifiers_only():
    from mixexp import MixtureOfExpertsRegressor

    assert "class_weight" in MixtureOfExpertsClassifier().get_params()
    assert "class_weight" in HierarchicalMixtureOfExpertsClassifier().get_params()
    assert "class_weight" not in MixtureOfExpertsRegressor().get_params()
    with pytest.raises(ValueError, match="class_weight"):
        MixtureOfExpertsClassifier(class_weight="even").fit(*_imbalanced(100))
