"""Data for mixtures of experts: generators and the bundled classic data."""

from ._digits import make_jittered_digits
from ._generators import (
    make_local_classification,
    make_mixture_regression,
    make_piecewise_linear,
)
from ._loaders import load_ethanol, load_mcycle, load_patent, load_tone, load_vowels
from ._robot import make_robot_arm_dynamics

__all__ = [
    "load_ethanol",
    "load_mcycle",
    "load_patent",
    "load_tone",
    "load_vowels",
    "make_jittered_digits",
    "make_local_classification",
    "make_mixture_regression",
    "make_piecewise_linear",
    "make_robot_arm_dynamics",
]
