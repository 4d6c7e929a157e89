"""Fitting on dask arrays: the training data as parts that stay where they are.

``fit`` given a dask array builds a :class:`ShardedData`: one part (a
``TrainingData`` of the block's rows) per row block of X, built and kept on
the dask workers when a ``dask.distributed`` client is active, else in this
process. The EM driver and the components are the in-memory ones: everything
they compute over rows goes through ``map_parts``/``sum_parts``/``reduce``,
which here run the function on every part (as a task on the worker holding
it) and send back only its sums (statistics of size K x p x p, never rows).
The M-steps, including the softmax gate's Newton and L-BFGS steps whose
gradients and Hessians are such sums, run on the client.

What differs from an in-memory fit:

- above 32,768 rows the gate's Newton Hessian is estimated on a weighted
  sample of 8,192 rows drawn part by part (in memory: in a canonical row
  order), so the steps differ, though not the optimum they converge to;
- with more than 80,000 rows, the k-means initialization clusters a weighted
  sample drawn from 20,000 rows drawn block by block (in memory: drawn in a
  canonical row order from all the rows), so the starting point differs;
- only ``solver="em"``, and components whose statistics are sums over rows
  (not ``EstimatorExpert``).

Up to these, the fit is the in-memory fit: the same sums, added in another
order.
"""

import copy
import functools

import numpy as np

from ._data import TrainingData, is_dask_collection
from ._init import centre_options, kmeans_centres
from ._sampling import weighted_sum

# Above 4 * _SAMPLE_ROWS rows the initial clusters come from a sample.
_SAMPLE_ROWS = 20000


def _client():
    """The active dask.distributed client, or None."""
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _rows_like(array, chunks):
    """A dask array (or None) re-chunked to the given row chunks, one column
    block."""
    import dask.array as da

    if array is None:
        return None
    array = da.asarray(array)
    return array.rechunk((chunks,) + (-1,) * (array.ndim - 1))


def _check_chunks(**arrays):
    """Refuse dask arrays whose row chunk sizes are unknown (NaN, as after
    boolean indexing): their rows cannot be matched up or split."""
    for name, array in arrays.items():
        chunks = getattr(array, "chunks", None)
        if chunks and np.isnan(np.asarray(chunks[0], dtype=float)).any():
            raise ValueError(
                f"{name} has unknown chunk sizes (NaN rows per block, as after "
                f"boolean indexing); call {name}.compute_chunk_sizes() first, "
                f"or {name} = {name}.compute_chunk_sizes()."
            )


def _blocks(array):
    """The row blocks of a dask array as a list of delayed objects."""
    return list(array.to_delayed().ravel()) if array is not None else None


