"""Public docstrings document exactly the parameters of their signatures."""

import inspect
import re

import pytest

import mixexp
from mixexp import datasets, experts, gates, inference, io, metrics

MODULES = [mixexp, gates, experts, datasets, inference, io, metrics]
try:  # the displays need no matplotlib to import
    from mixexp import inspection

    MODULES.append(inspection)
except ImportError:  # pragma: no cover (until mixexp.inspection lands)
    pass

# Every public object: everything the public modules export.
PUBLIC = [
    getattr(module, name)
    for module in MODULES
    for name in module.__all__
    if not name.startswith("__")
]


def test_every_public_module_exports_something():
    assert all(module.__all__ for module in MODULES)


def _cases():
    """(name, docstring owner, signature owner, needs an Examples section)."""
    for obj in PUBLIC:
        if not inspect.isclass(obj):
            yield obj.__name__, obj, obj, True
            continue
        yield obj.__name__, obj, obj.__init__, True
        for name, member in inspect.getmembers(obj, inspect.isfunction):
            if not name.startswith("_") and member.__module__.startswith("mixexp"):
                yield f"{obj.__name__}.{name}", member, member, False


def _documented(doc):
    """Names in the numpydoc Parameters section, in order."""
    match = re.search(r"^Parameters\n-+\n(.*?)(?=^\w[\w ]*\n-+\n|\Z)", doc, re.S | re.M)
    return re.findall(r"^\*{0,2}(\w+) :", match.group(1), re.M) if match else []


@pytest.mark.parametrize("case", list(_cases()), ids=lambda case: case[0])
def test_parameters_are_documented(case):
    name, owner, function, needs_example = case
    doc = inspect.getdoc(owner)
    assert doc, f"{name} has no docstring"
    params = [p for p in inspect.signature(function).parameters if p != "self"]
    assert _documented(doc) == params
    assert re.search(r"^Returns\n-+\n", doc, re.M) or inspect.isclass(owner)
    if needs_example:
        assert re.search(r"^Examples\n-+\n\s*>>>", doc, re.M), f"{name}: no example"
