"""mixexp against peer implementations of the mixture of experts, side by side.

One run, two tables, every method on the same rows with K = 4 experts.

**Table 1: R flexmix, same model, same data.** Planted regression data from
``make_mixture_regression(n, 5, 4, noise=0.3)`` (x ~ N(0, I), the regime
drawn from a softmax gate, a linear y per regime). Both fit K linear-Gaussian
experts (each with its own noise variance) under a softmax gate on all
inputs, by EM, by maximum likelihood: mixexp's ``MixtureOfExpertsRegressor``
and flexmix's ``FLXMRglm(family = "gaussian")`` experts with a
``FLXPmultinom`` concomitant (nnet::multinom) gate. flexmix runs in
``Rscript`` on the same rows (a temporary CSV, full precision). Reported:
fit seconds (for flexmix measured inside R around the ``flexmix`` call, so
R start-up and CSV reading are not counted; the Rscript wall time is shown
too), EM iterations (``n_iter_``; flexmix's ``model@iter``), and the final
training log-likelihood log p(y | x) summed over the rows
(``log_likelihood(X, y).sum()``; flexmix's ``logLik(model)``), then
``R/mx``, flexmix seconds over mixexp seconds, and ``dLL``, mixexp's
log-likelihood minus flexmix's (positive: mixexp ended higher).

Convergence criteria are matched so that mixexp stops no earlier: flexmix
stops when ``|LL - LL_old| / (|LL| + 0.1) < tol`` on the total
log-likelihood LL (its default ``tol`` 1e-6); mixexp stops when the mean
per-sample log-likelihood l = LL / n changes by less than its ``tol``
(5e-7 here). flexmix's rule is |dl| < 1e-6 (|l| + 0.1 / n), so mixexp's
is the stricter one whenever |l| > 0.5 (here |l| is 0.53 to 0.55); a row
where it is not is marked ``!``. Both get
``--max-iter`` (1000) iterations and ``--n-init`` starts (1: flexmix's
random-partition start, mixexp's k-means start; more starts use flexmix's
``stepFlexmix(nrep=)``). flexmix's ``minprior`` is 0, so it keeps all K
components as mixexp does (its default, 0.05, would drop small ones;
``k`` shows how many it kept).

**Table 2: Python peers, test error.** Each method at its package's default
training settings except K = 4, fitted on the same training rows and scored
on the same test rows: test RMSE for regression (in the target's own units),
test accuracy for classification (the neural-trees hierarchical mixture
only classifies). ``xmx`` is the method's fit seconds over mixexp's on the
same data. Data:

- ``planted``: ``make_mixture_regression`` as above, test rows n / 4; the
  row ``true E[y|x]`` is the test RMSE of the generating model's conditional
  mean, the floor for any point prediction (the regimes overlap, so it is
  well above the noise, 0.3);
- ``concrete``: UCI concrete strength, the first ``--concrete-splits`` (20)
  published splits (927 train / 103 test each) of Hernandez-Lobato & Adams,
  inputs and target standardized with each split's training statistics,
  test RMSE in MPa as mean ± standard error over the splits (one split's
  103 test rows are too few to rank methods: on split 0 alone the soft tree
  beats mixexp, over 20 splits it does not), fit seconds the median over the
  splits, one fit per split (from ``shared/data/uci-concrete``; skipped if
  absent);
- ``local``: ``make_local_classification`` (an XOR of four linear
  boundaries, one per quadrant), test rows n / 4;
- ``vowels``: Peterson & Barney [i] [I] [A] [V] from F1, F2, train speakers
  1-50, test 51-75 (Jacobs et al. 1991), standardized.

Where the peers' models differ from mixexp's (softmax gate, linear experts,
EM):

- ``cgmm`` ``MixtureOfExpertsRegressor``: the same model and EM (baseline
  softmax gate with a small L2 penalty, affine Gaussian experts), stopping on
  the relative change of the mean log-likelihood. Its E-step loops over the
  samples in Python. In cgmm 0.5.1 the gate's Newton step calls
  ``scipy.linalg.cholesky(..., check_isfinite=False)``, a keyword scipy does
  not have, so every gate M-step falls back to a pseudo-inverse step of the
  wrong sign, fails its line search and leaves the gate at its random
  initialization: its numbers are those of its experts under a fixed,
  almost uniform gate.
- neural-trees ``SoftDecisionTreeRegressor(depth=2)``: a soft tree with 4
  leaves, i.e. a hierarchical mixture with sigmoid gates and *constant*
  experts, trained by Adam on squared error (100 epochs, batch 64).
- neural-trees ``HierarchicalMixtureOfExperts(depth=2, branching_factor=2)``
  (classification only): 4 experts, but gates and experts are two-layer
  MLPs (32 and 64 hidden units), trained by Adam on the log-likelihood with
  subtree dropout (50 epochs, batch 64); ``SoftDecisionTree(depth=2)``: 4
  leaves holding class distributions, sigmoid gates (40 epochs).
- smt ``MOE(n_clusters=4, allow=["LS"])``: not trained by EM on p(y | x).
  A Gaussian mixture (20 starts) clusters the joint (x, y) of the training
  rows, one least-squares linear surrogate is fitted per cluster, and
  predictions blend the experts by the clusters' Gaussian densities in x
  (``smooth_recombination``). Its GaussianMixture draws from numpy's global
  random state, which is seeded before each fit.

Timing: fits are timed with ``time.perf_counter`` (inside R for flexmix),
as ``timeit`` times code: one measurement is ``number`` fits of fresh
models in a row, divided by ``number``, which a first fit sets so that a
measurement lasts ``--repeat-window`` seconds (0.2; 1 for slower fits,
and then the first fit is a measurement). Up to ``--repeats``
measurements are taken while a method's fits so far took less than
``--repeat-budget`` seconds, and the best is kept (the same rule in R),
so slow fits run once. A 40 ms fit measured alone is at the mercy of any
pause of the shared machine; a 1 s fit averages them out: the window
gives both the same footing. One untimed warm-up fit on
200 rows per method pays for lazy imports first. BLAS, OpenMP and torch
run on ``--threads`` threads (1 by default; R uses Debian's single-threaded
reference BLAS): on this 2-core machine, shared with other jobs, threaded
BLAS made small fits up to 10 times slower for every method. A peer that is
not installed prints "not installed"; one that raises prints "failed: ...";
rows past a peer's size cap print "skipped".

Install the peers:  bash benchmarks/install_peers.sh
Run:  python benchmarks/bench_peers.py [--quick] [--flexmix-sizes 2000 10000
      100000] [--peer-sizes 2000 10000] [--repeats 3] [--repeat-window 0.2]
      [--threads 1]
"""

