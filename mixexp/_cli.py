"""The ``mixexp`` command line."""

import argparse
import csv
import os
import sys
import warnings

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import (
    MixtureOfExpertsClassifier,
    MixtureOfExpertsClassifierCV,
    MixtureOfExpertsRegressor,
    MixtureOfExpertsRegressorCV,
    __version__,
)
from ._progress import StatusLine
from ._selection import walk_path
from .datasets import load_vowels, make_piecewise_linear

# The numbers of experts ``--select`` walks, up to ``--max-experts``.
_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


def _rmse(model, X, y):
    return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


def _expert_table(rows, header):
    return _aligned(rows, header, [True] * len(header), indent=4)


def _aligned(rows, header, right, indent=2):
    """Rows as columns as wide as their longest entry, right-aligned where
    ``right`` says, indented by ``indent`` spaces."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row):
        cells = [
            f"{c:>{w}}" if r else f"{c:<{w}}"
            for c, w, r in zip(row, widths, right, strict=True)
        ]
        return (" " * indent + "  ".join(cells)).rstrip()

    return "\n".join(line(row) for row in [header, *rows])


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
    """Save the two demo fits as one picture, drawn by the library's displays:
    the experts of the 1-D regression with their gate, and the formant
    regions each expert is in charge of, the vowels marked by shape."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .inspection import ExpertFitDisplay, ExpertRegionDisplay

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    X, y = make_piecewise_linear(1500, noise=0.3, random_state=random_state)
    ExpertFitDisplay.from_estimator(moe, X, y, ax=left, xlabel="x").ax_.set_title(
        "Piecewise regression: each expert takes a piece"
    )
    data = load_vowels()
    train = data.speaker <= 50
    ExpertRegionDisplay.from_estimator(
        pipe,
        data.data[train],
        data.target[train],
        class_markers="auto",
        xlabel="F1 (Hz)",
        ylabel="F2 (Hz)",
        ax=right,
    ).ax_.set_title("Vowels: the region of each expert, the vowels by marker")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


_MISSING = {"", "na", "nan", "null", "none", "?"}


def read_table(path, target, features=None, drop=(), groups=None):
    """Numeric feature matrix, target column, feature names and the column
    ``groups`` (None without one) from a CSV file with a header row;
    ``features`` (default: every column but the target and the groups)
    less ``drop`` are the inputs. A ValueError says what is wrong, with the
    line numbers of missing values."""
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
    header = rows[0]
    lines = [i + 2 for i, row in enumerate(rows[1:]) if row]  # 1-based, header 1
    body = [row for row in rows[1:] if row]
    extra = [] if groups is None else [groups]
    for name in [target, *extra, *(features or ()), *drop]:
        if name not in header:
            raise ValueError(
                f"no column {name!r} in {path!r}; its columns are {header}."
            )
    if any(len(row) != len(header) for row in body):
        raise ValueError(f"{path!r} has rows with a different number of fields.")
    names = [
        n for n in (features or header) if n not in (target, *extra) and n not in drop
    ]
    if not names:
        raise ValueError(
            f"{path!r} has no feature column left besides {target!r}; check "
            "--features and --drop."
        )
    columns = dict(zip(header, zip(*body, strict=True), strict=True))
    missing = {}
    for name in [target, *extra, *names]:
        at = [line for line, v in zip(lines, columns[name], strict=True) if _absent(v)]
        if at:
            missing[name] = at
    if missing:
        where = "; ".join(
            f"{name!r} on line(s) {_first(at)}" for name, at in missing.items()
        )
        raise ValueError(
            f"{path!r} has missing values: {where}. Fill them in, or remove "
            "those rows (or the column, with --drop)."
        )
    X, bad = [], []
    for name in names:
        try:
            X.append(np.array(columns[name], dtype=float))
        except ValueError:
            bad.append(name)
    if bad:
        raise ValueError(
            f"feature column(s) {bad} of {path!r} are not numeric; encode them as "
            "numbers, or leave them out with --drop."
        )
    group_labels = None if groups is None else np.array(columns[groups])
    return np.column_stack(X), np.array(columns[target]), names, group_labels


def _absent(value):
    return value.strip().lower() in _MISSING


