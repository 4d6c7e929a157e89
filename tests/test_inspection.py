"""The displays of mixexp.inspection: their arrays and artists, not pixels."""

import inspect
import re
import subprocess
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.inspection import (
    ConvergenceDisplay,
    ExpertFitDisplay,
    ExpertRegionDisplay,
    ExpertUsageDisplay,
)
from mixexp.inspection._regions import _boundary_margins

matplotlib.use("Agg")  # headless; pyplot switches backend before any figure

RESOLUTION = 30


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------- problems


def _split_regression(n=300, seed=0):
    """Two linear pieces of x1, switched at x0 = 0: the gate is known."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    y = np.where(X[:, 0] < 0, 3 + 2 * X[:, 1], -3 - 2 * X[:, 1])
    return X, y + 0.1 * rng.randn(n)


def _xor_classification(n=300, seed=0):
    """An XOR of two linear problems, switched at x0 = 0."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = np.where(X[:, 0] < 0, X[:, 1] > 0, X[:, 1] < 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def split_regression():
    X, y = _split_regression()
    return X, y, MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def xor_classification():
    X, y = _xor_classification()
    return X, y, MixtureOfExpertsClassifier(2, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def line_regression():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(200, 1))
    y = np.where(X[:, 0] < 0, 1 - X[:, 0], 2 * X[:, 0]) + 0.1 * rng.randn(200)
    return X, y, MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)


def _grid(display):
    return np.column_stack([display.xx0.ravel(), display.xx1.ravel()])


# ------------------------------------------------------- ExpertRegionDisplay


def test_regions_of_a_known_gate(split_regression):
    X, y, moe = split_regression
    display = ExpertRegionDisplay.from_estimator(
        moe, X, grid_resolution=RESOLUTION, eps=0.0
    )
    assert display.gate_proba.shape == (RESOLUTION, RESOLUTION, 2)
    assert display.expert_map.shape == display.max_proba.shape == (RESOLUTION,) * 2
    left = display.expert_map[display.xx0 < -0.5]
    right = display.expert_map[display.xx0 > 0.5]
    assert np.unique(left).size == np.unique(right).size == 1
    assert left[0] != right[0]
    assert np.unique(display.expert_map).size == 2
    # The gate boundary (two largest probabilities equal) is the line x0 = 0.
    assert len(display.boundaries_) == 2  # drawn from both sides
    for contour in display.boundaries_:
        vertices = np.vstack([path.vertices for path in contour.get_paths()])
        assert vertices.shape[0] > 2
        np.testing.assert_allclose(vertices[:, 0], 0.0, atol=0.1)
        assert np.ptp(vertices[:, 1]) > 3.5  # across the whole grid


def test_boundary_margins_against_reference():
    rng = np.random.RandomState(0)
    proba = rng.dirichlet(np.ones(4), size=(5, 6))
    proba[0, 0] = [0.4, 0.4, 0.1, 0.1]  # a tie: on the boundary
    margins = _boundary_margins(proba)
    for k in range(4):  # slow reference: p_k - max of the others
        others = np.delete(proba, k, axis=-1).max(axis=-1)
        np.testing.assert_allclose(margins[..., k], proba[..., k] - others)
    assert margins[0, 0, 0] == margins[0, 0, 1] == 0.0


def test_boundaries_where_two_largest_are_equal():
    """Three soft regions: the contours lie where the two largest gate
    probabilities are equal, not where one of them is 1/2."""
    x = np.linspace(-2, 2, 60)
    xx0, xx1 = np.meshgrid(x, x)

    def gate(x0, x1):
        logits = np.stack([2 * x0, -2 * x0, 2 * x1 - 1], axis=-1)
        logits -= logits.max(axis=-1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)

    display = ExpertRegionDisplay(xx0=xx0, xx1=xx1, gate_proba=gate(xx0, xx1))
    display.plot(scatter=False)
    assert len(display.boundaries_) == 3
    vertices = np.vstack(
        [path.vertices for cs in display.boundaries_ for path in cs.get_paths()]
    )
    top_two = np.sort(gate(vertices[:, 0], vertices[:, 1]), axis=1)[:, -2:]
    np.testing.assert_allclose(top_two[:, 1], top_two[:, 0], atol=0.02)
    assert top_two[:, 1].min() < 0.45  # where three meet, far from 1/2


