"""How training went: the objective per iteration and the experts' load."""

from collections import Counter

import numpy as np

from ._common import (
    check_matplotlib,
    import_pyplot,
    new_axes,
    select_colors,
    set_labels,
    unwrap,
)

_QUANTITIES = {
    "lower_bounds_": "log-likelihood per sample (lower_bounds_)",
    "loss_curve_": "training loss (loss_curve_)",
}


def _has_likelihood_trace(mixture):
    """Whether ``lower_bounds_`` holds the log-likelihood of every iteration:
    EM, gradient descent on the likelihood and partial_fit record it (the
    loss is then its negative); the other losses and the minibatch solvers
    keep only the final value."""
    lower_bounds = np.asarray(mixture.lower_bounds_, dtype=float)
    loss = np.asarray(mixture.loss_curve_, dtype=float)
    return lower_bounds.shape == loss.shape and np.allclose(lower_bounds, -loss)


class ConvergenceDisplay:
    """The training objective per iteration of one or several fits.

    Each run is a line of the mean log-likelihood per sample
    (``lower_bounds_``, non-decreasing under EM) against the iteration, or of
    the training loss (``loss_curve_``) when some run has no likelihood
    trace (the minibatch solvers, and the competitive and cooperative
    losses); the y label says which. Use :meth:`from_estimator` or
    :meth:`from_estimators` to make one.

    Parameters
    ----------
    curves : list of ndarray of shape (n_iter,)
        The value of every iteration of every run.
    labels : list of str, default=None
        Legend label of every run; None draws no legend.
    quantity : {`"lower_bounds_"`, `"loss_curve_"`}, optional
        The attribute the curves come from, which gives the y label; the
        default is ``"lower_bounds_"``.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One line per run.
    legend_ : matplotlib Legend or None
        The legend of the runs.
    ax_ : matplotlib Axes
        Axes with the curves.
    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    ConvergenceDisplay.from_estimator : Plot the curve of one fitted estimator.
    ConvergenceDisplay.from_estimators : Overlay the curves of several fits.
    ExpertUsageDisplay : The share of the data each expert is routed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_piecewise_linear
    >>> from mixexp.inspection import ConvergenceDisplay
    >>> X, y = make_piecewise_linear(300, random_state=0)
    >>> fits = [
    ...     MixtureOfExpertsRegressor(k, random_state=0).fit(X, y) for k in (2, 3)
    ... ]
    >>> display = ConvergenceDisplay.from_estimators(fits, labels=["K=2", "K=3"])
    >>> len(display.lines_), display.quantity
    (2, 'lower_bounds_')
    >>> plt.close("all")
    """

    def __init__(self, *, curves, labels=None, quantity="lower_bounds_"):
        self.curves = curves
        self.labels = labels
        self.quantity = quantity

    def plot(self, ax=None, *, line_kw=None, xlabel=None, ylabel=None):
        """Draw one line per run.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        line_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.plot` for every
            line.
        xlabel : str, default=None
            Label of the x axis; None is "iteration".
        ylabel : str, default=None
            Label of the y axis; None names the quantity.

        Returns
        -------
        display : ConvergenceDisplay
            The display, with the artists as attributes.
        """
        mpl, plt = import_pyplot("ConvergenceDisplay.plot")
        if self.quantity not in _QUANTITIES:
            raise ValueError(
                f"quantity must be one of {sorted(_QUANTITIES)}, got {self.quantity!r}."
            )
        ax = new_axes(plt, ax)
        labels = self.labels
        if labels is not None and len(labels) != len(self.curves):
            raise ValueError(
                f"{len(labels)} labels for {len(self.curves)} curves; pass one "
                "label per run."
            )
        self.lines_ = []
        for i, curve in enumerate(self.curves):  # one line per run
            curve = np.asarray(curve, dtype=float)
            kw = {"marker": "." if curve.shape[0] < 30 else None} | (line_kw or {})
            if labels is not None:
                kw.setdefault("label", labels[i])
            self.lines_.extend(ax.plot(np.arange(1, curve.shape[0] + 1), curve, **kw))
        self.legend_ = ax.legend(fontsize="small") if labels is not None else None
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        set_labels(ax, xlabel, ylabel, "iteration", _QUANTITIES[self.quantity])
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, label=None, line_kw=None, ax=None):
        """Plot the training curve of one fitted estimator.

        Parameters
        ----------
        estimator : estimator object
            A fitted mixexp estimator, or a fitted Pipeline ending in one.
        label : str, default=None
            Legend label of the run; None draws no legend.
        line_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.plot`.
        ax : matplotlib Axes, default=None
            Axes to draw on (add a run to an existing plot); None makes a new
            figure.

        Returns
        -------
        display : ConvergenceDisplay
            The curve and its line.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> from mixexp.inspection import ConvergenceDisplay
        >>> X, y = make_piecewise_linear(300, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> display = ConvergenceDisplay.from_estimator(moe)
        >>> bool(np.all(display.lines_[0].get_ydata() == moe.lower_bounds_))
        True
        >>> plt.close("all")
        """
        labels = None if label is None else [label]
        return cls._from_mixtures([estimator], labels, line_kw, ax, "from_estimator")

    @classmethod
    def from_estimators(cls, estimators, *, labels=None, line_kw=None, ax=None):
        """Overlay the training curves of several fitted estimators.

        Parameters
        ----------
        estimators : list of estimator objects
            Fitted mixexp estimators (or Pipelines ending in one): restarts,
            solvers or settings to compare.
        labels : list of str, default=None
            Legend label of every run; None is each estimator's class name
            (numbered when repeated).
        line_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.plot` for every
            line.
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        Returns
        -------
        display : ConvergenceDisplay
            The curves and their lines.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> from mixexp.inspection import ConvergenceDisplay
        >>> X, y = make_piecewise_linear(300, random_state=0)
        >>> runs = [
        ...     MixtureOfExpertsRegressor(3, init="random", random_state=seed).fit(X, y)
        ...     for seed in range(3)
        ... ]
        >>> display = ConvergenceDisplay.from_estimators(runs)
        >>> display.labels
        ['MixtureOfExpertsRegressor (0)', 'MixtureOfExpertsRegressor (1)', \
'MixtureOfExpertsRegressor (2)']
        >>> plt.close("all")
        """
        estimators = list(estimators)
        if not estimators:
            raise ValueError("estimators is empty; pass at least one fitted model.")
        return cls._from_mixtures(
            estimators, labels, line_kw, ax, "from_estimators", name_runs=True
        )

    @classmethod
    def _from_mixtures(cls, estimators, labels, line_kw, ax, method, name_runs=False):
        """The display of the runs; ``name_runs`` labels them by class name
        (numbered when repeated) when ``labels`` is None."""
        caller = f"{cls.__name__}.{method}"
        check_matplotlib(caller)
        mixtures = [unwrap(estimator, caller)[0] for estimator in estimators]
        if labels is None and name_runs:
            names = [type(mixture).__name__ for mixture in mixtures]
            counts, seen = Counter(names), Counter()
            labels = []
            for name in names:
                labels.append(f"{name} ({seen[name]})" if counts[name] > 1 else name)
                seen[name] += 1
        if labels is not None:
            labels = list(labels)
            if len(labels) != len(mixtures):
                raise ValueError(
                    f"{len(labels)} labels for {len(mixtures)} estimators; pass "
                    "one label per estimator."
                )
        quantity = "lower_bounds_"
        if not all(_has_likelihood_trace(mixture) for mixture in mixtures):
            quantity = "loss_curve_"
        curves = [np.asarray(getattr(m, quantity), dtype=float) for m in mixtures]
        display = cls(curves=curves, labels=labels, quantity=quantity)
        return display.plot(ax=ax, line_kw=line_kw)


