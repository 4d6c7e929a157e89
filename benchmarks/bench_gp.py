"""Mixtures of Gaussian-process experts against one GaussianProcessRegressor.

Two tables.

1. **Motorcycle** (``mcycle``, 133 rows, heteroscedastic: a flat, nearly
   noiseless start, a sharp dip, a noisy tail), repeated 5-fold
   cross-validation (``--repeats`` shuffles): the mean held-out log density
   per point (``log_likelihood`` for the mixtures, the Gaussian predictive
   with ``return_std`` for the GP) and RMSE, each ± its standard error over
   the folds. One GP: ``GaussianProcessRegressor(ConstantKernel * RBF +
   WhiteKernel, normalize_y=True, n_restarts_optimizer=2)``, one noise level
   for all of it. Mixtures: ``GaussianProcessExpert()`` at its defaults with
   K = 2, 3, 4 and a softmax gate, and linear experts (the default expert)
   with K = 3, 4.

2. **Scaling** on the UCI power plant (9,568 rows, 4 inputs): a fixed
   test set of 1,000 rows, training sets of the first n of the other rows
   (one permutation, seed 0). One GP as above (``n_restarts_optimizer=0``)
   against a mixture of K = n / 500 GP experts of at most 500 rows each
   (``max_rows_per_expert=500``, ``max_iter=30``). Fit time is CPU seconds
   (``time.process_time``, one BLAS thread: the machine is shared, so wall
   time is not a measure), test RMSE in MW. The GP's fit is cubic in n, so
   it runs only where its time, predicted from the largest size it ran
   at as ``t * (n / n_prev)^3``, is within ``--budget`` seconds; beyond,
   the row says "out of budget" with the prediction. The data set has
   9,568 rows, so the largest training set is 8,568. Published on this set
   (20 splits of 8,611 rows, README): MC dropout RMSE 4.02, PBP 4.12.

3. **Scaling to 20,000 rows** on simulated data, the forward dynamics of
   Jordan & Jacobs' (1994) four-joint robot arm
   (``mixexp.datasets.make_robot_arm_dynamics``, 12 inputs, noise-free;
   the target is the first joint's torque), as table 2, at sizes up to
   20,000 (``--robot-sizes``; none of the UCI sets in ``shared/data`` has
   that many rows).

Run:  python benchmarks/bench_gp.py [--repeats 2] [--budget 300]
      [--sizes 1000 ...] [--robot-sizes 1000 ...] [--skip-mcycle]
      [--skip-power-plant]
"""

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor  # noqa: E402
from sklearn.gaussian_process.kernels import (  # noqa: E402
    RBF,
    ConstantKernel,
    WhiteKernel,
)
from sklearn.model_selection import KFold  # noqa: E402

from mixexp import MixtureOfExpertsRegressor  # noqa: E402
from mixexp.datasets import make_robot_arm_dynamics  # noqa: E402
from mixexp.experts import GaussianProcessExpert  # noqa: E402

DATA = Path(os.environ.get("MIXEXP_DATA", "/work/shared/data"))


def one_gp(n_features, restarts):
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(
        np.ones(n_features), (1e-2, 1e3)
    ) + WhiteKernel(0.1, (1e-6, 10.0))
    return GaussianProcessRegressor(
        kernel, normalize_y=True, n_restarts_optimizer=restarts, random_state=0
    )


def held_out(model, X, y):
    """Mean log density per point and RMSE on held-out rows."""
    if isinstance(model, GaussianProcessRegressor):
        mean, std = model.predict(X, return_std=True)
        # normalize_y's std excludes nothing: the WhiteKernel is in it.
        log_density = norm.logpdf(y, mean, std)
    else:
        mean = model.predict(X)
        log_density = model.log_likelihood(X, y)
    return log_density.mean(), np.sqrt(np.mean((y - mean) ** 2))