def test_region_arrays_are_the_gate_on_the_grid(split_regression):
    X, _, moe = split_regression
    display = ExpertRegionDisplay.from_estimator(moe, X, grid_resolution=RESOLUTION)
    proba = moe.predict_gate_proba(_grid(display)).reshape(RESOLUTION, RESOLUTION, 2)
    np.testing.assert_allclose(display.gate_proba, proba)
    np.testing.assert_array_equal(display.expert_map, proba.argmax(axis=2))
    np.testing.assert_allclose(display.max_proba, proba.max(axis=2))


def test_region_colours_are_expert_colour_with_gate_as_alpha(xor_classification):
    X, y, moe = xor_classification
    display = ExpertRegionDisplay.from_estimator(
        moe, X, y, grid_resolution=RESOLUTION, expert_colors=["red", "blue"]
    )
    rgba = np.asarray(display.surface_.get_array())
    assert rgba.shape == (RESOLUTION, RESOLUTION, 4)
    expected = matplotlib.colors.to_rgba_array(["red", "blue"])
    np.testing.assert_allclose(display.expert_colors_, expected)
    np.testing.assert_allclose(rgba[..., :3], expected[display.expert_map][..., :3])
    np.testing.assert_allclose(rgba[..., 3], np.clip(display.max_proba, 0, 1))
    # one cell by hand: row i is x1, column j is x0 (origin="lower")
    i, j = 3, RESOLUTION - 2
    k = moe.predict_gate_proba([[display.xx0[i, j], display.xx1[i, j]]])[0]
    np.testing.assert_allclose(rgba[i, j], [*expected[k.argmax()][:3], k.max()])
    assert display.surface_.origin == "lower"


def test_class_markers_draw_each_point_with_its_class_marker(xor_classification):
    X, y, moe = xor_classification
    display = ExpertRegionDisplay.from_estimator(
        moe, X, y, grid_resolution=RESOLUTION, class_markers=["o", "^"]
    )
    paths = display.scatter_.get_paths()
    assert len(paths) == X.shape[0]
    triangle = matplotlib.markers.MarkerStyle("^")
    triangle = triangle.get_path().transformed(triangle.get_transform())
    for path, label in zip(paths, y, strict=True):  # each point's own marker
        same = path.vertices.shape == triangle.vertices.shape and np.allclose(
            path.vertices, triangle.vertices
        )
        assert same == (label == 1)
    # white faces: the marker, not a colour that might match a region, tells
    np.testing.assert_allclose(display.class_colors_[:, :3], 1.0)
    legend = {
        t.get_text(): h
        for t, h in zip(
            display.legend_.get_texts(), display.legend_.legend_handles, strict=True
        )
    }
    assert legend["class 0"].get_marker() == "o"
    assert legend["class 1"].get_marker() == "^"
    auto = ExpertRegionDisplay.from_estimator(
        moe, X, y, grid_resolution=RESOLUTION, class_markers="auto"
    )
    assert auto.class_markers_ == ["o", "^"]
    with pytest.raises(ValueError, match="one per class"):
        ExpertRegionDisplay.from_estimator(moe, X, y, class_markers=["o"])
    with pytest.raises(ValueError, match='"auto" or a list'):
        ExpertRegionDisplay.from_estimator(moe, X, y, class_markers="shapes")


def test_grid_covers_data_with_margin(split_regression):
    X, _, moe = split_regression
    display = ExpertRegionDisplay.from_estimator(
        moe, X, grid_resolution=RESOLUTION, eps=0.5
    )
    assert display.xx0.min() == pytest.approx(X[:, 0].min() - 0.5)
    assert display.xx0.max() == pytest.approx(X[:, 0].max() + 0.5)
    assert display.xx1.min() == pytest.approx(X[:, 1].min() - 0.5)
    assert display.xx1.max() == pytest.approx(X[:, 1].max() + 0.5)
    assert display.ax_.get_xlim() == pytest.approx(
        (display.xx0.min(), X[:, 0].max() + 0.5)
    )
    assert display.ax_.get_ylim() == pytest.approx(
        (display.xx1.min(), X[:, 1].max() + 0.5)
    )
    # default: 5% of each feature's range
    display = ExpertRegionDisplay.from_estimator(moe, X, grid_resolution=RESOLUTION)
    margin = 0.05 * np.ptp(X[:, 0])
    assert display.xx0.min() == pytest.approx(X[:, 0].min() - margin)