class ExpertUsageDisplay:
    """Share of the data routed to each expert, against the uniform share.

    A bar per expert of ``expert_load_`` (the fraction of the routing slots
    it gets on the training data) with a horizontal line at ``1 /
    n_experts``: bars far below the line are experts that (almost) died,
    bars far above are experts that took over. Use :meth:`from_estimator`
    to make one.

    Parameters
    ----------
    expert_load : ndarray of shape (n_experts,)
        Share of every expert; sums to one.

    Attributes
    ----------
    bars_ : matplotlib BarContainer
        The bars.
    reference_line_ : matplotlib Line2D
        The uniform share ``1 / n_experts``.
    expert_colors_ : ndarray of shape (n_experts, 4)
        RGBA colour of every bar.
    ax_ : matplotlib Axes
        Axes with the bars.
    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    ExpertUsageDisplay.from_estimator : Plot the load of a fitted estimator.
    ConvergenceDisplay : The training objective per iteration.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from mixexp.inspection import ExpertUsageDisplay
    >>> display = ExpertUsageDisplay(expert_load=np.array([0.5, 0.3, 0.2])).plot()
    >>> [float(bar.get_height()) for bar in display.bars_]
    [0.5, 0.3, 0.2]
    >>> plt.close("all")
    """

    def __init__(self, *, expert_load):
        self.expert_load = expert_load

    def plot(
        self,
        ax=None,
        *,
        expert_colors=None,
        bar_kw=None,
        reference_kw=None,
        xlabel=None,
        ylabel=None,
    ):
        """Draw the bars and the uniform share.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        expert_colors : str or list of matplotlib colours, default=None
            Colours of the bars: a colormap name or one colour per expert;
            None is "tab10" (up to 10 experts), else "gist_rainbow", as in
            the other displays.
        bar_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.bar`.
        reference_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.axhline` for the
            uniform share.
        xlabel : str, default=None
            Label of the x axis; None is "expert".
        ylabel : str, default=None
            Label of the y axis; None names ``expert_load_``.

        Returns
        -------
        display : ExpertUsageDisplay
            The display, with the artists as attributes.
        """
        mpl, plt = import_pyplot("ExpertUsageDisplay.plot")
        ax = new_axes(plt, ax)
        load = np.asarray(self.expert_load, dtype=float)
        n_experts = load.shape[0]
        self.expert_colors_ = select_colors(
            mpl, expert_colors, n_experts, "tab10", "expert_colors"
        )
        positions = np.arange(n_experts)
        bar_kw = {"color": self.expert_colors_, "edgecolor": "k"} | (bar_kw or {})
        self.bars_ = ax.bar(positions, load, **bar_kw)
        reference_kw = {
            "color": "k",
            "linestyle": "--",
            "linewidth": 1.0,
            "label": f"uniform 1/{n_experts}",
        } | (reference_kw or {})
        self.reference_line_ = ax.axhline(1.0 / n_experts, **reference_kw)
        ax.set_xticks(positions)
        ax.legend(handles=[self.reference_line_], fontsize="small")
        set_labels(ax, xlabel, ylabel, "expert", "share of the routing (expert_load_)")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, expert_colors=None, ax=None):
        """Plot the experts' load of a fitted estimator.

        Parameters
        ----------
        estimator : estimator object
            A fitted mixexp estimator, or a fitted Pipeline ending in one.
        expert_colors : str or list of matplotlib colours, default=None
            Colours of the bars (see :meth:`plot`).
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        Returns
        -------
        display : ExpertUsageDisplay
            The load and the bars.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> from mixexp.inspection import ExpertUsageDisplay
        >>> X, y = make_piecewise_linear(300, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> display = ExpertUsageDisplay.from_estimator(moe)
        >>> len(display.bars_), round(display.reference_line_.get_ydata()[0], 3)
        (3, 0.333)
        >>> plt.close("all")
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib(caller)
        mixture, _ = unwrap(estimator, caller)
        display = cls(expert_load=np.asarray(mixture.expert_load_, dtype=float))
        return display.plot(ax=ax, expert_colors=expert_colors)
