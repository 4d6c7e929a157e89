"""``mixexp fit``: a CSV file in, a cross-validated model, a picture out."""

import builtins
import re

import joblib
import numpy as np
import pytest
from _helpers import Terminal

from mixexp import MixtureOfExpertsRegressorCV
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
    # The CV estimator's table: the form, the gate, each K walked, the chosen row.
    assert re.search(r"LogisticExpert\(\)\s+\w*Gate\([^)]*\)\s+4\s+-0\.\d+", out)
    assert "held-out log-lik." in out
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
        (
            ["--target", "y"],
            ["x", "w", "y"],
            [[1, "", 2], [3, 4, "NA"], [5, 6, 7], [7, "nan", 8]],
            r"missing values: 'y' on line\(s\) 3; 'w' on line\(s\) 2, 5",
        ),
        (
            ["--target", "y", "--drop", "v"],
            ["x", "y"],
            [[1, 2], [3, 4], [5, 6]],
            "no column 'v'",
        ),
        (
            ["--target", "y", "--n-experts", "5"],
            ["x", "y"],
            [[1, 2], [3, 4], [5, 6], [7, 8], [9, 1], [2, 2]],
            "--n-experts 5 is more than the 4 rows the smallest cross-validation fit",
        ),
        (
            ["--target", "y", "--groups", "g"],
            ["x", "g", "y"],
            [[1, "a", 2], [3, "a", 4], [5, "a", 6]],
            "--groups 'g' has a single group",
        ),
        (
            ["--target", "y", "--groups", "g"],
            ["x", "g", "y"],
            [[1, "a", 2], [3, "", 4], [5, "b", 6]],
            r"missing values: 'g' on line\(s\) 3",
        ),
        (["--target", "y", "--groups", "g"], ["x", "y"], [[1, 2]] * 3, "no column 'g'"),
        (
            ["--target", "y", "--classifier"],
            ["x", "y"],
            [[i, round(50 + 30 * np.sin(i))] for i in range(100)],
            r"target 'y' looks continuous: taken as classes, it has \d+ classes in "
            r"100 rows\. Drop --classifier",
        ),
        (
            ["--target", "y", "--classifier"],
            ["x", "y"],
            [[i, f"id{i}" if i < 15 else "a"] for i in range(20)],
            "target 'y' has too few rows per class to learn: .* 16 classes in 20 rows",
        ),
        (
            ["--target", "y"],
            ["x", "y"],
            [[1, 2], [3, 4], [5, 6], [7, 9]],
            "has 4 data rows, .* 5-fold cross-validation, .* add rows",
        ),
        (
            ["--target", "y", "--classifier", "--select", "cv"],
            ["x", "y"],
            [[i, "ab"[i % 2]] for i in range(20)] + [[20, "c"]],
            r"class\(es\) \['c'\] of --target 'y' have a single row.*--select bic",
        ),
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


def test_groups_give_folds_by_group_to_the_scores_and_the_search(
    tmp_path, capsys, monkeypatch
):
    X, y = make_piecewise_linear(300, random_state=0)
    site = np.repeat([f"s{i}" for i in range(6)], 50)
    path = _write(
        tmp_path / "sites.csv", ["x", "site", "y"], zip(X[:, 0], site, y, strict=True)
    )
    searched = []  # the groups the CV estimator's fit gets
    fit = MixtureOfExpertsRegressorCV.fit

    def recording(self, X, y, sample_weight=None, groups=None):
        searched.append(groups)
        return fit(self, X, y, sample_weight, groups)

    monkeypatch.setattr(MixtureOfExpertsRegressorCV, "fit", recording)
    args = ["fit", path, "--target", "y", "--groups", "site", "--select", "cv"]
    assert main([*args, "--max-experts", "4"]) == 0
    out = capsys.readouterr().out
    assert "features ['x']" in out  # the groups column is no input
    assert "folds by 'site': no fold splits its 6 groups" in out
    assert "5-fold cross-validated R^2" in out
    assert len(searched) == 1 and np.array_equal(searched[0], site)


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


def test_features_and_drop_choose_the_inputs(tmp_path, capsys):
    X, y = make_piecewise_linear(300, random_state=0)
    noise = np.random.RandomState(0).normal(size=(300, 2))
    path = _write(
        tmp_path / "wide.csv",
        ["x", "n1", "n2", "y"],
        zip(X[:, 0], noise[:, 0], noise[:, 1], y, strict=True),
    )
    assert main(["fit", path, "--target", "y", "--features", "x", "n1"]) == 0
    assert "features ['x', 'n1']" in capsys.readouterr().out
    assert main(["fit", path, "--target", "y", "--drop", "n1", "n2"]) == 0
    assert "features ['x']" in capsys.readouterr().out


