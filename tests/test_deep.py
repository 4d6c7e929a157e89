"""The deep mixtures of experts: the network's gradient against finite
differences, its forward pass against a slow reference, and the estimators'
behaviour (sample weights, sparse gates, defaults, scikit-learn's tools)."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mixexp import DeepMixtureOfExpertsClassifier, DeepMixtureOfExpertsRegressor, _deep
from mixexp._losses import importance_balance
from mixexp.datasets import (
    make_jittered_digits,
    make_local_classification,
    make_piecewise_linear,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ------------------------------------------------------------ the network
def _problem(task, top_k, n_rows=23, n_features=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_rows, n_features))
    if task == "classification":
        y, n_outputs = rng.randint(0, 3, n_rows), 3
    else:
        y, n_outputs = rng.standard_normal((n_rows, 2)), 2
    arch = _deep.Architecture(n_features, (3, 4), (6, 5), top_k, n_outputs, task)
    params = _deep.initial_parameters(arch, rng)
    weight = rng.uniform(0.5, 2.0, n_rows)
    return arch, params, X, y, weight


GRADIENT_CASES = [
    ("classification", (None, None), 0.0),
    ("classification", (2, 1), 0.3),
    ("classification", (None, 3), 0.1),
    ("regression", (3, None), 0.1),
    ("regression", (None, 2), 0.0),
]


@pytest.mark.parametrize("task, top_k, balance", GRADIENT_CASES)
def test_gradient_matches_finite_differences(task, top_k, balance):
    arch, params, X, y, weight = _problem(task, top_k)

    def value(vector):
        return _deep.objective(
            _deep.unpack(vector, arch), arch, X, y, weight, 0.1, 0.05, 0.3, balance
        )[0]

    vector = _deep.pack(params)
    grad = _deep.pack(
        _deep.objective(params, arch, X, y, weight, 0.1, 0.05, 0.3, balance)[1]
    )
    eps = 1e-6
    numeric = np.array(
        [
            (value(vector + eps * e) - value(vector - eps * e)) / (2 * eps)
            for e in np.eye(vector.size)
        ]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("balance", [0.0, 0.2])
def test_chunked_passes_equal_one_pass(monkeypatch, balance):
    """Row chunks (bounded memory) change nothing, the balance loss's routing
    shares included: they are counted over all the rows first."""
    arch, params, X, y, weight = _problem("classification", (2, None), n_rows=50)
    whole = _deep.objective(params, arch, X, y, weight, 0.1, 0.05, 0.3, balance)
    monkeypatch.setattr(_deep, "_CHUNK_FLOATS", 7 * 38)  # 7 rows a chunk
    assert arch.chunk_rows() == 7
    chunked = _deep.objective(params, arch, X, y, weight, 0.1, 0.05, 0.3, balance)
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-12)
    for a, b in zip(chunked[1], whole[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def _slow_forward(params, arch, X):
    """Reference: each sample, layer and expert written out with Python
    loops, the top-k gate by sorting."""
    n_layers = len(arch.layers)
    outputs, gates = [], [[] for _ in range(n_layers)]
    for x in X:
        z = x
        for index in range(n_layers):
            w, b, v, c = params[4 * index : 4 * index + 4]
            logits = z @ v + c
            gate = np.exp(logits - logits.max())
            k = arch.top_k[index]
            if k is not None:
                gate[np.argsort(-logits)[k:]] = 0.0
            gate = gate / gate.sum()
            gates[index].append(gate)
            z = sum(
                gate[i] * np.maximum(z @ w[:, i, :] + b[i], 0.0)
                for i in range(arch.layers[index])
            )
        outputs.append(z @ params[-2] + params[-1])
    return np.array(outputs), [np.array(g) for g in gates]


@pytest.mark.parametrize("top_k", [(None, None), (1, 2), (2, 3)])
def test_forward_matches_a_slow_reference(top_k):
    arch, params, X, _, _ = _problem("classification", top_k)
    output, gates = _deep.predict_chunks(params, arch, X)
    expected_output, expected_gates = _slow_forward(params, arch, X)
    np.testing.assert_allclose(output, expected_output, rtol=1e-10)
    for gate, expected, k, n in zip(
        gates, expected_gates, top_k, arch.layers, strict=True
    ):
        np.testing.assert_allclose(gate, expected, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(gate.sum(axis=1), 1.0)
        assert np.all(np.count_nonzero(gate, axis=1) == (k or n))


def test_sample_weights_are_counts_in_the_objective():
    """The objective (and gradient) with integer weights equals that of the
    data with each row repeated as often, up to rounding."""
    arch, params, X, y, _ = _problem("regression", (2, None))
    counts = np.random.RandomState(1).randint(0, 4, X.shape[0])
    a = _deep.objective(params, arch, X, y, counts.astype(float), 0.1, 0.05, 0.3, 0.2)
    rows = np.repeat(np.arange(X.shape[0]), counts)
    b = _deep.objective(
        params, arch, X[rows], y[rows], np.ones(rows.size), 0.1, 0.05, 0.3, 0.2
    )
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    for ga, gb in zip(a[1], b[1], strict=True):
        np.testing.assert_allclose(ga, gb, rtol=1e-9, atol=1e-13)


# -------------------------------------------------------------- estimators
def _predictions(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.predict(X)


@pytest.mark.parametrize(
    "estimator, data",
    [
        (DeepMixtureOfExpertsClassifier, make_local_classification(80, random_state=0)),
        (DeepMixtureOfExpertsRegressor, make_piecewise_linear(80, random_state=0)),
    ],
)
def test_sample_weight_equals_repeated_rows(estimator, data):
    """Full-batch Adam (fewer rows than a batch) on weights 0, 1, 2 and on
    the rows repeated as often gives the same model. L-BFGS ("gd") does
    too in exact arithmetic, but on this non-convex objective its line
    searches amplify the rounding differences of the two sums (up to 1e-1
    in a probability after 100 iterations), so it is not held to it."""
    X, y = data
    counts = np.random.RandomState(0).randint(0, 3, X.shape[0])
    rows = np.repeat(np.arange(X.shape[0]), counts)
    settings = dict(max_iter=100, random_state=0)
    weighted = estimator(**settings).fit(X, y, sample_weight=counts)
    repeated = estimator(**settings).fit(X[rows], y[rows])
    np.testing.assert_allclose(
        _predictions(weighted, X), _predictions(repeated, X), rtol=1e-9, atol=1e-12
    )


def test_expert_permutation_does_not_change_predictions():
    X, y = load_iris(return_X_y=True)
    model = DeepMixtureOfExpertsClassifier(
        layers=(3, 2), hidden_units=5, max_iter=20, random_state=0
    ).fit(X, y)
    before, gates = model.predict_proba(X), model.predict_gate_proba(X)
    order = [2, 0, 1]
    model.expert_coefs_[0] = model.expert_coefs_[0][:, order]
    model.expert_intercepts_[0] = model.expert_intercepts_[0][order]
    model.gate_coefs_[0] = model.gate_coefs_[0][:, order]
    model.gate_intercepts_[0] = model.gate_intercepts_[0][order]
    np.testing.assert_allclose(model.predict_proba(X), before, rtol=1e-12)
    np.testing.assert_allclose(model.predict_gate_proba(X, layer=0), gates[0][:, order])


@pytest.mark.parametrize("solver", ["adam", "sgd", "gd"])
def test_defaults_learn_iris(solver):
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, random_state=0, stratify=y
    )
    model = DeepMixtureOfExpertsClassifier(solver=solver, random_state=0)
    model.fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.9
    assert (
        model.n_parameters_
        == _deep.Architecture(
            4, (4, 4), (32, 32), (None, None), 3, "classification"
        ).n_parameters
    )


def test_defaults_learn_digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = DeepMixtureOfExpertsClassifier(random_state=0).fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.9
    loads = model.expert_load_
    assert [load.shape for load in loads] == [(4,), (4,)]
    for load in loads:
        np.testing.assert_allclose(load.sum(), 1.0)


def test_defaults_learn_friedman1():
    # On load_diabetes (331 training rows) the defaults overfit, as
    # MLPRegressor's do: early_stopping=True is the remedy there.
    X, y = make_friedman1(1000, noise=0.5, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = DeepMixtureOfExpertsRegressor(random_state=0).fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.9


def test_regressor_does_not_depend_on_the_units_of_y():
    X, y = make_piecewise_linear(200, random_state=0)
    settings = dict(layers=(3, 3), hidden_units=8, max_iter=30, random_state=0)
    a = DeepMixtureOfExpertsRegressor(**settings).fit(X, y)
    b = DeepMixtureOfExpertsRegressor(**settings).fit(X, 1000.0 * y - 5.0)
    np.testing.assert_allclose(1000.0 * a.predict(X) - 5.0, b.predict(X), rtol=1e-8)
    assert a.loss_curve_ == pytest.approx(b.loss_curve_, rel=1e-8)


def test_regressor_multi_output_and_constant_column():
    X, y = make_piecewise_linear(150, random_state=0)
    Y = np.c_[y, -2 * y, np.full(y.shape, 3.0)]
    model = DeepMixtureOfExpertsRegressor(
        layers=2, hidden_units=8, solver="gd", max_iter=50, random_state=0
    ).fit(X, Y)
    assert model.predict(X).shape == (150, 3)
    np.testing.assert_allclose(model.target_scale_[2], 1.0)
    np.testing.assert_allclose(model.predict(X)[:, 2], 3.0, atol=0.1)
    assert model.score(X, Y) > 0.6


def test_top_k_per_layer():
    X, y = load_iris(return_X_y=True)
    model = DeepMixtureOfExpertsClassifier(
        layers=(4, 3, 2), hidden_units=(6, 5, 4), top_k=(2, None, 5), random_state=0
    ).fit(X, y)
    assert model.top_k_ == (2, None, None)  # 5 >= 2 experts: dense
    gates = model.predict_gate_proba(X)
    assert [g.shape for g in gates] == [(150, 4), (150, 3), (150, 2)]
    assert np.all(np.count_nonzero(gates[0], axis=1) == 2)
    np.testing.assert_allclose(model.predict_gate_proba(X, layer=-1), gates[2])
    assert [c.shape for c in model.expert_coefs_] == [(4, 4, 6), (6, 3, 5), (5, 2, 4)]
    assert model.coef_.shape == (4, 3)


def test_balance_weight_spreads_the_load():
    """The importance loss pulls every expert's mean gate probability to
    1 / K; without it, one of the four experts goes unused here."""
    X, y = load_digits(return_X_y=True)
    fits = {}
    for weight in (0.0, 1.0):
        model = DeepMixtureOfExpertsClassifier(
            layers=(4,), hidden_units=8, balance_weight=weight, max_iter=30,
            random_state=0,
        ).fit(X / 16, y)  # fmt: skip
        mean_gate = model.predict_gate_proba(X / 16, layer=0).mean(axis=0)
        fits[weight] = mean_gate, model.expert_load_[0]
    assert np.abs(fits[1.0][0] - 0.25).max() < 0.05
    assert np.abs(fits[0.0][0] - 0.25).max() > 0.2
    assert fits[1.0][1].min() > 0.1 > fits[0.0][1].min()


def test_early_stopping_keeps_the_best_validation_score():
    X, y = load_digits(return_X_y=True)
    model = DeepMixtureOfExpertsClassifier(
        layers=(2, 2), hidden_units=8, early_stopping=True, random_state=0
    ).fit(X, y)
    assert model.n_iter_ < 200
    assert model.score(X, y) > 0.85


def test_divergence_warns_and_keeps_earlier_parameters():
    X, y = make_piecewise_linear(200, random_state=0)
    model = DeepMixtureOfExpertsRegressor(
        solver="sgd", learning_rate_init=50.0, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="diverged.*StandardScaler"):
        model.fit(X, y)
    assert not model.converged_
    assert np.all(np.isfinite(model.predict(X)))


def test_verbose_prints_epochs(capsys):
    X, y = load_iris(return_X_y=True)
    DeepMixtureOfExpertsClassifier(max_iter=3, verbose=2).fit(X, y)
    assert "Epoch 3, loss =" in capsys.readouterr().out


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(layers=()), "no layer"),
        (dict(layers=(2, 0)), "positive int"),
        (dict(layers=(2, 2.5)), "positive int"),
        (dict(hidden_units=(3, 4, 5)), "3 entries for 2 layers"),
        (dict(hidden_units=(3, True)), "positive int"),
        (dict(top_k=(1, 2, 3)), "3 entries for 2 layers"),
        (dict(top_k=(0, None)), "positive int or None"),
    ],
)
def test_bad_architectures_are_refused(params, message):
    X, y = load_iris(return_X_y=True)
    model = DeepMixtureOfExpertsClassifier(**params)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)
    assert not hasattr(model, "coef_")


def test_bad_layer_index_is_refused():
    X, y = load_iris(return_X_y=True)
    model = DeepMixtureOfExpertsClassifier(max_iter=2).fit(X, y)
    for layer in (2, -3, 1.0, True):
        with pytest.raises(ValueError, match="not a layer index"):
            model.predict_gate_proba(X, layer=layer)


def test_a_failed_refit_keeps_the_previous_model():
    X, y = load_iris(return_X_y=True)
    model = DeepMixtureOfExpertsClassifier(max_iter=5, random_state=0).fit(X, y)
    before = model.predict_proba(X)
    with pytest.raises(ValueError, match="positive int"):
        model.set_params(layers=(2, 0)).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_pandas_pipeline_grid_search_clone_and_pickle():
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = DeepMixtureOfExpertsClassifier(max_iter=20, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.feature_names_in_, X.columns)
    with pytest.raises(ValueError, match="sepal"):
        model.predict(X.drop(columns=X.columns[0]))
    search = GridSearchCV(
        make_pipeline(
            StandardScaler(),
            DeepMixtureOfExpertsClassifier(solver="gd", max_iter=30, random_state=0),
        ),
        {"deepmixtureofexpertsclassifier__layers": [(2,), (2, 2)]},
        cv=2,
    ).fit(X, y)
    assert search.best_score_ > 0.8
    copy = clone(model)
    assert not hasattr(copy, "coef_")
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    restored.expert_coefs_[0][:] = 0.0  # nothing is shared with the original
    assert np.any(model.expert_coefs_[0] != 0.0)
    assert isinstance(restored.predict(pd.DataFrame(X)), np.ndarray)


def test_no_numpy_warnings_on_extreme_logits():
    X, y = load_iris(return_X_y=True)
    model = DeepMixtureOfExpertsClassifier(
        layers=(3, 3), top_k=2, max_iter=5, random_state=0
    ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = model.predict_proba(1e6 * X)
        gates = model.predict_gate_proba(1e6 * X)
    assert np.all(np.isfinite(proba))
    for gate in gates:
        np.testing.assert_allclose(gate.sum(axis=1), 1.0)


# ----------------------------------------------------------------- the data
def test_make_jittered_digits_places_each_image():
    digits = load_digits()
    X, y, position = make_jittered_digits(n_copies=2, canvas_size=12, grid=3)
    assert X.shape == (2 * 1797, 144) and y.shape == position.shape == (2 * 1797,)
    np.testing.assert_array_equal(y, np.tile(digits.target, 2))
    offsets = [0, 2, 4]
    canvases = X.reshape(-1, 12, 12)
    for row in range(0, X.shape[0], 97):  # a slow check of a sample of rows
        top, left = offsets[position[row] // 3], offsets[position[row] % 3]
        image = digits.images[row % 1797]
        np.testing.assert_array_equal(
            canvases[row, top : top + 8, left : left + 8], image
        )
        outside = canvases[row].copy()
        outside[top : top + 8, left : left + 8] = 0.0
        assert not outside.any()
    # The positions are drawn uniformly.
    counts = np.bincount(position, minlength=9)
    assert counts.min() > 0.7 * counts.mean()


def test_make_jittered_digits_seeds_and_limits():
    a = make_jittered_digits(random_state=0)
    b = make_jittered_digits(random_state=0)
    for x, z in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, z)
    X, _, position = make_jittered_digits(canvas_size=8, grid=1)
    np.testing.assert_array_equal(X, load_digits().data)
    assert not position.any()
    with pytest.raises(ValueError, match="grid <= canvas_size - 7"):
        make_jittered_digits(canvas_size=10, grid=4)
    with pytest.raises(ValueError, match="canvas_size"):
        make_jittered_digits(canvas_size=7)


def test_html_repr_links_to_the_api_page():
    html = DeepMixtureOfExpertsRegressor()._repr_html_()
    assert "generated/mixexp.DeepMixtureOfExpertsRegressor.html" in html


def test_importance_loss_is_the_cv_squared_of_the_mean_gate():
    """``importance_balance`` over a batch: strength * K * sum_i P_i^2 per unit
    of weight, which is strength * (CV(P)^2 + 1) (Shazeer et al. 2017)."""
    rng = np.random.RandomState(0)
    prob = rng.dirichlet(np.ones(5), size=40).T  # (K, n_rows)
    weight = rng.uniform(0.5, 2.0, 40)
    mean = prob @ weight / weight.sum()
    value, _ = importance_balance(weight, prob, mean, 0.3)
    np.testing.assert_allclose(value / weight.sum(), 0.3 * 5 * np.sum(mean**2))
    cv2 = np.var(mean) / np.mean(mean) ** 2
    np.testing.assert_allclose(value / weight.sum(), 0.3 * (cv2 + 1))


def test_lbfgs_converges_with_the_balance_loss():
    """The balance loss is smooth, so L-BFGS's line search does not stall (a
    loss on routed counts stopped it after 10 iterations at R^2 0.85)."""
    X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
    model = DeepMixtureOfExpertsRegressor(
        layers=(3, 3), hidden_units=8, solver="gd", random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y)
    assert model.converged_ and model.n_iter_ > 50
    assert model.score(X, y) > 0.97
