"""The ``mixexp`` command line."""

import argparse
import csv
import sys
import warnings

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import (
    MixtureOfExpertsClassifier,
    MixtureOfExpertsClassifierCV,
    MixtureOfExpertsRegressor,
    MixtureOfExpertsRegressorCV,
    __version__,
)
from ._selection import walk_path
from .datasets import load_vowels, make_piecewise_linear

# The numbers of experts ``--select`` walks, up to ``--max-experts``.
_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


def _rmse(model, X, y):
    return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


def _expert_table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True))
    body = [
        "  ".join(f"{c:>{w}}" for c, w in zip(r, widths, strict=True)) for r in rows
    ]
    return "\n".join(["    " + line] + ["    " + b for b in body])


def demo_regression(random_state, out=sys.stdout):
    """Three linear pieces with jumps: the gate must learn where they switch."""
    X, y = make_piecewise_linear(1500, noise=0.3, random_state=random_state)
    X_test, y_test = make_piecewise_linear(
        500, noise=0.3, random_state=random_state + 1
    )
    moe = MixtureOfExpertsRegressor(3, random_state=random_state).fit(X, y)
    linear = LinearRegression().fit(X, y)
    grid = np.linspace(-3, 3, 6001)[:, None]
    in_charge = moe.predict_gate_proba(grid).argmax(axis=1)
    rows = []
    for k in range(moe.n_experts_):
        region = grid[in_charge == k, 0]
        span = f"[{region.min():.2f}, {region.max():.2f}]" if region.size else "nowhere"
        rows.append(
            (
                region.min() if region.size else np.inf,
                f"expert {k}",
                f"{moe.experts_.coef_[k, 0]:.3f}",
                f"{moe.experts_.intercept_[k]:.3f}",
                f"{np.sqrt(moe.experts_.noise_variance_[k]):.3f}",
                span,
            )
        )
    rows = [row[1:] for row in sorted(rows)]
    print(
        "Regression: y = 2x+4 (x<-1), -x-2 (-1<=x<1), 3x (x>=1), noise sd 0.3", file=out
    )
    print(
        f"  EM: {moe.n_iter_} iterations, converged={moe.converged_}, "
        f"mean log-likelihood {moe.lower_bound_:.4f}",
        file=out,
    )
    header = ("", "slope", "intercept", "noise sd", "in charge for x in")
    print(_expert_table(rows, header), file=out)
    print(
        f"  test RMSE: mixture of 3 experts {_rmse(moe, X_test, y_test):.3f}, "
        f"linear regression {_rmse(linear, X_test, y_test):.3f} (noise floor 0.300)",
        file=out,
    )
    return moe


def demo_classification(random_state, out=sys.stdout):
    """The vowel task of Jacobs et al. (1991) on Peterson & Barney's formants."""
    data = load_vowels()
    train = data.speaker <= 50
    test = (data.speaker > 50) & (data.speaker <= 75)
    X, y = data.data[train], data.target[train]
    moe = make_pipeline(
        StandardScaler(), MixtureOfExpertsClassifier(4, random_state=random_state)
    ).fit(X, y)
    linear = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    fitted = moe[-1]
    gate = fitted.predict_gate_proba(moe[0].transform(X))
    rows = []
    for k in range(fitted.n_experts_):
        # Which vowels the samples routed to this expert are.
        mix = (
            np.array([gate[y == c, k].sum() for c in fitted.classes_])
            / gate[:, k].sum()
        )
        top = np.argsort(mix)[::-1][:2]
        handles = ", ".join(f"[{fitted.classes_[c]}] {mix[c]:.2f}" for c in top)
        rows.append((f"expert {k}", f"{gate[:, k].mean():.2f}", handles))
    print(
        "\nClassification: vowels [i] [I] [A] [V] from F1, F2 "
        "(Peterson & Barney 1952),\n  train speakers 1-50, test speakers 51-75 "
        "(Jacobs et al. 1991)",
        file=out,
    )
    print(f"  EM: {fitted.n_iter_} iterations, converged={fitted.converged_}", file=out)
    print(_expert_table(rows, ("", "gate share", "vowels it handles")), file=out)
    print(
        f"  test accuracy: mixture of 4 experts "
        f"{moe.score(data.data[test], data.target[test]):.3f}, logistic regression "
        f"{linear.score(data.data[test], data.target[test]):.3f} "
        "(1991 paper: 0.90 for both)",
        file=out,
    )
    return moe


