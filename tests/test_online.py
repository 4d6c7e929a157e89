"""partial_fit: online EM over a stream of batches."""

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import load_vowels, make_mixture_regression, make_piecewise_linear


def _stream(est, X, y, passes=3, chunks=20, **kwargs):
    order = np.random.RandomState(0).permutation(len(X))
    for _ in range(passes):
        for batch in np.array_split(order, chunks):
            est.partial_fit(X[batch], y[batch], **kwargs)
    return est


def _relative_gap(online, batch, X_test, y_test):
    online_ll = online.log_likelihood(X_test, y_test).mean()
    batch_ll = batch.log_likelihood(X_test, y_test).mean()
    return abs(online_ll - batch_ll) / abs(batch_ll)


def test_streaming_regression_approaches_batch_em():
    X, y = make_mixture_regression(
        5000, n_features=5, n_experts=3, gate_scale=3, noise=0.3, random_state=0
    )
    X_train, y_train, X_test, y_test = X[:3000], y[:3000], X[3000:], y[3000:]
    batch = MixtureOfExpertsRegressor(3, random_state=0).fit(X_train, y_train)
    # From some first batches three passes are too few to reach batch EM.
    online = _stream(
        MixtureOfExpertsRegressor(3, random_state=0), X_train, y_train, passes=6
    )
    assert online.n_iter_ == 120 and len(online.loss_curve_) == 120
    assert _relative_gap(online, batch, X_test, y_test) < 0.02


def test_streaming_classification_generalizes_as_well_as_batch_em():
    """After three passes online EM is still short of batch EM's training
    optimum (its gates sharpen slowly), but on new speakers its model is as
    good: a held-out log-likelihood at most 2 % lower, accuracy at most 0.02."""
    data = load_vowels()
    train = data.speaker <= 50
    test = (data.speaker > 50) & (data.speaker <= 75)
    scaler = StandardScaler().fit(data.data[train])
    X_train, X_test = (
        scaler.transform(data.data[train]),
        scaler.transform(data.data[test]),
    )
    y_train, y_test = data.target[train], data.target[test]
    batch = MixtureOfExpertsClassifier(4, random_state=0).fit(X_train, y_train)
    online = _stream(
        MixtureOfExpertsClassifier(4, random_state=0),
        X_train,
        y_train,
        classes=np.unique(data.target),
    )
    online_ll = online.log_likelihood(X_test, y_test).mean()
    batch_ll = batch.log_likelihood(X_test, y_test).mean()
    assert online_ll >= batch_ll - 0.02 * abs(batch_ll)
    assert online.score(X_test, y_test) >= batch.score(X_test, y_test) - 0.02


def test_sharp_gates_learn_more_slowly_online_but_learn():
    """A gate between pieces with jumps becomes sharp only over many batches;
    after three passes the fit is good but below batch EM's (the closing
    note of issue 3 tracks this)."""
    X, y = make_piecewise_linear(3000, random_state=0)
    X_test, y_test = make_piecewise_linear(2000, random_state=1)
    online = _stream(MixtureOfExpertsRegressor(3, random_state=0), X, y)
    assert online.score(X_test, y_test) > 0.95
    np.testing.assert_allclose(
        np.sort(online.experts_.coef_[:, 0]), [-1, 2, 3], atol=0.05
    )


def test_partial_fit_api():
    X, y = make_piecewise_linear(300, random_state=0)
    labels = (X[:, 0] > 0).astype(int)
    clf = MixtureOfExpertsClassifier(2, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X[:50], labels[:50])
    clf.partial_fit(X[:50], labels[:50], classes=[0, 1])
    with pytest.raises(ValueError, match="differ from the classes"):
        clf.partial_fit(X[50:100], labels[50:100], classes=[0, 1, 2])
    with pytest.raises(ValueError, match="not seen during fit"):
        clf.partial_fit(X[50:100], labels[50:100] + 7)
    with pytest.raises(ValueError, match="X has 2 features"):
        clf.partial_fit(np.hstack([X, X])[50:100], labels[50:100])
    assert clf.n_iter_ == 1  # failed calls changed nothing
    reg = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    fitted, n_iter = reg.predict(X), reg.n_iter_
    reg.partial_fit(X[:1], y[:1])  # a one-row batch is fine after the first call
    assert reg.n_iter_ == n_iter + 1 and hasattr(reg, "_online_state")
    np.testing.assert_allclose(reg.predict(X), fitted)  # burn-in: only statistics
    reg.fit(X, y)
    assert not hasattr(reg, "_online_state")  # fit starts the stream afresh
