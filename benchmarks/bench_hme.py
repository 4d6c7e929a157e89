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

With ``--scaling``: the cost of an EM iteration against the size of the
tree. Binary hierarchies of depth 2 to 12 on ``make_mixture_regression``
(5,000 rows, 2 features, one fit per depth with ``max_iter=1``), seconds per
EM iteration (3 iterations warm-started from that fit) against the number of
nodes ``2 ** (depth + 1) - 1``, and the exponent of a least-squares line
through log(s/iter) against log(nodes) over depths 6 to 12 (1 is linear).
``--tree-from REV`` takes the tree gate from that git revision instead (to
time an older implementation against the current one).

Run:  python benchmarks/bench_hme.py [--n 15000] [--max-depth 5]
      python benchmarks/bench_hme.py --scaling [--tree-from REV]
"""

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import mixexp._hierarchical
from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor
from mixexp.datasets import make_mixture_regression, make_robot_arm_dynamics


def _per_iteration(model, X, y, iterations=5):
    """Seconds per EM iteration, warm-started from the fitted model."""
    model.set_params(warm_start=True, max_iter=iterations, tol=0.0)
    start = time.perf_counter()
    model.fit(X, y)
    return (time.perf_counter() - start) / iterations


def _tree_gate_from(revision):
    """The TreeGate class of ``mixexp/gates/_tree.py`` at a git revision,
    loaded as a module of the installed package (for its relative imports)."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{revision}:mixexp/gates/_tree.py"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    name = "mixexp.gates._tree_at_revision"
    spec = importlib.util.spec_from_file_location(name, file.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    Path(file.name).unlink()
    return module.TreeGate


def scaling(n_samples, depths, tree_from=None):
    """Print seconds per EM iteration against the number of nodes."""
    if tree_from is not None:
        mixexp._hierarchical.TreeGate = _tree_gate_from(tree_from)
    X, y = make_mixture_regression(n_samples, n_features=2, n_experts=4, random_state=0)
    label = "current" if tree_from is None else tree_from
    print(f"{n_samples} rows x 2 features, binary trees, tree gate: {label}")
    header = f"{'depth':>5} {'experts':>7} {'nodes':>6} {'fit s':>8} {'s/iter':>8}"
    print(header)
    print("-" * len(header))
    nodes, seconds = [], []
    for depth in depths:
        model = HierarchicalMixtureOfExpertsRegressor(depth, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            model.fit(X, y)
            fit = time.perf_counter() - start
            iteration = _per_iteration(model, X, y, iterations=3)
        nodes.append(2 ** (depth + 1) - 1)
        seconds.append(iteration)
        print(
            f"{depth:>5} {2**depth:>7} {nodes[-1]:>6} {fit:>8.2f} {iteration:>8.3f}",
            flush=True,
        )
    large = [i for i, depth in enumerate(depths) if depth >= 6]
    if len(large) >= 2:
        slope = np.polyfit(
            np.log(np.take(nodes, large)), np.log(np.take(seconds, large)), 1
        )[0]
        print(f"s/iter ~ nodes^{slope:.2f} (least squares on log-log, depth >= 6)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=15_000)
    parser.add_argument("--max-depth", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--tree-from", default=None, metavar="REV")
    args = parser.parse_args()
    if args.scaling:
        scaling(5000, range(2, 13), args.tree_from)
        return
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
