"""Who is in charge where: the gate's regions over two input features."""

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
    level_nodes,
    new_axes,
    region_proba,
    select_colors,
    set_labels,
    unwrap,
)

_RESPONSES = ("gate", "responsibility", "prediction")


def _class_index(classes, labels):
    """Position of each label in ``classes``; a ValueError for unknown ones."""
    classes = np.asarray(classes)
    labels = np.asarray(labels)
    order = np.argsort(classes, kind="stable")
    position = np.searchsorted(classes, labels, sorter=order)
    index = order[np.clip(position, 0, classes.shape[0] - 1)]
    unknown = classes[index] != labels
    if np.any(unknown):
        raise ValueError(
            f"y has labels the classifier was not fitted on: "
            f"{np.unique(labels[unknown]).tolist()}; its classes are "
            f"{classes.tolist()}."
        )
    return index


def _boundary_margins(gate_proba):
    """For every region k, ``p_k - max_{j != k} p_j`` on the grid: positive
    where k has the largest probability, zero on the boundaries of its
    region (where the two largest probabilities are equal)."""
    top_two = np.partition(gate_proba, -2, axis=-1)[..., -2:]
    second, first = top_two[..., :1], top_two[..., 1:]
    return gate_proba - np.where(gate_proba >= first, second, first)


# Filled markers that stay distinct at small sizes.
_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "<", ">")


def _select_markers(markers, n_classes):
    """One marker per class: ``"auto"`` or a list of matplotlib markers."""
    if isinstance(markers, str):
        if markers != "auto":
            raise ValueError(
                f'class_markers must be "auto" or a list of markers, got {markers!r}.'
            )
        if n_classes > len(_MARKERS):
            raise ValueError(
                f'class_markers="auto" has {len(_MARKERS)} markers for '
                f"{n_classes} classes; give one marker per class, or leave "
                "class_markers=None to tell the classes by colour."
            )
        return list(_MARKERS[:n_classes])
    markers = list(markers)
    if len(markers) != n_classes:
        raise ValueError(
            f"class_markers has {len(markers)} markers for {n_classes} classes; "
            "give one per class."
        )
    return markers


def _marker_path(mpl, marker):
    """A marker's path in the units of a scatter's marker size."""
    style = mpl.markers.MarkerStyle(marker)
    return style.get_path().transformed(style.get_transform())


