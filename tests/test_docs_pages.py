"""The code on the documentation's pages runs, as a reader would paste it."""

import re
import warnings
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"
PAGES = [DOCS / "index.rst", *sorted((DOCS / "user_guide").glob("*.rst"))]
# A page's python blocks run in order in one namespace, as in a session.
_BLOCK = re.compile(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)")


def _blocks(page):
    return [
        "\n".join(line[3:] for line in block.splitlines())
        for block in _BLOCK.findall(page.read_text())
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.stem)
def test_code_blocks_run(page):
    pytest.importorskip("matplotlib").use("Agg")
    namespace = {}
    with warnings.catch_warnings():
        # The short fits of the examples may stop before converging.
        warnings.simplefilter("ignore")
        for code in _blocks(page):
            exec(compile(code, str(page), "exec"), namespace)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_pages_have_code():
    assert sum(len(_blocks(page)) for page in PAGES) >= 10


def test_api_pages_are_where_the_html_repr_links():
    # mixexp._html_repr.DOC_LINK_TEMPLATE points at generated/<name>.html.
    from mixexp._html_repr import DOC_LINK_TEMPLATE

    assert "/generated/{estimator_module}.{estimator_name}.html" in DOC_LINK_TEMPLATE
    assert ":toctree: generated/" in (DOCS / "api.rst").read_text()


def test_api_reference_lists_every_public_name():
    import importlib

    api = (DOCS / "api.rst").read_text()
    listed = set(re.findall(r"^   (\w+)$", api, re.M))
    for module in ("mixexp", "gates", "experts", "inspection", "datasets"):
        module = importlib.import_module(
            module if module == "mixexp" else f"mixexp.{module}"
        )
        missing = {n for n in module.__all__ if not n.startswith("__")} - listed
        assert not missing, f"{module.__name__}: {missing} not in docs/api.rst"
    for module in ("io", "metrics", "inference"):
        module = importlib.import_module(f"mixexp.{module}")
        assert set(module.__all__) <= listed, module.__name__
