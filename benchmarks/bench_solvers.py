"""The 1991 claim, measured: which training reaches a good mixture fastest.

Jacobs, Jordan, Nowlan & Hinton (1991) trained the mixture by gradient
descent on three objectives and reported that the competitive ones (eq. 1.2,
and the likelihood, eq. 1.3) make the experts localize and learn faster than
the cooperative one (eq. 1.1), and than a backprop network. On a
piecewise-linear regression (three regimes with jumps) and a multi-region
classification problem, this script compares

- EM (Jordan & Jacobs 1994);
- full-batch gradient descent (L-BFGS) on the likelihood, the competitive
  and the cooperative loss (cooperative is for regression only);
- Adam on minibatches of 200 on the likelihood;
- an MLP (scikit-learn, Adam, same learning rate) with about as many
  parameters as the mixture.

Columns: the epochs (EM iterations, L-BFGS iterations, or passes of Adam)
and seconds until the test score (R^2 or accuracy) first reaches the target,
found by refitting from scratch with ``max_iter`` on a geometric grid (each
fit with a fixed seed is the first ``max_iter`` steps of the same run; so
epochs are resolved to the grid); then the converged fit's epochs, test
score, and how local its experts are: the mean over test points of the
largest gate probability (1 = one expert in charge everywhere) and the
number of experts that are most probable on at least 5% of the test points.

Each problem is run from the k-means initialization (experts fitted to
clusters of the joint (x, y) space, gate one step towards them) and from
``init="random"`` (every expert starts near the global fit), closer to the
small random weights of the 1991 paper.

Run:  python benchmarks/bench_solvers.py [--n 2000] [--seeds 3]
"""

import argparse
import itertools
import time
import warnings

import numpy as np
from sklearn.neural_network import MLPClassifier, MLPRegressor

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import make_local_classification, make_piecewise_linear

GRID = np.unique(np.round(np.geomspace(1, 2000, 40)).astype(int))
LEARNING_RATE = 0.01


def _methods(kind, n_experts, hidden, init):
    """(name, factory(max_iter, seed)) pairs; the MLP only with k-means
    (it has no such initialization, its row would repeat)."""
    if kind == "regression":
        base = MixtureOfExpertsRegressor
    else:
        base = MixtureOfExpertsClassifier

    def moe(*args, **kwargs):
        return base(*args, init=init, **kwargs)

    mlp = MLPRegressor if kind == "regression" else MLPClassifier
    methods = [
        ("EM", lambda m, s: moe(n_experts, max_iter=m, random_state=s)),
        (
            "gd likelihood",
            lambda m, s: moe(n_experts, solver="gd", max_iter=m, random_state=s),
        ),
        (
            "gd competitive",
            lambda m, s: moe(
                n_experts, solver="gd", loss="competitive", max_iter=m, random_state=s
            ),
        ),
    ]
    if kind == "regression":
        methods.append(
            (
                "gd cooperative",
                lambda m, s: moe(
                    n_experts,
                    solver="gd",
                    loss="cooperative",
                    max_iter=m,
                    random_state=s,
                ),
            )
        )
    methods.append(
        (
            "adam likelihood",
            lambda m, s: moe(
                n_experts,
                solver="adam",
                learning_rate_init=LEARNING_RATE,
                max_iter=m,
                random_state=s,
            ),
        )
    )
    if init == "kmeans":
        methods.append(
            (
                f"MLP {hidden} hidden",
                lambda m, s: mlp(
                    hidden_layer_sizes=(hidden,),
                    learning_rate_init=LEARNING_RATE,
                    max_iter=m,
                    random_state=s,
                ),
            )
        )
    return methods


def _timed_fit(make, max_iter, seed, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits do not converge, by design
        est = make(max_iter, seed)
        start = time.perf_counter()
        est.fit(X, y)
        return est, time.perf_counter() - start


def _epochs(est):
    return getattr(est, "n_iter_", None)


def _locality(est, X):
    if not hasattr(est, "predict_gate_proba"):
        return np.nan, np.nan
    gate = est.predict_gate_proba(X)
    winners = np.bincount(gate.argmax(axis=1), minlength=gate.shape[1])
    return gate.max(axis=1).mean(), int(np.sum(winners >= 0.05 * len(X)))


def _to_target(make, seed, data, target):
    X, y, X_test, y_test = data
    for max_iter in GRID:
        est, seconds = _timed_fit(make, int(max_iter), seed, X, y)
        if est.score(X_test, y_test) >= target:
            return int(max_iter), seconds
        if _epochs(est) < max_iter:  # stopped on its own: more will not help
            break
    return np.nan, np.nan


def _problem(kind, n, seed):
    if kind == "regression":
        X, y = make_piecewise_linear(n, random_state=seed)
        X_test, y_test = make_piecewise_linear(n, random_state=seed + 100)
    else:
        X, y = make_local_classification(n, random_state=seed)
        X_test, y_test = make_local_classification(n, random_state=seed + 100)
    return X, y, X_test, y_test


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="train and test size")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    # (kind, experts, MLP hidden units of about the mixture's parameter count,
    # target test score)
    problems = [
        # K=4, d=1: gate 4*2 + experts 4*(2+1) = 20; MLP 1-h-1: 3h+1
        ("regression", 4, 6, 0.98),
        # K=4, d=2, 2 classes: gate 4*3 + experts 4*1*3 = 24; MLP 2-h-1: 4h+1
        ("classification", 4, 6, 0.95),
    ]
    for (kind, n_experts, hidden, target), init in itertools.product(
        problems, ("kmeans", "random")
    ):
        score_name = "R^2" if kind == "regression" else "accuracy"
        print(
            f"\n{kind}, init={init!r}: n_train = n_test = {args.n}, {n_experts} "
            f"experts, target test {score_name} >= {target}; medians over "
            f"{args.seeds} seeds"
        )
        header = (
            f"{'method':<18}{'epochs to target':>17}{'s to target':>12}"
            f"{'epochs':>8}{'s':>7}{'test ' + score_name:>15}"
            f"{'max gate p':>11}{'experts used':>13}"
        )
        print(header)
        print("-" * len(header))
        for name, make in _methods(kind, n_experts, hidden, init):
            results = []
            for seed in range(args.seeds):
                data = _problem(kind, args.n, seed)
                epochs_to, seconds_to = _to_target(make, seed, data, target)
                est, seconds = _timed_fit(make, 2000, seed, data[0], data[1])
                score = est.score(data[2], data[3])
                sharp, used = _locality(est, data[2])
                results.append(
                    (epochs_to, seconds_to, _epochs(est), seconds, score, sharp, used)
                )
            res = np.asarray(results, dtype=float)
            reached = int(np.sum(np.isfinite(res[:, 0])))
            med = [
                np.nanmedian(col) if np.any(np.isfinite(col)) else np.nan
                for col in res.T
            ]
            note = (
                "" if reached == args.seeds else f"  ({reached}/{args.seeds} reached)"
            )
            print(
                f"{name:<18}{med[0]:>17.0f}{med[1]:>12.2f}{med[2]:>8.0f}"
                f"{med[3]:>7.2f}{med[4]:>15.4f}{med[5]:>11.3f}{med[6]:>13.0f}{note}"
            )


if __name__ == "__main__":
    main()
