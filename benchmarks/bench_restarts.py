"""Seconds per fit of a mixture's ``n_init`` restarts on one worker, in
threads and in worker processes.

Planted regression (``make_mixture_regression``, d = 5, 4 regimes, noise
0.3), ``MixtureOfExpertsRegressor(8, n_init=4, max_iter=100)``; and the
two-class version of the same rows (y above its median) for
``MixtureOfExpertsClassifier(8, n_init=4, max_iter=100)``. Each fit runs:

- ``sequential``: ``n_jobs=None``, the restarts one after the other;
- ``threads``: ``n_jobs=2`` under ``joblib.parallel_config(backend="threading")``;
- ``processes``: ``n_jobs=2`` under ``backend="loky"`` (worker processes,
  which joblib limits to one BLAS thread each);
- ``default``: ``n_jobs=2`` with the estimator's own preference.

The four are timed in interleaved rounds (a warm-up round first, which also
starts the process workers), and each keeps its median over the rounds;
``x seq`` is a time over the sequential one in the same run. All four give
the same model (``tests/test_em.py``).

Run:  python benchmarks/bench_restarts.py [--sizes 300 5000 100000 300000]
      [--rounds 3]
"""

import argparse
import time
import warnings

import joblib
import numpy as np

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import make_mixture_regression

WAYS = {
    "sequential": (None, None),
    "threads": (2, "threading"),
    "processes": (2, "loky"),
    "default": (2, None),
}


def fit_seconds(make, X, y, n_jobs, backend):
    config = {} if backend is None else {"backend": backend}
    with joblib.parallel_config(**config), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        make(n_jobs).fit(X, y)
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[300, 5000, 100_000, 300_000]
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    models = {
        "regressor": lambda n_jobs: MixtureOfExpertsRegressor(
            8, n_init=4, max_iter=100, n_jobs=n_jobs, random_state=0
        ),
        "classifier": lambda n_jobs: MixtureOfExpertsClassifier(
            8, n_init=4, max_iter=100, n_jobs=n_jobs, random_state=0
        ),
    }
    header = f"{'model':>10} {'rows':>7} |" + "".join(
        f" {way:>10} {'x seq':>5} |" for way in WAYS
    )
    print("Seconds per fit, n_init=4, 2 workers (median of rounds)")
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        X, y = make_mixture_regression(n, 5, 4, noise=0.3, random_state=0)
        for name, make in models.items():
            target = y if name == "regressor" else y > np.median(y)
            times = {way: [] for way in WAYS}
            for round_ in range(args.rounds + 1):
                for way, (n_jobs, backend) in WAYS.items():
                    seconds = fit_seconds(make, X, target, n_jobs, backend)
                    if round_ > 0:  # the first round warms up the workers
                        times[way].append(seconds)
            median = {way: float(np.median(t)) for way, t in times.items()}
            line = f"{name:>10} {n:>7} |"
            for way in WAYS:
                ratio = median[way] / median["sequential"]
                line += f" {median[way]:>10.3f} {ratio:>5.2f} |"
            print(line, flush=True)


if __name__ == "__main__":
    main()