def test_scatter_coloured_by_class(xor_classification):
    X, y, moe = xor_classification
    display = ExpertRegionDisplay.from_estimator(
        moe, X, y, grid_resolution=RESOLUTION, class_colors=["green", "purple"]
    )
    np.testing.assert_allclose(display.scatter_.get_offsets(), X)
    colours = matplotlib.colors.to_rgba_array(["green", "purple"])
    np.testing.assert_allclose(display.scatter_.get_facecolors(), colours[y])
    assert display.data_kind == "class"
    labels = [text.get_text() for text in display.legend_.get_texts()]
    assert labels == ["expert 0", "expert 1", "class 0", "class 1"]


def test_scatter_coloured_by_responsible_expert(split_regression):
    X, y, moe = split_regression
    display = ExpertRegionDisplay.from_estimator(moe, X, y, grid_resolution=RESOLUTION)
    responsible = moe.responsibilities(X, y).argmax(axis=1)
    assert display.scatter_.get_offsets().shape == (X.shape[0], 2)
    np.testing.assert_allclose(
        display.scatter_.get_facecolors(), display.expert_colors_[responsible]
    )
    # without targets the points are drawn alike
    display = ExpertRegionDisplay.from_estimator(moe, X, grid_resolution=RESOLUTION)
    assert np.unique(display.scatter_.get_facecolors(), axis=0).shape[0] == 1
    display = ExpertRegionDisplay.from_estimator(
        moe, X, y, grid_resolution=RESOLUTION, scatter=False
    )
    assert display.scatter_ is None


def test_response_responsibility(xor_classification):
    X, y, moe = xor_classification
    display = ExpertRegionDisplay.from_estimator(
        moe, X, y, response="responsibility", grid_resolution=RESOLUTION
    )
    posterior = moe.responsibilities(X, y)
    expected = display.expert_colors_[posterior.argmax(axis=1)].copy()
    expected[:, 3] = posterior.max(axis=1)
    np.testing.assert_allclose(display.scatter_.get_facecolors(), expected)
    # the background is still the gate
    gate = moe.predict_gate_proba(_grid(display)).reshape(display.gate_proba.shape)
    np.testing.assert_allclose(display.gate_proba, gate)
    with pytest.raises(ValueError, match="response='responsibility'.*pass y"):
        ExpertRegionDisplay.from_estimator(moe, X, response="responsibility")


def test_response_prediction(xor_classification, split_regression):
    X, y, clf = xor_classification
    display = ExpertRegionDisplay.from_estimator(
        clf, X, y, response="prediction", grid_resolution=RESOLUTION
    )
    expected = clf.predict(_grid(display)).reshape(RESOLUTION, RESOLUTION)
    np.testing.assert_array_equal(display.prediction, expected)
    rgba = np.asarray(display.surface_.get_array())
    np.testing.assert_allclose(rgba[..., :3], display.class_colors_[expected][..., :3])
    assert display.boundaries_  # the gate boundaries stay on top

    X, y, reg = split_regression
    display = ExpertRegionDisplay.from_estimator(
        reg, X, response="prediction", grid_resolution=RESOLUTION
    )
    expected = reg.predict(_grid(display)).reshape(RESOLUTION, RESOLUTION)
    np.testing.assert_allclose(display.prediction, expected)
    np.testing.assert_allclose(display.surface_.get_array(), expected)
    assert display.surface_.get_cmap().name == "viridis"


