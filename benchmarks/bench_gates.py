"""Softmax gate against the Gaussian gate, side by side.

Two kinds of planted regression data, each split into train and test rows
(the test rows are a quarter of the train size, from the same draw):

- ``softmax``: ``make_mixture_regression`` (x ~ N(0, I), the regime drawn
  from a softmax gate, noise 0.3): linear boundaries between the regimes,
  the softmax gate's own model;
- ``blobs``: each regime is a Gaussian blob in x (random centre, random
  rotated covariance with scales in [0.5, 1.5]) with its own linear y,
  noise 0.3: the Gaussian gate's own model (Xu, Jordan & Hinton 1995).

For each (data, n, d, K) every gate is fitted by EM from the same k-means
initialization (``random_state=0``, ``tol=1e-4``): the default
``SoftmaxGate`` and ``GaussianGate`` with each covariance type. The table
gives the EM iterations to converge (``*``: not within --max-iter), the
seconds of the whole fit (k-means initialization included), the
milliseconds per EM iteration alone (10 iterations warm-started from the
fit; both times best of --repeats), the test R² and the test mean
log-likelihood ``log_likelihood`` (log p(y | x), comparable across gates).
Note that ``tol`` applies to each model's own EM objective: the conditional
log-likelihood for the softmax gate, the joint log-likelihood of (x, y) for
the Gaussian gate.

Run:  python benchmarks/bench_gates.py [--max-iter 300] [--repeats 3]
      [--shapes 5000,2,3 20000,5,4 20000,10,8]
"""

import argparse
import time
import warnings

import numpy as np
from scipy.stats import ortho_group
from sklearn.exceptions import ConvergenceWarning

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_mixture_regression
from mixexp.gates import GaussianGate, SoftmaxGate

SHAPES = [(5000, 2, 3), (20_000, 5, 4), (20_000, 10, 8)]
ITERS = 10  # EM iterations timed for ms/iter
GATES = {
    "softmax": SoftmaxGate,
    "gauss full": lambda: GaussianGate(covariance_type="full"),
    "gauss diag": lambda: GaussianGate(covariance_type="diag"),
    "gauss sph": lambda: GaussianGate(covariance_type="spherical"),
}


def _best_time(fn, X, y, repeats):
    """Best wall time of ``repeats`` calls of ``fn(X, y)``."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn(X, y)
        best = min(best, time.perf_counter() - start)
    return best


def make_blob_regression(n_samples, n_features, n_experts, noise=0.3, seed=0):
    """Regimes that are Gaussian blobs in x, each with its own linear y."""
    rng = np.random.RandomState(seed)
    centres = 2.5 * rng.standard_normal((n_experts, n_features))
    scales = rng.uniform(0.5, 1.5, (n_experts, n_features))
    rotations = (
        ortho_group.rvs(n_features, size=n_experts, random_state=rng).reshape(
            n_experts, n_features, n_features
        )
        if n_features > 1
        else np.ones((n_experts, 1, 1))
    )
    coef = 2.0 * rng.standard_normal((n_experts, n_features))
    intercept = 2.0 * rng.standard_normal(n_experts)
    blob = rng.choice(
        n_experts, size=n_samples, p=rng.dirichlet(5 * np.ones(n_experts))
    )
    z = rng.standard_normal((n_samples, n_features)) * scales[blob]
    X = centres[blob] + np.einsum("nij,nj->ni", rotations[blob], z)
    y = np.einsum("nd,nd->n", X, coef[blob]) + intercept[blob]
    return X, y + noise * rng.standard_normal(n_samples)


def make_data(kind, n, d, K):
    total = n + n // 4
    if kind == "softmax":
        X, y = make_mixture_regression(total, d, K, noise=0.3, random_state=0)
    else:
        X, y = make_blob_regression(total, d, K)
    return X[:n], y[:n], X[n:], y[n:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="fits timed (best)")
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=[",".join(map(str, shape)) for shape in SHAPES],
        help="n,d,K triples",
    )
    args = parser.parse_args()
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes]
    header = (
        f"{'data':>7} {'n':>6} {'d':>3} {'K':>3} {'gate':>10} {'iters':>6} "
        f"{'fit s':>7} {'ms/iter':>8} {'test R2':>8} {'test loglik':>12}"
    )
    print(
        f"test = n / 4 rows, tol 1e-4, random_state 0, max_iter {args.max_iter}, "
        f"times best of {args.repeats}"
    )
    print(header)
    print("-" * len(header))
    for kind in ("softmax", "blobs"):
        for n, d, K in shapes:
            X_train, y_train, X_test, y_test = make_data(kind, n, d, K)
            for name, make_gate in GATES.items():
                model = MixtureOfExpertsRegressor(
                    K, gate=make_gate(), max_iter=args.max_iter, random_state=0
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    seconds = _best_time(model.fit, X_train, y_train, args.repeats)
                    test_r2 = model.score(X_test, y_test)
                    test_loglik = model.log_likelihood(X_test, y_test).mean()
                    n_iter, converged = model.n_iter_, model.converged_
                    # Iterations alone: warm-started from the fit, tol=0.
                    model.set_params(warm_start=True, max_iter=ITERS, tol=0.0)
                    per_iter = _best_time(model.fit, X_train, y_train, args.repeats)
                    per_iter /= ITERS
                flag = "" if converged else "*"
                print(
                    f"{kind:>7} {n:>6} {d:>3} {K:>3} {name:>10} "
                    f"{n_iter:>5}{flag:1} {seconds:>7.2f} {1000 * per_iter:>8.1f} "
                    f"{test_r2:>8.4f} {test_loglik:>12.4f}"
                )
    print("* did not converge within --max-iter")


if __name__ == "__main__":
    main()
