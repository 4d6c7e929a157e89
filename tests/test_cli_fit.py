"""``mixexp fit``: a CSV file in, a cross-validated model, a picture out."""

import re

import joblib
import numpy as np
import pytest

from mixexp._cli import main, read_table
from mixexp.datasets import make_local_classification, make_piecewise_linear


def _write(path, header, rows):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(",".join(header) + "\n")
        for row in rows:
            handle.write(",".join(str(v) for v in row) + "\n")
    return str(path)


@pytest.fixture
def piecewise_csv(tmp_path):
    X, y = make_piecewise_linear(600, random_state=0)
    return _write(tmp_path / "pieces.csv", ["x", "y"], zip(X[:, 0], y, strict=True))


def test_fit_reports_saves_and_draws(piecewise_csv, tmp_path, capsys):
    model_path, picture = tmp_path / "model.joblib", tmp_path / "fit.png"
    code = main(
        [
            "fit",
            piecewise_csv,
            "--target",
            "y",
            "--n-experts",
            "3",
            "--save",
            str(model_path),
            "--plot",
            str(picture),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert re.search(
        r"3 experts \(LinearExpert\(\)\): 5-fold cross-validated R\^2 0.98", out
    )
    # The Wald table after the fit: three experts and the gate, by feature name.
    assert "Wald table (observed information" in out
    assert out.count("\nExpert ") == 3 and "Gate (log-odds against expert 0)" in out
    model = joblib.load(model_path)
    X, y = read_table(piecewise_csv, "y")[:2]
    assert model.score(X, y.astype(float)) > 0.98
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bic_finds_the_three_pieces(piecewise_csv, capsys):
    assert main(["fit", piecewise_csv, "--target", "y", "--select", "bic"]) == 0
    out = capsys.readouterr().out
    assert "K = 6: BIC" in out
    assert "MixtureOfExpertsRegressor with 3 experts" in out


def test_classifier_with_string_labels_chosen_by_cv(tmp_path, capsys):
    X, y = make_local_classification(400, random_state=0)
    labels = np.where(y == 1, "yes", "no")
    path = _write(
        tmp_path / "classes.csv",
        ["a", "b", "label"],
        zip(X[:, 0], X[:, 1], labels, strict=True),
    )
    code = main(
        [
            "fit",
            path,
            "--target",
            "label",
            "--classifier",
            "--select",
            "cv",
            "--max-experts",
            "4",
            "--plot",
            str(tmp_path / "regions.png"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    # The CV estimator's table: the form, each K walked, the chosen row.
    assert re.search(r"LogisticExpert\(\)\s+4\s+-0\.\d+", out)
    assert out.count("<- chosen") == 1
    assert "cross-validated accuracy 0.9" in out


@pytest.mark.parametrize(
    "args, header, rows, message",
    [
        (["--target", "y"], None, None, "cannot read"),
        (["--target", "z"], ["x", "y"], [[1, 2], [3, 4], [5, 6]], "no column 'z'"),
        (
            ["--target", "y"],
            ["x", "colour", "y"],
            [[1, "red", 2], [3, "blue", 4], [5, "red", 6]],
            r"\['colour'\] .* not numeric",
        ),
        (["--target", "y"], ["x", "y"], [["1", "a"], [3, 4], [5, 6]], "--classifier"),
        (["--target", "y"], ["x", "y"], [[1, 2]], "at least two data rows"),
        (["--target", "y"], ["y"], [[1], [2], [3]], "no feature column"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path, capsys, args, header, rows, message):
    path = str(tmp_path / "missing.csv")
    if header is not None:
        path = _write(tmp_path / "data.csv", header, rows)
    assert main(["fit", path, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mixexp fit: error:")
    assert re.search(message, err)


def test_n_experts_and_select_are_exclusive(piecewise_csv, capsys):
    with pytest.raises(SystemExit):
        main(
            [
                "fit",
                piecewise_csv,
                "--target",
                "y",
                "--n-experts",
                "2",
                "--select",
                "cv",
            ]
        )
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("select", ["bic", "cv"])
def test_selection_on_a_small_file_keeps_no_degenerate_expert(tmp_path, select):
    """28 rows of three pieces: whatever is chosen, every expert explains at
    least as many rows as it has parameters (its share of the gate's too)."""
    X, y = make_piecewise_linear(28, random_state=0)
    path = _write(tmp_path / "small.csv", ["x", "y"], zip(X[:, 0], y, strict=True))
    saved = tmp_path / "model.joblib"
    args = ["fit", path, "--target", "y", "--select", select, "--save", str(saved)]
    assert main(args) == 0
    pipe = joblib.load(saved)
    mixture, Z = pipe[-1], pipe[0].transform(X)
    rows = mixture.responsibilities(Z, y).sum(axis=0)
    parameters = mixture._n_parameters() / mixture.n_experts_
    assert np.all(rows >= parameters), (rows, parameters)
    assert np.all(mixture.expert_load_ > 0.05)
