"""Sparse top-k prediction: time to predict with K = 64 experts, k = 2.

A top-k model evaluates only each sample's k experts (gather their
parameters, one small product per (sample, expert) pair). The table compares,
on the same test inputs and in one run:

- ``sparse``: the top-k model's ``predict`` / ``predict_proba``;
- ``masked dense``: the same model computed by evaluating all K experts and
  weighting them with the (masked) top-k gate, what prediction would cost
  without routing;
- ``dense model``: a dense-gate model (``top_k=None``) of the same size.

Both top-k columns give the same numbers (checked below). The gate's logits
are always computed for all K experts: routing needs them.

Run:  python benchmarks/bench_routing.py [--n-test 200000]
"""

import argparse
import time
import warnings

import numpy as np

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import make_mixture_regression


def _best_of(fn, *args, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), out


def _masked_dense(est, X):
    """All K experts evaluated, weighted by the (masked) top-k gate."""
    gate = est.predict_gate_proba(X)
    return np.einsum("nk,nk...->n...", gate, est.predict_experts(X))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--n-test", type=int, default=200000)
    parser.add_argument("--n-features", type=int, default=10)
    parser.add_argument("--n-experts", type=int, default=64)
    parser.add_argument("--top-k", type=int, default=2)
    args = parser.parse_args()
    d, K, k = args.n_features, args.n_experts, args.top_k
    print(
        f"n_test={args.n_test}, d={d}, K={K}, k={k}; seconds are the best of 3 "
        "calls (fits: 5 EM iterations, enough to time prediction)"
    )
    rows = []
    for name, n_outputs, classes in [
        ("regressor, 1 output", 1, None),
        ("regressor, 8 outputs", 8, None),
        ("classifier, 5 classes", 1, 5),
    ]:
        X, y = make_mixture_regression(
            args.n_train + args.n_test,
            n_features=d,
            n_experts=8,
            n_outputs=n_outputs,
            random_state=0,
        )
        if classes is not None:  # classes from quantiles of the planted target
            y = np.digitize(
                y.ravel(), np.quantile(y, np.linspace(0, 1, classes + 1)[1:-1])
            )
            make = MixtureOfExpertsClassifier
        else:
            y = y.ravel() if n_outputs == 1 else y
            make = MixtureOfExpertsRegressor
        X_train, y_train, X_test = (
            X[: args.n_train],
            y[: args.n_train],
            X[args.n_train :],
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sparse = make(K, top_k=k, max_iter=5, random_state=0).fit(X_train, y_train)
            dense = make(K, max_iter=5, random_state=0).fit(X_train, y_train)
        method = "predict_proba" if classes is not None else "predict"
        t_sparse, out_sparse = _best_of(getattr(sparse, method), X_test)
        t_masked, out_masked = _best_of(_masked_dense, sparse, X_test)
        t_dense, _ = _best_of(getattr(dense, method), X_test)
        np.testing.assert_allclose(out_sparse, out_masked, rtol=1e-9, atol=1e-12)
        rows.append((name, t_sparse, t_masked, t_dense))
    header = (
        f"{'model':<24}{'sparse s':>10}{'masked dense s':>16}{'dense model s':>15}"
        f"{'masked/sparse':>15}{'dense/sparse':>14}"
    )
    print(header)
    print("-" * len(header))
    for name, t_sparse, t_masked, t_dense in rows:
        print(
            f"{name:<24}{t_sparse:>10.3f}{t_masked:>16.3f}{t_dense:>15.3f}"
            f"{t_masked / t_sparse:>15.2f}{t_dense / t_sparse:>14.2f}"
        )


if __name__ == "__main__":
    main()
