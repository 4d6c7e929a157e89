"""Persistence (mixexp.io on skops, pickle, joblib), determinism and threads."""

import hashlib
import io
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsClassifierCV,
    MixtureOfExpertsRegressor,
    MixtureOfExpertsRegressorCV,
)
from mixexp import io as mio
from mixexp.datasets import make_local_classification, make_piecewise_linear
from mixexp.experts import StudentTExpert
from mixexp.gates import GaussianGate

REGRESSION = make_piecewise_linear(300, random_state=0)
CLASSIFICATION = make_local_classification(300, random_state=0)

MODELS = {
    "flat regressor": (lambda: MixtureOfExpertsRegressor(3), REGRESSION),
    "flat classifier": (lambda: MixtureOfExpertsClassifier(2), CLASSIFICATION),
    "hierarchical regressor": (
        lambda: HierarchicalMixtureOfExpertsRegressor(depth=2),
        REGRESSION,
    ),
    "hierarchical classifier": (
        lambda: HierarchicalMixtureOfExpertsClassifier(depth=2),
        CLASSIFICATION,
    ),
    "gaussian gate, t experts": (
        lambda: MixtureOfExpertsRegressor(
            2, gate=GaussianGate(), expert=StudentTExpert()
        ),
        REGRESSION,
    ),
    "sklearn experts": (lambda: MixtureOfExpertsRegressor(2, expert=SVR()), REGRESSION),
    "sparse gate": (lambda: MixtureOfExpertsRegressor(4, top_k=2), REGRESSION),
    "pipeline": (
        lambda: make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(3)),
        REGRESSION,
    ),
    "regressor CV": (
        lambda: MixtureOfExpertsRegressorCV(n_experts=(1, 2), cv=2),
        REGRESSION,
    ),
    "classifier CV": (
        lambda: MixtureOfExpertsClassifierCV(n_experts=(1, 2), cv=2),
        CLASSIFICATION,
    ),
}


def _fitted(name):
    make, (X, y) = MODELS[name]
    model = make()
    model.set_params(**{k: 0 for k in model.get_params() if k.endswith("random_state")})
    return model.fit(X, y), X, y


def _outputs(model, X):
    outputs = [model.predict(X)]
    if hasattr(model, "predict_proba"):
        outputs.append(model.predict_proba(X))
    return outputs


def _assert_same_outputs(a, b, X):
    for left, right in zip(_outputs(a, X), _outputs(b, X), strict=True):
        np.testing.assert_array_equal(left, right)


@pytest.mark.parametrize("name", list(MODELS))
def test_round_trips(name, tmp_path):
    model, X, _ = _fitted(name)
    mio.dump(model, tmp_path / "model.skops")
    loaded = [mio.load(tmp_path / "model.skops")]
    loaded.append(pickle.loads(pickle.dumps(model)))
    joblib.dump(model, tmp_path / "model.joblib")
    loaded.append(joblib.load(tmp_path / "model.joblib"))
    for copy in loaded:
        assert type(copy) is type(model)
        _assert_same_outputs(copy, model, X)


def _fitted_state(model):
    """Every fitted attribute of the estimator and of its components."""
    for key, value in vars(model).items():
        if key.endswith("_") and not key.startswith("_"):
            yield key, value
            if hasattr(value, "get_params"):
                yield from _fitted_state(value)


@pytest.mark.parametrize("name", [n for n in MODELS if n != "pipeline"])
def test_fitted_state_is_arrays_and_builtins(name):
    model, _, _ = _fitted(name)
    allowed = (np.ndarray, np.generic, int, float, bool, str, BaseEstimator)

    def leaves(value):  # containers: a CV's cv_results_ and its params
        if isinstance(value, dict):
            for key, item in value.items():
                assert isinstance(key, str), key
                yield from leaves(item)
        elif isinstance(value, list | tuple):
            for item in value:
                yield from leaves(item)
        elif isinstance(value, np.ndarray) and value.dtype == object:
            for item in value:  # the candidates' components
                yield from leaves(item)
        else:
            yield value

    for key, value in _fitted_state(model):
        for item in leaves(value):
            assert isinstance(item, allowed), (key, type(item))


def test_loaded_models_share_nothing(tmp_path):
    model, X, y = _fitted("flat regressor")
    mio.dump(model, tmp_path / "model.skops")
    first, second = (
        mio.load(tmp_path / "model.skops"),
        mio.load(tmp_path / "model.skops"),
    )
    before = second.predict(X)
    first.set_params(n_experts=2).fit(X[:100], y[:100])
    np.testing.assert_array_equal(second.predict(X), before)
    np.testing.assert_array_equal(model.predict(X), before)


# Constructing this class is what an attacker's file would make load do.
CONSTRUCTED = []


class Payload:
    def __setstate__(self, state):
        CONSTRUCTED.append(state)


def test_foreign_types_are_refused_before_anything_is_built(tmp_path):
    model, _, _ = _fitted("flat regressor")
    model.gate_.extra_ = Payload()
    mio.dump(model, tmp_path / "crafted.skops")
    with pytest.raises(TypeError, match=r"test_persistence\.Payload"):
        mio.load(tmp_path / "crafted.skops")
    assert CONSTRUCTED == []


def test_a_function_reference_is_refused(tmp_path):
    model, _, _ = _fitted("flat regressor")
    model.experts_.hook_ = print
    mio.dump(model, tmp_path / "crafted.skops")
    with pytest.raises(TypeError, match="builtins.print"):
        mio.load(tmp_path / "crafted.skops")


def test_an_incompatible_format_is_refused(tmp_path):
    model, _, _ = _fitted("flat regressor")
    sio.dump(
        {"mixexp_model": True, "mixexp_version": "9.0", "format": mio.FORMAT + 1,
         "estimator": model},
        tmp_path / "future.skops",
    )  # fmt: skip
    future = rf"mixexp 9\.0 in fitted-state format {mio.FORMAT + 1}"
    with pytest.raises(ValueError, match=future):
        mio.load(tmp_path / "future.skops")
    sio.dump(model, tmp_path / "bare.skops")
    with pytest.raises(ValueError, match="not written by mixexp.io.dump"):
        mio.load(tmp_path / "bare.skops")


def _digest(model):
    """A hash of every fitted array and number, bit for bit."""
    digest = hashlib.sha256()
    for key, value in sorted(_fitted_state(model), key=lambda kv: kv[0]):
        if isinstance(value, np.ndarray | float | int | list):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_persistence import _digest, _fitted
print(_digest(_fitted({name!r})[0]))
"""


@pytest.mark.parametrize("name", ["flat regressor", "hierarchical classifier"])
def test_fits_are_bitwise_identical_across_runs_and_processes(name):
    here = _digest(_fitted(name)[0])
    assert _digest(_fitted(name)[0]) == here
    script = _SCRIPT.format(tests=str(__import__("pathlib").Path(__file__).parent),
                            name=name)  # fmt: skip
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == here


def test_concurrent_predictions_equal_sequential():
    model, X, y = _fitted("flat classifier")
    rng = np.random.RandomState(0)
    batches = [X[rng.randint(0, len(X), 200)] for _ in range(32)]
    calls = [
        (method, batch)
        for batch in batches
        for method in ("predict", "predict_proba", "predict_gate_proba")
    ]
    sequential = [getattr(model, m)(b) for m, b in calls]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(
            pool.map(lambda call: getattr(model, call[0])(call[1]), calls)
        )
    for a, b in zip(sequential, concurrent, strict=True):
        np.testing.assert_array_equal(a, b)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)  # predicting left nothing behind to save
    assert buffer.tell() > 0
