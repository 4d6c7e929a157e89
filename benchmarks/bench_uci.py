"""mixexp against the scikit-learn baselines on five UCI regression sets.

The benchmark of Hernández-Lobato & Adams (2015) and Gal & Ghahramani
(2016), on their published 90 % / 10 % train/test splits (20 per set, as
copied to ``--data-dir``: concrete, energy, power plant, red wine, yacht;
each set's README.md describes its files and published results). For every
split each method is fitted on the training rows only and scored by the
test RMSE in the target's original units. Inputs and target are normalized
with training statistics: every method is a
``TransformedTargetRegressor(Pipeline([StandardScaler(), model]),
transformer=StandardScaler())``. The methods:

- ``mixexp CV``: ``MixtureOfExpertsRegressorCV`` at its defaults
  (``random_state=0``): expert form, gate and number of experts chosen by
  3-fold cross-validation on the training split alone, then refitted on it;
- ``MLP``: ``MLPRegressor`` with one hidden layer of 50 ReLU units (the
  papers' network size), Adam, early stopping on 10 % of the training rows
  (sklearn's patience of 10 epochs, at most 1000);
- ``MLP grid``: what a user would run to choose the network's size,
  ``GridSearchCV(MLPRegressor(random_state=0), {"hidden_layer_sizes":
  [(25,), (50,), (100,)]}, cv=3)``, refitted on the training split; the
  issue's time budget for the CV estimator is this search's time;
- ``HistGB``: ``HistGradientBoostingRegressor`` with its defaults;
- ``linear``: ``LinearRegression``.

No setting is tuned per data set. The table gives, over the splits run, the
mean test RMSE ± its standard error ``std(ddof=1) / sqrt(n_splits)``, its
median over the splits (robust to a single bad split), the worst split's
RMSE over that median (the target is at most 3), the mean seconds of
one whole fit (for the searches, with their refit: the cost a user pays),
and for mixexp how often each gate, form and number of experts was chosen
(``s`` softmax, ``r`` ridged softmax, ``g`` Gaussian gate; ``L`` linear,
``Q`` quadratic experts; ``sL6:3``: six softmax-gated linear experts in
three splits). Last lines
per set give the ratio of the CV estimator's fit time to the MLP grid
search's, and the CV estimator's RMSE minus each MLP's, paired over the
splits (mean ± its standard error, and on how many splits it is lower).
All fits run on one BLAS / OpenMP thread (``--threads``). With
``--n-jobs N`` the CV estimator also runs with N worker processes (the
same models, so the same RMSE; the first such fit also starts the
workers), and a last line per set gives its fit time over the sequential
one's. With ``--trees`` the CV estimator also runs with a ``TreeGate()``
beside its default gates (``t`` in its choices: hierarchies of that many
leaves), and two lines per set give its fit time over the default's and
its RMSE minus the default's, paired over the splits.
``--datasets friedman1-30`` runs a synthetic wide table instead: Friedman's
first function on 30 inputs (``make_friedman1``, 25 of them noise, noise
sd 1, so an RMSE of 1 is the best possible), 2,000 training rows and 500
test rows in each of 20 random splits of one draw; ``friedman1-40`` the same
function on 40 inputs, 10,000 training and 2,000 test rows in 5 splits.
The rows marked "published" are reference numbers copied from the READMEs
(Gal & Ghahramani 2016, Table 1, arXiv v6: PBP and MC dropout, ± the
standard error over the 20 splits), not results of this script.

Run:  python benchmarks/bench_uci.py [--splits 20] [--datasets concrete yacht]
      [--datasets friedman1-30 friedman1-40] [--threads 1] [--n-jobs 2]
      [--trees] [--quick] [--data-dir /work/shared/data]
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import make_friedman1
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, ShuffleSplit
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mixexp import MixtureOfExpertsRegressorCV
from mixexp.gates import GaussianGate, SoftmaxGate, TreeGate

# The CV estimator with hierarchies among its gates (``--trees``).
TREES = "mixexp CV + trees"

# Published test RMSE (mean, standard error over the 20 splits) on these
# splits, from each set's README.md, which quotes Gal & Ghahramani (2016),
# "Dropout as a Bayesian approximation", Table 1 (arXiv 1506.02142 v6, with
# the corrected dropout error bars); the PBP column is Hernández-Lobato &
# Adams (2015) as quoted there. Reference numbers, not results.
PUBLISHED = {
    "concrete": {"PBP": (5.67, 0.09), "MC dropout": (5.23, 0.12)},
    "energy": {"PBP": (1.80, 0.05), "MC dropout": (1.66, 0.04)},
    "power-plant": {"PBP": (4.12, 0.03), "MC dropout": (4.02, 0.04)},
    "wine-red": {"PBP": (0.64, 0.01), "MC dropout": (0.62, 0.01)},
    "yacht": {"PBP": (1.02, 0.05), "MC dropout": (1.11, 0.09)},
}
FOLDERS = {
    "concrete": "uci-concrete",
    "energy": "uci-energy",
    "power-plant": "uci-power-plant",
    "wine-red": "uci-wine-quality-red",
    "yacht": "uci-yacht",
}


def friedman_wide():
    """Friedman's first function of 5 inputs beside 25 noise inputs, noise
    sd 1 (``make_friedman1``): 2,500 rows, 20 random 2,000 / 500 splits.
    Too few rows for quadratic experts in 30 inputs: a wide table."""
    X, y = make_friedman1(2500, n_features=30, noise=1.0, random_state=0)
    return X, y, list(ShuffleSplit(20, test_size=500, random_state=0).split(X))


def friedman_long():
    """Friedman's first function of 5 inputs beside 35 noise inputs, noise
    sd 1: 12,000 rows, 5 random 10,000 / 2,000 splits. Rows enough for
    quadratic experts in 40 inputs, but not the time (a wide, long table)."""
    X, y = make_friedman1(12000, n_features=40, noise=1.0, random_state=0)
    return X, y, list(ShuffleSplit(5, test_size=2000, random_state=0).split(X))


# Sets made here rather than read from ``--data-dir``; not in the default run.
SYNTHETIC = {"friedman1-30": friedman_wide, "friedman1-40": friedman_long}


def load(data_dir, name):
    """Inputs, target and the list of (train, test) row indices of a set."""
    if name in SYNTHETIC:
        return SYNTHETIC[name]()
    folder = Path(data_dir) / FOLDERS[name] / "data"
    data = np.loadtxt(folder / "data.txt", ndmin=2)
    features = np.loadtxt(folder / "index_features.txt", dtype=int, ndmin=1)
    target = int(np.loadtxt(folder / "index_target.txt", dtype=int))
    n_splits = int(np.loadtxt(folder / "n_splits.txt", dtype=int))
    splits = [
        tuple(
            np.loadtxt(folder / f"index_{part}_{i}.txt", dtype=int, ndmin=1)
            for part in ("train", "test")
        )
        for i in range(n_splits)
    ]
    return data[:, features], data[:, target], splits


def normalized(model):
    """``model`` on standardized inputs, predicting a standardized target."""
    return TransformedTargetRegressor(
        Pipeline([("scale", StandardScaler()), ("model", model)]),
        transformer=StandardScaler(),
    )


def make_methods(n_jobs=None, trees=False):
    """Name -> function returning a fresh, unfitted estimator; with
    ``n_jobs``, the CV estimator also runs with that many workers, with
    ``trees`` also with hierarchies among its gates."""
    parallel = {}
    if n_jobs is not None:
        parallel[f"mixexp CV n_jobs={n_jobs}"] = lambda: normalized(
            MixtureOfExpertsRegressorCV(random_state=0, n_jobs=n_jobs)
        )
    if trees:
        parallel[TREES] = lambda: normalized(
            MixtureOfExpertsRegressorCV(
                gates=[
                    SoftmaxGate(),
                    GaussianGate(covariance_type="full"),
                    TreeGate(),
                ],
                random_state=0,
            )
        )
    return {
        "mixexp CV": lambda: normalized(MixtureOfExpertsRegressorCV(random_state=0)),
        **parallel,
        "MLP": lambda: normalized(
            MLPRegressor(
                hidden_layer_sizes=(50,),
                early_stopping=True,
                max_iter=1000,
                random_state=0,
            )
        ),
        "MLP grid": lambda: normalized(
            GridSearchCV(
                MLPRegressor(random_state=0),
                {"hidden_layer_sizes": [(25,), (50,), (100,)]},
                cv=3,
            )
        ),
        "HistGB": lambda: normalized(HistGradientBoostingRegressor(random_state=0)),
        "linear": lambda: normalized(LinearRegression()),
    }


def run_dataset(X, y, splits, methods):
    """Test RMSE (n_methods, n_splits), fit seconds alike, and the CV
    estimator's choices (``sL6``: six softmax-gated linear experts)."""
    rmse = np.empty((len(methods), len(splits)))
    seconds = np.empty_like(rmse)
    chosen = {label: [] for label in ("mixexp CV", TREES)}
    for s, (train, test) in enumerate(splits):
        for m, (label, make) in enumerate(methods.items()):
            model = make()
            start = time.perf_counter()
            model.fit(X[train], y[train])
            seconds[m, s] = time.perf_counter() - start
            residual = model.predict(X[test]) - y[test]
            rmse[m, s] = np.sqrt(np.mean(residual**2))
            inner = model.regressor_[-1]
            if label in chosen:
                gate = inner.best_params_["gate"]
                ridged = isinstance(gate, SoftmaxGate) and gate.alpha >= 1e-4
                gate = "r" if ridged else type(gate).__name__[0].lower()
                form = "Q" if inner.best_params_["expert"].degree == 2 else "L"
                chosen[label].append(f"{gate}{form}{inner.n_experts_}")
    return rmse, seconds, chosen


