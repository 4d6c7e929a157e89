"""``show_versions``: what a bug report needs to know about the machine."""

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

# The distributions mixexp runs on, then the optional ones it can use.
_DEPENDENCIES = (
    "mixexp",
    "numpy",
    "scipy",
    "scikit-learn",
    "joblib",
    "threadpoolctl",
    "matplotlib",
    "pandas",
    "dask",
    "distributed",
    "skops",
)


def _installed(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _blas():
    """The BLAS and OpenMP libraries loaded, as threadpoolctl sees them."""
    from threadpoolctl import threadpool_info

    import mixexp  # noqa: F401  (loads numpy's BLAS, and scipy's through scipy.optimize)

    return [
        {
            "user_api": info.get("user_api"),
            "internal_api": info.get("internal_api"),
            "version": info.get("version"),
            "num_threads": info.get("num_threads"),
            "filepath": info.get("filepath"),
        }
        for info in threadpool_info()
    ]


def show_versions():
    """Print the system, mixexp's dependencies and the BLAS libraries.

    Paste its output into a bug report: it says which versions and which
    numerical libraries (and how many threads) produced what you saw.

    Returns
    -------
    None
        The report goes to standard output.

    See Also
    --------
    sklearn.show_versions
        The report of scikit-learn alone.

    Examples
    --------
    >>> import mixexp
    >>> mixexp.show_versions()
    System:
            python: ...
    ...
    """
    print("System:")
    print(f"{'python':>14}: {sys.version.replace(chr(10), ' ')}")
    print(f"{'executable':>14}: {sys.executable}")
    print(f"{'machine':>14}: {platform.platform()}")
    print("\nPython dependencies:")
    for name in _DEPENDENCIES:
        found = _installed(name)
        print(f"{name:>14}: {found if found is not None else 'not installed'}")
    print("\nThreadpool libraries:")
    for info in _blas():
        print()
        for key, value in info.items():
            print(f"{key:>14}: {value}")
