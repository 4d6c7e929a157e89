"""Data for mixtures of experts: generators and the bundled classic data."""

from ._generators import (
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)
from ._loaders import load_vowels

__all__ = [
    "load_vowels",
    "make_local_classification",
    "make_mixture_regression",
    "make_piecewise_linear",
]
