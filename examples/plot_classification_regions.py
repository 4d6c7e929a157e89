"""
=================================================
Classification: where each expert is in charge
=================================================

:func:`~mixexp.datasets.make_local_classification` draws an XOR of linear
problems: each quadrant of the square has its own linear class boundary, and
the orientations alternate, so a single linear classifier is not much better
than chance. A :class:`~mixexp.MixtureOfExpertsClassifier` with four
logistic experts divides the plane with its softmax gate and gives each
region to one expert, which then only has to draw one straight line.
"""

# %%
# Fit the mixture and a single logistic regression
# ------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression

from mixexp import MixtureOfExpertsClassifier
from mixexp.datasets import make_local_classification

X, y = make_local_classification(1000, random_state=0)
X_test, y_test = make_local_classification(1000, random_state=1)

moe = MixtureOfExpertsClassifier(n_experts=4, random_state=0).fit(X, y)
logistic = LogisticRegression().fit(X, y)
print(f"EM: {moe.n_iter_} iterations, converged={moe.converged_}")
print(f"test accuracy: mixture of 4 experts {moe.score(X_test, y_test):.3f}")
print(f"test accuracy: logistic regression  {logistic.score(X_test, y_test):.3f}")

# %%
# Which expert takes which quadrant
# ---------------------------------
# Each test point goes to the expert with the largest gate probability. The
# table counts, per quadrant, how many points each expert receives, and the
# mean of the largest gate probability says how sharp the switch is.
gate_test = moe.predict_gate_proba(X_test)
in_charge = gate_test.argmax(axis=1)
quadrant = 2 * (X_test[:, 1] < 0) + (X_test[:, 0] >= 0)
names = ["upper left", "upper right", "lower left", "lower right"]
print(f"\n{'quadrant':>12}" + "".join(f"{f'expert {k}':>10}" for k in range(4)))
for q, name in enumerate(names):
    counts = np.bincount(in_charge[quadrant == q], minlength=moe.n_experts)
    print(f"{name:>12}" + "".join(f"{c:>10}" for c in counts))
print(f"mean largest gate probability: {gate_test.max(axis=1).mean():.3f}")

# %%
# Each quadrant goes almost entirely to one expert, and the gate is sure of
# itself almost everywhere. Its boundaries do not follow the axes exactly,
# though (see the figure): a few experts reach into a corner of the next
# quadrant.
#
# The gate's regions and the class boundary
# -----------------------------------------
# Colour shows the expert in charge (the argmax of ``predict_gate_proba``),
# its opacity the gate's confidence (the largest probability); the points
# are the training data (class 0 black, class 1 white), and the black line is
# each model's decision boundary, where the predicted probability is 0.5.
x0, x1 = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-2, 2, 300))
grid = np.column_stack([x0.ravel(), x1.ravel()])
gate = moe.predict_gate_proba(grid)
colours = plt.get_cmap("tab10")(gate.argmax(axis=1))
colours[:, 3] = 0.5 * gate.max(axis=1)  # alpha by confidence
image = colours.reshape(*x0.shape, 4)
proba = moe.predict_proba(grid)[:, 1].reshape(x0.shape)
proba_linear = logistic.predict_proba(grid)[:, 1].reshape(x0.shape)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
for ax, surface, title in [
    (left, proba, "mixture of 4 experts"),
    (right, proba_linear, "logistic regression"),
]:
    if ax is left:
        ax.imshow(image, origin="lower", extent=(-2, 2, -2, 2), aspect="auto")
    for label, colour in [(0, "k"), (1, "w")]:
        ax.scatter(
            *X[y == label].T,
            s=8,
            c=colour,
            edgecolor="k",
            lw=0.3,
            label=f"class {label}",
        )
    ax.contour(x0, x1, surface, levels=[0.5], colors="k", linewidths=1.5)
    ax.set(title=title, xlabel="x0", xlim=(-2, 2), ylim=(-2, 2))
left.set_ylabel("x1")
handles = [
    plt.Rectangle((0, 0), 1, 1, color=f"C{k}", alpha=0.5, label=f"expert {k}")
    for k in range(moe.n_experts)
]
left.legend(handles=handles, loc="upper center", ncol=4, fontsize=8, framealpha=0.9)
right.legend(loc="upper center", ncol=2, fontsize=8, framealpha=0.9)
fig.tight_layout()
plt.show()