def draw_demo(moe, pipe, path, random_state=0):
    """Save the two demo fits as one picture: the pieces each expert took on
    the 1-D regression, and the formant regions each expert is in charge of."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    X, y = make_piecewise_linear(1500, noise=0.3, random_state=random_state)
    grid = np.linspace(-3, 3, 600)[:, None]
    gate = moe.predict_gate_proba(grid)
    left.scatter(X[:, 0], y, s=4, c="0.7", label="data")
    for k, line in enumerate(moe.predict_experts(grid).T):
        in_charge = gate.argmax(axis=1) == k
        left.plot(grid[in_charge, 0], line[in_charge], lw=3, label=f"expert {k}")
    left.plot(grid[:, 0], moe.predict(grid), "k--", lw=1, label="mixture")
    left.set(title="Piecewise regression: each expert takes a piece", xlabel="x")
    left.legend(fontsize=8)
    data = load_vowels()
    train = data.speaker <= 50
    F = data.data[train]
    f1, f2 = np.meshgrid(
        np.linspace(F[:, 0].min(), F[:, 0].max(), 200),
        np.linspace(F[:, 1].min(), F[:, 1].max(), 200),
    )
    points = np.column_stack([f1.ravel(), f2.ravel()])
    region = pipe[-1].predict_gate_proba(pipe[0].transform(points)).argmax(axis=1)
    right.contourf(
        f1,
        f2,
        region.reshape(f1.shape),
        alpha=0.25,
        cmap="tab10",
        levels=np.arange(pipe[-1].n_experts_ + 1) - 0.5,
    )
    for label in pipe[-1].classes_:
        mask = data.target[train] == label
        right.scatter(F[mask, 0], F[mask, 1], s=6, label=f"[{label}]")
    right.set(
        title="Vowels: region of each expert (shaded)",
        xlabel="F1 (Hz)",
        ylabel="F2 (Hz)",
    )
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_table(path, target):
    """Numeric feature matrix, target column and feature names from a CSV
    file with a header row; a ValueError says what is wrong."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc.strerror}.") from exc
    if len(rows) < 3:
        raise ValueError(
            f"{path!r} needs a header row and at least two data rows; it has "
            f"{len(rows)} row(s)."
        )
    header, body = rows[0], [row for row in rows[1:] if row]
    if target not in header:
        raise ValueError(f"no column {target!r} in {path!r}; its columns are {header}.")
    if any(len(row) != len(header) for row in body):
        raise ValueError(f"{path!r} has rows with a different number of fields.")
    columns = list(zip(*body, strict=True))
    y = np.array(columns[header.index(target)])
    names = [name for name in header if name != target]
    X, bad = [], []
    for name in names:
        try:
            X.append(np.array(columns[header.index(name)], dtype=float))
        except ValueError:
            bad.append(name)
    if bad:
        raise ValueError(
            f"feature column(s) {bad} of {path!r} are not numeric; encode them as "
            "numbers or remove them."
        )
    if not names:
        raise ValueError(f"{path!r} has no feature column besides {target!r}.")
    return np.column_stack(X), y, names


