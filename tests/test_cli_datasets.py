"""The console command and the bundled data."""

import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mixexp._cli import demo_classification, demo_regression, main
from mixexp.datasets import (
    load_vowels,
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)


def test_demo_reports_what_the_models_learned():
    out = io.StringIO()
    moe = demo_regression(0, out=out)
    text = out.getvalue()
    assert "in charge for x in" in text and "linear regression" in text
    np.testing.assert_allclose(np.sort(moe.experts_.coef_[:, 0]), [-1, 2, 3], atol=0.1)
    out = io.StringIO()
    pipe = demo_classification(0, out=out)
    assert "vowels it handles" in out.getvalue()
    data = load_vowels()
    test = (data.speaker > 50) & (data.speaker <= 75)
    assert pipe.score(data.data[test], data.target[test]) >= 0.88


def test_console_entry_point_runs(tmp_path):
    """The installed ``mixexp`` command (next to this Python) runs the demo."""
    script = shutil.which("mixexp", path=os.path.dirname(sys.executable))
    assert script, "the mixexp console script is not installed; pip install -e ."
    result = subprocess.run(
        [script, "demo"], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "test RMSE" in result.stdout and "test accuracy" in result.stdout
    picture = tmp_path / "mixexp-demo.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rejects_unknown_commands(capsys):
    with pytest.raises(SystemExit):
        main(["fly"])
    assert "invalid choice" in capsys.readouterr().err


def test_vowels_match_the_published_table_sizes():
    data = load_vowels()
    # 76 speakers x 4 vowels x 2 repetitions
    assert data.data.shape == (608, 2)
    assert set(data.target) == {"i", "I", "A", "V"}
    assert data.speaker.min() == 1 and data.speaker.max() == 76
    # Peterson & Barney: [i] has the lowest F1 and highest F2 of these vowels.
    f1 = {v: data.data[data.target == v, 0].mean() for v in set(data.target)}
    f2 = {v: data.data[data.target == v, 1].mean() for v in set(data.target)}
    assert min(f1, key=f1.get) == "i" and max(f2, key=f2.get) == "i"
    all_vowels = load_vowels(
        vowels=("i", "I", "E", "{", "A", "O", "U", "u", "V", "3'"),
        features=("f0", "f1", "f2", "f3"),
    )
    assert all_vowels.data.shape == (1520, 4)
    with pytest.raises(ValueError, match="Unknown vowels"):
        load_vowels(vowels=("x",))
    with pytest.raises(ValueError, match="Unknown features"):
        load_vowels(features=("f9",))


def test_generators_are_what_they_say():
    X, y = make_piecewise_linear(3000, noise=0.0, random_state=0)
    x = X[:, 0]
    np.testing.assert_allclose(y[x < -1], 2 * x[x < -1] + 4)
    np.testing.assert_allclose(y[x >= 1], 3 * x[x >= 1])
    X, y, params = make_mixture_regression(
        500, n_features=3, n_experts=2, noise=1e-9, random_state=0, return_params=True
    )
    k = params["expert"]
    expected = (
        np.einsum("nd,nd->n", X, params["expert_coef"][k, 0])
        + params["expert_intercept"][k, 0]
    )
    np.testing.assert_allclose(y, expected, atol=1e-6)
    X, y = make_local_classification(4000, noise=0.0, random_state=0)
    quadrant = (X[:, 0] > 0) * 2 + (X[:, 1] > 0)
    for q in range(4):  # each quadrant is balanced and linearly separable
        assert 0.3 < y[quadrant == q].mean() < 0.7
