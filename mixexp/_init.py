"""Initial responsibilities: weighted k-means on the joint (x, y) space.

Seeding draws rows through the cumulative weight in a canonical (sorted) row
order, so the result depends on the weighted empirical distribution only: a
row with ``sample_weight=2`` and two copies of that row give the same seeds,
and shuffling the rows, or shifting, rescaling, negating or reordering the
columns, changes nothing (but for ties of discrete rows, see
``canonical_order``). That is what makes the whole fit invariant to row
order and to the columns' units, signs and order, and equivalent under
integer weights.

The clustered rows are never copied whole: ``StandardizedFeatures`` makes
them block by block from X and y when indexed. k-means holds them for at
most 4,096 rows (larger data are subsampled: 2,048 weighted draws, drawn in
the same canonical order), with a few vectors of length n_samples per run;
distances to all centres are computed in row chunks.
"""

from functools import partial
from numbers import Integral

import numpy as np

from ._sampling import canonical_order, draw_rows, row_blocks, rows_at_quantiles


class StandardizedFeatures:
    """The rows the initialization clusters, made when indexed.

    ``Z[rows]`` is ``(make(X[rows], y[rows]) - mean) * scale``, a new array
    in ``make``'s dtype, for a slice, an index array or one integer; no
    (n_samples, n_dims) copy is kept.

    Parameters
    ----------
    make : callable
        ``make(X_rows, y_rows)`` returns a new (n_rows, n_dims) array: the
        joint (x, y) columns for regression, x for classification.
    X, y : ndarrays with n_samples rows
    mean, scale : ndarrays of shape (n_dims,)
    """

    def __init__(self, make, X, y, mean, scale):
        self.make, self.X, self.y = make, X, y
        self.mean, self.scale = mean, scale
        self.shape = (X.shape[0], mean.shape[0])

    def __getitem__(self, rows):
        if isinstance(rows, Integral):
            return self[rows : rows + 1][0]
        Z = self.make(self.X[rows], self.y[rows])
        Z -= self.mean
        Z *= self.scale
        return Z


def _raw_blocks(make, part):
    """``(rows, make(X[rows], y[rows]))`` over row blocks of a part."""
    width = make(part.X[:0], part.y[:0]).shape[1]
    for rows in row_blocks(part.X, width=width):
        yield rows, make(part.X[rows], part.y[rows])


def standardize_features(data, make):
    """Give every part of ``data`` its ``features``: the rows of ``make``
    standardized by their weighted mean and standard deviation over all the
    parts (two passes of sums, block by block)."""

    def first(part):
        total = 0.0
        for rows, Z in _raw_blocks(make, part):
            total = total + part.sample_weight[rows] @ Z
        return {"sum": total}

    mean = data.sum_parts(first)["sum"] / data.total_weight

    def second(part):
        total = 0.0
        for rows, Z in _raw_blocks(make, part):
            Z -= mean
            total = total + part.sample_weight[rows] @ (Z * Z)
        return {"sum": total}

    moment = data.sum_parts(second)["sum"]
    scale = 1.0 / np.where(moment > 0, np.sqrt(moment / data.total_weight), 1.0)

    def attach(part):
        part.features = StandardizedFeatures(make, part.X, part.y, mean, scale)

    data.map_parts(attach)


def _nearest(Z, sq_norms, centers):
    """Label of the nearest centre and the squared distance to it, per row.

    ``centers`` is (K, d), or (S, K, d) for S independent k-means runs done
    together; the results are (n,) or (S, n). Distances are (S * K, rows)
    blocks, and the running minimum over the K centres is K comparisons
    across rows, the labels updated by arithmetic (``label += nearer *
    (k - label)``): both are several times faster than ``argmin`` over the
    short, strided centre axis or a boolean-mask assignment.
    """
    runs = centers.reshape((-1,) + centers.shape[-2:])
    n_runs, n_clusters = runs.shape[:2]
    flat = runs.reshape(n_runs * n_clusters, -1)
    center_norms = np.sum(flat * flat, axis=1)[:, None]
    flat = -2.0 * flat
    labels = np.empty((n_runs, Z.shape[0]), dtype=np.int32)
    closest = np.empty((n_runs, Z.shape[0]))
    for rows in row_blocks(Z, width=max(Z.shape[1], flat.shape[0])):
        dist = flat @ Z[rows].T
        dist += center_norms
        dist = dist.reshape(n_runs, n_clusters, -1)
        best, label = closest[:, rows], labels[:, rows]
        best[:] = dist[:, 0]
        label[:] = 0
        nearer = np.empty(best.shape, dtype=bool)
        change = np.empty(best.shape, dtype=np.int32)
        for k in range(1, n_clusters):
            np.less(dist[:, k], best, out=nearer)
            np.subtract(k, label, out=change)
            change *= nearer
            label += change
            np.minimum(best, dist[:, k], out=best)
        best += sq_norms[rows]
    np.maximum(closest, 0.0, out=closest)
    shape = centers.shape[:-2] + (Z.shape[0],)
    return labels.reshape(shape), closest.reshape(shape)


