"""
===============================================
Choosing the number of experts: BIC and CV
===============================================

Two standard ways to pick ``n_experts``: the Bayesian information criterion of
models fitted on all the training data (``bic``, lower is better; it counts
every free parameter of the gate and the experts), and cross-validated R²
with :class:`~sklearn.model_selection.GridSearchCV`. The data are three linear
pieces with jumps, so three experts is the truth.
"""

# %%
# Fit one model per candidate K and score it both ways
# ----------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, KFold

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_piecewise_linear

X, y = make_piecewise_linear(600, noise=0.3, random_state=0)
candidates = np.arange(1, 7)

bic = [
    MixtureOfExpertsRegressor(k, n_init=3, random_state=0).fit(X, y).bic(X, y)
    for k in candidates
]
search = GridSearchCV(
    MixtureOfExpertsRegressor(n_init=3, random_state=0),
    {"n_experts": candidates},
    cv=KFold(5, shuffle=True, random_state=0),
).fit(X, y)
cv_score = search.cv_results_["mean_test_score"]
cv_error = search.cv_results_["std_test_score"] / np.sqrt(5)

best_bic = candidates[int(np.argmin(bic))]
best_cv = search.best_params_["n_experts"]
print(f"{'K':>3} {'BIC':>10} {'CV R2':>8}")
for k, b, s in zip(candidates, bic, cv_score, strict=True):
    print(f"{k:>3} {b:>10.1f} {s:>8.4f}")
print(f"BIC chooses K = {best_bic}; cross-validation chooses K = {best_cv}")

# %%
# BIC keeps falling until the model has the three pieces, then rises by the
# cost of the extra parameters; cross-validated R² rises to a plateau and the
# grid search takes its highest point, which can be a larger K whose extra
# experts barely change the fit.
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
left.plot(candidates, bic, "o-")
left.axvline(best_bic, color="C3", ls="--", label=f"chosen K = {best_bic}")
left.set_xlabel("n_experts")
left.set_ylabel("BIC (lower is better)")
left.legend()
right.errorbar(candidates, cv_score, yerr=cv_error, fmt="o-")
right.axvline(best_cv, color="C3", ls="--", label=f"chosen K = {best_cv}")
right.set_xlabel("n_experts")
right.set_ylabel("5-fold CV R² (± s.e.)")
right.legend()
fig.tight_layout()
plt.show()