def _select(model, X, y, select, max_experts, random_state, out):
    """The pipeline chosen by cross-validation (the CV estimator: expert
    form and number of experts) or by BIC (along the split path of linear
    experts, on all rows), fitted on all rows; prints what was compared."""
    grid = [k for k in _GRID if k <= max_experts] or [1]
    scaler, mixture = model.steps[0][1], model.steps[-1][1]
    if select == "cv":
        kind = (
            MixtureOfExpertsClassifierCV
            if isinstance(mixture, MixtureOfExpertsClassifier)
            else MixtureOfExpertsRegressorCV
        )
        search = make_pipeline(clone(scaler), kind(grid, random_state=random_state))
        search.fit(X, y)
        results = search[-1].cv_results_
        print(f"  {'expert form':26} {'K':>2}   held-out score", file=out)
        for i, params in enumerate(results["params"]):
            score = results["mean_test_score"][i]
            if not np.isnan(score):
                mark = "  <- chosen" if i == search[-1].best_index_ else ""
                print(
                    f"  {params['expert']!r:26} {params['n_experts']:2d}   "
                    f"{score:.4f}{mark}",
                    file=out,
                )
        return make_pipeline(search[0], search[-1].best_estimator_)
    Z = clone(scaler).fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pruning on the way is expected
        path = walk_path(mixture, grid, (Z, y, np.ones(len(y))), random_state)
    criteria = [m.bic(Z, y) for m in path]
    for m, criterion in zip(path, criteria, strict=True):
        print(f"  K = {m.n_experts_}: BIC {criterion:.1f}", file=out)
    best = path[int(np.argmin(criteria))]
    return make_pipeline(clone(scaler).fit(X), best)


