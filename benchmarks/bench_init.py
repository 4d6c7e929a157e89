"""How much k-means the EM initialization needs: the optimum reached, by problem.

EM starts from experts fitted to a weighted k-means(++) clustering of the
joint (x, y) rows: ``n_seeds`` seedings, each refined by at most
``max_iter`` Lloyd iterations, the lowest inertia kept (``mixexp._init.
kmeans_centres``; the estimators do not expose these two settings, so this
script sets their defaults). At 2,000 rows k-means was a third of a fit's
time, so how much of it EM actually needs is a speed question as much as a
quality one.

Each setting fits the same problems from the same seeds: planted mixtures of
linear regressions (2,000 rows, K = 4; 5,000 rows, d = 20, K = 8;
bench_peers.py's 10,000 training rows, d = 5, K = 4; and bench_gates.py's
25,000 rows, d = 10, K = 8, with softmax-gated regimes and with Gaussian
blobs in x), the
Peterson-Barney vowels (K = 4 and 8), the local classification problem, a
depth-3 HME on the robot arm, mcycle, the piecewise-linear and tone data,
and four UCI regression sets (standardized, K = 4), each with 75% of the
rows for training (a split per seed). For each problem: fits whose final
lower bound (penalized log-likelihood per unit weight) is the same as the
first setting's (within 1e-4), higher or lower; the mean differences of the
lower bound and of the test score (R^2 or accuracy); the seconds of all fits
and the mean EM iterations. The last line pools all problems (mean +-
standard error).

Run:  python benchmarks/bench_init.py [--seeds 16] [--settings 5x20 5x10 5x40 1x10]
(5x20 was the default before; 1x10 is one run, as scikit-learn's
GaussianMixture initializes.) A setting may end in ``/rows``, k-means's
``max_rows`` (its row sample above twice as many rows): ``5x10/40000`` is
k-means on all the rows of every problem here.
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from bench_gates import make_blob_regression
from sklearn.model_selection import train_test_split

import mixexp._init
from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.datasets import (
    load_mcycle,
    load_tone,
    load_vowels,
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
    make_robot_arm_dynamics,
)

DATA = Path(__file__).resolve().parents[2] / "shared/data"
UCI = ("uci-concrete", "uci-energy", "uci-yacht", "uci-wine-quality-red")


def _standardized(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def _uci(folder):
    path = DATA / folder / "data"
    data = np.loadtxt(path / "data.txt", ndmin=2)
    features = np.loadtxt(path / "index_features.txt", dtype=int, ndmin=1)
    target = int(np.loadtxt(path / "index_target.txt", dtype=int))
    return _standardized(data[:, features]), _standardized(data[:, target])


def problems(n_seeds):
    """(name, seed, X, y, make_estimator); the larger problems get half the
    seeds."""
    regressor, classifier = MixtureOfExpertsRegressor, MixtureOfExpertsClassifier
    for s in range(n_seeds):
        X, y = make_mixture_regression(2000, 5, 4, noise=0.3, random_state=s)
        yield "planted K=4", s, X, y, lambda s=s: regressor(4, random_state=s, tol=1e-7)
    for s in range(n_seeds // 2):
        X, y = make_mixture_regression(5000, 20, 8, noise=0.3, random_state=s)
        yield "planted K=8", s, X, y, lambda s=s: regressor(8, random_state=s)
    for s in range(n_seeds // 2):  # bench_peers.py's largest flexmix size
        X, y = make_mixture_regression(13333, 5, 4, noise=0.3, random_state=s)
        make = lambda s=s: regressor(4, random_state=s, tol=5e-7)  # noqa: E731
        yield "planted K=4 10k", s, X, y, make
    for s in range(n_seeds // 2):  # bench_gates.py's largest problems
        X, y = make_mixture_regression(25000, 10, 8, noise=0.3, random_state=s)
        yield "softmax-gated K=8", s, X, y, lambda s=s: regressor(8, random_state=s)
        X, y = make_blob_regression(25000, 10, 8, seed=s)
        yield "blobs K=8", s, X, y, lambda s=s: regressor(8, random_state=s)
    X, y = load_vowels(return_X_y=True)
    X = _standardized(X)
    for s in range(n_seeds):
        for K in (4, 8):
            make = lambda s=s, K=K: classifier(K, random_state=s)  # noqa: E731
            yield f"vowels K={K}", s, X, y, make
    for s in range(n_seeds):
        X, y = make_local_classification(2000, random_state=s)
        yield "local", s, X, y, lambda s=s: classifier(4, random_state=s)
    for s in range(n_seeds // 2):
        X, y = make_robot_arm_dynamics(2000, random_state=s)
        yield (
            "robot HME",
            s,
            X,
            y,
            lambda s=s: HierarchicalMixtureOfExpertsRegressor(depth=3, random_state=s),
        )
    X, y = load_mcycle(return_X_y=True)
    X = _standardized(X)
    for s in range(n_seeds):
        yield "mcycle", s, X, y, lambda s=s: regressor(4, random_state=s)
    for s in range(n_seeds):
        X, y = make_piecewise_linear(1500, random_state=s)
        yield "piecewise", s, X, y, lambda s=s: regressor(4, random_state=s)
    X, y = load_tone(return_X_y=True)
    for s in range(n_seeds):
        yield "tone", s, X, y, lambda s=s: regressor(2, random_state=s)
    for folder in UCI:
        if not (DATA / folder).exists():
            print(f"{folder}: not found under {DATA}")
            continue
        X, y = _uci(folder)
        for s in range(n_seeds):
            yield folder, s, X, y, lambda s=s: regressor(4, random_state=s)


def run(setting, n_seeds):
    """{(problem, seed): (lower bound, test score, n_iter, seconds)}."""
    shape, _, rows = setting.partition("/")
    runs, max_iter = (int(v) for v in shape.split("x"))
    defaults = mixexp._init.kmeans_centres.__kwdefaults__
    saved = dict(defaults)
    defaults.update(n_seeds=runs, max_iter=max_iter)
    if rows:
        defaults.update(max_rows=int(rows))
    results = {}
    try:
        for name, seed, X, y, make in problems(n_seeds):
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=0.25, random_state=seed
            )
            model = make()
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X_train, y_train)
            seconds = time.perf_counter() - start
            results[name, seed] = (
                model.lower_bound_,
                model.score(X_test, y_test),
                model.n_iter_,
                seconds,
            )
    finally:
        defaults.clear()
        defaults.update(saved)
    return results


def compare(base, other):
    """Rows of the comparison table of ``other`` against ``base``."""
    names = list(dict.fromkeys(name for name, _ in base))
    pooled_bound, pooled_score, rows = [], [], []
    for name in names:
        keys = [key for key in base if key[0] == name]
        bound = np.array([other[k][0] - base[k][0] for k in keys])
        score = np.array([other[k][1] - base[k][1] for k in keys])
        pooled_bound += list(bound)
        pooled_score += list(score)
        rows.append(
            f"{name:22} {len(keys):>4} {np.sum(np.abs(bound) < 1e-4):>5} "
            f"{np.sum(bound >= 1e-4):>6} {np.sum(bound <= -1e-4):>5} "
            f"{bound.mean():>+10.4f} {score.mean():>+10.5f} "
            f"{sum(base[k][3] for k in keys):>7.2f} "
            f"{sum(other[k][3] for k in keys):>7.2f} "
            f"{np.mean([base[k][2] for k in keys]):>6.0f} "
            f"{np.mean([other[k][2] for k in keys]):>5.0f}"
        )
    bound, score = np.array(pooled_bound), np.array(pooled_score)
    n = bound.size
    rows.append(
        f"all: {n} fits, same {np.sum(np.abs(bound) < 1e-4)}, higher "
        f"{np.sum(bound >= 1e-4)}, lower {np.sum(bound <= -1e-4)}; lower bound "
        f"{bound.mean():+.4f} +- {bound.std() / np.sqrt(n):.4f}, test score "
        f"{score.mean():+.5f} +- {score.std() / np.sqrt(n):.5f}; seconds "
        f"{sum(v[3] for v in base.values()):.1f} -> "
        f"{sum(v[3] for v in other.values()):.1f}"
    )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["5x20", "5x10", "5x40", "1x10"],
        help="k-means runs x Lloyd iterations; the first is the reference",
    )
    args = parser.parse_args()
    results = {setting: run(setting, args.seeds) for setting in args.settings}
    reference = args.settings[0]
    for setting in args.settings[1:]:
        print(
            f"k-means {setting} (runs x Lloyd iterations) against {reference}, "
            f"{args.seeds} seeds; mixexp's default is 5x10"
        )
        header = (
            f"{'problem':22} {'fits':>4} {'same':>5} {'higher':>6} {'lower':>5} "
            f"{'d bound':>10} {'d score':>10} {'s ref':>7} {'s new':>7} "
            f"{'it ref':>6} {'it new':>5}"
        )
        print(header)
        print("-" * len(header))
        for row in compare(results[reference], results[setting]):
            print(row)
        print()


if __name__ == "__main__":
    main()
