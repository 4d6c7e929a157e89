"""Deep mixture of experts on jittered digits (Eigen, Ranzato & Sutskever 2013).

The 8x8 digits of scikit-learn placed in one of the four quadrants of a 16x16
canvas (``make_jittered_digits(n_copies=2)``, 3594 canvases; a quarter of
the images, with both their copies, held out for testing). Per seed, the
table gives the test accuracy, the trained parameters, the fit's seconds
and its iterations (epochs, or EM iterations for the flat mixtures) of

- ``deep``: ``DeepMixtureOfExpertsClassifier()`` at its defaults, two layers
  of 4 experts with 32 units each, Adam, ``balance_weight=0.1`` (the
  importance loss of Shazeer et al. 2017);
- ``deep, no balance``: the same with ``balance_weight=0``;
- ``MLP``: ``MLPClassifier`` with two hidden layers (h, 32), h chosen so
  that it has about the deep model's number of parameters;
- ``flat``: ``MixtureOfExpertsClassifier(n_experts=4)`` (EM, softmax
  experts) on the pixels; with 2570 parameters an expert needs more rows
  than a quarter of the 2696 training canvases, so the fit prunes it to
  the one expert shown in its label (a logistic regression) and its gate
  says nothing;
- ``flat, PCA 30``: the same on the first 30 principal components, where
  four experts survive (``make_pipeline(PCA(30), ...)``).

and how each layer's gate factors the data: the normalized mutual
information (NMI, 0 to 1) between the expert a test canvas is routed to (its
most probable one) and its position, and between that expert and its class.
Eigen et al.'s finding is that the first layer's experts specialise by
where the digit is and the second's by what it is: layer 1's NMI with the
position above its NMI with the class, layer 2's the reverse. The flat
mixtures' one gate is listed as their layer 1.

Run:  python benchmarks/bench_deep.py [--seeds 3]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import normalized_mutual_info_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline

from mixexp import DeepMixtureOfExpertsClassifier, MixtureOfExpertsClassifier
from mixexp.datasets import make_jittered_digits

N_IMAGES = 1797


def split(seed):
    """Jittered digits, scaled to [0, 1], split by image."""
    X, y, position = make_jittered_digits(n_copies=2, random_state=seed)
    image = np.arange(X.shape[0]) % N_IMAGES
    held_out = np.random.RandomState(seed).permutation(N_IMAGES)[: N_IMAGES // 4]
    test = np.isin(image, held_out)
    return X / 16.0, y, position, ~test, test


def mlp_parameters(n_features, hidden, n_classes):
    sizes = [n_features, *hidden, n_classes]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def matched_mlp(target, n_features, n_classes, second=32):
    """The first hidden layer's width that brings an MLP (h, second) closest
    to ``target`` parameters."""
    widths = np.arange(1, 2000)
    counts = np.array(
        [mlp_parameters(n_features, (h, second), n_classes) for h in widths]
    )
    return int(widths[np.argmin(np.abs(counts - target))]), second


def nmi(labels, gate):
    return normalized_mutual_info_score(labels, np.argmax(gate, axis=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(
        "jittered digits: 16x16 canvas, 4 positions, 3594 canvases (2 per "
        "image), 25% of the images held out; NMI of each layer's top expert "
        "with the position (pos) and the class (cls) on the test canvases"
    )
    header = (
        f"{'model':<22} {'seed':>4} {'params':>7} {'fit s':>6} {'iters':>6} "
        f"{'test acc':>8} {'L1 pos':>6} {'L1 cls':>6} {'L2 pos':>6} {'L2 cls':>6}"
    )
    print(header)
    print("-" * len(header))
    results = {}
    for seed in range(args.seeds):
        X, y, position, train, test = split(seed)
        deep_params = None
        for name in ("deep", "deep, no balance", "MLP", "flat", "flat, PCA 30"):
            if name == "deep":
                model = DeepMixtureOfExpertsClassifier(random_state=seed)
            elif name == "deep, no balance":
                model = DeepMixtureOfExpertsClassifier(
                    balance_weight=0.0, random_state=seed
                )
            elif name == "MLP":
                hidden = matched_mlp(deep_params, X.shape[1], 10)
                model = MLPClassifier(hidden_layer_sizes=hidden, random_state=seed)
            elif name == "flat":
                model = MixtureOfExpertsClassifier(n_experts=4, random_state=seed)
            else:
                model = make_pipeline(
                    PCA(30, random_state=seed),
                    MixtureOfExpertsClassifier(n_experts=4, random_state=seed),
                )
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                # The pixel mixture's pruning warning is the label's K.
                warnings.filterwarnings("ignore", "Expert.*removed", UserWarning)
                model.fit(X[train], y[train])
            seconds = time.perf_counter() - start
            accuracy = model.score(X[test], y[test])
            if name.startswith("deep"):
                params = model.n_parameters_
                deep_params = deep_params or params
                gates = model.predict_gate_proba(X[test])
            elif name == "MLP":
                params = mlp_parameters(X.shape[1], hidden, 10)
                gates = []
            else:
                mixture = model if name == "flat" else model[-1]
                inputs = X[test] if name == "flat" else model[:-1].transform(X[test])
                # The mixture's free parameters (mixexp's count: the softmaxes'
                # first column is fixed), and the projection's.
                params = mixture._n_parameters()
                if name != "flat":
                    params += model[0].components_.size + model[0].mean_.size
                gates = [mixture.predict_gate_proba(inputs)]
            scores = []
            for gate in gates:
                scores += [nmi(position[test], gate), nmi(y[test], gate)]
            results.setdefault(name, []).append([accuracy, seconds, *scores])
            cells = "".join(f" {s:6.2f}" for s in scores) + "       " * (
                4 - len(scores)
            )
            label = f"MLP {hidden}" if name == "MLP" else name
            if name.startswith("flat"):
                label = f"{name}, K={mixture.n_experts_}"
            epochs = mixture.n_iter_ if name.startswith("flat") else model.n_iter_
            print(
                f"{label:<22} {seed:>4} {params:>7} {seconds:>6.1f} "
                f"{epochs:>6} {accuracy:>8.3f}{cells}",
                flush=True,
            )
    print()
    print(f"mean over {args.seeds} seeds")
    print(
        f"{'model':<22} {'test acc':>8} {'fit s':>6} {'L1 pos':>6} {'L1 cls':>6} "
        f"{'L2 pos':>6} {'L2 cls':>6}"
    )
    for name, rows in results.items():
        mean = np.mean(rows, axis=0)
        cells = "".join(f" {s:6.2f}" for s in mean[2:])
        print(f"{name:<22} {mean[0]:>8.3f} {mean[1]:>6.1f}{cells}")
    deep = np.array(results["deep"])
    held = np.sum((deep[:, 2] > deep[:, 3]) & (deep[:, 5] > deep[:, 4]))
    print(
        f"factorization (L1 pos > L1 cls and L2 cls > L2 pos) holds for deep "
        f"in {held} of {args.seeds} seeds"
    )


if __name__ == "__main__":
    main()