def fit_command(args, out=None):
    """``mixexp fit``: the model (chosen by ``--select``), its
    cross-validated score, the saved pipeline and a picture."""
    out = sys.stdout if out is None else out
    X, y, names = read_table(args.data, args.target)
    kind = MixtureOfExpertsClassifier if args.classifier else MixtureOfExpertsRegressor
    if not args.classifier:
        try:
            y = y.astype(float)
        except ValueError as exc:
            raise ValueError(
                f"target {args.target!r} is not numeric; pass --classifier to "
                "predict class labels."
            ) from exc
    model = make_pipeline(
        StandardScaler(), kind(args.n_experts, n_init=3, random_state=args.random_state)
    )
    print(f"{args.data}: {X.shape[0]} rows, features {names}", file=out)
    fitted = None
    if args.select:
        what = "cross-validation" if args.select == "cv" else "BIC"
        print(f"Choosing the model by {what}:", file=out)
        fitted = _select(
            model, X, y, args.select, args.max_experts, args.random_state, out
        )
        # Scored below as a fixed configuration: the choice saw these rows.
        model = make_pipeline(StandardScaler(), clone(fitted[-1]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = cross_val_score(
            model, X, y, cv=KFold(5, shuffle=True, random_state=args.random_state)
        )
    if any("were removed" in str(w.message) for w in caught):
        print(
            "note: on 4/5 of the rows, some cross-validation fits removed experts "
            "that explained too few rows (see n_experts_).",
            file=out,
        )
    metric = "accuracy" if args.classifier else "R^2"
    if fitted is None:
        fitted = model.fit(X, y)
    mixture = fitted[-1]
    print(
        f"{kind.__name__} with {mixture.n_experts_} experts "
        f"({mixture.experts_!r}): 5-fold cross-validated {metric} "
        f"{scores.mean():.4f} +/- {scores.std() / np.sqrt(scores.size):.4f} (s.e.)",
        file=out,
    )
    print(f"gate share of each expert: {np.round(mixture.expert_load_, 3)}", file=out)
    print_summary(fitted, X, y, names, out)
    if args.save:
        joblib.dump(fitted, args.save)
        print(f"model saved to {args.save} (joblib.load reads it back)", file=out)
    if args.plot:
        draw_fit(fitted, X, y, names, args.target, args.plot)
        print(f"picture: {args.plot}", file=out)
    return fitted


def print_summary(pipeline, X, y, names, out):
    """The Wald table of the fitted pipeline's mixture (coefficients of the
    standardized features), or why there is none."""
    from .inference import coef_table, summary

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            table = coef_table(pipeline, X, y)
        except ValueError as exc:
            print(f"no Wald table: {exc}", file=out)
            return
    renamed = {f"x{j}": name for j, name in enumerate(names)}
    table["term"] = np.array([renamed.get(t, t) for t in table["term"]], dtype=object)
    title = (
        "\nWald table (observed information; coefficients of the standardized "
        "features):"
    )
    print(summary(table, title=title), file=out)
    for warning in caught:
        if issubclass(warning.category, RuntimeWarning):
            print(f"note: {warning.message}", file=out)


def draw_fit(model, X, y, names, target, path):
    """A picture of who is in charge: the experts over one feature, the
    gate's regions over two, or fitted against observed values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def gate(Z):
        return model[-1].predict_gate_proba(model[:-1].transform(Z))

    in_charge = gate(X).argmax(axis=1)
    colours = plt.cm.tab10(np.arange(model[-1].n_experts_) % 10)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    if X.shape[1] == 2:
        f0, f1 = np.meshgrid(
            np.linspace(X[:, 0].min(), X[:, 0].max(), 200),
            np.linspace(X[:, 1].min(), X[:, 1].max(), 200),
        )
        grid = np.column_stack([f0.ravel(), f1.ravel()])
        regions = gate(grid).argmax(axis=1).reshape(f0.shape)
        levels = np.arange(model[-1].n_experts_ + 1) - 0.5
        ax.contourf(f0, f1, regions, levels=levels, colors=colours, alpha=0.3)
        ax.scatter(X[:, 0], X[:, 1], c=colours[in_charge], s=8)
        ax.set(xlabel=names[0], ylabel=names[1], title="Region of each expert")
    elif X.shape[1] == 1 and not hasattr(model, "classes_"):
        order = np.argsort(X[:, 0])
        ax.scatter(X[:, 0], y, c=colours[in_charge], s=8)
        ax.plot(X[order, 0], model.predict(X[order]), "k-", label="mixture mean")
        ax.set(xlabel=names[0], ylabel=target, title="Data coloured by expert")
        ax.legend()
    elif not hasattr(model, "classes_"):
        ax.scatter(y, model.predict(X), c=colours[in_charge], s=8)
        ax.set(xlabel=f"observed {target}", ylabel="predicted", title="By expert")
    else:
        ax.bar(np.arange(model[-1].n_experts_), model[-1].expert_load_)
        ax.set(xlabel="expert", ylabel="share of the samples", title="Expert usage")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    """Entry point of the ``mixexp`` console script."""
    parser = argparse.ArgumentParser(
        prog="mixexp", description="Mixtures of experts for scikit-learn."
    )
    parser.add_argument("--version", action="version", version=f"mixexp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="fit a regressor and a classifier on bundled data and report"
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument(
        "--out",
        "--output",
        dest="output",
        default="mixexp-demo.png",
        help="where to save the picture",
    )
    fit = commands.add_parser(
        "fit", help="fit a mixture to a CSV file, cross-validate, save, draw"
    )
    fit.add_argument("data", help="CSV file with a header row")
    fit.add_argument("--target", required=True, help="name of the target column")
    fit.add_argument(
        "--classifier", action="store_true", help="the target holds class labels"
    )
    size = fit.add_mutually_exclusive_group()
    size.add_argument("--n-experts", type=int, default=4, help="number of experts")
    size.add_argument(
        "--select",
        choices=["bic", "cv"],
        help="choose the model: by cross-validation (the expert form and "
        "the number of experts, MixtureOfExpertsRegressorCV / ClassifierCV) or by "
        "BIC (the number of linear experts, fitted on all rows)",
    )
    fit.add_argument(
        "--max-experts",
        type=int,
        default=8,
        help="largest number of experts --select tries (of 1 2 3 4 6 8 12 16 24 32)",
    )
    fit.add_argument("--save", help="save the fitted pipeline here (joblib)")
    fit.add_argument("--plot", help="draw who is in charge where (PNG)")
    fit.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "fit":
        try:
            fit_command(args)
        except ValueError as exc:
            print(f"mixexp fit: error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "demo":
        moe = demo_regression(args.random_state)
        pipe = demo_classification(args.random_state)
        try:
            draw_demo(moe, pipe, args.output, args.random_state)
        except ImportError:
            print(
                "\nmatplotlib is not installed, so no picture was drawn: "
                "pip install 'mixexp[plot]'."
            )
        else:
            print(f"\nPicture of both fits: {args.output}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