def test_the_baseline_is_scored_on_the_same_folds(piecewise_csv, capsys):
    assert main(["fit", piecewise_csv, "--target", "y", "--n-experts", "3"]) == 0
    out = capsys.readouterr().out
    baseline = re.search(
        r"linear regression \(the baseline\), same folds: R\^2 (\S+)", out
    )
    mixture = re.search(r"cross-validated R\^2 (\S+)", out)
    # Three linear pieces with jumps: one line explains much less.
    assert float(baseline.group(1)) < float(mixture.group(1)) - 0.1


def test_a_fixed_size_below_the_baseline_points_to_select_cv(tmp_path, capsys):
    # A line with noise on 40 rows: four experts fit the noise.
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, 40)
    path = _write(
        tmp_path / "line.csv", ["x", "y"], zip(x, x + rng.randn(40), strict=True)
    )
    assert main(["fit", path, "--target", "y"]) == 0
    assert "note: the baseline scores higher than 4 experts; --select cv" in (
        capsys.readouterr().out
    )
    assert main(["fit", path, "--target", "y", "--select", "cv"]) == 0
    assert "the baseline scores higher" not in capsys.readouterr().out


def test_one_expert_is_singular(tmp_path, capsys):
    X, y = make_piecewise_linear(60, random_state=0)
    path = _write(tmp_path / "line.csv", ["x", "y"], zip(X[:, 0], X[:, 0], strict=True))
    assert main(["fit", path, "--target", "y", "--n-experts", "1"]) == 0
    assert "MixtureOfExpertsRegressor with 1 expert (" in capsys.readouterr().out


@pytest.mark.parametrize("tty", [True, False])
def test_progress_lines_only_in_a_terminal(piecewise_csv, tty):
    from argparse import Namespace

    from mixexp._cli import fit_command

    out = Terminal(tty)
    args = Namespace(
        data=piecewise_csv, target="y", features=None, drop=(), classifier=False,
        n_experts=3, select=None, max_experts=8, save=None, plot=None,
        random_state=0, groups=None,
    )  # fmt: skip
    fit_command(args, out=out)
    assert ("\rscoring: fold 5 of 5" in out.text) == tty
    assert "\r" not in out.text or tty


@pytest.mark.parametrize(
    "n_features, classifier",
    [(1, False), (1, True), (2, True), (3, False), (3, True)],
)
def test_pictures_for_every_shape_of_data(tmp_path, n_features, classifier):
    X, y = make_local_classification(300, random_state=0)
    X = np.column_stack([X, X[:, :1] ** 2])[:, :n_features]
    target = np.where(y == 1, "yes", "no") if classifier else X[:, 0] * 2.0 + y
    names = [f"x{j}" for j in range(n_features)]
    path = _write(
        tmp_path / "data.csv",
        [*names, "t"],
        [[*row, t] for row, t in zip(X, target, strict=True)],
    )
    picture = tmp_path / "fit.png"
    args = ["fit", path, "--target", "t", "--n-experts", "2", "--plot", str(picture)]
    assert main(args + (["--classifier"] if classifier else [])) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n-experts", "0"], "argument --n-experts: 0 is not at least 1"),
        (["--select", "cv", "--max-experts", "0"], "--max-experts: 0 is not at least"),
        (["--n-experts", "two"], "argument --n-experts: 'two' is not a whole number"),
        (["--random-state", "-1"], "--random-state: -1 is not between 0 and 2"),
    ],
)
def test_bad_numbers_are_argparse_errors(piecewise_csv, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["fit", piecewise_csv, "--target", "y", *args])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_rare_classes_under_select_cv_get_a_note_not_a_raw_warning(
    tmp_path, capsys, recwarn
):
    X, y = make_local_classification(100, random_state=0)
    labels = np.where(y == 1, "yes", "no").astype(object)
    labels[:3] = "rare"
    path = _write(
        tmp_path / "rare.csv",
        ["a", "b", "label"],
        zip(X[:, 0], X[:, 1], labels, strict=True),
    )
    args = ["--classifier", "--select", "cv", "--max-experts", "2"]
    assert main(["fit", path, "--target", "label", *args]) == 0
    captured = capsys.readouterr()
    assert "note: class(es) ['rare'] have fewer rows than the 5 folds" in captured.out
    assert "least populated" not in captured.err
    assert not [w for w in recwarn if "least populated" in str(w.message)]