def _cluster_sums(Z, weight, labels, n_clusters):
    """Weighted coordinate sums (S, K, d) and weighted counts (S, K) of
    every cluster of every run, for ``labels`` of shape (S, n): products
    with the weighted 0/1 memberships, block by block."""
    n_runs = labels.shape[0]
    sums = np.zeros((n_runs * n_clusters, Z.shape[1]))
    mass = np.zeros(n_runs * n_clusters)
    clusters = np.arange(n_clusters)[:, None]
    for rows in row_blocks(Z, width=max(Z.shape[1], n_runs * n_clusters)):
        member = np.equal(labels[:, None, rows], clusters) * weight[rows]
        member = member.reshape(n_runs * n_clusters, -1)
        sums += member @ Z[rows]
        mass += member.sum(axis=1)
    return sums.reshape(n_runs, n_clusters, -1), mass.reshape(n_runs, n_clusters)


def _seed(Z, sq_norms, weight, order, n_clusters, n_runs, rng):
    """k-means++ centres of ``n_runs`` independent runs, drawn together:
    rows drawn with D^2 weighting, shape (S, K, d). Run r uses the r-th
    ``n_clusters`` uniforms of ``rng``, as ``n_runs`` one-run seedings would."""
    uniform = rng.uniform(size=(n_runs, n_clusters))
    rows = np.empty((n_runs, n_clusters), dtype=np.intp)
    rows[:, 0] = rows_at_quantiles(weight, order, uniform[:, 0])
    closest = None
    for k in range(1, n_clusters):
        latest = np.asarray(Z[rows[:, k - 1], None], dtype=float)  # (S, 1, d)
        dist = _nearest(Z, sq_norms, latest)[1]  # to each run's newest centre
        closest = dist if closest is None else np.minimum(closest, dist, out=closest)
        mass = weight * closest
        spent = ~(mass.sum(axis=1) > 0)  # every weighted row already is a centre
        mass[spent] = weight
        rows[:, k] = [
            rows_at_quantiles(run, order, u)
            for run, u in zip(mass, uniform[:, k], strict=True)
        ]
    return np.asarray(Z[rows.ravel()], dtype=float).reshape(n_runs, n_clusters, -1)


def _lloyd(Z, sq_norms, weight, centers, max_iter, tol=1e-4):
    """Weighted Lloyd iterations of S runs at once, ``centers`` of shape
    (S, K, d) updated in place. A run stops when its labels stop changing or
    its centres move by less than ``tol`` in squared distance (the
    standardized features have unit variance); the others go on. Returns
    the weighted inertia of every run, shape (S,)."""
    n_clusters = centers.shape[1]
    labels, closest = _nearest(Z, sq_norms, centers)
    active = np.arange(centers.shape[0])
    for _ in range(max_iter):
        sums, mass = _cluster_sums(Z, weight, labels[active], n_clusters)
        previous = centers[active]
        updated = previous.copy()
        filled = mass > 0
        updated[filled] = sums[filled] / mass[filled][:, None]
        centers[active] = updated
        new_labels, closest[active] = _nearest(Z, sq_norms, updated)
        shift = np.sum((updated - previous) ** 2, axis=(1, 2))
        done = np.all(new_labels == labels[active], axis=1) | (shift < tol)
        labels[active] = new_labels
        active = active[~done]
        if active.size == 0:
            break
    return closest @ weight


