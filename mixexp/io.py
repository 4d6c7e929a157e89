"""Saving and loading fitted models safely, with skops.

A pickle runs whatever code its file names when it is loaded. These
functions store a model with skops (``pip install "mixexp[io]"``), whose
files hold arrays, builtins and the names of the classes to rebuild; ``load``
rebuilds only mixexp's own public classes and scikit-learn, SciPy and NumPy
types, and refuses a file that names any other type, before constructing
anything. The file also records the mixexp version and the format of the
fitted state, so a model saved by an incompatible version is refused instead
of being loaded wrong.
"""

import importlib

from . import __version__

# The layout of the fitted state (attribute names and shapes). Bump it when a
# release changes them; files of another format are refused.
FORMAT = 1

__all__ = ["dump", "load"]

_HEADER = "mixexp_model"
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def _public_classes():
    """Qualified names of the classes mixexp exports."""
    names = set()
    for module_name in ("mixexp", "mixexp.gates", "mixexp.experts"):
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type):
                names.add(f"{obj.__module__}.{obj.__qualname__}")
    return names


def _skops():
    try:
        import skops.io
    except ImportError as exc:
        raise ImportError(
            "mixexp.io needs skops: pip install skops (or mixexp[io])."
        ) from exc
    return skops.io


def dump(estimator, path):
    """Save a fitted estimator (or a Pipeline holding one) with skops.

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


def load(path):
    """Load an estimator saved by :func:`dump`, trusting only known types.

    Parameters
    ----------
    path : str or pathlib.Path
        A file written by :func:`dump`.

    Returns
    -------
    estimator : object
        The saved estimator, ready to predict.

    Raises
    ------
    TypeError
        If the file names a type other than mixexp's public classes and
        scikit-learn, SciPy and NumPy types (nothing is constructed).
    ValueError
        If the file was not written by :func:`dump`, or by a mixexp whose
        fitted-state format differs from this one.

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
    untrusted = sio.get_untrusted_types(file=path)
    public = _public_classes()
    foreign = [
        name
        for name in untrusted
        if name not in public and not name.startswith(_TRUSTED_PREFIXES)
    ]
    if foreign:
        raise TypeError(
            f"{path} refers to types that mixexp.io.load does not trust: "
            f"{foreign}. Loading would construct them. If you trust the file's "
            "origin, inspect it with skops.io.get_untrusted_types and load it "
            "with skops.io.load(path, trusted=[...])."
        )
    payload = sio.load(path, trusted=untrusted)
    if not isinstance(payload, dict) or not payload.get(_HEADER):
        raise ValueError(
            f"{path} was not written by mixexp.io.dump; save the model with "
            "mixexp.io.dump, or read the file with skops.io.load."
        )
    if payload.get("format") != FORMAT:
        raise ValueError(
            f"{path} holds a model saved by mixexp {payload.get('mixexp_version')} "
            f"in fitted-state format {payload.get('format')}, but mixexp "
            f"{__version__} reads format {FORMAT}. Load it with mixexp "
            f"{payload.get('mixexp_version')}, or refit the model."
        )
    return payload["estimator"]
