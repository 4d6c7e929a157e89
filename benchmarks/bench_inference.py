"""Coverage of the Wald intervals of mixexp.inference, and the bootstrap
likelihood-ratio test's size and power.

Planted two-expert problem: x ~ U(-2, 2); the gate's log-odds of expert 1
against expert 0 are 0.5 + 2 x; expert 0 is y = 1 + 2 x + N(0, 0.5^2) and
expert 1 is y = -1 + 0.5 x + N(0, 0.5^2). Each replicate draws new data,
fits K = 2 (softmax gate, linear experts; k-means start, three restarts,
tol 1e-8), matches the fitted experts to the planted ones (the assignment
on the slopes) and records whether each 95% interval of ``coef_table``
covers the planted value: observed information at n = 500 and n = 5,000,
and the bootstrap (warm-started nonparametric, --n-boot refits) at
n = 500. The table gives each coefficient's coverage (nominal 0.95; with
R replicates its binomial standard error is about sqrt(0.05 * 0.95 / R):
0.010 at 500, a quarter of the 93-97% band, so the observed columns take
2,000 replicates, 0.005),
and the ratio of the median standard error to the spread of the estimates
over the replicates (their interquartile range / 1.349, the standard
deviation of a normal; a robust ratio, 1 when the SEs are calibrated).

The LRT part: ``bootstrap_lrt`` of K = 1 against K = 2 at level 0.05 on
n = 200 rows, --lrt-reps data sets each with --lrt-boot bootstrap
replicates: under K = 1 (y = 1 + x + N(0, 0.5^2); the rejection rate is
the size) and under the planted K = 2 (the power).

Run:  python benchmarks/bench_inference.py [--reps 2000] [--boot-reps 100]
      [--n-boot 100] [--lrt-reps 100] [--lrt-boot 39]
"""

import argparse
import copy
import time
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import expit

from mixexp import MixtureOfExpertsRegressor
from mixexp.inference import bootstrap_lrt, coef_table

TRUTH = {  # (part, expert, term) -> planted value, in coef_table's terms
    ("expert", 0, "intercept"): 1.0,
    ("expert", 0, "x0"): 2.0,
    ("expert", 0, "variance"): 0.25,
    ("expert", 1, "intercept"): -1.0,
    ("expert", 1, "x0"): 0.5,
    ("expert", 1, "variance"): 0.25,
    ("gate", 1, "intercept"): 0.5,
    ("gate", 1, "x0"): 2.0,
}
SLOPES = np.array([2.0, 0.5])


def planted(n, rng):
    X = rng.uniform(-2, 2, size=(n, 1))
    second = rng.uniform(size=n) < expit(0.5 + 2.0 * X[:, 0])
    y = np.where(second, -1.0 + 0.5 * X[:, 0], 1.0 + 2.0 * X[:, 0])
    return X, y + 0.5 * rng.randn(n)


def fit(X, y, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixtureOfExpertsRegressor(
            2, n_init=3, tol=1e-8, max_iter=2000, random_state=seed
        ).fit(X, y)
    if model.n_experts_ != 2:
        return None
    # Planted expert k is fitted expert order[k].
    cost = np.abs(model.experts_.coef_[:, 0][None, :] - SLOPES[:, None])
    order = linear_sum_assignment(cost)[1]
    model = copy.deepcopy(model)
    model.gate_._keep(order)
    model.experts_._keep(order)
    return model


def replicate(n, seed, method, n_boot):
    """Per parameter of TRUTH: (estimate, std_error, covered)."""
    rng = np.random.RandomState(seed)
    X, y = planted(n, rng)
    model = fit(X, y, seed)
    if model is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = coef_table(model, X, y, method=method, n_boot=n_boot, random_state=seed)
    out = {}
    for i in range(len(table["estimate"])):
        key = (table["part"][i], int(table["expert"][i]), table["term"][i])
        truth = TRUTH[key]
        out[key] = (
            table["estimate"][i],
            table["std_error"][i],
            table["ci_low"][i] <= truth <= table["ci_high"][i],
        )
    return out


def coverage(n, reps, method, n_boot, seed0):
    start = time.perf_counter()
    runs = [replicate(n, seed0 + r, method, n_boot) for r in range(reps)]
    kept = [run for run in runs if run is not None]
    result = {}
    for key in TRUTH:
        estimates = np.array([run[key][0] for run in kept])
        ses = np.array([run[key][1] for run in kept])
        covered = np.array([run[key][2] for run in kept])
        # Robust spreads: at n = 500 a few near-separated gates give
        # estimates (and SEs) orders of magnitude off, which swamp a mean or
        # a standard deviation.
        low, high = np.percentile(estimates, [25, 75])
        result[key] = (covered.mean(), np.nanmedian(ses) / ((high - low) / 1.349))
    return result, len(kept), time.perf_counter() - start


def lrt_rate(planted_k, reps, n_boot, seed0, n=200):
    rejections = 0
    start = time.perf_counter()
    for r in range(reps):
        rng = np.random.RandomState(seed0 + r)
        if planted_k == 1:
            X = rng.uniform(-2, 2, size=(n, 1))
            y = 1.0 + X[:, 0] + 0.5 * rng.randn(n)
        else:
            X, y = planted(n, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test = bootstrap_lrt(
                MixtureOfExpertsRegressor(n_init=3, random_state=r),
                X,
                y,
                n_boot=n_boot,
                random_state=r,
            )
        rejections += test.p_value <= 0.05
    return rejections / reps, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--boot-reps", type=int, default=100)
    parser.add_argument("--n-boot", type=int, default=100)
    parser.add_argument("--lrt-reps", type=int, default=100)
    parser.add_argument("--lrt-boot", type=int, default=39)
    args = parser.parse_args()

    columns = [
        ("observed, n=500", 500, args.reps, "observed"),
        ("observed, n=5000", 5000, args.reps, "observed"),
        (f"bootstrap({args.n_boot}), n=500", 500, args.boot_reps, "bootstrap"),
    ]
    results = []
    for label, n, reps, method in columns:
        result, kept, seconds = coverage(n, reps, method, args.n_boot, 1000)
        results.append(result)
        print(f"{label}: {kept} of {reps} replicates kept 2 experts, {seconds:.0f} s")
    print()
    head = "| parameter | " + " | ".join(
        f"{label} cover / SE:spread" for label, *_ in columns
    )
    print(head + " |")
    print("|---" * (len(columns) + 1) + "|")
    for key in TRUTH:
        name = f"{key[0]} {key[1]} {key[2]}"
        cells = [f"{r[key][0]:.3f} / {r[key][1]:.2f}" for r in results]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    size, t0 = lrt_rate(1, args.lrt_reps, args.lrt_boot, 5000)
    power, t1 = lrt_rate(2, args.lrt_reps, args.lrt_boot, 6000)
    print(
        f"bootstrap LRT, K=1 vs K=2, n=200, {args.lrt_reps} data sets x "
        f"{args.lrt_boot} replicates, level 0.05"
    )
    print("| planted K | rejection rate | seconds |")
    print("|---|---|---|")
    print(f"| 1 (size) | {size:.3f} | {t0:.0f} |")
    print(f"| 2 (power) | {power:.3f} | {t1:.0f} |")


if __name__ == "__main__":
    main()
