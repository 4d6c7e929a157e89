"""mixexp: mixtures of experts as scikit-learn estimators.

The adaptive mixture of local experts (Jacobs, Jordan, Nowlan & Hinton 1991)
and its EM-trained successor (Jordan & Jacobs 1994).
"""

from ._classifier import MixtureOfExpertsClassifier
from ._deep_estimators import (
    DeepMixtureOfExpertsClassifier,
    DeepMixtureOfExpertsRegressor,
)
from ._hierarchical import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
)
from ._regressor import MixtureOfExpertsRegressor
from ._selection import MixtureOfExpertsClassifierCV, MixtureOfExpertsRegressorCV
from ._show_versions import show_versions

__version__ = "0.1.0.dev0"

__all__ = [
    "DeepMixtureOfExpertsClassifier",
    "DeepMixtureOfExpertsRegressor",
    "HierarchicalMixtureOfExpertsClassifier",
    "HierarchicalMixtureOfExpertsRegressor",
    "MixtureOfExpertsClassifier",
    "MixtureOfExpertsClassifierCV",
    "MixtureOfExpertsRegressor",
    "MixtureOfExpertsRegressorCV",
    "__version__",
    "show_versions",
]
