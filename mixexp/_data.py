"""Row chunks of the training data, and sums of per-chunk statistics.

Everything the EM driver and the components compute is a sum over rows, so
they see the data only as parts (``map_parts``) made of row chunks. The extra
memory of a fit is then a few chunk-sized temporaries plus the (n_experts,
n_samples) responsibilities (the k-means features are made block by block
from X and y; what passes reuse is kept only within a chunk's budget), and
the same code runs over parts that live elsewhere (``mixexp._dask``: on dask
workers).
"""

import copy

import numpy as np
from sklearn import get_config

from ._init import centre_options, kmeans_centres
from ._sampling import canonical_order, draw_rows, row_blocks, weighted_sum

# Input dtypes kept as they are: float32 data is never copied to float64 as a
# whole (see ``design_chunks`` for where the arithmetic happens).
FLOAT_DTYPES = (np.float64, np.float32)

# Bytes of the widest per-chunk temporary (rows x n_experts x p float64), and
# a cap on the rows of a chunk: fewer chunks cost less Python overhead until
# the (n_experts, rows) E-step arrays leave the cache, and larger ones made
# each pass allocate (and the allocator fetch from the system) megabytes of
# fresh temporaries (timed with benchmarks/bench_em.py and bench_peers.py;
# the numbers are in the commits that set them).
_CHUNK_BYTES = 16 * 2**20
_CHUNK_MAX_ROWS = 4096


def is_dask_collection(X):
    """Whether X is a dask array (or other dask collection), without
    importing dask."""
    return hasattr(X, "__dask_graph__") and callable(X.__dask_graph__)


def weighted_moments(X, sample_weight):
    """Weighted mean and standard deviation (1 for a constant column) of
    each column of X, numpy or dask arrays (computed), in float64."""
    if sample_weight is None:
        mean, var = X.mean(axis=0, dtype=np.float64), X.var(axis=0, dtype=np.float64)
    else:
        total = sample_weight.sum()
        mean = sample_weight @ X / total
        var = sample_weight @ (X - mean) ** 2 / total
    if is_dask_collection(mean):
        import dask

        mean, var = dask.compute(mean, var)
    std = np.sqrt(np.maximum(np.asarray(var, dtype=np.float64), 0.0))
    return np.asarray(mean, dtype=np.float64), np.where(std > 0, std, 1.0)


def check_magnitude(A, name):
    """Refuse values whose squares overflow in the Gram products and
    variances of a fit (about 1e150 in float64, 1e15 in float32)."""
    A = np.asarray(A)
    if A.size == 0 or A.dtype.kind != "f":
        return A
    limit = np.sqrt(np.finfo(A.dtype).max) * 1e-4
    flat = A.reshape(A.shape[0], -1)
    largest = max(float(np.max(np.abs(flat[rows]))) for rows in row_blocks(flat))
    if np.isfinite(largest) and largest > limit:  # NaN, inf: validation says
        raise ValueError(
            f"{name} has values as large as {largest:.3g} in {A.dtype}; their "
            "squares overflow. Rescale it (e.g. with StandardScaler, or divide "
            "by a power of ten) before fitting or predicting."
        )
    return A


