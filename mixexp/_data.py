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

    The gate and the experts may see different inputs (``gate_features`` and
    ``expert_features``, polynomial experts): each has its own input matrix
    and design offset, looked up by the component's role, ``"gate"`` or
    ``"experts"``.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        The estimator's validated input.
    inputs : dict
        The input matrix of each role, (n_samples, n_role_features).
    offset : dict
        The design offset of each role: the weighted mean of its inputs, or
        zeros for a component that works on uncentred inputs.
    y : ndarray
        Encoded targets: float (n_samples, n_outputs) for regression, int codes
        (n_samples,) for classification.
    sample_weight : ndarray of shape (n_samples,)
    resp : ndarray of shape (n_experts, n_samples)
        Current responsibilities (filled by the E-step), expert-major.
    log_evidence : ndarray of shape (n_samples,)
        log p(y_i | x_i) under the parameters of the last E-step.
    """

    def __init__(self, X, y, sample_weight, n_experts, row_width, inputs=None):
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.total_weight = float(sample_weight.sum())
        self.inputs = dict(inputs or {"gate": X, "experts": X})
        self.offset = {}
        for role, Z in self.inputs.items():
            same = [r for r in self.offset if self.inputs[r] is Z]
            self.offset[role] = (
                self.offset[same[0]]
                if same
                else (sample_weight @ Z) / self.total_weight
            )
        self.n_samples = X.shape[0]
        self.n_experts = n_experts
        self.rows = chunk_rows(self.n_samples, row_width)
        self.resp = np.zeros((n_experts, self.n_samples))
        self.log_evidence = np.empty(self.n_samples)
        # Fit-time scratch that components may share across iterations.
        self.cache = {}

    def curvature_sample(self, size, role):
        """A weighted row sample for Hessian estimates, or None if n is small.

        ``size`` rows are drawn with replacement in proportion to the sample
        weights (in the canonical row order, so the draw is invariant to row
        order and to integer weights versus repeated rows) with a fixed seed,
        and returned as ``(rows, Xt, weight)``: the distinct row indices,
        their centred design (p, n_rows) of ``role`` and weights that make
        every sum over the sample an unbiased estimate of the sum over all
        rows. Cached for the fit.
        """
        if self.n_samples <= 4 * size:
            return None
        key = ("curvature_sample", size, role)
        if key not in self.cache:
            order = canonical_order(self.X)
            drawn = draw_rows(self.sample_weight, order, np.random.RandomState(0), size)
            rows, counts = np.unique(drawn, return_counts=True)
            Xt = self.design(rows, role)
            self.cache[key] = (rows, Xt, counts * (self.total_weight / size))
        return self.cache[key]

    def design(self, rows, role):
        """The centred design (p, n_rows) of ``role`` on the given rows."""
        Z = self.inputs[role][rows]
        return next(design_chunks(Z, self.offset[role], Z.shape[0]))[1]

    def _shared(self):
        """Whether the gate and the experts see the same design."""
        return self.inputs["gate"] is self.inputs["experts"] and np.array_equal(
            self.offset["gate"], self.offset["experts"]
        )

    def joint_rows(self, rows):
        """Yield the one ``(rows, Xt_gate, Xt_experts)`` chunk of these rows."""
        Xg = self.design(rows, "gate")
        yield rows, Xg, Xg if self._shared() else self.design(rows, "experts")

    def chunks(self, role):
        """Yield ``(slice, Xt)`` centred design chunks of ``role``."""
        return design_chunks(self.inputs[role], self.offset[role], self.rows)

    def joint_chunks(self):
        """Yield ``(slice, Xt_gate, Xt_experts)``: the same rows in the
        gate's and the experts' designs (one array when they coincide)."""
        if self._shared():
            for rows, Xt in self.chunks("gate"):
                yield rows, Xt, Xt
            return
        yield from (
            (rows, Xg, Xe)
            for (rows, Xg), (_, Xe) in zip(
                self.chunks("gate"), self.chunks("experts"), strict=True
            )
        )

    def reduce(self, fn, role):
        """Sum the dicts ``fn(slice, Xt)`` over the chunks of ``role``."""
        total = {}
        for rows, Xt in self.chunks(role):
            add_stats(total, fn(rows, Xt))
        return total
