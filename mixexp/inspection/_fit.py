"""A regression along one feature: the experts, the gate and the mixture."""

import numpy as np

from ._common import (
    check_grid_params,
    check_matplotlib,
    check_X,
    column,
    column_index,
    feature_name,
    grid_axis,
    import_pyplot,
    input_grid,
    is_classifier_mixture,
    select_colors,
    unwrap,
)


def _segments(x, values):
    """The polyline (x, values) as its n - 1 segments, shape (n - 1, 2, 2)."""
    points = np.column_stack([x, values])
    return np.stack([points[:-1], points[1:]], axis=1)


class ExpertFitDisplay:
    """The experts of a regression along one input feature, and their gate.

    The upper panel shows the data, every expert's prediction line with an
    opacity that follows its gate probability g_k(x) (an expert fades out
    where it is not in charge), and the mixture mean with a band of
    ``n_std`` predictive standard deviations; the lower panel shows the gate
    probabilities themselves. Use :meth:`from_estimator` to make one.

    The two panels follow
    :class:`~sklearn.inspection.PartialDependenceDisplay`: ``ax`` may be one
    axes, split into the two panels (``bounding_ax_``), or a pair of axes;
    ``axes_`` holds both panels, while ``ax_`` is the upper (fit) panel and
    ``gate_ax_`` the lower one, so that ``display.ax_`` is one Axes as in
    every other display.

    Parameters
    ----------
    x_grid : ndarray of shape (grid_resolution,)
        Values of the displayed feature where the model is evaluated.
    gate_proba : ndarray of shape (grid_resolution, n_experts)
        Gate probabilities on the grid.
    expert_predictions : ndarray of shape (grid_resolution, n_experts)
        Every expert's own prediction on the grid.
    y_mean : ndarray of shape (grid_resolution,)
        Mixture mean on the grid.
    y_std : ndarray of shape (grid_resolution,)
        Standard deviation of the predictive mixture on the grid.
    x_data : ndarray of shape (n_samples,), default=None
        The data's values of the displayed feature; None draws no data.
    y_data : ndarray of shape (n_samples,), default=None
        The data's targets.
    data_labels : ndarray of shape (n_samples,), default=None
        Expert responsible for each data point (its largest posterior),
        which gives its colour; None draws the data in grey.
    xlabel : str, default=None
        Label of the x axis.
    ylabel : str, default=None
        Label of the y axis of the upper panel.

    Attributes
    ----------
    expert_lines_ : list of matplotlib LineCollection
        One per expert: its prediction as segments whose alpha is the mean
        gate probability at their ends.
    mean_line_ : matplotlib Line2D
        The mixture mean.
    band_ : matplotlib PolyCollection
        The band ``y_mean +- n_std * y_std``.
    scatter_ : matplotlib PathCollection or None
        The data.
    gate_lines_ : list of matplotlib Line2D or None
        The gate probabilities, one line per expert (None without the gate
        panel).
    legend_ : matplotlib Legend or None
        Legend of the upper panel.
    expert_colors_ : ndarray of shape (n_experts, 4)
        RGBA colour of every expert.
    ax_ : matplotlib Axes
        The upper panel (data, experts, mixture).
    gate_ax_ : matplotlib Axes or None
        The lower panel (gate probabilities).
    axes_ : ndarray of matplotlib Axes of shape (n_panels,)
        The panels, top to bottom.
    bounding_ax_ : matplotlib Axes or None
        The axes split into the panels when ``ax`` was one axes (or None);
        None when ``ax`` was a pair of axes.
    figure_ : matplotlib Figure
        Figure containing the panels.

    See Also
    --------
    ExpertFitDisplay.from_estimator : Compute and plot the display of a
        regressor.
    ExpertRegionDisplay : The gate's regions over two features.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_piecewise_linear
    >>> from mixexp.inspection import ExpertFitDisplay
    >>> X, y = make_piecewise_linear(300, random_state=0)
    >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    >>> display = ExpertFitDisplay.from_estimator(moe, X, y, grid_resolution=100)
    >>> len(display.expert_lines_), len(display.gate_lines_)
    (3, 3)
    >>> display.axes_.shape
    (2,)
    >>> plt.close("all")
    """

    def __init__(
        self,
        *,
        x_grid,
        gate_proba,
        expert_predictions,
        y_mean,
        y_std,
        x_data=None,
        y_data=None,
        data_labels=None,
        xlabel=None,
        ylabel=None,
    ):
        self.x_grid = x_grid
        self.gate_proba = gate_proba
        self.expert_predictions = expert_predictions
        self.y_mean = y_mean
        self.y_std = y_std
        self.x_data = x_data
        self.y_data = y_data
        self.data_labels = data_labels
        self.xlabel = xlabel
        self.ylabel = ylabel

    def _panels(self, mpl, plt, ax, plot_gate):
        """The panel axes (top to bottom) and the bounding axes."""
        n_panels = 2 if plot_gate else 1
        if ax is None:
            _, ax = plt.subplots()
        if isinstance(ax, mpl.axes.Axes):
            if not plot_gate:
                return np.array([ax], dtype=object), None
            if not ax.axison:
                raise ValueError(
                    "This axes was already split by a display; pass "
                    "ax=display.axes_ to draw on its panels."
                )
            spec = ax.get_subplotspec()
            if spec is None:
                raise ValueError(
                    "To split one axes into the fit and gate panels it must be a "
                    "subplot; pass a pair of axes, or plot_gate=False."
                )
            ax.set_axis_off()
            grid = mpl.gridspec.GridSpecFromSubplotSpec(
                2, 1, subplot_spec=spec, height_ratios=(3, 1), hspace=0.1
            )
            top = ax.figure.add_subplot(grid[0])
            bottom = ax.figure.add_subplot(grid[1], sharex=top)
            return np.array([top, bottom], dtype=object), ax
        axes = np.asarray(ax, dtype=object).ravel()
        if axes.shape[0] != n_panels:
            raise ValueError(
                f"Expected ax to hold {n_panels} axes (the fit panel"
                f"{' and the gate panel' if plot_gate else ''}), got "
                f"{axes.shape[0]}."
            )
        return axes, None

    def plot(
        self,
        ax=None,
        *,
        plot_gate=True,
        scatter=True,
        legend=True,
        n_std=2.0,
        expert_colors=None,
        expert_kw=None,
        mean_kw=None,
        band_kw=None,
        gate_kw=None,
        scatter_kw=None,
        xlabel=None,
        ylabel=None,
    ):
        """Draw the data, the experts, the mixture and the gate.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of matplotlib Axes, default=None
            One axes is split into the fit panel above and the gate panel
            below (it must be a subplot; with ``plot_gate=False`` it is drawn
            on directly); a pair of axes receives the two panels; None makes
            a new figure and splits its axes.
        plot_gate : bool, default=True
            Draw the gate panel.
        scatter : bool, default=True
            Draw the stored data.
        legend : bool, default=True
            Add a legend to the fit panel.
        n_std : float, default=2.0
            Half-width of the band in predictive standard deviations.
        expert_colors : str or list of matplotlib colours, default=None
            Colours of the experts: a colormap name or one colour per expert;
            None is "tab10" (up to 10 experts), else "gist_rainbow".
        expert_kw : dict, default=None
            Keyword arguments of :class:`matplotlib.collections.LineCollection`
            for the experts' lines.
        mean_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.plot` for the
            mixture mean.
        band_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.fill_between` for
            the band.
        gate_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.plot` for the gate
            probabilities.
        scatter_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.scatter` for the
            data.
        xlabel : str, default=None
            Label of the x axis (of the lowest panel), in place of the stored
            one.
        ylabel : str, default=None
            Label of the fit panel's y axis, in place of the stored one.

        Returns
        -------
        display : ExpertFitDisplay
            The display, with the artists as attributes.
        """
        mpl, plt = import_pyplot("ExpertFitDisplay.plot")
        axes, self.bounding_ax_ = self._panels(mpl, plt, ax, plot_gate)
        self.axes_ = axes
        self.ax_ = axes[0]
        self.gate_ax_ = axes[1] if plot_gate else None
        self.figure_ = self.ax_.figure
        fit_ax = self.ax_

        x = np.asarray(self.x_grid, dtype=float)
        gate = np.asarray(self.gate_proba, dtype=float)
        experts = np.asarray(self.expert_predictions, dtype=float)
        mean = np.asarray(self.y_mean, dtype=float)
        std = np.asarray(self.y_std, dtype=float)
        n_experts = gate.shape[1]
        self.expert_colors_ = select_colors(
            mpl, expert_colors, n_experts, "tab10", "expert_colors"
        )

        self.scatter_ = None
        if scatter and self.x_data is not None:
            if self.data_labels is None:
                colors = np.tile(mpl.colors.to_rgba("0.5"), (len(self.x_data), 1))
            else:
                colors = self.expert_colors_[np.asarray(self.data_labels)]
            scatter_kw = {"s": 10, "alpha": 0.5, "linewidths": 0} | (scatter_kw or {})
            self.scatter_ = fit_ax.scatter(
                self.x_data, self.y_data, c=colors, **scatter_kw
            )

        band_kw = {"color": "0.5", "alpha": 0.25, "linewidth": 0} | (band_kw or {})
        band_kw.setdefault("label", f"mean ± {n_std:g} std")
        self.band_ = fit_ax.fill_between(
            x, mean - n_std * std, mean + n_std * std, **band_kw
        )
        mean_kw = {"color": "k", "linewidth": 1.5, "label": "mixture mean"} | (
            mean_kw or {}
        )
        (self.mean_line_,) = fit_ax.plot(x, mean, **mean_kw)

        # Each expert's line, segment by segment, as opaque as the gate
        # trusts it there. The lines do not set the axis limits: an expert
        # extrapolated far outside its region is invisible anyway.
        self.expert_lines_ = []
        segment_gate = 0.5 * (gate[:-1] + gate[1:])
        for k in range(n_experts):  # one collection per expert
            colors = np.tile(self.expert_colors_[k], (x.shape[0] - 1, 1))
            colors[:, 3] = np.clip(segment_gate[:, k], 0.0, 1.0)
            kw = {"linewidths": 2.0, "label": f"expert {k}"} | (expert_kw or {})
            lines = mpl.collections.LineCollection(
                _segments(x, experts[:, k]), colors=colors, **kw
            )
            fit_ax.add_collection(lines, autolim=False)
            self.expert_lines_.append(lines)

        self.legend_ = None
        if legend:
            handles = [
                mpl.lines.Line2D([], [], color=color[:3], linewidth=2.0, label=line)
                for color, line in zip(
                    self.expert_colors_,
                    [lines.get_label() for lines in self.expert_lines_],
                    strict=True,
                )
            ]
            handles += [self.mean_line_, self.band_]
            self.legend_ = fit_ax.legend(handles=handles, fontsize="small")

        self.gate_lines_ = None
        if plot_gate:
            gate_ax = self.gate_ax_
            self.gate_lines_ = []
            for k in range(n_experts):  # one line per expert
                kw = {"color": self.expert_colors_[k], "label": f"expert {k}"} | (
                    gate_kw or {}
                )
                self.gate_lines_.extend(gate_ax.plot(x, gate[:, k], **kw))
            gate_ax.set_ylim(-0.05, 1.05)
            gate_ax.set_ylabel("gate probability")
            fit_ax.tick_params(labelbottom=False)
        fit_ax.set_xlim(x[0], x[-1])

        if xlabel is not None or not axes[-1].get_xlabel():
            axes[-1].set_xlabel(self.xlabel if xlabel is None else xlabel)
        if ylabel is not None or not fit_ax.get_ylabel():
            fit_ax.set_ylabel(self.ylabel if ylabel is None else ylabel)
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        feature=None,
        grid_resolution=200,
        eps=None,
        n_std=2.0,
        plot_gate=True,
        scatter=True,
        expert_colors=None,
        xlabel=None,
        ylabel=None,
        ax=None,
    ):
        """Compute and plot the experts of a fitted regressor along a feature.

        The grid spans one feature of X, the others fixed at their median
        (their most frequent value if not numeric), so with several features
        the lines are a slice through the median while the data are all
        drawn against the chosen feature. The grid is made in the space of X
        and passed through the estimator: for a
        :class:`~sklearn.pipeline.Pipeline` the x axis is in the units of the
        pipeline's inputs and the mixture sees ``pipeline[:-1].transform``.

        Parameters
        ----------
        estimator : estimator object
            A fitted mixexp regressor (flat or hierarchical, one output), or
            a fitted Pipeline ending in one.
        X : array-like of shape (n_samples, n_features)
            Inputs, which set the grid's range and are drawn.
        y : array-like of shape (n_samples,)
            Targets, drawn and coloured by their most responsible expert.
        feature : int or str, default=None
            Column of X on the x axis (an index, or a name with a pandas
            DataFrame); None is the only column of a one-feature X.
        grid_resolution : int, default=200
            Number of grid points.
        eps : float, default=None
            Margin added on each side of the data's range; None is 5% of the
            range.
        n_std : float, default=2.0
            Half-width of the band in predictive standard deviations, from
            ``predict(X, return_std=True)``.
        plot_gate : bool, default=True
            Draw the gate panel below the fit.
        scatter : bool, default=True
            Draw the data.
        expert_colors : str or list of matplotlib colours, default=None
            Colours of the experts (see :meth:`plot`).
        xlabel : str, default=None
            Label of the x axis; None is the column name, or "feature j".
        ylabel : str, default=None
            Label of the fit panel's y axis; None is "y".
        ax : matplotlib Axes or array-like of matplotlib Axes, default=None
            Where to draw (see :meth:`plot`).

        Returns
        -------
        display : ExpertFitDisplay
            The computed arrays and the artists.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> from mixexp.inspection import ExpertFitDisplay
        >>> X, y = make_piecewise_linear(300, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> fig, (top, bottom) = plt.subplots(2, 1, sharex=True)
        >>> display = ExpertFitDisplay.from_estimator(moe, X, y, ax=[top, bottom])
        >>> display.ax_ is top, display.gate_ax_ is bottom
        (True, True)
        >>> plt.close("all")
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib(caller)
        check_grid_params(grid_resolution, eps)
        mixture, transform = unwrap(estimator, caller)
        if is_classifier_mixture(mixture):
            raise ValueError(
                f"{caller} draws the lines of regression experts; "
                f"{type(mixture).__name__} is a classifier. Use "
                "ExpertRegionDisplay for classifiers."
            )
        X = check_X(X, caller)
        if feature is None:
            if X.shape[1] != 1:
                raise ValueError(
                    f"X has {X.shape[1]} features: pass feature=<column> to "
                    "choose the one on the x axis (the others are fixed at "
                    "their median)."
                )
            feature = 0
        j = column_index(X, feature, "feature")
        y = np.asarray(y)
        if y.ndim > 1 and y.shape[1] > 1:
            raise ValueError(f"{caller} draws one target; y has {y.shape[1]} columns.")
        y = y.reshape(-1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} samples but y has {y.shape[0]}; pass one "
                "target per row of X."
            )

        x_grid = grid_axis(column(X, j), grid_resolution, eps)
        X_grid = transform(input_grid(X, {j: x_grid}))
        expert_predictions = mixture.predict_experts(X_grid)
        if expert_predictions.ndim != 2:
            raise ValueError(
                f"{caller} draws one target; the estimator predicts "
                f"{expert_predictions.shape[-1]} outputs."
            )
        y_mean, y_std = mixture.predict(X_grid, return_std=True)
        responsibilities = mixture.responsibilities(transform(X), y)
        display = cls(
            x_grid=x_grid,
            gate_proba=mixture.predict_gate_proba(X_grid),
            expert_predictions=expert_predictions,
            y_mean=y_mean,
            y_std=y_std,
            x_data=column(X, j),
            y_data=y,
            data_labels=np.argmax(responsibilities, axis=1),
            xlabel=feature_name(X, j) if xlabel is None else xlabel,
            ylabel="y" if ylabel is None else ylabel,
        )
        return display.plot(
            ax=ax,
            plot_gate=plot_gate,
            scatter=scatter,
            n_std=n_std,
            expert_colors=expert_colors,
        )
