"""Which softmax-gate M-step for which problem size.

The gate's M-step is a multinomial logistic regression on the
responsibilities. Three ways to improve it are compared inside full EM fits of
``MixtureOfExpertsRegressor`` on planted mixtures of linear experts:

- ``newton``: Newton with backtracking, one step per M-step; the Hessian
  needs K(K+1)/2 weighted Gram products, estimated on a weighted sample of
  max(8192, 40 K (d+1)) rows once n exceeds four times that;
- ``bound``: Böhning's fixed Hessian bound, factorized once per fit; one step
  per M-step, whose gradient comes free with the E-step;
- ``lbfgs``: scipy's L-BFGS-B warm-started at the current gate, up to 10
  iterations per M-step.

For each (n, d, K) the table gives the whole fit's seconds, EM iterations,
seconds per iteration, the final mean log-likelihood and the test RMSE. The
``auto`` rule in mixexp/gates/_softmax.py (Newton while K * (d + 1) <= 64)
is read off this table.

Run:  python benchmarks/bench_gate_solvers.py [--n 20000]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

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
    (30, 16),
    (20, 32),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--max-iter", type=int, default=300)
    args = parser.parse_args()
    header = (
        f"{'d':>3} {'K':>3} {'K(d+1)':>7} {'solver':>7} {'fit s':>8} {'iters':>6} "
        f"{'ms/iter':>8} {'loglik':>9} {'test RMSE':>10}"
    )
    print(f"n = {args.n} train + {args.n // 4} test, noise 0.3, tol 1e-4, seed 0")
    print(header)
    print("-" * len(header))
    for d, K in SHAPES:
        X, y = make_mixture_regression(
            args.n + args.n // 4, d, K, noise=0.3, gate_scale=3.0, random_state=0
        )
        X_train, y_train, X_test, y_test = (
            X[: args.n],
            y[: args.n],
            X[args.n :],
            y[args.n :],
        )
        for solver in ("newton", "bound", "lbfgs"):
            model = MixtureOfExpertsRegressor(
                K,
                gate=SoftmaxGate(solver=solver),
                random_state=0,
                max_iter=args.max_iter,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                model.fit(X_train, y_train)
                seconds = time.perf_counter() - start
            rmse = np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2))
            flag = "" if model.converged_ else "*"
            print(
                f"{d:>3} {K:>3} {K * (d + 1):>7} {solver:>7} {seconds:>8.2f} "
                f"{model.n_iter_:>5}{flag:1} {1000 * seconds / model.n_iter_:>8.1f} "
                f"{model.lower_bound_:>9.4f} {rmse:>10.4f}"
            )
    print("* did not converge within --max-iter")


if __name__ == "__main__":
    main()