class ExpertRegionDisplay:
    """Regions of the input space that each expert is in charge of.

    The background colours every grid point by the expert with the largest
    gate probability g_k(x), with that probability as opacity (so soft
    boundaries fade out); contours mark the gate boundaries, where the two
    largest gate probabilities are equal. The data can be drawn on top. Use
    :meth:`from_estimator` to make one; the constructor only stores
    computed arrays, and :meth:`plot` draws them again (on other axes or with
    other colours) without recomputing.

    Parameters
    ----------
    xx0 : ndarray of shape (grid_resolution, grid_resolution)
        First output of :func:`numpy.meshgrid`: a regular grid of the first
        displayed feature.
    xx1 : ndarray of shape (grid_resolution, grid_resolution)
        Second output of :func:`numpy.meshgrid`.
    gate_proba : ndarray of shape (grid_resolution, grid_resolution, n_regions)
        Gate probability of every expert (or, for a hierarchy shown at a
        ``level``, of every node of that level) at every grid point.
    region_labels : list of str, default=None
        Legend label of every region; None is ``"expert k"``.
    prediction : ndarray of shape (grid_resolution, grid_resolution), \
            default=None
        The estimator's prediction on the grid, drawn as the background
        instead of the gate (class colours for a classifier, a colormap for a
        regressor); None draws the gate.
    classes : ndarray of shape (n_classes,), default=None
        Class labels of a classifier (None for a regressor); ``prediction``
        and class-coloured data refer to them.
    data_points : ndarray of shape (n_samples, 2), default=None
        Coordinates of the data drawn over the regions; None draws none.
    data_labels : ndarray of shape (n_samples,), default=None
        Colour of each data point: a position in ``classes`` when
        ``data_kind="class"``, a region when ``data_kind="expert"``.
    data_alpha : ndarray of shape (n_samples,), default=None
        Opacity of each data point (its largest posterior); None is opaque.
    data_kind : {"class", "expert"} or None, default=None
        What ``data_labels`` index; None draws all points alike.
    xlabel : str, default=None
        Label of the x axis.
    ylabel : str, default=None
        Label of the y axis.

    Attributes
    ----------
    expert_map : ndarray of shape (grid_resolution, grid_resolution)
        Region (position in ``region_labels``) with the largest gate
        probability at every grid point.
    max_proba : ndarray of shape (grid_resolution, grid_resolution)
        That largest gate probability, the opacity of the background.
    surface_ : matplotlib AxesImage
        The background image. For the gate, its array holds the RGBA colour
        of every grid point: the region's colour with alpha = ``max_proba``.
    boundaries_ : list of matplotlib QuadContourSet or None
        The gate boundaries, one contour set per region that has one (a
        boundary between two regions is drawn by both); None when not drawn.
    scatter_ : matplotlib PathCollection or None
        The data points.
    legend_ : matplotlib Legend or None
        The legend of experts (and classes).
    expert_colors_ : ndarray of shape (n_regions, 4)
        RGBA colour of every region.
    class_colors_ : ndarray of shape (n_classes, 4) or None
        RGBA colour of every class (None for a regressor).
    class_markers_ : list of str or None
        Marker of every class, when drawn by ``class_markers``.
    ax_ : matplotlib Axes
        Axes with the regions.
    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    ExpertRegionDisplay.from_estimator : Compute and plot the regions of an
        estimator.
    ExpertFitDisplay : Experts, gate and predictive band of a 1-D regression.
    sklearn.inspection.DecisionBoundaryDisplay : Decision boundaries of any
        estimator.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsClassifier
    >>> from mixexp.inspection import ExpertRegionDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(300, 2))
    >>> y = np.where(X[:, 0] < 0, X[:, 1] > 0, X[:, 1] < 0).astype(int)
    >>> moe = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    >>> display = ExpertRegionDisplay.from_estimator(moe, X, y, grid_resolution=50)
    >>> np.unique(display.expert_map).tolist()
    [0, 1]
    >>> display.surface_.get_array().shape
    (50, 50, 4)
    >>> plt.close("all")
    """

    def __init__(
        self,
        *,
        xx0,
        xx1,
        gate_proba,
        region_labels=None,
        prediction=None,
        classes=None,
        data_points=None,
        data_labels=None,
        data_alpha=None,
        data_kind=None,
        xlabel=None,
        ylabel=None,
    ):
        self.xx0 = xx0
        self.xx1 = xx1
        self.gate_proba = gate_proba
        self.region_labels = region_labels
        self.prediction = prediction
        self.classes = classes
        self.data_points = data_points
        self.data_labels = data_labels
        self.data_alpha = data_alpha
        self.data_kind = data_kind
        self.xlabel = xlabel
        self.ylabel = ylabel

    @property
    def expert_map(self):
        """Region with the largest gate probability at every grid point."""
        return np.argmax(self.gate_proba, axis=-1)

    @property
    def max_proba(self):
        """Largest gate probability at every grid point."""
        return np.max(self.gate_proba, axis=-1)

    def plot(
        self,
        ax=None,
        *,
        plot_boundaries=True,
        scatter=True,
        legend=True,
        expert_colors=None,
        class_colors=None,
        class_markers=None,
        region_kw=None,
        boundary_kw=None,
        scatter_kw=None,
        xlabel=None,
        ylabel=None,
    ):
        """Draw the regions, their boundaries and the data.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        plot_boundaries : bool, default=True
            Draw the gate boundaries (black contours where the two largest
            gate probabilities are equal).
        scatter : bool, default=True
            Draw the stored data points.
        legend : bool, default=True
            Add a legend of the experts (and of the classes).
        expert_colors : str or list of matplotlib colours, default=None
            Colours of the regions: a colormap name or one colour per region;
            None is "tab10" (up to 10 regions), else "gist_rainbow".
        class_colors : str or list of matplotlib colours, default=None
            Colours of the classes of a classifier: a colormap name or one
            colour per class; None is white and black for two classes, which
            show on any region, else "Dark2" (up to 8 classes); with
            ``class_markers``, None is white for every class.
        class_markers : "auto" or list of str, default=None
            Draw each class of a classifier's data with its own marker (one
            matplotlib marker per class, or ``"auto"`` for up to 10), so the
            classes do not depend on colours that can resemble the regions'.
            None draws every class as a circle of its colour.
        region_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.imshow` for the
            background (``cmap`` for a regressor's prediction, say).
        boundary_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.contour` for the
            boundaries.
        scatter_kw : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.scatter` for the
            data.
        xlabel : str, default=None
            Label of the x axis, in place of the stored one.
        ylabel : str, default=None
            Label of the y axis, in place of the stored one.

        Returns
        -------
        display : ExpertRegionDisplay
            The display, with the artists as attributes.
        """
        mpl, plt = import_pyplot("ExpertRegionDisplay.plot")
        ax = new_axes(plt, ax)
        gate_proba = np.asarray(self.gate_proba, dtype=float)
        n_regions = gate_proba.shape[-1]
        labels = self.region_labels
        if labels is None:
            labels = [f"expert {k}" for k in range(n_regions)]
        self.expert_colors_ = select_colors(
            mpl, expert_colors, n_regions, "tab10", "expert_colors"
        )
        self.class_colors_ = self.class_markers_ = None
        if self.classes is not None:
            n_classes = len(self.classes)
            if class_markers is not None:
                self.class_markers_ = _select_markers(class_markers, n_classes)
                if class_colors is None:
                    class_colors = ["white"] * n_classes  # the marker tells
            if class_colors is None and n_classes == 2:
                class_colors = ["white", "black"]  # visible on any region
            self.class_colors_ = select_colors(
                mpl, class_colors, n_classes, "Dark2", "class_colors"
            )

        # The image's pixels are centred on the grid points.
        x0, x1 = self.xx0[0, :], self.xx1[:, 0]
        half0, half1 = (x0[1] - x0[0]) / 2, (x1[1] - x1[0]) / 2
        region_kw = {
            "origin": "lower",
            "extent": (x0[0] - half0, x0[-1] + half0, x1[0] - half1, x1[-1] + half1),
            "aspect": "auto",
            "interpolation": "nearest",
            **(region_kw or {}),
        }
        if self.prediction is None:
            rgba = self.expert_colors_[self.expert_map]
            rgba[..., 3] = np.clip(self.max_proba, 0.0, 1.0)
            self.surface_ = ax.imshow(rgba, **region_kw)
        elif self.classes is not None:
            rgba = self.class_colors_[_class_index(self.classes, self.prediction)]
            rgba[..., 3] = 0.5
            self.surface_ = ax.imshow(rgba, **region_kw)
        else:
            region_kw.setdefault("cmap", "viridis")
            self.surface_ = ax.imshow(self.prediction, **region_kw)
        ax.set_xlim(x0[0], x0[-1])
        ax.set_ylim(x1[0], x1[-1])

        self.boundaries_ = None
        if plot_boundaries:
            self.boundaries_ = []
            if n_regions > 1:
                margins = _boundary_margins(gate_proba)
                boundary_kw = {"colors": "k", "linewidths": 1.0, **(boundary_kw or {})}
                for k in range(n_regions):  # one contour call per region
                    margin = margins[..., k]
                    if margin.max() > 0 > margin.min():
                        self.boundaries_.append(
                            ax.contour(
                                self.xx0, self.xx1, margin, levels=[0.0], **boundary_kw
                            )
                        )

        self.scatter_ = None
        if scatter and self.data_points is not None:
            points = np.asarray(self.data_points)
            if self.data_kind == "expert":
                colors = self.expert_colors_[self.data_labels]
            elif self.data_kind == "class":
                colors = self.class_colors_[self.data_labels]
            else:
                colors = np.tile(mpl.colors.to_rgba("white"), (points.shape[0], 1))
            if self.data_alpha is not None:
                colors[:, 3] = np.clip(self.data_alpha, 0.0, 1.0)
            scatter_kw = {"s": 20, "edgecolors": "k", "linewidths": 0.5} | (
                scatter_kw or {}
            )
            self.scatter_ = ax.scatter(
                points[:, 0], points[:, 1], c=colors, **scatter_kw
            )
            if self.class_markers_ is not None and self.data_kind == "class":
                # One collection keeps the points in their order; each
                # point takes its class's marker path.
                paths = [_marker_path(mpl, marker) for marker in self.class_markers_]
                self.scatter_.set_paths([paths[k] for k in self.data_labels])

        self.legend_ = None
        if legend:
            handles = []
            if self.prediction is None or self.data_kind == "expert":
                handles += [
                    mpl.patches.Patch(facecolor=color, edgecolor="k", label=label)
                    for color, label in zip(self.expert_colors_, labels, strict=True)
                ]
            if self.classes is not None and (
                self.data_kind == "class" or self.prediction is not None
            ):
                markers = self.class_markers_ or ["o"] * len(self.classes)
                handles += [
                    mpl.lines.Line2D(
                        [],
                        [],
                        marker=marker,
                        linestyle="",
                        markerfacecolor=color,
                        markeredgecolor="k",
                        label=f"class {label}",
                    )
                    for color, marker, label in zip(
                        self.class_colors_, markers, self.classes, strict=True
                    )
                ]
            if handles:
                self.legend_ = ax.legend(handles=handles, fontsize="small")

        set_labels(ax, xlabel, ylabel, self.xlabel, self.ylabel)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        features=(0, 1),
        response="gate",
        level=None,
        grid_resolution=200,
        eps=None,
        plot_boundaries=True,
        scatter=True,
        expert_colors=None,
        class_colors=None,
        class_markers=None,
        xlabel=None,
        ylabel=None,
        ax=None,
    ):
        """Compute and plot the experts' regions of a fitted estimator.

        The grid spans two features of X; with more than two features the
        others are fixed at their median (their most frequent value if not
        numeric), so the picture is a slice of the input space through the
        median, while the data points are projected onto the two features.
        The grid is made in the space of X and passed through the whole
        estimator: for a :class:`~sklearn.pipeline.Pipeline` the axes are in
        the units of the pipeline's inputs, and the mixture (its last step)
        sees ``pipeline[:-1].transform(grid)``.

        Parameters
        ----------
        estimator : estimator object
            A fitted mixexp mixture of experts (regressor or classifier, flat
            or hierarchical), or a fitted Pipeline ending in one.
        X : array-like of shape (n_samples, n_features)
            Inputs (at least two features) that set the grid's range and are
            drawn; a pandas DataFrame gives its column names to the axes.
        y : array-like of shape (n_samples,), default=None
            Targets. For a classifier the points are coloured by class; for a
            regressor by the expert responsible for them (the largest
            posterior ``responsibilities(X, y)``). None draws the
            points in white.
        features : tuple of two int or str, default=(0, 1)
            The two columns of X on the axes (indices, or names with a
            DataFrame).
        response : {"gate", "responsibility", "prediction"}, default="gate"
            What is shown. ``"gate"``: the regions of the gate. ``"responsibility"``:
            the same background, with every point coloured by its most
            responsible expert given its target, its posterior as opacity
            (needs ``y``). ``"prediction"``: the background is the estimator's
            prediction (the predicted class, or the predicted value on a
            colormap), with the gate boundaries on top.
        level : int or None, default=None
            For a hierarchical mixture, colour by the nodes at this depth of
            the tree instead of by the experts (leaves): 1 is the top-level
            split among the root's children, each node's probability being
            the sum of its leaves'. None shows the experts.
        grid_resolution : int, default=200
            Number of grid points along each axis.
        eps : float, default=None
            Margin added on each side of the data's range, in the units of
            each feature; None is 5% of each feature's range.
        plot_boundaries : bool, default=True
            Draw the gate boundaries.
        scatter : bool, default=True
            Draw the data points.
        expert_colors : str or list of matplotlib colours, default=None
            Colours of the regions (see :meth:`plot`).
        class_colors : str or list of matplotlib colours, default=None
            Colours of the classes (see :meth:`plot`).
        class_markers : "auto" or list of str, default=None
            Markers of the classes (see :meth:`plot`).
        xlabel : str, default=None
            Label of the x axis; None is the column name, or "feature j".
        ylabel : str, default=None
            Label of the y axis; None is the column name, or "feature j".
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        Returns
        -------
        display : ExpertRegionDisplay
            The computed arrays and the artists.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from mixexp import HierarchicalMixtureOfExpertsClassifier
        >>> from mixexp.datasets import make_local_classification
        >>> from mixexp.inspection import ExpertRegionDisplay
        >>> X, y = make_local_classification(400, random_state=0)
        >>> hme = HierarchicalMixtureOfExpertsClassifier(2, random_state=0).fit(X, y)
        >>> display = ExpertRegionDisplay.from_estimator(
        ...     hme, X, y, level=1, grid_resolution=40
        ... )
        >>> display.gate_proba.shape
        (40, 40, 2)
        >>> plt.close("all")
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib(caller)
        if response not in _RESPONSES:
            raise ValueError(f"response must be one of {_RESPONSES}, got {response!r}.")
        if response == "responsibility" and y is None:
            raise ValueError(
                "response='responsibility' colours the data by their posterior "
                "given the targets: pass y, or use response='gate'."
            )
        check_grid_params(grid_resolution, eps)
        mixture, transform = unwrap(estimator, caller)
        X = check_X(X, caller)
        if X.shape[1] < 2:
            raise ValueError(
                f"{caller} draws two input features but X has {X.shape[1]}; "
                "use ExpertFitDisplay for a single feature."
            )
        if isinstance(features, str | int) or len(features) != 2:
            raise ValueError(
                f"features must be a pair of columns, such as (0, 1), got {features!r}."
            )
        j0, j1 = (column_index(X, f, "features") for f in features)
        if j0 == j1:
            raise ValueError(f"features must be two different columns, got {features}.")
        nodes, region_labels = level_nodes(mixture, level)
        classifier = is_classifier_mixture(mixture)

        xx0, xx1 = np.meshgrid(
            grid_axis(column(X, j0), grid_resolution, eps),
            grid_axis(column(X, j1), grid_resolution, eps),
        )
        grid = input_grid(X, {j0: xx0.ravel(), j1: xx1.ravel()})
        gate_proba = region_proba(mixture, transform(grid), nodes)
        gate_proba = gate_proba.reshape(*xx0.shape, gate_proba.shape[1])

        prediction = None
        if response == "prediction":
            prediction = np.asarray(estimator.predict(grid))
            if prediction.ndim > 1 and prediction.shape[1] > 1:
                raise ValueError(
                    "response='prediction' draws one predicted value per point; "
                    f"the estimator predicts {prediction.shape[1]} outputs."
                )
            prediction = prediction.reshape(xx0.shape)

        data_labels = data_alpha = data_kind = None
        if y is not None:
            y = np.asarray(y)
            if y.shape[0] != X.shape[0]:
                raise ValueError(
                    f"X has {X.shape[0]} samples but y has {y.shape[0]}; pass one "
                    "target per row of X."
                )
            if classifier and response != "responsibility":
                data_labels, data_kind = _class_index(mixture.classes_, y), "class"
            else:
                posterior = region_proba(mixture, transform(X), nodes, y)
                data_labels, data_kind = np.argmax(posterior, axis=1), "expert"
                if response == "responsibility":
                    data_alpha = np.max(posterior, axis=1)

        display = cls(
            xx0=xx0,
            xx1=xx1,
            gate_proba=gate_proba,
            region_labels=region_labels,
            prediction=prediction,
            classes=mixture.classes_ if classifier else None,
            data_points=np.column_stack([column(X, j0), column(X, j1)]),
            data_labels=data_labels,
            data_alpha=data_alpha,
            data_kind=data_kind,
            xlabel=feature_name(X, j0) if xlabel is None else xlabel,
            ylabel=feature_name(X, j1) if ylabel is None else ylabel,
        )
        return display.plot(
            ax=ax,
            plot_boundaries=plot_boundaries,
            scatter=scatter,
            expert_colors=expert_colors,
            class_colors=class_colors,
            class_markers=class_markers,
        )