def histogram(chosen):
    """``choice:count`` for each choice, most frequent first."""
    values, counts = np.unique(chosen, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return " ".join(f"{values[i]}:{counts[i]}" for i in order)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=20, help="first N splits")
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=[*FOLDERS, *SYNTHETIC],
        default=list(FOLDERS),
    )
    parser.add_argument("--threads", type=int, default=1, help="BLAS / OpenMP")
    parser.add_argument(
        "--n-jobs", type=int, default=None, help="also time the CV estimator's n_jobs"
    )
    parser.add_argument(
        "--trees", action="store_true", help="also the CV estimator with trees"
    )
    parser.add_argument("--quick", action="store_true", help="2 splits")
    parser.add_argument("--data-dir", default="/work/shared/data")
    args = parser.parse_args()
    n_splits = 2 if args.quick else args.splits
    methods = make_methods(args.n_jobs, args.trees)
    print(
        f"first {n_splits} splits per set (all of a set with fewer), test RMSE "
        "in target units (mean ± s.e. = std(ddof=1)/sqrt(splits)), fit s = mean "
        "seconds per fit; mixexp CV: MixtureOfExpertsRegressorCV() at its defaults"
    )
    header = (
        f"{'dataset':>11} {'n':>5} {'d':>3} {'method':>22} "
        f"{'test RMSE':>16} {'median':>7} {'worst/med':>9} {'fit s':>7}  K chosen"
    )
    print(header)
    print("-" * len(header))
    warnings.simplefilter("ignore", ConvergenceWarning)
    # One BLAS / OpenMP thread: comparable fit times.
    threadpool_limits(args.threads)
    begin = time.perf_counter()
    for name in args.datasets:
        X, y, splits = load(args.data_dir, name)
        rmse, seconds, chosen = run_dataset(X, y, splits[:n_splits], methods)
        mean = rmse.mean(axis=1)
        error = rmse.std(axis=1, ddof=1) / np.sqrt(rmse.shape[1])
        median = np.median(rmse, axis=1)
        worst = rmse.max(axis=1) / median
        fit = seconds.mean(axis=1)
        n, d = X.shape
        if rmse.shape[1] < n_splits:
            print(f"{name:>11}: {rmse.shape[1]} splits")
        for m, method in enumerate(methods):
            k = histogram(chosen[method]) if chosen.get(method) else ""
            print(
                f"{name:>11} {n:>5} {d:>3} {method:>22} "
                f"{mean[m]:>8.3f} ± {error[m]:<5.3f} {median[m]:>7.3f} "
                f"{worst[m]:>9.2f} {fit[m]:>7.2f}  "
                f"{k}".rstrip()
            )
        names = list(methods)
        ratio = fit[names.index("mixexp CV")] / fit[names.index("MLP grid")]
        print(f"{name:>11}: fit time of mixexp CV / MLP grid = {ratio:.2f}")
        if args.n_jobs is not None:
            parallel = fit[names.index(f"mixexp CV n_jobs={args.n_jobs}")]
            print(
                f"{name:>11}: fit time of mixexp CV with n_jobs={args.n_jobs} / "
                f"without = {parallel / fit[names.index('mixexp CV')]:.2f}"
            )
        if args.trees:
            print(
                f"{name:>11}: fit time of {TREES} / mixexp CV = "
                f"{fit[names.index(TREES)] / fit[names.index('mixexp CV')]:.2f}"
            )
            diff = rmse[names.index(TREES)] - rmse[names.index("mixexp CV")]
            print(
                f"{name:>11}: {TREES} - mixexp CV, paired over the splits: "
                f"{diff.mean():+.3f} ± {diff.std(ddof=1) / np.sqrt(diff.size):.3f}, "
                f"lower on {np.sum(diff < 0)}, higher on {np.sum(diff > 0)}"
            )
        for rival in ("MLP", "MLP grid"):
            diff = rmse[names.index("mixexp CV")] - rmse[names.index(rival)]
            print(
                f"{name:>11}: mixexp CV - {rival}, paired over the splits: "
                f"{diff.mean():+.3f} ± {diff.std(ddof=1) / np.sqrt(diff.size):.3f}, "
                f"lower on {np.sum(diff < 0)} of {diff.size}"
            )
        for method, (value, err) in PUBLISHED.get(name, {}).items():
            label = f"{method} (published)"
            print(
                f"{name:>11} {n:>5} {d:>3} {label:>22} "
                f"{value:>8.2f} ± {err:<5.2f} {'-':>7} {'-':>9} {'-':>7}"
            )
    print(f"total wall time {time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