class ShardedData(TrainingData):
    """Training data whose rows live in parts, on dask workers or locally.

    Holds what the driver needs on the client (totals, offsets, the fit's
    cache) and runs functions of a part where the parts are. Parts are
    updated in place by the E-step (their ``resp``), so a task on a part is
    pinned to the worker that holds it.
    """

    def __init__(self, parts, client, workers, n_samples, n_experts, total_weight):
        self.parts = parts
        self.client = client
        self.workers = workers
        self.n_samples = n_samples
        self.n_experts = n_experts
        self.total_weight = total_weight
        self.offset = {}
        self.widths = {}
        self.cache = {}
        self.random_state = None
        self.restart_index = 0

    def _submit(self, fn):
        """Futures of ``fn(part)`` for every part, each pinned to the worker
        holding its part; one ``client.map`` per worker, which saves about
        10% of an EM iteration at 20,000 rows in 8 parts over one ``submit``
        per part."""
        futures = [None] * len(self.parts)
        by_worker = {}
        for index, worker in enumerate(self.workers):
            by_worker.setdefault(worker, []).append(index)
        for worker, indices in by_worker.items():
            mapped = self.client.map(
                fn,
                [self.parts[index] for index in indices],
                workers=[worker],
                allow_other_workers=False,
                pure=False,
            )
            for index, future in zip(indices, mapped, strict=True):
                futures[index] = future
        return futures

    def map_parts(self, fn):
        if self.client is None:
            return [fn(part) for part in self.parts]
        return self.client.gather(self._submit(fn))

    def _new_parts(self, fn):
        """Parts replaced by ``fn(part)``, left where they are."""
        data = copy.copy(self)
        if self.client is None:
            data.parts = [fn(part) for part in self.parts]
        else:
            data.parts = self._submit(fn)
        return data

    def set_offset(self, role, offset):
        self.offset[role] = offset

        def update(part):
            part.set_offset(role, offset)

        self.map_parts(update)

    def width(self, role):
        return self.widths[role]

    def restart(self, random_state, index=0):
        data = self._new_parts(_restart_part)
        data.offset = dict(self.offset)
        data.random_state = random_state
        data.restart_index = index
        return data

    def curvature_sample(self, size, role):
        """Each part draws its share of ``size`` rows (a multinomial split by
        the parts' weights, then rows in proportion to their weight), so the
        parts' samples together are one weighted draw of ``size`` rows, as
        in memory; each part caches its share, and Newton's Hessian is the
        sum of the parts' sample Hessians."""
        key = ("curvature_sample", size, role)
        if key not in self.cache:
            rng = np.random.RandomState(0)
            masses = np.array(self.map_parts(lambda part: part.total_weight))
            counts = rng.multinomial(size, masses / masses.sum())
            seeds = rng.randint(np.iinfo(np.int32).max, size=len(self.parts))
            self.map_parts(
                functools.partial(
                    _cache_sample, key, counts, seeds, self.total_weight / size
                )
            )
            self.cache[key] = True
        return key

    def init_centres(self, init, rng):
        if self.n_samples <= 4 * _SAMPLE_ROWS:  # what fit does in memory
            pieces = self.map_parts(lambda part: (part.features[:], part.sample_weight))
            features = np.concatenate([f for f, _ in pieces])
            weight = np.concatenate([w for _, w in pieces])
        else:
            masses = np.array(self.map_parts(lambda part: part.total_weight))
            counts = rng.multinomial(_SAMPLE_ROWS, masses / masses.sum())
            seeds = rng.randint(np.iinfo(np.int32).max, size=len(self.parts))
            drawn = self.map_parts(functools.partial(_draw, counts, seeds))
            features = np.concatenate([f for f, _ in drawn])
            weight = np.concatenate([w for _, w in drawn])
        return kmeans_centres(
            features,
            weight,
            self.n_experts,
            rng,
            **centre_options(init, self.restart_index),
        )


def _draw_rows(counts, seeds, part):
    """``counts[i]`` row indices of part i drawn with replacement in
    proportion to their weight, with ``seeds[i]`` (none from a part of zero
    weight, whose count is zero)."""
    count = counts[part.index]
    if count == 0:
        return np.empty(0, dtype=np.intp)
    rng = np.random.RandomState(seeds[part.index])
    return rng.choice(
        part.n_samples, size=count, p=part.sample_weight / part.total_weight
    )


def _draw(counts, seeds, part):
    """The features and multiplicities of ``_draw_rows``."""
    rows, counts = np.unique(_draw_rows(counts, seeds, part), return_counts=True)
    return part.features[rows], counts.astype(float)


def _cache_sample(key, counts, seeds, weight_per_draw, part):
    """Cache the design of part i's ``_draw_rows`` under ``key``."""
    drawn = _draw_rows(counts, seeds, part)
    part.cache[key] = part.sample_design(drawn, weight_per_draw, key[2])


def _restart_part(part):
    return part.restart(None)


def _make_part(make_data, X, y, sample_weight, start, index):
    """The TrainingData of one row block (``DataMaker.block`` validates it)."""
    part = make_data.block(X, y, sample_weight)
    part.start, part.index = start, index
    return part


def check_sharded_solver(solver):
    """Refuse a solver that cannot run block by block."""
    if solver != "em":
        raise ValueError(
            f"solver={solver!r} is not available on dask arrays; use "
            "solver='em' (or compute the arrays into memory first)."
        )