import argparse
import contextlib
import importlib.util
import io
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import (
    load_vowels,
    make_local_classification,
    make_mixture_regression,
)

K = 4
N_FEATURES = 5
NOISE = 0.3
WARMUP_ROWS = 200
CONCRETE_DIR = Path(__file__).resolve().parents[2] / "shared/data/uci-concrete/data"

R_SCRIPT = r"""
suppressPackageStartupMessages(library(flexmix))
a <- commandArgs(trailingOnly = TRUE)
d <- read.csv(a[1])
k <- as.integer(a[2]); seed <- as.integer(a[3]); iter_max <- as.integer(a[4])
tol <- as.numeric(a[5]); minprior <- as.numeric(a[6]); nrep <- as.integer(a[7])
repeats <- as.integer(a[8]); budget <- as.numeric(a[9])
rhs <- paste(setdiff(names(d), "y"), collapse = " + ")
expert <- as.formula(paste("y ~", rhs))
gate <- FLXPmultinom(as.formula(paste("~", rhs)))
control <- list(iter.max = iter_max, tol = tol, minprior = minprior)
fit <- function() {
  if (nrep == 1) {
    flexmix(expert, data = d, k = k, model = FLXMRglm(family = "gaussian"),
            concomitant = gate, control = control)
  } else {
    stepFlexmix(expert, data = d, k = k, nrep = nrep, verbose = FALSE,
                model = FLXMRglm(family = "gaussian"), concomitant = gate,
                control = control)
  }
}
window <- as.numeric(a[10])
timed <- function(number) {  # seconds per fit over `number` fits in a row
  start <- proc.time()[["elapsed"]]
  for (i in seq_len(number)) {
    set.seed(seed)
    model <<- fit()
  }
  (proc.time()[["elapsed"]] - start) / number
}
first <- timed(1)
number <- max(1, ceiling(window / max(first, 1e-3)))
times <- if (number == 1) first else numeric(0)
spent <- first
while (length(times) < repeats && spent < budget) {
  times <- c(times, timed(number))
  spent <- spent + number * times[length(times)]
}
cat(sprintf("RESULT seconds=%.6f iter=%d loglik=%.12g k=%d converged=%s\n",
            min(times), as.integer(model@iter), as.numeric(logLik(model)),
            as.integer(model@k), model@converged))
"""


