"""
=================================================
Robust experts: t noise against outliers
=================================================

In the tone perception data (Cohen 1980) a musician tuned a tone against
stretched overtones; the answers lie on two lines, the octave
(``tuned = 2``) and the stretch (``tuned = stretchratio``). Chamroukhi
(2016) added five outliers at (0, 4) to test the t mixture of experts:
:class:`~mixexp.experts.StudentTExpert` gives each expert t-distributed
noise with learned degrees of freedom ``df_``, so points far from an
expert's line are down-weighted instead of pulling it, while the Gaussian
noise of :class:`~mixexp.experts.LinearExpert` has to stretch to explain
them. Both mixtures have two experts and a softmax gate; both keep the most
likely of four random starts (k-means on (x, y) would make the five
identical outliers a cluster of their own).
"""

# %%
# Fit both kinds of experts, with and without the outliers
# --------------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import load_tone
from mixexp.experts import LinearExpert, StudentTExpert

X_clean, y_clean = load_tone(return_X_y=True)
X, y = load_tone(outliers=True, return_X_y=True)  # the 5 outliers come first

experts = {"Gaussian": LinearExpert(), "t": StudentTExpert()}
fits = {}
for name, expert in experts.items():
    for data, (X_fit, y_fit) in [("clean", (X_clean, y_clean)), ("outliers", (X, y))]:
        model = MixtureOfExpertsRegressor(
            2, expert=expert, init="random", n_init=4, tol=1e-6, random_state=0
        )
        fits[name, data] = model.fit(X_fit, y_fit)


def lines(model):
    """(intercept, slope) of each expert, the flatter line first."""
    pairs = np.c_[model.experts_.intercept_, model.experts_.coef_[:, 0]]
    return pairs[np.argsort(np.abs(pairs[:, 1]))]


def line_shift(first, second):
    """Largest change of an intercept or slope between two fits, under the
    matching of their experts that makes it smallest."""
    a, b = lines(first), lines(second)
    return min(np.abs(a - b).max(), np.abs(a - b[::-1]).max())


print(f"{'experts':>9} {'data':>9}  {'line 1 (a + b x)':>18}  {'line 2 (a + b x)':>18}")
for (name, data), model in fits.items():
    text = "  ".join(f"{a:>8.3f} + {b:>6.3f} x" for a, b in lines(model))
    print(f"{name:>9} {data:>9}  {text}")
for name in experts:
    shift = line_shift(fits[name, "clean"], fits[name, "outliers"])
    print(f"{name} experts: the outliers move a line by up to {shift:.3f}")

# %%
# Without outliers both find the octave line (about 2 + 0 x) and the stretch
# line (about 0 + 1 x). With them, one Gaussian expert goes to the outliers
# and the other settles between the two lines, so both regimes are lost; the
# t experts' lines barely move.
#
# The learned degrees of freedom
# ------------------------------
# Small ``df_`` means heavy tails (below 1 the t has no mean). The t experts
# have heavy tails even on the clean data, whose points do not all lie on
# the two lines. The outliers go to the octave expert (line 1), whose
# degrees of freedom fall to take them in.
for data in ["clean", "outliers"]:
    model = fits["t", data]
    order = np.argsort(np.abs(model.experts_.coef_[:, 0]))
    df = np.round(model.experts_.df_[order], 2)
    print(f"t experts, {data:>8}: df_ of line 1, line 2 = {df}")
model = fits["t", "outliers"]
order = np.argsort(np.abs(model.experts_.coef_[:, 0]))
outlier_resp = model.responsibilities(X[:5], y[:5])[:, order].mean(axis=0)
print(f"mean responsibility for the 5 outliers: {np.round(outlier_resp, 3)}")

# %%
# The fitted lines over the data
# ------------------------------
# Solid: the fits with the outliers; dotted: the fits without them. Both
# regimes cover the same stretch ratios, so no boundary in x separates them:
# the gate only shifts the proportions of the two lines along x.
grid = np.linspace(0, 3.1, 300)[:, None]
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
for ax, name in zip(axes, experts, strict=True):
    ax.scatter(X[5:, 0], y[5:], s=10, color="0.6", label="tone data")
    ax.scatter(X[:5, 0], y[:5], s=40, marker="x", color="C3", label="5 outliers")
    for data, style in [("outliers", "-"), ("clean", ":")]:
        for k, (intercept, slope) in enumerate(lines(fits[name, data])):
            ax.plot(
                grid[:, 0],
                intercept + slope * grid[:, 0],
                style,
                color=f"C{k}",
                lw=2 if data == "outliers" else 1.5,
                label=f"line {k + 1}, {data}",
            )
    ax.set(title=f"{name} experts", xlabel="stretch ratio", ylim=(-0.5, 4.5))
axes[0].set_ylabel("tuned ratio")
axes[0].legend(loc="lower right", fontsize=8)
fig.tight_layout()
plt.show()