def check_blockwise(*components):
    """Refuse parts whose M-step needs all the rows in memory; returns them."""
    for component in components:
        if "blockwise" not in component.capabilities:
            raise ValueError(
                f"{type(component).__name__} cannot be fitted on dask arrays: "
                "its M-step needs all the rows in memory. Use LinearExpert or "
                "LogisticExpert, or compute the arrays into memory first."
            )
    return components


def check_sharded_input(X, y, sample_weight, fitted_features=None):
    """Validate what is known of dask arrays for ``fit`` without computing
    them (the blocks are validated where they are, by ``DataMaker.block``);
    ``fitted_features`` is the fitted model's number of features, for a
    warm start. Returns X in one column block, and y and sample_weight in
    the row blocks of X."""
    import dask.array as da

    _check_chunks(X=X, y=y, sample_weight=sample_weight)
    X = da.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D dask array for X, got {X.ndim} dimension(s); "
            "reshape it to (n_samples, n_features)."
        )
    if not np.issubdtype(X.dtype, np.number) and X.dtype != bool:
        raise ValueError(f"X has dtype {X.dtype}; give numeric data.")
    if y is None or (sample_weight is not None and np.ndim(sample_weight) != 1):
        raise ValueError("fit needs y, and sample_weight must be 1-D or None.")
    y = da.asarray(y)
    if y.shape[0] != X.shape[0] or (
        sample_weight is not None and np.shape(sample_weight)[0] != X.shape[0]
    ):
        raise ValueError(
            f"X has {X.shape[0]} rows but y or sample_weight has a different "
            "number; pass one target and one weight per row."
        )
    if fitted_features is not None and X.shape[1] != fitted_features:
        raise ValueError(
            f"warm_start=True but X has {X.shape[1]} features, not "
            f"{fitted_features}. Set warm_start=False to fit from scratch."
        )
    X = X.rechunk({1: -1})
    chunks = X.chunks[0]
    return X, _rows_like(y, chunks), _rows_like(sample_weight, chunks)


def sharded_targets(y, task):
    """What the encoding of fit's targets needs of dask y: the class labels
    (computed, few) or its first row (the shape of y)."""
    import dask.array as da

    if task == "classification":
        return da.unique(y).compute()
    return y[:1].compute()


def sharded_class_counts(y, classes):
    """The number of rows of each of ``classes`` in dask labels ``y``."""
    import dask.array as da

    labels, counts = da.unique(y, return_counts=True)
    labels, counts = labels.compute(), counts.compute()
    found = np.zeros(classes.shape[0], dtype=np.int64)
    found[np.searchsorted(classes, labels)] = counts
    return found


def sharded_training_data(X, y, sample_weight, make_data):
    """The ShardedData of dask arrays checked by ``check_sharded_input``:
    one part per row block, made by ``make_data`` (a ``DataMaker``) where
    the block is. Only metadata, label sets and per-block sums come to the
    client; ``n_weighted`` counts the rows of positive weight."""
    import dask

    chunks = X.chunks[0]
    starts = np.concatenate([[0], np.cumsum(chunks)[:-1]])
    weights = _blocks(sample_weight) or [None] * len(chunks)
    tasks = [
        dask.delayed(_make_part)(make_data, xb, yb, wb, int(start), i)
        for i, (xb, yb, wb, start) in enumerate(
            zip(_blocks(X), _blocks(y), weights, starts, strict=True)
        )
    ]
    client = _client()
    if client is None:
        parts, workers = list(dask.compute(*tasks)), None
    else:
        parts = client.compute(tasks)
        client.gather(parts)  # raises here if a block fails validation
        located = client.who_has(parts)
        workers = [located[part.key][0] for part in parts]
    # A throwaway summary to get the totals: (weight, positive rows, widths).
    data = ShardedData(parts, client, workers, X.shape[0], make_data.n_experts, 0.0)
    _common_weight_scale(data)
    summary = data.map_parts(
        lambda part: (
            part.total_weight,
            int(np.count_nonzero(part.sample_weight)),
            {role: Z.shape[1] for role, Z in part.inputs.items()},
        )
    )
    data.total_weight = float(sum(s[0] for s in summary))
    if not data.total_weight > 0:
        raise ValueError(
            "sample_weight is zero for every sample; give some samples a "
            "positive weight."
        )
    data.widths = summary[0][2]
    for key, value in make_data.data_kwargs.items():
        setattr(data, key, value)
    data.n_weighted = sum(s[1] for s in summary)
    # Global design offsets (the weighted means), as in memory.
    sums = data.sum_parts(
        lambda part: {
            role: weighted_sum(part.sample_weight, Z) for role, Z in part.inputs.items()
        }
    )
    for role, total in sums.items():
        data.set_offset(role, total / data.total_weight)
    return data