def _first(lines, shown=10):
    text = ", ".join(map(str, lines[:shown]))
    return text + (f" and {len(lines) - shown} more" if len(lines) > shown else "")


def _experts(k):
    return f"{k} expert{'' if k == 1 else 's'}"


def _select(
    model, X, y, select, max_experts, random_state, out, verbose=0, groups=None
):
    """The pipeline chosen by cross-validation (the CV estimator: expert
    form and number of experts, folds by ``groups`` if given) or by BIC
    (along the split path of linear experts, on all rows), fitted on all
    rows; prints what was compared."""
    grid = [k for k in _GRID if k <= max_experts] or [1]
    scaler, mixture = model.steps[0][1], model.steps[-1][1]
    if select == "cv":
        kind = (
            MixtureOfExpertsClassifierCV
            if isinstance(mixture, MixtureOfExpertsClassifier)
            else MixtureOfExpertsRegressorCV
        )
        search = make_pipeline(
            clone(scaler), kind(grid, random_state=random_state, verbose=verbose)
        )
        with warnings.catch_warnings():
            # fit_command reports rare classes in the CLI's terms.
            warnings.filterwarnings("ignore", "The least populated class")
            try:
                search.fit(X, y, **{f"{search.steps[-1][0]}__groups": groups})
            except ValueError as exc:
                if "every fold must train on every class" not in str(exc):
                    raise
                raise ValueError(
                    "with --select cv some fold's training rows hold no row of a "
                    "class (the folds keep each --groups group whole): give those "
                    "classes rows in more groups, merge or drop them, or choose "
                    "the model with --select bic or a fixed --n-experts."
                ) from exc
        results = search[-1].cv_results_
        if kind is MixtureOfExpertsClassifierCV:
            label, meaning = "held-out log-lik.", "mean log-likelihood per row"
        else:
            label, meaning = "held-out -MSE", "minus the mean squared error"
        rows = [
            (
                repr(params["expert"]),
                repr(params["gate"]),
                str(params["n_experts"]),
                f"{score:.4f}",
                "<- chosen" if i == search[-1].best_index_ else "",
            )
            for i, (params, score) in enumerate(
                zip(results["params"], results["mean_test_score"], strict=True)
            )
            if not np.isnan(score)
        ]
        header = ("expert form", "gate", "K", label, "")
        right = (False, False, True, True, False)
        print(_aligned(rows, header, right), file=out)
        print(
            f"  ({label}: {meaning} of the held-out rows, higher is better;\n"
            "  below, the chosen model is scored on mixexp fit's own folds.)",
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


def _cross_validated(model, X, y, folds, progress, what):
    """Scores of ``model`` on ``folds``, with a progress line per fold; the
    pruning warnings of the fits are collected, not shown."""
    scores, caught = [], []
    for i, (train, test) in enumerate(folds):
        progress(f"{what}: fold {i + 1} of {len(folds)}")
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fitted = clone(model).fit(X[train], y[train])
        caught += record
        scores.append(fitted.score(X[test], y[test]))
    progress.clear()
    return np.array(scores), caught


def fit_command(args, out=None):
    """``mixexp fit``: the model (chosen by ``--select``), its
    cross-validated score beside a linear baseline's, the saved pipeline
    and a picture."""
    out = sys.stdout if out is None else out
    progress = StatusLine(out)
    X, y, names, groups = read_table(
        args.data, args.target, args.features, args.drop, args.groups
    )
    _check_outputs(args)
    kind = MixtureOfExpertsClassifier if args.classifier else MixtureOfExpertsRegressor
    if not args.classifier:
        try:
            y = y.astype(float)
        except ValueError as exc:
            raise ValueError(
                f"target {args.target!r} is not numeric; pass --classifier to "
                "predict class labels."
            ) from exc
    folds = _folds(X, groups, args)
    rare = _check_classes(y, len(folds), args) if args.classifier else []
    smallest = min(len(train) for train, _ in folds)
    if not args.select and args.n_experts > smallest:
        raise ValueError(
            f"--n-experts {args.n_experts} is more than the {smallest} rows the "
            f"smallest cross-validation fit has (of {X.shape[0]} rows); use at "
            f"most {smallest}, or let --select cv choose."
        )
    model = make_pipeline(
        StandardScaler(), kind(args.n_experts, n_init=3, random_state=args.random_state)
    )
    named = _named(X, names)
    print(f"{args.data}: {X.shape[0]} rows, features {names}", file=out)
    if groups is not None:
        n_groups = np.unique(groups).size
        print(
            f"folds by {args.groups!r}: no fold splits its {n_groups} groups", file=out
        )
    if rare:
        print(
            f"note: class(es) {rare} have fewer rows than the {len(folds)} folds of "
            "--select cv, so some of its folds hold out none of their rows.",
            file=out,
        )
    fitted = None
    if args.select:
        what = "cross-validation" if args.select == "cv" else "BIC"
        print(f"Choosing the model by {what}:", file=out)
        fitted = _select(
            model,
            named,
            y,
            args.select,
            args.max_experts,
            args.random_state,
            out,
            verbose=int(progress.live),  # the search's progress, in a terminal
            groups=groups,
        )
        # Scored below as a fixed configuration: the choice saw these rows.
        model = make_pipeline(StandardScaler(), clone(fitted[-1]))
    scores, caught = _cross_validated(model, X, y, folds, progress, "scoring")
    if any("were removed" in str(w.message) for w in caught):
        print(
            "note: in some folds, the fit on the fold's training rows removed "
            "experts that explained too few of them (see n_experts_).",
            file=out,
        )
    baseline = make_pipeline(
        StandardScaler(),
        LogisticRegression(max_iter=1000) if args.classifier else LinearRegression(),
    )
    baseline_scores, _ = _cross_validated(
        baseline, X, y, folds, progress, "scoring the baseline"
    )
    metric = "accuracy" if args.classifier else "R^2"
    if fitted is None:
        progress("fitting on all rows")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted = model.fit(named, y)
        progress.clear()
        for warning in caught:
            print(f"warning: {warning.message}", file=out)
    mixture = fitted[-1]
    print(
        f"{kind.__name__} with {_experts(mixture.n_experts_)} "
        f"({mixture.experts_!r}): {len(folds)}-fold cross-validated {metric} "
        f"{_mean_and_error(scores)}",
        file=out,
    )
    name = "logistic regression" if args.classifier else "linear regression"
    print(
        f"{name} (the baseline), same folds: {metric} "
        f"{_mean_and_error(baseline_scores)}",
        file=out,
    )
    if not args.select and baseline_scores.mean() > scores.mean():
        print(
            f"note: the baseline scores higher than {_experts(args.n_experts)}; "
            "--select cv chooses the number of experts (one among them) and "
            "their form by cross-validation.",
            file=out,
        )
    print(f"gate share of each expert: {np.round(mixture.expert_load_, 3)}", file=out)
    print_summary(fitted, X, y, names, out)
    if args.save:
        joblib.dump(fitted, args.save)
        if named is X:
            takes = f"the columns {names}, in this order"
        else:
            takes = (
                f"the columns {names}, by name from a pandas DataFrame and in this "
                "order from an array"
            )
        print(
            f"model saved to {args.save} (joblib.load reads it back); it predicts "
            f"from {takes}",
            file=out,
        )
    if args.plot:
        with warnings.catch_warnings():
            # The pictures pass arrays of the columns the model was fitted on.
            warnings.filterwarnings("ignore", "X does not have valid feature names")
            draw_fit(fitted, X, y, names, args.target, args.plot)
        print(f"picture: {args.plot}", file=out)
    return fitted


def _check_outputs(args):
    """Refuse a --save or --plot path that could not be written, and a
    picture format matplotlib lacks, before the fit rather than after it."""
    for flag, path in (("--save", args.save), ("--plot", args.plot)):
        if path is None:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise ValueError(f"{flag} {path!r} is a directory; give a file name.")
        if not os.path.isdir(folder):
            raise ValueError(
                f"{flag} {path!r}: there is no directory {folder!r}; create it "
                "first, or give a path in an existing one."
            )
        if not os.access(folder, os.W_OK):
            raise ValueError(
                f"{flag} {path!r}: the directory {folder!r} is not writable; "
                "give a path in one you can write to."
            )
    if args.plot is None:
        return
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise ValueError(
            "--plot needs matplotlib, which is not installed: pip install "
            "'mixexp[plot]', or leave out --plot."
        ) from None
    extension = os.path.splitext(args.plot)[1].lstrip(".").lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if extension and extension not in formats:
        raise ValueError(
            f"--plot {args.plot!r}: matplotlib cannot write .{extension} files; "
            f"end the name in one of {', '.join('.' + f for f in sorted(formats))}."
        )


def _named(X, names):
    """``X`` as a pandas DataFrame with the CSV's column names, so that the
    fitted pipeline matches columns by name at predict time; ``X`` itself
    without pandas, which mixexp does not require."""
    try:
        import pandas as pd
    except ImportError:
        return X
    return pd.DataFrame(X, columns=names)


def _folds(X, groups, args):
    """Five shuffled folds, or with a groups column five by group (fewer
    with fewer groups), so that the scores are those of new groups."""
    if groups is None:
        if X.shape[0] < 5:
            raise ValueError(
                f"{args.data!r} has {X.shape[0]} data rows, but mixexp fit scores "
                "the model by 5-fold cross-validation, which needs at least 5 "
                "rows (and many more to learn anything): add rows."
            )
        return list(KFold(5, shuffle=True, random_state=args.random_state).split(X))
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise ValueError(
            f"--groups {args.groups!r} has a single group, which no fold can "
            "hold out; give a column with at least two groups."
        )
    splitter = GroupKFold(
        min(5, n_groups), shuffle=True, random_state=args.random_state
    )
    return list(splitter.split(X, groups=groups))


def _check_classes(y, n_folds, args):
    """Refuse classes --select cv cannot train every fold on; returns the
    classes with fewer rows than folds (some folds hold none of them out)."""
    classes, counts = np.unique(y, return_counts=True)
    try:
        y.astype(float)
        numeric = True
    except ValueError:
        numeric = False
    taken = f"taken as classes, it has {classes.size} classes in {y.size} rows"
    # Numbers with this many distinct values are measurements, not labels.
    if numeric and classes.size > max(10, y.size / 5):
        raise ValueError(
            f"target {args.target!r} looks continuous: {taken}. Drop --classifier "
            "to fit a regression."
        )
    if classes.size > y.size / 2:
        raise ValueError(
            f"target {args.target!r} has too few rows per class to learn: {taken}. "
            "Check that --target names the column of class labels."
        )
    if args.select != "cv":
        return []
    single = classes[counts < 2].tolist()
    if single:
        raise ValueError(
            f"class(es) {single} of --target {args.target!r} have a single "
            "row, and --select cv trains every fold on every class, so each class "
            f"needs at least 2 rows ({n_folds} for even folds): add rows of those "
            "classes, merge or drop them, or choose the model with --select bic "
            "or a fixed --n-experts."
        )
    return classes[counts < n_folds].tolist()


def _mean_and_error(scores):
    return f"{scores.mean():.4f} +/- {scores.std() / np.sqrt(scores.size):.4f} (s.e.)"


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
    """A picture of who is in charge, drawn by the library's displays: the
    experts and their gate over one feature, the regions of the experts
    over two (the first two, the others at their median, for a classifier
    with more; classes by marker), or observed against fitted values
    coloured by expert (a regressor with more than two features)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .inspection import ExpertFitDisplay, ExpertRegionDisplay

    classifier = hasattr(model, "classes_")
    fig, ax = plt.subplots(figsize=(7, 5.5))
    if X.shape[1] == 1 and not classifier:
        ExpertFitDisplay.from_estimator(
            model, X, y, xlabel=names[0], ylabel=target, ax=ax
        ).ax_.set_title("The experts and their gate")
    elif X.shape[1] == 1:  # a classifier on one feature: the gate over it
        ax.remove()
        _gate_along(model, X, y, names[0], fig)
    elif classifier or X.shape[1] == 2:
        display = ExpertRegionDisplay.from_estimator(
            model,
            X,
            y,
            class_markers="auto" if classifier and len(model.classes_) <= 10 else None,
            xlabel=names[0],
            ylabel=names[1],
            ax=ax,
        )
        sliced = " (others at their median)" if X.shape[1] > 2 else ""
        display.ax_.set_title(f"The region of each expert{sliced}")
    else:
        _observed_vs_fitted(model, X, y, target, ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _gate_along(model, X, y, name, fig):
    """A classifier on one feature: its gate probabilities along it, with
    the classes' rows marked below."""
    ax = fig.add_subplot(111)
    grid = np.linspace(X[:, 0].min(), X[:, 0].max(), 400)[:, None]
    gate = model[-1].predict_gate_proba(model[:-1].transform(grid))
    for k in range(gate.shape[1]):
        ax.plot(grid[:, 0], gate[:, k], lw=2, label=f"expert {k}")
    classes = model.classes_
    codes = np.searchsorted(classes, y)
    for c, label in enumerate(classes):
        rows = X[codes == c, 0]
        ax.plot(
            rows, np.full(rows.shape, -0.05 - 0.05 * c), "|", label=f"class {label}"
        )
    ax.set(xlabel=name, ylabel="gate probability", title="The gate along the feature")
    ax.legend(fontsize="small")


def _observed_vs_fitted(model, X, y, target, ax):
    """Observed against fitted values, each point coloured by the expert
    most responsible for it, with the line y = x."""
    import matplotlib.pyplot as plt

    mixture = model[-1]
    posterior = mixture.responsibilities(model[:-1].transform(X), y)
    owner = posterior.argmax(axis=1)
    fitted = model.predict(X)
    colours = plt.cm.tab10(np.arange(mixture.n_experts_) % 10)
    for k in range(mixture.n_experts_):
        mine = owner == k
        ax.scatter(y[mine], fitted[mine], s=10, color=colours[k], label=f"expert {k}")
    low, high = min(y.min(), fitted.min()), max(y.max(), fitted.max())
    ax.plot([low, high], [low, high], "k--", lw=1, label="fitted = observed")
    ax.set(
        xlabel=f"observed {target}",
        ylabel=f"fitted {target}",
        title="Fitted against observed, by the expert in charge",
    )
    ax.legend(fontsize="small")


def _positive_int(text):
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def _seed(text):
    """An argparse type: a seed NumPy takes, 0 to 2**32 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 2**32 - 1")
    return value


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
    demo.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        help="seed of the data and the fits (default: %(default)s)",
    )
    demo.add_argument(
        "--out",
        "--output",
        dest="output",
        default="mixexp-demo.png",
        help="where to save the picture (default: %(default)s)",
    )
    fit = commands.add_parser(
        "fit", help="fit a mixture to a CSV file, cross-validate, save, draw"
    )
    fit.add_argument("data", help="CSV file with a header row")
    fit.add_argument("--target", required=True, help="name of the target column")
    fit.add_argument(
        "--features",
        nargs="+",
        metavar="COLUMN",
        help="the input columns (default: every column but the target)",
    )
    fit.add_argument(
        "--drop", nargs="+", default=(), metavar="COLUMN", help="columns to leave out"
    )
    fit.add_argument(
        "--classifier", action="store_true", help="the target holds class labels"
    )
    fit.add_argument(
        "--groups",
        metavar="COLUMN",
        help="a column of group labels (speaker, patient, site): no fold splits "
        "a group, so the scores are those of new groups",
    )
    size = fit.add_mutually_exclusive_group()
    size.add_argument(
        "--n-experts",
        type=_positive_int,
        default=4,
        help="number of experts (default: %(default)s)",
    )
    size.add_argument(
        "--select",
        choices=["bic", "cv"],
        help="choose the model: by cross-validation (the expert form and "
        "the number of experts, MixtureOfExpertsRegressorCV / ClassifierCV) or by "
        "BIC (the number of linear experts, fitted on all rows)",
    )
    fit.add_argument(
        "--max-experts",
        type=_positive_int,
        default=8,
        help="largest number of experts --select tries (of 1 2 3 4 6 8 12 16 24 "
        "32; default: %(default)s)",
    )
    fit.add_argument(
        "--save",
        metavar="PATH",
        help="save the fitted pipeline here with joblib. The file is a pickle, "
        "which runs code when it is loaded: load it only from a source you trust "
        "(mixexp.io.dump and mixexp.io.load store models safely, with skops)",
    )
    fit.add_argument(
        "--plot",
        metavar="PATH",
        help="draw who is in charge where; the extension picks the format "
        "(.png, .pdf, .svg, ...)",
    )
    fit.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        help="seed of the folds and the fits (default: %(default)s)",
    )
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
