"""
======================================================
Standard errors, Wald tables and the number of experts
======================================================

The patent data (Wang, Cockburn & Puterman 1998; flexmix's concomitant
variable example, Grün & Leisch 2008): the number of patents of 70
pharmaceutical companies against the log of their R&D spending
(``lgRD``), with three Poisson regression experts and a softmax gate on
R&D spending over sales (``RDS``). :func:`~mixexp.inference.coef_table`
gives each coefficient's standard error from the observed information of
the mixture's log-likelihood (Louis 1982), as flexmix's ``refit()`` does,
and :func:`~mixexp.inference.summary` prints it; the gate's rows are the
log-odds of each expert against expert 0. flexmix reports the same
log-likelihood (-197.675) and standard errors within 1%.
:class:`~mixexp.inspection.CoefficientDisplay` draws the table, and
:func:`~mixexp.inference.bootstrap_lrt` tests two experts against three by
the parametric bootstrap (McLachlan 1987).
"""

# %%
# Fit the concomitant model
# -------------------------
import matplotlib.pyplot as plt
import pandas as pd

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import load_patent
from mixexp.experts import PoissonExpert
from mixexp.inference import bootstrap_lrt, coef_table, summary
from mixexp.inspection import CoefficientDisplay

patent = load_patent()
X = pd.DataFrame(patent.data, columns=patent.feature_names)
y = patent.target

model = MixtureOfExpertsRegressor(
    3,
    expert=PoissonExpert(),
    gate_features=["RDS"],
    expert_features=["lgRD"],
    init="random",  # k-means starts all end at a local optimum (-199.6)
    n_init=20,
    tol=1e-10,
    max_iter=2000,
    random_state=0,
).fit(X, y)
print(f"log-likelihood: {model.log_likelihood(X, y).sum():.3f}")

# %%
# The Wald table
# --------------
table = coef_table(model, X, y)
print(summary(table))

# %%
# The same as a forest plot
# -------------------------
display = CoefficientDisplay.from_estimator(model, X, y)
display.ax_.set_title("Patents: Poisson experts on lgRD, gate on RDS")
plt.tight_layout()

# %%
# How many experts?
# -----------------
# The bootstrap distribution of -2 (l2 - l3) under the fitted two-expert
# model (19 replicates here; use a few hundred for a real test).
settings = model.set_params(n_init=5, tol=1e-6, max_iter=500)
test = bootstrap_lrt(settings, X, y, n_experts=(2, 3), n_boot=19, random_state=0)
print(f"statistic {test.statistic:.2f}, bootstrap p-value {test.p_value:.2f}")
plt.show()
