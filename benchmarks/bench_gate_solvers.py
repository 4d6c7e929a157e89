"""Which softmax-gate M-step for which problem size.

The gate's M-step is a multinomial logistic regression on the
responsibilities. Three ways to improve it are compared inside full EM fits of
``MixtureOfExpertsRegressor`` on planted mixtures of linear experts:

- ``newton``: Newton with backtracking, one step per M-step; the Hessian
  needs K(K-1)/2 weighted Gram products (in the first K - 1 experts'
  parameters relative to the last's), estimated on a weighted row sample
  once n is twice its size (``curvature_rows`` in mixexp/_multinomial.py:
  at least max(2048, 20 K (d+1)) rows, growing as n / 4 up to
  max(8192, 40 K (d+1)));
- ``bound``: Böhning's fixed Hessian bound, factorized once per fit; one step
  per M-step, whose gradient comes free with the E-step;
- ``lbfgs``: scipy's L-BFGS-B warm-started at the current gate, up to 10
  iterations per M-step.

For each (n, d, K) the table gives the whole fit's seconds, EM iterations,
seconds per iteration, the final mean log-likelihood and the test RMSE. The
``auto`` rule in mixexp/_component.py (Newton while (K - 1)(d + 1) <= 450,
the size of its Hessian) is read off this table.

A second table compares Newton's Hessian on that row sample with the exact
Hessian on all rows, over three seeds at tol 1e-7: the sample's size is read
off it. A third (``--tables threshold``, 15 minutes, not run by default)
repeats Newton against L-BFGS on three data seeds for the shapes around
the threshold, where one seed is not enough to tell them apart.

Run:  python benchmarks/bench_gate_solvers.py [--n 20000]
      [--tables solvers hessian threshold]
"""

import argparse
import contextlib
import time
import warnings
from unittest import mock

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import mixexp._component
from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_mixture_regression
from mixexp.gates import SoftmaxGate

SHAPES = [
    (1, 3),
    (2, 4),
    (5, 4),
    (10, 4),
    (5, 8),
    (10, 8),
    (20, 8),
    (10, 16),
    (20, 16),
    (60, 8),
    (30, 16),
    (20, 24),
    (20, 32),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument(
        "--tables",
        nargs="+",
        choices=["solvers", "hessian", "threshold"],
        default=None,
    )
    args = parser.parse_args()
    tables = args.tables or ["solvers", "hessian"]
    if "solvers" in tables:
        solver_table(args)
    if "hessian" in tables:
        print()
        hessian_table(args)
    if "threshold" in tables:
        print()
        threshold_table(args)


def _fit(X, y, K, solver, max_iter):
    """A fit with the given gate solver: (model, seconds)."""
    model = MixtureOfExpertsRegressor(
        K, gate=SoftmaxGate(solver=solver), random_state=0, max_iter=max_iter
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
    return model, time.perf_counter() - start


def _planted(n, d, K, seed):
    """n training and n / 4 test rows of a planted mixture."""
    X, y = make_mixture_regression(
        n + n // 4, d, K, noise=0.3, gate_scale=3.0, random_state=seed
    )
    return X[:n], y[:n], X[n:], y[n:]


def solver_table(args):
    """Whole fits with each gate solver, for every (d, K) of SHAPES."""
    header = (
        f"{'d':>3} {'K':>3} {'(K-1)(d+1)':>10} {'solver':>7} {'fit s':>8} {'iters':>6} "
        f"{'ms/iter':>8} {'loglik':>9} {'test RMSE':>10}"
    )
    print(f"n = {args.n} train + {args.n // 4} test, noise 0.3, tol 1e-4, seed 0")
    print(header)
    print("-" * len(header))
    for d, K in SHAPES:
        X_train, y_train, X_test, y_test = _planted(args.n, d, K, 0)
        for solver in ("newton", "bound", "lbfgs"):
            model, seconds = _fit(X_train, y_train, K, solver, args.max_iter)
            rmse = np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2))
            flag = "" if model.converged_ else "*"
            print(
                f"{d:>3} {K:>3} {(K - 1) * (d + 1):>10} {solver:>7} {seconds:>8.2f} "
                f"{model.n_iter_:>5}{flag:1} {1000 * seconds / model.n_iter_:>8.1f} "
                f"{model.lower_bound_:>9.4f} {rmse:>10.4f}"
            )
    print("* did not converge within --max-iter")


def threshold_table(args):
    """Newton against L-BFGS on three data seeds around ``auto``'s threshold."""
    print(f"Newton vs L-BFGS around the threshold (n = {args.n}, data seeds 0-2)")
    header = (
        f"{'d':>3} {'K':>3} {'(K-1)(d+1)':>10} {'seed':>4} | {'newton s':>8} "
        f"{'iters':>5} {'loglik':>8} | {'lbfgs s':>8} {'iters':>5} {'loglik':>8}"
    )
    print(header)
    print("-" * len(header))
    for d, K in [(60, 8), (30, 16), (20, 24), (25, 24), (20, 32), (30, 24)]:
        for seed in range(3):
            X_train, y_train, _, _ = _planted(args.n, d, K, seed)
            line = f"{d:>3} {K:>3} {(K - 1) * (d + 1):>10} {seed:>4} |"
            for solver in ("newton", "lbfgs"):
                model, seconds = _fit(X_train, y_train, K, solver, args.max_iter)
                flag = "" if model.converged_ else "*"
                line += (
                    f" {seconds:>8.2f} {model.n_iter_:>4}{flag:1} "
                    f"{model.lower_bound_:>8.4f} |"
                )
            print(line.rstrip(" |"), flush=True)


def hessian_table(args):
    """Whole fits with the sampled and with the exact Newton Hessian."""
    header = (
        f"{'d':>3} {'K':>3} {'n':>7} {'Hessian rows':>12} {'fit s':>7} "
        f"{'iters':>12} {'loglik':>10}"
    )
    print("Newton's Hessian: row sample vs all rows (3 seeds, tol 1e-7)")
    print(header)
    print("-" * len(header))
    exact = mock.patch.object(mixexp._component, "curvature_rows", lambda *a: None)
    for d, K in [(5, 4), (20, 8)]:
        for n in (5_000, 10_000, 20_000, 100_000):
            X, y = make_mixture_regression(
                n, d, K, noise=0.3, gate_scale=3.0, random_state=0
            )
            size = mixexp._component.curvature_rows(K * (d + 1), n)
            for label, patch in ((f"{size or 'all'}", None), ("all", exact)):
                if patch is not None and size is None:
                    continue  # the rule already uses every row
                seconds, iters, loglik = 0.0, [], []
                with patch or contextlib.nullcontext():
                    for seed in range(3):
                        model = MixtureOfExpertsRegressor(
                            K, random_state=seed, tol=1e-7, max_iter=args.max_iter
                        )
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", ConvergenceWarning)
                            start = time.perf_counter()
                            model.fit(X, y)
                            seconds += time.perf_counter() - start
                        iters.append(model.n_iter_)
                        loglik.append(model.lower_bound_)
                print(
                    f"{d:>3} {K:>3} {n:>7} {label:>12} {seconds:>7.2f} "
                    f"{str(iters):>12} {max(loglik):>10.6f}"
                )


if __name__ == "__main__":
    main()