def kmeans_centres(
    Z,
    weight,
    n_clusters,
    rng,
    *,
    plus_plus=True,
    n_seeds=5,
    max_iter=10,
    max_rows=2048,
):
    """Weighted k-means(++) centres of the rows of ``Z``.

    Parameters
    ----------
    Z : ndarray or StandardizedFeatures of shape (n_samples, n_dims)
        The rows to cluster; a ``StandardizedFeatures`` is made once for the
        rows k-means uses (all of them, or the ``max_rows`` sample).
    weight : ndarray of shape (n_samples,)
        Non-negative; rows of weight zero never become seeds.
    n_clusters : int
    rng : numpy.random.RandomState
    plus_plus : bool, default=True
        k-means++ seeding (D^2 weighting) followed by Lloyd iterations, best
        of ``n_seeds`` runs by inertia. If False, the centres are
        ``n_clusters`` rows drawn in proportion to their weight (the
        "random" initialization).
    n_seeds : int, default=5
        k-means++ runs, iterated together; the one with the lowest inertia
        is kept.
    max_iter : int, default=10
        Lloyd iterations at most per run. An initialization for EM needs no
        more precision: more iterations did not lead EM to better optima
        (``python benchmarks/bench_init.py`` in BENCHMARKS.md).
    max_rows : int, default=2048
        Above ``2 * max_rows`` samples the centres are found on ``max_rows``
        rows drawn in proportion to their weight (in the canonical order, so
        still invariant to row order and repeats). On all the rows, k-means
        cost as much as several EM iterations at 10,000 rows; the sample
        led EM to the same optima (``python benchmarks/bench_init.py`` in
        BENCHMARKS.md).

    Returns
    -------
    centres : ndarray of shape (n_clusters, n_dims)
    """
    subsample = Z.shape[0] > 2 * max_rows
    if not subsample:
        Z = Z[:]  # StandardizedFeatures: made once, for the order and Lloyd
    order = canonical_order(Z, weight)
    if not plus_plus:
        drawn = [draw_rows(weight, order, rng) for _ in range(n_clusters)]
        return np.array([Z[row] for row in drawn], dtype=float)
    if subsample:
        drawn = draw_rows(weight, order, rng, max_rows)
        rows, counts = np.unique(drawn, return_counts=True)
        Z, weight = Z[rows], counts.astype(float)
        order = canonical_order(Z, weight)
    sq_norms = np.einsum("ij,ij->i", Z, Z)
    runs = _seed(Z, sq_norms, weight, order, n_clusters, n_seeds, rng)
    inertia = _lloyd(Z, sq_norms, weight, runs, max_iter)
    best = 0  # the first run, unless a later one is clearly better
    for run in range(1, n_seeds):
        if inertia[run] < inertia[best] * (1 - 1e-9):
            best = run
    return runs[best]


def centre_options(init, restart_index):
    """``kmeans_centres``' options for ``init`` in a fit's initialization
    ``restart_index``.

    Only the first of a fit's initializations runs Lloyd's iterations: they
    take almost every k-means++ seeding to the same partition, so restarts
    from it would all start EM in one basin. The others start from one
    k-means++ seeding each (spread-out random centres)."""
    if init == "kmeans" and restart_index > 0:
        return {"n_seeds": 1, "max_iter": 0}
    return {"plus_plus": init == "kmeans"}


def nearest_centre(Z, centres):
    """Label of the nearest of ``centres`` for every row of ``Z`` (an array
    or ``StandardizedFeatures``), block by block."""
    labels = np.empty(Z.shape[0], dtype=np.intp)
    for rows in row_blocks(Z):
        block = Z[rows]
        labels[rows] = _nearest(block, np.einsum("ij,ij->i", block, block), centres)[0]
    return labels


def kmeans_labels(Z, weight, n_clusters, rng, **kwargs):
    """Labels of the nearest ``kmeans_centres`` for every row of ``Z``."""
    return nearest_centre(Z, kmeans_centres(Z, weight, n_clusters, rng, **kwargs))


def assign_to_centres(centres, part):
    """One-hot responsibilities of a part: each row to the nearest centre of
    its (standardized) ``features``."""
    labels = nearest_centre(part.features, centres)
    part.resp[:] = 0.0
    part.resp[labels, np.arange(labels.shape[0])] = 1.0


def initialize_responsibilities(data, init, rng, arrange=None):
    """Fill the responsibilities of every part of ``data`` with one-hot
    k-means (``init="kmeans"``) or nearest-random-row (``init="random"``)
    assignments of the rows of its standardized ``features``; ``arrange``
    may reorder the centres among the experts first."""
    centres = data.init_centres(init, rng)
    if arrange is not None:
        centres = arrange(centres)
    data.map_parts(partial(assign_to_centres, centres))
