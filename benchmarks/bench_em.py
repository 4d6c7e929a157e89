"""Seconds per EM iteration against the cost every M-step must pay.

For n in {10k, 100k, 1M}, d = 10, K = 8 (planted mixture of linear experts,
regression) this prints the seconds per EM iteration of
``MixtureOfExpertsRegressor`` and, measured in the same run on the same data,
the reference: the K weighted Gram products ``X.T @ diag(h_k) @ X`` (numpy,
one product per expert) that any EM M-step for linear experts computes. The
ratio is the number to watch; the target at n = 100k is <= 3.

It also prints the peak memory that numpy allocates during a whole fit
(initialization included) at each n, in multiples of ``X.nbytes`` (target at
n = 1M: <= 3).

Run:  python benchmarks/bench_em.py [--sizes 10000 100000 1000000] [--iters 10]
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_mixture_regression

N_FEATURES, N_EXPERTS = 10, 8


def gram_reference(X, resp, repeats):
    """Best time of the K weighted Gram products X^T diag(h_k) X."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for k in range(resp.shape[1]):
            (X * resp[:, k, None]).T @ X
        best = min(best, time.perf_counter() - start)
    return best


def seconds_per_iteration(X, y, n_iter, repeats, n_experts=N_EXPERTS):
    """Best time per EM iteration, initialization excluded (warm start)."""
    model = MixtureOfExpertsRegressor(n_experts, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        model.set_params(warm_start=True, max_iter=n_iter, tol=0.0)
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            model.fit(X, y)
            best = min(best, (time.perf_counter() - start) / model.n_iter_)
    return best, model


def peak_memory(X, y, n_iter):
    """Peak bytes allocated (tracemalloc sees numpy) during one whole fit."""
    model = MixtureOfExpertsRegressor(N_EXPERTS, max_iter=n_iter, random_state=0)
    tracemalloc.start()
    tracemalloc.reset_peak()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    header = (
        f"{'n':>9} {'s/iter':>9} {'gram ref s':>11} {'ratio':>7} "
        f"{'peak MB':>9} {'X MB':>7} {'peak/X':>7}"
    )
    print(
        f"d = {N_FEATURES}, K = {N_EXPERTS}, {args.iters} EM iterations timed, "
        f"best of {args.repeats}"
    )
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        X, y = make_mixture_regression(n, N_FEATURES, N_EXPERTS, random_state=0)
        per_iter, model = seconds_per_iteration(X, y, args.iters, args.repeats)
        resp = model.responsibilities(X, y)
        reference = gram_reference(X, resp, args.repeats)
        del resp
        peak = peak_memory(X, y, args.iters)
        print(
            f"{n:>9} {per_iter:>9.4f} {reference:>11.4f} {per_iter / reference:>7.2f} "
            f"{peak / 2**20:>9.1f} {X.nbytes / 2**20:>7.1f} {peak / X.nbytes:>7.2f}"
        )


if __name__ == "__main__":
    main()
