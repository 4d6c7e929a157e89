"""Row sampling and blocked products shared by the training data, the
initialization and the dask path: deterministic row orders, weighted draws
through the cumulative weight, and float64 products taken a block of rows at
a time."""

import functools

import numpy as np

# Bytes of a block's float64 copy: k-means distances and casts are made a
# block at a time (larger blocks made the k-means start slower; the numbers
# are in the commit that set it).
_BLOCK_BYTES = 4 * 2**20


def row_blocks(Z, width=None):
    """Slices of rows of ``Z`` whose float64 copy takes about 4 MiB (or, with
    ``width``, whose float64 (rows, width) array would)."""
    width = Z.shape[1] if width is None else width
    step = max(1024, _BLOCK_BYTES // (8 * max(width, 1)))
    return (slice(start, start + step) for start in range(0, Z.shape[0], step))


def project(Z, vector, out=None):
    """``Z @ vector`` in float64, in row blocks: a float32 ``Z`` is cast one
    block at a time (numpy would cast all of it for a mixed-dtype product)."""
    if out is None:
        out = np.empty(Z.shape[0])
    for rows in row_blocks(Z):
        np.matmul(Z[rows], vector, out=out[rows])
    return out


def weighted_sum(weight, Z):
    """``weight @ Z`` in float64, in row blocks (see ``project``)."""
    total = np.zeros(Z.shape[1])
    for rows in row_blocks(Z):
        total += weight[rows] @ Z[rows]
    return total


def canonical_order(Z):
    """A row order that depends on the rows' values only.

    Rows are sorted by their projection on a fixed direction (the same for
    every call), so identical rows are adjacent and a permutation of the
    input gives the same sequence of values. Drawing rows through the
    cumulative weight in this order makes a draw depend on the weighted
    empirical distribution only: a row of weight 2 and two copies of it are
    drawn alike. (``np.lexsort`` would do too, but copies the whole array.)
    """
    return np.argsort(project(Z, _fixed_direction(Z.shape[1])), kind="stable")


@functools.cache
def _fixed_direction(n_dims):
    """``canonical_order``'s direction, made once per dimension: building a
    RandomState costs more than sorting a few thousand rows."""
    direction = np.random.RandomState(20260101).standard_normal(n_dims)
    direction.setflags(write=False)  # cached, hence shared
    return direction


def draw_rows(mass, order, rng, size=None):
    """Rows drawn with replacement, with probability proportional to
    ``mass``, scanning the rows in the canonical ``order``."""
    return rows_at_quantiles(mass, order, rng.uniform(size=size))


def rows_at_quantiles(mass, order, quantiles):
    """The rows, in the canonical ``order``, at which the cumulative
    ``mass`` first exceeds ``quantiles`` (in [0, 1)) times its total."""
    cumulative = mass[order]
    np.cumsum(cumulative, out=cumulative)
    positions = np.searchsorted(cumulative, quantiles * cumulative[-1], side="right")
    return order[np.minimum(positions, order.size - 1)]
