"""Saving and loading fitted models safely, with skops.

A pickle runs whatever code its file names when it is loaded, and so can a
skops file: skops rebuilds the types its ``schema.json`` names, and for some
nodes it *calls* the named object with arguments taken from the file. These
functions store a model with skops (``pip install "mixexp[io]"``), and ``load``
first reads the schema itself and checks every node against an explicit list
of exact names, each with the skops loaders it may be read with: mixexp's
public classes, NumPy arrays, scalar types and ``RandomState``, builtin
containers, and scikit-learn's estimator and transformer classes (for wrapped
experts and pipelines). A node that names anything else -- a function, a
callable under a trusted-looking prefix, a listed class paired with a loader
that would call it -- makes ``load`` refuse the file before anything is
imported or constructed. Arrays are read with ``allow_pickle=False``. A file
that is damaged or was not written by ``dump`` raises one ``ValueError``. The
file also records the mixexp version and the format of the fitted state, so a
model saved by an incompatible version is refused instead of being loaded
wrong.
"""

import functools
import json
import sys
import zipfile
import zlib

from . import __version__

# The layout of the fitted state (attribute names and shapes). Bump it when a
# release changes them; files of another format are refused. 2: polynomial
# experts' coefficients are on standardized inputs (``input_mean_``).
FORMAT = 2

__all__ = ["dump", "load"]

_HEADER = "mixexp_model"

_NUMPY_SCALARS = (
    "bool", "bool_", "bytes_", "str_", "clongdouble", "complex64", "complex128",
    "float16", "float32", "float64", "longdouble", "int8", "int16", "int32",
    "int64", "longlong", "uint8", "uint16", "uint32", "uint64", "ulonglong",
)  # fmt: skip

# scikit-learn's kernels a GaussianProcessExpert may hold (not WhiteKernel,
# which it refuses).
_KERNELS = (
    "ConstantKernel", "RBF", "Matern", "RationalQuadratic", "ExpSineSquared",
    "DotProduct", "Sum", "Product", "Exponentiation",
)  # fmt: skip

# Exact names ``dump`` writes for mixexp's models (every model kind is checked
# in tests/test_io_security.py), each with the skops loaders allowed for it;
# none is a function, and none is paired with a loader that calls it with
# arguments from the file. Scalar, dtype, slice and int/float/bool key types
# are what scikit-learn estimators inside a model hold.
_CLASS = frozenset({"ObjectNode"})
_SCALAR = frozenset({"NdArrayNode", "TypeNode"})
_ALLOWED = {
    ("builtins", "dict"): frozenset({"DictNode"}),
    ("builtins", "list"): frozenset({"ListNode"}),
    ("builtins", "tuple"): frozenset({"TupleNode"}),
    ("builtins", "slice"): frozenset({"SliceNode"}),
    ("builtins", "str"): frozenset({"JsonNode", "TypeNode"}),
    ("builtins", "int"): frozenset({"TypeNode"}),
    ("builtins", "float"): frozenset({"TypeNode"}),
    ("builtins", "bool"): frozenset({"TypeNode"}),
    ("numpy", "ndarray"): frozenset({"NdArrayNode"}),
    ("numpy", "dtype"): frozenset({"DTypeNode"}),
    ("numpy.random.mtrand", "RandomState"): frozenset({"RandomStateNode"}),
    **{("numpy", name): _SCALAR for name in _NUMPY_SCALARS},
    ("mixexp._regressor", "MixtureOfExpertsRegressor"): _CLASS,
    ("mixexp._classifier", "MixtureOfExpertsClassifier"): _CLASS,
    ("mixexp._hierarchical", "HierarchicalMixtureOfExpertsRegressor"): _CLASS,
    ("mixexp._hierarchical", "HierarchicalMixtureOfExpertsClassifier"): _CLASS,
    ("mixexp._selection", "MixtureOfExpertsRegressorCV"): _CLASS,
    ("mixexp._selection", "MixtureOfExpertsClassifierCV"): _CLASS,
    ("mixexp._deep_estimators", "DeepMixtureOfExpertsRegressor"): _CLASS,
    ("mixexp._deep_estimators", "DeepMixtureOfExpertsClassifier"): _CLASS,
    ("mixexp.gates._softmax", "SoftmaxGate"): _CLASS,
    ("mixexp.gates._gaussian", "GaussianGate"): _CLASS,
    ("mixexp.gates._constant", "ConstantGate"): _CLASS,
    ("mixexp.gates._tree", "TreeGate"): _CLASS,
    ("mixexp.experts._linear", "LinearExpert"): _CLASS,
    ("mixexp.experts._logistic", "LogisticExpert"): _CLASS,
    ("mixexp.experts._student", "StudentTExpert"): _CLASS,
    ("mixexp.experts._poisson", "PoissonExpert"): _CLASS,
    ("mixexp.experts._estimator", "EstimatorExpert"): _CLASS,
    ("mixexp.experts._gp", "GaussianProcessExpert"): _CLASS,
    # The kernels of GaussianProcessExpert (parameters and fitted kernels_):
    # plain objects of hyperparameter values, rebuilt from their state.
    **{("sklearn.gaussian_process.kernels", name): _CLASS for name in _KERNELS},
}


