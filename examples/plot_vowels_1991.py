"""
==============================================
The vowel task of Jacobs et al. (1991)
==============================================

The paper that introduced the adaptive mixture of local experts tested it on
the Peterson & Barney (1952) vowels: the four vowels [i] [I] [a] [Λ] (X-SAMPA
``i I A V``), said twice by men, women and children, classified from the first
two formant frequencies F1 and F2, training on speakers 1-50 and testing on
speakers 51-75, so that the test is speaker-independent. The paper reports about
90% test accuracy both for four experts and for backpropagation with six
hidden units. Here four logistic experts (fitted by EM) are compared with
scikit-learn's :class:`~sklearn.neural_network.MLPClassifier` with six hidden
units, both on standardized formants.
"""

# %%
# The paper's split: speakers 1-50 for training, 51-75 for testing
# ------------------------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mixexp import MixtureOfExpertsClassifier
from mixexp.datasets import load_vowels

data = load_vowels(vowels=("i", "I", "A", "V"), features=("f1", "f2"))
train = data.speaker <= 50
test = (data.speaker > 50) & (data.speaker <= 75)
X, y = data.data[train], data.target[train]
X_test, y_test = data.data[test], data.target[test]
print(f"{train.sum()} training and {test.sum()} test utterances")

# %%
# Four experts against a network with six hidden units
# ----------------------------------------------------
# The network's result depends on its random initial weights, so it is
# trained from five seeds.
moe = make_pipeline(StandardScaler(), MixtureOfExpertsClassifier(4, random_state=0))
moe.fit(X, y)
mixture = moe[-1]
print(f"mixture of 4 experts: test accuracy {moe.score(X_test, y_test):.3f}")

mlp_scores = []
for seed in range(5):
    mlp = make_pipeline(
        StandardScaler(),
        MLPClassifier((6,), solver="lbfgs", max_iter=2000, random_state=seed),
    ).fit(X, y)
    mlp_scores.append(mlp.score(X_test, y_test))
print(
    f"MLP, 6 hidden units:  test accuracy {np.mean(mlp_scores):.3f} "
    f"(5 seeds, {min(mlp_scores):.3f} to {max(mlp_scores):.3f})"
)

# %%
# Both are close to the paper's 90%; the mixture's accuracy is above the
# best of the network's five.
#
# What each expert does
# ---------------------
# The share of the training utterances the gate sends to each expert, and
# which vowels those utterances are (weighted by the gate).
gate = mixture.predict_gate_proba(moe[0].transform(X))
print(f"\n{'':>9} {'gate share':>10}   vowels it handles")
for k in range(mixture.n_experts):
    share = np.array([gate[y == c, k].sum() for c in mixture.classes_])
    share /= gate[:, k].sum()
    top = np.argsort(share)[::-1][:2]
    handles = ", ".join(f"[{mixture.classes_[c]}] {share[c]:.2f}" for c in top)
    print(f"expert {k} {gate[:, k].mean():>10.2f}   {handles}")

# %%
# Two experts share the [i] and [I] utterances, the other two the [A] and [V]
# ones: each expert draws the boundary between two vowels in its own part of
# formant space.
#
# The experts' regions in formant space
# -------------------------------------
# Background colour: the expert in charge (the argmax of the gate), its
# opacity the gate's largest probability. Points: the training utterances,
# coloured by vowel. Black lines: the mixture's class boundaries.
extent = (150, 1150, 600, 3300)
f1, f2 = np.meshgrid(np.linspace(*extent[:2], 300), np.linspace(*extent[2:], 300))
grid = np.column_stack([f1.ravel(), f2.ravel()])
grid_gate = mixture.predict_gate_proba(moe[0].transform(grid))
colours = plt.get_cmap("Pastel2")(grid_gate.argmax(axis=1))
colours[:, 3] = grid_gate.max(axis=1)
predicted = moe.predict(grid).reshape(f1.shape)

fig, ax = plt.subplots(figsize=(7, 5.5))
ax.imshow(colours.reshape(*f1.shape, 4), origin="lower", extent=extent, aspect="auto")
for c in mixture.classes_:
    ax.contour(f1, f2, (predicted == c).astype(float), levels=[0.5], colors="k")
for c in mixture.classes_:
    ax.scatter(*X[y == c].T, s=10, label=f"[{c}]")
regions = [
    plt.Rectangle((0, 0), 1, 1, color=plt.get_cmap("Pastel2")(k), label=f"expert {k}")
    for k in range(mixture.n_experts)
]
ax.legend(handles=ax.get_legend_handles_labels()[0] + regions, fontsize=8, ncol=2)
ax.set(xlabel="F1 (Hz)", ylabel="F2 (Hz)", title="Vowels: the gate's regions")
fig.tight_layout()
plt.show()
