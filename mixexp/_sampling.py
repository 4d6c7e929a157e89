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


def weighted_sum(weight, Z):
    """``weight @ Z`` in float64, in row blocks: a float32 ``Z`` is cast one
    block at a time (numpy would cast all of it for a mixed-dtype product)."""
    total = np.zeros(Z.shape[1])
    for rows in row_blocks(Z):
        total += weight[rows] @ Z[rows]
    return total


def canonical_order(Z, weight):
    """A row order that depends on the weighted empirical distribution of
    the rows only, and (ties aside) not on the columns' signs, origins,
    units or order.

    Rows are sorted by their squared distance from the midpoint of the
    range of the rows of positive weight, each column in units of its half
    range. The squared terms are rounded down to multiples of 4 d 2^-53,
    whose sum is exact, hence the same in any order of the columns. Ties
    between different rows (discrete values placed symmetrically in their
    range) are broken by the projection of those units on a fixed
    direction, which changes with a column's sign or place. So identical
    rows are adjacent, and a permutation of the rows gives the same
    sequence of values. Drawing rows through the cumulative weight in this
    order makes a draw depend on the weighted empirical distribution only
    (a row of weight 2 and two copies of it are drawn alike), and the fit
    the same when a column is shifted or rescaled (up to rounding) and,
    but for such ties, negated or moved.

    Parameters
    ----------
    Z : ndarray or StandardizedFeatures of shape (n_samples, n_dims)
        Read a block of rows at a time.
    weight : ndarray of shape (n_samples,)

    Returns
    -------
    order : ndarray of shape (n_samples,)
    """
    n_dims = Z.shape[1]
    low, high = _positive_range(Z, weight > 0)
    # Halves first: the difference of two huge values could overflow.
    middle = low / 2 + high / 2
    half = high / 2 - low / 2
    half[half == 0] = 1.0
    # A term is at most 1 on the rows of positive weight (the others, whose
    # place in the order draws nothing, are capped at 4): in these units
    # every partial sum is an integer below 2^53, exact in float64.
    cap = 2.0**53 / max(n_dims, 1)
    ones = np.ones(n_dims)
    distance = np.empty(Z.shape[0])
    for rows, block in _in_half_ranges(Z, middle, half):
        block *= block
        block *= cap / 4
        np.minimum(block, cap, out=block)
        np.floor(block, out=block)
        np.matmul(block, ones, out=distance[rows])
    order = np.argsort(distance)  # unstable, but only ties are in doubt
    ranked = distance[order]
    if not np.any(ranked[1:] == ranked[:-1]):
        return order
    direction = _fixed_direction(n_dims)
    tie_break = np.empty(Z.shape[0])
    for rows, block in _in_half_ranges(Z, middle, half):
        np.matmul(block, direction, out=tie_break[rows])
    return np.lexsort((tie_break, distance))


def _in_half_ranges(Z, middle, half):
    """``(rows, (Z[rows] - middle) / half)`` in float64, block by block."""
    for rows in row_blocks(Z):
        yield rows, (np.asarray(Z[rows], dtype=float) - middle) / half


def _positive_range(Z, positive):
    """Column minimum and maximum of the rows where ``positive`` (of all
    rows when there are none)."""
    if not positive.any():
        positive = np.ones_like(positive)
    low = np.full(Z.shape[1], np.inf)
    high = np.full(Z.shape[1], -np.inf)
    for rows in row_blocks(Z):
        block = np.asarray(Z[rows], dtype=float)
        if not positive[rows].all():
            block = block[positive[rows]]
        if block.shape[0]:
            # Reduced along contiguous rows: several times faster than
            # along the first axis of a few columns.
            columns = np.ascontiguousarray(block.T)
            np.minimum(low, columns.min(axis=1), out=low)
            np.maximum(high, columns.max(axis=1), out=high)
    return low, high


@functools.cache
def _fixed_direction(n_dims):
    """``canonical_order``'s direction for ties, made once per dimension:
    building a RandomState costs more than sorting a few thousand rows."""
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
