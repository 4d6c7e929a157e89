"""
=================================================
Gaussian gate or softmax gate
=================================================

The softmax gate, ``g(x) = softmax(V^T [x, 1])``, divides the input space by
straight boundaries that run on to infinity. The Gaussian gate of Xu, Jordan
& Hinton (1995), :class:`~mixexp.gates.GaussianGate`, gives each expert a
Gaussian region of the input space, ``g_k(x)`` proportional to
``a_k N(x; m_k, S_k)``, fitted in closed form in every M-step. Which one
suits a problem depends on how its regimes are laid out, so both are fitted
here on two kinds of data: regimes that are Gaussian blobs in x, and regimes
cut by straight lines (drawn from a softmax gate).
"""

# %%
# Two problems with three linear regimes each
# -------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_mixture_regression
from mixexp.gates import GaussianGate, SoftmaxGate


def make_blob_regimes(n_samples, random_state):
    """Three Gaussian blobs in 2-D, each with its own linear function of x
    (noise sd 0.3). Returns X, y and the blob of every sample."""
    rng = np.random.RandomState(random_state)
    centres = np.array([[-2.0, -1.0], [2.0, -1.5], [0.0, 2.0]])
    covariances = np.array(
        [[[1.0, 0.6], [0.6, 1.0]], [[0.5, 0.0], [0.0, 1.5]], [[1.5, -0.4], [-0.4, 0.5]]]
    )
    coef = np.array([[1.0, -2.0], [-1.5, 0.5], [0.5, 2.0]])
    intercept = np.array([0.0, 2.0, -1.0])
    blob = rng.randint(3, size=n_samples)
    noise = rng.standard_normal((n_samples, 2))
    X = centres[blob] + np.einsum(
        "nij,nj->ni", np.linalg.cholesky(covariances)[blob], noise
    )
    y = np.sum(X * coef[blob], axis=1) + intercept[blob]
    return X, y + 0.3 * rng.standard_normal(n_samples), blob


X_blobs, y_blobs, regime_blobs = make_blob_regimes(2000, random_state=0)
X_planes, y_planes, params = make_mixture_regression(
    2000, n_features=2, n_experts=3, noise=0.3, random_state=0, return_params=True
)
problems = {
    "Gaussian blobs": (X_blobs, y_blobs, regime_blobs),
    "half-planes": (X_planes, y_planes, params["expert"]),
}

# %%
# Fit both gates on each, score on held-out halves
# ------------------------------------------------
# The first 1000 rows train, the last 1000 test. ``score`` is R² of the
# mixture mean; ``log_likelihood`` is the log-likelihood ``log p(y | x)`` of
# each test point, which also judges the predicted spread.
gates = {
    "softmax": SoftmaxGate(),
    "Gaussian": GaussianGate(covariance_type="full"),
}
models = {}
print(f"{'data':>15} {'gate':>9} {'EM iters':>9} {'test R2':>8} {'test log-lik':>13}")
for data_name, (X, y, _) in problems.items():
    for gate_name, gate in gates.items():
        model = MixtureOfExpertsRegressor(3, gate=gate, random_state=0)
        model.fit(X[:1000], y[:1000])
        models[data_name, gate_name] = model
        r2 = model.score(X[1000:], y[1000:])
        loglik = model.log_likelihood(X[1000:], y[1000:]).mean()
        print(
            f"{data_name:>15} {gate_name:>9} {model.n_iter_:>9} "
            f"{r2:>8.4f} {loglik:>13.4f}"
        )

# %%
# Each gate wins on its own kind of data, by a small margin on both scores:
# the Gaussian gate where the regimes are blobs (in 5 EM iterations against 10
# here), the softmax gate where they are half-planes, whose straight,
# unbounded boundaries the Gaussian regions can only approximate.
blob_gate = models["Gaussian blobs", "Gaussian"].gate_
print(
    "\nGaussian gate's region centres on the blobs (true: (-2, -1), (2, -1.5), (0, 2)):"
)
print(np.round(blob_gate.means_, 2))

# %%
# The two gates' regions
# ----------------------
# Colour: the expert in charge (argmax of ``predict_gate_proba``), its
# opacity the gate's largest probability. Points: the training inputs,
# marked by the regime that generated them. Ellipses: the Gaussian gate's
# regions (two standard deviations).
fig, axes = plt.subplots(2, 2, figsize=(10, 9))
for row, (data_name, (X, _, regime)) in zip(axes, problems.items(), strict=True):
    low, high = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    x0, x1 = np.meshgrid(
        np.linspace(low[0], high[0], 250), np.linspace(low[1], high[1], 250)
    )
    grid = np.column_stack([x0.ravel(), x1.ravel()])
    for ax, gate_name in zip(row, gates, strict=True):
        model = models[data_name, gate_name]
        gate = model.predict_gate_proba(grid)
        colours = plt.get_cmap("Pastel1")(gate.argmax(axis=1))
        colours[:, 3] = gate.max(axis=1)
        ax.imshow(
            colours.reshape(*x0.shape, 4),
            origin="lower",
            extent=(low[0], high[0], low[1], high[1]),
            aspect="auto",
        )
        for r, marker in enumerate(["o", "s", "^"]):
            mask = regime[:1000] == r
            ax.scatter(*X[:1000][mask].T, s=6, marker=marker, c="k", alpha=0.5)
        if gate_name == "Gaussian":
            for mean, cov in zip(
                model.gate_.means_, model.gate_.covariances_, strict=True
            ):
                values, vectors = np.linalg.eigh(cov)
                angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
                width, height = 4 * np.sqrt(values[::-1])
                ax.add_patch(
                    Ellipse(mean, width, height, angle=angle, fill=False, lw=1.5)
                )
        ax.set(title=f"{data_name}: {gate_name} gate", xlabel="x0", ylabel="x1")
fig.tight_layout()
plt.show()
