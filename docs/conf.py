"""Sphinx configuration of mixexp's documentation.

Build it from the repository root with
``python -m sphinx -W -b html docs docs/_build/html``.
"""

import contextlib
import io
import os
import shutil
from pathlib import Path

import mixexp

DOCS = Path(__file__).parent
ROOT = DOCS.parent
# Pages the build writes from the code (the CLI's help, io's allow-list) and
# copies of the notebooks, which live outside the source folder.
GENERATED = DOCS / "_generated"

os.environ.setdefault("MPLBACKEND", "Agg")
# One BLAS thread: the examples are small, and the machine is shared.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

project = "mixexp"
author = "the mixexp developers"
copyright = "2026, the mixexp developers"
release = mixexp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_nb",
]

exclude_patterns = [
    "_build",
    "_templates",
    "_intersphinx",
    "**.ipynb_checkpoints",
    # Pieces included into other pages, not pages of their own.
    "_generated/*.rst",
    # sphinx-gallery's downloadable notebooks, which myst-nb would read too.
    "auto_examples/*.ipynb",
]
# Single backticks in docstrings mark code, as in scikit-learn's.
default_role = "literal"
templates_path = ["_templates"]

# ----------------------------------------------------------------- API pages
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# ----------------------------------------------------------------- notebooks
# The test suite executes the notebooks; the docs show their stored outputs.
nb_execution_mode = "off"
myst_heading_anchors = 3
suppress_warnings = [
    # CONTRIBUTING.md, BENCHMARKS.md and the notebooks link to repository
    # files by relative path, which have no page here.
    "myst.xref_missing",
    # The included Markdown fragments start below the page's own title.
    "myst.header",
]

# ------------------------------------------------------------------- gallery
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "doc_module": ("mixexp",),
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    # The timing pages load tables from third-party CDNs; the site stays local.
    "write_computation_times": False,
    "show_signature": False,
}

# ---------------------------------------------------------------- intersphinx
# Each project's inventory from its website, or else the copy in _intersphinx/
# (CI builds offline; make_fallback_inventories.py says where each comes from).
_INVENTORIES = DOCS / "_intersphinx"
intersphinx_mapping = {
    name: (url, (None, str(_INVENTORIES / f"{name}-objects.inv")))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "numpy": "https://numpy.org/doc/stable/",
        "scipy": "https://docs.scipy.org/doc/scipy/",
        "sklearn": "https://scikit-learn.org/stable/",
        "matplotlib": "https://matplotlib.org/stable/",
    }.items()
}
intersphinx_timeout = 5

# ---------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"mixexp {release}"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
# The theme follows the reader's system; without a default its script logs
# a console error on a reader's first visit.
html_context = {"default_mode": "auto"}
html_theme_options = {
    "navbar_end": ["search-button", "theme-switcher", "navbar-icon-links"],
    "navbar_persistent": [],
    "show_toc_level": 2,
    # An API page's outline is its method names, too long for the narrow
    # right column; its width goes to the signatures instead.
    "secondary_sidebar_items": {
        "*": ["page-toc"],
        "user_guide/*": ["page-toc"],
        "auto_examples/*": ["page-toc"],
        "_generated/notebooks/*": ["page-toc"],
        "generated/*": [],
    },
}
# Single pages without sections: no empty navigation column.
html_sidebars = {"index": [], "benchmarks": [], "reproductions": []}
html_show_sourcelink = False


# ----------------------------------------------------------- generated pages
def _cli_help(*argv):
    """What ``mixexp ARGV --help`` prints, so the page follows the code."""
    from mixexp._cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*argv, "--help"])
    return out.getvalue()


def _allow_list():
    """``mixexp.io``'s exact allow-list, grouped by the skops loaders each
    name may be read with."""
    from mixexp import io as mixexp_io

    groups = {}
    for name, loaders in mixexp_io._ALLOWED.items():
        groups.setdefault(", ".join(sorted(loaders)), []).append(".".join(name))
    lines = []
    for loaders, names in sorted(groups.items()):
        lines += [
            f"Read as {loaders}",
            "    " + ", ".join(f"``{name}``" for name in sorted(names)),
            "",
        ]
    return "\n".join(lines)


def _capabilities():
    """The component capabilities, as ``mixexp._contract`` declares them."""
    from mixexp._contract import CAPABILITIES

    return "".join(f"- ``{name}``: {text}.\n" for name, text in CAPABILITIES.items())


def _write_if_changed(path, text):
    # An unchanged file keeps its time stamp, so Sphinx does not rebuild pages.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _generate(app):
    GENERATED.mkdir(exist_ok=True)
    _write_if_changed(GENERATED / "cli_help.txt", _cli_help())
    _write_if_changed(GENERATED / "cli_demo_help.txt", _cli_help("demo"))
    _write_if_changed(GENERATED / "cli_fit_help.txt", _cli_help("fit"))
    _write_if_changed(GENERATED / "io_allow_list.rst", _allow_list())
    _write_if_changed(GENERATED / "capabilities.rst", _capabilities())
    notebooks = GENERATED / "notebooks"
    notebooks.mkdir(exist_ok=True)
    for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
        target = notebooks / source.name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)


def _skip_member(app, what, name, obj, skip, options):
    # Methods inherited from scikit-learn (get_params, the metadata-routing
    # requests, ...) are documented by scikit-learn; mixexp's own and its
    # mixins' are shown.
    function = getattr(obj, "fget", obj)
    module = getattr(function, "__module__", None) or ""
    if what == "class" and module.split(".")[0] in ("sklearn", "builtins"):
        return True
    if name == "get_metadata_routing" or (
        name.startswith("set_") and name.endswith("_request")
    ):
        return True
    return None


def setup(app):
    app.connect("builder-inited", _generate)
    app.connect("autodoc-skip-member", _skip_member)
