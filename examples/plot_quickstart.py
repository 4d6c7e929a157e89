"""
=========================================
Quickstart: three local linear experts
=========================================

A function made of three linear pieces with jumps between them is a hard case
for one linear model and an easy one for a mixture of local experts: each
expert fits one piece, and the gate learns where each piece begins.
"""

# %%
# Fit a mixture of three linear experts
# -------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LinearRegression

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_piecewise_linear

X, y = make_piecewise_linear(1500, noise=0.3, random_state=0)
X_test, y_test = make_piecewise_linear(500, noise=0.3, random_state=1)
moe = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
linear = LinearRegression().fit(X, y)
for name, model in [("mixture of experts", moe), ("linear regression", linear)]:
    rmse = np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2))
    print(f"{name:>20}: test RMSE {rmse:.3f} (noise sd 0.300)")

# %%
# Each expert's line, drawn where the gate puts it in charge
# ----------------------------------------------------------
grid = np.linspace(-3, 3, 600)[:, None]
gate = moe.predict_gate_proba(grid)
experts = moe.predict_experts(grid)

fig, (top, bottom) = plt.subplots(
    2, 1, sharex=True, figsize=(7, 6), gridspec_kw={"height_ratios": [3, 1]}
)
top.scatter(X[:, 0], y, s=4, color="0.7", label="training data")
for k in range(moe.n_experts):
    colour = f"C{k}"
    top.plot(grid[:, 0], experts[:, k], color=colour, alpha=0.25)
    shown = np.where(gate[:, k] > 0.5, experts[:, k], np.nan)
    top.plot(grid[:, 0], shown, color=colour, lw=2.5, label=f"expert {k}")
    bottom.plot(grid[:, 0], gate[:, k], color=colour)
top.plot(grid[:, 0], moe.predict(grid), "k--", lw=1, label="mixture mean")
top.set_ylabel("y")
top.legend(loc="upper left")
bottom.set_xlabel("x")
bottom.set_ylabel("gate g_k(x)")
fig.tight_layout()
plt.show()
