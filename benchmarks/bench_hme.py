"""Hierarchical mixtures of experts against depth, and against flat mixtures.

Fixed data: the forward dynamics of a four-joint arm
(``make_robot_arm_dynamics``, ``joint_range=1.7``, 12 inputs, 4 outputs),
standardized, ``--n`` training rows and ``--n // 3`` test rows. For depth 1
to ``--max-depth`` a binary HME (``2 ** depth`` experts) and a flat mixture
with the same number of experts are fitted by EM from their k-means starts
(``random_state=0``, ``tol=1e-4``), one after the other in the same run.
Columns: EM iterations to converge (``*``: not within --max-iter), seconds
of the whole fit (initialization included), milliseconds per EM iteration
(5 iterations warm-started from the fit), and the test relative error
(MSE over the target variance, averaged over the outputs).

Run:  python benchmarks/bench_hme.py [--n 15000] [--max-depth 5]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor
from mixexp.datasets import make_robot_arm_dynamics


def _per_iteration(model, X, y, iterations=5):
    """Seconds per EM iteration, warm-started from the fitted model."""
    model.set_params(warm_start=True, max_iter=iterations, tol=0.0)
    start = time.perf_counter()
    model.fit(X, y)
    return (time.perf_counter() - start) / iterations


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=15_000)
    parser.add_argument("--max-depth", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=500)
    args = parser.parse_args()
    n_test = args.n // 3
    X, y = make_robot_arm_dynamics(args.n + n_test, joint_range=1.7, random_state=0)
    X = StandardScaler().fit(X[: args.n]).transform(X)
    y = StandardScaler().fit(y[: args.n]).transform(y)
    X_train, X_test = X[: args.n], X[args.n :]
    y_train, y_test = y[: args.n], y[args.n :]

    print(f"robot arm, n = {args.n} train + {n_test} test, d = 12, 4 outputs")
    header = (
        f"{'depth':>5} {'K':>4} {'model':>5} {'iters':>6} {'fit s':>8} "
        f"{'ms/iter':>8} {'rel err':>8}"
    )
    print(header)
    print("-" * len(header))
    for depth in range(1, args.max_depth + 1):
        n_experts = 2**depth
        for name, model in (
            (
                "HME",
                HierarchicalMixtureOfExpertsRegressor(
                    depth, 2, max_iter=args.max_iter, random_state=0
                ),
            ),
            (
                "flat",
                MixtureOfExpertsRegressor(
                    n_experts, max_iter=args.max_iter, random_state=0
                ),
            ),
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                model.fit(X_train, y_train)
                seconds = time.perf_counter() - start
                pred = model.predict(X_test)
                error = np.mean(np.mean((pred - y_test) ** 2, axis=0) / y_test.var(0))
                iters = f"{model.n_iter_}{'' if model.converged_ else '*'}"
                iteration = _per_iteration(model, X_train, y_train)
            print(
                f"{depth:>5} {n_experts:>4} {name:>5} {iters:>6} {seconds:>8.2f} "
                f"{1000 * iteration:>8.1f} {error:>8.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
