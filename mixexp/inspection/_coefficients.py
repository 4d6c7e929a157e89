"""A forest plot of the coefficient table of mixexp.inference."""

import numpy as np

from ._common import check_matplotlib, import_pyplot, new_axes, select_colors

_NEEDED = ("part", "expert", "output", "term", "estimate", "ci_low", "ci_high")


def _is_scale(term):
    """Whether a term is a variance, a covariance or a t's degrees of
    freedom (not a coefficient)."""
    return term in ("variance", "df") or str(term).startswith("cov(")


def _tree_rows(table):
    """Which rows are a tree gate's node parameters."""
    part = np.asarray(table["part"], dtype=object)
    node = np.asarray(table.get("node", np.full(part.shape, -1)))
    return (part == "gate") & (node >= 0)


def _row_keys(table, include_variance):
    """The kept rows of the table, the key of each (its line in the plot)
    and the distinct keys in order of appearance."""
    term = np.asarray(table["term"], dtype=object)
    scale = np.array([_is_scale(t) for t in term], dtype=bool)
    kept = np.flatnonzero(include_variance | ~scale)
    part = np.asarray(table["part"], dtype=object)
    output = np.asarray(table["output"])
    tree = _tree_rows(table)
    several = len(np.unique(output[part == "expert"])) > 1
    keys = []
    for i in kept:
        if tree[i]:
            keys.append(
                f"gate node {table['node'][i]}, {table['expert'][i]}: {term[i]}"
            )
        elif part[i] == "gate":
            keys.append(f"gate: {term[i]}")
        else:
            keys.append((f"[{output[i]}] " if several else "") + str(term[i]))
    return kept, keys, list(dict.fromkeys(keys))


