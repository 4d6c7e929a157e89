"""What the displays share: the lazy matplotlib import, unwrapping a
Pipeline, grids in the input space, colours and hierarchy levels."""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils.validation import check_is_fitted

# ---------------------------------------------------------------- matplotlib


def check_matplotlib(caller):
    """Raise a clear ImportError when matplotlib is missing."""
    try:
        check_matplotlib_support(caller)
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires matplotlib, which is not installed; install it "
            "with `pip install mixexp[plot]` (or `pip install matplotlib`)."
        ) from exc


def import_pyplot(caller):
    """matplotlib and pyplot, imported only when something is drawn."""
    check_matplotlib(caller)
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    return mpl, plt


def select_colors(mpl, colors, n_colors, default, name):
    """RGBA colours of shape (n_colors, 4) from None (the ``default``
    colormap), a colormap name or a list of matplotlib colours."""
    if colors is None:
        colors = default if n_colors <= mpl.colormaps[default].N else "gist_rainbow"
    if isinstance(colors, str):
        if colors not in mpl.colormaps:
            raise ValueError(
                f"{name}={colors!r} is not a matplotlib colormap; pass a colormap "
                "name such as 'tab10' or a list of colours."
            )
        cmap = mpl.colormaps[colors]
        # A qualitative map (tab10, Dark2) gives its own entries in order; a
        # continuous one (viridis, 256 entries) is sampled evenly.
        if isinstance(cmap, mpl.colors.ListedColormap) and n_colors <= cmap.N <= 20:
            return cmap(np.arange(n_colors))
        return cmap(np.linspace(0.0, 1.0, n_colors))
    colors = list(colors)
    if len(colors) != n_colors:
        raise ValueError(
            f"{name} has {len(colors)} colours but {n_colors} are needed, one per "
            "item shown."
        )
    return mpl.colors.to_rgba_array(colors)


def new_axes(plt, ax):
    """The given axes, or the axes of a new figure."""
    if ax is None:
        _, ax = plt.subplots()
    return ax


def set_labels(ax, xlabel, ylabel, default_xlabel, default_ylabel):
    """sklearn's rule: an explicit label wins; a stored one fills empty
    axis labels only."""
    if xlabel is not None or not ax.get_xlabel():
        ax.set_xlabel(default_xlabel if xlabel is None else xlabel)
    if ylabel is not None or not ax.get_ylabel():
        ax.set_ylabel(default_ylabel if ylabel is None else ylabel)


# ----------------------------------------------------------------- estimators


def unwrap(estimator, caller):
    """The fitted mixture and the transform that makes its inputs.

    A :class:`~sklearn.pipeline.Pipeline` ending in a mixture gives its last
    step and ``pipeline[:-1].transform``; a bare mixture gives itself and
    the identity.
    """
    check_is_fitted(estimator)
    transform = None
    mixture = estimator
    if isinstance(estimator, Pipeline):
        mixture = estimator[-1]
        if len(estimator) > 1:
            transform = estimator[:-1].transform
    if not hasattr(mixture, "predict_gate_proba") or not hasattr(
        mixture, "expert_load_"
    ):
        raise TypeError(
            f"{caller} needs a fitted mixexp mixture of experts (or a Pipeline "
            f"ending in one), got {type(mixture).__name__}."
        )
    check_is_fitted(mixture)
    return mixture, (lambda X: X) if transform is None else transform


def is_classifier_mixture(mixture):
    """Whether the mixture is a classifier (it has ``classes_``)."""
    return hasattr(mixture, "classes_") and hasattr(mixture, "predict_proba")


def level_nodes(mixture, level):
    """Columns of ``predict_node_proba`` for the nodes at ``level`` of a
    hierarchy and their legend labels; leaves (``level=None``) are the
    experts themselves."""
    if level is None:
        n_experts = mixture.expert_load_.shape[0]  # as fitted, not as set since
        return None, [f"expert {k}" for k in range(n_experts)]
    gate = mixture.gate_
    if not hasattr(mixture, "predict_node_proba") or not hasattr(gate, "depth"):
        raise ValueError(
            f"level={level!r} needs a hierarchical mixture "
            "(HierarchicalMixtureOfExperts...); use level=None for "
            f"{type(mixture).__name__}."
        )
    depth, branching = gate.depth, gate.branching
    if (
        isinstance(level, bool)
        or not isinstance(level, int | np.integer)
        or not 1 <= level <= depth
    ):
        raise ValueError(
            f"level must be None (the experts) or an int in [1, {depth}] (1 is "
            f"the root's children), got {level!r}."
        )
    # Breadth-first numbering: level l holds nodes (b^l - 1)/(b - 1) onwards.
    n_nodes = branching**level
    first = (n_nodes - 1) // (branching - 1)
    leaves = branching ** (depth - level)
    if leaves == 1:
        labels = [f"node {first + i} (expert {i})" for i in range(n_nodes)]
    else:
        labels = [
            f"node {first + i} (experts {i * leaves}-{(i + 1) * leaves - 1})"
            for i in range(n_nodes)
        ]
    return slice(first, first + n_nodes), labels