def chunk_rows(n_rows, row_width, budget=None):
    """How many rows to process at once so a (rows, row_width) float64 fits.

    The budget is 16 MiB, or scikit-learn's ``working_memory`` (in MiB, set
    with ``sklearn.set_config`` or ``sklearn.config_context``) when that is
    smaller; never more than 4,096 rows, nor fewer than 256.
    """
    if budget is None:
        budget = memory_budget()
    rows = min(int(budget) // (8 * max(int(row_width), 1)), _CHUNK_MAX_ROWS)
    return int(min(max(rows, 256), max(n_rows, 1)))


def memory_budget():
    """Bytes of a chunk's temporaries: 16 MiB, or scikit-learn's
    ``working_memory`` when that is smaller."""
    return min(_CHUNK_BYTES, get_config()["working_memory"] * 2**20)


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
        # float64 even for float32 X: the copy is made here anyway, and EM's
        # Q-value checks and the Newton steps' Hessians need float64 sums.
        Xt = np.empty((n_features + 1, stop - start))
        np.subtract(X[start:stop].T, np.reshape(offset, (-1, 1)), out=Xt[:n_features])
        Xt[n_features] = 1.0
        yield slice(start, stop), Xt


def normalize_weights(sample_weight):
    """Sample weights divided by a power of two near their mean (so they
    average between 1 and 2), and its exponent.

    Powers of two divide exactly: integer weights stay integers and a row of
    weight 2 still counts exactly as two copies of it, while the scale of
    the weights no longer matters and no sum of them overflows (the maximum
    is divided out first). All-zero weights are left as they are (a part of
    a sharded fit may hold only such rows).
    """
    peak = float(np.max(sample_weight, initial=0.0))
    if not peak > 0:
        return sample_weight, 0
    top = int(np.frexp(peak)[1])
    scaled = np.ldexp(sample_weight, -top)
    shift = int(np.frexp(np.mean(scaled))[1]) - 1
    return np.ldexp(scaled, -shift), top + shift


def _centred_square_sum(part, role, mean):
    """``sum_i w_i (z_i - mean)^2`` per column of a part's ``role`` inputs,
    in row blocks (no centred copy of the whole input)."""
    Z, weight = part.inputs[role], part.sample_weight
    total = np.zeros(Z.shape[1])
    for rows in row_blocks(Z):
        total += weight[rows] @ (Z[rows] - mean) ** 2
    return total


def add_stats(total, part):
    """Add a dict of arrays/floats (or of such dicts) into an accumulator
    dict (in place)."""
    for key, value in part.items():
        if isinstance(value, dict):
            add_stats(total.setdefault(key, {}), value)
        elif key in total:
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
        The weights divided by ``2 ** weight_exponent``, so that they
        average between 1 and 2 (``normalize_weights``): nothing of a fit
        depends on the scale of the weights, and no sum of them overflows.
    weight_exponent : int
        The user's weight of one unit of ``sample_weight`` is
        ``2 ** weight_exponent``.
    resp : ndarray of shape (n_experts, n_samples)
        Current responsibilities (filled by the E-step), expert-major.
    log_evidence : ndarray of shape (n_samples,)
        log p(y_i | x_i) under the parameters of the last E-step.
    features : StandardizedFeatures
        The standardized rows the k-means initialization clusters, made
        from X and y when indexed (``mixexp._init.standardize_features``).
    start : int
        Index of the first row among all the rows of the fit (non-zero for
        the parts of ``mixexp._dask.ShardedData``).
    """

    def __init__(self, X, y, sample_weight, n_experts, row_width, inputs=None):
        self.X = X
        self.y = y
        self.sample_weight, self.weight_exponent = normalize_weights(sample_weight)
        self.total_weight = float(self.sample_weight.sum())
        self.inputs = dict(inputs or {"gate": X, "experts": X})
        self.offset = {}
        # A dask part may hold only zero weights (its sums are zero); the fit
        # then sets the offsets of all the rows (``set_offset``).
        total = self.total_weight if self.total_weight > 0 else 1.0
        for role, Z in self.inputs.items():
            same = [r for r in self.offset if self.inputs[r] is Z]
            self.offset[role] = (
                self.offset[same[0]]
                if same
                else weighted_sum(self.sample_weight, Z) / total
            )
        self.n_samples = X.shape[0]
        self.start = 0  # of these rows among all the rows of a fit (see parts)
        self.n_experts = n_experts
        self.rows = chunk_rows(self.n_samples, row_width)
        # Per initialization (see ``restart``).
        self.resp = self.log_evidence = self.random_state = None
        self.restart_index = 0  # which of the fit's initializations this is
        # Fit-time values components share across iterations; those set in
        # ``_prepare`` are the fit's units (see mixexp._contract.Part._prepare).
        self.cache = {}
        self._designs = {}  # see ``chunks``

    def restart(self, random_state, index=0):
        """This data for initialization ``index``: the same arrays, offsets
        and cache, with its own responsibilities and random state, so
        restarts can run side by side."""
        data = copy.copy(self)
        data.offset = dict(self.offset)
        # The one (n_experts, n_samples) array of a fit, in the input's dtype.
        data.resp = np.zeros((self.n_experts, self.n_samples), dtype=self.X.dtype)
        data.log_evidence = np.empty(self.n_samples)
        data.random_state = random_state
        data.restart_index = index
        return data

    # ------------------------------------------------------------- parts
    # The driver and the components compute every sum over the rows through
    # ``map_parts``/``sum_parts``/``reduce``, as functions of a *part*: a
    # TrainingData holding some of the rows (``start`` is the first one's
    # index). In memory the data is its own one part; ``mixexp._dask`` holds
    # the parts on dask workers and runs the functions there.
    def map_parts(self, fn):
        """``[fn(part) for part in parts]``."""
        return [fn(self)]

    def sum_parts(self, fn):
        """The sum (``add_stats``) of the dicts ``fn(part)`` over the parts."""
        total = {}
        for result in self.map_parts(fn):
            add_stats(total, result)
        return total

    def set_offset(self, role, offset):
        """Change the design offset of ``role`` (in every part)."""
        self.offset[role] = offset
        self._designs.clear()

    def width(self, role):
        """Number of input columns of ``role``."""
        return self.inputs[role].shape[1]

    def init_centres(self, init, rng):
        """Centres of the initial clusters, (n_experts, n_dims): k-means(++)
        (``init="kmeans"``) or weighted random rows (``"random"``) of the
        standardized ``features`` (see ``centre_options``)."""
        return kmeans_centres(
            self.features,
            self.sample_weight,
            self.n_experts,
            rng,
            **centre_options(init, self.restart_index),
        )

    def target_moments(self):
        """Weighted mean, variance and mean square of the (float) targets
        over all the parts, each of shape (n_outputs,); two passes, so the
        variance is not a difference of large numbers."""
        mean = (
            self.sum_parts(lambda part: {"s": part.sample_weight @ part.y})["s"]
            / self.total_weight
        )
        moments = self.sum_parts(
            lambda part: {
                "var": part.sample_weight @ (part.y - mean) ** 2,
                "square": part.sample_weight @ part.y**2,
            }
        )
        return (
            mean,
            moments["var"] / self.total_weight,
            moments["square"] / self.total_weight,
        )

    def scale_weights(self, exponent):
        """Multiply the sample weights by ``2 ** exponent`` (the parts of a
        sharded fit, normalized one by one, are brought to a common scale)."""
        self.sample_weight = np.ldexp(self.sample_weight, exponent)
        self.weight_exponent -= exponent
        self.total_weight = float(self.sample_weight.sum())

    def column_scale(self, role):
        """Weighted standard deviation of each input column of ``role`` over
        all the parts (1 for a constant column): the units in which the
        components' penalties are expressed, so that they do not depend on
        the units of the features. Cached for the fit (and carried over
        batches by ``partial_fit``)."""
        key = f"column_scale_{role}"
        if key not in self.cache:
            sums = self.sum_parts(
                lambda part: {"s": weighted_sum(part.sample_weight, part.inputs[role])}
            )
            mean = sums["s"] / self.total_weight
            square = self.sum_parts(
                lambda part: {"s": _centred_square_sum(part, role, mean)}
            )["s"]
            std = np.sqrt(np.maximum(square, 0.0) / self.total_weight)
            self.cache[key] = np.where(std > 0, std, 1.0)
        return self.cache[key]

    def curvature_sample(self, size, role):
        """Draw a weighted row sample for Hessian estimates; returns the key
        under which every part caches its share.

        ``size`` rows are drawn with replacement in proportion to the sample
        weights (in the canonical row order, so the draw is invariant to row
        order and to integer weights versus repeated rows) with a fixed seed.
        ``cache[key]`` is ``(rows, Xt, weight)``: the distinct row indices,
        their centred design (p, n_rows) of ``role`` and weights that make
        every sum over the sample an unbiased estimate of the sum over all
        rows. Cached for the fit.
        """
        key = ("curvature_sample", size, role)
        if key not in self.cache:
            order = canonical_order(self.X, self.sample_weight)
            drawn = draw_rows(self.sample_weight, order, np.random.RandomState(0), size)
            self.cache[key] = self.sample_design(drawn, self.total_weight / size, role)
        return key

    def sample_design(self, drawn, weight_per_draw, role):
        """``(rows, Xt, weight)`` of drawn row indices (with repeats): the
        distinct rows, their design of ``role`` and their weights, each draw
        standing for ``weight_per_draw``."""
        rows, counts = np.unique(drawn, return_counts=True)
        Z = self.inputs[role][rows]
        # Kept for the whole fit, so in the data's dtype (a float32 design
        # for float32 X; ``curvature`` casts it chunk by chunk), made in chunks.
        Xt = np.empty((Z.shape[1] + 1, Z.shape[0]), dtype=Z.dtype)
        for block, chunk in design_chunks(Z, self.offset[role], chunk_rows(*Z.shape)):
            Xt[:, block] = chunk
        return rows, Xt, counts * weight_per_draw

    def design(self, rows, role):
        """The centred design (p, n_rows) of ``role`` on the given rows."""
        Z = self.inputs[role][rows]
        if Z.shape[0] == 0:  # design_chunks needs at least one row per chunk
            return np.empty((Z.shape[1] + 1, 0))
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
        """Yield ``(slice, Xt)`` centred design chunks of ``role``.

        When all the rows fit in one chunk, or the whole design in the
        memory budget of one chunk's temporaries (``chunk_rows``), its
        chunks are made once (per input and offset) and reused by every pass
        of the fit: small and mid-size fits are dominated by such per-pass
        copies.
        """
        Z, offset = self.inputs[role], self.offset[role]
        size = 8 * (Z.shape[1] + 1) * self.n_samples
        if self.n_samples == 0 or (
            self.n_samples > self.rows and size > memory_budget()
        ):
            return design_chunks(Z, offset, self.rows)
        key = (id(Z), np.asarray(offset, dtype=float).tobytes())
        designs = self._designs.get(key)
        if designs is None:
            designs = list(design_chunks(Z, offset, self.rows))
            for _, Xt in designs:
                Xt.setflags(write=False)  # shared by all the passes
            self._designs[key] = designs
        return iter(designs)

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
        """Sum the dicts ``fn(part, rows, Xt)`` over the chunks ``(rows, Xt)``
        of ``role`` in every part."""
        return self.sum_parts(lambda part: part._reduce_chunks(fn, role))

    def _reduce_chunks(self, fn, role):
        total = {}
        for rows, Xt in self.chunks(role):
            add_stats(total, fn(self, rows, Xt))
        return total