def test_pipeline_in_raw_units():
    X, y = _xor_classification()
    X_raw = X * [200.0, 50.0] + [1000.0, -300.0]
    pipe = make_pipeline(
        StandardScaler(), MixtureOfExpertsClassifier(2, random_state=0)
    ).fit(X_raw, y)
    display = ExpertRegionDisplay.from_estimator(
        pipe, X_raw, y, grid_resolution=RESOLUTION, eps=0.0
    )
    assert display.xx0.min() == pytest.approx(X_raw[:, 0].min())
    assert display.xx1.max() == pytest.approx(X_raw[:, 1].max())
    assert display.ax_.get_xlim() == pytest.approx(
        (X_raw[:, 0].min(), X_raw[:, 0].max())
    )
    # by hand: grid in raw units, through the scaler, into the mixture
    x0 = np.linspace(X_raw[:, 0].min(), X_raw[:, 0].max(), RESOLUTION)
    x1 = np.linspace(X_raw[:, 1].min(), X_raw[:, 1].max(), RESOLUTION)
    xx0, xx1 = np.meshgrid(x0, x1)
    grid = np.column_stack([xx0.ravel(), xx1.ravel()])
    gate = pipe[-1].predict_gate_proba(pipe[0].transform(grid))
    np.testing.assert_allclose(display.xx0, xx0)
    np.testing.assert_allclose(display.gate_proba, gate.reshape(*xx0.shape, 2))
    np.testing.assert_allclose(display.scatter_.get_offsets(), X_raw)
    # the same mixture on standardized inputs has the same picture
    moe = MixtureOfExpertsClassifier(2, random_state=0)
    moe.fit(pipe[0].transform(X_raw), y)
    np.testing.assert_allclose(
        display.gate_proba,
        moe.predict_gate_proba(pipe[0].transform(grid)).reshape(*xx0.shape, 2),
    )
    display = ExpertRegionDisplay.from_estimator(
        pipe, X_raw, response="prediction", grid_resolution=RESOLUTION
    )
    np.testing.assert_array_equal(
        display.prediction.ravel(), pipe.predict(_grid(display))
    )


@pytest.mark.parametrize(
    "make",
    [HierarchicalMixtureOfExpertsClassifier, HierarchicalMixtureOfExpertsRegressor],
)
def test_hierarchy_level_one(make):
    if make is HierarchicalMixtureOfExpertsClassifier:
        rng = np.random.RandomState(0)
        X = rng.uniform(-2, 2, (300, 2))
        y = (X[:, 0] * X[:, 1] > 0).astype(int)
    else:
        X, y = _split_regression()
    hme = make(depth=2, branching=2, random_state=0).fit(X, y)
    leaves = ExpertRegionDisplay.from_estimator(hme, X, y, grid_resolution=RESOLUTION)
    assert leaves.gate_proba.shape[-1] == 4
    top = ExpertRegionDisplay.from_estimator(
        hme, X, y, level=1, grid_resolution=RESOLUTION
    )
    assert top.gate_proba.shape[-1] == hme.gate_.branching
    assert np.unique(top.expert_map).size <= hme.gate_.branching
    # a node's probability is the sum of its leaves' (leaves 0-1, then 2-3)
    summed = leaves.gate_proba.reshape(RESOLUTION, RESOLUTION, 2, 2).sum(axis=3)
    np.testing.assert_allclose(top.gate_proba, summed, atol=1e-12)
    assert top.region_labels == ["node 1 (experts 0-1)", "node 2 (experts 2-3)"]
    assert top.expert_colors_.shape == (2, 4)
    if make is HierarchicalMixtureOfExpertsRegressor:  # points by top-level node
        node = hme.predict_node_proba(X, y)[:, 1:3].argmax(axis=1)
        np.testing.assert_array_equal(top.data_labels, node)
    # level = depth is the leaves themselves
    deepest = ExpertRegionDisplay.from_estimator(
        hme, X, level=2, grid_resolution=RESOLUTION
    )
    np.testing.assert_allclose(deepest.gate_proba, leaves.gate_proba, atol=1e-12)
    assert deepest.region_labels[1] == "node 4 (expert 1)"
    for level in (0, 3, 1.0, True):
        with pytest.raises(ValueError, match="level must be None"):
            ExpertRegionDisplay.from_estimator(hme, X, level=level)


def test_level_needs_a_hierarchy(split_regression):
    X, _, moe = split_regression
    with pytest.raises(ValueError, match="needs a hierarchical mixture"):
        ExpertRegionDisplay.from_estimator(moe, X, level=1)


