"""The ``mixexp`` command line."""

import argparse
import sys

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, __version__
from .datasets import load_vowels, make_piecewise_linear


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
    for k in range(moe.n_experts):
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
    for k in range(fitted.n_experts):
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
        levels=np.arange(pipe[-1].n_experts + 1) - 0.5,
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
        "--output", default="mixexp-demo.png", help="where to save the picture"
    )
    args = parser.parse_args(argv)
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