class CoefficientDisplay:
    """Forest plot of every expert's and the gate's coefficients.

    One line per term (each expert's terms, then the gate's log-odds
    against expert 0, labelled ``gate: term``; a tree gate's rows, one
    line each in black, ``gate node j, c: term`` for child node c of node
    j against its first child); on each line the experts
    side by side, each a point at its estimate with its confidence
    interval, in its colour, and a vertical line at zero. Use
    :meth:`from_estimator` to make one from a fitted mixture, or pass a
    table of :func:`mixexp.inference.coef_table`.

    Parameters
    ----------
    table : dict
        A :func:`~mixexp.inference.coef_table`: equal-length 1-D arrays
        ``part``, ``expert``, ``output``, ``term``, ``estimate``, ``ci_low``
        and ``ci_high``.

    Attributes
    ----------
    errorbars_ : list of matplotlib ErrorbarContainer
        One per expert (None for an expert with no row shown).
    node_errorbar_ : matplotlib ErrorbarContainer or None
        A tree gate's rows (None without them).
    zero_line_ : matplotlib Line2D
        The vertical line at zero.
    row_labels_ : list of str
        The label of each line, top to bottom.
    expert_colors_ : ndarray of shape (n_experts, 4)
        RGBA colour of every expert.
    ax_ : matplotlib Axes
        Axes with the plot.
    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    mixexp.inference.coef_table : The table drawn here.
    mixexp.inference.summary : The table as text.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from mixexp.inspection import CoefficientDisplay
    >>> table = {
    ...     "part": np.array(["expert", "expert", "gate"], dtype=object),
    ...     "expert": np.array([0, 1, 1]),
    ...     "output": np.array([0, 0, 0]),
    ...     "term": np.array(["x0", "x0", "x0"], dtype=object),
    ...     "estimate": np.array([1.0, -1.0, 2.0]),
    ...     "ci_low": np.array([0.5, -1.5, 1.0]),
    ...     "ci_high": np.array([1.5, -0.5, 3.0]),
    ... }
    >>> CoefficientDisplay(table=table).plot().row_labels_
    ['x0', 'gate: x0']
    >>> plt.close("all")
    """

    def __init__(self, *, table):
        self.table = table

    def plot(
        self,
        ax=None,
        *,
        expert_colors=None,
        include_variance=False,
        errorbar_kw=None,
        xlabel=None,
    ):
        """Draw the estimates and their intervals.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        expert_colors : str or list of matplotlib colours, default=None
            A colormap name or one colour per expert; None is "tab10" (up to
            10 experts), as in the other displays.
        include_variance : bool, default=False
            Also draw the experts' noise variances, covariances and degrees
            of freedom (on other scales than the coefficients, so left out
            by default).
        errorbar_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.errorbar`.
        xlabel : str, default=None
            Label of the x axis; None says "estimate and confidence
            interval".

        Returns
        -------
        display : CoefficientDisplay
            The display, with the artists as attributes.
        """
        mpl, plt = import_pyplot("CoefficientDisplay.plot")
        missing = [name for name in _NEEDED if name not in self.table]
        if missing:
            raise ValueError(
                f"table lacks the columns {missing}; pass the dict "
                "mixexp.inference.coef_table returns."
            )
        ax = new_axes(plt, ax)
        table = self.table
        kept, keys, lines = _row_keys(table, include_variance)
        expert = np.asarray(table["expert"], dtype=int)
        tree = _tree_rows(table)
        expert = np.where(tree, -1, expert)  # a tree gate's rows are drawn apart
        n_experts = int(expert.max()) + 1 if expert.size else 0
        self.expert_colors_ = select_colors(
            mpl, expert_colors, n_experts, "tab10", "expert_colors"
        )
        line_of = np.array([lines.index(key) for key in keys], dtype=float)
        spread = 0.8 / max(n_experts, 1)
        estimate = np.asarray(table["estimate"], dtype=float)[kept]
        low = np.asarray(table["ci_low"], dtype=float)[kept]
        high = np.asarray(table["ci_high"], dtype=float)[kept]
        self.errorbars_ = []
        for k in range(n_experts):
            mine = expert[kept] == k
            if not np.any(mine):
                self.errorbars_.append(None)
                continue
            position = line_of[mine] + (k - (n_experts - 1) / 2) * spread
            kw = {
                "fmt": "o",
                "color": self.expert_colors_[k],
                "capsize": 3,
                "label": f"expert {k}",
            } | (errorbar_kw or {})
            self.errorbars_.append(
                ax.errorbar(
                    estimate[mine],
                    position,
                    xerr=[estimate[mine] - low[mine], high[mine] - estimate[mine]],
                    **kw,
                )
            )
        self.node_errorbar_ = None
        mine = tree[kept]
        if np.any(mine):
            kw = {"fmt": "s", "color": "k", "capsize": 3, "label": "gate nodes"}
            self.node_errorbar_ = ax.errorbar(
                estimate[mine],
                line_of[mine],
                xerr=[estimate[mine] - low[mine], high[mine] - estimate[mine]],
                **(kw | (errorbar_kw or {})),
            )
        self.zero_line_ = ax.axvline(0.0, color="k", linewidth=0.8, linestyle="--")
        ax.set_yticks(np.arange(len(lines)), lines)
        ax.set_ylim(len(lines) - 0.5, -0.5)  # the first line on top
        ax.legend(fontsize="small")
        default = "estimate and confidence interval"
        if xlabel is not None or not ax.get_xlabel():
            ax.set_xlabel(default if xlabel is None else xlabel)
        self.row_labels_ = lines
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        sample_weight=None,
        method="observed",
        alpha=0.05,
        n_boot=200,
        random_state=None,
        expert_colors=None,
        include_variance=False,
        ax=None,
    ):
        """Plot the coefficient table of a fitted mixture.

        Parameters
        ----------
        estimator : estimator object
            A fitted mixture (or a CV estimator, or a Pipeline ending in
            one), as for :func:`~mixexp.inference.coef_table`.
        X : array-like of shape (n_samples, n_features)
            The inputs the model was fitted on.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            The fit's sample weights.
        method : {"observed", "bootstrap"}, default="observed"
            How the standard errors are computed (see ``coef_table``).
        alpha : float, default=0.05
            The intervals have coverage ``1 - alpha``.
        n_boot : int, default=200
            Bootstrap refits (``method="bootstrap"``).
        random_state : int, RandomState instance or None, default=None
            Seeds the bootstrap.
        expert_colors : str or list of matplotlib colours, default=None
            Colours of the experts (see :meth:`plot`).
        include_variance : bool, default=False
            Also draw the noise variances.
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        Returns
        -------
        display : CoefficientDisplay
            The table and the plot.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> from mixexp.inspection import CoefficientDisplay
        >>> X, y = make_piecewise_linear(300, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
        >>> display = CoefficientDisplay.from_estimator(moe, X, y)
        >>> display.row_labels_
        ['intercept', 'x0', 'gate: intercept', 'gate: x0']
        >>> plt.close("all")
        """
        from ..inference import coef_table

        check_matplotlib(f"{cls.__name__}.from_estimator")
        table = coef_table(
            estimator,
            X,
            y,
            sample_weight=sample_weight,
            method=method,
            alpha=alpha,
            n_boot=n_boot,
            random_state=random_state,
        )
        return cls(table=table).plot(
            ax=ax, expert_colors=expert_colors, include_variance=include_variance
        )