def test_other_features_fixed_at_their_median():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (300, 3))
    X[:, 1] = rng.exponential(size=300)  # median far from mean
    y = np.where(X[:, 2] < 0, X[:, 0], -X[:, 0]) + X[:, 1]
    moe = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    display = ExpertRegionDisplay.from_estimator(
        moe, X, features=(2, 0), grid_resolution=RESOLUTION
    )
    grid = np.column_stack(
        [
            display.xx1.ravel(),
            np.full(RESOLUTION**2, np.median(X[:, 1])),
            display.xx0.ravel(),
        ]
    )
    expected = moe.predict_gate_proba(grid).reshape(display.gate_proba.shape)
    np.testing.assert_allclose(display.gate_proba, expected)
    assert display.xx0.min() < X[:, 2].min()
    np.testing.assert_allclose(display.scatter_.get_offsets(), X[:, [2, 0]])
    assert display.ax_.get_xlabel() == "feature 2"
    assert display.ax_.get_ylabel() == "feature 0"


def test_dataframe_columns_by_name():
    pd = pytest.importorskip("pandas")
    X, y = _xor_classification()
    frame = pd.DataFrame({"F1": X[:, 0], "F2": X[:, 1], "age": X[:, 0] ** 2})
    moe = MixtureOfExpertsClassifier(2, random_state=0).fit(frame, y)
    display = ExpertRegionDisplay.from_estimator(
        moe, frame, y, features=("F2", "F1"), grid_resolution=RESOLUTION
    )
    assert display.ax_.get_xlabel() == "F2"
    assert display.ax_.get_ylabel() == "F1"
    grid = pd.DataFrame(
        {
            "F1": display.xx1.ravel(),
            "F2": display.xx0.ravel(),
            "age": np.median(frame["age"]),
        }
    )
    expected = moe.predict_gate_proba(grid).reshape(display.gate_proba.shape)
    np.testing.assert_allclose(display.gate_proba, expected)
    with pytest.raises(ValueError, match="not a column of X"):
        ExpertRegionDisplay.from_estimator(moe, frame, features=("F1", "nope"))


def test_text_column_fixed_at_most_frequent_value():
    pd = pytest.importorskip("pandas")
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "a": rng.randn(200),
            "b": rng.randn(200),
            "city": rng.choice(["x", "y", "y", "z"], 200),
        }
    )
    target = frame["a"] * (frame["city"] == "y") + frame["b"]
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough"),
        MixtureOfExpertsRegressor(2, random_state=0),
    ).fit(frame, target)
    display = ExpertRegionDisplay.from_estimator(
        pipe, frame, target, features=("a", "b"), grid_resolution=RESOLUTION
    )
    grid = pd.DataFrame(
        {"a": display.xx0.ravel(), "b": display.xx1.ravel(), "city": "y"}
    )
    expected = pipe[-1].predict_gate_proba(pipe[:-1].transform(grid))
    np.testing.assert_allclose(display.gate_proba.reshape(-1, 2), expected)


def test_plot_again_without_recomputing(xor_classification):
    X, y, moe = xor_classification
    display = ExpertRegionDisplay.from_estimator(moe, X, y, grid_resolution=RESOLUTION)
    first_ax = display.ax_
    _, ax = plt.subplots()
    again = display.plot(
        ax=ax, plot_boundaries=False, legend=False, expert_colors="viridis"
    )
    assert again is display
    assert display.ax_ is ax is not first_ax
    assert display.figure_ is ax.figure
    assert display.boundaries_ is None and display.legend_ is None
    assert display.ax_.get_xlabel() == "feature 0"
    display.plot(ax=ax, xlabel="F1", ylabel="F2")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("F1", "F2")


def test_region_errors(split_regression):
    X, y, moe = split_regression
    with pytest.raises(ValueError, match="response must be one of"):
        ExpertRegionDisplay.from_estimator(moe, X, response="proba")
    with pytest.raises(ValueError, match="two input features but X has 1"):
        ExpertRegionDisplay.from_estimator(
            MixtureOfExpertsRegressor(2, random_state=0).fit(X[:, :1], y), X[:, :1]
        )
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_features\)"):
        ExpertRegionDisplay.from_estimator(moe, X[:, 0])
    with pytest.raises(ValueError, match="pair of columns"):
        ExpertRegionDisplay.from_estimator(moe, X, features=0)
    with pytest.raises(ValueError, match="two different columns"):
        ExpertRegionDisplay.from_estimator(moe, X, features=(1, 1))
    with pytest.raises(ValueError, match="column index in"):
        ExpertRegionDisplay.from_estimator(moe, X, features=(0, 5))
    with pytest.raises(ValueError, match="grid_resolution"):
        ExpertRegionDisplay.from_estimator(moe, X, grid_resolution=1)
    with pytest.raises(ValueError, match="eps"):
        ExpertRegionDisplay.from_estimator(moe, X, eps=-1.0)
    with pytest.raises(ValueError, match="one target per row"):
        ExpertRegionDisplay.from_estimator(moe, X, y[:-1])
    with pytest.raises(ValueError, match="expert_colors has 1 colours"):
        ExpertRegionDisplay.from_estimator(moe, X, expert_colors=["red"])


