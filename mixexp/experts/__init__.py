"""Local experts: each a conditional density P_k(y | x), all K fitted at once."""

from ._estimator import EstimatorExpert
from ._gp import GaussianProcessExpert
from ._linear import LinearExpert
from ._logistic import LogisticExpert
from ._poisson import PoissonExpert
from ._student import StudentTExpert

__all__ = [
    "EstimatorExpert",
    "GaussianProcessExpert",
    "LinearExpert",
    "LogisticExpert",
    "PoissonExpert",
    "StudentTExpert",
]