def _children(node, loader):
    """The states skops turns into child nodes of ``node``, loader by loader
    (as skops.io's ``*Node.__init__`` read them)."""
    content = node.get("content")
    if loader == "DictNode":
        return [*content.values(), node["key_types"]]
    if loader in ("ListNode", "TupleNode", "SetNode"):
        return list(content)
    if loader == "NdArrayNode":
        if node["type"] == "json":
            return [*content, node["shape"]]
        return []
    if loader in ("ObjectNode", "ConstructorFromReduceNode", "RandomStateNode",
                  "DTypeNode"):  # fmt: skip
        return [] if content is None and loader == "ObjectNode" else [content]
    if loader in ("LossNode", "TreeNode"):
        return [content, node["__reduce__"]["args"]]
    if loader == "DefaultDictNode":
        return [content["main"], content["default_factory"]]
    if loader == "PartialNode":
        return [content[key] for key in ("func", "args", "kwds", "namespace")]
    if loader == "MethodNode":
        return [content["obj"]]
    if loader == "OperatorFuncNode":
        return [node["attrs"]]
    if loader == "MaskedArrayNode":
        return [content["data"], content["mask"]]
    if loader == "RandomGeneratorNode":
        return [content[key] for key in ("bit_generator", "seed_seq") if key in content]
    return []


# Loaders whose children ``_children`` knows; any other is refused.
_LOADERS = {
    "DictNode", "ListNode", "TupleNode", "SetNode", "NdArrayNode", "ObjectNode",
    "ConstructorFromReduceNode", "RandomStateNode", "DTypeNode", "LossNode",
    "TreeNode", "DefaultDictNode", "PartialNode", "MethodNode",
    "OperatorFuncNode", "MaskedArrayNode", "RandomGeneratorNode", "JsonNode",
    "TypeNode", "FunctionNode", "SliceNode", "BytesNode", "BytearrayNode",
    "SparseMatrixNode", "CachedNode",
}  # fmt: skip


def _names(node, loader):
    """Every (module, name) a node makes skops import, construct or call."""
    names = [(node["__module__"], node["__class__"])]
    if loader == "TreeNode":
        names.append(("sklearn.tree._tree", "Tree"))
    elif loader == "MethodNode":
        method = f"{node['__class__']}.{node['content']['func']}"
        names.append((node["__module__"], method))
    elif loader == "FunctionNode" and "content" in node:
        content = node["content"]  # protocol 0 names the function here
        names.append((content["module_path"], content["function"]))
    for module, name in names:
        if not (isinstance(module, str) and isinstance(name, str)):
            raise ValueError(f"a {loader} names {module!r}.{name!r}")
    return names


