"""
=====================================================
Tuning a mixture in a pipeline with GridSearchCV
=====================================================

The estimators are ordinary scikit-learn estimators, and their gate and
experts are components with parameters of their own, so a
:class:`~sklearn.model_selection.GridSearchCV` can tune the number of
experts and, through the ``gate__`` prefix, the gate's L2 penalty
(``expert__alpha`` tunes the experts' ridge penalty the same way), with the
mixture inside a :class:`~sklearn.pipeline.Pipeline` after a
:class:`~sklearn.preprocessing.StandardScaler`.

The data are drawn from a planted mixture of three linear experts with a
softmax gate in ten dimensions, with only 300 training samples: few enough
that the gate's penalty matters.
"""

# %%
# Data, pipeline and grid
# -----------------------
import matplotlib.pyplot as plt
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_mixture_regression
from mixexp.gates import SoftmaxGate

X, y = make_mixture_regression(
    2300, n_features=10, n_experts=3, noise=1.0, random_state=0
)
X, X_test, y, y_test = X[:300], X[300:], y[:300], y[300:]

pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        # Four starts per fit: on 200 rows per fold in ten dimensions a single
        # EM run ends in a poorer optimum in some folds.
        (
            "moe",
            MixtureOfExpertsRegressor(gate=SoftmaxGate(), n_init=4, random_state=0),
        ),
    ]
)
n_experts = [1, 2, 3, 4, 5]
gate_alpha = [1e-6, 0.01, 0.1, 1.0]
search = GridSearchCV(
    pipe,
    {"moe__n_experts": n_experts, "moe__gate__alpha": gate_alpha},
    cv=KFold(3, shuffle=True, random_state=0),
).fit(X, y)

# %%
# The best setting and its scores
# -------------------------------
# ``best_score_`` is the mean R² over the three held-out folds; the refitted
# best pipeline is then scored on 2000 fresh samples.
print(f"best parameters: {search.best_params_}")
print(f"cross-validated R2 of the best: {search.best_score_:.3f}")
print(
    f"R2 of the refitted best on 2000 test samples: {search.score(X_test, y_test):.3f}"
)

# %%
# All the cross-validated scores
# ------------------------------
# ``cv_results_`` lists the candidates with the parameter names sorted
# (``moe__gate__alpha`` varies slowest), so the scores reshape to a table
# with one row per penalty.
scores = search.cv_results_["mean_test_score"].reshape(len(gate_alpha), len(n_experts))
print(f"\n{'gate alpha':>10}" + "".join(f"{f'K={k}':>8}" for k in n_experts))
for alpha, row in zip(gate_alpha, scores, strict=True):
    print(f"{alpha:>10g}" + "".join(f"{s:>8.3f}" for s in row))

# %%
# With one or two experts the penalty changes little. With three or more,
# a light penalty (``alpha=0.01``) scores best for every K, above the nearly
# unpenalized gate (``alpha=1e-6``), whose sharp switches can follow the
# noise of 200 training rows per fold in ten dimensions; from ``alpha=0.1``
# on, the gate is too stiff to draw the regions. Cross-validation picks the
# true number of experts, three. Four or five experts are more than 200 rows
# support: some folds' fits drop an expert that explains fewer rows than it
# has parameters, and warn.
fig, ax = plt.subplots(figsize=(6.5, 4))
for alpha, row in zip(gate_alpha, scores, strict=True):
    ax.plot(n_experts, row, "o-", label=f"gate__alpha = {alpha:g}")
best = search.best_params_
ax.plot(best["moe__n_experts"], search.best_score_, "k*", ms=14, label="best")
ax.set(xlabel="n_experts", ylabel="3-fold CV R²", xticks=n_experts)
ax.legend()
fig.tight_layout()
plt.show()