# ------------------------------------------------------------------ helpers
def _brief(exc):
    """One short line for a failed run."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"failed: {type(exc).__name__}: {text}"[:70]


def _timed_fit(make, X, y, repeats, budget, window):
    """Seconds per fit, timed as ``timeit`` does: a measurement fits
    ``number`` fresh models from ``make()`` in a row and divides, ``number``
    set by a first fit so that a measurement lasts ``window`` seconds (1 for
    slower fits, when the first fit counts as a measurement); the best of
    up to ``repeats`` measurements, taken while the fits so far took less
    than ``budget`` seconds. Returns the last model and the seconds."""

    def timed(number):
        start = time.perf_counter()
        for _ in range(number):
            model = make()
            model.fit(X, y)
        return model, (time.perf_counter() - start) / number

    model, first = timed(1)
    number = max(1, math.ceil(window / max(first, 1e-6)))
    times = [first] if number == 1 else []
    spent = first
    while len(times) < repeats and spent < budget:
        model, seconds = timed(number)
        times.append(seconds)
        spent += number * seconds
    return model, min(times)


def _n_iter(model):
    """EM iterations or training epochs, where the model says."""
    for name in ("n_iter_", "n_iter"):
        if hasattr(model, name):
            return str(getattr(model, name))
    return "-"


def _standardize(X_train, X_test):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X_train - mean) / std, (X_test - mean) / std


# --------------------------------------------------------------------- data
def planted_regression(n, seed):
    """``n`` training rows and ``n // 4`` test rows from one draw; the last
    item is the test RMSE of the true conditional mean E[y | x], the best
    any point prediction can do on average."""
    X, y, params = make_mixture_regression(
        n + n // 4, N_FEATURES, K, noise=NOISE, random_state=seed, return_params=True
    )
    X_test = X[n:]
    logits = X_test @ params["gate_coef"].T + params["gate_intercept"]
    gate = np.exp(logits - logits.max(axis=1, keepdims=True))
    gate /= gate.sum(axis=1, keepdims=True)
    experts = X_test @ params["expert_coef"][:, 0].T + params["expert_intercept"][:, 0]
    oracle = np.sqrt(np.mean((np.sum(gate * experts, axis=1) - y[n:]) ** 2))
    return X[:n], y[:n], X_test, y[n:], 1.0, oracle


def concrete(directory, split=0):
    """UCI concrete, one published split, standardized; the last item is the
    target's standard deviation, to report RMSE in MPa."""
    directory = Path(directory)
    data = np.loadtxt(directory / "data.txt")
    features = np.loadtxt(directory / "index_features.txt", dtype=int)
    target = int(np.loadtxt(directory / "index_target.txt", dtype=int))
    train = np.loadtxt(directory / f"index_train_{split}.txt", dtype=int)
    test = np.loadtxt(directory / f"index_test_{split}.txt", dtype=int)
    X_train, X_test = _standardize(data[train][:, features], data[test][:, features])
    y_mean, y_std = data[train, target].mean(), data[train, target].std()
    y_train = (data[train, target] - y_mean) / y_std
    y_test = (data[test, target] - y_mean) / y_std
    return X_train, y_train, X_test, y_test, y_std, None


