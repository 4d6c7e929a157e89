"""Displays of fitted mixtures of experts, in the style of
:mod:`sklearn.inspection`.

Each display's ``from_estimator`` computes what is shown and calls ``plot``,
which draws it with matplotlib and returns the display with its artists
(``ax_``, ``figure_``, ...), so the picture can be restyled or drawn again
without recomputing. matplotlib is imported only when something is drawn:
``pip install mixexp[plot]``.
"""

from ._coefficients import CoefficientDisplay
from ._fit import ExpertFitDisplay
from ._regions import ExpertRegionDisplay
from ._training import ConvergenceDisplay, ExpertUsageDisplay

__all__ = [
    "CoefficientDisplay",
    "ConvergenceDisplay",
    "ExpertFitDisplay",
    "ExpertRegionDisplay",
    "ExpertUsageDisplay",
]