@functools.cache
def _sklearn_estimators():
    """(module, class) of scikit-learn's estimator and transformer classes,
    each checked to be what skops would import under that name."""
    from sklearn.base import BaseEstimator
    from sklearn.utils.discovery import all_estimators

    return frozenset(
        (cls.__module__, cls.__name__)
        for _, cls in all_estimators()
        if issubclass(cls, BaseEstimator)
        and cls.__module__.startswith("sklearn.")
        and getattr(sys.modules.get(cls.__module__), cls.__name__, None) is cls
    )


def _is_trusted(name, loader, trusted):
    if loader in _ALLOWED.get(name, ()):
        return True
    if loader == "ObjectNode" and name in _sklearn_estimators():
        return True
    return ".".join(name) in trusted


def _audit(schema, members, trusted):
    """Check every node of ``schema`` without importing or building anything.

    Returns the qualified names the file uses and the untrusted ones, as
    ``"name (Loader)"``; raises ValueError (with the reason) if the schema is
    malformed.
    """
    used, untrusted = set(), set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            raise ValueError(f"a node is {type(node).__name__}, not an object")
        loader = node["__loader__"]
        names = _names(node, loader)
        if loader not in _LOADERS or not all(
            _is_trusted(name, loader, trusted) for name in names
        ):
            untrusted.update(f"{'.'.join(name)} ({loader})" for name in names)
            continue
        used.update(names)
        if "file" in node and node["file"] not in members:
            raise ValueError(f"the member {node['file']!r} is missing")
        stack.extend(_children(node, loader))
    return {".".join(name) for name in used}, untrusted


def _header(schema):
    """The version and format a file written by ``dump`` records, read from
    its schema before anything is built."""
    if not isinstance(schema, dict) or schema.get("__loader__") != "DictNode":
        raise ValueError("its content is not the dictionary dump writes")
    # Older skops versions do not check the protocol themselves.
    from skops.io._protocol import PROTOCOL

    protocol = schema.get("protocol")
    if type(protocol) is not int or not 0 <= protocol <= PROTOCOL:
        raise ValueError(
            f"its skops protocol {protocol!r} is not one this skops reads "
            f"(0 to {PROTOCOL})"
        )
    content = schema["content"]
    values = {}
    for key in (_HEADER, "mixexp_version", "format"):
        node = content[key]
        if node.get("__loader__") != "JsonNode":
            raise ValueError(f"{key!r} is not a plain value")
        values[key] = json.loads(node["content"])
    if values[_HEADER] is not True or "estimator" not in content:
        raise ValueError("it has no mixexp model header")
    version, format_ = values["mixexp_version"], values["format"]
    if type(format_) is not int or not isinstance(version, str):
        raise ValueError("its format or version is not what dump writes")
    return version, format_


def _damaged(path, exc):
    reason = str(exc) or type(exc).__name__
    return ValueError(
        f"{path} is damaged or was not written by mixexp.io.dump ({reason}). "
        "Save the model with mixexp.io.dump, or read the file with skops.io.load."
    )


# What reading a damaged or foreign file raises (JSONDecodeError and
# UnicodeDecodeError are ValueErrors, BadZipFile covers truncated archives).
_DAMAGE = (
    zipfile.BadZipFile, zlib.error, EOFError, KeyError, IndexError, ValueError,
    TypeError, AttributeError, RecursionError,
)  # fmt: skip


def _trusted_names(trusted):
    if trusted is None:
        return frozenset()
    if isinstance(trusted, str | bytes | bool) or not hasattr(trusted, "__iter__"):
        raise TypeError(
            f"trusted must be a list of qualified names such as "
            f"['sklearn.tree._tree.Tree'], got {trusted!r}."
        )
    names = set()
    for item in trusted:
        if isinstance(item, type):
            item = f"{item.__module__}.{item.__qualname__}"
        if not isinstance(item, str):
            raise TypeError(f"trusted must hold names or classes, got {item!r}.")
        names.add(item)
    return frozenset(names)


def _skops():
    try:
        import skops.io
        import skops.io.exceptions
    except ImportError as exc:
        raise ImportError(
            "mixexp.io needs skops: pip install skops (or mixexp[io])."
        ) from exc
    return skops.io