def local_classification(n, seed):
    X, y = make_local_classification(n + n // 4, random_state=seed)
    return X[:n], y[:n], X[n:], y[n:], None, None


def vowels():
    bunch = load_vowels()
    train = bunch.speaker <= 50
    test = (bunch.speaker > 50) & (bunch.speaker <= 75)
    X_train, X_test = _standardize(bunch.data[train], bunch.data[test])
    return X_train, bunch.target[train], X_test, bunch.target[test], None, None


# -------------------------------------------------------------------- peers
class SMTMixture:
    """smt's ``MOE`` behind fit / predict: Gaussian-mixture clusters of
    (x, y), one least-squares expert per cluster, smooth recombination."""

    def __init__(self, n_clusters, seed):
        self.n_clusters, self.seed = n_clusters, seed

    def fit(self, X, y):
        from smt.applications import MOE

        # MOE's GaussianMixture takes no random_state: seed the global one.
        np.random.seed(self.seed)  # noqa: NPY002
        self.model_ = MOE(
            n_clusters=self.n_clusters, allow=["LS"], smooth_recombination=True
        )
        self.model_.set_training_values(X, y.reshape(-1, 1))
        with contextlib.redirect_stdout(io.StringIO()):  # it prints per expert
            self.model_.train()
        self.n_iter_ = self.model_.cluster.n_iter_
        return self

    def predict(self, X):
        return self.model_.predict_values(X).ravel()


def _cgmm(seed):
    from cgmm import MixtureOfExpertsRegressor as CgmmMoE

    return CgmmMoE(n_components=K, mean_function="affine", random_state=seed)


def _soft_tree_regressor(seed):
    from neural_trees import SoftDecisionTreeRegressor

    return SoftDecisionTreeRegressor(depth=2, random_state=seed)


def _hme(seed):
    from neural_trees import HierarchicalMixtureOfExperts

    return HierarchicalMixtureOfExperts(depth=2, branching_factor=2, random_state=seed)


def _soft_tree(seed):
    from neural_trees import SoftDecisionTree

    return SoftDecisionTree(depth=2, random_state=seed)


# name, import name, factory(seed), size-cap option
REGRESSION_PEERS = [
    ("cgmm MoE", "cgmm", _cgmm, "cgmm_max_n"),
    ("neural-trees SDT-reg", "neural_trees", _soft_tree_regressor, "torch_max_n"),
    ("smt MOE (LS)", "smt", lambda seed: SMTMixture(K, seed), "smt_max_n"),
]
CLASSIFICATION_PEERS = [
    ("neural-trees HME", "neural_trees", _hme, "torch_max_n"),
    ("neural-trees SDT", "neural_trees", _soft_tree, "torch_max_n"),
]


# ------------------------------------------------------------------ table 1
def flexmix_available():
    """None if Rscript and flexmix are there, else why not."""
    if shutil.which("Rscript") is None:
        return "not installed (no Rscript)"
    check = subprocess.run(
        [
            "Rscript",
            "-e",
            'quit(status = !requireNamespace("flexmix", quietly = TRUE))',
        ],
        capture_output=True,
    )
    return None if check.returncode == 0 else "not installed (no flexmix)"


def run_flexmix(X, y, args, workdir):
    """Fit flexmix in Rscript; returns (seconds in R, wall seconds,
    iterations, log-likelihood, components kept, converged)."""
    data = Path(workdir) / "data.csv"
    script = Path(workdir) / "fit.R"
    script.write_text(R_SCRIPT)
    columns = [f"x{j + 1}" for j in range(X.shape[1])] + ["y"]
    np.savetxt(
        data,
        np.column_stack([X, y]),
        delimiter=",",
        header=",".join(columns),
        comments="",
        fmt="%.17g",
    )
    threads = str(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
    command = ["Rscript", str(script), str(data), str(K), str(args.seed)]
    command += [str(args.max_iter), repr(args.flexmix_tol), "0", str(args.n_init)]
    command += [str(args.repeats), str(args.repeat_budget), str(args.repeat_window)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    match = re.search(
        r"RESULT seconds=(\S+) iter=(\S+) loglik=(\S+) k=(\S+) converged=(\S+)",
        result.stdout,
    )
    if result.returncode != 0 or match is None:
        lines = (result.stderr or result.stdout).strip().splitlines()
        errors = [line for line in lines if line.startswith("Error")] or lines[-1:]
        raise RuntimeError(" ".join(errors[:1]) or f"Rscript exit {result.returncode}")
    seconds, n_iter, loglik, k, converged = match.groups()
    return float(seconds), wall, int(n_iter), float(loglik), int(k), converged


def flexmix_table(args):
    print(
        f"Table 1. mixexp vs R flexmix: planted regression, d={N_FEATURES}, K={K}, "
        f"noise {NOISE}, training rows only; n_init {args.n_init}, max_iter "
        f"{args.max_iter}; tol: mixexp {args.mixexp_tol:g} (abs. change of mean "
        f"LL), flexmix {args.flexmix_tol:g} (rel. change of LL)"
    )
    header = (
        f"{'n':>7} | {'mixexp s':>8} {'iter':>5} {'loglik':>12} | "
        f"{'flexmix s':>9} {'wall s':>7} {'iter':>5} {'loglik':>12} {'k':>2} | "
        f"{'R/mx':>6} {'dLL':>8}"
    )
    print(header)
    print("-" * len(header))
    missing = flexmix_available()
    with tempfile.TemporaryDirectory(prefix="bench_peers_") as workdir:
        for n in args.flexmix_sizes:
            X, y, *_ = planted_regression(n, args.seed)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model, mx_seconds = _timed_fit(
                        lambda: MixtureOfExpertsRegressor(
                            n_experts=K,
                            random_state=args.seed,
                            max_iter=args.max_iter,
                            tol=args.mixexp_tol,
                            n_init=args.n_init,
                        ),
                        X,
                        y,
                        args.repeats,
                        args.repeat_budget,
                        args.repeat_window,
                    )
                mx_loglik = model.log_likelihood(X, y).sum()
                flag = "" if model.converged_ else "*"
                line = (
                    f"{n:>7} | {mx_seconds:>8.3f} {model.n_iter_:>4}{flag:1} "
                    f"{mx_loglik:>12.3f} | "
                )
            except Exception as exc:  # still run flexmix on this row
                mx_seconds = mx_loglik = None
                line = f"{n:>7} | {_brief(exc)[:27]:<27} | "
            if missing is not None:
                print(line + missing)
                continue
            if n > args.flexmix_max_n:
                print(line + f"skipped: n > {args.flexmix_max_n} (--flexmix-max-n)")
                continue
            try:
                seconds, wall, n_iter, loglik, k, converged = run_flexmix(
                    X, y, args, workdir
                )
            except Exception as exc:  # a peer's failure is a row, not a crash
                print(line + _brief(exc))
                continue
            flag = "" if converged == "TRUE" else "*"
            # flexmix's stopping rule in mixexp's units (change of the mean LL).
            looser = args.mixexp_tol > args.flexmix_tol * (abs(loglik) + 0.1) / n
            print(
                line + f"{seconds:>9.3f} {wall:>7.2f} {n_iter:>4}{flag:1} "
                f"{loglik:>12.3f} {k:>2} | "
                + (
                    ""
                    if mx_seconds is None
                    else f"{seconds / mx_seconds:>6.1f} {mx_loglik - loglik:>8.3f}"
                )
                + (" !" if looser else "")
            )
    print(
        "R/mx: flexmix seconds (inside R) / mixexp seconds; dLL: mixexp loglik "
        "- flexmix loglik (> 0: mixexp higher); wall: the whole Rscript run "
        "(start-up, CSV reading and every timed fit); "
        "*: not converged within max_iter; !: mixexp's tol was looser than "
        "flexmix's rule on this row"
    )


# ------------------------------------------------------------------ table 2
def _score(model, X_test, y_test, scale):
    """Test RMSE in the target's units (``scale`` set) or accuracy."""
    prediction = np.asarray(model.predict(X_test))
    if scale is None:
        return np.mean(prediction.ravel() == y_test)
    return scale * np.sqrt(np.mean((prediction.ravel() - y_test) ** 2))


def _run_method(make, data, args, mixexp_seconds=None):
    """Fit and score on one split (best time of ``--repeats`` fits) or on a
    list of splits (one fit each: median seconds and iterations, mean ±
    standard error of the test error)."""
    splits = data if isinstance(data, list) else [data]
    repeats = args.repeats if len(splits) == 1 else 1
    seconds, iters, errors = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X_train, y_train = splits[0][:2]
        try:
            make().fit(X_train[:WARMUP_ROWS], y_train[:WARMUP_ROWS])
        except Exception:  # the timed fit reports any real failure
            pass
        for X_train, y_train, X_test, y_test, scale, _ in splits:
            model, elapsed = _timed_fit(
                make, X_train, y_train, repeats, args.repeat_budget, args.repeat_window
            )
            seconds.append(elapsed)
            iters.append(_n_iter(model))
            errors.append(_score(model, X_test, y_test, scale))
    seconds = float(np.median(seconds))
    if len(splits) == 1:
        n_iter, error = iters[0], f"{errors[0]:.4f}"
    else:
        numeric = all(value.isdigit() for value in iters)
        n_iter = f"{np.median([int(v) for v in iters]):.0f}" if numeric else "-"
        spread = np.std(errors, ddof=1) / np.sqrt(len(errors))
        error = f"{np.mean(errors):.2f}±{spread:.2f}"
    ratio = "" if mixexp_seconds is None else f"{seconds / mixexp_seconds:>7.1f}"
    return f"{seconds:>8.2f} {n_iter:>6} {error:>9} {ratio:>7}", seconds


def peers_table(args):
    metric = "RMSE / acc"
    print(
        f"Table 2. mixexp vs Python peers, K={K}, each at its package's default "
        "training settings; test RMSE (regression, target units) or test "
        "accuracy (classification)"
    )
    header = (
        f"{'data':>8} {'n':>6} {'method':>22} | {'fit s':>8} {'iter':>6} "
        f"{metric:>9} {'xmx':>7}"
    )
    print(header)
    print("-" * len(header))
    datasets = [
        ("planted", "regression", lambda n=n: planted_regression(n, args.seed))
        for n in args.peer_sizes
    ]
    if (Path(args.concrete_dir) / "data.txt").exists():
        datasets.append(
            (
                "concrete",
                "regression",
                lambda: [
                    concrete(args.concrete_dir, split)
                    for split in range(args.concrete_splits)
                ],
            )
        )
    else:
        print(f"concrete: no data at {args.concrete_dir}, skipped")
    datasets += [
        ("local", "classification", lambda n=n: local_classification(n, args.seed))
        for n in args.peer_sizes
    ]
    datasets.append(("vowels", "classification", vowels))
    for label, task, load in datasets:
        data = load()
        first = data[0] if isinstance(data, list) else data
        if task == "regression":
            peers = REGRESSION_PEERS
            mixexp = MixtureOfExpertsRegressor
        else:
            peers = CLASSIFICATION_PEERS
            mixexp = MixtureOfExpertsClassifier
        n = len(first[0])
        try:
            row, mx_seconds = _run_method(
                lambda mixexp=mixexp: mixexp(n_experts=K, random_state=args.seed),
                data,
                args,
            )
        except Exception as exc:  # peers still run, without a ratio
            row, mx_seconds = _brief(exc), None
        if first[5] is not None:
            name = "true E[y|x]"
            print(f"{label:>8} {n:>6} {name:>22} | {'-':>8} {'-':>6} {first[5]:>9.4f}")
        print(f"{label:>8} {n:>6} {'mixexp':>22} | {row}")
        for name, module, factory, cap in peers:
            prefix = f"{label:>8} {n:>6} {name:>22} | "
            if importlib.util.find_spec(module) is None:
                print(prefix + "not installed")
                continue
            limit = getattr(args, cap)
            if n > limit:
                option = "--" + cap.replace("_", "-")
                print(prefix + f"skipped: n > {limit} ({option})")
                continue
            try:
                row, _ = _run_method(
                    lambda factory=factory: factory(args.seed), data, args, mx_seconds
                )
            except Exception as exc:  # a peer's failure is a row, not a crash
                row = _brief(exc)
            print(prefix + row)
    print(
        "xmx: fit seconds / mixexp's on the same data; iter: EM iterations "
        "(mixexp, cgmm), epochs (neural-trees), GMM iterations of the last "
        f"start (smt); concrete: test RMSE mean±s.e. over {args.concrete_splits} "
        "published splits, median fit s and iter, one fit per split"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument(
        "--flexmix-sizes", type=int, nargs="+", default=[2000, 10_000, 100_000]
    )
    parser.add_argument("--peer-sizes", type=int, nargs="+", default=[2000, 10_000])
    parser.add_argument("--flexmix-max-n", type=int, default=100_000)
    parser.add_argument(
        "--cgmm-max-n", type=int, default=2000, help="its E-step loops in Python"
    )
    parser.add_argument("--torch-max-n", type=int, default=10_000)
    parser.add_argument("--smt-max-n", type=int, default=10_000)
    parser.add_argument("--max-iter", type=int, default=1000, help="table 1")
    parser.add_argument("--mixexp-tol", type=float, default=5e-7, help="table 1")
    parser.add_argument("--flexmix-tol", type=float, default=1e-6, help="table 1")
    parser.add_argument("--n-init", type=int, default=1, help="table 1 starts")
    parser.add_argument("--repeats", type=int, default=3, help="fits timed (best)")
    parser.add_argument(
        "--repeat-budget",
        type=float,
        default=5.0,
        help="refit only while a method's fits so far took less (s)",
    )
    parser.add_argument(
        "--repeat-window",
        type=float,
        default=0.2,
        help="a timing measurement fits enough times to last this long (s)",
    )
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concrete-dir", default=str(CONCRETE_DIR))
    parser.add_argument(
        "--concrete-splits", type=int, default=20, help="published splits used"
    )
    parser.add_argument("--skip-flexmix", action="store_true")
    parser.add_argument("--skip-peers", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.flexmix_sizes, args.peer_sizes = [2000], [1000]
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        if not args.skip_flexmix:
            flexmix_table(args)
        if not args.skip_flexmix and not args.skip_peers:
            print()
        if not args.skip_peers:
            peers_table(args)
    print(f"total {time.perf_counter() - start:.0f} s, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
