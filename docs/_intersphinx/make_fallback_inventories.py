"""Write small intersphinx inventories for numpy and matplotlib.

The docs build reads each project's ``objects.inv`` from its website and
falls back to the copies in this folder when the website cannot be reached
(CI has no network). scipy's, scikit-learn's and Python's copies come from
Debian's documentation packages (``python-scipy-doc``, ``python-sklearn-doc``,
``python3.11-doc``); Debian ships no numpy or matplotlib documentation, so
this script writes theirs from the installed packages: every public function
and class of the namespaces mixexp's documentation links to, at the URLs
those sites use. Run it again to refresh them:
``python docs/_intersphinx/make_fallback_inventories.py``.
"""

import inspect
import zlib
from pathlib import Path

import matplotlib
import matplotlib.axes
import matplotlib.figure
import matplotlib.pyplot
import numpy
import numpy.random

HERE = Path(__file__).parent


def _public(namespace):
    for name in dir(namespace):
        if not name.startswith("_"):
            yield name, getattr(namespace, name)


def _role(obj):
    if inspect.isclass(obj):
        return "py:class"
    if callable(obj):
        return "py:function"
    return None


def numpy_entries():
    for name, obj in _public(numpy):
        role = _role(obj)
        if role:
            yield f"numpy.{name}", role, f"reference/generated/numpy.{name}.html$"
    random = "reference/random/"
    yield "numpy.random.default_rng", "py:function", random + "generator.html$"
    yield "numpy.random.Generator", "py:class", random + "generator.html$"
    yield "numpy.random.RandomState", "py:class", random + "legacy.html$"
    yield (
        "numpy.random.SeedSequence",
        "py:class",
        (random + "bit_generators/generated/numpy.random.SeedSequence.html$"),
    )


def matplotlib_entries():
    gen = "api/_as_gen/"
    yield "matplotlib.axes.Axes", "py:class", "api/axes_api.html$"
    yield "matplotlib.figure.Figure", "py:class", "api/figure_api.html$"
    for name, obj in _public(matplotlib.axes.Axes):
        if callable(obj):
            full = f"matplotlib.axes.Axes.{name}"
            yield full, "py:method", f"{gen}{full}.html$"
    for name, obj in _public(matplotlib.pyplot):
        role = _role(obj)
        if role == "py:function":
            yield (
                f"matplotlib.pyplot.{name}",
                role,
                f"{gen}matplotlib.pyplot.{name}.html$",
            )


def write(path, project, version, entries):
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    # "$" in a URI stands for the object's name, as Sphinx writes them.
    lines = "".join(
        f"{name} {role} 1 {uri} -\n" for name, role, uri in sorted(set(entries))
    )
    path.write_bytes(header.encode() + zlib.compress(lines.encode()))


if __name__ == "__main__":
    write(HERE / "numpy-objects.inv", "NumPy", numpy.__version__, numpy_entries())
    write(
        HERE / "matplotlib-objects.inv",
        "Matplotlib",
        matplotlib.__version__,
        matplotlib_entries(),
    )