def test_unknown_class_labels(xor_classification):
    X, y, moe = xor_classification
    with pytest.raises(ValueError, match=r"not fitted on: \[7\]"):
        ExpertRegionDisplay.from_estimator(moe, X, np.where(y == 1, 7, 0))


# ---------------------------------------------------------- ExpertFitDisplay


def test_fit_display_lines_band_and_gate(line_regression):
    X, y, moe = line_regression
    display = ExpertFitDisplay.from_estimator(moe, X, y, grid_resolution=50)
    x = display.x_grid
    assert x.shape == (50,)
    grid = x[:, None]
    experts = moe.predict_experts(grid)
    gate = moe.predict_gate_proba(grid)
    mean, std = moe.predict(grid, return_std=True)

    assert len(display.expert_lines_) == moe.n_experts
    for k, lines in enumerate(display.expert_lines_):
        segments = np.asarray(lines.get_segments())
        assert segments.shape == (49, 2, 2)
        np.testing.assert_allclose(segments[:, 0, 1], experts[:-1, k])
        np.testing.assert_allclose(segments[:, 1, 1], experts[1:, k])
        np.testing.assert_allclose(
            lines.get_colors()[:, 3], 0.5 * (gate[:-1, k] + gate[1:, k])
        )
    np.testing.assert_allclose(display.mean_line_.get_ydata(), mean)
    np.testing.assert_allclose(display.y_std, std)
    band = display.band_.get_paths()[0].vertices
    upper = np.interp(band[:, 0], x, mean + 2 * std)
    lower = np.interp(band[:, 0], x, mean - 2 * std)
    on_edge = np.isclose(band[:, 1], upper) | np.isclose(band[:, 1], lower)
    assert on_edge.all()
    assert np.isclose(band[:, 1], upper).sum() >= 50
    assert np.isclose(band[:, 1], lower).sum() >= 50

    assert len(display.gate_lines_) == moe.n_experts
    for k, line in enumerate(display.gate_lines_):
        np.testing.assert_allclose(line.get_xdata(), x)
        np.testing.assert_allclose(line.get_ydata(), gate[:, k])
    assert display.gate_lines_[0].axes is display.gate_ax_
    assert display.expert_lines_[0].axes is display.ax_
    assert display.axes_.shape == (2,)
    assert display.bounding_ax_ is not None and not display.bounding_ax_.axison
    assert display.gate_ax_.get_xlabel() == "feature 0"
    responsible = moe.responsibilities(X, y).argmax(axis=1)
    np.testing.assert_array_equal(display.data_labels, responsible)
    assert display.scatter_.get_offsets().shape == (X.shape[0], 2)


def test_fit_display_band_width(line_regression):
    X, y, moe = line_regression
    display = ExpertFitDisplay.from_estimator(moe, X, y, grid_resolution=20, n_std=1)
    band = display.band_.get_paths()[0].vertices
    assert band[:, 1].max() <= (display.y_mean + display.y_std).max() + 1e-9
    assert display.legend_.get_texts()[-1].get_text() == "mean ± 1 std"


