"""Row chunks of the training data, and sums of per-chunk statistics.

Everything the EM driver and the components compute is a sum over rows, so
they see the data only as a sequence of row chunks. The extra memory of a fit
is then a few chunk-sized temporaries plus the (n_experts, n_samples)
responsibilities, and the same M-step code can later run over chunks that live
elsewhere (on disk, on dask workers).
"""

import numpy as np

# Bytes of the widest per-chunk temporary (rows x n_experts x p float64).
_CHUNK_BYTES = 4 * 2**20


def chunk_rows(n_rows, row_width, budget=_CHUNK_BYTES):
    """How many rows to process at once so a (rows, row_width) float64 fits."""
    rows = budget // (8 * max(int(row_width), 1))
    return int(min(max(rows, 256), max(n_rows, 1)))


def design_chunks(X, offset, rows):
    """Yield ``(slice, Xt)`` where ``Xt = [X[slice] - offset, 1].T``.

    The design is feature-major, shape (p, n_rows): per-chunk arrays then have
    samples on their last, contiguous axis, and reductions over experts or
    classes run as vectorized operations across rows instead of as short
    inner loops. The intercept row is appended per chunk so the full design
    matrix is never materialized; ``offset`` (the weighted mean of X during a
    fit, zero at prediction) keeps the weighted Gram matrices well conditioned.
    """
    n_rows, n_features = X.shape
    for start in range(0, n_rows, rows):
        stop = min(start + rows, n_rows)
        Xt = np.empty((n_features + 1, stop - start))
        np.subtract(X[start:stop].T, np.reshape(offset, (-1, 1)), out=Xt[:n_features])
        Xt[n_features] = 1.0
        yield slice(start, stop), Xt


def canonical_order(Z):
    """A row order that depends on the rows' values only.

    Rows are sorted by their projection on a fixed direction (the same for
    every call), so identical rows are adjacent and a permutation of the
    input gives the same sequence of values. Drawing rows through the
    cumulative weight in this order makes a draw depend on the weighted
    empirical distribution only: a row of weight 2 and two copies of it are
    drawn alike. (``np.lexsort`` would do too, but copies the whole array.)
    """
    direction = np.random.RandomState(20260101).standard_normal(Z.shape[1])
    return np.argsort(Z @ direction, kind="stable")


def draw_rows(mass, order, rng, size=None):
    """Rows drawn with replacement, with probability proportional to
    ``mass``, scanning the rows in the canonical ``order``."""
    cumulative = mass[order]
    np.cumsum(cumulative, out=cumulative)
    targets = rng.uniform(size=size) * cumulative[-1]
    positions = np.searchsorted(cumulative, targets, side="right")
    return order[np.minimum(positions, order.size - 1)]


def add_stats(total, part):
    """Add a dict of arrays/floats into an accumulator dict (in place)."""
    for key, value in part.items():
        if key in total:
            total[key] = total[key] + value
        else:
            total[key] = value
    return total


class TrainingData:
    """Validated training arrays plus what every component needs to know.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray
        Encoded targets: float (n_samples, n_outputs) for regression, int codes
        (n_samples,) for classification.
    sample_weight : ndarray of shape (n_samples,)
    x_offset : ndarray of shape (n_features,)
        Weighted mean of X; the design rows are centred by it.
    resp : ndarray of shape (n_experts, n_samples)
        Current responsibilities (filled by the E-step), expert-major.
    log_evidence : ndarray of shape (n_samples,)
        log p(y_i | x_i) under the parameters of the last E-step.
    """

    def __init__(self, X, y, sample_weight, n_experts, row_width):
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.total_weight = float(sample_weight.sum())
        self.x_offset = (sample_weight @ X) / self.total_weight
        self.n_samples = X.shape[0]
        self.n_experts = n_experts
        self.rows = chunk_rows(self.n_samples, row_width)
        self.resp = np.zeros((n_experts, self.n_samples))
        self.log_evidence = np.empty(self.n_samples)
        # Fit-time scratch that components may share across iterations.
        self.cache = {}

    def curvature_sample(self, size):
        """A weighted row sample for Hessian estimates, or None if n is small.

        ``size`` rows are drawn with replacement in proportion to the sample
        weights (in the canonical row order, so the draw is invariant to row
        order and to integer weights versus repeated rows) with a fixed seed,
        and returned as ``(rows, Xt, weight)``: the distinct row indices,
        their centred design (p, n_rows) and weights that make every sum over
        the sample an unbiased estimate of the sum over all rows. Cached for
        the fit.
        """
        if self.n_samples <= 4 * size:
            return None
        key = ("curvature_sample", size)
        if key not in self.cache:
            order = canonical_order(self.X)
            drawn = draw_rows(self.sample_weight, order, np.random.RandomState(0), size)
            rows, counts = np.unique(drawn, return_counts=True)
            Xt = next(self.design_rows(rows))[1]
            self.cache[key] = (rows, Xt, counts * (self.total_weight / size))
        return self.cache[key]

    def design_rows(self, rows):
        """Yield the one ``(rows, Xt)`` chunk of the given row indices."""
        Xt = next(design_chunks(self.X[rows], self.x_offset, len(rows)))[1]
        yield rows, Xt

    def chunks(self):
        """Yield ``(slice, Xt)`` design chunks centred by ``x_offset``."""
        return design_chunks(self.X, self.x_offset, self.rows)

    def reduce(self, fn):
        """Sum the dicts ``fn(slice, Xt)`` over all chunks."""
        total = {}
        for rows, Xt in self.chunks():
            add_stats(total, fn(rows, Xt))
        return total