def region_proba(mixture, X_mixture, nodes, y=None):
    """Gate probabilities (``y`` None) or posteriors of the experts, or of
    the hierarchy's nodes selected by ``nodes``, shape (n_samples, n_regions)."""
    if nodes is not None:
        return mixture.predict_node_proba(X_mixture, y)[:, nodes]
    if y is None:
        return mixture.predict_gate_proba(X_mixture)
    return mixture.responsibilities(X_mixture, y)


# ---------------------------------------------------------------------- grids


def is_dataframe(X):
    return hasattr(X, "columns") and hasattr(X, "iloc")


def check_X(X, caller):
    """X as given (a DataFrame stays one) after checking it is 2-D."""
    if not is_dataframe(X):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(
                f"{caller} needs X of shape (n_samples, n_features), got an "
                f"array of shape {X.shape}; reshape a single feature with "
                "X.reshape(-1, 1)."
            )
    if X.shape[0] == 0:
        raise ValueError(f"{caller} needs at least one sample in X.")
    return X


def column_index(X, feature, name):
    """Column position of ``feature`` (an index, or a name for a DataFrame)."""
    n_features = X.shape[1]
    if isinstance(feature, str):
        if not is_dataframe(X):
            raise ValueError(
                f"{name}={feature!r} names a column but X has no column names; "
                "pass a column index or a pandas DataFrame."
            )
        columns = list(X.columns)
        if feature not in columns:
            raise ValueError(
                f"{name}={feature!r} is not a column of X; the columns are {columns}."
            )
        return columns.index(feature)
    if (
        isinstance(feature, bool)
        or not isinstance(feature, int | np.integer)
        or not 0 <= feature < n_features
    ):
        raise ValueError(
            f"{name}={feature!r} must be a column index in [0, {n_features}) or a "
            "column name."
        )
    return int(feature)


def column(X, j):
    """Column j of X as a 1-D array."""
    return np.asarray(X.iloc[:, j] if is_dataframe(X) else X[:, j])


def feature_name(X, j):
    return str(X.columns[j]) if is_dataframe(X) else f"feature {j}"


def grid_axis(values, grid_resolution, eps):
    """``grid_resolution`` evenly spaced points over the range of ``values``
    widened by ``eps`` on each side (None: 5% of the range)."""
    values = np.asarray(values, dtype=float)
    low, high = float(np.min(values)), float(np.max(values))
    if eps is None:
        eps = 0.05 * (high - low) if high > low else 0.5
    if low - eps == high + eps:  # a constant feature and eps=0
        eps = 0.5
    return np.linspace(low - eps, high + eps, grid_resolution)


def check_grid_params(grid_resolution, eps):
    if (
        isinstance(grid_resolution, bool)
        or not isinstance(grid_resolution, int | np.integer)
        or grid_resolution < 2
    ):
        raise ValueError(
            f"grid_resolution must be an int >= 2, got {grid_resolution!r}."
        )
    if eps is not None and not (np.isscalar(eps) and np.isfinite(eps) and eps >= 0):
        raise ValueError(
            f"eps must be None (5% of each feature's range) or a number >= 0, "
            f"got {eps!r}."
        )


def _reference(values):
    """The value a feature not on the grid is fixed at: the median of a
    numeric column, the most frequent value of any other."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        return np.median(values)
    _, first, counts = np.unique(
        values.astype(str), return_index=True, return_counts=True
    )
    return values[first[np.argmax(counts)]]


def input_grid(X, grid_columns):
    """Rows in the space of X: the columns in ``grid_columns`` (a dict from
    column position to values, all of one length) take those values, every
    other column its median (its most frequent value if not numeric). A
    DataFrame gives a DataFrame with the same columns."""
    n_rows = len(next(iter(grid_columns.values())))
    if is_dataframe(X):
        import pandas as pd

        data = {}
        for j, name in enumerate(X.columns):  # a loop over columns
            if j in grid_columns:
                data[name] = np.asarray(grid_columns[j], dtype=float)
            else:
                data[name] = pd.Series(
                    np.repeat(_reference(X.iloc[:, j]), n_rows)
                ).astype(X.iloc[:, j].dtype)
        return pd.DataFrame(data)
    numeric = X.dtype.kind in "biuf"
    grid = np.empty((n_rows, X.shape[1]), dtype=float if numeric else object)
    for j in range(X.shape[1]):  # a loop over columns
        grid[:, j] = grid_columns[j] if j in grid_columns else _reference(X[:, j])
    return grid
