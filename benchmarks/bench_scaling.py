"""Seconds per EM iteration and peak memory from 10^4 to 10^7 rows.

Planted mixture of K = 8 linear experts with a softmax gate, d = 20 inputs,
float32 data (``--dtype float64`` to compare). Each size runs in a fresh
subprocess, which:

1. generates the data block by block straight into float32 arrays (so the
   data's own footprint is X and y, nothing more);
2. fits ``MixtureOfExpertsRegressor(8)`` for one EM iteration from k-means
   (``init s``), then times two warm-started fits (``tol=0``), of one and of
   ``1 + --iters`` EM iterations: their difference over ``--iters`` is the
   seconds per EM iteration, and the rest of the one-iteration fit is the
   fixed cost of a ``fit`` call (``call s``: validation and the pass that
   starts EM);
3. reads its peak resident memory (``VmHWM``; data included) right after the
   first fits, before anything else allocates;
4. times the reference in the same process on the same data, right after
   the fits: the K weighted Gram products ``X^T diag(h_k) X`` (on the
   fitted responsibilities) that any EM M-step for linear experts computes,
   in float64 (the arithmetic of mixexp's row chunks) and in float32 (the
   cheapest possible on float32 data), each the faster of numpy's default
   BLAS threads and one thread (one was faster at 10^4 rows on two cores),
   while the fits run with the default;
5. repeats 3 and 4 (5 times up to 10^5 rows, twice at 10^6, once at 10^7)
   and keeps the best time of each, so that the fits and the references
   are measured side by side under the same load.

It prints a table (s/iter, both references, the ratios, peak RSS, the
data's size) and the exponent b of a least-squares fit
``s/iter ~ a * n^b`` over the sizes of at least 10^5 rows (b = 1 is linear).
Targets (issue 7): ratio <= 3; n = 10^7 within 8 GB peak RSS; b close to 1.

Run:  python benchmarks/bench_scaling.py [--sizes 10000 ... 10000000] [--iters 5]
"""

import argparse
import json
import subprocess
import sys
import time
import warnings

import numpy as np

N_FEATURES, N_EXPERTS = 20, 8


def make_data(n, dtype, seed=0, block=1_000_000):
    """Planted mixture of linear experts, written block by block."""
    rng = np.random.RandomState(seed)
    gate = rng.standard_normal((N_FEATURES, N_EXPERTS)) * 2.0
    coef = rng.standard_normal((N_EXPERTS, N_FEATURES))
    intercept = rng.standard_normal(N_EXPERTS) * 3.0
    X = np.empty((n, N_FEATURES), dtype=dtype)
    y = np.empty(n, dtype=dtype)
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        Z = rng.standard_normal((rows.stop - start, N_FEATURES))
        logits = Z @ gate
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        pick = (prob.cumsum(axis=1) < rng.uniform(size=(len(Z), 1))).sum(axis=1)
        pick = np.minimum(pick, N_EXPERTS - 1)
        X[rows] = Z
        y[rows] = np.einsum("ij,ij->i", Z, coef[pick]) + intercept[pick]
        y[rows] += 0.3 * rng.standard_normal(len(Z))
    return X, y


def peak_rss_mb():
    """Peak resident set size of this process so far (Linux VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def gram_reference(X, resp, dtype, repeats, block=1_000_000):
    """Best time of the K weighted Gram products in ``dtype`` (X converted
    block by block, untimed)."""
    best = 0.0
    for start in range(0, X.shape[0], block):
        Z = X[start : start + block].astype(dtype)
        h = resp[start : start + block].astype(dtype)
        times = []
        for _ in range(repeats):
            begin = time.perf_counter()
            for k in range(h.shape[1]):
                (Z * h[:, k, None]).T @ Z
            times.append(time.perf_counter() - begin)
        best += min(times)
    return best


def child(n, iters, dtype):
    """One size, in its own process; prints a JSON line."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    from mixexp import MixtureOfExpertsRegressor

    X, y = make_data(n, np.dtype(dtype))
    repeats = max(1, min(5, 2_000_000 // n))  # best of: noise matters at small n
    data_mb = (X.nbytes + y.nbytes) / 2**20
    model = MixtureOfExpertsRegressor(N_EXPERTS, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        init_s = time.perf_counter() - start
        seconds = {1: np.inf, 1 + iters: np.inf}
        reference = {np.float64: np.inf, np.float32: np.inf}
        for repeat in range(repeats):  # fits and references side by side
            for n_iter in seconds:
                model.set_params(warm_start=True, max_iter=n_iter, tol=0.0)
                start = time.perf_counter()
                model.fit(X, y)
                seconds[n_iter] = min(seconds[n_iter], time.perf_counter() - start)
            if repeat == 0:
                peak = peak_rss_mb()
                resp = model.responsibilities(X, y).astype(np.float32)
            for dtype in reference:
                for threads in (None, 1):  # numpy's default, and one thread
                    with threadpool_limits(limits=threads, user_api="blas"):
                        elapsed = gram_reference(X, resp, dtype, repeats=1)
                    reference[dtype] = min(reference[dtype], elapsed)
        per_iter = (seconds[1 + iters] - seconds[1]) / iters
        call_s = seconds[1] - per_iter
    reference64, reference32 = reference[np.float64], reference[np.float32]
    print(
        json.dumps(
            {
                "n": n,
                "per_iter": per_iter,
                "init_s": init_s,
                "call_s": call_s,
                "ref64": reference64,
                "ref32": reference32,
                "peak_mb": peak,
                "data_mb": data_mb,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000, 10_000_000],
    )
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.iters, args.dtype)
        return

    print(
        f"d = {N_FEATURES}, K = {N_EXPERTS}, {args.dtype}; s/iter from warm fits "
        f"of 1 and {1 + args.iters} EM iterations after one from k-means; one "
        "process per size"
    )
    header = (
        f"{'n':>9} {'s/iter':>9} {'init s':>8} {'call s':>7} {'gram64 s':>9} "
        f"{'ratio64':>8} "
        f"{'gram32 s':>9} {'ratio32':>8} {'peak RSS MB':>12} {'data MB':>8}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for n in args.sizes:
        command = [sys.executable, __file__, "--child", str(n)]
        command += ["--iters", str(args.iters), "--dtype", args.dtype]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{n:>9} {row['per_iter']:>9.4f} {row['init_s']:>8.2f} "
            f"{row['call_s']:>7.2f} "
            f"{row['ref64']:>9.4f} {row['per_iter'] / row['ref64']:>8.2f} "
            f"{row['ref32']:>9.4f} {row['per_iter'] / row['ref32']:>8.2f} "
            f"{row['peak_mb']:>12.0f} {row['data_mb']:>8.0f}",
            flush=True,
        )
    large = [row for row in rows if row["n"] >= 100_000]
    if len(large) >= 2:
        slope = np.polyfit(
            np.log([r["n"] for r in large]), np.log([r["per_iter"] for r in large]), 1
        )[0]
        print(f"fitted exponent of s/iter in n (n >= 1e5): {slope:.3f}")


if __name__ == "__main__":
    main()