def test_help_shows_defaults_and_the_pickle_caveat(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "number of experts (default: 4)" in text
    assert "default: 8)" in text
    assert "pickle" in text and "mixexp.io" in text


@pytest.mark.parametrize(
    "flag, name, message",
    [
        ("--plot", "missing/x.png", "there is no directory .*missing"),
        ("--save", "missing/m.joblib", "there is no directory .*missing"),
        ("--plot", "out.xyz", r"cannot write \.xyz files; .*\.png"),
        ("--save", ".", "is a directory"),
    ],
)
def test_unwritable_outputs_are_refused_before_the_fit(
    piecewise_csv, tmp_path, capsys, flag, name, message
):
    path = str(tmp_path / name)
    assert main(["fit", piecewise_csv, "--target", "y", flag, path]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"mixexp fit: error: {flag} ")
    assert re.search(message, captured.err)
    assert captured.out == ""  # nothing was fitted first


def test_the_cv_table_names_the_gate_and_the_score_in_aligned_columns(
    piecewise_csv, capsys
):
    args = ["fit", piecewise_csv, "--target", "y", "--select", "cv"]
    assert main([*args, "--max-experts", "2"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "expert form" in line)
    header, table = lines[start], []
    for line in lines[start + 1 :]:
        if not line.startswith("  ") or line.startswith("  ("):
            break
        table.append(line)
    assert re.match(r"  expert form\s+gate\s+K\s+held-out -MSE$", header)
    # No two rows alike: the gate tells apart the forms of the same expert.
    cells = [re.split(r"\s{2,}", row.strip()) for row in table]
    assert len({tuple(c[:3]) for c in cells}) == len(cells) > 2
    assert {c[1] for c in cells} >= {"SoftmaxGate()"}
    # Each column starts where its heading does; the scores end under it.
    for column in ("gate", "K"):
        at = header.index(f"  {column}") + 2
        assert all(row[at - 1] == " " and row[at] != " " for row in table)
    end = len(header)
    assert all(re.match(r"-\d+\.\d{4}$", row[:end].split()[-1]) for row in table)
    assert "(held-out -MSE: minus the mean squared error" in out
    assert "cross-validated R^2" in out


def test_the_pruning_note_claims_no_share_of_rows(tmp_path, capsys):
    X, y = make_piecewise_linear(40, random_state=0)
    site = np.where(np.arange(40) < 20, "a", "b")  # two groups: two folds
    path = _write(
        tmp_path / "sites.csv", ["x", "site", "y"], zip(X[:, 0], site, y, strict=True)
    )
    args = ["--target", "y", "--groups", "site", "--n-experts", "8"]
    assert main(["fit", path, *args]) == 0
    out = capsys.readouterr().out
    assert "2-fold cross-validated" in out
    assert "note: in some folds, the fit on the fold's training rows removed" in out
    assert "4/5" not in out


@pytest.mark.parametrize("select", [[], ["--select", "cv"], ["--select", "bic"]])
def test_a_saved_model_is_not_fooled_by_reordered_columns(
    tmp_path, capsys, recwarn, select
):
    pd = pytest.importorskip("pandas")
    X, y = make_local_classification(200, random_state=0)
    target = 3.0 * X[:, 0] - X[:, 1] + y
    path = _write(
        tmp_path / "data.csv", ["a", "b", "t"], zip(*X.T, target, strict=True)
    )
    saved, picture = tmp_path / "model.joblib", tmp_path / "fit.png"
    args = ["--target", "t", "--max-experts", "2"] if select else ["--target", "t"]
    outputs = ["--save", str(saved), "--plot", str(picture)]
    assert main(["fit", path, *args, *select, *outputs]) == 0
    model = joblib.load(saved)
    frame = pd.DataFrame(X, columns=["a", "b"])
    expected = model.predict(frame)
    try:
        reordered = model.predict(frame[["b", "a"]])
    except ValueError as exc:  # scikit-learn's check of the feature names
        assert "feature names" in str(exc)
    else:
        np.testing.assert_allclose(reordered, expected)
    # The picture, drawn from arrays, raises no warning about feature names.
    assert not [w for w in recwarn if "feature names" in str(w.message)]
    out = capsys.readouterr().out
    assert "it predicts from the columns ['a', 'b'], by name from a pandas" in out


def test_without_pandas_the_saved_model_takes_the_columns_in_order(
    piecewise_csv, tmp_path, capsys, monkeypatch
):
    real_import = builtins.__import__

    def no_pandas_for_the_cli(name, globals=None, *args, **kwargs):
        # scikit-learn keeps its own (sys.modules) view of pandas.
        if name == "pandas" and (globals or {}).get("__name__") == "mixexp._cli":
            raise ImportError("No module named 'pandas'")
        return real_import(name, globals, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas_for_the_cli)
    saved = tmp_path / "model.joblib"
    args = ["--target", "y", "--n-experts", "3", "--save", str(saved)]
    assert main(["fit", piecewise_csv, *args]) == 0
    out = capsys.readouterr().out
    assert "it predicts from the columns ['x'], in this order" in out
    assert not hasattr(joblib.load(saved), "feature_names_in_")