def test_fit_display_axes(line_regression):
    X, y, moe = line_regression
    _, (top, bottom) = plt.subplots(2, 1)
    display = ExpertFitDisplay.from_estimator(
        moe, X, y, grid_resolution=20, ax=[top, bottom]
    )
    assert display.ax_ is top and display.gate_ax_ is bottom
    assert display.bounding_ax_ is None
    _, ax = plt.subplots()
    display = ExpertFitDisplay.from_estimator(
        moe, X, y, grid_resolution=20, ax=ax, plot_gate=False
    )
    assert display.ax_ is ax and display.gate_ax_ is None
    assert display.gate_lines_ is None and display.axes_.shape == (1,)
    with pytest.raises(ValueError, match="Expected ax to hold 2 axes"):
        ExpertFitDisplay.from_estimator(moe, X, y, ax=[top])
    _, ax = plt.subplots()
    display = ExpertFitDisplay.from_estimator(moe, X, y, grid_resolution=20, ax=ax)
    assert display.bounding_ax_ is ax
    with pytest.raises(ValueError, match="ax=display.axes_"):
        display.plot(ax=ax)
    display.plot(ax=display.axes_)


def test_fit_display_feature_and_pipeline():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.uniform(0, 600, 200), rng.normal(size=200)])
    y = np.where(X[:, 0] < 300, 1.0, -1.0) * X[:, 0] / 100 + 0.1 * rng.randn(200)
    pipe = make_pipeline(
        StandardScaler(), MixtureOfExpertsRegressor(2, random_state=0)
    ).fit(X, y)
    with pytest.raises(ValueError, match="pass feature="):
        ExpertFitDisplay.from_estimator(pipe, X, y)
    display = ExpertFitDisplay.from_estimator(
        pipe, X, y, feature=0, grid_resolution=25, eps=0
    )
    assert display.x_grid[0] == pytest.approx(X[:, 0].min())
    assert display.x_grid[-1] == pytest.approx(X[:, 0].max())
    grid = np.column_stack([display.x_grid, np.full(25, np.median(X[:, 1]))])
    np.testing.assert_allclose(display.y_mean, pipe.predict(grid))
    np.testing.assert_allclose(
        display.gate_proba, pipe[-1].predict_gate_proba(pipe[0].transform(grid))
    )


def test_fit_display_errors(line_regression, xor_classification):
    X, y, clf = xor_classification
    with pytest.raises(ValueError, match="classifier"):
        ExpertFitDisplay.from_estimator(clf, X, y, feature=0)
    X, y, moe = line_regression
    with pytest.raises(ValueError, match="one target per row"):
        ExpertFitDisplay.from_estimator(moe, X, y[:-1])
    with pytest.raises(ValueError, match="column index"):
        ExpertFitDisplay.from_estimator(moe, X, y, feature=1)
    Y = np.column_stack([y, -y])
    multi = MixtureOfExpertsRegressor(2, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="one target"):
        ExpertFitDisplay.from_estimator(multi, X, Y)


# -------------------------------------------- Convergence and expert usage


def test_convergence_lines_are_lower_bounds(line_regression):
    X, y, moe = line_regression
    display = ConvergenceDisplay.from_estimator(moe)
    assert display.quantity == "lower_bounds_"
    (line,) = display.lines_
    np.testing.assert_array_equal(line.get_ydata(), moe.lower_bounds_)
    np.testing.assert_array_equal(
        line.get_xdata(), np.arange(1, len(moe.lower_bounds_) + 1)
    )
    assert "lower_bounds_" in display.ax_.get_ylabel()
    assert display.legend_ is None

    runs = [
        MixtureOfExpertsRegressor(2, init="random", random_state=s).fit(X, y)
        for s in range(3)
    ]
    display = ConvergenceDisplay.from_estimators(runs, labels=["a", "b", "c"])
    assert len(display.lines_) == 3
    for run, line in zip(runs, display.lines_, strict=True):
        np.testing.assert_array_equal(line.get_ydata(), run.lower_bounds_)
    assert [t.get_text() for t in display.legend_.get_texts()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="one label per estimator"):
        ConvergenceDisplay.from_estimators(runs, labels=["a"])
    with pytest.raises(ValueError, match="empty"):
        ConvergenceDisplay.from_estimators([])
    # a second run added to the same axes
    more = ConvergenceDisplay.from_estimator(runs[0], label="again", ax=display.ax_)
    assert len(more.ax_.get_lines()) == 4


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_convergence_without_likelihood_trace(line_regression):
    X, y, em = line_regression
    gd = MixtureOfExpertsRegressor(
        2, solver="gd", loss="competitive", max_iter=30, random_state=0
    ).fit(X, y)
    assert len(gd.lower_bounds_) == 1 < len(gd.loss_curve_)
    display = ConvergenceDisplay.from_estimators([em, gd])
    assert display.quantity == "loss_curve_"
    assert "loss_curve_" in display.ax_.get_ylabel()
    np.testing.assert_allclose(display.lines_[0].get_ydata(), em.loss_curve_)
    np.testing.assert_allclose(display.lines_[1].get_ydata(), gd.loss_curve_)
    assert display.labels == [
        "MixtureOfExpertsRegressor (0)",
        "MixtureOfExpertsRegressor (1)",
    ]


