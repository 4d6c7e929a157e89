"""
====================================================
A hierarchy of gates against a flat gate
====================================================

A hierarchical mixture of experts (Jordan & Jacobs 1994) replaces the single
softmax gate by a tree of them: with ``depth=2`` the root splits the input
space in two, each child splits its half in two again, and the four leaves
are the experts. A leaf's gate probability is the product of the
probabilities along its path, and
:meth:`~mixexp.HierarchicalMixtureOfExpertsRegressor.predict_node_proba`
gives every node's.

The target here is made that way: four planes, split first by the sign of
``x0``, then by ``x1`` at a different place in each half (``x1 = 0.5`` on the
left, ``x1 = -0.5`` on the right). A flat softmax gate's regions are where
one of four affine functions is largest. Such regions cannot reproduce this
split exactly (the two x1 boundaries at different heights force the
boundary between the halves to bend), while the tree draws it with one
straight line per node.
"""

# %%
# Four planes, split by x0 and then by x1
# ---------------------------------------
import matplotlib.pyplot as plt
import numpy as np

from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor


def make_nested_planes(n_samples, random_state):
    """Four planes on [-2, 2]^2: x0 < 0 split at x1 = 0.5, x0 >= 0 split at
    x1 = -0.5; noise sd 0.2."""
    rng = np.random.RandomState(random_state)
    X = rng.uniform(-2, 2, size=(n_samples, 2))
    x0, x1 = X.T
    left = np.where(x1 < 0.5, 1 + x0 + 2 * x1, -2 - x0 + x1)
    right = np.where(x1 < -0.5, 3 - 2 * x0 - x1, -1 + 2 * x0 - 2 * x1)
    y = np.where(x0 < 0, left, right) + 0.2 * rng.standard_normal(n_samples)
    return X, y


X, y = make_nested_planes(2000, random_state=0)
X_test, y_test = make_nested_planes(2000, random_state=1)

# %%
# A depth-2 tree and a flat mixture, four linear experts each
# -----------------------------------------------------------
hme = HierarchicalMixtureOfExpertsRegressor(depth=2, random_state=0).fit(X, y)
flat = MixtureOfExpertsRegressor(n_experts=4, random_state=0).fit(X, y)
floor_r2 = 1 - 0.2**2 / np.var(y_test)
floor_loglik = -0.5 * np.log(2 * np.pi * 0.2**2) - 0.5
strip = np.abs(X_test[:, 0]) < 0.05
print(
    f"{'model':>20} {'EM iters':>9} {'test R2':>8} {'test log-lik':>13} "
    f"{'squared error: all':>19} {'|x0| < 0.05':>12}"
)
for name, model in [("hierarchy, depth 2", hme), ("flat, 4 experts", flat)]:
    error = (model.predict(X_test) - y_test) ** 2
    print(
        f"{name:>20} {model.n_iter_:>9} {model.score(X_test, y_test):>8.4f} "
        f"{model.log_likelihood(X_test, y_test).mean():>13.3f} "
        f"{error.sum():>19.1f} {error[strip].sum():>12.1f}"
    )
print(f"{'noise only':>20} {'':>9} {floor_r2:>8.4f} {floor_loglik:>13.3f}")
print(f"{strip.sum()} of {len(y_test)} test points have |x0| < 0.05")
print(
    f"largest gate weight: hierarchy {np.abs(hme.gate_.coef_).max():.0f}, "
    f"flat {np.abs(flat.gate_.coef_).max():.0f}"
)

# %%
# The root's split
# ----------------
# Nodes are numbered breadth first: 0 is the root, 1 and 2 its children, 3-6
# the leaves. Column 1 of ``predict_node_proba`` is the probability that the
# root sends x to node 1, the sum of the gate probabilities of node 1's
# leaves, 3 and 4 (the experts 0 and 1).
nodes = hme.predict_node_proba(X_test)
np.testing.assert_allclose(nodes[:, 1], nodes[:, 3] + nodes[:, 4])
to_node_1 = nodes[:, 1] > 0.5
right_half = X_test[:, 0] >= 0
agreement = max(np.mean(to_node_1 == right_half), np.mean(to_node_1 != right_half))
print(f"the root's split agrees with the sign of x0 on {agreement:.2%} of test points")

# %%
# The tree fits nearly at the noise level. The flat gate comes close, with
# very large weights on x0, but most of its extra error is in the thin strip
# around x0 = 0 where its regions must bend.
#
# Regions of the leaves, the root's split and the flat gate's regions
# -------------------------------------------------------------------
# Colour: the expert with the largest gate probability, its opacity that
# probability. Dashed: the true boundaries of the four planes.
extent = (-2, 2, -2, 2)


def region_image(model, x0_range, size=250):
    """The expert in charge on a grid over x0_range x [-2, 2], as RGBA."""
    x0, x1 = np.meshgrid(np.linspace(*x0_range, size), np.linspace(-2, 2, size))
    gate = model.predict_gate_proba(np.column_stack([x0.ravel(), x1.ravel()]))
    colours = plt.get_cmap("tab10")(gate.argmax(axis=1))
    colours[:, 3] = 0.6 * gate.max(axis=1)
    return colours.reshape(size, size, 4)


def true_boundaries(ax):
    ax.axvline(0, color="k", ls="--", lw=1)
    ax.plot([-2, 0], [0.5, 0.5], "k--", lw=1)
    ax.plot([0, 2], [-0.5, -0.5], "k--", lw=1)


x0, x1 = np.meshgrid(np.linspace(-2, 2, 250), np.linspace(-2, 2, 250))
node_1 = hme.predict_node_proba(np.column_stack([x0.ravel(), x1.ravel()]))[:, 1]
fig, axes = plt.subplots(1, 3, figsize=(13, 4.3), sharey=True)
axes[0].imshow(region_image(hme, (-2, 2)), origin="lower", extent=extent)
axes[0].set_title("hierarchy: the leaves' regions")
image = axes[1].imshow(
    node_1.reshape(x0.shape),
    origin="lower",
    extent=extent,
    cmap="RdBu",
    vmin=0,
    vmax=1,
)
axes[1].set_title("hierarchy: the root's P(node 1)")
fig.colorbar(image, ax=axes[1], fraction=0.046)
axes[2].imshow(region_image(flat, (-2, 2)), origin="lower", extent=extent)
axes[2].set_title("flat gate: its regions")
for ax in axes:
    true_boundaries(ax)
    ax.set_xlabel("x0")
axes[0].set_ylabel("x1")
fig.tight_layout()

# %%
# Close to x0 = 0
# ---------------
# The same regions on -0.1 <= x0 <= 0.1 (the horizontal axis is stretched
# 20 times): the tree's boundary between the halves is a straight line, the
# flat gate's bends where its x1 boundaries meet it.
zoom = (-0.1, 0.1, -2, 2)
fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
for ax, model, title in [(axes[0], hme, "hierarchy"), (axes[1], flat, "flat gate")]:
    ax.imshow(region_image(model, zoom[:2]), origin="lower", extent=zoom, aspect="auto")
    true_boundaries(ax)
    ax.set(title=title, xlabel="x0", xlim=zoom[:2])
axes[0].set_ylabel("x1")
fig.tight_layout()
plt.show()