def motorcycle(repeats):
    data = np.loadtxt(DATA / "mcycle" / "mcycle.csv", delimiter=",", skiprows=1)
    X, y = data[:, :1], data[:, 1]
    methods = {"one GP (GaussianProcessRegressor)": lambda: one_gp(1, 2)}
    for k in (2, 3, 4):
        methods[f"mixture of {k} GP experts"] = lambda k=k: MixtureOfExpertsRegressor(
            k, expert=GaussianProcessExpert(), random_state=0
        )
    for k in (3, 4):
        methods[f"mixture of {k} linear experts"] = lambda k=k: (
            MixtureOfExpertsRegressor(k, random_state=0)
        )
    print(f"mcycle: {len(y)} rows, {repeats} x 5-fold CV (shuffled, seeds 0..)")
    header = f"{'log density/pt':>16s} {'RMSE (g)':>14s} {'CPU s/fit':>10s}"
    print(f"{'method':36s} {header}")
    for name, make in methods.items():
        scores, seconds = [], 0.0
        for seed in range(repeats):
            for train, test in KFold(5, shuffle=True, random_state=seed).split(X):
                start = time.process_time()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = make().fit(X[train], y[train])
                seconds += time.process_time() - start
                scores.append(held_out(model, X[test], y[test]))
        scores = np.array(scores)
        mean, se = scores.mean(0), scores.std(0, ddof=1) / np.sqrt(len(scores))
        print(
            f"{name:36s} {mean[0]:8.3f} ± {se[0]:5.3f} {mean[1]:7.2f} ± {se[1]:4.2f}"
            f" {seconds / len(scores):10.2f}"
        )


def power_plant():
    data = np.loadtxt(DATA / "uci-power-plant" / "data" / "data.txt")
    return "power plant", data[:, :4], data[:, 4], "MW"


def robot_arm():
    X, Y = make_robot_arm_dynamics(21_000, random_state=0)
    return "robot arm (simulated; joint 1's torque)", X, Y[:, 0], "N m"


def scaling(dataset, budget, sizes):
    name, X, y, unit = dataset
    order = np.random.RandomState(0).permutation(y.shape[0])
    test, pool = order[:1000], order[1000:]
    print()
    print(
        f"{name}: test 1000 rows, RMSE in {unit}; GP budget {budget:.0f} CPU s; "
        "mixture: K = n/500 experts of <= 500 rows, max_iter=30"
    )
    print(f"{'n':>6s} {'method':28s} {'CPU s':>9s} {'test RMSE':>10s} {'iters':>6s}")
    gp_time = gp_n = None
    for n in sizes:
        train = pool[:n]
        predicted = None if gp_time is None else gp_time * (n / gp_n) ** 3
        if predicted is not None and predicted > budget:
            print(f"{n:6d} {'one GP':28s} out of budget (predicted {predicted:.0f} s)")
        else:
            start = time.process_time()
            gp = one_gp(X.shape[1], 0).fit(X[train], y[train])
            gp_time, gp_n = time.process_time() - start, n
            rmse = held_out(gp, X[test], y[test])[1]
            print(f"{n:6d} {'one GP':28s} {gp_time:9.1f} {rmse:10.3f} {'':>6s}")
        k = max(2, round(n / 500))
        start = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moe = MixtureOfExpertsRegressor(
                k,
                expert=GaussianProcessExpert(max_rows_per_expert=500),
                max_iter=30,
                random_state=0,
            ).fit(X[train], y[train])
        seconds = time.process_time() - start
        rmse = held_out(moe, X[test], y[test])[1]
        label = f"mixture of {k} GP experts"
        print(f"{n:6d} {label:28s} {seconds:9.1f} {rmse:10.3f} {moe.n_iter_:6d}")
        start = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            linear = MixtureOfExpertsRegressor(8, random_state=0)
            linear.fit(X[train], y[train])
        seconds = time.process_time() - start
        rmse = held_out(linear, X[test], y[test])[1]
        label = "mixture of 8 linear experts"
        print(f"{n:6d} {label:28s} {seconds:9.1f} {rmse:10.3f} {linear.n_iter_:6d}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8568]
    )
    parser.add_argument(
        "--robot-sizes", type=int, nargs="+", default=[1000, 2000, 4000, 10000, 20000]
    )
    parser.add_argument("--skip-mcycle", action="store_true")
    parser.add_argument("--skip-power-plant", action="store_true")
    args = parser.parse_args()
    if not args.skip_mcycle:
        motorcycle(args.repeats)
    if not args.skip_power_plant:
        scaling(power_plant(), args.budget, args.sizes)
    if args.robot_sizes:
        scaling(robot_arm(), args.budget, args.robot_sizes)


if __name__ == "__main__":
    main()
