"""
=====================================================
Cooperative, competitive and likelihood objectives
=====================================================

Jacobs, Jordan, Nowlan & Hinton (1991) compare three error functions for
training a gate and its experts by gradient descent (``solver="gd"``):

* eq. 1.1, ``loss="cooperative"``: ``||y - sum_k g_k o_k||^2``, the error of
  the gate's blend of the experts' outputs. Only the blend is judged, so an
  expert can be wrong on its own as long as another one compensates:
  the experts cooperate, and the gate mixes them.
* eq. 1.2, ``loss="competitive"``: ``sum_k g_k ||y - o_k||^2``, each expert
  judged on its own error where the gate sends it. The gate learns to send
  each input to the expert that is best there, so the experts compete and
  specialize.
* eq. 1.3, ``loss="likelihood"``: ``-log sum_k g_k N(y; o_k, s_k^2)``, the
  negative log-likelihood of the mixture, which also makes the experts
  compete; it is the objective EM maximizes.

The data are three linear pieces that join without jumps, so a smooth blend
of lines can also fit them, and the objectives are free to differ.
"""

# %%
# Three continuous linear pieces
# ------------------------------
import matplotlib.pyplot as plt
import numpy as np

from mixexp import MixtureOfExpertsRegressor


def make_kinked_line(n_samples, random_state):
    """y = 2x + 4 (x < -1), 0.5 - 1.5x (-1 <= x < 1), 2x - 3 (x >= 1), plus
    noise of sd 0.3."""
    rng = np.random.RandomState(random_state)
    x = rng.uniform(-3, 3, n_samples)
    f = np.where(x < -1, 2 * x + 4, np.where(x < 1, 0.5 - 1.5 * x, 2 * x - 3))
    return x[:, None], f + 0.3 * rng.standard_normal(n_samples)


X, y = make_kinked_line(600, random_state=0)
X_test, y_test = make_kinked_line(1000, random_state=1)

# %%
# One fit per objective
# ---------------------
# The same three linear experts, the same random starts (the best of three),
# only the loss differs. Besides the test R² of the blended prediction, the
# table shows the competitive error ``sum_k g_k (y - o_k)^2`` (how well the
# experts the gate picks fit on their own) next to the blend's squared error,
# and the mean of the largest gate probability (1 when every input has a
# single expert in charge).
losses = ["cooperative", "competitive", "likelihood"]
models = {
    loss: MixtureOfExpertsRegressor(
        3, solver="gd", loss=loss, init="random", n_init=3, random_state=0
    ).fit(X, y)
    for loss in losses
}
print(
    f"{'loss':>12} {'test R2':>8} {'blend MSE':>10} {'experts own MSE':>16} "
    f"{'mean max gate':>14}"
)
for loss, model in models.items():
    gate = model.predict_gate_proba(X_test)
    outputs = model.predict_experts(X_test)
    own = np.mean(np.sum(gate * (y_test[:, None] - outputs) ** 2, axis=1))
    blend = np.mean((y_test - model.predict(X_test)) ** 2)
    print(
        f"{loss:>12} {model.score(X_test, y_test):>8.4f} {blend:>10.3f} "
        f"{own:>16.3f} {gate.max(axis=1).mean():>14.3f}"
    )


def line_text(intercept, slope):
    sign = "-" if slope < 0 else "+"
    return f"{intercept:>5.2f} {sign} {abs(slope):.2f} x"


print("\nthe lines of the experts in charge at x = -2, 0 and 2")
print(
    f"{'true':>12}  " + "  ".join(line_text(*p) for p in [(4, 2), (0.5, -1.5), (-3, 2)])
)
for loss, model in models.items():
    in_charge = model.predict_gate_proba([[-2.0], [0.0], [2.0]]).argmax(axis=1)
    lines = np.c_[model.experts_.intercept_, model.experts_.coef_[:, 0]]
    print(f"{loss:>12}  " + "  ".join(line_text(*lines[k]) for k in in_charge))

# %%
# All three fit the data about equally well (the noise variance is 0.09).
# The competitive and likelihood fits are made of specialists: the gate is
# nearly hard, the experts it picks are as good on their own as the blend,
# and their lines are the three pieces. The cooperative fit blends:
# its gate is softer, the experts' own errors are about three times the
# error of their blend, and the middle piece has no expert of its own: the
# line in charge there is off it (slope -0.73 against -1.5), and the blend
# makes up the difference.
#
# Each expert's line and the gate
# -------------------------------
# Thin lines: each expert's whole line; thick: where the gate gives it more
# than half the weight; dashed: the mixture's prediction.
grid = np.linspace(-3, 3, 400)[:, None]
fig, axes = plt.subplots(
    2,
    3,
    sharex=True,
    sharey="row",
    figsize=(12, 5.5),
    gridspec_kw={"height_ratios": [3, 1]},
)
for (loss, model), (top, bottom) in zip(models.items(), axes.T, strict=True):
    gate = model.predict_gate_proba(grid)
    outputs = model.predict_experts(grid)
    top.scatter(X[:, 0], y, s=3, color="0.75")
    for k in range(model.n_experts):
        top.plot(grid[:, 0], outputs[:, k], color=f"C{k}", lw=1, alpha=0.5)
        shown = np.where(gate[:, k] > 0.5, outputs[:, k], np.nan)
        top.plot(grid[:, 0], shown, color=f"C{k}", lw=2.5, label=f"expert {k}")
        bottom.plot(grid[:, 0], gate[:, k], color=f"C{k}")
    top.plot(grid[:, 0], model.predict(grid), "k--", lw=1, label="mixture")
    top.set(title=f'loss="{loss}"', ylim=(-6, 8))
    bottom.set(xlabel="x", ylim=(-0.05, 1.05))
axes[0, 0].set_ylabel("y")
axes[1, 0].set_ylabel("gate g_k(x)")
axes[0, 0].legend(loc="upper center", fontsize=8)
fig.tight_layout()
plt.show()
