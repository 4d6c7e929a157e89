"""Seconds per EM iteration on dask arrays against the same fit in memory.

The data of ``bench_scaling.py`` (planted mixture, K = 8 linear experts, a
softmax gate, d = 20, float32), fitted three ways side by side in one run:

- ``memory``: numpy arrays;
- ``dask local``: a dask array in ``--blocks`` row blocks, no distributed
  client (the parts live in this process and run one after another);
- ``dask cluster``: the same dask array on a ``LocalCluster`` of 2 workers
  with one thread each (``processes=False``): the parts live on the workers
  and every pass runs there, two parts at a time.

Each fit runs one EM iteration from k-means (``init s``), then ``--iters``
more with ``warm_start`` and ``tol=0``, which are timed (``s/iter``). BLAS
runs one thread everywhere, so the cluster's two workers are the only
parallelism. ``ratio`` is s/iter over the in-memory s/iter (below 1:
faster; each pass costs the cluster tens of milliseconds of task overhead, so
it pays off from about a million rows). ``|dLB|`` is the absolute difference
of the final mean log-likelihood bound from the in-memory fit's: on dask the
Hessian sample (above 32,768 rows) and the k-means sample (above 80,000 rows,
so the start differs too) are drawn block by block, so the iterates differ
there; below, the fits agree to rounding.

Run:  python benchmarks/bench_dask.py [--sizes 100000 1000000] [--iters 3]
"""

import argparse
import time
import warnings

import dask
import dask.array as da
import numpy as np
from bench_scaling import N_EXPERTS, make_data
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from mixexp import MixtureOfExpertsRegressor


def timed_fit(X, y, iters):
    """(init seconds, seconds per iteration, final lower bound)."""
    model = MixtureOfExpertsRegressor(
        N_EXPERTS, max_iter=1, tol=0.0, random_state=0, warm_start=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # da.from_array puts the benchmark's numpy data into the graph once
        warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
        start = time.perf_counter()
        model.fit(X, y)
        init = time.perf_counter() - start
        model.set_params(max_iter=iters)
        start = time.perf_counter()
        model.fit(X, y)
        per_iter = (time.perf_counter() - start) / iters
    return init, per_iter, model.lower_bound_


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[20_000, 100_000, 1_000_000]
    )
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=8, help="row blocks")
    args = parser.parse_args()
    print(
        f"d = 20, K = {N_EXPERTS}, float32, {args.blocks} row blocks, "
        f"{args.iters} EM iterations timed after one from k-means, 1 BLAS thread"
    )
    header = (
        f"{'n':>9} {'mode':>13} {'init s':>8} {'s/iter':>8} {'ratio':>6} {'|dLB|':>9}"
    )
    print(header)
    print("-" * len(header))
    with (
        threadpool_limits(limits=1),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
    ):
        for n in args.sizes:
            X, y = make_data(n, np.float32)
            chunks = -(-n // args.blocks)
            Xd, yd = da.from_array(X, chunks=chunks), da.from_array(y, chunks=chunks)
            results = {"memory": timed_fit(X, y, args.iters)}
            with dask.config.set(scheduler="synchronous"):
                results["dask local"] = timed_fit(Xd, yd, args.iters)
            with Client(cluster):
                results["dask cluster"] = timed_fit(Xd, yd, args.iters)
            _, base, bound = results["memory"]
            for mode, (init, per_iter, lower) in results.items():
                print(
                    f"{n:>9} {mode:>13} {init:>8.2f} {per_iter:>8.3f} "
                    f"{per_iter / base:>6.2f} {abs(lower - bound):>9.2e}"
                )


if __name__ == "__main__":
    main()
