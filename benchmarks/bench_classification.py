"""mixexp's cross-validated classifier at its defaults against the models a
user would pick instead, on five classification tasks.

- ``vowels``: Jacobs et al. (1991): [i] [I] [A] [V] from F1 and F2
  (Peterson & Barney 1952, bundled), train on speakers 1-50, test on 51-75;
  the paper reports 0.90 for its mixture and for its network.
- ``xor``: ``make_local_classification``, an XOR of linear problems (each
  quadrant its own linear boundary), 2,000 training and 10,000 test rows.
- ``digits``: scikit-learn's bundled 8x8 digits (1,797 x 64, 10 classes),
  a stratified 70 % / 30 % split (``random_state=0``).
- ``clusters``: a larger table, scikit-learn's ``make_classification``
  (30,000 x 20: 10 informative inputs, 4 redundant, two classes of three
  Gaussian clusters each, ``random_state=0``), 20,000 training and 10,000
  test rows.
- ``wide``: a wider one, ``make_classification`` (15,000 x 100: 20
  informative inputs, 10 redundant, two classes of three clusters each,
  ``random_state=0``), 10,000 training and 5,000 test rows.

Every method sees standardized inputs (``make_pipeline(StandardScaler(),
model)``): ``mixexp CV`` is ``MixtureOfExpertsClassifierCV(random_state=0)``;
``MLP`` is ``MLPClassifier(random_state=0)`` (100 ReLU units, Adam);
``MLP grid`` is ``GridSearchCV(MLPClassifier(random_state=0),
{"hidden_layer_sizes": [(25,), (50,), (100,)]}, cv=3)``; ``logistic`` is
``LogisticRegression(max_iter=5000)``; ``HistGB`` is
``HistGradientBoostingClassifier(random_state=0)``. The table gives test
accuracy, test log-loss, the seconds of the whole fit (searches included)
and, for mixexp, the chosen form and number of experts. One BLAS thread.
After each set's rows, the CV estimator's test accuracy and log-loss over
``random_state`` 0 to ``--seeds`` - 1: the table's single seed moves the
small vowel test set by a few points.

Run:  python benchmarks/bench_classification.py [--datasets vowels xor digits
      clusters wide] [--seeds 8]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mixexp import MixtureOfExpertsClassifierCV
from mixexp.datasets import load_vowels, make_local_classification


def vowels():
    data = load_vowels()
    train = data.speaker <= 50
    test = (data.speaker > 50) & (data.speaker <= 75)
    return data.data[train], data.target[train], data.data[test], data.target[test]


def xor():
    X, y = make_local_classification(12000, random_state=0)
    return X[:2000], y[:2000], X[2000:], y[2000:]


def digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    return X_train, y_train, X_test, y_test


def gaussian_clusters(n_train, n_test, n_features, n_informative, n_redundant):
    """``make_classification``'s two classes of three Gaussian clusters
    each, its first rows for training and the rest for testing."""
    X, y = make_classification(
        n_train + n_test,
        n_features,
        n_informative=n_informative,
        n_redundant=n_redundant,
        n_clusters_per_class=3,
        random_state=0,
    )
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def clusters():
    return gaussian_clusters(20_000, 10_000, 20, 10, 4)


def wide():
    return gaussian_clusters(10_000, 5_000, 100, 20, 10)


DATASETS = {
    "vowels": vowels,
    "xor": xor,
    "digits": digits,
    "clusters": clusters,
    "wide": wide,
}

METHODS = {
    "mixexp CV": lambda: MixtureOfExpertsClassifierCV(random_state=0),
    "MLP": lambda: MLPClassifier(random_state=0),
    "MLP grid": lambda: GridSearchCV(
        MLPClassifier(random_state=0),
        {"hidden_layer_sizes": [(25,), (50,), (100,)]},
        cv=3,
    ),
    "logistic": lambda: LogisticRegression(max_iter=5000),
    "HistGB": lambda: HistGradientBoostingClassifier(random_state=0),
}


def spread(name, X, y, X_test, y_test, n_seeds):
    """The CV estimator's test accuracy and log-loss over its random_state."""
    accuracy, loss = [], []
    for seed in range(n_seeds):
        model = make_pipeline(
            StandardScaler(), MixtureOfExpertsClassifierCV(random_state=seed)
        ).fit(X, y)
        accuracy.append(model.score(X_test, y_test))
        loss.append(
            log_loss(y_test, model.predict_proba(X_test), labels=model.classes_)
        )
    print(
        f"{name:>8}: mixexp CV over random_state 0-{n_seeds - 1}: accuracy "
        f"mean {np.mean(accuracy):.4f} (min {np.min(accuracy):.3f}, max "
        f"{np.max(accuracy):.3f}), log-loss mean {np.mean(loss):.3f}",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS)
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=8,
        help="random_state values 0..N-1 of the CV estimator's spread line",
    )
    args = parser.parse_args()
    threadpool_limits(1)
    warnings.simplefilter("ignore", ConvergenceWarning)
    header = (
        f"{'dataset':>8} {'n train':>7} {'d':>3} {'method':>10} "
        f"{'accuracy':>8} {'log-loss':>8} {'fit s':>7}  chosen"
    )
    print(header)
    print("-" * len(header))
    begin = time.perf_counter()
    for name in args.datasets:
        X, y, X_test, y_test = DATASETS[name]()
        for method, make in METHODS.items():
            model = make_pipeline(StandardScaler(), make())
            start = time.perf_counter()
            model.fit(X, y)
            seconds = time.perf_counter() - start
            accuracy = model.score(X_test, y_test)
            loss = log_loss(y_test, model.predict_proba(X_test), labels=model.classes_)
            chosen = ""
            if isinstance(model[-1], MixtureOfExpertsClassifierCV):
                best = model[-1].best_params_
                chosen = (
                    f"{best['expert']!r} x {model[-1].n_experts_}, {best['gate']!r}"
                )
            print(
                f"{name:>8} {X.shape[0]:>7} {X.shape[1]:>3} {method:>10} "
                f"{accuracy:>8.3f} {loss:>8.3f} {seconds:>7.2f}  {chosen}".rstrip(),
                flush=True,
            )
        if args.seeds > 0:
            spread(name, X, y, X_test, y_test, args.seeds)
    print(f"total wall time {time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