def test_usage_bars_are_expert_load(split_regression):
    X, y, moe = split_regression
    display = ExpertUsageDisplay.from_estimator(moe)
    heights = [bar.get_height() for bar in display.bars_]
    np.testing.assert_allclose(heights, moe.expert_load_)
    assert display.reference_line_.get_ydata()[0] == pytest.approx(1 / moe.n_experts)
    np.testing.assert_allclose(
        [bar.get_facecolor() for bar in display.bars_], display.expert_colors_
    )
    pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(3, random_state=0))
    display = ExpertUsageDisplay.from_estimator(pipe.fit(X, y))
    np.testing.assert_allclose(
        [bar.get_height() for bar in display.bars_], pipe[-1].expert_load_
    )


# ------------------------------------------------------------------ errors


def _unfitted_calls():
    X, y = _split_regression(20)
    moe = MixtureOfExpertsRegressor(2)
    pipe = make_pipeline(StandardScaler(), MixtureOfExpertsClassifier(2))
    return [
        lambda: ExpertRegionDisplay.from_estimator(moe, X, y),
        lambda: ExpertRegionDisplay.from_estimator(pipe, X, y > 0),
        lambda: ExpertFitDisplay.from_estimator(moe, X[:, :1], y),
        lambda: ConvergenceDisplay.from_estimator(moe),
        lambda: ConvergenceDisplay.from_estimators([moe]),
        lambda: ExpertUsageDisplay.from_estimator(moe),
    ]


@pytest.mark.parametrize("call", _unfitted_calls())
def test_not_fitted(call):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        call()


def test_not_a_mixture():
    X, y = _split_regression(50)
    linear = LinearRegression().fit(X, y)
    with pytest.raises(TypeError, match="mixexp mixture of experts"):
        ExpertRegionDisplay.from_estimator(linear, X)
    with pytest.raises(TypeError, match="mixexp mixture of experts"):
        ExpertUsageDisplay.from_estimator(make_pipeline(linear))


def test_import_without_matplotlib():
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None\n"
        "import numpy as np\n"
        "import mixexp.inspection as inspection\n"
        "try:\n"
        "    inspection.ExpertUsageDisplay(expert_load=np.ones(2) / 2).plot()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "pip install mixexp[plot]" in result.stdout


# -------------------------------------------------------------- docstrings


def _documented(doc):
    """Names in the numpydoc Parameters section (as in test_docstrings)."""
    match = re.search(r"^Parameters\n-+\n(.*?)(?=^\w[\w ]*\n-+\n|\Z)", doc, re.S | re.M)
    return re.findall(r"^(\w+) :", match.group(1), re.M) if match else []


_DISPLAYS = [
    ConvergenceDisplay,
    ExpertFitDisplay,
    ExpertRegionDisplay,
    ExpertUsageDisplay,
]


def _doc_cases():
    for cls in _DISPLAYS:
        yield cls.__name__, cls, cls.__init__
        for name in ("plot", "from_estimator", "from_estimators"):
            if hasattr(cls, name):
                method = getattr(cls, name)
                yield f"{cls.__name__}.{name}", method, method


@pytest.mark.parametrize("case", list(_doc_cases()), ids=lambda case: case[0])
def test_parameters_are_documented(case):
    name, owner, function = case
    doc = inspect.getdoc(owner)
    params = [
        p for p in inspect.signature(function).parameters if p not in ("self", "cls")
    ]
    assert _documented(doc) == params, name
    if inspect.isclass(owner) or name.split(".")[-1].startswith("from_"):
        assert re.search(r"^Examples\n-+\n\s*>>>", doc, re.M), f"{name}: no example"
    else:
        assert re.search(r"^Returns\n-+\n", doc, re.M)