def dump(estimator, path):
    """Save a fitted estimator (or a Pipeline holding one) with skops.

    The file holds the estimator's arrays and builtins, the mixexp version
    and the format of the fitted state; :func:`load` reads it back.

    Parameters
    ----------
    estimator : object
        A mixexp estimator, or any scikit-learn object built from mixexp,
        scikit-learn and NumPy types.
    path : str or pathlib.Path
        The file to write (conventionally ``*.skops``).

    Returns
    -------
    None
        The estimator, the mixexp version and the format are in ``path``.

    See Also
    --------
    load
        Read the file back, trusting only known types.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from mixexp import MixtureOfExpertsClassifier
    >>> from mixexp.datasets import make_local_classification
    >>> from mixexp.io import dump
    >>> X, y = make_local_classification(200, random_state=0)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "moe.skops"
    >>> dump(MixtureOfExpertsClassifier(2, random_state=0).fit(X, y), path)
    >>> path.stat().st_size > 0
    True
    """
    payload = {
        _HEADER: True,
        "mixexp_version": __version__,
        "format": FORMAT,
        "estimator": estimator,
    }
    _skops().dump(payload, path)


def load(path, trusted=None):
    """Load an estimator saved by :func:`dump`, trusting only known types.

    The file's schema is checked against an exact allow-list before anything
    is imported or constructed: a file naming any other type is refused with
    a ``TypeError``, and a damaged file, or one saved in another format,
    with a ``ValueError``.

    Parameters
    ----------
    path : str or pathlib.Path
        A file written by :func:`dump`.
    trusted : list of str or type, default=None
        Exact qualified names (as listed in the ``TypeError`` below) to trust
        in addition to mixexp's own list, for example
        ``["sklearn.tree._tree.Tree"]`` for a model with tree experts. Loading
        may construct or call each of them with arguments from the file, so
        name only types you trust, from a file you trust.

    Returns
    -------
    estimator : object
        The saved estimator, ready to predict.

    Raises
    ------
    TypeError
        If the file names anything other than mixexp's public classes, NumPy
        arrays, scalar types and ``RandomState``, builtin containers,
        scikit-learn estimator and transformer classes and the names in
        ``trusted``, or pairs one of them with a loader that would call it
        (nothing is imported or constructed).
    ValueError
        If the file is damaged or was not written by :func:`dump`, or by a
        mixexp whose fitted-state format differs from this one.

    See Also
    --------
    dump
        Write the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_piecewise_linear
    >>> from mixexp.io import dump, load
    >>> X, y = make_piecewise_linear(200, random_state=0)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "moe.skops"
    >>> dump(MixtureOfExpertsRegressor(3, random_state=0).fit(X, y), path)
    >>> load(path).predict(X[:2]).shape
    (2,)
    """
    sio = _skops()
    trusted = _trusted_names(trusted)
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            schema = json.loads(archive.read("schema.json"))
        used, untrusted = _audit(schema, members, trusted)
        try:
            version, format_ = _header(schema)
        except _DAMAGE:
            if not untrusted:
                raise
            version = format_ = None  # its types are refused below
    except _DAMAGE as exc:
        raise _damaged(path, exc) from exc
    if format_ not in (None, FORMAT):
        raise ValueError(
            f"{path} holds a model saved by mixexp {version} in fitted-state "
            f"format {format_}, but mixexp {__version__} reads format {FORMAT}. "
            f"Load it with mixexp {version}, or refit the model."
        )
    if untrusted:
        raise TypeError(
            f"{path} refers to types that mixexp.io.load does not trust: "
            f"{sorted(untrusted)}. Nothing was imported or built. If you trust "
            "the file's origin and these exact names, pass them to "
            "mixexp.io.load(path, trusted=[...]); loading may call them."
        )
    try:
        payload = sio.load(path, trusted=sorted(used))
    except sio.exceptions.UntrustedTypesFoundException as exc:
        raise TypeError(
            f"{path} refers to types that mixexp.io.load does not trust: {exc}"
        ) from exc
    except _DAMAGE as exc:
        raise _damaged(path, exc) from exc
    return payload["estimator"]