def _common_weight_scale(data):
    """Each part normalized its weights on its own (``normalize_weights``):
    bring them to one scale, the largest part's, then divide all by the
    power of two near their mean."""
    exponents, totals = np.array(
        data.map_parts(lambda part: (part.weight_exponent, part.total_weight))
    ).T
    if not np.any(totals > 0):
        return
    shifts = (exponents - exponents[totals > 0].max()).astype(int)
    mean = np.ldexp(totals, shifts) @ (totals > 0) / data.n_samples
    shifts -= int(np.frexp(mean)[1]) - 1
    data.map_parts(lambda part: part.scale_weights(int(shifts[part.index])))


def stream_blocks(estimator, X, y, sample_weight=None, classes=None):
    """``partial_fit`` on the row blocks of dask arrays, one after another:
    one block is in memory at a time, each is one step of online EM."""
    import dask
    import dask.array as da

    _check_chunks(X=X, y=y, sample_weight=sample_weight)
    X = da.asarray(X).rechunk({1: -1})
    chunks = X.chunks[0]
    ys = _blocks(_rows_like(y, chunks))
    weights = _blocks(_rows_like(sample_weight, chunks)) or [None] * len(chunks)
    for block in zip(_blocks(X), ys, weights, strict=True):
        X_block, y_block, w_block = dask.compute(*block)
        estimator._partial_fit(X_block, y_block, w_block, classes)
    return estimator


def dask_rows(method):
    """Let a method of (X[, y]) accept dask arrays: it then runs on every row
    block of X (and the matching rows of y) and returns dask arrays."""

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if not is_dask_collection(X):
            return method(self, X, *args, **kwargs)
        return _map_row_blocks(self, method, X, args, kwargs)

    return wrapper


def _map_row_blocks(estimator, method, X, args, kwargs):
    import dask
    import dask.array as da

    _check_chunks(X=X, y=args[0] if args else None)  # (X, y) methods
    X = da.asarray(X).rechunk({1: -1})
    chunks = X.chunks[0]
    # Positional arrays (y) are split like X; None and scalars pass through.
    rows = [a is not None and np.ndim(a) > 0 for a in args]
    blocks = [
        _blocks(_rows_like(a, chunks)) if is_rows else [a] * len(chunks)
        for a, is_rows in zip(args, rows, strict=True)
    ]
    # The output's trailing shape and dtype, from one row.
    first = method(
        estimator,
        X[:1].compute(),
        *(
            da.asarray(a)[:1].compute() if is_rows else a
            for a, is_rows in zip(args, rows, strict=True)
        ),
        **kwargs,
    )
    outputs = first if isinstance(first, tuple) else (first,)
    call = dask.delayed(method, nout=len(outputs) if len(outputs) > 1 else None)
    model = dask.delayed(estimator)
    results = [
        call(model, block, *(b[i] for b in blocks), **kwargs)
        for i, block in enumerate(_blocks(X))
    ]
    arrays = []
    for position, sample in enumerate(outputs):
        sample = np.asarray(sample)
        pieces = [
            da.from_delayed(
                result[position] if len(outputs) > 1 else result,
                shape=(n_rows,) + sample.shape[1:],
                dtype=sample.dtype,
            )
            for result, n_rows in zip(results, chunks, strict=True)
        ]
        arrays.append(da.concatenate(pieces))
    return tuple(arrays) if isinstance(first, tuple) else arrays[0]
